"""The detector: console text in, :class:`~.record.CrashRecord` objects out.

:class:`StreamDetector` reads a console line by line (any chunk size), follows the report being
read (a small state machine over the roles of :data:`.rules.RULES`), and when a report ends
assembles its record: the fields common to every kind (task, taint, faulting location, call
trace, modules) here, its kind, title and message by its rule's builder, its signature with
:mod:`.signature`. :func:`find_crashes` does it for a whole log.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass

from pytest_kdump.detect.patterns import KERNEL_PREFIX
from pytest_kdump.detect.record import UNKNOWN_REASON, CrashRecord, ReportFrame
from pytest_kdump.detect.rules import (
    BANNER_RE,
    BEFORE_OOPS,
    FOLLOW_UP_PANIC_RE,
    LOCKDEP_WARNING_RE,
    MARKERLESS,
    REPEATED,
    SEP_RE,
    SEPARATED,
    STALLS,
    TRACE_FROM,
    Builder,
    Facts,
    Hit,
    classify,
)
from pytest_kdump.detect.signature import (
    FUNC,
    guilty_function,
    is_reporting_function,
    normalise,
    skip_kind,
)

__all__ = ["BANNER_LOOKAHEAD", "CLAIM_LINES", "CONTEXT_LINES", "GRACE_LINES", "MAX_LINE",
           "MAX_QUIET", "MAX_RAW", "MAX_REPORT_LINES", "StreamDetector", "find_crashes"]

MAX_RAW = 64 * 1024  # characters of console text kept per record
MAX_LINE = 64 * 1024  # longer console "lines" (no newline) are cut into pieces of this size
CONTEXT_LINES = 20  # console lines kept before a report, for its excerpt
GRACE_LINES = 10  # lines after a report's end in which a follow-up panic still joins it
MAX_QUIET = 300  # lines without anything of a report in them before an open report is closed
MAX_REPORT_LINES = 20000  # lines of one report before it is closed ("limit")
BANNER_LOOKAHEAD = 500  # lines after "Linux version" in which its command line is looked for
CLAIM_LINES = 5000  # lines after "Starting crashdump kernel" in which its banner is expected

# --- console lines ---------------------------------------------------------------------------

_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[()*+][ -~]"
                      r"|[ -~])")
_CTRL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PREFIX_RE = re.compile(KERNEL_PREFIX)
# pytest-kdump's own console.log puts a host stamp ("[   46.939] ", seconds since the capture
# started, three decimals; the kernel's have six) in front of each line: skipped.
_HOST_STAMP_RE = re.compile(r"\[\s*\d+\.\d{3}\] ")
# Lines without kernel timestamp but with another prefix, at the start of a line: a timestamp
# its author blanked out ("[ ] BUG: ..."), a syslog or journal line ("Oct 09 14:17:46 host
# kernel: BUG: ...").
_OTHER_PREFIX_RE = re.compile(r"(?:<\d{1,2}>)?\[\s*\](?:\s?\[\s*[TC]\d+\])? ?|"
                              r"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) "
                              r"\S+ kernel: ")
_LEVEL_RE = re.compile(r"<\d{1,2}>")
# Cheap pre-filter: a line without any of these cannot change the detector's state.
_TRIGGER_RE = re.compile(
    r"Kernel panic|BUG|Unable to handle kernel|Internal error|Oops|general protection|"
    r": [0-9a-f]{4} \[#|WARNING|LOCKUP|INFO: |UBSAN|Linux version|crashdump kernel|cut here|"
    r"=====|end trace|end Kernel|ommand line|Unhandled fault|double fault|divide_error|"
    r"unregister_netdevice|detected stall")

# --- parts of a report -----------------------------------------------------------------------

_SRC = r"(?:\s+[\w./-]+\.(?:c|h|S|s|rs):\d+(?::\d+)?)"  # "fs/foo.c:123" after a symbolised frame
_FRAME_RE = re.compile(
    r"\s*(?:\[<?[0-9a-f]+>?\]\s+)*(?:[0-9a-f]{8,16}\s+)?(?P<unrel>\?\s+)?(?P<func>" + FUNC + r")"
    r"\+(?P<off>0x[0-9a-f]+)"
    r"(?:/(?P<size>0x[0-9a-f]+))?(?:\s+\[(?P<mod>[\w-]+)(?:\s+[0-9a-f]+)?\])?" + _SRC + r"?"
    r"(?:\s+\[inline\])?(?:\s+\(unreliable\))?\s*$")
# syzkaller-style symbolised inline frames: " __dump_stack lib/dump_stack.c:88 [inline]", and
# frames symbolised without offset (KMSAN): " instrument_copy_to_user ./include/linux/x.h:121"
_INLINE_RE = re.compile(r"\s*(?P<func>" + FUNC + r")(?:" + _SRC + r"\s+\[inline\]|"
                        r"\s+\.?/?[\w.-]+/[\w./-]+\.[ch]:\d+(?::\d+)?)\s*$")
# arm32: "[<c0123456>] (func+0x10/0x20) from [<c0123457>] (caller+0x..)", "(func) from" (4.x+)
_ARM_FRAME_RE = re.compile(
    r"\s*\[<[0-9a-f]+>\]\s+\((?P<func>" + FUNC + r")"
    r"(?:\+(?P<off>0x[0-9a-f]+)/(?P<size>0x[0-9a-f]+))?"
    r"(?:\s+\[(?P<mod>[\w-]+)\])?\)\s+from\s+\[<[0-9a-f]+>\]")
# arm32 since 5.x: " func from caller+0x144/0x190" (the last frame: "... from 0x0")
_ARM_FROM_RE = re.compile(
    r"\s*(?P<func>" + FUNC + r") from (?:" + FUNC + r"\+0x[0-9a-f]+/0x[0-9a-f]+"
    r"(?:\s+\[[\w-]+\])?|0x[0-9a-f]+)\s*$")
_RIP_RE = re.compile(
    r"\s*(?:RIP: [0-9a-f]{4}:|RIP:? |EIP: (?:[0-9a-f]{4}:)?|EIP is at |I?P: |pc : |PC is at |"
    r"NIP:? \[[0-9a-f]+\] |epc ?: |pc: [0-9a-f]+: )(?:\[<[0-9a-f]+>\]\s+)*"
    r"(?P<func>" + FUNC + r")\+(?P<off>0x[0-9a-f]+)(?:/(?P<size>0x[0-9a-f]+))?"
    r"(?:\s+\[(?P<mod>[\w-]+)[^\]]*\])?")
# The link register: the faulting function's caller when it is a leaf (arm64, arm32, powerpc,
# powerpc's xmon).
_LR_RE = re.compile(
    r"\s*(?:lr : |LR is at |LR \[[0-9a-f]+\] |lr: [0-9a-f]+: )(?:\[<[0-9a-f]+>\]\s+)*"
    r"(?P<func>" + FUNC + r")\+(?P<off>0x[0-9a-f]+)(?:/(?P<size>0x[0-9a-f]+))?"
    r"(?:\s+\[(?P<mod>[\w-]+)[^\]]*\])?")
# x86 exception entries: in a trace with no RIP line, the frame after one is the faulting
# function (6.x prints the oops' own exception frames with '?').
_EXC_ENTRY_RE = re.compile(r"asm_exc_\w+|page_fault|async_page_fault|invalid_op|"
                           r"general_protection")
_TRACE_AUX_RE = re.compile(
    r"\s*(?:</?[A-Z#][A-Z0-9_]*>\s*$|(?:\?\s+)?0x[0-9a-f]+(?:\s+\(unreliable\))?\s*$|"
    r"(?:\[<?[0-9a-f]+>?\]\s*)+(?:0x[0-9a-f]+\s*)?(?:\(unreliable\))?\s*$|"
    r"(?:R[A-Z0-9]{1,2}|E[A-Z]{2}|[CDEFGS]S|CR\d|DR\d|PKRU|Code|x\d{1,2}|pc|lr|sp|pstate)\s*:|"
    r"(?:NIP|LR|CTR|REGS|MSR|CFAR|DAR|DSISR|GPR\d\d|SOFTE|TRAP|XER|IRQMASK|PACATMSCRATCH|"
    r"epc|ra|gp|tp|t\d|s\d{1,2}|a\d|status|badaddr|cause|psr|ip|fp|r\d{1,2}|Flags|Control|"
    r"Table|Stack|Instruction dump|Exception stack|Function entered)\b|"
    r"--- interrupt:|[0-9a-f]{3,16}: (?:[0-9a-f]{8,16}\s*){2,}$|(?:[0-9a-f]{8} ){3,}|"
    r".*\(inlined by\)|\S+ at \S+\.[ch]:\d+)")
_TRACE_HEAD_RE = re.compile(r"\s*(?:Call [Tt]race|Backtrace|[Ss]tack backtrace):?\s*$")
# A line that names one code location on the next line ("Preemption disabled at:").
_WHERE_HEAD_RE = re.compile(
    r"\s*(?:Preemption|IRQs|irqs|Softirqs|softirqs) (?:disabled|enabled) at:\s*$")
_CPU_RE = re.compile(
    r"CPU: (?P<cpu>\d+) (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: (?P<comm>.+?)"
    r"(?P<kdump> Kdump: loaded)? (?P<taint>(?:Not tainted|Tainted:).*)$")
_TAINT_LINE_RE = re.compile(r"\s*(?P<taint>(?:Not tainted|Tainted: [A-Z ]+?)\s+\S+ #\d+.*)$")
_KASAN_ACCESS_RE = re.compile(r"(?P<access>Read|Write) of size \d+ at addr \S+ by task "
                              r"(?P<comm>.+)/(?P<pid>\d+)")
_MODULES_RE = re.compile(r"Modules linked in:(?P<list>.*)")
_HARDWARE_RE = re.compile(r"Hardware name: (?P<name>.*)")


# --- the detector ----------------------------------------------------------------------------

@dataclass
class _Line:
    no: int
    text: str  # cleaned line, console prefix kept
    content: str  # what the kernel printed: console prefix removed
    ts: float | None


def _frame_match(content: str) -> re.Match[str] | None:
    """A call-trace frame line (x86/arm64/powerpc/riscv, arm32, symbolised inline)."""
    return (_FRAME_RE.match(content) or _ARM_FRAME_RE.match(content)
            or _ARM_FROM_RE.match(content) or _INLINE_RE.match(content))


def _is_trace_line(content: str) -> bool:
    return bool(_frame_match(content) or _TRACE_AUX_RE.match(content)
                or _TRACE_HEAD_RE.match(content) or _RIP_RE.match(content))


class _Report:
    """A report being read."""

    def __init__(self, hit: Hit, line: _Line, context: list[str]) -> None:
        self.kind = hit.kind
        assert hit.rule.build is not None, hit.rule  # the rules that open a report have one
        self.build: Builder = hit.rule.build
        self.groups = {k: v for k, v in hit.match.groupdict().items() if v is not None}
        self.headline = hit.match.string[hit.match.start():].strip()
        self.lines: list[_Line] = []
        self.size = 0
        self.truncated = False
        self.start = self.header_no = line.no
        self.last = line.no
        self.count = 0
        self.ts = line.ts
        self.context = context
        self.panic_msg: str | None = hit.match["msg"] if hit.role == "panic" else None
        self.has_oops = hit.role == "oops"
        self.state = "open"
        self.end: str | None = None
        self.grace: list[_Line] = []
        self.grace_count = 0
        self.trace_started = False
        self.after_where = False  # the previous line was "Preemption disabled at:"
        self.quiet = 0
        self.markerless = hit.kind in MARKERLESS
        # a report whose own trace follows a header line: earlier frames do not end it
        self.await_head = TRACE_FROM[hit.kind][0] if hit.kind in TRACE_FROM else None
        self.stamped = line.ts is not None  # then lines without timestamp are not the kernel's

    def add(self, line: _Line, max_raw: int) -> None:
        self.count += 1
        self.last = line.no
        if self.truncated:
            return
        if self.size + len(line.text) + 1 > max_raw:
            self.truncated = True
            return
        self.lines.append(line)
        self.size += len(line.text) + 1

    def merge_grace(self, max_raw: int) -> None:
        for line in self.grace:
            self.add(line, max_raw)
        self.grace = []
        self.grace_count = 0
        self.state = "open"


class StreamDetector:
    """Recognises kernel crash reports in console text fed chunk by chunk.

    ``feed(text)`` returns the reports completed by that text (as soon as their end shows:
    an end marker, the crash kernel's banner, the next report...); ``idle()`` those whose end
    was seen when the console has gone quiet; ``flush()`` those still open when the console
    stops; ``pending()`` a snapshot of the report being read. A fatal report with kdump
    completes on the crash kernel's first line (x86: ``Linux version``; arm64: ``Starting
    crashdump kernel...``).
    Only the current report and a few lines of context are kept: the cost of a chunk is
    proportional to its size, whatever the session's length. The public methods hold a lock:
    a reader thread can feed while another thread calls :meth:`pending` or :meth:`reset`.
    Line numbers (``start_line``/``end_line``) count the lines fed since the detector was made
    or :meth:`reset`.
    """

    def __init__(self, max_raw: int = MAX_RAW) -> None:
        self.max_raw = max_raw
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next text is a new console (e.g. after a power cycle)."""
        with self._lock:
            self._reset()

    def _reset(self) -> None:
        self._partial = ""
        self._lineno = 0
        self._rec: _Report | None = None
        self._context: deque[str] = deque(maxlen=CONTEXT_LINES)
        self._opener: _Line | None = None
        # a kernel banner whose command line is awaited: its lines, the context before it
        self._banner: tuple[list[_Line], list[str]] | None = None
        self._claim_until = 0
        self._out: list[CrashRecord] = []

    @property
    def lines(self) -> int:
        """Complete lines consumed so far."""
        return self._lineno

    @property
    def in_report(self) -> bool:
        """A crash report has started and is not complete yet."""
        return self._rec is not None

    def feed(self, text: str) -> list[CrashRecord]:
        """Consume console ``text`` (any chunk size); return the reports it completed."""
        with self._lock:
            if text:
                parts = (self._partial + text).split("\n")
                self._partial = parts.pop()
                for part in parts:
                    self._split(part)
                while len(self._partial) > MAX_LINE:
                    self._line(self._partial[:MAX_LINE])
                    self._partial = self._partial[MAX_LINE:]
            out, self._out = self._out, []
            return out

    def flush(self) -> list[CrashRecord]:
        """The console stopped: complete the last line and any open report; return them.
        (At a test boundary use :meth:`pending`: flush cuts the report being read.)"""
        with self._lock:
            if self._partial:
                self._split(self._partial)
                self._partial = ""
            if self._rec is not None:
                self._finish(self._rec, "eof" if self._rec.state == "open" else None)
            self._banner = None
            out, self._out = self._out, []
            return out

    def idle(self) -> list[CrashRecord]:
        """The console has been quiet for a while (a second or two): complete a report whose
        end was seen and return it. Such a report is otherwise completed only
        :data:`GRACE_LINES` lines later, in case a follow-up panic ("Fatal exception",
        "panic_on_warn set") joins it. A report still open (no end seen) stays open: see
        :meth:`pending`."""
        with self._lock:
            if self._rec is not None and self._rec.state == "closing":
                self._finish(self._rec, None)
            out, self._out = self._out, []
            return out

    def pending(self) -> list[CrashRecord]:
        """A snapshot of the report being read, if any, as it would be if the console stopped
        now (``end`` ``"eof"`` while it is open); changes nothing."""
        with self._lock:
            rec = self._rec
            return [_build_record(rec, rec.end or "eof")] if rec is not None else []

    # -- per line ------------------------------------------------------------------------------
    def _split(self, part: str) -> None:
        if len(part) <= MAX_LINE:
            self._line(part)
        else:
            for i in range(0, len(part), MAX_LINE):
                self._line(part[i:i + MAX_LINE])

    def _line(self, text: str) -> None:
        self._lineno += 1
        if "\x1b" in text:
            text = _ANSI_RE.sub("", text)
        if not text.isprintable():
            text = _CTRL_RE.sub("", text)
        if self._rec is None and self._banner is None and not _TRIGGER_RE.search(text):
            self._context.append(text)  # fast path: an ordinary line
            self._opener = None
            return
        host = _HOST_STAMP_RE.match(text)  # a console.log's: not the kernel's time
        rest = text[host.end():] if host else text
        if m := _PREFIX_RE.search(rest):
            line = _Line(self._lineno, text, rest[m.end():], float(m["ts"]))
        elif m := _OTHER_PREFIX_RE.match(rest):
            line = _Line(self._lineno, text, rest[m.end():], None)
        else:
            content = _LEVEL_RE.sub("", rest, count=1) if rest.startswith("<") else rest
            line = _Line(self._lineno, text, content, None)
        hit = classify(line.content, line.ts is not None)
        if hit and hit.role == "banner" and line.ts not in (None, 0.0):
            hit = None  # "Linux version" later than 0.000000: not a kernel starting
        if self._banner is not None:
            self._banner_line(line, hit)
        if self._rec is not None:
            self._report_line(self._rec, line, hit)
        else:
            self._idle_line(line, hit)
        self._opener = line if hit and hit.role in ("cut", "separator") else None
        self._context.append(text)

    def _idle_line(self, line: _Line, hit: Hit | None) -> None:
        if hit is None:
            return
        if hit.role in ("report", "oops", "panic"):
            self._start(line, hit)
        elif hit.role == "crashdump":
            self._unknown([line], "crashdump-start", list(self._context))
            self._claim_until = line.no + CLAIM_LINES
        elif hit.role == "banner":
            if line.no <= self._claim_until:
                self._claim_until = 0  # the crash kernel of a crash already reported
            else:
                self._banner = ([line], list(self._context))

    def _banner_line(self, line: _Line, hit: Hit | None) -> None:
        assert self._banner is not None
        lines, context = self._banner
        if line is not lines[0]:
            lines.append(line)
        # kexec-tools adds elfcorehdr= for crash kernels. x86 prints the command line twice,
        # "Command line:" then "Kernel command line:": bytes get lost in the first on a busy
        # console, so the second is read too.
        if hit and hit.role == "cmdline" and "elfcorehdr=" in hit.match["cmdline"]:
            self._banner = None
            self._unknown(lines, "kernel-start", context)
        elif hit and hit.role == "cmdline" and hit.match.group(0).startswith("Kernel "):
            self._banner = None
        elif line.no - lines[0].no > BANNER_LOOKAHEAD:
            self._banner = None

    def _start(self, line: _Line, hit: Hit) -> None:
        opener = self._opener
        adjacent = opener is not None and opener.no == line.no - 1
        if hit.kind == "warning-generic" and not (
                adjacent and SEP_RE.match(opener.content)
                and LOCKDEP_WARNING_RE.match(line.content.strip())):
            return  # "WARNING: ..." is a report (lockdep's) only under a ==== line
        self._banner = None  # a kernel that reports a crash got past its command line
        context = list(self._context)
        rec = _Report(hit, line, context)
        if opener is not None and adjacent:
            rec.start = opener.no
            rec.add(opener, self.max_raw)
            rec.count = 0
            if context and context[-1] == opener.text:
                rec.context = context[:-1]
        rec.add(line, self.max_raw)
        self._rec = rec

    def _report_line(self, rec: _Report, line: _Line, hit: Hit | None) -> None:
        if rec.stamped and line.ts is None:  # shell output between the kernel's lines
            if rec.state == "open":
                rec.add(line, self.max_raw)  # kept in the raw text, not parsed
            else:
                self._closing_line(rec, line, None)
            return
        role = hit.role if hit else None
        if role == "banner":
            self._finish(rec, "kernel-start")
            return
        if role == "crashdump":
            if rec.state == "open":
                rec.add(line, self.max_raw)
            self._finish(rec, "crashdump-start")
            self._claim_until = line.no + CLAIM_LINES
            return
        if rec.state == "closing":
            self._closing_line(rec, line, hit)
            return
        # the report is open
        if role == "panic":
            if rec.panic_msg is None:
                rec.panic_msg = hit.match["msg"]
                rec.markerless = False  # it now ends like a panic
            rec.add(line, self.max_raw)
        elif role == "oops" and rec.kind in BEFORE_OOPS and not rec.has_oops:
            rec.has_oops = True
            rec.add(line, self.max_raw)
        elif role in ("report", "oops"):
            if rec.kind == hit.kind and rec.kind in REPEATED:
                rec.add(line, self.max_raw)  # the next blocked task, KMSAN's inlined callers
            else:
                self._drop_opener(rec)
                self._finish(rec, "next-report")
                self._start(line, hit)
        elif role == "end-panic":
            rec.add(line, self.max_raw)
            self._finish(rec, "end-panic")
        elif role == "end-trace" and rec.panic_msg is None:
            rec.add(line, self.max_raw)
            self._close(rec, "end-trace")
        elif role == "separator" and rec.kind in SEPARATED and rec.panic_msg is None:
            rec.add(line, self.max_raw)
            self._close(rec, "end-report")
        else:
            trace = _is_trace_line(line.content)
            if rec.markerless and rec.trace_started and not trace:
                self._close(rec, "end-report")  # its call trace is over
                self._closing_line(rec, line, hit)
                return
            rec.add(line, self.max_raw)
            after_where, rec.after_where = rec.after_where, bool(_WHERE_HEAD_RE.match(line.content))
            if rec.await_head is not None and rec.await_head.match(line.content):
                rec.await_head = None
            if trace:
                rec.trace_started = rec.trace_started or (
                    rec.await_head is None and not after_where
                    and bool(_frame_match(line.content)))
                rec.quiet = 0
                if rec.markerless and line.content.strip() == "</TASK>":
                    self._close(rec, "end-report")
            elif hit is None:
                rec.quiet += 1
            if rec.quiet > MAX_QUIET or rec.count > MAX_REPORT_LINES:
                self._finish(rec, "limit")

    def _close(self, rec: _Report, end: str) -> None:
        rec.state = "closing"
        rec.end = end

    def _closing_line(self, rec: _Report, line: _Line, hit: Hit | None) -> None:
        """After a report's end: a follow-up panic joins it, anything else waits a few lines."""
        role = hit.role if hit else None
        if role == "panic" and (rec.markerless or FOLLOW_UP_PANIC_RE.search(hit.match["msg"])):
            rec.merge_grace(self.max_raw)
            rec.panic_msg = hit.match["msg"]
            rec.markerless = False
            rec.end = None
            rec.add(line, self.max_raw)
        elif role == "report" and rec.kind == hit.kind == "hung-task":
            rec.merge_grace(self.max_raw)
            rec.end = None
            rec.add(line, self.max_raw)
        elif role in ("report", "oops", "panic"):
            self._finish(rec, None)
            self._start(line, hit)
        else:
            rec.grace.append(line)
            if not _is_trace_line(line.content) and line.content.strip():
                rec.grace_count += 1
            if rec.grace_count >= GRACE_LINES or len(rec.grace) > 20 * GRACE_LINES:
                self._finish(rec, None)
                self._idle_line(line, hit)

    def _drop_opener(self, rec: _Report) -> None:
        """A "cut here" / "====" line that opens the next report is not part of this one."""
        opener = self._opener
        if opener is not None and rec.lines and rec.lines[-1] is opener:
            rec.lines.pop()
            rec.size -= len(opener.text) + 1
            rec.last = rec.lines[-1].no if rec.lines else rec.start

    def _finish(self, rec: _Report, end: str | None) -> None:
        self._rec = None
        self._out.append(_build_record(rec, end or rec.end or "eof"))

    def _unknown(self, lines: list[_Line], end: str, context: list[str]) -> None:
        first = lines[0]
        text = "\n".join(line.text for line in lines)
        banner = BANNER_RE.search(first.content)
        self._out.append(CrashRecord(
            kind="unknown", headline=first.content.strip(), message=UNKNOWN_REASON,
            signature="unknown: crash kernel started with no crash report", fatal=True,
            crash_kernel=True, end=end, kdump_loaded=True,
            kernel_release=banner["release"] if banner else None, timestamp=first.ts,
            start_line=first.no, end_line=lines[-1].no, raw=text[:self.max_raw],
            context="\n".join(context), truncated=len(text) > self.max_raw))


# --- a record from a report ------------------------------------------------------------------

def _build_record(rec: _Report, end: str) -> CrashRecord:
    """Parse the lines of a report into a :class:`CrashRecord`."""
    g = rec.groups
    kind = rec.kind  # the opening rule's
    # in a timestamped report, a line without timestamp is shell output, unless it is a code
    # location (powerpc's xmon prints its registers and trace without timestamps)
    lines = [line for line in rec.lines if line.ts is not None or not rec.stamped
             or _RIP_RE.match(line.content) or _LR_RE.match(line.content)
             or _frame_match(line.content)]
    contents = [line.content for line in lines]
    first = next((i for i, line in enumerate(lines) if line.no == rec.header_no), 0)
    # CPU line(s), hardware, modules, RIP before the first call trace
    cpu_line = None
    kdump = False
    hardware = modules = rip = lr = taint_line = access = None
    seen_trace = False
    for c in contents:
        s = c.strip()
        if cpu_line is None or not kdump:
            m = _CPU_RE.search(s)
            if m:
                cpu_line = cpu_line or m
                kdump = kdump or bool(m["kdump"])
        if hardware is None and (m := _HARDWARE_RE.match(s)):
            hardware = m["name"].strip()
        if modules is None and (m := _MODULES_RE.match(s)):
            modules = m["list"]
        if taint_line is None and kind == "hung-task" and (m := _TAINT_LINE_RE.match(c)):
            taint_line = m["taint"]
        if access is None and kind == "kasan" and (m := _KASAN_ACCESS_RE.search(s)):
            access = m
        if _TRACE_HEAD_RE.match(s):
            seen_trace = True
        if rip is None and not seen_trace and (m := _RIP_RE.match(s)):
            rip = _frame(m, True)
        if lr is None and not seen_trace and (m := _LR_RE.match(s)):
            lr = _frame(m, True)
    frames = _first_trace(contents[_trace_start(kind, contents):])
    if rip is None and kind in STALLS:  # the interrupted code, after the <IRQ> frames
        rip = next((_frame(m, True) for c in contents if (m := _RIP_RE.match(c))), None)

    # who and where
    cpu = pid = comm = taint = release = None
    if cpu_line:
        cpu, pid, comm = int(cpu_line["cpu"]), int(cpu_line["pid"]), cpu_line["comm"]
        taint, release = _parse_taint(cpu_line["taint"])
    if taint_line and not cpu_line:
        taint, release = _parse_taint(taint_line)
    elif taint_line and cpu_line:
        taint = _parse_taint(taint_line)[0]
    if "cpu" in g:
        cpu = int(g["cpu"])
    if "pid" in g:
        pid, comm = int(g["pid"]), g.get("comm", comm)
        if kind == "warning" and cpu_line and int(cpu_line["pid"]) == pid:
            comm = cpu_line["comm"]
        elif kind == "warning":
            comm = None
    if kind == "hung-task":
        cpu = None
    if access is not None:
        pid, comm = int(access["pid"]), access["comm"]

    # kind, title, message: the opening rule's builder; then the guilty frame
    panic_msg = rec.panic_msg
    t = rec.build(Facts(g, rec.headline, panic_msg, access, contents[first + 1:]))
    skip = skip_kind(t.kind, rec.headline)
    guilty = (guilty_function(t.header_func, rip or _fault_in_trace(frames, skip), frames,
                              skip, lr) if t.guilty else None)
    signature = normalise(f"{t.title} in {guilty}" if guilty else t.title)
    fatal = panic_msg is not None or end in ("kernel-start", "crashdump-start")
    return CrashRecord(
        kind=t.kind, headline=rec.headline, message=t.message, signature=signature,
        guilty_frame=guilty, fatal=fatal,
        crash_kernel=end == "crashdump-start" or (end == "kernel-start" and kdump),
        end=end, panic_message=panic_msg, cpu=cpu, pid=pid, comm=comm, taint=taint,
        kdump_loaded=kdump, hardware=hardware, kernel_release=release, rip=rip, frames=frames,
        modules=_module_names(modules) if modules is not None else [], timestamp=rec.ts,
        start_line=rec.start, end_line=rec.last,
        raw="\n".join(line.text for line in rec.lines), context="\n".join(rec.context),
        truncated=rec.truncated, corrupted=t.corrupted)


def _frame(m: re.Match[str], reliable: bool) -> ReportFrame:
    groups = m.groupdict()
    off, size = groups.get("off"), groups.get("size")
    return ReportFrame(function=m["func"], offset=int(off, 16) if off else None,
                       module=groups.get("mod"), reliable=reliable,
                       size=int(size, 16) if size else None)


def _fault_in_trace(frames: list[ReportFrame], kind: str | None) -> ReportFrame | None:
    """With no RIP line: the frame after an x86 exception entry (``? asm_exc_page_fault``), the
    function that faulted, if the trace shows one among the report's own frames, those above
    its first reliable frame that reports nothing. An entry further down is a stale word on
    the stack (a fault the task took and returned from long before), not this report's."""
    for before, frame in zip(frames, frames[1:], strict=False):
        if before.reliable and not is_reporting_function(before.function, kind):
            return None
        if _EXC_ENTRY_RE.fullmatch(before.name):
            return frame
    return None


def _trace_start(kind: str, contents: list[str]) -> int:
    """Where the report's own call trace starts looking (see :data:`.rules.TRACE_FROM`)."""
    if kind not in TRACE_FROM:
        return 0
    head, last = TRACE_FROM[kind]
    at = [i for i, c in enumerate(contents) if head.match(c)]
    if not at:
        return 0
    return at[-1] if last else at[0]


def _first_trace(contents: list[str]) -> list[ReportFrame]:
    """The frames of the report's first call trace: from its first "Call Trace:" line if it has
    one (a frame line before it is a location, e.g. a WARNING line wrapped by a mail client),
    else its first block of frame lines."""
    head = next((i for i, c in enumerate(contents) if _TRACE_HEAD_RE.match(c)), None)
    if head is not None and any(_frame_match(c) for c in contents[head + 1:]):
        contents = contents[head:]
    frames: list[ReportFrame] = []
    in_block = False
    previous = ""
    for c in contents:
        after, previous = previous, c
        if _WHERE_HEAD_RE.match(after):
            continue  # "Preemption disabled at:" and its one frame: no call trace
        if _TRACE_HEAD_RE.match(c):
            if frames:
                break
            in_block = True
            continue
        m = _frame_match(c)
        if m:
            in_block = True
            frames.append(_frame(m, m.groupdict().get("unrel") is None))
        elif in_block and (_TRACE_AUX_RE.match(c) or _RIP_RE.match(c)):
            continue
        elif frames:
            break
    return frames


def _parse_taint(text: str) -> tuple[str, str | None]:
    """``Not tainted 6.1.0 #1`` / ``Tainted: G        W  OE      6.1.0 #1`` -> (taint,
    release): the taint as the kernel's flag letters with single spaces (``"G W OE"``)."""
    if text.startswith("Not tainted"):
        rest = text[len("Not tainted"):].split()
        return "Not tainted", rest[0] if rest else None
    tokens = text[len("Tainted:"):].split()
    flags = []
    while tokens and tokens[0].isalpha() and tokens[0].isupper():
        flags.append(tokens.pop(0))
    return " ".join(flags), tokens[0] if tokens else None


def _module_names(text: str) -> list[str]:
    text = re.sub(r"\[last unloaded: [^\]]*\]", "", text)
    return [re.sub(r"\(.*\)$", "", tok) for tok in text.split() if tok]


def find_crashes(text: str) -> list[CrashRecord]:
    """Every kernel crash report in a whole console log, in the order they completed.

    ``text`` may hold several boots, shell output between kernel lines, timestamps or not.
    The first kernel banner of a boot is not a crash; a crash kernel (its command line has
    ``elfcorehdr=``) starting with no report before it is one, of kind ``unknown``.
    """
    detector = StreamDetector()
    return detector.feed(text) + detector.flush()

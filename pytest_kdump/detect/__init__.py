"""Kernel crashes on a console: recognise them, parse them into records, sign them.

- :func:`find_crashes` (a whole log) and :class:`StreamDetector` (chunk by chunk, for a live
  console) turn console text into :class:`CrashRecord` objects: one per crash report (panic,
  oops, BUG, WARNING, lockups, hung tasks, RCU stalls, KASAN/UBSAN/KFENCE, stack protector, a
  crash kernel starting with no report), with the crashing task, the faulting location, the
  call trace and a syzkaller-style ``signature`` (normalised title + guilty frame) that is the
  same for the same bug on every boot.
- The patterns below are regular expressions over console text (kernel timestamps allowed in
  front). How a crash kernel reports its dump saved is a saver's business
  (:mod:`pytest_kdump.savers`).
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

_TS = r"(?:\[\s*\d+\.\d+\]\s*)?"

# The first line of a kernel crash report: what the kernel prints when it dies.
CRASH_HEADLINES = [
    r"Kernel panic - not syncing: [^\r\n]*",
    r"BUG: kernel NULL pointer dereference[^\r\n]*",
    r"BUG: unable to handle [^\r\n]*",
    r"Unable to handle kernel [^\r\n]*",
    r"Internal error: [^\r\n]*",
    r"kernel BUG at [^\r\n]*",
    r"general protection fault[^\r\n]*",
    r"invalid opcode: [^\r\n]*",
    r"divide error: [^\r\n]*",
    r"Oops: [^\r\n]*",
]
CRASH_RE = re.compile("|".join(f"(?:{p})" for p in CRASH_HEADLINES))
PANIC_RE = re.compile(r"Kernel panic - not syncing: ([^\r\n]*)")
# A kernel starting: the production kernel at power-on, the crash kernel after a panic.
KERNEL_BANNER_RE = re.compile(_TS + r"Linux version (\S+) ")  # the space: release complete
PANIC_END_RE = re.compile(r"---\[ end Kernel panic")


def crash_headline(text: str) -> str | None:
    """The first crash headline in ``text`` (e.g. ``Kernel panic - not syncing: ...``)."""
    m = CRASH_RE.search(text)
    return m.group(0).strip() if m else None


# === Crash records =========================================================================
#
# What follows turns console text into :class:`CrashRecord` objects: one per kernel crash
# report, with its fields parsed and a signature that stays the same for the same bug across
# boots (addresses, KASLR, PIDs, timestamps) and differs between bugs.

KINDS = (
    "panic", "oops", "null-deref", "paging-request", "gpf", "invalid-opcode", "divide-error",
    "bug", "warning", "soft-lockup", "hard-lockup", "hung-task", "rcu-stall", "kasan", "ubsan",
    "kfence", "kcsan", "stack-protector", "unknown",
)
"""Every value of :attr:`CrashRecord.kind`. ``unknown``: a crash kernel started and no crash
report came before it (an NMI panic prints nothing on the console)."""

UNKNOWN_REASON = "crash kernel started with no crash report on the console (NMI or hard hang?)"

END_REASONS = {
    "end-trace": "---[ end trace ]---",
    "end-panic": "---[ end Kernel panic ]---",
    "end-report": "the end of the report (its closing ==== line or the end of its call trace)",
    "kernel-start": "a new kernel starting (with kdump loaded: the crash kernel)",
    "crashdump-start": "'Starting crashdump kernel...'",
    "next-report": "the start of the next crash report",
    "eof": "the end of the console text (the report was still open)",
    "limit": "the size limit of a report (no end seen)",
}
"""Every value of :attr:`CrashRecord.end`, with what it means."""

MAX_RAW = 64 * 1024  # characters of console text kept per record
MAX_LINE = 64 * 1024  # longer console "lines" (no newline) are cut into pieces of this size
CONTEXT_LINES = 20  # console lines kept before a report, for its excerpt
GRACE_LINES = 10  # lines after a report's end in which a follow-up panic still joins it
MAX_QUIET = 300  # lines without anything of a report in them before an open report is closed
MAX_REPORT_LINES = 20000  # lines of one report before it is closed ("limit")
BANNER_LOOKAHEAD = 500  # lines after "Linux version" in which its command line is looked for
CLAIM_LINES = 5000  # lines after "Starting crashdump kernel" in which its banner is expected


@dataclass(frozen=True)
class Frame:
    """A code location of a kernel report: ``func+0x16/0x20 [mod]``.

    ``offset`` and ``size`` are the numbers after ``+`` and ``/``; ``module`` is None for the
    kernel itself; ``reliable`` is False for the frames the unwinder marks with ``?``.
    """

    function: str
    offset: int | None = None
    module: str | None = None
    reliable: bool = True
    size: int | None = None

    @property
    def name(self) -> str:
        """The function without compiler suffixes (``.cold``, ``.isra.0``, ``.constprop.0``)."""
        return clean_function(self.function)

    def __str__(self) -> str:
        text = self.function
        if self.offset is not None:
            text += f"+{self.offset:#x}" + (f"/{self.size:#x}" if self.size is not None else "")
        if self.module:
            text += f" [{self.module}]"
        return text if self.reliable else "? " + text


@dataclass
class CrashRecord:
    """One kernel crash report found on a console (see :func:`find_crashes`).

    - ``kind``: one of :data:`KINDS`; for an oops that led to ``Kernel panic - not syncing:
      Fatal exception`` (or a WARNING to ``panic_on_warn set``) the kind of the oops/WARNING:
      the panic is part of the same record and makes it ``fatal``.
    - ``headline``: the report's first line without console prefix; ``message`` what it says
      (the panic string for panics); ``panic_message`` the panic string if the report ended
      in a panic.
    - ``cpu``, ``pid``, ``comm``: the crashing CPU and task (for a hung task: the blocked one);
      ``taint``: ``"Not tainted"`` or the flags (``"G W OE"``); ``kdump_loaded``: ``Kdump:
      loaded`` was on the ``CPU:`` line; ``hardware``: the ``Hardware name:`` line;
      ``kernel_release`` the release on the ``CPU:`` line.
    - ``rip``: where the kernel faulted (``RIP: 0010:`` / arm64 ``pc :``, before the call
      trace); ``frames`` the report's (first) call trace; ``modules`` the ``Modules linked
      in:`` list.
    - ``signature``: a normalised title with the guilty frame, e.g. ``BUG: kernel NULL pointer
      dereference in crash_null_deref``; ``guilty_frame`` that function.
    - ``fatal``: the kernel died (a panic, or a new kernel started right after the report);
      ``crash_kernel``: the crash kernel started after it (``end`` says how the report ended,
      one of :data:`END_REASONS`).
    - ``raw``: the report's console lines (timestamps kept, ``\\r`` and escape sequences
      removed; at most :data:`MAX_RAW` characters, ``truncated`` if more); ``context`` the
      console lines just before it; ``start_line``/``end_line`` its first and last line,
      counted from 1 in the text given to the detector; ``timestamp`` the kernel time of its
      first line.
    - ``corrupted``: only a generic panic was seen (``Fatal exception``...): the real report
      was lost.
    """

    kind: str
    headline: str
    message: str = ""
    signature: str = ""
    guilty_frame: str | None = None
    fatal: bool = False
    crash_kernel: bool = False
    end: str = "eof"
    panic_message: str | None = None
    cpu: int | None = None
    pid: int | None = None
    comm: str | None = None
    taint: str | None = None
    kdump_loaded: bool = False
    hardware: str | None = None
    kernel_release: str | None = None
    rip: Frame | None = None
    frames: list[Frame] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    timestamp: float | None = None
    start_line: int = 0
    end_line: int = 0
    raw: str = ""
    context: str = ""
    truncated: bool = False
    corrupted: bool = False

    @property
    def taint_flags(self) -> str:
        """The taint letters without spaces (``"GWO"``), empty when not tainted."""
        return "" if not self.taint or self.taint == "Not tainted" else self.taint.replace(" ", "")

    def excerpt(self, max_lines: int = 30) -> str:
        """The first ``max_lines`` lines of the report, for a failure message."""
        lines = self.raw.splitlines()
        if len(lines) <= max_lines:
            return "\n".join(lines)
        return "\n".join(lines[:max_lines] + [f"... ({len(lines) - max_lines} more lines)"])

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready builtins (frames as dicts)."""
        return asdict(self)

    def __str__(self) -> str:
        state = "fatal" if self.fatal else "not fatal"
        if self.crash_kernel:
            state += ", crash kernel started"
        lines = [f"{self.kind} ({state}): {self.signature}", f"  {self.headline}"]
        if self.panic_message is not None and self.kind != "panic":
            lines.append(f"  then: Kernel panic - not syncing: {self.panic_message}")
        who = []
        if self.cpu is not None:
            who.append(f"CPU {self.cpu}")
        if self.pid is not None:
            who.append(f"PID {self.pid}" + (f" ({self.comm})" if self.comm else ""))
        if self.taint:
            who.append(self.taint if self.taint == "Not tainted" else f"tainted {self.taint}")
        if self.kernel_release:
            who.append(self.kernel_release)
        if self.kdump_loaded:
            who.append("kdump loaded")
        if who:
            lines.append("  " + ", ".join(who))
        if self.rip:
            lines.append(f"  at {self.rip}")
        trace = [f.function + (f" [{f.module}]" if f.module else "")
                 for f in self.frames if f.reliable]
        if trace:
            more = " < ..." if len(trace) > 8 else ""
            lines.append("  call trace: " + " < ".join(trace[:8]) + more)
        lines.append(f"  console lines {self.start_line}-{self.end_line}, ended by {self.end}")
        return "\n".join(lines)


# --- console lines ---------------------------------------------------------------------------

_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[()*+][ -~]"
                      r"|[ -~])")
_CTRL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# "[   12.345678]" (anywhere: shell output may precede it), an optional caller id "[T123]"
# / "[    C0]", and an optional syslog level "<4>" in front.
_PREFIX_RE = re.compile(r"(?:<\d{1,2}>)?\[\s*(?P<ts>\d+\.\d+)\](?:\[\s*[TC]\d+\])? ?")
_LEVEL_RE = re.compile(r"<\d{1,2}>")
# Cheap pre-filter: a line without any of these cannot change the detector's state.
_TRIGGER_RE = re.compile(
    r"Kernel panic|BUG|Unable to handle kernel|Internal error|Oops|general protection|"
    r": [0-9a-f]{4} \[#|WARNING|LOCKUP|INFO: |UBSAN|Linux version|crashdump kernel|cut here|"
    r"=====|end trace|end Kernel|ommand line|Unhandled fault")

# --- what a line can be --------------------------------------------------------------------

_END_TRACE_RE = re.compile(r"-+\[ end trace\b")
_END_PANIC_RE = re.compile(r"-+\[ end Kernel panic\b")
_CUT_RE = re.compile(r"-+\[ cut here \]-+\s*$")
_SEP_RE = re.compile(r"={20,}\s*$")
_CRASHDUMP_RE = re.compile(r"Starting crashdump kernel")
_BANNER_RE = re.compile(r"Linux version (?P<release>\S+)")
_CMDLINE_RE = re.compile(r"(?:Kernel )?[Cc]ommand line: (?P<cmdline>.*)")
_PANIC_LINE_RE = re.compile(r"Kernel panic - not syncing: ?(?P<msg>.*)")

# (role, kind, pattern, strong): "strong" patterns are specific enough to be searched anywhere
# in a line without kernel timestamp (shell output before them); the others must start it.
_RULES: list[tuple[str, str, re.Pattern[str], bool]] = [
    ("end-trace", "", _END_TRACE_RE, True),
    ("end-panic", "", _END_PANIC_RE, True),
    ("panic", "panic", _PANIC_LINE_RE, True),
    ("crashdump", "", _CRASHDUMP_RE, True),
    ("banner", "", _BANNER_RE, False),
    ("cmdline", "", _CMDLINE_RE, False),
    ("report", "null-deref",
     re.compile(r"BUG: kernel NULL pointer dereference(?:, address: (?P<addr>\S+))?"), True),
    ("report", "paging-request",
     re.compile(r"BUG: unable to handle page fault for address: (?P<addr>\S+)"), True),
    ("report", "x86-old", re.compile(r"BUG: unable to handle kernel (?P<what>NULL pointer "
                                     r"dereference|paging request) at (?P<addr>\S+)"), True),
    ("report", "arm", re.compile(r"Unable to handle kernel (?P<what>.+?) at virtual address "
                                 r"(?P<addr>\S+)"), True),
    ("report", "bug", re.compile(r"kernel BUG at (?P<where>[^!]*)!"), True),
    ("report", "kasan", re.compile(r"BUG: KASAN: (?P<type>[\w-]+) in (?P<where>\S+)"), True),
    ("report", "kfence", re.compile(r"BUG: KFENCE: (?P<type>.+?) in (?P<where>\S+)"), True),
    ("report", "kcsan", re.compile(r"BUG: KCSAN: (?P<type>[\w-]+) in (?P<where>.+)"), True),
    ("report", "ubsan", re.compile(r"UBSAN: (?P<type>.+?) in (?P<where>\S+)"), True),
    ("report", "soft-lockup",
     re.compile(r"(?:watchdog: )?BUG: soft lockup - CPU#(?P<cpu>\d+) stuck for (?P<secs>\d+)s!"
                r"(?: \[(?P<comm>.*):(?P<pid>\d+)\])?"), True),
    ("report", "hard-lockup",
     re.compile(r"(?:NMI watchdog: )?Watchdog detected hard LOCKUP on cpu (?P<cpu>\d+)"), True),
    ("report", "hung-task",
     re.compile(r"INFO: task (?P<comm>.+):(?P<pid>\d+) blocked for more than (?P<secs>\d+) "
                r"seconds"), True),
    ("report", "rcu-stall",
     re.compile(r"(?:rcu: )?INFO: (?P<flavor>[\w-]+) (?:detected (?:expedited )?stalls? on "
                r"CPUs/tasks|self-detected stall on CPU)"), True),
    ("report", "warning",
     re.compile(r"WARNING: CPU: (?P<cpu>\d+) (?:UID: \d+ )?PID: (?P<pid>\d+) at "
                r"(?P<where>.*)"), True),
    ("report", "warning-generic", re.compile(r"WARNING: (?:at )?(?P<where>.+)"), False),
    # x86 die(): "invalid opcode: 0000 [#1] ...", since 6.9 with "Oops: " in front
    ("oops", "die", re.compile(r"(?:Oops: )?(?P<what>[a-z][a-z ]*[a-z])(?:, (?P<detail>[^:]+))?"
                               r": (?P<code>[0-9a-f]{4}) \[#(?P<n>\d+)\]"), True),
    ("oops", "arm", re.compile(r"Internal error: (?P<what>[^:]+): (?P<code>[0-9a-f]+) "
                               r"\[#(?P<n>\d+)\]"), True),
    ("oops", "oops", re.compile(r"Oops(?::| -) (?P<what>.*)"), False),
    ("oops", "unhandled", re.compile(r"Unhandled fault: (?P<what>.*)"), True),
    ("report", "bug-generic", re.compile(r"BUG: (?P<msg>.+)"), False),
    ("cut", "", _CUT_RE, False),
    ("separator", "", _SEP_RE, False),
]

# Reports the kernel ends with no end marker: they end with their call trace.
_MARKERLESS = {"soft-lockup", "hard-lockup", "hung-task", "rcu-stall", "bug-generic",
               "warning-generic"}
# Reports that a later "Oops:"/"Internal error:"/"invalid opcode:" line continues.
_BEFORE_OOPS = {"null-deref", "paging-request", "x86-old", "arm", "bug"}
# Reports ending with a "====" line.
_SEPARATED = {"kasan", "kfence", "kcsan", "ubsan"}
# Panic strings that only follow another report (syzkaller calls them "corrupted" alone).
_FOLLOW_UP_PANIC_RE = re.compile(
    r"Fatal exception|panic_on_warn set|panic_on_oops|softlockup: hung tasks|"
    r"hung_task: blocked tasks|Hard LOCKUP|hardlockup: |RCU Stall|kasan\.fault=panic|"
    r"Attempted to kill (?:init|the idle task)|Aiee, killing interrupt handler|Fatal trap")
# ... and those of them that mean, alone, that the report before them was lost.
_CORRUPTED_PANIC_RE = re.compile(
    r"Fatal exception|panic_on_warn set|panic_on_oops|softlockup: hung tasks|"
    r"hung_task: blocked tasks|Hard LOCKUP|hardlockup: |RCU Stall|kasan\.fault=panic|Fatal trap")
_STACK_PROTECTOR_RE = re.compile(r"stack-protector: Kernel stack is corrupted in: ?(?P<where>\S+)")

# --- parts of a report ------------------------------------------------------------------------

_FUNC = r"[A-Za-z_.$][\w.$]*"
_FRAME_RE = re.compile(
    r"\s*(?:\[<?[0-9a-f]+>?\]\s+)*(?P<unrel>\?\s+)?(?P<func>" + _FUNC + r")\+(?P<off>0x[0-9a-f]+)"
    r"(?:/(?P<size>0x[0-9a-f]+))?(?:\s+\[(?P<mod>[\w-]+)(?:\s+[0-9a-f]+)?\])?"
    r"(?:\s+\(unreliable\))?\s*$")
_RIP_RE = re.compile(
    r"\s*(?:RIP: [0-9a-f]{4}:|EIP: (?:[0-9a-f]{4}:)?|pc : )(?:\[<[0-9a-f]+>\]\s+)*"
    r"(?P<func>" + _FUNC + r")\+(?P<off>0x[0-9a-f]+)(?:/(?P<size>0x[0-9a-f]+))?"
    r"(?:\s+\[(?P<mod>[\w-]+)[^\]]*\])?")
_TRACE_AUX_RE = re.compile(
    r"\s*(?:</?[A-Z#][A-Z0-9_]*>\s*$|(?:\?\s+)?0x[0-9a-f]+\s*$|(?:\[<?[0-9a-f]+>?\]\s*)+$|"
    r"(?:R[A-Z0-9]{1,2}|E[A-Z]{2}|[CDEFGS]S|CR\d|DR\d|PKRU|Code|x\d{1,2}|pc|lr|sp|pstate)\s*:)")
_TRACE_HEAD_RE = re.compile(r"\s*(?:Call [Tt]race|Backtrace|[Ss]tack backtrace):?\s*$")
_CPU_RE = re.compile(
    r"CPU: (?P<cpu>\d+) (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: (?P<comm>.+?)"
    r"(?P<kdump> Kdump: loaded)? (?P<taint>(?:Not tainted|Tainted:).*)$")
_TAINT_LINE_RE = re.compile(r"\s*(?P<taint>(?:Not tainted|Tainted: [A-Z ]+?)\s+\S+ #\d+.*)$")
_KASAN_ACCESS_RE = re.compile(r"(?P<access>Read|Write) of size \d+ at addr \S+ by task "
                              r"(?P<comm>.+)/(?P<pid>\d+)")
_MODULES_RE = re.compile(r"Modules linked in:(?P<list>.*)")
_HARDWARE_RE = re.compile(r"Hardware name: (?P<name>.*)")
_LABEL_RE = re.compile(r"(?:(?:NMI )?watchdog: |rcu: )?(?:BUG: |INFO: )?")

# Functions that report a crash rather than cause it: never the guilty frame.
SKIP_FUNCTIONS = (
    # panic and stack dumping
    "panic", "nmi_panic", "vpanic", "__panic*", "check_panic_on_warn", "dump_stack*",
    "__dump_stack", "show_stack*", "show_regs*", "show_trace*", "dump_backtrace*",
    "sched_show_task", "print_modules", "dump_cpu_task",
    # WARN/BUG and traps
    "__warn*", "warn_slowpath*", "report_bug", "handle_bug", "bug_handler", "brk_handler",
    "call_break_hook", "early_brk64", "exc_*", "asm_exc_*", "die", "die_*", "__die*",
    "arm64_notify_die", "do_trap*", "do_error_trap", "do_int3*", "oops_*", "do_debug_exception",
    "do_undefinstr", "do_el1_*", "el1_*", "el1h_64_*",
    # page faults
    "page_fault_oops", "kernelmode_fixup_or_oops", "no_context", "__bad_area*", "bad_area*",
    "do_user_addr_fault", "do_kern_addr_fault", "handle_page_fault", "do_page_fault",
    "__do_page_fault", "do_mem_abort", "do_translation_fault", "do_bad_area",
    "__do_kernel_fault", "do_alignment_fault", "do_sea",
    # sanitizers and checks
    "kasan_*", "__kasan_*", "__asan_*", "check_memory_region*", "print_report",
    "print_address_description*", "print_error_description", "describe_object*", "kfence_*",
    "__kfence_*", "ubsan_*", "__ubsan_*", "kcsan_*", "__kcsan_*", "__tsan_*", "__msan_*",
    "__stack_chk_fail", "fortify_panic", "__fortify_*", "refcount_warn_saturate",
    "__list_add_valid*", "__list_del_entry_valid*",
    # printk
    "printk*", "_printk*", "vprintk*", "__printk*",
    # locking and scheduling
    "_raw_spin_*", "_raw_read_*", "_raw_write_*", "do_raw_spin_*", "queued_spin_lock_slowpath",
    "native_queued_spin_lock_slowpath", "__pv_queued_spin_lock_slowpath",
    "queued_read_lock_slowpath", "queued_write_lock_slowpath", "__schedule", "schedule",
    "schedule_*", "io_schedule*", "preempt_schedule*", "__cond_resched", "_cond_resched",
    "mutex_lock*", "__mutex_lock*", "mutex_*_slowpath", "down", "down_*", "__down*",
    "rwsem_down_*", "wait_for_completion*", "__wait_for_common", "wait_for_common*",
    "do_wait_for_common", "msleep*", "usleep_range*", "schedule_hrtimeout*", "do_nanosleep",
    "lock_acquire*", "__lock_acquire*", "lock_release", "lockdep_*", "__lockdep_*",
    # watchdogs, lockup and stall detectors, timers, interrupts, NMIs
    "watchdog", "watchdog_timer_fn", "watchdog_overflow_callback", "softlockup_fn",
    "__perf_event_overflow", "perf_event_overflow", "perf_event_nmi_handler",
    "handle_pmi_common", "*_pmu_handle_irq", "check_hung_task", "check_hung_uninterruptible_tasks",
    "rcu_dump_cpu_stacks", "print_cpu_stall*", "print_other_cpu_stall", "check_cpu_stall",
    "rcu_pending", "rcu_sched_clock_irq", "update_process_times", "tick_*", "__hrtimer_run_queues",
    "hrtimer_interrupt", "hrtimer_run_queues", "nmi_*", "default_do_nmi", "end_repeat_nmi",
    "arch_trigger_cpumask_backtrace", "trigger_*_backtrace", "native_*", "sysvec_*",
    "asm_sysvec_*", "__sysvec_*", "irq_exit*", "__irq_exit_rcu", "common_interrupt",
    "asm_common_interrupt",
    # string and copy helpers
    "memcpy*", "__memcpy*", "memmove", "__memmove", "memset*", "__memset", "memcmp", "strlen",
    "strnlen", "strcpy", "strncpy", "strscpy", "strcmp", "strncmp",
    # thread entry
    "kthread", "ret_from_fork*",
)
_SKIP_RE = re.compile("|".join(re.escape(p).replace(r"\*", ".*") for p in SKIP_FUNCTIONS))


def clean_function(name: str) -> str:
    """``name`` without compiler suffixes: ``__handle_sysrq.cold`` -> ``__handle_sysrq``."""
    return name.split(".", 1)[0] or name


def is_reporting_function(name: str) -> bool:
    """True for functions that report a crash (panic, dump_stack, __warn...): never guilty."""
    return _SKIP_RE.fullmatch(clean_function(name)) is not None


# --- signatures ------------------------------------------------------------------------------

_NORM_FUNC_RE = re.compile(r"(?P<func>" + _FUNC + r")\+0x[0-9a-f]+(?:/0x[0-9a-f]+)?"
                           r"(?:\s+\[[\w-]+(?:\s+[0-9a-f]+)?\])?")
_NORM_SRC_RE = re.compile(r"(\b[\w./-]+\.(?:c|h|S|s|rs|cc|cpp)):\d+(?::\d+)?")
_NORM_HEX_RE = re.compile(r"\b(?:0x)?[0-9a-f]{8,}\b")
_NORM_NUM_RULES = [
    (re.compile(r"\b(CPU#|cpu#|CPUs? |cpus? |CPU: |PID: |pid:? ?|ppid:|t=)\d+"), r"\1NUM"),
    (re.compile(r"\b\d+(s!| seconds| secs| jiffies|ms\b| ticks)"), r"NUM\1"),
    (re.compile(r"\[([^\]:\s]+):\d+\]"), r"[\1:NUM]"),
    (re.compile(r"\b(task [^\s:]+):\d+"), r"\1:NUM"),
    (re.compile(r"\b(by task [^\s/]+)/\d+"), r"\1/NUM"),
    (re.compile(r"\[#\d+\]"), "[#NUM]"),
]


def normalise(text: str) -> str:
    """Remove what changes between runs of the same bug from a report's text.

    ``func+0x1/0x2 [mod]`` -> ``func``, ``file.c:123`` -> ``file.c:LINE``, addresses ->
    ``ADDR`` (hex numbers of 8+ digits above 0xffff), CPU numbers, PIDs, seconds, jiffies ->
    ``NUM``; spaces collapsed.
    """
    text = _NORM_FUNC_RE.sub(lambda m: clean_function(m["func"]), text)
    text = _NORM_SRC_RE.sub(r"\1:LINE", text)
    text = _NORM_HEX_RE.sub(
        lambda m: "ADDR" if int(m.group(0).removeprefix("0x"), 16) > 0xFFFF else m.group(0), text)
    for pattern, repl in _NORM_NUM_RULES:
        text = pattern.sub(repl, text)
    return " ".join(text.split())


# --- the detector ----------------------------------------------------------------------------

@dataclass
class _Line:
    no: int
    text: str  # cleaned line, console prefix kept
    content: str  # what the kernel printed: console prefix removed
    ts: float | None


class _Hit:
    __slots__ = ("role", "kind", "match")

    def __init__(self, role: str, kind: str, match: re.Match[str]) -> None:
        self.role, self.kind, self.match = role, kind, match


def _classify(content: str, has_ts: bool) -> _Hit | None:
    s = content.strip()
    for role, kind, pattern, _strong in _RULES:
        m = pattern.match(s)
        if m:
            return _Hit(role, kind, m)
    if not has_ts:  # no timestamp: the kernel's text may follow shell output on the line
        for role, kind, pattern, strong in _RULES:
            if strong:
                m = pattern.search(s)
                if m:
                    return _Hit(role, kind, m)
    return None


def _is_trace_line(content: str) -> bool:
    return bool(_FRAME_RE.match(content) or _TRACE_AUX_RE.match(content)
                or _TRACE_HEAD_RE.match(content) or _RIP_RE.match(content))


class _Report:
    """A report being read."""

    def __init__(self, hit: _Hit, line: _Line, context: list[str]) -> None:
        self.kind = hit.kind
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
        self.quiet = 0
        self.markerless = hit.kind in _MARKERLESS
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
        m = _PREFIX_RE.search(text)
        if m:
            line = _Line(self._lineno, text, text[m.end():], float(m["ts"]))
        else:
            content = _LEVEL_RE.sub("", text, count=1) if text.startswith("<") else text
            line = _Line(self._lineno, text, content, None)
        hit = _classify(line.content, line.ts is not None)
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

    def _idle_line(self, line: _Line, hit: _Hit | None) -> None:
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

    def _banner_line(self, line: _Line, hit: _Hit | None) -> None:
        assert self._banner is not None
        lines, context = self._banner
        if line is not lines[0]:
            lines.append(line)
        if hit and hit.role == "cmdline":
            self._banner = None
            if "elfcorehdr=" in hit.match["cmdline"]:  # kexec-tools adds it for crash kernels
                self._unknown(lines, "kernel-start", context)
        elif line.no - lines[0].no > BANNER_LOOKAHEAD:
            self._banner = None

    def _start(self, line: _Line, hit: _Hit) -> None:
        opener = self._opener
        adjacent = opener is not None and opener.no == line.no - 1
        if hit.kind == "warning-generic" and not (adjacent and _SEP_RE.match(opener.content)):
            return  # "WARNING: ..." is a report (lockdep's) only under a ==== line
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

    def _report_line(self, rec: _Report, line: _Line, hit: _Hit | None) -> None:
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
        elif role == "oops" and rec.kind in _BEFORE_OOPS and not rec.has_oops:
            rec.has_oops = True
            rec.add(line, self.max_raw)
        elif role in ("report", "oops"):
            if rec.kind == hit.kind == "hung-task":
                rec.add(line, self.max_raw)  # the next blocked task of the same check
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
        elif role == "separator" and rec.kind in _SEPARATED and rec.panic_msg is None:
            rec.add(line, self.max_raw)
            self._close(rec, "end-report")
        else:
            trace = _is_trace_line(line.content)
            if rec.markerless and rec.trace_started and not trace:
                self._close(rec, "end-report")  # its call trace is over
                self._closing_line(rec, line, hit)
                return
            rec.add(line, self.max_raw)
            if trace:
                rec.trace_started = rec.trace_started or bool(_FRAME_RE.match(line.content))
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

    def _closing_line(self, rec: _Report, line: _Line, hit: _Hit | None) -> None:
        """After a report's end: a follow-up panic joins it, anything else waits a few lines."""
        role = hit.role if hit else None
        if role == "panic" and (rec.markerless or _FOLLOW_UP_PANIC_RE.search(hit.match["msg"])):
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
        banner = _BANNER_RE.search(first.content)
        self._out.append(CrashRecord(
            kind="unknown", headline=first.content.strip(), message=UNKNOWN_REASON,
            signature="unknown: crash kernel started with no crash report", fatal=True,
            crash_kernel=True, end=end, kdump_loaded=True,
            kernel_release=banner["release"] if banner else None, timestamp=first.ts,
            start_line=first.no, end_line=lines[-1].no, raw=text[:self.max_raw],
            context="\n".join(context), truncated=len(text) > self.max_raw))


def _build_record(rec: _Report, end: str) -> CrashRecord:
    """Parse the lines of a report into a :class:`CrashRecord`."""
    g = rec.groups
    kind = rec.kind
    headline = rec.headline
    lines = [line for line in rec.lines if line.ts is not None or not rec.stamped]
    contents = [line.content for line in lines]
    first = next((i for i, line in enumerate(lines) if line.no == rec.header_no), 0)
    # CPU line(s), hardware, modules, RIP before the first call trace
    cpu_line = None
    kdump = False
    hardware = modules = rip = taint_line = access = None
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
    frames = _first_trace(contents)

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

    # kind, message, title, guilty frame
    panic_msg = rec.panic_msg
    header_func = None
    message = _LABEL_RE.sub("", headline, count=1)
    corrupted = False
    title: str
    if kind == "panic":
        message = panic_msg or ""
        sp = _STACK_PROTECTOR_RE.match(message)
        if sp:
            kind = "stack-protector"
            header_func = _func_of(sp["where"])
            title = "stack-protector: Kernel stack is corrupted"
        else:
            corrupted = bool(_CORRUPTED_PANIC_RE.search(message))
            title = "Kernel panic: " + message
    elif kind == "x86-old":
        kind = "null-deref" if g["what"].startswith("NULL") else "paging-request"
        title = ("BUG: kernel NULL pointer dereference" if kind == "null-deref"
                 else "BUG: unable to handle page fault")
    elif kind == "arm":
        what = g["what"]
        kind = "null-deref" if what == "NULL pointer dereference" else "paging-request"
        title = ("BUG: kernel NULL pointer dereference" if kind == "null-deref"
                 else f"Unable to handle kernel {what}")
    elif kind == "null-deref":
        title = "BUG: kernel NULL pointer dereference"
    elif kind == "paging-request":
        title = "BUG: unable to handle page fault"
    elif kind in ("die", "oops", "unhandled"):
        what = g.get("what", "").strip()
        if kind == "die":
            message = headline.removeprefix("Oops: ")
        if kind == "die" and what == "general protection fault":
            kind, title = "gpf", "general protection fault"
        elif kind == "die" and what in ("invalid opcode", "divide error"):
            kind, title = what.replace(" ", "-"), what
        elif kind == "die":
            kind, title = "oops", what
        elif rec.kind == "oops" or what.startswith("Oops"):
            if "BUG" in what:
                kind, title = "bug", "kernel BUG"
            elif "undefined instruction" in what:
                kind, title = "invalid-opcode", "invalid opcode"
            else:
                kind, title = "oops", "Oops"
        else:
            kind, title = "oops", "Unhandled fault"
    elif kind == "bug":
        title = "kernel BUG"
    elif kind == "bug-generic":
        kind = "bug"
        title = "BUG: " + _short(g["msg"])
    elif kind == "warning":
        header_func = _func_of(g["where"].split()[-1]) if g["where"].split() else None
        location = g["where"].strip()
        text = _warn_text(contents[first + 1:])
        message = f"{location}: {text}" if text else location
        title = "WARNING"
    elif kind == "warning-generic":
        kind = "warning"
        title = "WARNING: " + _short(g["where"])
    elif kind == "soft-lockup":
        title = "soft lockup"
    elif kind == "hard-lockup":
        title = "hard lockup"
    elif kind == "hung-task":
        title = "task hung"
    elif kind == "rcu-stall":
        title = "rcu detected stall"
    elif kind == "kasan":
        header_func = _func_of(g["where"])
        title = f"KASAN: {g['type']}" + (f" {access['access']}" if access else "")
        message = headline.removeprefix("BUG: ")
    elif kind == "kfence":
        header_func = _func_of(g["where"])
        title = f"KFENCE: {g['type']}"
        message = headline.removeprefix("BUG: ")
    elif kind == "kcsan":
        title = f"KCSAN: {g['type']} in {g['where']}"
        message = headline.removeprefix("BUG: ")
    elif kind == "ubsan":
        title = f"UBSAN: {g['type']}"
    else:  # pragma: no cover - every rule's kind is handled above
        title = headline

    guilty = None if kind == "kcsan" else _guilty(header_func, rip, frames)
    signature = normalise(f"{title} in {guilty}" if guilty else title)
    fatal = panic_msg is not None or end in ("kernel-start", "crashdump-start")
    return CrashRecord(
        kind=kind, headline=headline, message=message, signature=signature,
        guilty_frame=guilty, fatal=fatal,
        crash_kernel=end == "crashdump-start" or (end == "kernel-start" and kdump),
        end=end, panic_message=panic_msg, cpu=cpu, pid=pid, comm=comm, taint=taint,
        kdump_loaded=kdump, hardware=hardware, kernel_release=release, rip=rip, frames=frames,
        modules=_module_names(modules) if modules is not None else [], timestamp=rec.ts,
        start_line=rec.start, end_line=rec.last,
        raw="\n".join(line.text for line in rec.lines), context="\n".join(rec.context),
        truncated=rec.truncated, corrupted=corrupted and kind == "panic")


def _frame(m: re.Match[str], reliable: bool) -> Frame:
    return Frame(function=m["func"], offset=int(m["off"], 16), module=m["mod"],
                 reliable=reliable, size=int(m["size"], 16) if m["size"] else None)


def _first_trace(contents: list[str]) -> list[Frame]:
    """The frames of the report's first call trace (a "Call Trace:" block or frame lines)."""
    frames: list[Frame] = []
    in_block = False
    for c in contents:
        if _TRACE_HEAD_RE.match(c):
            if frames:
                break
            in_block = True
            continue
        m = _FRAME_RE.match(c)
        if m:
            in_block = True
            frames.append(_frame(m, m["unrel"] is None))
        elif in_block and (_TRACE_AUX_RE.match(c) or _RIP_RE.match(c)):
            continue
        elif frames:
            break
    return frames


def _guilty(header_func: str | None, rip: Frame | None, frames: list[Frame]) -> str | None:
    """The first function that is not a reporting helper: the header's, the faulting
    location's, then the call trace's reliable frames, then its '?' frames."""
    candidates = [header_func] if header_func else []
    if rip:
        candidates.append(rip.function)
    candidates += [f.function for f in frames if f.reliable]
    candidates += [f.function for f in frames if not f.reliable]
    for name in candidates:
        if not is_reporting_function(name):
            return clean_function(name)
    return None


def _func_of(where: str) -> str | None:
    m = _NORM_FUNC_RE.match(where.strip())
    return m["func"] if m else None


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


def _warn_text(contents: list[str]) -> str:
    """A WARN()'s own text: the lines between the WARNING line and "Modules linked in:"."""
    text = []
    for c in contents[:10]:
        s = c.strip()
        if s.startswith("Modules linked in:"):
            return " ".join(text)
        if s:
            text.append(s)
    return ""


_SHORT_RE = re.compile(r":\s|\sat\s|,\s|\s-\s|\s\(|\s{2,}|\sin process\s")


def _short(message: str) -> str:
    """The descriptive start of a generic "BUG: ..." / "WARNING: ..." line."""
    return _SHORT_RE.split(message.strip(), maxsplit=1)[0]


def find_crashes(text: str) -> list[CrashRecord]:
    """Every kernel crash report in a whole console log, in the order they completed.

    ``text`` may hold several boots, shell output between kernel lines, timestamps or not.
    The first kernel banner of a boot is not a crash; a crash kernel (its command line has
    ``elfcorehdr=``) starting with no report before it is one, of kind ``unknown``.
    """
    detector = StreamDetector()
    return detector.feed(text) + detector.flush()

"""The rule table: what a console line is, and for a line that opens a crash report, how the
report is titled (shaped like syzkaller's pkg/report: one row per kind of report header).

:data:`RULES` is searched in order; the first match wins. A row of role ``report``, ``oops``
or ``panic`` opens a report and carries its builder: a function of the report's
:class:`Facts` that returns its :class:`Title` (record kind, title, message, header function).
The other roles are the markers the detector follows (end of trace, kernel banner...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from pytest_kdump.detect.signature import FUNC, location_function


@dataclass(frozen=True)
class Facts:
    """What a builder reads: the report's opening line and what was parsed from its lines."""

    groups: dict[str, str]  # the named groups of the rule's match (those that matched)
    headline: str  # the opening line without console prefix
    panic_msg: str | None  # the panic string, if a panic is part of the report
    access: re.Match[str] | None  # KASAN's "Read/Write of size N at addr ... by task ..."
    after: list[str]  # the report's lines after its opening line

    @property
    def message(self) -> str:
        """The headline without its label (``BUG: ``, ``INFO: ``, ``watchdog: ``...)."""
        return _LABEL_RE.sub("", self.headline, count=1)


@dataclass(frozen=True)
class Title:
    """What a builder returns: the record's kind (one of :data:`~.record.KINDS`), title (its
    signature before `` in <guilty frame>``) and message; the function the report's header
    names (the first candidate for guilty frame); ``corrupted``: a panic alone whose report was
    lost; ``guilty``: whether a guilty frame is looked for at all."""

    kind: str
    title: str
    message: str
    header_func: str | None = None
    corrupted: bool = False
    guilty: bool = True


Builder = Callable[[Facts], Title]


class Rule(NamedTuple):
    """One row of :data:`RULES`.

    ``role``: what the line is (``report``/``oops``/``panic`` open a report); ``kind``: the
    row's name, which the detector's state keys on; ``strong``: the pattern is specific enough
    to be searched anywhere in a line without kernel timestamp (shell output before it), else
    it must start the line; ``build``: titles the report the line opens."""

    role: str
    kind: str
    pattern: re.Pattern[str]
    strong: bool
    build: Builder | None = None


class Hit:
    """A console line that matched a rule."""

    __slots__ = ("rule", "role", "kind", "match")

    def __init__(self, rule: Rule, match: re.Match[str]) -> None:
        self.rule, self.role, self.kind, self.match = rule, rule.role, rule.kind, match


# --- builders, one per row that opens a report -----------------------------------------------

_LABEL_RE = re.compile(r"(?:(?:NMI )?watchdog: |rcu: )?(?:BUG: |INFO: )?")
# Panic strings that, alone, mean the report before them was lost (syzkaller: "corrupted").
_CORRUPTED_PANIC_RE = re.compile(
    r"Fatal exception|panic_on_warn set|panic_on_oops|softlockup: hung tasks|"
    r"hung_task: blocked tasks|Hard LOCKUP|hardlockup: |RCU Stall|kasan\.fault=panic|Fatal trap")
_STACK_PROTECTOR_RE = re.compile(
    r"stack-protector: Kernel stack is corrupted(?: in: ?(?P<where>\S+))?")
_SHORT_RE = re.compile(r":\s|\sat\s|,\s|\s-\s|\s\(|\s{2,}|\sin process\s")
_NULL_DEREF = "BUG: kernel NULL pointer dereference"
_BARE_FUNC_RE = re.compile(FUNC)


def _titled(kind: str, title: str) -> Builder:
    """A builder for a kind whose title is fixed."""
    return lambda f: Title(kind, title, f.message)


def _panic(f: Facts) -> Title:
    message = f.panic_msg or ""
    sp = _STACK_PROTECTOR_RE.match(message)
    if sp:
        return Title("stack-protector", "stack-protector: Kernel stack is corrupted", message,
                     location_function(sp["where"]) if sp["where"] else None)
    if message.startswith("Watchdog detected hard LOCKUP"):
        return Title("hard-lockup", "hard lockup", message)
    return Title("panic", "Kernel panic: " + message, message,
                 corrupted=bool(_CORRUPTED_PANIC_RE.search(message)))


def _x86_old(f: Facts) -> Title:
    """Before 4.19: "BUG: unable to handle kernel NULL pointer dereference/paging request"."""
    if f.groups["what"].startswith("NULL"):
        return Title("null-deref", _NULL_DEREF, f.message)
    return Title("paging-request", "BUG: unable to handle page fault", f.message)


def _arm_internal(f: Facts) -> Title:
    """arm/arm64 die() with no "Unable to handle kernel ..." line before it."""
    what = f.groups["what"].strip()
    if what.startswith("Oops"):
        return _oops(f)
    return Title("oops", "Internal error: " + (what or f"code {f.groups['code']}"), f.message)


def _arm(f: Facts) -> Title:
    what = f.groups["what"]
    if what.startswith("NULL pointer dereference"):
        return Title("null-deref", _NULL_DEREF, f.message)
    return Title("paging-request", f"Unable to handle kernel {what}", f.message)


def _die(f: Facts) -> Title:
    """x86 die(): the trap's name is the title."""
    what = f.groups.get("what", "").strip()
    message = f.headline.removeprefix("Oops: ")
    if "general protection fault" in what:
        return Title("gpf", "general protection fault", message)
    if what in ("invalid opcode", "divide error", "divide_error"):
        what = what.replace("_", " ")
        return Title(what.replace(" ", "-"), what, message)
    return Title("oops", what, message)


def _lockdep(f: Facts) -> Title:
    """A lockdep report, titled the same whatever the kernel's header style."""
    msg = f.groups["msg"].strip().rstrip(".!").strip()
    if msg.startswith("Invalid wait context"):  # still "[ BUG: ... ]" since 5.7
        return Title("bug", "BUG: " + msg, msg)
    return Title("warning", "WARNING: " + _short(msg), msg)


def _slub(f: Facts) -> Title:
    return Title("bug", "SLUB: " + _short(f.groups["msg"]), f.headline)


def _oops(f: Facts) -> Title:
    what = f.groups.get("what", "").strip()
    if "BUG" in what:
        return Title("bug", "kernel BUG", f.message)
    if "undefined instruction" in what.lower():  # arm64 6.1: "Oops - Undefined instruction"
        return Title("invalid-opcode", "invalid opcode", f.message)
    return Title("oops", "Oops", f.message)


def _unhandled(f: Facts) -> Title:
    if f.groups.get("what", "").strip().startswith("Oops"):
        return _oops(f)
    return Title("oops", "Unhandled fault", f.message)


def _bug_generic(f: Facts) -> Title:
    return Title("bug", "BUG: " + _short(f.groups["msg"]), f.message)


def _warning(f: Facts) -> Title:
    where = f.groups["where"]
    # "kernel/x.c:12 func+0x1/0x2 [mod]", symbolised: "... func+0x1/0x2 kernel/x.c:12"
    header_func = next((fn for tok in where.split() if (fn := location_function(tok))), None)
    if header_func is None and f.after and f.after[0].split():  # the line wrapped before it
        header_func = location_function(f.after[0].split()[0])
    location = where.strip()
    text = _warn_text(f.after)
    return Title("warning", "WARNING", f"{location}: {text}" if text else location, header_func)


def _warning_at(f: Facts) -> Title:
    """``WARNING: fs/dcache.c:829 at fast_dput+0x334/0x430, CPU#1: comm/5830`` (6.16+) and
    ``WARNING: at fs/foo.c:12 foo()`` (before 3.9)."""
    where = f.groups["where"]
    location = f"{f.groups['file']} {where}" if f.groups.get("file") else where
    text = _warn_text(f.after)
    return Title("warning", "WARNING", f"{location}: {text}" if text else location,
                 location_function(where.split()[-1]))


def _warning_generic(f: Facts) -> Title:
    where = f.groups.get("where") or f.groups["msg"]
    return Title("warning", "WARNING: " + _short(where), f.message)


def _netdev(f: Facts) -> Title:
    """A device whose references never drop: the title names no function."""
    return Title("warning", "unregister_netdevice: waiting for DEV to become free", f.message,
                 guilty=False)


def _kasan(f: Facts) -> Title:
    access = f" {f.access['access']}" if f.access else ""
    return Title("kasan", f"KASAN: {f.groups['type']}{access}",
                 f.headline.removeprefix("BUG: "),
                 location_function(f.groups["where"]) if f.groups.get("where") else None)


def _kfence(f: Facts) -> Title:
    return Title("kfence", f"KFENCE: {f.groups['type']}", f.headline.removeprefix("BUG: "),
                 location_function(f.groups["where"]))


def _kmsan(f: Facts) -> Title:
    """``BUG: KMSAN: kernel-infoleak in save_xstate_epilog+0x2df/0x510`` (the function may be
    printed bare, and symbolised reports repeat the line for each inlined caller)."""
    where = f.groups["where"]
    func = location_function(where) or (where if _BARE_FUNC_RE.fullmatch(where) else None)
    return Title("bug", f"KMSAN: {f.groups['type']}", f.headline.removeprefix("BUG: "), func)


def _kcsan(f: Facts) -> Title:
    """The title names both racing functions: no guilty frame."""
    return Title("kcsan", f"KCSAN: {f.groups['type']} in {f.groups['where']}",
                 f.headline.removeprefix("BUG: "), guilty=False)


def _ubsan(f: Facts) -> Title:
    return Title("ubsan", f"UBSAN: {f.groups['type']}", f.message)


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


def _short(message: str) -> str:
    """The descriptive start of a generic "BUG: ..." / "WARNING: ..." line."""
    return _SHORT_RE.split(message.strip(), maxsplit=1)[0]


# --- the table -------------------------------------------------------------------------------

END_TRACE_RE = re.compile(r"-+\[ end trace\b")
END_PANIC_RE = re.compile(r"-+\[ end Kernel panic\b")
CUT_RE = re.compile(r"-+\[ cut here \]-+\s*$")
SEP_RE = re.compile(r"={20,}\s*$")
CRASHDUMP_RE = re.compile(r"Starting crashdump kernel")
BANNER_RE = re.compile(r"Linux version (?P<release>\S+)")
CMDLINE_RE = re.compile(r"(?:Kernel )?[Cc]ommand line: (?P<cmdline>.*)")
PANIC_LINE_RE = re.compile(r"Kernel panic - not syncing: ?(?P<msg>.*)")

RULES: list[Rule] = [
    Rule("end-trace", "", END_TRACE_RE, True),
    Rule("end-panic", "", END_PANIC_RE, True),
    Rule("panic", "panic", PANIC_LINE_RE, True, _panic),
    Rule("crashdump", "", CRASHDUMP_RE, True),
    Rule("banner", "", BANNER_RE, False),
    Rule("cmdline", "", CMDLINE_RE, False),
    # x86 since 4.19; powerpc: "BUG: Kernel NULL pointer dereference on read at 0x00000000"
    Rule("report", "null-deref",
         re.compile(r"BUG: [Kk]ernel NULL pointer dereference(?:, address: (?P<addr>\S+))?"), True,
         _titled("null-deref", _NULL_DEREF)),
    Rule("report", "paging-request",
         re.compile(r"BUG: unable to handle page fault for address: (?P<addr>\S+)"), True,
         _titled("paging-request", "BUG: unable to handle page fault")),
    # powerpc since 5.8
    Rule("report", "paging-request",
         re.compile(r"BUG: Unable to handle kernel (?:data access|instruction fetch)"), True,
         _titled("paging-request", "BUG: unable to handle page fault")),
    Rule("report", "x86-old", re.compile(r"BUG: unable to handle kernel (?P<what>NULL pointer "
                                         r"dereference|paging request) at (?P<addr>\S+)"), True,
         _x86_old),
    # arm, arm64, riscv, old powerpc ("... paging request for data at address 0x...")
    # (MIPS: "CPU 0 Unable to handle kernel paging request at virtual address 0, epc == ...")
    Rule("report", "arm", re.compile(r"(?:CPU \d+ )?Unable to handle kernel (?P<what>.+?) "
                                     r"(?:at virtual address|for data at address|for "
                                     r"instruction fetch|at address)\b"), True, _arm),
    Rule("report", "bug", re.compile(r"kernel BUG at (?P<where>[^!]*)!"), True,
         _titled("bug", "kernel BUG")),
    # (also "double-free or invalid-free in ...", and titles with no or a wrapped location:
    # "invalid-access", "wild-memory-access on address ...", "use-after-free in" + newline)
    Rule("report", "kasan", re.compile(r"BUG: KASAN: (?P<type>[\w-]+(?: or [\w-]+)?)"
                                       r"(?: in (?P<where>\S+))?"), True, _kasan),
    Rule("report", "kfence", re.compile(r"BUG: KFENCE: (?P<type>.+?) in (?P<where>\S+)"), True,
         _kfence),
    Rule("report", "kmsan", re.compile(r"BUG: KMSAN: (?P<type>[\w-]+) in (?P<where>\S+)"), True,
         _kmsan),
    Rule("report", "kcsan", re.compile(r"BUG: KCSAN: (?P<type>[\w-]+) in (?P<where>.+)"), True,
         _kcsan),
    Rule("report", "ubsan", re.compile(r"UBSAN: (?P<type>.+?) in (?P<where>\S+)"), True, _ubsan),
    # SLUB debugging: "BUG kmalloc-8 (Tainted: G    B   ): Object already free"
    Rule("report", "slub", re.compile(r"BUG (?P<cache>[\w.:()-]+?) \((?:Not tainted|Tainted:"
                                      r"[^)]*)\): (?P<msg>.+)"), True, _slub),
    Rule("report", "soft-lockup",
         re.compile(r"(?:.*?(?:NMI )?watchdog: )?BUG: soft lockup - CPU#(?P<cpu>\d+) stuck for "
                    r"(?P<secs>\d+)s!(?: \[(?P<comm>.*):(?P<pid>\d+)\])?"), True,
         _titled("soft-lockup", "soft lockup")),
    Rule("report", "hard-lockup",
         re.compile(r"(?:NMI watchdog: )?Watchdog detected hard LOCKUP on cpu (?P<cpu>\d+)"), True,
         _titled("hard-lockup", "hard lockup")),
    Rule("report", "hung-task",
         re.compile(r"INFO: task (?P<comm>.+):(?P<pid>\d+) (?:blocked (?:in I/O wait )?for more "
                    r"than|can't die for more than) (?P<secs>\d+) seconds"), True,
         _titled("hung-task", "task hung")),
    Rule("report", "rcu-stall",
         re.compile(r"(?:rcu: )?(?:INFO: )?(?P<flavor>rcu[\w-]*) (?:detected (?:expedited )?"
                    r"stalls? on (?:CPUs/tasks|tasks)|self-detected stall on CPU)"), True,
         _titled("rcu-stall", "rcu detected stall")),
    Rule("report", "warning",
         re.compile(r"WARNING: CPU: (?P<cpu>\d+) (?:UID: \d+ )?PID: (?P<pid>\d+) at "
                    r"(?P<where>.*)"), True, _warning),
    # (a "[...]" before the file, and the "CPU#..." part wrapped to the next line, seen too)
    Rule("report", "warning-at",
         re.compile(r"WARNING: (?:\[[^\]]*\] )?(?P<file>\S+:\d+) at (?P<where>[^\s,]+),"
                    r"(?: CPU#(?P<cpu>\d+): (?P<comm>.+)/(?P<pid>\d+))?"), True, _warning_at),
    Rule("report", "warning-at", re.compile(r"WARNING: at (?P<where>\S+ \S+\(\))"), True,
         _warning_at),
    # lockdep before 4.10 ("[ INFO: ... ]") and its INFO: lines; since 4.10 "WARNING: ..."
    # under a ==== line (warning-generic)
    Rule("report", "lockdep", re.compile(r"\[ (?:INFO|BUG): (?P<msg>[^\]]+?) \]"), True,
         _lockdep),
    Rule("report", "lockdep", re.compile(
        r"INFO: (?P<msg>possible [\w -]+detected|inconsistent lock state|suspicious RCU usage|"
        r"trying to register non-static key|lockdep is turned off|held lock freed)"), True,
         _lockdep),
    # lockdep's own titles (kernel/locking/lockdep.c), also when the ==== line above them was
    # not kept (a quoted report often starts at its WARNING line)
    Rule("report", "lockdep", re.compile(
        r"WARNING: (?P<msg>suspicious RCU usage|possible circular locking dependency detected|"
        r"possible recursive locking detected|inconsistent lock state|possible irq lock "
        r"inversion dependency detected|bad unlock balance detected!|held lock freed!|"
        r"lock held when returning to user space!|Nested lock was not taken|"
        r"\w+-safe -> \w+-unsafe lock order detected)$"), True, _warning_generic),
    Rule("report", "netdev-leak",
         re.compile(r"unregister_netdevice: waiting for (?P<dev>\S+) to become free"), True,
         _netdev),
    Rule("report", "warning-generic", re.compile(r"WARNING: (?:at )?(?P<where>.+)"), False,
         _warning_generic),
    # x86 die(): "invalid opcode: 0000 [#1] ...", since 6.9 with "Oops: " in front; also
    # "general protection fault, probably for non-canonical address 0x...: 0000 [#1]" and
    # "PANIC: double fault, error_code: 0x0" (no [#n])
    Rule("oops", "die", re.compile(r"(?:Oops: )?(?P<what>[a-z][a-z_ -]*[a-z])(?:,? (?P<detail>"
                                   r"[^:]+))?: (?P<code>[0-9a-f]{4}) \[#(?P<n>\d+)\]"), True, _die),
    Rule("oops", "die", re.compile(r"PANIC: (?P<what>double fault)"), True, _die),
    # arm64 die(); a report it opens is titled like "Unable to handle kernel ..." ones
    # (arm32 prints an empty name for some aborts: "Internal error: : 1028 [#1] SMP ARM")
    Rule("oops", "arm", re.compile(r"Internal error: (?P<what>[^:]*): (?P<code>[0-9a-f]+) "
                                   r"\[#(?P<n>\d+)\]"), True, _arm_internal),
    Rule("oops", "oops", re.compile(r"Oops(?::| -|(?= \[#\d+\])) ?(?P<what>.*)"), False, _oops),
    Rule("oops", "unhandled", re.compile(r"Unhandled fault: (?P<what>.*)"), True, _unhandled),
    Rule("report", "bug-generic", re.compile(r"BUG: (?P<msg>.+)"), False, _bug_generic),
    Rule("cut", "", CUT_RE, False),
    Rule("separator", "", SEP_RE, False),
]
"""The rules, in the order they are tried."""

# Rows (by kind) whose reports the kernel ends with no end marker: they end with their trace.
MARKERLESS = {"soft-lockup", "hard-lockup", "hung-task", "rcu-stall", "bug-generic",
              "warning-generic", "lockdep", "slub", "netdev-leak"}
# Rows whose report's own call trace comes after a header line (the first call traces of a
# lockdep report are its dependency chains; SLUB's are the allocation and free tracks):
# the row's kind -> (header, take the last such header rather than the first).
TRACE_FROM = {"lockdep": (re.compile(r"\s*stack backtrace:\s*$"), True),
              "warning-generic": (re.compile(r"\s*stack backtrace:\s*$"), True),
              "slub": (re.compile(r"\s*(?:Call [Tt]race|Backtrace):?\s*$"), False)}
# A WARNING under a ==== line is a lockdep report (not e.g. "WARNING: the mand mount option is
# being deprecated", which the kernel also frames with ==== lines).
LOCKDEP_WARNING_RE = re.compile(r"WARNING: .*(?:lock|detected|RCU|dependency|held|nest)", re.I)
# Rows whose reports a later "Oops:"/"Internal error:"/"invalid opcode:" line continues.
BEFORE_OOPS = {"null-deref", "paging-request", "x86-old", "arm", "bug"}
# Rows whose reports end with a "====" line.
SEPARATED = {"kasan", "kfence", "kcsan", "kmsan", "ubsan"}
# Rows whose report may repeat its opening line: the next blocked task of the same check, the
# lines a symbolised KMSAN report prints for each inlined caller of the bad access.
REPEATED = {"hung-task", "kmsan"}
# Rows (by kind) whose reports name the interrupted code in a RIP/pc line inside their trace.
STALLS = {"soft-lockup", "hard-lockup", "rcu-stall"}
# Panic strings that only follow another report (syzkaller calls them "corrupted" alone).
FOLLOW_UP_PANIC_RE = re.compile(
    r"Fatal exception|panic_on_warn set|panic_on_oops|softlockup: hung tasks|"
    r"hung_task: blocked tasks|Hard LOCKUP|hardlockup: |RCU Stall|kasan\.fault=panic|"
    r"Attempted to kill (?:init|the idle task)|Aiee, killing interrupt handler|Fatal trap")


def classify(content: str, has_ts: bool) -> Hit | None:
    """The first rule a line (console prefix removed) matches at its start, or, for a line
    without kernel timestamp, the first strong rule found anywhere in it."""
    s = content.strip()
    for rule in RULES:
        m = rule.pattern.match(s)
        if m:
            return Hit(rule, m)
    if not has_ts:  # no timestamp: the kernel's text may follow shell output on the line
        for rule in RULES:
            if rule.strong:
                m = rule.pattern.search(s)
                if m:
                    return Hit(rule, m)
    return None

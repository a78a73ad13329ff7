#!/usr/bin/env python3
"""Collect corpus reports from fix commits: crash reports quoted in a commit message, labelled
with the functions the commit's diff changes (tests/data/README.md, ``corpus/``).

Two kinds of git directory are read (``git`` on PATH, read-only):

- a Linux kernel repository (``git log``: every non-merge commit whose message quotes a crash
  report; ``SOURCE:`` https://git.kernel.org/torvalds/c/<sha>);
- a public-inbox mirror of a lore.kernel.org list (one message per commit, file ``m``): every
  message that is not a reply (subject without ``Re:``) and carries a diff; ``SOURCE:`` the
  message on lore.kernel.org.

The report is the block of the commit message from its first report line (``BUG:``,
``WARNING:``, ``Unable to handle kernel``, ``general protection fault``, ``Oops``, ``kernel BUG
at``, ``Internal error:``, ``Kernel panic``, ``UBSAN:``, lockdep's ``[ INFO: ... ]``, hung
tasks, RCU stalls, lockups) to its end (the commit's trailers, the ``---`` line, or a blank
line followed by prose), with the common indentation removed; it is kept only if it holds a
call trace (two frames or more). Labels, by rule, never from the detector:

- ``EXPECT_KIND`` from the kernel's words on the report's first line (README mapping);
- ``EXPECT_GUILTY`` (``GUILTY_BY: fix``) only when a function the diff changes (a hunk header's
  function, or the function a changed line sits in, or a function the diff adds or removes) is
  among the first three functions of the report: the faulting location (the header's ``in
  func``/``at func``, ``RIP:``, ``pc :``, ``PC is at``, ``NIP``, ``epc :``), then the call
  trace's reliable frames (for lockdep reports the ``stack backtrace:`` trace), leaving out the
  stack-printing, checker, trap and fault-handling frames of :data:`REPORTING`;
- the architecture read off the report's register and trace lines (reports of no known
  architecture are left out), ``KERNEL`` off its ``CPU: ... Comm:`` line.

Reports that share three address lines with a file of syzkaller's pkg/report/testdata
(``--syzkaller``), reports already in the corpus (same subject, or same kind and first eight
trace functions)
and duplicates among the new ones are dropped; existing files are never touched.

    tests/data/corpus/collect_git.py GITDIR [GITDIR...] [--syzkaller GITDIR] [--write [--out DIR]]
        [--since DATE]
    # without --write: prints one line per report found (arch kind guilty name)
"""

from __future__ import annotations

import argparse
import email
import email.policy
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

CORPUS = Path(__file__).resolve().parent

# --- report text -------------------------------------------------------------------------------

# Console prefixes: timestamps ("[   12.345678]", "[ 12.3][  T123]"), log levels ("<4>").
PREFIX_RE = re.compile(r"^(?:<\d>)?(?:\[\s*\d+\.\d+\s*\])?(?:\[\s*[TC]\d+\s*\])?\s?")
START_RE = re.compile(
    r"^(?:\S+: )?(?:NMI watchdog: |watchdog: |rcu: )?(?:"
    r"BUG: |BUG kmalloc|WARNING: (?!unmet|modpost)|kernel BUG at |Kernel BUG at |"
    r"Unable to handle kernel |general protection fault|Oops[:\s-]|Internal error: |"
    r"Kernel panic - not syncing|UBSAN: |INFO: task \S+ blocked for more than|"
    r"INFO: rcu\w* (?:self-)?detected stall|INFO: possible |INFO: trying to register|"
    r"INFO: inconsistent lock|INFO: suspicious RCU|\[ INFO: |\[ BUG: |divide error: |"
    r"divide_error: |invalid opcode: |Watchdog detected hard LOCKUP|DEBUG_LOCKS_WARN_ON)")
KINDS_BY_LINE = [
    (re.compile(r"KASAN:"), "kasan"), (re.compile(r"KFENCE:"), "kfence"),
    (re.compile(r"KCSAN:"), "kcsan"), (re.compile(r"UBSAN:"), "ubsan"),
    (re.compile(r"stack-protector"), "stack-protector"),
    (re.compile(r"soft lockup"), "soft-lockup"), (re.compile(r"hard LOCKUP"), "hard-lockup"),
    (re.compile(r"blocked for more than"), "hung-task"),
    (re.compile(r"INFO: rcu\w* (?:self-)?detected stall"), "rcu-stall"),
    (re.compile(r"NULL pointer dereference"), "null-deref"),
    (re.compile(r"(?i)unable to handle (?:kernel )?(?:paging request|page fault|kernel data "
                r"access|data access|instruction fetch|execute from non-exec|kernel access|"
                r"kernel read|kernel write|kernel exec)"), "paging-request"),
    (re.compile(r"general protection fault"), "gpf"),
    (re.compile(r"invalid opcode|undefined instruction"), "invalid-opcode"),
    (re.compile(r"divide[ _]error"), "divide-error"),
    (re.compile(r"^(?:\S+: )?(?:WARNING: |INFO: |\[ INFO: |DEBUG_LOCKS_WARN_ON)"), "warning"),
    (re.compile(r"BUG"), "bug"),
    (re.compile(r"Internal error: |Oops"), "oops"),
    (re.compile(r"Kernel panic - not syncing"), "panic"),
]
TRAILER_RE = re.compile(
    r"^(?:Signed-off-by|Reported-by|Fixes|Cc|Link|Closes|Acked-by|Reviewed-by|Tested-by|"
    r"Suggested-by|Co-developed-by|Reported-and-tested-by|Message-I[dD]|Change-Id|"
    r"BugLink|Debugged-by|Analyzed-by):", re.I)
# A line that belongs to a console report (after its prefix and indentation are removed).
CONSOLE_RE = re.compile(
    r"^(?:\[\s*\d+\.\d+\]|\[<|\[c[0-9a-f]{7}|\? |[\w.$]+\+0x[0-9a-f]+|Call [Tt]race|"
    r"Backtrace|Modules linked in|CPU: |Hardware name|RIP: |RSP: |R[A-Z0-9]{2}: |[A-Z]S: |"
    r"CR[0-9]: |DR[0-9]: |Code: |pc : |lr : |sp : |x\d+ ?: |pstate|---\[|NIP|LR |CTR|MSR|"
    r"GPR|REGS|TRAP|epc |ra |status|Kernel panic|Exception stack|Stack|Workqueue|Instruction|"
    r"\S+ \S+: [0-9a-f]+ +\S+ ?: |Mem abort|ESR|  E[A-Z]+ = |Data abort|  [A-Z]+ = |"
    r"(?:\(\S+\) )?from |Function entered|r\d+ ?: |PC is|LR is|Flags:|Control:|Table:|DAC|"
    r"\S+: 0x[0-9a-f]+|<[A-Z]+>|</[A-Z]+>|Allocated by|Freed by|The buggy|Memory state|"
    r"page:|flags:|raw:|page dumped|Last potentially|other info|stack backtrace|"
    r"the existing|-> #|\s*#\d|\*\*\*|=====|\.\.\.|\s*\.\.\.|[0-9a-f]{8,}|Disabling lock|"
    r"irq event stamp|hardirqs|softirqs|Read of size|Write of size|Memory state|Mem-Info|"
    r"preempt_count|INFO: |BUG: |WARNING: |in_atomic|Preemption disabled|IRQs not|"
    r"\S+/\d+ is trying|\S+/\d+:\d+:|which lock|but task|Possible|Chain exists|"
    r"\s+CPU\d|\s+----|\s+lock\(|\s+\*\*\*|\s+<Interrupt>|\s+</TASK>|\s+<TASK>|\s+<IRQ>|"
    r"\s+\(|Showing|\d+ locks? held|no locks|Call trace|Unable|Internal error|Oops|"
    r"Instruction dump|SOFTE|CFAR|IRQMASK|DAR|DSISR|Kernel attempted)")

FUNC = r"[A-Za-z_.$][\w.$]*"
OFF = r"\+0x[0-9a-f]+(?:/0x[0-9a-f]+)?"
ADDRS = r"(?:\[<?[0-9a-f]+>?\]\s*)*"
FRAME_RE = re.compile(r"^\s*" + ADDRS + r"(?P<unrel>\?\s*)?" + ADDRS + r"(?P<func>" + FUNC
                      + r")" + OFF + r"(?P<tail>.*)$")
ARM32_RE = re.compile(r"^\s*\[<[0-9a-f]+>\]\s*\((?P<func>" + FUNC + r")(?:" + OFF
                      + r")?\)\s+from\s+\[<[0-9a-f]+>\]\s*\((?P<caller>" + FUNC + r")")
LOCATION_RES = [
    re.compile(r"^(?:RIP|IP|EIP): (?:[0-9a-f]{4}:)?" + ADDRS + r"(?P<func>" + FUNC + r")" + OFF),
    re.compile(r"^(?:pc|epc) : (?P<func>" + FUNC + r")" + OFF),
    re.compile(r"^(?:PC|EIP) is at (?P<func>" + FUNC + r")" + OFF),
    re.compile(r"^NIP \[[0-9a-f]+\] (?P<func>" + FUNC + r")" + OFF),
]
HEADER_FUNC_RES = [
    re.compile(r"^(?:\S+: )?WARNING: .* at \S+:\d+ (?P<func>" + FUNC + r")" + OFF),
    re.compile(r"^(?:\S+: )?WARNING: \S+:\d+ at (?P<func>" + FUNC + r")" + OFF),
    re.compile(r"^(?:\S+: )?WARNING: at \S+:\d+ (?P<func>" + FUNC + r")\(\)"),
    re.compile(r"^BUG: K[A-Z]+SAN: [\w-]+ in (?P<func>" + FUNC + r")"),
    re.compile(r"^BUG: KFENCE: [\w -]+ in (?P<func>" + FUNC + r")"),
    re.compile(r"^BUG: KCSAN: [\w-]+ in (?P<func>" + FUNC + r")"),
]
# Where one trace ends and the report's other stacks begin (KASAN's allocation stacks, lockdep's
# dependency chains).
TRACE_STOP_RE = re.compile(r"^(?:Allocated by|Freed by|The buggy address|Last potentially|"
                           r"Second to last|other info that might|the existing dependency|"
                           r"Memory state|-> #\d|Last call_rcu|irq event stamp)")
STACK_BACKTRACE_RE = re.compile(r"^stack backtrace:")
PREEMPT_AT_RE = re.compile(r"^(?:Preemption|IRQs|Softirqs?) (?:disabled|enabled) at:")

# Stack printing, checkers, trap and fault handling that print a report: never among "the
# first three functions of the report" (README). Names after compiler suffixes are removed.
REPORTING = re.compile("|".join([
    r"dump_stack\w*", r"__dump_stack", r"show_stack\w*", r"show_regs\w*", r"show_trace\w*",
    r"dump_backtrace\w*", r"unwind_backtrace", r"show_fault_oops", r"__show_regs",
    r"panic", r"vpanic", r"nmi_panic", r"__warn\w*", r"warn_slowpath\w*", r"report_bug",
    r"handle_bug", r"bug_handler", r"brk_handler", r"call_break_hook", r"die", r"__die\w*",
    r"die_kernel_fault", r"arm64_notify_die", r"do_trap\w*", r"do_error_trap", r"exc_\w+",
    r"asm_exc_\w+", r"do_invalid_op", r"invalid_op", r"do_divide_error", r"divide_error",
    r"do_general_protection", r"general_protection", r"do_debug_exception", r"do_undefinstr",
    r"el1_\w+", r"el1h_64_\w+", r"program_check_exception", r"program_check_common\w*",
    r"do_program_check", r"handle_exception", r"_exception\w*", r"oops_\w+",
    r"page_fault_oops", r"no_context", r"__bad_area\w*", r"bad_area\w*", r"do_user_addr_fault",
    r"do_kern_addr_fault", r"handle_page_fault", r"do_page_fault", r"__do_page_fault",
    r"page_fault", r"async_page_fault", r"do_mem_abort", r"do_translation_fault",
    r"do_bad_area", r"__do_kernel_fault", r"do_DataAbort", r"do_PrefetchAbort", r"__dabt_\w+",
    r"__pabt_\w+", r"do_alignment_fault", r"bad_page_fault", r"__bad_page_fault",
    r"do_hash_fault", r"data_access_common\w*", r"instruction_access_common\w*",
    r"kernelmode_fixup_or_oops", r"do_sect_fault", r"do_bad_page_fault\w*",
    r"kasan_\w+", r"__kasan_\w+", r"__asan_\w+", r"check_memory_region\w*",
    r"check_region_inline", r"print_report", r"print_address_description\w*",
    r"describe_object\w*", r"end_report", r"start_report", r"kfence_\w+", r"__kfence_\w+",
    r"ubsan_\w+", r"__ubsan_\w+", r"kcsan_\w+", r"__kcsan_\w+", r"__tsan_\w+", r"kmsan_\w+",
    r"__msan_\w+", r"___might_sleep", r"__might_sleep", r"__might_resched", r"__might_fault",
    r"might_fault", r"__schedule_bug", r"check_preemption_disabled", r"debug_smp_processor_id",
    r"__this_cpu_preempt_check", r"refcount_warn_saturate", r"debug_print_object",
    r"__list_add_valid\w*", r"__list_del_entry_valid\w*", r"lockdep_rcu_suspicious",
    r"spin_dump", r"spin_bug", r"rwlock_bug", r"bad_page", r"__dump_page", r"dump_page",
    r"print_trailer", r"object_err", r"slab_err", r"slab_bug", r"check_bytes_and_report",
    r"usercopy_abort", r"usercopy_warn", r"__check_object_size", r"check_unmap", r"check_sync",
    r"err_printk", r"print_circular_bug\w*", r"check_noncircular", r"check_prev_add\w*",
    r"check_prevs_add", r"validate_chain", r"__lock_acquire\w*", r"lock_acquire\w*",
    r"print_usage_bug", r"valid_state", r"mark_lock\w*", r"mark_usage",
    r"print_bad_irq_dependency", r"check_irq_usage", r"print_deadlock_bug",
    r"check_deadlock", r"print_unlock_imbalance_bug", r"__lock_release", r"lock_release",
    r"register_lock_class", r"look_up_lock_class", r"print_lock_class_header",
    r"lockdep_\w+", r"__lockdep_\w+", r"check_flags", r"watchdog_timer_fn",
    r"print_cpu_stall\w*", r"print_other_cpu_stall", r"check_cpu_stall", r"rcu_dump_cpu_stacks",
    r"check_hung_task", r"check_hung_uninterruptible_tasks", r"sched_show_task",
    r"__stack_chk_fail", r"fortify_panic", r"__fortify_panic", r"printk\w*", r"_printk\w*",
    r"vprintk\w*",
]))


def base_name(name: str) -> str:
    """``.foo.isra.0`` -> ``foo`` (compiler suffixes, ppc64's leading dot)."""
    name = name.lstrip(".") or name
    return re.sub(r"\.(?:isra|constprop|part|cold|lto_priv|llvm|clone|localalias|specialized)"
                  r"\b.*$", "", name)


def strip_prefix(line: str) -> str:
    return PREFIX_RE.sub("", line.strip(), count=1)


@dataclass
class Report:
    """One quoted report and what the rules read off it."""

    text: str
    kind: str
    arch: str | None
    kernel: str | None
    location: list[str]
    frames: list[str]

    def first_functions(self, n: int = 3) -> list[str]:
        """The report's first ``n`` functions: faulting location, then trace; the reporting
        frames left out."""
        out: list[str] = []
        for f in self.location + self.frames:
            b = base_name(f)
            if REPORTING.fullmatch(b) or b in out:
                continue
            out.append(b)
            if len(out) == n:
                break
        return out


def parse_report(text: str) -> Report | None:
    """Kind, architecture, release and functions of a report block (None: no call trace)."""
    lines = [strip_prefix(x) for x in text.splitlines()]
    kind = next((k for rx, k in KINDS_BY_LINE if rx.search(lines[0])), None)
    if kind is None:
        return None
    location: list[str] = []
    for rx in HEADER_FUNC_RES:
        if m := rx.match(lines[0]):
            location.append(m["func"])
    lockdep = any(STACK_BACKTRACE_RE.match(x) for x in lines)
    frames: list[str] = []
    in_trace = not lockdep
    stopped = False
    arm32_prev: str | None = None
    prev = ""
    for line in lines[1:]:
        after_location, prev = PREEMPT_AT_RE.match(prev) is not None, line
        if after_location:
            continue  # "Preemption disabled at:" names one location, not the call trace
        if lockdep and STACK_BACKTRACE_RE.match(line):
            in_trace, frames = True, []
            continue
        if TRACE_STOP_RE.match(line) and frames:
            stopped = True
        if not lockdep or not in_trace:
            for rx in LOCATION_RES:
                if (m := rx.match(line)) and not frames and len(location) < 2:
                    location.append(m["func"])
        if stopped or not in_trace:
            continue
        if m := ARM32_RE.match(line):
            if arm32_prev != m["func"]:
                frames.append(m["func"])
            frames.append(m["caller"])
            arm32_prev = m["caller"]
            continue
        m = FRAME_RE.match(line)
        if m and not re.match(r"^(?:RIP|IP|EIP|pc|lr|epc|ra|NIP|LR|PC|LR is|PC is)\b", line):
            if m["unrel"] or "(unreliable)" in m["tail"]:
                continue
            frames.append(m["func"])
    if len(frames) < 2:
        return None
    return Report(text, kind, arch_of(text), kernel_of(text), location, frames)


def arch_of(text: str) -> str | None:
    """The architecture the report's register and trace lines show."""
    if re.search(r"\bepc ?: |\bbadaddr: |\bsepc\b|handle_riscv_irq|riscv_intc|\bsstatus\b|"
                 r"do_trap_(?:break|insn_\w+|load_\w+|store_\w+|ecall_\w+|unknown)\+|"
                 r"\bstatus: [0-9a-f]{16}", text):
        return "riscv"
    if re.search(r"PC is at |\) from \[<|pc : \[<[0-9a-f]{8}>\]|\bpsr: [0-9a-f]{8}|"
                 r"Generic DT based system|__irq_svc|ret_fast_syscall|vector_swi|"
                 r"\bfp : [0-9a-f]{8}\b", text):
        return "arm32"
    if re.search(r"\bpc : |\blr : |\bpstate: |\bel0_svc|\bel1h_64|\bel0t_64|\bx29: |"
                 r"\bESR = 0x|\bCall trace:\n", text):
        return "arm64"
    if re.search(r"\bNIP[: ]|\bMSR: |\bREGS: |\bLR \[|\[c[0-9a-f]{7,15}\] \[c", text):
        if re.search(r"\b[cd]00[0-9a-f]{13}\b|^\s*\.\w+\+0x|(?i:\bppc64|\bpseries|\bpowernv|"
                     r"(?:\b|_)power[789]\b|book3s64|\bps3)", text, re.M):
            return "ppc64"
        if re.search(r"\[[c-f][0-9a-f]{7}\]|NIP:\s+[c-f][0-9a-f]{7}\b|REGS: [c-f][0-9a-f]{7}\b|"
                     r"(?i:e500|\bmpc\d|powermac|\b8xx|book3s32|\b4[04]x\b)", text):
            return "ppc32"
        return None  # powerpc, but which?
    if re.search(r"\bRIP: |\bRSP: |\bR1[0-5]: |entry_SYSCALL_64|\[<ffffffff[0-9a-f]{8}>\]|"
                 r"\bx86_64\b|do_syscall_64", text):
        return "x86_64"
    if re.search(r"\bEIP: |\bEAX: |\bESP: |entry_INT80_32|do_int80|sysenter_", text):
        return "i386"
    return None


KERNEL_RE = re.compile(r"\bComm: .*?(?:Not tainted|Tainted: [A-Z ]+?)\s+(\d+\.\d+[\w.+~-]*)")
KERNEL_LOCKDEP_RE = re.compile(r"^\s*(\d+\.\d+[\w.+~-]*) #\d+ (?:Not tainted|Tainted)", re.M)


def kernel_of(text: str) -> str | None:
    m = KERNEL_RE.search(text) or KERNEL_LOCKDEP_RE.search(text)
    return m.group(1).strip() if m else None


def extract_report(message: str) -> str | None:
    """The first quoted report block of a commit message, its common indentation removed."""
    lines = message.splitlines()
    for i, line in enumerate(lines):
        if not START_RE.match(strip_prefix(line)):
            continue
        block = [line]
        j = i + 1
        while j < len(lines):
            cur = lines[j]
            s = strip_prefix(cur)
            if cur.strip() == "---" or TRAILER_RE.match(cur.strip()):
                break
            if not cur.strip():
                nxt = next((x for x in lines[j + 1:] if x.strip()), "")
                ns = strip_prefix(nxt)
                if not ns or not (CONSOLE_RE.match(ns) or nxt.startswith((" ", "\t", "["))):
                    break
                if TRAILER_RE.match(nxt.strip()):
                    break
            elif not (CONSOLE_RE.match(s) or cur.startswith((" ", "\t", "[")) or
                      s.startswith(("<", "(", "?"))) and re.match(r"^[A-Z][a-z]+ [a-z]+ ", s) \
                    and s.endswith((".", ":", ",")) and len(s.split()) > 6:
                break  # a sentence of prose right after the report
            block.append(cur)
            j += 1
        while block and not block[-1].strip():
            block.pop()
        indent = min((len(x) - len(x.lstrip()) for x in block if x.strip()), default=0)
        text = "\n".join(x[indent:].rstrip() for x in block) + "\n"
        return text
    return None


# --- diffs -------------------------------------------------------------------------------------

HUNK_RE = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@ ?(?P<ctx>.*)$")
DEF_RE = re.compile(r"^(?:[A-Za-z_][\w\s\*,()]*?[\s\*])?(?P<name>[A-Za-z_]\w*)\s*\([^;]*$")
NOT_FUNC = {"if", "for", "while", "switch", "return", "sizeof", "defined", "typeof",
            "__attribute__", "do", "else", "case", "EXPORT_SYMBOL", "EXPORT_SYMBOL_GPL",
            "module_init", "module_exit", "MODULE_LICENSE", "MODULE_AUTHOR"}


def _def_name(code: str) -> str | None:
    """The function a line of C at column 0 defines (or starts defining), if it does."""
    if not code or code[0] in " \t#{}/*" or code.rstrip().endswith((";", ",")):
        return None
    m = DEF_RE.match(code)
    if not m or m["name"] in NOT_FUNC or "=" in code.split("(")[0]:
        return None
    return m["name"]


def changed_functions(diff: str) -> dict[str, str]:
    """Functions a diff changes (C sources): name -> file."""
    out: dict[str, str] = {}
    path = None
    current: str | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            p = line[4:].split("\t")[0]
            path = p[2:] if p.startswith("b/") else p
            if not re.search(r"\.(?:c|h|S)$", path or ""):
                path = None
            continue
        if line.startswith(("--- ", "diff ", "index ")) or path is None:
            continue
        if m := HUNK_RE.match(line):
            ctx = m["ctx"].strip()
            current = _def_name(ctx) if ctx else None
            continue
        if not line or line[0] not in " +-":
            continue
        name = _def_name(line[1:])
        if name:
            current = name
            if line[0] in "+-":
                out.setdefault(name, path)
        elif line[1:].startswith("}") and line[0] == " ":
            pass
        if line[0] in "+-" and current and line[1:].strip():
            out.setdefault(current, path)
    return out


# --- sources -----------------------------------------------------------------------------------


@dataclass
class Candidate:
    subject: str
    date: str
    source: str
    origin: str
    message: str
    diff: str
    extra: list[str] = field(default_factory=list)


def git(gitdir: str, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["git", f"--git-dir={gitdir}", *args], input=data,
                          capture_output=True, check=True).stdout


def is_public_inbox(gitdir: str) -> bool:
    names = git(gitdir, "ls-tree", "--name-only", "HEAD").decode().split()
    return names == ["m"] or names == ["d"] or (len(names) == 1 and names[0] in "md")


def lore_list(gitdir: str) -> str | None:
    """The lore list of a linux-mailinglist-archives mirror, from its folder name."""
    m = re.search(r"linux-mailinglist-archives\+([\w.-]+?)\.(?:vger\.kernel\.org|lists\."
                  r"infradead\.org|lists\.ozlabs\.org|googlegroups\.com|lists\.cs\.columbia"
                  r"\.edu|st-md-mailman\.stormreply\.com)\.\d+", gitdir)
    return m.group(1) if m else None


QUICK_RE = re.compile(rb"(?:Call [Tt]race|Backtrace:|\) from \[<|\[<[0-9a-f]{8,16}>\] \w)")


def inbox_candidates(gitdir: str) -> list[Candidate]:
    lst = lore_list(gitdir)
    shas = git(gitdir, "rev-list", "HEAD").decode().split()
    data = "".join(f"{s}:m\n" for s in shas).encode()
    raw = git(gitdir, "cat-file", "--batch", data=data)
    out = []
    pos = 0
    for _ in shas:
        nl = raw.index(b"\n", pos)
        head = raw[pos:nl].split()
        if len(head) < 3 or head[1] != b"blob":
            pos = nl + 1
            continue
        size = int(head[2])
        blob = raw[nl + 1:nl + 1 + size]
        pos = nl + 1 + size + 1
        if not QUICK_RE.search(blob) or b"\n+++ " not in blob:
            continue
        msg = email.message_from_bytes(blob, policy=email.policy.default)
        subject = " ".join(str(msg.get("Subject", "")).split())
        if re.match(r"(?i)^(?:re|aw|antw|fwd?|sv)\s*:", subject) or "GIT PULL" in subject:
            continue
        body = _text(msg)
        if body is None:
            continue
        cut = re.search(r"^(?:---\s*$|diff --git |Index: |--- a/)", body, re.M)
        if not cut:
            continue
        message, diff = body[:cut.start()], body[cut.start():]
        if "\n+++ " not in diff:
            continue
        msgid = str(msg.get("Message-ID", "")).strip().strip("<>")
        if not msgid:
            continue
        src = f"https://lore.kernel.org/{lst or 'r'}/{msgid}/"
        out.append(Candidate(subject, str(msg.get("Date", "")), src,
                             _origin(gitdir), message, diff))
    return out


def _origin(gitdir: str) -> str:
    """The repository a git directory holds (``/work/.mirror/owner+name/repo/.git`` ->
    ``owner+name``, ``linux/.git`` -> ``linux``)."""
    parts = [p for p in Path(gitdir).resolve().parts if p not in (".git", "repo")]
    return parts[-1]


def _text(msg: email.message.Message) -> str | None:
    try:
        part = msg.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - malformed mails
        return None
    if part is None:
        return None
    try:
        text = part.get_content()
    except Exception:  # noqa: BLE001
        return None
    text = text if isinstance(text, str) else text.decode("utf-8", "replace")
    if msg.is_multipart():  # the diff may be an attachment of its own
        for p in msg.walk():
            if p is not part and p.get_content_type() in ("text/plain", "text/x-patch",
                                                           "text/x-diff"):
                try:
                    extra = p.get_content()
                except Exception:  # noqa: BLE001
                    continue
                if isinstance(extra, str) and "\n+++ " in extra:
                    text += "\n" + extra
    return text.replace("\r\n", "\n")


def commit_candidates(gitdir: str, since: str | None) -> list[Candidate]:
    """Non-merge commits of a kernel repository whose message shows a call trace."""
    args = ["log", "--no-merges", "-E", "-i", "--format=%H",
            "--grep=call trace|backtrace:|\\) from \\[<|\\+0x[0-9a-f]+/0x[0-9a-f]+"]
    if since:
        args.append(f"--since={since}")
    shas = git(gitdir, *args).decode().split()
    out = []
    for sha in shas:
        show = git(gitdir, "show", "--format=%s%x00%aD%x00%B%x00", "--no-color", sha)
        subject, date, message, diff = show.decode("utf-8", "replace").split("\0", 3)
        out.append(Candidate(subject, date, f"https://git.kernel.org/torvalds/c/{sha[:12]}",
                             _origin(gitdir), message, diff))
    return out


# --- syzkaller's parser test data (kept out) ------------------------------------------------

HEXLINE_RE = re.compile(r"[0-9a-f]{8,}")


def _distinctive(line: str) -> bool:
    """A line with an address or value of 8+ hex digits, 6 of them different (not a constant
    such as a zeroed register, which every report shares)."""
    return any(len(set(h)) >= 6 for h in HEXLINE_RE.findall(line))


def fingerprint(text: str) -> set[str]:
    """A report's lines that hold an address or register value, without console prefixes and
    spaces: two texts sharing three of them are copies of the same console output."""
    return {"".join(strip_prefix(x).split()) for x in text.splitlines() if _distinctive(x)}


def testdata_lines(gitdir: str) -> set[str]:
    """The fingerprint lines of every file of syzkaller's ``pkg/report/testdata``."""
    files = git(gitdir, "ls-tree", "-r", "HEAD", "pkg/report/testdata").decode().splitlines()
    data = "".join(f"{x.split()[2]}\n" for x in files if x.split()[1] == "blob").encode()
    out: set[str] = set()
    for chunk in git(gitdir, "cat-file", "--batch", data=data).split(b"\n"):
        line = chunk.decode("utf-8", "replace")
        if _distinctive(line):
            out.add("".join(strip_prefix(line).split()))
    return out


# --- the corpus --------------------------------------------------------------------------------


def norm_subject(s: str) -> str:
    s = re.sub(r"^(?:\s*\[[^\]]*\])+\s*", "", s)
    return " ".join(s.lower().split())


def slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", norm_subject(s)).strip("-")[:50].strip("-")


def existing() -> tuple[set[str], set[tuple[str, tuple[str, ...]]], set[str]]:
    subjects, traces, names = set(), set(), set()
    for path in sorted(CORPUS.glob("*/*")):
        head, _, body = path.read_text().partition("\n\n")
        names.add(path.relative_to(CORPUS).as_posix())
        notes = [x[6:] for x in head.splitlines() if x.startswith("NOTE: ")]
        if notes:
            subjects.add(norm_subject(notes[0]))
        kind = re.search(r"^EXPECT_KIND: (\S+)", head, re.M)
        text = extract_report(body) or body
        r = parse_report(text)
        if kind and r:
            traces.add((kind.group(1), tuple(base_name(f) for f in r.frames[:8])))
    return subjects, traces, names


def render(c: Candidate, r: Report, guilty: str | None, gpath: str | None) -> str:
    head = [f"SOURCE: {c.source}", f"NOTE: {c.subject}",
            f"NOTE: posted {c.date}; the report as the message quotes it (its common "
            "indentation removed); collected by tests/data/corpus/collect_git.py from "
            f"{c.origin}"]
    if guilty:
        head.append(f"NOTE: guilty: {guilty}, among the report's first three functions "
                    f"({', '.join(r.first_functions())}), is changed by the diff ({gpath})")
    head += ["EXPECT_CRASH: yes", f"EXPECT_KIND: {r.kind}"]
    if guilty:
        head += [f"EXPECT_GUILTY: {guilty}", "GUILTY_BY: fix"]
    if r.kernel:
        head.append(f"KERNEL: {r.kernel}")
    return "\n".join(head) + "\n\n" + r.text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gitdirs", nargs="+")
    ap.add_argument("--write", action="store_true", help="write the new corpus files")
    ap.add_argument("--since", help="kernel repositories: commits since this date")
    ap.add_argument("--out", type=Path, default=CORPUS,
                    help="write the files under this folder instead (to review them first)")
    ap.add_argument("--syzkaller", metavar="GITDIR",
                    help="google/syzkaller: leave out reports that share three address lines "
                         "with a file of its pkg/report/testdata")
    args = ap.parse_args()
    subjects, traces, names = existing()
    syz = testdata_lines(args.syzkaller) if args.syzkaller else set()
    stats: Counter[str] = Counter()
    for gitdir in args.gitdirs:
        if (Path(gitdir) / ".git").is_dir():  # a clone with a work tree
            gitdir = str(Path(gitdir) / ".git")
        cands = (inbox_candidates(gitdir) if is_public_inbox(gitdir)
                 else commit_candidates(gitdir, args.since))
        stats["messages with a diff and a trace"] += len(cands)
        for c in cands:
            text = extract_report(c.message)
            if text is None:
                continue
            r = parse_report(text)
            if r is None:
                stats["no call trace"] += 1
                continue
            if r.arch is None:
                stats["no architecture"] += 1
                continue
            if len(fingerprint(r.text) & syz) >= 3:
                stats["in syzkaller's testdata"] += 1
                continue
            key = (r.kind, tuple(base_name(f) for f in r.frames[:8]))
            if norm_subject(c.subject) in subjects or key in traces:
                stats["duplicate"] += 1
                continue
            subjects.add(norm_subject(c.subject))
            traces.add(key)
            changed = changed_functions(c.diff)
            guilty = next((f for f in r.first_functions() if f in changed), None)
            name = f"{r.arch}/{r.kind}-{slug(c.subject)}"
            n = 2
            while name in names:
                name = f"{r.arch}/{r.kind}-{slug(c.subject)}-{n}"
                n += 1
            names.add(name)
            stats[f"new {r.arch}"] += 1
            stats["new labelled"] += bool(guilty)
            print(f"{name}\t{r.kernel}\t{guilty or '-'}\t{','.join(r.first_functions())}")
            if args.write:
                path = args.out / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(render(c, r, guilty, changed.get(guilty or "")))
    for k, v in sorted(stats.items()):
        print(f"# {k}: {v}", file=sys.stderr)


if __name__ == "__main__":
    main()

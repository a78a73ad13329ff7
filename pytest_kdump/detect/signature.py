"""Signatures: what stays the same for the same bug on every boot (syzkaller-style titles).

A record's signature is its kind's title (see :mod:`.rules`) with its guilty frame: the first
function of the report that is not a reporting helper (:data:`SKIP_FUNCTIONS`), normalised
(:func:`normalise`: no addresses, offsets, line numbers, PIDs...).
"""

from __future__ import annotations

import re

from pytest_kdump.detect.record import ReportFrame
from pytest_kdump.symbols import clean_function

__all__ = ["SKIP_FUNCTIONS", "is_reporting_function", "normalise"]

# A kernel function name as reports print it (compiler suffixes included).
FUNC = r"[A-Za-z_.$][\w.$]*"

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


def is_reporting_function(name: str) -> bool:
    """True for functions that report a crash (panic, dump_stack, __warn...): never guilty."""
    return _SKIP_RE.fullmatch(clean_function(name)) is not None


# --- normalisation ---------------------------------------------------------------------------

_NORM_FUNC_RE = re.compile(r"(?P<func>" + FUNC + r")\+0x[0-9a-f]+(?:/0x[0-9a-f]+)?"
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


def guilty_function(header_func: str | None, rip: ReportFrame | None,
                    frames: list[ReportFrame]) -> str | None:
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


def location_function(where: str) -> str | None:
    """The function of a location such as ``smash_stack+0x51/0x60 [spmod]``, if it is one."""
    m = _NORM_FUNC_RE.match(where.strip())
    return m["func"] if m else None

"""Signatures: the same for the same bug on every boot and build, different between bugs;
normalisation and reporting helpers. (Each report's signature: test_reports.py.)"""

from __future__ import annotations

import random
import re

import pytest

from pytest_kdump import detect
from pytest_kdump.detect import CrashRecord, find_crashes
from pytest_kdump.symbols import clean_function
from tests.unit.detect import reports


def only(text: str) -> CrashRecord:
    records = find_crashes(text)
    assert len(records) == 1, [str(r) for r in records]
    return records[0]


def _rerun(text: str, seed: int) -> str:
    """The same crash on another boot: other KASLR slide, timestamps, PIDs, addresses."""
    rng = random.Random(seed)
    slide = rng.randrange(1, 0x3F) << 21
    text = re.sub(r"\b(ffff[0-9a-f]{12})\b",
                  lambda m: f"{(int(m.group(1), 16) + slide) & (2**64 - 1):016x}", text)
    text = re.sub(r"\[\s*(\d+\.\d+)\]",
                  lambda m: f"[{float(m.group(1)) + rng.random() * 50:12.6f}]", text)
    pid = rng.randrange(100, 30000)
    return re.sub(r"\b187\b", str(pid), text)


@pytest.mark.parametrize("name, old, new", [
    ("x86_64/null-deref-kdump", "", ""),
    ("x86_64/null-deref-panic-on-oops", "", ""),
    ("x86_64/warning-panic-on-warn-kdump", "", ""),
    ("x86_64/soft-lockup-panic-kdump", "22s!", "26s!"),
], ids=["oops-kdump", "oops-panic", "warn", "softlockup"])
def test_signature_stable_across_boots(name: str, old: str, new: str) -> None:
    text = reports.body(name).replace(old, new)
    base = only(text)
    for seed in range(3):
        again = only(_rerun(text, seed))
        assert again.raw != base.raw
        assert again.signature == base.signature
        assert again.kind == base.kind and again.guilty_frame == base.guilty_frame


def test_signature_stable_across_builds() -> None:
    # another build of the module: other offsets, other source line
    text = reports.body("x86_64/warning-panic-on-warn-kdump")
    a = only(text)
    b = only(text.replace("mm/x.c:10 ", "mm/x.c:12 ").replace("my_func+0x15/0x30",
                                                              "my_func+0x19/0x38"))
    assert a.signature == b.signature == "WARNING in my_func"


def test_signature_differs_between_bugs() -> None:
    null_deref = reports.body("x86_64/null-deref-kdump")
    warning = reports.body("x86_64/warning-panic-on-warn-kdump")
    invalid_opcode = reports.body("x86_64/invalid-opcode-kdump")
    sigs = {
        only(null_deref).signature,
        only(null_deref.replace("crash_null_deref", "other_deref")).signature,
        only(warning).signature,
        only(warning.replace("my_func", "other_func")).signature,
        only(invalid_opcode.replace("crash_ud2", "crash_null_deref")).signature,
        only(reports.body("x86_64/kernel-bug-not-fatal")).signature,
        only(reports.body("x86_64/soft-lockup-panic-kdump")).signature,
    }
    assert len(sigs) == 7


@pytest.mark.parametrize("text, expected", [
    ("WARNING in foo+0x1/0x2 [mod]", "WARNING in foo"),
    ("foo.isra.0+0x10/0x20 and bar.constprop.0.cold+0x1/0x2", "foo and bar"),
    ("kernel BUG at mm/slub.c:435!", "kernel BUG at mm/slub.c:LINE!"),
    ("UBSAN: shift-out-of-bounds in lib/foo.c:12:3",
     "UBSAN: shift-out-of-bounds in lib/foo.c:LINE"),
    ("soft lockup - CPU#3 stuck for 22s! [insmod:123]",
     "soft lockup - CPU#NUM stuck for NUMs! [insmod:NUM]"),
    ("task foo:123 blocked for more than 120 seconds.",
     "task foo:NUM blocked for more than NUM seconds."),
    ("at addr ffff888004d3a8c8 by task insmod/201", "at addr ADDR by task insmod/NUM"),
    ("exitcode=0x0000000b", "exitcode=0x0000000b"),
    ("a  b\t c", "a b c"),
])
def test_normalise(text: str, expected: str) -> None:
    assert detect.normalise(text) == expected


def test_reporting_functions() -> None:
    for name in ("panic", "dump_stack_lvl", "__warn.cold", "asm_exc_invalid_op", "_raw_spin_lock",
                 "native_queued_spin_lock_slowpath", "kasan_report", "__ubsan_handle_out_of_bounds",
                 "watchdog_timer_fn.cold", "sysvec_apic_timer_interrupt", "_printk"):
        assert detect.is_reporting_function(name), name
    for name in ("sysrq_handle_crash", "spin_forever", "do_exit", "my_func", "panic_handler_x"):
        assert not detect.is_reporting_function(name), name


@pytest.mark.parametrize("name, clean", [
    ("__handle_sysrq.cold", "__handle_sysrq"), ("foo.isra.0", "foo"),
    ("bar.constprop.0.cold", "bar"), ("do_exit", "do_exit"), (".weird", ".weird"),
])
def test_clean_function(name: str, clean: str) -> None:
    assert clean_function(name) == clean


@pytest.mark.parametrize("rule", detect.SKIP_RULES, ids=lambda r: r.example)
def test_skip_rule(rule: detect.SkipRule) -> None:
    # one line per row of the table: its example is never guilty for the row's kinds
    kinds = sorted(rule.kinds) or [None, "oops"]
    for kind in kinds:
        assert detect.is_reporting_function(rule.example, kind), (rule.why, kind)
        assert detect.is_reporting_function(rule.example + ".isra.0", kind)
    assert not detect.is_reporting_function("my_driver_probe", kinds[0])
    if rule.kinds:  # a kind-specific row does not skip for other kinds
        assert not detect.is_reporting_function(rule.example, "oops")


def test_a_core_service_with_only_stale_frames_after_it_keeps_its_name() -> None:
    from pytest_kdump.detect.record import ReportFrame
    from pytest_kdump.detect.signature import guilty_function

    frames = [ReportFrame("kasan_report", 0x10), ReportFrame("pwq_dec_fn", 0x30, reliable=False),
              ReportFrame("process_one_work", 0x10), ReportFrame("worker_thread", 0x10),
              ReportFrame("kthread", 0x10)]
    # a '?' frame is a stale stack word, no caller of the service
    assert guilty_function("process_one_work", None, frames, "kasan") == "process_one_work"


@pytest.mark.parametrize("trace, kind, guilty", [
    # a generic checker's WARN: the caller
    (["refcount_warn_saturate", "kobject_put", "foo_release", "bar"], "warning", "foo_release"),
    # might_sleep: the caller of the sleeping function's checker
    (["___might_sleep", "__might_sleep", "mutex_lock", "foo_ioctl"], "bug", "foo_ioctl"),
    # sleeping in atomic context: past the sleeping primitives to the caller in atomic context
    (["__might_resched", "msleep", "wait_for_completion_timeout", "foo_atomic_cb"],
     "atomic-sleep", "foo_atomic_cb"),
    (["__schedule_bug", "__schedule", "schedule", "schedule_timeout", "__alloc_pages",
      "foo_irq"], "atomic-sleep", "foo_irq"),
    # ... but a plain BUG keeps them (a bug in the scheduler is the scheduler's)
    (["__schedule", "schedule", "foo"], "bug", "__schedule"),
    # a KASAN report in a library helper: the caller
    (["kasan_report", "kasan_check_range", "memcpy", "foo_copy"], "kasan", "foo_copy"),
    # a hung task: past the sleep and lock primitives
    (["__schedule", "schedule", "io_schedule", "folio_wait_bit_common", "foo_sync"], "hung-task",
     "foo_sync"),
    # a core service handed a freed or unbalanced object: the caller
    (["kasan_report", "kthread_stop", "ext4_stop_fn", "ext4_remount"], "kasan", "ext4_stop_fn"),
    (["clk_core_disable", "clk_core_disable_lock", "rtc_probe_fn", "platform_probe"], "warning",
     "rtc_probe_fn"),
    # ... but a bug inside the service, with no caller left, stays the service's own
    (["kasan_report", "flush_workqueue", "__flush_workqueue", "worker_thread", "kthread",
      "ret_from_fork"], "kasan", "flush_workqueue"),
    # a stall: past the detector's interrupt side
    (["rcu_sched_clock_irq", "update_process_times", "tick_sched_timer", "hrtimer_interrupt",
      "sysvec_apic_timer_interrupt", "foo_spin"], "rcu-stall", "foo_spin"),
])
def test_guilty_skips(trace: list[str], kind: str, guilty: str) -> None:
    from pytest_kdump.detect.record import ReportFrame
    from pytest_kdump.detect.signature import guilty_function

    frames = [ReportFrame(f, 0x10) for f in trace]
    assert guilty_function(None, None, frames, kind) == guilty


@pytest.mark.parametrize("kind, headline, skip", [
    ("bug", "BUG: sleeping function called from invalid context at mm/slab.h:494", "atomic-sleep"),
    ("bug", "BUG: scheduling while atomic: kworker/0:1/30/0x00000002", "atomic-sleep"),
    ("bug", "kernel BUG at kernel/sched/core.c:1234!", "bug"),
    ("warning", "BUG: sleeping function called from invalid context", "warning"),
])
def test_skip_kind(kind: str, headline: str, skip: str) -> None:
    from pytest_kdump.detect.signature import skip_kind
    assert skip_kind(kind, headline) == skip


def test_sleeping_in_atomic_context_names_the_caller() -> None:
    # the record of such a report skips the sleeping primitives (x86_64/bug-block-aoe-fix-...)
    text = ("BUG: scheduling while atomic: rmmod/2323/0x00000003\n"
            "Call Trace:\n dump_stack+0x4f/0x6a\n __schedule_bug.cold+0x44/0x54\n"
            " __schedule+0x44f/0x680\n schedule+0x44/0xd0\n msleep+0x2d/0x40\n"
            " downdev_fn+0x111/0x160 [aoe]\n flush_fn+0xff/0x4a0 [aoe]\n")
    assert find_crashes(text)[0].guilty_frame == "downdev_fn"


def test_signature_normalises_compiler_suffixes_and_ppc_dots() -> None:
    a = find_crashes("[ 1.0] BUG: kernel NULL pointer dereference, address: 0000000000000010\n"
                     "[ 1.0] RIP: 0010:foo_fn.isra.0+0x1/0x2\n")
    b = find_crashes("[ 2.0] BUG: kernel NULL pointer dereference, address: 0000000000000018\n"
                     "[ 2.0] RIP: 0010:foo_fn.constprop.3.cold+0x9/0x20\n")
    assert a[0].signature == b[0].signature == "BUG: kernel NULL pointer dereference in foo_fn"
    assert detect.base_name(".foo_fn.part.1") == "foo_fn"

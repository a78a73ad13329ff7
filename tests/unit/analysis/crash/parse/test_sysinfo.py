"""Tests of parse.sysinfo: ``sys`` and ``sys -t``."""

from __future__ import annotations

import pytest

from pytest_kdump.analysis.crash import parse as cp
from tests.unit.analysis.crash.parse.recorded import RELEASE, read


def test_sys_sysrq() -> None:
    s = cp.parse_sys(read("sysrq-8.0.6", "sys.txt"))
    assert s.kernel == "/root/.cache/pytest-kdump/images/x86_64-current/vmlinux"
    assert s.dumpfile == "/tmp/dumps/sysrq/vmcore"
    assert s.flags == ["PARTIAL DUMP"]
    assert (s.cpus, s.tasks) == (1, 47)
    assert s.date == "Fri Nov 27 09:32:25 UTC 2026"  # colons in a value are kept
    assert s.uptime == "00:00:03"
    assert s.load_average == "0.00, 0.00, 0.00"
    assert s.nodename == "(none)"
    assert s.release == RELEASE
    assert s.version == "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)"
    assert (s.machine, s.arch, s.memory) == ("x86_64  (2596 Mhz)", "x86_64", "511.5 MB")
    assert s.panic == '"Kernel panic - not syncing: sysrq triggered crash"'
    assert s.panic_message == "sysrq triggered crash"
    assert s.warnings == []
    assert s.fields["LOAD AVERAGE"] == "0.00, 0.00, 0.00"
    assert s.fields["DUMPFILE"] == "/tmp/dumps/sysrq/vmcore  [PARTIAL DUMP]"
    assert len(s.fields) == 13
    assert str(s) == f"{RELEASE} x86_64 [PARTIAL DUMP]: 'sysrq triggered crash'"


def test_sys_module_oops_and_bug() -> None:
    null = cp.parse_sys(read("module-null-8.0.6", "sys.txt"))
    assert null.flags == ["TAINTED", "PARTIAL DUMP"]  # KERNEL's flag, then DUMPFILE's
    assert null.kernel.endswith("/vmlinux") and null.tasks == 48
    assert null.panic == '"Oops: 0002 [#1] PREEMPT SMP NOPTI" (check log for details)'
    assert null.panic_message == "Oops: 0002 [#1] PREEMPT SMP NOPTI"
    bug = cp.parse_sys(read("module-bug-8.0.6", "sys.txt"))
    assert bug.panic_message == "kernel BUG at kdump_crash.c:59!"
    assert bug.load_average == "0.08, 0.02, 0.01"


def test_sys_nmi() -> None:
    info = cp.parse_sys(read("nmi-8.0.6", "sys.txt"))
    assert info.panic_message == "NMI: Not continuing"


def test_sys_crash_802_misreads_the_task_list() -> None:
    old = cp.parse_sys(read("sysrq-8.0.2", "sys.txt"))
    new = cp.parse_sys(read("sysrq-8.0.6", "sys.txt"))
    assert old.warnings == ["WARNING: active task ffff8a80deefe000 on cpu 0 not found in PID hash"]
    assert old.tasks == 2 and new.tasks == 47
    # everything else crash reads from the dump header agrees
    assert (old.release, old.panic_message, old.flags) == (new.release, new.panic_message,
                                                           new.flags)
    assert {k: v for k, v in old.fields.items() if k != "TASKS"} == {
        k: v for k, v in new.fields.items() if k != "TASKS"}


@pytest.mark.parametrize("panic, message", [
    ('"Kernel panic - not syncing: sysrq triggered crash"', "sysrq triggered crash"),
    ('"Kernel panic - not syncing:   Fatal exception  "', "Fatal exception"),
    ('"Oops: 0002 [#1] PREEMPT SMP NOPTI" (check log for details)',
     "Oops: 0002 [#1] PREEMPT SMP NOPTI"),
    ("BUG: kernel NULL pointer dereference", "BUG: kernel NULL pointer dereference"),
    ('""', ""),
    ("", ""),
])
def test_panic_message(panic: str, message: str) -> None:
    assert cp.panic_message(panic) == message


def test_sys_garbage_and_truncated() -> None:
    assert cp.parse_sys("") == cp.SysInfo()
    s = cp.parse_sys("crash: cannot open vmcore\nplease wait...\n    CPUS: many\n  TASKS:")
    assert (s.release, s.cpus, s.tasks, s.flags) == ("", None, None, [])
    assert s.fields == {"CPUS": "many", "TASKS": ""}


def test_sys_taint() -> None:
    assert cp.parse_sys_taint(read("module-null-8.0.6", "sys_t.txt")) == cp.TaintInfo(
        mask=0x3000, letters="OE")
    assert cp.parse_sys_taint(read("sysrq-8.0.6", "sys_t.txt")) == cp.TaintInfo()
    listed = cp.parse_sys_taint("TAINTED_MASK: 1001  PO\n\n  0: TAINT_PROPRIETARY_MODULE\n"
                                " 12: TAINT_OOT_MODULE\n")
    assert (listed.mask, listed.letters) == (0x1001, "PO")
    assert listed.names == ["TAINT_PROPRIETARY_MODULE", "TAINT_OOT_MODULE"]
    assert cp.parse_sys_taint("garbage") == cp.TaintInfo()

"""The crash-output parsers (pytest_kdump.crashparse) on an earlier real sysrq run
(tests/data/sysrq-x86_64, see tests/data/README.md) and on hand-built snippets; the newer
recordings of every command are in test_crashparse.py."""

from __future__ import annotations

from pytest_kdump.analysis.crash import parse as cp
from pytest_kdump.analysis.model import Frame, Task
from tests.helpers import DATA as TEST_DATA

DATA = TEST_DATA / "sysrq-x86_64"
RELEASE = "6.1.0-56-cloud-amd64"

SYSRQ_FRAMES = [
    "machine_kexec", "__crash_kexec", "panic", "sysrq_handle_crash", "__handle_sysrq.cold",
    "write_sysrq_trigger", "proc_reg_write", "vfs_write", "ksys_write", "do_syscall_64",
    "entry_SYSCALL_64_after_hwframe",
]


def _read(name: str) -> str:
    return (DATA / name).read_text()


def _bt(text: str) -> tuple[Task | None, list[Frame]]:
    traces = cp.parse_bt(text)
    return (traces[0].task, list(traces[0].frames)) if traces else (None, [])


def _short(f: Frame) -> tuple:
    return (f.level, f.function, f.address, f.module, f.exception)


def _t(t: Task) -> tuple:
    return (t.pid, t.ppid, t.cpu, t.task, t.state, t.command, t.active)


# --- sys ------------------------------------------------------------------------------------

def test_parse_sys_real_output() -> None:
    sysf = cp.parse_sys(_read("sys.txt")).fields
    assert sysf["PANIC"] == "\"Kernel panic - not syncing: sysrq triggered crash\""
    assert sysf["TASKS"] == "47"
    assert sysf["RELEASE"] == RELEASE
    assert sysf["VERSION"] == "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)"
    assert sysf["CPUS"] == "1"
    assert sysf["MACHINE"] == "x86_64  (2596 Mhz)"
    assert sysf["MEMORY"] == "511.5 MB"
    assert sysf["LOAD AVERAGE"] == "0.00, 0.00, 0.00"  # a key with a space in it
    assert sysf["DATE"] == "Fri Nov 27 07:15:30 UTC 2026"  # colons in the value are kept
    assert sysf["DUMPFILE"].endswith("/vmcore  [PARTIAL DUMP]")
    assert sysf["KERNEL"].endswith("/vmlinux")
    assert len(sysf) == 13


# --- bt -------------------------------------------------------------------------------------

def test_parse_bt_real_output() -> None:
    task, frames = _bt(_read("bt.txt"))
    assert (task.pid, task.command, task.cpu, task.task) == (99, "sh", 0, "ffff893342533000")
    assert [f.function for f in frames] == SYSRQ_FRAMES
    assert [f.level for f in frames] == list(range(11))
    culprit = frames[3]
    assert _short(culprit) == (3, "sysrq_handle_crash", "ffffffff954a8a06", None, False)
    assert all(f.module is None and not f.exception for f in frames)
    # the user-space register dump after the last frame is not a frame
    assert frames[-1].address == "ffffffff95a00126"
    assert str(frames[10]) == "#10 entry_SYSCALL_64_after_hwframe"


# Hand-built (not recorded): an oops in a module, in the layout crash 8 prints for x86_64 --
# an exception frame between the exception entry and the faulting module's caller.
OOPS_IN_MODULE_BT = """\
PID: 1234     TASK: ffff9c4a83f1a000  CPU: 1    COMMAND: "insmod"
 #0 [ffffb3c0c0a3b9a8] machine_kexec at ffffffff8c06c62f
 #1 [ffffb3c0c0a3ba00] __crash_kexec at ffffffff8c1646b7
 #2 [ffffb3c0c0a3bac0] crash_kexec at ffffffff8c16559c
 #3 [ffffb3c0c0a3bad0] oops_end at ffffffff8c02ad3b
 #4 [ffffb3c0c0a3baf0] page_fault_oops at ffffffff8c07c3e3
 #5 [ffffb3c0c0a3bb48] exc_page_fault at ffffffff8c9f5f22
 #6 [ffffb3c0c0a3bb70] asm_exc_page_fault at ffffffff8cc00b22
    [exception RIP: foo+0x12/0x30 [mymod]]
    RIP: ffffffffc0a1b012  RSP: ffffb3c0c0a3bc28  RFLAGS: 00010246
    RAX: 0000000000000000  RBX: ffffffffc0a1d000  RCX: 0000000000000000
    ORIG_RAX: ffffffffffffffff  CS: 0010  SS: 0018
 #7 [ffffb3c0c0a3bc20] bar at ffffffffc0a1b0a5 [mymod]
 #8 [ffffb3c0c0a3bc40] do_one_initcall at ffffffff8c002a8a
 #9 [ffffb3c0c0a3bcb0] do_init_module at ffffffff8c1a3e4c
"""


def test_parse_bt_exception_and_module_frames() -> None:
    task, frames = _bt(OOPS_IN_MODULE_BT)
    assert (task.pid, task.command, task.cpu) == (1234, "insmod", 1)
    assert [f.function for f in frames] == [
        "machine_kexec", "__crash_kexec", "crash_kexec", "oops_end", "page_fault_oops",
        "exc_page_fault", "asm_exc_page_fault", "foo", "bar", "do_one_initcall",
        "do_init_module"]
    exc = frames[7]
    # the exception frame takes the level of the frame it interrupted (#6); its offset is
    # not part of the function name, its module is kept
    assert _short(exc) == (6, "foo", "ffffffffc0a1b012", "mymod", True)
    assert exc.offset == 0x12 and exc.registers["RSP"] == "ffffb3c0c0a3bc28"
    assert str(exc) == "#6 foo [mymod] (exception)"
    assert _short(frames[8]) == (7, "bar", "ffffffffc0a1b0a5", "mymod", False)
    assert [f.module for f in frames].count("mymod") == 2
    assert [f.exception for f in frames].count(True) == 1


def test_parse_bt_exception_without_module() -> None:
    # hand-built: an exception in the core kernel, as first line after the header
    text = ('PID: 7  TASK: ffff8880a  CPU: 2  COMMAND: "kworker/2:1"\n'
            "    [exception RIP: native_safe_halt+0xb]\n"
            " #0 [ffffc90000073e80] default_idle at ffffffff81c7ce95\n")
    task, frames = _bt(text)
    assert task is not None and task.command == "kworker/2:1"
    assert [_short(f) for f in frames] == [
        (0, "native_safe_halt", None, None, True),
        (0, "default_idle", "ffffffff81c7ce95", None, False)]


def test_parse_bt_one_block_per_task() -> None:
    # hand-built: ``bt -a`` style output, one header per CPU
    text = ('PID: 0  TASK: ffffffff8260  CPU: 0  COMMAND: "swapper/0"\n'
            " #0 [ffffc900] default_idle at ffffffff81c7ce95\n\n"
            'PID: 99  TASK: ffff893342533000  CPU: 1  COMMAND: "sh"\n'
            " #0 [ffffc901] panic at ffffffff957cd06e\n")
    traces = cp.parse_bt(text)
    assert [(t.task.pid, t.functions) for t in traces] == [(0, ["default_idle"]),
                                                          (99, ["panic"])]


# --- ps -------------------------------------------------------------------------------------

def test_parse_ps_real_output() -> None:
    tasks = cp.parse_ps(_read("ps.txt"))
    sysf = cp.parse_sys(_read("sys.txt")).fields
    assert len(tasks) == int(sysf["TASKS"]) == 47
    assert _t(tasks[0]) == (0, 0, 0, "ffffffff9681aa40", "RU", "swapper/0", False)
    assert tasks[0].kernel_thread and not tasks[1].kernel_thread
    assert _t(tasks[1]) == (1, 0, 0, "ffff8933411f4800", "IN", "init", False)
    active = [t for t in tasks if t.active]
    assert [_t(t) for t in active] == [(99, 1, 0, "ffff893342533000", "RU", "sh", True)]
    # the active task is the one bt reports
    bt_task, _ = _bt(_read("bt.txt"))
    assert bt_task is not None
    assert (active[0].pid, active[0].task, active[0].command) == (
        bt_task.pid, bt_task.task, bt_task.command)
    assert len({t.pid for t in tasks}) == 47
    assert sum(t.kernel_thread for t in tasks) == 45

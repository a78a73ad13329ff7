"""Tests of the crash-output parsers in pytest_kdump.analysis, on crash's real outputs for a
sysrq dump (tests/data/sysrq-x86_64, see tests/data/README.md) and on hand-built snippets."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_kdump import analysis
from pytest_kdump.analysis import Frame, Task

DATA = Path(__file__).parent / "data" / "sysrq-x86_64"
RELEASE = "6.1.0-56-cloud-amd64"

SYSRQ_FRAMES = [
    "machine_kexec", "__crash_kexec", "panic", "sysrq_handle_crash", "__handle_sysrq.cold",
    "write_sysrq_trigger", "proc_reg_write", "vfs_write", "ksys_write", "do_syscall_64",
    "entry_SYSCALL_64_after_hwframe",
]


def _read(name: str) -> str:
    return (DATA / name).read_text()


# --- sys ------------------------------------------------------------------------------------

def test_parse_sys_real_output() -> None:
    sysf = analysis.parse_sys(_read("sys.txt"))
    assert sysf["PANIC"] == "Kernel panic - not syncing: sysrq triggered crash"
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


def test_parse_sys_ignores_garbage() -> None:
    assert analysis.parse_sys("") == {}
    assert analysis.parse_sys("crash: cannot open vmcore\nplease wait...\n") == {}


# --- bt -------------------------------------------------------------------------------------

def test_parse_bt_real_output() -> None:
    task, frames = analysis.parse_bt(_read("bt.txt"))
    assert task == Task(pid=99, command="sh", cpu=0, task="ffff893342533000")
    assert [f.function for f in frames] == SYSRQ_FRAMES
    assert [f.level for f in frames] == list(range(11))
    culprit = frames[3]
    assert culprit == Frame(level=3, function="sysrq_handle_crash", address="ffffffff954a8a06")
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
    task, frames = analysis.parse_bt(OOPS_IN_MODULE_BT)
    assert task == Task(pid=1234, command="insmod", cpu=1, task="ffff9c4a83f1a000")
    assert [f.function for f in frames] == [
        "machine_kexec", "__crash_kexec", "crash_kexec", "oops_end", "page_fault_oops",
        "exc_page_fault", "asm_exc_page_fault", "foo", "bar", "do_one_initcall",
        "do_init_module"]
    exc = frames[7]
    # the exception frame takes the level of the frame it interrupted (#6); its offset is
    # not part of the function name, its module is kept
    assert exc == Frame(level=6, function="foo", module="mymod", exception=True)
    assert str(exc) == "#6 foo [mymod]"
    assert frames[8] == Frame(level=7, function="bar", address="ffffffffc0a1b0a5",
                              module="mymod")
    assert [f.module for f in frames].count("mymod") == 2
    assert [f.exception for f in frames].count(True) == 1


def test_parse_bt_exception_without_module() -> None:
    # hand-built: an exception in the core kernel, as first line after the header
    text = ('PID: 7  TASK: ffff8880a  CPU: 2  COMMAND: "kworker/2:1"\n'
            "    [exception RIP: native_safe_halt+0xb]\n"
            " #0 [ffffc90000073e80] default_idle at ffffffff81c7ce95\n")
    task, frames = analysis.parse_bt(text)
    assert task is not None and task.command == "kworker/2:1"
    assert frames == [Frame(level=0, function="native_safe_halt", exception=True),
                      Frame(level=0, function="default_idle", address="ffffffff81c7ce95")]


def test_parse_bt_keeps_the_first_task_only() -> None:
    # hand-built: ``bt -a`` style output, one header per CPU
    text = ('PID: 0  TASK: ffffffff8260  CPU: 0  COMMAND: "swapper/0"\n'
            " #0 [ffffc900] default_idle at ffffffff81c7ce95\n\n"
            'PID: 99  TASK: ffff893342533000  CPU: 1  COMMAND: "sh"\n'
            " #0 [ffffc901] panic at ffffffff957cd06e\n")
    task, frames = analysis.parse_bt(text)
    assert task is not None and task.pid == 0
    assert [f.function for f in frames] == ["default_idle", "panic"]


def test_parse_bt_empty() -> None:
    assert analysis.parse_bt("") == (None, [])


# --- ps -------------------------------------------------------------------------------------

def test_parse_ps_real_output() -> None:
    tasks = analysis.parse_ps(_read("ps.txt"))
    sysf = analysis.parse_sys(_read("sys.txt"))
    assert len(tasks) == int(sysf["TASKS"]) == 47
    assert tasks[0] == Task(pid=0, ppid=0, cpu=0, task="ffffffff9681aa40", state="RU",
                            command="[swapper/0]")
    assert tasks[1] == Task(pid=1, ppid=0, cpu=0, task="ffff8933411f4800", state="IN",
                            command="init")
    active = [t for t in tasks if t.active]
    assert active == [Task(pid=99, ppid=1, cpu=0, task="ffff893342533000", state="RU",
                           command="sh", active=True)]
    # the active task is the one bt reports
    bt_task, _ = analysis.parse_bt(_read("bt.txt"))
    assert bt_task is not None
    assert (active[0].pid, active[0].task, active[0].command) == (
        bt_task.pid, bt_task.task, bt_task.command)
    assert len({t.pid for t in tasks}) == 47
    assert sum(t.command.startswith("[") for t in tasks) == 45  # kernel threads


def test_parse_ps_header_only() -> None:
    header = "      PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM\n"
    assert analysis.parse_ps(header) == []


# --- split_outputs and the Analysis built from them -----------------------------------------

COMMANDS = ["sys", "bt", "ps", "mod"]


def _crash_stdout(commands: list[str]) -> str:
    """crash's stdout as CrashRun feeds it: each command's output followed by its marker."""
    return "".join(_read(f"{cmd}.txt") + analysis._MARK.format(i) + "\n"
                   for i, cmd in enumerate(commands))


def test_split_outputs_round_trip() -> None:
    outputs = analysis.split_outputs(_crash_stdout(COMMANDS), COMMANDS)
    assert list(outputs) == COMMANDS
    for cmd in COMMANDS:
        assert outputs[cmd] == _read(f"{cmd}.txt")


def test_split_outputs_crash_died_midway() -> None:
    stdout = _crash_stdout(["sys"]) + "PID: 99  TASK: ffff8933  CPU: 0  COMMAND: \"sh\"\n"
    outputs = analysis.split_outputs(stdout, COMMANDS)
    assert outputs["sys"] == _read("sys.txt")
    assert outputs["bt"].startswith("PID: 99")
    assert "ps" not in outputs and "mod" not in outputs


def test_split_outputs_marker_is_per_index() -> None:
    # a marker of a later command does not end an earlier one
    stdout = "a\n" + analysis._MARK.format(1) + "\n" + analysis._MARK.format(0) + "\n"
    outputs = analysis.split_outputs(stdout, ["x", "y"])
    assert outputs["x"] == "a\n" + analysis._MARK.format(1) + "\n"
    assert outputs["y"] == ""


def test_analysis_from_real_outputs() -> None:
    run = analysis.CrashRun.__new__(analysis.CrashRun)  # no crash process: parse only
    run.crash = SimpleNamespace(version="8.0.6")
    outputs = analysis.split_outputs(_crash_stdout(COMMANDS), COMMANDS)
    result = run._parse(outputs, stderr="WARNING: cpu 1: cannot find NT_PRSTATUS note\n",
                        seconds=1.5)
    assert result.kernel_release == RELEASE
    assert result.panic_message == "sysrq triggered crash"
    assert result.flags == ["PARTIAL DUMP"]
    assert result.crashing_task is not None and result.crashing_task.pid == 99
    assert result.functions == SYSRQ_FRAMES
    assert len(result.tasks) == 47
    assert result.warnings[0] == "WARNING: cpu 1: cannot find NT_PRSTATUS note"
    summary = result.summary()
    assert summary["task_count"] == 47 and "outputs" not in summary
    assert summary["backtrace"][3] == "#3 sysrq_handle_crash"
    text = str(result)
    assert text.startswith(f"kernel {RELEASE}: 'sysrq triggered crash'\n"
                           "crashing task: PID 99 'sh' on CPU 0\n")
    assert "    #3 sysrq_handle_crash" in text


@pytest.mark.parametrize("panic, message", [
    ("Kernel panic - not syncing: sysrq triggered crash", "sysrq triggered crash"),
    ("Kernel panic - not syncing:   Fatal exception  ", "Fatal exception"),
    ("BUG: kernel NULL pointer dereference, address: 0000000000000000",
     "BUG: kernel NULL pointer dereference, address: 0000000000000000"),
    ("", ""),
])
def test_panic_message(panic: str, message: str) -> None:
    assert analysis._panic_message(panic) == message

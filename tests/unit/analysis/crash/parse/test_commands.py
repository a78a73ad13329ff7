"""Tests of pytest_kdump.crashparse on crash's real outputs (tests/data/crash/<dump>/, recorded
by tests/data/crash/record.py) and on small hand-made snippets."""

from __future__ import annotations

import re

import pytest

from pytest_kdump.analysis.crash import parse as cp
from pytest_kdump.analysis.crash.parse import Frame, Module, Task
from tests.helpers import DATA as TEST_DATA

DATA = TEST_DATA / "crash"
DUMPS = ("sysrq-8.0.6", "sysrq-8.0.2", "module-null-8.0.6", "module-bug-8.0.6")
RELEASE = "6.1.0-56-cloud-amd64"
SYSRQ_FRAMES = [
    "machine_kexec", "__crash_kexec", "panic", "sysrq_handle_crash", "__handle_sysrq.cold",
    "write_sysrq_trigger", "proc_reg_write", "vfs_write", "ksys_write", "do_syscall_64",
    "entry_SYSCALL_64_after_hwframe",
]
# the user-space registers of the sysrq dump's `sh`, printed after its last frame
SH_USER_REGS = {"RIP": "000000000047b7a0", "RSP": "00007ffc66e1e6f8", "RFLAGS": "00000202",
                "ORIG_RAX": "0000000000000001", "CS": "0033", "SS": "002b"}


def _read(dump: str, name: str) -> str:
    return (DATA / dump / name).read_text()


def _commands(dump: str) -> dict[str, str]:
    """File name -> crash command, by record.py's naming rule."""
    out = {}
    for cmd in _read(dump, "commands.txt").splitlines():
        name = re.sub(r"[^A-Za-z0-9]+", "_", re.sub(r"\b[0-9a-f]{16}\b", "TASK", cmd))
        out[name.strip("_") + ".txt"] = cmd
    return out


# --- sys ------------------------------------------------------------------------------------

def test_sys_sysrq() -> None:
    s = cp.parse_sys(_read("sysrq-8.0.6", "sys.txt"))
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
    null = cp.parse_sys(_read("module-null-8.0.6", "sys.txt"))
    assert null.flags == ["TAINTED", "PARTIAL DUMP"]  # KERNEL's flag, then DUMPFILE's
    assert null.kernel.endswith("/vmlinux") and null.tasks == 48
    assert null.panic == '"Oops: 0002 [#1] PREEMPT SMP NOPTI" (check log for details)'
    assert null.panic_message == "Oops: 0002 [#1] PREEMPT SMP NOPTI"
    bug = cp.parse_sys(_read("module-bug-8.0.6", "sys.txt"))
    assert bug.panic_message == "kernel BUG at kdump_crash.c:59!"
    assert bug.load_average == "0.08, 0.02, 0.01"


def test_sys_crash_802_misreads_the_task_list() -> None:
    old = cp.parse_sys(_read("sysrq-8.0.2", "sys.txt"))
    new = cp.parse_sys(_read("sysrq-8.0.6", "sys.txt"))
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
    assert cp.parse_sys_taint(_read("module-null-8.0.6", "sys_t.txt")) == cp.TaintInfo(
        mask=0x3000, letters="OE")
    assert cp.parse_sys_taint(_read("sysrq-8.0.6", "sys_t.txt")) == cp.TaintInfo()
    listed = cp.parse_sys_taint("TAINTED_MASK: 1001  PO\n\n  0: TAINT_PROPRIETARY_MODULE\n"
                                " 12: TAINT_OOT_MODULE\n")
    assert (listed.mask, listed.letters) == (0x1001, "PO")
    assert listed.names == ["TAINT_PROPRIETARY_MODULE", "TAINT_OOT_MODULE"]
    assert cp.parse_sys_taint("garbage") == cp.TaintInfo()


# --- bt -------------------------------------------------------------------------------------

def test_bt_sysrq() -> None:
    traces = cp.parse_bt(_read("sysrq-8.0.6", "bt.txt"))
    assert len(traces) == 1
    bt = traces[0]
    assert bt.task == Task(pid=99, command="sh", cpu=0, task="ffff8a80deefe000")
    assert bt.functions == SYSRQ_FRAMES
    assert [f.level for f in bt.frames] == list(range(11))
    assert bt.frames[0] == Frame(level=0, function="machine_kexec", address="ffffffff9086c62f",
                                 stack="ffffd2c7405b3b90")
    assert bt.exception is None
    assert all(f.module is None and f.offset is None for f in bt.frames)
    # the user-space register block after the last frame belongs to that frame
    last = bt.frames[-1]
    assert last.address == "ffffffff91400126"
    assert len(last.registers) == 21
    assert SH_USER_REGS.items() <= last.registers.items()
    assert last.registers["R8"] == "fefefefefefefeff"
    assert all(not f.registers for f in bt.frames[:-1])
    assert cp.parse_bt_one(_read("sysrq-8.0.6", "bt.txt")) == bt


def test_bt_module_null_exception_frame() -> None:
    bt = cp.parse_bt_one(_read("module-null-8.0.6", "bt.txt"))
    assert bt is not None
    assert bt.task == Task(pid=109, command="insmod", cpu=0, task="ffff8ef742659800")
    assert bt.functions == [
        "machine_kexec", "__crash_kexec", "crash_kexec", "oops_end", "page_fault_oops",
        "exc_page_fault", "asm_exc_page_fault", "kdump_crash_null",
        "_MODULE_INIT_START_kdump_crash", "do_one_initcall", "do_init_module",
        "__do_sys_finit_module", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]
    exc = bt.frames[7]
    assert exc is bt.exception
    # level of the frame it interrupted; crash names no module in the exception line
    assert exc == Frame(level=6, function="kdump_crash_null", address="ffffffffc052f07c",
                        exception=True, offset=12)
    assert len(exc.registers) == 21
    assert exc.registers["RIP"] == "ffffffffc052f07c"
    assert exc.registers["RSP"] == "ffffd461c05b3ba8"
    assert exc.registers["RAX"] == "0000000000000000"  # the NULL pointer
    assert exc.registers["ORIG_RAX"] == "ffffffffffffffff"
    assert (exc.registers["CS"], exc.registers["SS"]) == ("0010", "0018")
    assert bt.frames[8] == Frame(level=7, function="_MODULE_INIT_START_kdump_crash",
                                 address="ffffffffc053a06c", module="kdump_crash",
                                 stack="ffffd461c05b3ba8")
    assert [f.module for f in bt.frames].count("kdump_crash") == 1
    assert bt.frames[-1].registers["ORIG_RAX"] == "0000000000000139"  # finit_module
    assert str(exc) == "#6 kdump_crash_null (exception)"


def test_bt_module_bug_exception_frame() -> None:
    bt = cp.parse_bt_one(_read("module-bug-8.0.6", "bt.txt"))
    assert bt is not None and bt.exception is not None
    assert (bt.exception.level, bt.exception.function, bt.exception.offset,
            bt.exception.address) == (7, "kdump_crash_bug", 5, "ffffffffc0536065")
    assert bt.functions[7:10] == ["asm_exc_invalid_op", "kdump_crash_bug",
                                  "_MODULE_INIT_START_kdump_crash"]


def test_resolve_modules_names_the_exception_frames_module() -> None:
    for dump, function in (("module-null-8.0.6", "kdump_crash_null"),
                           ("module-bug-8.0.6", "kdump_crash_bug")):
        bt = cp.parse_bt_one(_read(dump, "bt.txt"))
        assert bt is not None
        frames = cp.resolve_modules(bt.frames, cp.parse_mod(_read(dump, "mod.txt")))
        named = [(f.function, f.module) for f in frames if f.module]
        assert named == [(function, "kdump_crash"),
                         ("_MODULE_INIT_START_kdump_crash", "kdump_crash")]
        assert frames[bt.frames.index(bt.exception)].registers == bt.exception.registers


def test_bt_802_has_bogus_frames() -> None:
    # crash 8.0.2 walks past do_syscall_64 into stale stack words on this kernel
    bt = cp.parse_bt_one(_read("sysrq-8.0.2", "bt.txt"))
    assert bt is not None
    assert bt.functions == SYSRQ_FRAMES[:10] + [
        "__x64_sys_rt_sigaction", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]
    assert SH_USER_REGS.items() <= bt.frames[-1].registers.items()


@pytest.mark.parametrize("dump", DUMPS)
def test_bt_a_equals_bt_on_one_cpu(dump: str) -> None:
    traces = cp.parse_bt(_read(dump, "bt_a.txt"))
    assert len(traces) == 1 and traces == cp.parse_bt(_read(dump, "bt.txt"))


@pytest.mark.parametrize("dump", DUMPS)
def test_foreach_bt_one_block_per_task(dump: str) -> None:
    traces = cp.parse_bt(_read(dump, "foreach_bt.txt"))
    tasks = cp.parse_ps(_read(dump, "ps.txt"))
    assert len(traces) == len(tasks) == cp.parse_sys(_read(dump, "sys.txt")).tasks
    assert [(t.task.pid, t.task.task) for t in traces if t.task] == [
        (t.pid, t.task) for t in tasks]
    assert all(t.frames and t.frames[0].level == 0 for t in traces)
    crashing = cp.parse_bt_one(_read(dump, "bt.txt"))
    assert crashing in traces


def test_foreach_bt_sysrq_details() -> None:
    traces = cp.parse_bt(_read("sysrq-8.0.6", "foreach_bt.txt"))
    assert len(traces) == 47
    idle = traces[0]
    assert idle.task == Task(pid=0, command="swapper/0", cpu=0, task="ffffffff9221aa40")
    assert idle.functions[-1] == "secondary_startup_64_no_verify"
    kthreadd = next(t for t in traces if t.task and t.task.pid == 2)
    assert kthreadd.functions == ["__schedule", "schedule", "kthreadd", "ret_from_fork"]
    # user tasks end with a register block, kernel threads do not
    init = next(t for t in traces if t.task and t.task.pid == 1)
    assert init.frames[-1].registers["ORIG_RAX"] == "000000000000003d"  # wait4
    assert not kthreadd.frames[-1].registers
    assert sum(bool(t.frames[-1].registers) for t in traces) == 2  # init and sh


def test_bt_empty_and_garbage() -> None:
    assert cp.parse_bt("") == []
    assert cp.parse_bt_one("") is None
    assert cp.parse_bt("bt: invalid task or pid value: 99999\n") == []
    assert cp.parse_bt("    RIP: ffffffff81000000  RSP: 0\n--- <IRQ stack> ---\n") == []


def test_bt_truncated_lines() -> None:
    text = ('PID: 7  TASK: ffff8880a  CPU: 2  COMMAND: "kworker/2:1"\n'
            " #0 [ffffc90000073e80] default_idle at ffffffff81c7ce95\n"
            " #1 [ffffc90000073e\n"
            "    [exception RIP: foo+0x1\n")
    bt = cp.parse_bt_one(text)
    assert bt is not None and bt.functions == ["default_idle"]
    # a header cut before COMMAND is no header
    assert cp.parse_bt("PID: 7  TASK: ffff8880a  CPU:") == []


def test_bt_hand_made_variants() -> None:
    # hex offset with size and a module, an exception before frame #0, bt -l source lines,
    # an IRQ stack marker, a `?` frame and a second task after a blank line
    text = ('PID: 0  TASK: ffffffff8261b800  CPU: 0  COMMAND: "swapper/0"\n'
            "    [exception RIP: native_safe_halt+14]\n"
            "    RIP: ffffffff81ba96ce  RSP: ffffffff82603e10  RFLAGS: 00000206\n"
            "    CS: 0010  SS: 0018\n"
            " #0 [ffffffff82603e10] default_idle at ffffffff81c7ce95\n"
            "    /usr/src/linux/arch/x86/kernel/process.c: 731\n"
            "--- <IRQ stack> ---\n"
            " #1 [ffffffff82603e30] ? do_idle at ffffffff810f2d9a\n"
            "\n"
            'PID: 1234  TASK: ffff9c4a83f1a000  CPU: 1  COMMAND: "my prog"\n'
            " #6 [ffffb3c0c0a3bb70] asm_exc_page_fault at ffffffff8cc00b22\n"
            "    [exception RIP: foo+0x12/0x30 [mymod]]\n"
            "    RIP: ffffffffc0a1b012  RSP: ffffb3c0c0a3bc28  RFLAGS: 00010246\n"
            " #7 [ffffb3c0c0a3bc20] bar at ffffffffc0a1b0a5 [mymod]\n")
    idle, prog = cp.parse_bt(text)
    assert idle.frames[0] == Frame(level=0, function="native_safe_halt", exception=True,
                                   offset=14, address="ffffffff81ba96ce")
    assert idle.frames[0].registers == {"RIP": "ffffffff81ba96ce", "RSP": "ffffffff82603e10",
                                        "RFLAGS": "00000206", "CS": "0010", "SS": "0018"}
    assert idle.frames[1].source == "/usr/src/linux/arch/x86/kernel/process.c:731"
    assert idle.frames[2].function == "do_idle"
    assert prog.task is not None and prog.task.command == "my prog"
    assert prog.frames[1] == Frame(level=6, function="foo", module="mymod", exception=True,
                                   offset=0x12, address="ffffffffc0a1b012")
    assert prog.frames[2].module == "mymod"


def test_bt_unknown_exception_symbol() -> None:
    text = ('PID: 9  TASK: ffff951c8aa92f80  CPU: 3  COMMAND: "x"\n'
            " #7 [ffffae44d0a6fbe0] page_fault at ffffffff8d6010fe\n"
            "    [exception RIP: unknown or invalid address]\n"
            "    RIP: 0000000000000000  RSP: ffffae44d0a6fc90  RFLAGS: 00010246\n")
    bt = cp.parse_bt_one(text)
    assert bt is not None and bt.exception is not None
    assert (bt.exception.function, bt.exception.offset, bt.exception.address) == (
        "unknown or invalid address", None, "0000000000000000")


ARM64_BT = """\
PID: 312      TASK: ffff0000c3a1d280  CPU: 1    COMMAND: "sh"
 #0 [ffff80000b5bb9c0] machine_kexec at ffff800008029d1c
 #1 [ffff80000b5bba20] __crash_kexec at ffff80000811b9a8
 #2 [ffff80000b5bbbb0] die at ffff800008019b8c
 #3 [ffff80000b5bbc00] el1_abort at ffff800008cd5f78
 #4 [ffff80000b5bbd60] el1h_64_sync at ffff800008011548
     PC: ffff8000086c8a5c  [sysrq_handle_crash+32]
     LR: ffff8000086c9274  [__handle_sysrq+140]
     SP: ffff80000b5bbd70  PSTATE: 60400005
    X29: ffff80000b5bbd70  X28: ffff0000c3a1d280  X27: 0000000000000000
     X2: 0000000000000000   X1: 0000000000000000   X0: 0000000000000063
    ORIG_X0: 0000000000000000  SYSCALLNO: ffffffffffffffff
 #5 [ffff80000b5bbd70] sysrq_handle_crash at ffff8000086c8a58
 #6 [ffff80000b5bbe50] el0_svc at ffff800008cd6a6c
     PC: 0000ffff8b0f7f9c   LR: 0000ffff8b0a7484   SP: 0000ffffd8e6a0e0
    X29: 0000ffffd8e6a0f0  X28: 0000000000000000  X27: 0000000000000000
    ORIG_X0: 0000000000000001  SYSCALLNO: 40  PSTATE: 80001000
"""


def test_bt_arm64_layout() -> None:
    # hand-made after crash's arm64.c: a kernel-mode block names its PC's symbol
    bt = cp.parse_bt_one(ARM64_BT)
    assert bt is not None
    assert bt.functions == ["machine_kexec", "__crash_kexec", "die", "el1_abort",
                            "el1h_64_sync", "sysrq_handle_crash", "sysrq_handle_crash",
                            "el0_svc"]
    exc = bt.exception
    assert exc == Frame(level=4, function="sysrq_handle_crash", address="ffff8000086c8a5c",
                        exception=True, offset=32)
    assert exc.registers["LR"] == "ffff8000086c9274"
    assert exc.registers["PSTATE"] == "60400005"
    assert exc.registers["X0"] == "0000000000000063"
    assert exc.registers["ORIG_X0"] == "0000000000000000"
    assert len(exc.registers) == 12
    # the user-mode block (no symbol) goes to the frame before it
    user = bt.frames[-1]
    assert not user.exception and user.function == "el0_svc"
    assert user.registers["PC"] == "0000ffff8b0f7f9c" and user.registers["SYSCALLNO"] == "40"


def test_bt_unknown_register_names_still_parse() -> None:
    text = ('PID: 5  TASK: ffff0001  CPU: 0  COMMAND: "k"\n'
            " #0 [ffff0010] f at ffff0020\n"
            "    FOO: 0000000000000001  BAR_2: deadbeef  lower: 1\n")
    bt = cp.parse_bt_one(text)
    assert bt is not None
    assert bt.frames == [Frame(level=0, function="f", address="ffff0020", stack="ffff0010")]
    assert bt.frames[0].registers == {"FOO": "0000000000000001", "BAR_2": "deadbeef"}


# --- ps, ps -m ------------------------------------------------------------------------------

def test_ps_sysrq() -> None:
    tasks = cp.parse_ps(_read("sysrq-8.0.6", "ps.txt"))
    assert len(tasks) == 47
    assert tasks[0] == Task(pid=0, command="swapper/0", cpu=0, task="ffffffff9221aa40",
                            state="RU", ppid=0, mem_percent=0.0, vsz=0, rss=0,
                            kernel_thread=True)
    assert tasks[1] == Task(pid=1, command="init", cpu=0, task="ffff8a80c11f3000", state="IN",
                            ppid=0, mem_percent=0.3, vsz=2260, rss=1812)
    active = [t for t in tasks if t.active]
    assert active == [Task(pid=99, command="sh", cpu=0, task="ffff8a80deefe000", state="RU",
                           ppid=1, active=True, mem_percent=0.3, vsz=2260, rss=1676)]
    assert sum(t.kernel_thread for t in tasks) == 45
    assert next(t for t in tasks if t.pid == 11).command == "rcu_tasks_kthre"  # 15 chars
    assert {t.state for t in tasks} == {"RU", "IN", "ID"}
    bt = cp.parse_bt_one(_read("sysrq-8.0.6", "bt.txt"))
    assert bt is not None and bt.task is not None
    assert (bt.task.pid, bt.task.task, bt.task.command) == (
        active[0].pid, active[0].task, active[0].command)


def test_ps_module_null() -> None:
    tasks = cp.parse_ps(_read("module-null-8.0.6", "ps.txt"))
    assert len(tasks) == 48
    (active,) = [t for t in tasks if t.active]
    assert (active.pid, active.ppid, active.command, active.rss) == (109, 99, "insmod", 1184)
    sh = next(t for t in tasks if t.pid == 99)
    assert (sh.state, sh.active, sh.kernel_thread) == ("IN", False, False)


def test_ps_crash_802() -> None:
    # crash 8.0.2 finds only the idle task and the panicking one, with a bogus PPID and RSS
    tasks = cp.parse_ps(_read("sysrq-8.0.2", "ps.txt"))
    assert [(t.pid, t.command, t.kernel_thread) for t in tasks] == [
        (0, "swapper/0", True), (99, "sh", False)]
    assert (tasks[1].active, tasks[1].ppid, tasks[1].rss, tasks[1].mem_percent) == (
        True, -1, 76, 0.0)


def test_ps_header_driven() -> None:
    text = ("   PID  PPID  CPU   TASK      ST  COMM\n"
            ">   10     2    3  ffff0010  RU  [kworker/3:1 x]\n"
            "     11   1   0  ffff0011  IN  a b c\n"
            "     12   1   0\n")
    tasks = cp.parse_ps(text)
    assert tasks == [
        Task(pid=10, command="kworker/3:1 x", cpu=3, task="ffff0010", state="RU", ppid=2,
             active=True, kernel_thread=True),
        Task(pid=11, command="a b c", cpu=0, task="ffff0011", state="IN", ppid=1)]
    header = "      PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM\n"
    assert cp.parse_ps(header) == []
    assert cp.parse_ps("") == []
    assert cp.parse_ps("ps: invalid task\n") == []


def test_ps_m() -> None:
    times = cp.parse_ps_m(_read("sysrq-8.0.6", "ps_m.txt"))
    assert len(times) == 47
    assert times[0] == cp.TaskTime(pid=99, task="ffff8a80deefe000", cpu=0, command="sh",
                                   state="RU", since_last_run=0.0, stamp="0 00:00:00.000")
    assert times[-1].pid == 0 and times[-1].since_last_run == pytest.approx(3.591)
    assert times[8].command == "kworker/0:1H"
    assert times[8].since_last_run == pytest.approx(1.271)
    assert [t.since_last_run for t in times] == sorted(t.since_last_run for t in times)
    pids = {t.pid for t in cp.parse_ps(_read("sysrq-8.0.6", "ps.txt"))}
    assert {t.pid for t in times} == pids
    assert len(cp.parse_ps_m(_read("sysrq-8.0.2", "ps_m.txt"))) == 2
    long = cp.parse_ps_m('[2 03:04:05.500] [UN]  PID: 7  TASK: ffff07  CPU: 1  COMMAND: "x"')
    assert long[0].since_last_run == pytest.approx(2 * 86400 + 3 * 3600 + 4 * 60 + 5.5)
    assert cp.parse_ps_m("[0 00:00:00.000] [RU]  PID: 99  TASK:") == []


# --- log ------------------------------------------------------------------------------------

def test_log_sysrq() -> None:
    lines = cp.parse_log(_read("sysrq-8.0.6", "log.txt"))
    assert len(lines) == 388
    assert lines[0].timestamp == 0.0 and lines[0].stamp == "0.000000"
    assert lines[0].text.startswith(f"Linux version {RELEASE} ")
    assert all(line.timestamp is not None for line in lines)
    assert lines[-1] == cp.LogLine(timestamp=3.672082, text=" </TASK>", stamp="3.672082")
    text = cp.log_text(lines)
    assert "sysrq: Trigger a crash" in text
    assert "Kernel panic - not syncing: sysrq triggered crash" in text
    # the clock goes back once, when the kernel switches to tsc-early
    stamps = [line.timestamp or 0.0 for line in lines]
    backwards = [(a, b) for a, b in zip(stamps, stamps[1:], strict=False) if b < a]
    assert backwards == [(0.04, 0.001026)]


def test_log_module_null_oops() -> None:
    lines = cp.parse_log(_read("module-null-8.0.6", "log.txt"))
    oops = next(line for line in lines if line.text.startswith("Oops:"))
    assert oops == cp.LogLine(timestamp=5.510138, text="Oops: 0002 [#1] PREEMPT SMP NOPTI",
                              stamp="5.510138")
    assert lines[-1].text == "CR2: 0000000000000000"
    assert " ? do_fault+0x1a7/0x410" in [line.text for line in lines]


def test_log_human_timestamps() -> None:
    lines = cp.parse_log(_read("module-null-8.0.6", "log_T_tail_3.txt"))
    assert [line.text for line in lines] == [
        " </TASK>",
        "Modules linked in: kdump_crash(OE+) virtio_blk virtio_pci virtio_pci_legacy_dev "
        "virtio_pci_modern_dev virtio virtio_ring",
        "CR2: 0000000000000000"]
    assert all(line.stamp == "Fri Nov 27 09:34:04 UTC 2026" and line.timestamp is None
               for line in lines)


def test_log_levels_callers_and_continuations() -> None:
    text = ("[    0.000000] <6>Linux version 6.1\n"
            "[    5.500949] <1>BUG: kernel NULL pointer dereference\n"
            "                  second line of the message\n"
            "[   12.000001] [  T109] <4>from a task\n"
            "[drm] no timestamp, not a date\n"
            "[    1.5\n")
    lines = cp.parse_log(text)
    assert lines[0] == cp.LogLine(timestamp=0.0, text="Linux version 6.1", stamp="0.000000",
                                  level=6)
    assert lines[1].level == 1
    assert lines[2] == cp.LogLine(timestamp=None, text="second line of the message")
    assert (lines[3].caller, lines[3].level, lines[3].text) == ("T109", 4, "from a task")
    assert lines[4] == cp.LogLine(timestamp=None, text="[drm] no timestamp, not a date")
    assert lines[5].timestamp is None
    assert cp.parse_log("") == [] and cp.log_text([]) == ""


# --- mod ------------------------------------------------------------------------------------

def test_mod_module_null() -> None:
    mods = cp.parse_mod(_read("module-null-8.0.6", "mod.txt"))
    assert [m.name for m in mods] == [
        "virtio_ring", "kdump_crash", "virtio", "virtio_pci_modern_dev",
        "virtio_pci_legacy_dev", "virtio_pci", "virtio_blk"]
    assert mods[1] == Module(name="kdump_crash", size=16384, address="ffffffffc0531040",
                             base="ffffffffc052f000", object_file=None,
                             debuginfo="CONFIG_KALLSYMS")
    # the exception RIP lies in kdump_crash's text
    assert int(mods[1].base, 16) <= 0xffffffffc052f07c < int(mods[1].base, 16) + mods[1].size
    assert len(cp.parse_mod(_read("sysrq-8.0.6", "mod.txt"))) == 6


def test_mod_header_variants() -> None:
    old = ("     MODULE       NAME                   SIZE  OBJECT FILE\n"
           "ffffffffa0002000  virtio_ring           24576  (not loaded)  [CONFIG_KALLSYMS]\n"
           "ffffffffa0010000  ext4                 589824  /lib/modules/ext4.ko \n")
    assert cp.parse_mod(old) == [
        Module(name="virtio_ring", size=24576, address="ffffffffa0002000",
               debuginfo="CONFIG_KALLSYMS"),
        Module(name="ext4", size=589824, address="ffffffffa0010000",
               object_file="/lib/modules/ext4.ko")]
    text_base = ("     MODULE       NAME         TEXT_BASE         SIZE  OBJECT FILE\n"
                 "ffffffffc0531040  kdump_crash  ffffffffc052f000  16384  (not loaded)\n")
    assert cp.parse_mod(text_base)[0].base == "ffffffffc052f000"
    # no header: BASE is recognised by its width
    headless = "ffffffffc0531040  kdump_crash  ffffffffc052f000  16384  (not loaded)\n"
    assert cp.parse_mod(headless)[0].size == 16384
    assert cp.parse_mod("") == []
    assert cp.parse_mod("ffffffffc0531040  kdump_crash  ffffffffc052f000\n") == []
    assert cp.parse_mod("mod: cannot access vmalloc'd module memory\n") == []


# --- kmem -i --------------------------------------------------------------------------------

def test_kmem_i() -> None:
    mem = cp.parse_kmem_i(_read("sysrq-8.0.6", "kmem_i.txt"))
    assert len(mem.rows) == 14
    assert mem.rows["TOTAL MEM"] == cp.MemRow(name="TOTAL MEM", pages=87553, total="342 MB",
                                              total_bytes=342 << 20)
    assert mem.rows["FREE"] == cp.MemRow(name="FREE", pages=75219, total="293.8 MB",
                                         total_bytes=round(293.8 * (1 << 20)), percent=85,
                                         of="TOTAL MEM")
    assert mem.rows["BUFFERS"].total_bytes == 0
    assert mem.rows["COMMITTED"].of == "TOTAL LIMIT"
    assert mem.rows["SWAP FREE"].of == "TOTAL SWAP"
    assert mem.page_size == 4096
    assert mem.total_mem_bytes == 87553 * 4096
    assert mem.free_bytes == 75219 * 4096 and mem.used_bytes == 12334 * 4096
    assert mem.slab_bytes == 3831 * 4096 and mem.cached_bytes == 5905 * 4096
    assert mem.bytes("NO SUCH ROW") is None
    # crash 8.0.2 reads the same memory, but not the same slab
    old = cp.parse_kmem_i(_read("sysrq-8.0.2", "kmem_i.txt"))
    assert old.rows["SLAB"].pages == 2263 and old.free_bytes == mem.free_bytes


def test_kmem_i_empty() -> None:
    mem = cp.parse_kmem_i("")
    assert (mem.rows, mem.page_size, mem.total_mem_bytes) == ({}, None, None)
    only_free = cp.parse_kmem_i("         FREE    75219     293.8 MB   85% of TOTAL MEM\n")
    assert only_free.free_bytes == round(293.8 * (1 << 20))  # no page size: crash's rounding


# --- files, mount, net ----------------------------------------------------------------------

def test_files() -> None:
    f = cp.parse_files(_read("sysrq-8.0.6", "files_1.txt"))
    assert f.task == Task(pid=1, command="init", cpu=0, task="ffff8a80c11f3000")
    assert (f.root, f.cwd) == ("/", "/")
    assert [(o.fd, o.type, o.path) for o in f.files] == [
        (0, "CHR", "/dev/console"), (1, "CHR", "/dev/console"), (2, "CHR", "/dev/console"),
        (10, "REG", "/init")]
    assert f.files[3] == cp.OpenFile(fd=10, file="ffff8a80c24fbf00", dentry="ffff8a80c1c95300",
                                     inode="ffff8a80c244f2f0", type="REG", path="/init")
    # crash 8.0.2 cannot find PID 1 on this kernel
    assert cp.parse_files(_read("sysrq-8.0.2", "files_1.txt")) == cp.Files()


def test_files_several_tasks_and_odd_paths() -> None:
    text = ('PID: 1  TASK: ffff01  CPU: 0  COMMAND: "init"\n'
            "ROOT: /my root    CWD: /tmp/a b\n"
            " FD       FILE            DENTRY           INODE       TYPE PATH\n"
            "  3 ffff0003 ffff1003 ffff2003 UNKN [eventpoll]\n"
            "  4 ffff0004 ffff1004 ffff2004 REG  /tmp/with space\n\n"
            'PID: 2  TASK: ffff02  CPU: 0  COMMAND: "kthreadd"\n'
            "ROOT: /    CWD: /\n"
            "No open files\n")
    first, second = cp.parse_files_all(text)
    assert (first.root, first.cwd) == ("/my root", "/tmp/a b")
    assert [(o.type, o.path) for o in first.files] == [("UNKN", "[eventpoll]"),
                                                      ("REG", "/tmp/with space")]
    assert second.task is not None and second.task.pid == 2 and second.files == []
    assert cp.parse_files(text) == first
    assert cp.parse_files("") == cp.Files()


def test_mount() -> None:
    mounts = cp.parse_mount(_read("module-null-8.0.6", "mount.txt"))
    assert [(m.type, m.devname, m.dirname) for m in mounts] == [
        ("rootfs", "rootfs", "/"), ("proc", "proc", "/proc"), ("sysfs", "sysfs", "/sys"),
        ("devtmpfs", "devtmpfs", "/dev")]  # devtmpfs overflows crash's columns
    assert mounts[0] == cp.Mount(mount="ffff8ef7411baa00", superblock="ffff8ef741052800",
                                 type="rootfs", devname="rootfs", dirname="/")
    assert cp.parse_mount("") == [] and cp.parse_mount("ffff 1 2\n") == []


def test_net() -> None:
    for dump in ("sysrq-8.0.6", "sysrq-8.0.2"):  # 8.0.2's header is narrower
        assert cp.parse_net(_read(dump, "net.txt")) == [
            cp.NetDevice(address="ffff8a80dcb70000", name="lo", addresses=[])]
    text = ("   NET_DEVICE     NAME   IP ADDRESS(ES)\n"
            "ffff88003a1a4000  eth0   192.168.122.13, fe80::5054:ff:fe12:3456\n")
    assert cp.parse_net(text)[0].addresses == ["192.168.122.13", "fe80::5054:ff:fe12:3456"]
    assert cp.parse_net("net: invalid\n") == []


# --- dis ------------------------------------------------------------------------------------

def test_dis_module_null() -> None:
    insns = cp.parse_dis(_read("module-null-8.0.6", "dis_l_kdump_crash_null.txt"))
    assert len(insns) == 9
    assert all(i.symbol == "kdump_crash_null" and i.file is None for i in insns)
    assert [i.offset for i in insns] == [0, 5, 12, 18, 19, 20, 21, 22, 23]
    # the faulting instruction is at the exception frame's offset and RIP
    fault = insns[2]
    assert fault == cp.Instruction(address="ffffffffc052f07c", symbol="kdump_crash_null",
                                   offset=12, text="movl   $0x6b,(%rax)")
    assert insns[0].text == "nopl   0x0(%rax,%rax,1) [FTRACE NOP]"
    assert insns[3].text == "ret"  # trailing blanks removed
    assert insns[1].text.endswith("# 0xffffffffc05313f0 <kdump_crash_null_ptr>")


def test_dis_l_sources() -> None:
    insns = cp.parse_dis(_read("sysrq-8.0.6", "dis_l_sysrq_handle_crash.txt"))
    base = "debian/build/build_amd64_none_cloud-amd64"
    assert [(i.offset, i.source) for i in insns] == [
        (0, f"{base}/drivers/tty/sysrq.c:151"), (5, f"{base}/include/linux/rcupdate.h:823"),
        (10, f"{base}/drivers/tty/sysrq.c:155"), (17, f"{base}/drivers/tty/sysrq.c:155")]
    assert insns[3].text == "call   0xffffffff911ccf31 <panic>"
    assert cp.parse_dis(_read("sysrq-8.0.6", "dis_no_such_fn.txt")) == []


# --- p, struct, rd --------------------------------------------------------------------------

def test_p() -> None:
    jiffies = cp.parse_p(_read("sysrq-8.0.6", "p_jiffies.txt"))
    assert jiffies == cp.PrintResult(history=1, value="4294893203", symbol="jiffies")
    assert jiffies.as_int == 4294893203
    comm = cp.parse_p(_read("sysrq-8.0.6", "p_init_task_comm.txt"))
    assert (comm.history, comm.symbol, comm.as_str) == (2, None, "swapper/0")
    pid = cp.parse_p(_read("sysrq-8.0.6", "p_x_init_task_pid.txt"))
    assert (pid.history, pid.value, pid.as_int) == (3, "0x0", 0)
    # rd and p agree on jiffies' low word
    row = cp.parse_rd(_read("sysrq-8.0.6", "rd_jiffies_4.txt"))[0]
    assert int(row.words[0], 16) == jiffies.as_int
    multi = cp.parse_p("$4 = {\n  counter = 1\n}\n")
    assert (multi.history, multi.value) == (4, "{\n  counter = 1\n}")
    assert cp.parse_p("") == cp.PrintResult(history=None, value="")
    assert cp.parse_p(_read("sysrq-8.0.6", "p_no_such_symbol.txt")).history is None


@pytest.mark.parametrize("value, expected", [
    (r'"sh\000\000\000"', "sh"),
    (r'"sh\000\000\000\000\000\000\000\000\000\000\000\000\000",', "sh"),
    (r"""'\000' <repeats 16 times>""", ""),
    (r""""kworker/0:1", '\000' <repeats 12 times>""", "kworker/0:1"),
    (r'"a\"b\\c\n"', 'a"b\\c\n'),
    (r'0xffffffff91b697b9 "sysrq triggered crash"', "sysrq triggered crash"),
    ("0x0", None),
    (r'"unterminated', None),
    ("", None),
])
def test_c_string(value: str, expected: str | None) -> None:
    assert cp.c_string(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("99", 99), ("99,", 99), ("-1", -1), ("0x0", 0), ("0xffff8a80deefe000", 0xffff8a80deefe000),
    ("(struct task_struct *) 0xffff8a80deefe000", 0xffff8a80deefe000), ("115 's'", 115),
    ('"sh"', None), ("{1, 2}", None), ("", None),
])
def test_c_int(value: str, expected: int | None) -> None:
    assert cp.c_int(value) == expected


def test_struct() -> None:
    for dump, pid, comm in (("sysrq-8.0.6", 99, "sh"), ("module-null-8.0.6", 109, "insmod")):
        fields = cp.parse_struct(_read(dump, "struct_task_struct_pid_comm_TASK.txt"))
        assert list(fields) == ["pid", "comm"]
        assert cp.c_int(fields["pid"]) == pid and cp.c_string(fields["comm"]) == comm
    nested = cp.parse_struct("struct task_struct {\n  pid = 5,\n  se = {\n    load = {\n"
                             "      weight = 1048576,\n      inv_weight = 4194304\n    },\n"
                             "    on_rq = 1\n  },\n  {\n    flags = 0x4\n  },\n"
                             "  cpus = {1, 2, 3},\n}\n")
    assert nested == {"pid": "5", "se.load.weight": "1048576", "se.load.inv_weight": "4194304",
                      "se.on_rq": "1", "flags": "0x4", "cpus": "{1, 2, 3}"}
    assert cp.parse_struct("") == {}
    assert cp.parse_struct("}\n}\n  x = 1\n") == {"x": "1"}  # unbalanced braces


def test_rd() -> None:
    rows = cp.parse_rd(_read("sysrq-8.0.6", "rd_jiffies_4.txt"))
    assert rows == [
        cp.MemoryRow(address="ffffffff922079c0", words=["00000000fffede93", "0000000000000000"],
                     ascii="................"),
        cp.MemoryRow(address="ffffffff922079d0", words=["0000000000000000", "0000000000000000"],
                     ascii="................")]
    sym = cp.parse_rd(_read("sysrq-8.0.6", "rd_s_init_task_6.txt"))
    assert [r.address for r in sym] == ["ffffffff9221aa40", "ffffffff9221aa50",
                                        "ffffffff9221aa60"]
    assert sym[0].words == ["0000000000004000", "0000000000000000"]
    assert sym[2] == cp.MemoryRow(address="ffffffff9221aa60",
                                  words=[".data", "0420000200000002"])
    assert all(r.ascii is None for r in sym)
    # an ASCII column with blanks in it, and 32-bit words
    text = ("ffff8a80c0000000:  6e69622f7273752f 0000000000206873   /usr/bin sh ....\n"
            "ffff8a80c0000010:  64636261 00000000   abcd....\n")
    spaced, narrow = cp.parse_rd(text)
    assert spaced.ascii == "/usr/bin sh ...." and len(spaced.words) == 2
    assert (narrow.words, narrow.ascii) == (["64636261", "00000000"], "abcd....")
    assert cp.parse_rd("") == [] and cp.parse_rd("rd: seek error: kernel virtual address\n") == []


# --- command_error --------------------------------------------------------------------------

ERRORS = {
    "bt_99999.txt": "bt: invalid task or pid value: 99999",
    "p_no_such_symbol.txt": "p: gdb request failed: p no_such_symbol",
    "dis_no_such_fn.txt": "symbol not found: no_such_fn",
    "struct_task_struct_no_such_field_TASK.txt":
        "struct: invalid data structure reference: task_struct.no_such_field",
}


@pytest.mark.parametrize("dump", DUMPS)
def test_command_error_on_every_recorded_output(dump: str) -> None:
    commands = _commands(dump)
    assert len(commands) == 25
    expected = dict(ERRORS)
    if dump == "sysrq-8.0.2":
        expected["files_1.txt"] = "files: invalid task or pid value: 1"
    for name, command in commands.items():
        assert cp.command_error(command, _read(dump, name)) == expected.get(name), name


@pytest.mark.parametrize("command, text, error", [
    ("rd 0 4", 'rd: invalid kernel virtual address: 0  type: "64-bit KVADDR"\n',
     'rd: invalid kernel virtual address: 0  type: "64-bit KVADDR"'),
    ("p/x foo", "p: gdb request failed: p/x foo\n", "p: gdb request failed: p/x foo"),
    ("sys", "crash: cannot open dump\n", "crash: cannot open dump"),
    ("bt 1", "\nWARNING: x\nbt: cannot resolve stack trace\n", "bt: cannot resolve stack trace"),
    ("foreach bt", "bt: cannot transition\n", "bt: cannot transition"),
    ("p foo", 'No symbol "foo" in current context.\n', 'No symbol "foo" in current context.'),
    ("log -T | tail -3", "log: invalid option\n", "log: invalid option"),
    ("bt", "bt: WARNING: possibly bogus exception frame\n", None),
    ("bt", 'PID: 1  TASK: f  CPU: 0  COMMAND: "x"\nbt: cannot transition\n', None),
    ("sys", "", None),
    ("", "", None),
    ("mod", "kmem: invalid\n", None),  # another command's name
])
def test_command_error_forms(command: str, text: str, error: str | None) -> None:
    assert cp.command_error(command, text) == error


def test_model_types_are_reexported() -> None:
    from pytest_kdump.analysis import model
    assert (cp.Frame, cp.Task, cp.Module) == (model.Frame, model.Task, model.Module)


# --- more real outputs: an NMI panic and crash's other output forms ---------------------------

def test_struct_with_asked_nested_members() -> None:
    fields = cp.parse_struct(_read("module-bug-8.0.6",
                                   "struct_task_struct_se_on_rq_pid_TASK.txt"))
    assert fields == {"se.on_rq": "1", "pid": "109"}
    fields = cp.parse_struct(_read("nmi-8.0.6", "struct_task_struct_se_load_cpus_mask_TASK.txt"))
    assert fields["se.load.weight"] == "1048576" and fields["se.load.inv_weight"] == "4194304"
    assert fields["cpus_mask.bits"].startswith("{1, 18446744073709551615")
    assert "weight" not in fields


def test_bt_s_offsets() -> None:
    (trace,) = cp.parse_bt(_read("module-bug-8.0.6", "bt_s.txt"))
    first = trace.frames[0]
    assert (first.function, first.offset) == ("machine_kexec", 447)
    assert trace.functions == cp.parse_bt(_read("module-bug-8.0.6", "bt.txt"))[0].functions


def test_nmi_panic_bt_with_source_lines() -> None:
    (trace,) = cp.parse_bt(_read("nmi-8.0.6", "bt_l.txt"))
    assert trace.task.command == "swapper/0" and trace.task.pid == 0
    exc = trace.exception
    assert (exc.function, exc.offset) == ("native_safe_halt", 11)
    # the source line crash prints after the register block is the exception frame's
    assert exc.source.endswith("arch/x86/include/asm/irqflags.h:52")
    assert trace.frames[2].source.endswith("kernel/panic.c:250")
    assert [f.function for f in trace.frames] == cp.parse_bt(
        _read("nmi-8.0.6", "bt.txt"))[0].functions
    info = cp.parse_sys(_read("nmi-8.0.6", "sys.txt"))
    assert info.panic_message == "NMI: Not continuing"


def test_p_function_pointer() -> None:
    result = cp.parse_p(_read("nmi-8.0.6", "p_pc.txt"))
    assert result.as_int is not None and f"{result.as_int:x}" == "ffffffffb596475a"


def test_foreach_filter_errors_name_the_command() -> None:
    assert cp.command_error("foreach UN bt", "bt: invalid task\n") == "bt: invalid task"
    assert cp.command_error("foreach UN bt", "UN: x\n") is None
    text = _read("module-bug-8.0.6", "foreach_UN_bt.txt")
    assert cp.command_error("foreach UN bt", text) is None


def test_kmem_garbage_page_size() -> None:
    info = cp.parse_kmem_i("    TOTAL MEM    87553       3 KB         ----\n")
    assert info.page_size is None and info.total_mem_bytes == 3 << 10


def test_c_string_repeat_is_capped() -> None:
    assert cp.c_string("'\\000' <repeats 99999999999 times>") == ""

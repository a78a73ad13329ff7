"""Tests of parse.bt: ``bt``, ``bt -a``, ``foreach bt``, ``bt -s``, ``bt -l``, resolve_modules."""

from __future__ import annotations

import pytest

from pytest_kdump.analysis.crash import parse as cp
from pytest_kdump.analysis.model import Frame, Task
from tests.unit.analysis.crash.parse.recorded import DUMPS, read

SYSRQ_FRAMES = [
    "machine_kexec", "__crash_kexec", "panic", "sysrq_handle_crash", "__handle_sysrq.cold",
    "write_sysrq_trigger", "proc_reg_write", "vfs_write", "ksys_write", "do_syscall_64",
    "entry_SYSCALL_64_after_hwframe",
]


# the user-space registers of the sysrq dump's `sh`, printed after its last frame
SH_USER_REGS = {"RIP": "000000000047b7a0", "RSP": "00007ffc66e1e6f8", "RFLAGS": "00000202",
                "ORIG_RAX": "0000000000000001", "CS": "0033", "SS": "002b"}


def _bt(text: str) -> tuple[Task | None, list[Frame]]:
    traces = cp.parse_bt(text)
    return (traces[0].task, list(traces[0].frames)) if traces else (None, [])


def _short(f: Frame) -> tuple:
    return (f.level, f.function, f.address, f.module, f.exception)


def test_bt_sysrq() -> None:
    traces = cp.parse_bt(read("sysrq-8.0.6", "bt.txt"))
    assert len(traces) == 1
    bt = traces[0]
    assert bt.task == Task(pid=99, command="sh", cpu=0, task="ffff8a80deefe000")
    assert bt.functions == SYSRQ_FRAMES
    assert [f.level for f in bt.frames] == list(range(11))
    assert bt.frames[0] == Frame(level=0, function="machine_kexec", address="ffffffff9086c62f",
                                 stack="ffffd2c7405b3b90")
    assert bt.exception is None
    assert all(f.module is None and f.offset is None for f in bt.frames)
    assert bt.frames[3].address == "ffffffff90ea8a06"  # sysrq_handle_crash
    # the user-space register block after the last frame belongs to that frame
    last = bt.frames[-1]
    assert last.address == "ffffffff91400126"
    assert len(last.registers) == 21
    assert SH_USER_REGS.items() <= last.registers.items()
    assert last.registers["R8"] == "fefefefefefefeff"
    assert all(not f.registers for f in bt.frames[:-1])
    assert str(last) == "#10 entry_SYSCALL_64_after_hwframe"
    assert cp.parse_bt_one(read("sysrq-8.0.6", "bt.txt")) == bt


def test_bt_module_null_exception_frame() -> None:
    bt = cp.parse_bt_one(read("module-null-8.0.6", "bt.txt"))
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
    bt = cp.parse_bt_one(read("module-bug-8.0.6", "bt.txt"))
    assert bt is not None and bt.exception is not None
    assert (bt.exception.level, bt.exception.function, bt.exception.offset,
            bt.exception.address) == (7, "kdump_crash_bug", 5, "ffffffffc0536065")
    assert bt.functions[7:10] == ["asm_exc_invalid_op", "kdump_crash_bug",
                                  "_MODULE_INIT_START_kdump_crash"]


def test_resolve_modules_names_the_exception_frames_module() -> None:
    for dump, function in (("module-null-8.0.6", "kdump_crash_null"),
                           ("module-bug-8.0.6", "kdump_crash_bug")):
        bt = cp.parse_bt_one(read(dump, "bt.txt"))
        assert bt is not None
        frames = cp.resolve_modules(bt.frames, cp.parse_mod(read(dump, "mod.txt")))
        named = [(f.function, f.module) for f in frames if f.module]
        assert named == [(function, "kdump_crash"),
                         ("_MODULE_INIT_START_kdump_crash", "kdump_crash")]
        assert frames[bt.frames.index(bt.exception)].registers == bt.exception.registers


def test_bt_802_has_bogus_frames() -> None:
    # crash 8.0.2 walks past do_syscall_64 into stale stack words on this kernel
    bt = cp.parse_bt_one(read("sysrq-8.0.2", "bt.txt"))
    assert bt is not None
    assert bt.functions == SYSRQ_FRAMES[:10] + [
        "__x64_sys_rt_sigaction", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]
    assert SH_USER_REGS.items() <= bt.frames[-1].registers.items()


@pytest.mark.parametrize("dump", DUMPS)
def test_bt_a_equals_bt_on_one_cpu(dump: str) -> None:
    traces = cp.parse_bt(read(dump, "bt_a.txt"))
    assert len(traces) == 1 and traces == cp.parse_bt(read(dump, "bt.txt"))


@pytest.mark.parametrize("dump", DUMPS)
def test_foreach_bt_one_block_per_task(dump: str) -> None:
    traces = cp.parse_bt(read(dump, "foreach_bt.txt"))
    tasks = cp.parse_ps(read(dump, "ps.txt"))
    assert len(traces) == len(tasks) == cp.parse_sys(read(dump, "sys.txt")).tasks
    assert [(t.task.pid, t.task.task) for t in traces if t.task] == [
        (t.pid, t.task) for t in tasks]
    assert all(t.frames and t.frames[0].level == 0 for t in traces)
    crashing = cp.parse_bt_one(read(dump, "bt.txt"))
    assert crashing in traces


def test_foreach_bt_sysrq_details() -> None:
    traces = cp.parse_bt(read("sysrq-8.0.6", "foreach_bt.txt"))
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


def test_bt_s_offsets() -> None:
    (trace,) = cp.parse_bt(read("module-bug-8.0.6", "bt_s.txt"))
    first = trace.frames[0]
    assert (first.function, first.offset) == ("machine_kexec", 447)
    assert trace.functions == cp.parse_bt(read("module-bug-8.0.6", "bt.txt"))[0].functions


def test_bt_l_nmi_source_lines() -> None:
    (trace,) = cp.parse_bt(read("nmi-8.0.6", "bt_l.txt"))
    assert trace.task.command == "swapper/0" and trace.task.pid == 0
    exc = trace.exception
    assert (exc.function, exc.offset) == ("native_safe_halt", 11)
    # the source line crash prints after the register block is the exception frame's
    assert exc.source.endswith("arch/x86/include/asm/irqflags.h:52")
    assert trace.frames[2].source.endswith("kernel/panic.c:250")
    assert [f.function for f in trace.frames] == cp.parse_bt(
        read("nmi-8.0.6", "bt.txt"))[0].functions


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


def test_bt_exception_and_module_frames() -> None:
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


def test_bt_exception_without_module() -> None:
    # hand-built: an exception in the core kernel, as first line after the header
    text = ('PID: 7  TASK: ffff8880a  CPU: 2  COMMAND: "kworker/2:1"\n'
            "    [exception RIP: native_safe_halt+0xb]\n"
            " #0 [ffffc90000073e80] default_idle at ffffffff81c7ce95\n")
    task, frames = _bt(text)
    assert task is not None and task.command == "kworker/2:1"
    assert [_short(f) for f in frames] == [
        (0, "native_safe_halt", None, None, True),
        (0, "default_idle", "ffffffff81c7ce95", None, False)]


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

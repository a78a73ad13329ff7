"""Tests of parse.dis: ``dis`` and ``dis -l``."""

from __future__ import annotations

from pytest_kdump.analysis.crash import parse as cp
from tests.unit.analysis.crash.parse.recorded import read


def test_dis_module_null() -> None:
    insns = cp.parse_dis(read("module-null-8.0.6", "dis_l_kdump_crash_null.txt"))
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
    insns = cp.parse_dis(read("sysrq-8.0.6", "dis_l_sysrq_handle_crash.txt"))
    base = "debian/build/build_amd64_none_cloud-amd64"
    assert [(i.offset, i.source) for i in insns] == [
        (0, f"{base}/drivers/tty/sysrq.c:151"), (5, f"{base}/include/linux/rcupdate.h:823"),
        (10, f"{base}/drivers/tty/sysrq.c:155"), (17, f"{base}/drivers/tty/sysrq.c:155")]
    assert insns[3].text == "call   0xffffffff911ccf31 <panic>"
    assert cp.parse_dis(read("sysrq-8.0.6", "dis_no_such_fn.txt")) == []

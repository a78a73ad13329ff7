"""Tests of parse.memory: ``p``, ``struct``, ``rd``, c_int and c_string."""

from __future__ import annotations

import pytest

from pytest_kdump.analysis.crash import parse as cp
from tests.unit.analysis.crash.parse.recorded import read


def test_p() -> None:
    jiffies = cp.parse_p(read("sysrq-8.0.6", "p_jiffies.txt"))
    assert jiffies == cp.PrintResult(history=1, value="4294893203", symbol="jiffies")
    assert jiffies.as_int == 4294893203
    comm = cp.parse_p(read("sysrq-8.0.6", "p_init_task_comm.txt"))
    assert (comm.history, comm.symbol, comm.as_str) == (2, None, "swapper/0")
    pid = cp.parse_p(read("sysrq-8.0.6", "p_x_init_task_pid.txt"))
    assert (pid.history, pid.value, pid.as_int) == (3, "0x0", 0)
    # rd and p agree on jiffies' low word
    row = cp.parse_rd(read("sysrq-8.0.6", "rd_jiffies_4.txt"))[0]
    assert int(row.words[0], 16) == jiffies.as_int
    multi = cp.parse_p("$4 = {\n  counter = 1\n}\n")
    assert (multi.history, multi.value) == (4, "{\n  counter = 1\n}")
    assert cp.parse_p("") == cp.PrintResult(history=None, value="")
    assert cp.parse_p(read("sysrq-8.0.6", "p_no_such_symbol.txt")).history is None


def test_p_function_pointer() -> None:
    result = cp.parse_p(read("nmi-8.0.6", "p_pc.txt"))
    assert result.as_int is not None and f"{result.as_int:x}" == "ffffffffb596475a"


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


def test_c_string_repeat_is_capped() -> None:
    assert cp.c_string("'\\000' <repeats 99999999999 times>") == ""


@pytest.mark.parametrize("value, expected", [
    ("99", 99), ("99,", 99), ("-1", -1), ("0x0", 0), ("0xffff8a80deefe000", 0xffff8a80deefe000),
    ("(struct task_struct *) 0xffff8a80deefe000", 0xffff8a80deefe000), ("115 's'", 115),
    ('"sh"', None), ("{1, 2}", None), ("", None),
])
def test_c_int(value: str, expected: int | None) -> None:
    assert cp.c_int(value) == expected


def test_struct() -> None:
    for dump, pid, comm in (("sysrq-8.0.6", 99, "sh"), ("module-null-8.0.6", 109, "insmod")):
        fields = cp.parse_struct(read(dump, "struct_task_struct_pid_comm_TASK.txt"))
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


def test_struct_with_asked_nested_members() -> None:
    fields = cp.parse_struct(read("module-bug-8.0.6",
                                   "struct_task_struct_se_on_rq_pid_TASK.txt"))
    assert fields == {"se.on_rq": "1", "pid": "109"}
    fields = cp.parse_struct(read("nmi-8.0.6", "struct_task_struct_se_load_cpus_mask_TASK.txt"))
    assert fields["se.load.weight"] == "1048576" and fields["se.load.inv_weight"] == "4194304"
    assert fields["cpus_mask.bits"].startswith("{1, 18446744073709551615")
    assert "weight" not in fields


def test_rd() -> None:
    rows = cp.parse_rd(read("sysrq-8.0.6", "rd_jiffies_4.txt"))
    assert rows == [
        cp.MemoryRow(address="ffffffff922079c0", words=["00000000fffede93", "0000000000000000"],
                     ascii="................"),
        cp.MemoryRow(address="ffffffff922079d0", words=["0000000000000000", "0000000000000000"],
                     ascii="................")]
    sym = cp.parse_rd(read("sysrq-8.0.6", "rd_s_init_task_6.txt"))
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

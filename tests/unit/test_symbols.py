"""Kernel function tables from a vmlinux, and frames printed past noreturn calls."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pytest_kdump import symbols
from pytest_kdump.detect import find_crashes
from pytest_kdump.symbols import FunctionTable, fix_noreturn_frames
from tests.helpers import DATA
from tests.unit.detect import reports

# readelf -sW of Debian's 6.1.0-50-arm64 debug vmlinux (lines of it)
READELF = """\
Symbol table '.symtab' contains 226432 entries:
   Num:    Value          Size Type    Bind   Vis      Ndx Name
 95106: ffff80000882e820    44 FUNC    LOCAL  DEFAULT    2 sysrq_handle_reboot
 95119: ffff80000882eb00     0 NOTYPE  LOCAL  DEFAULT    2 $x
 95120: ffff80000882eb14    32 FUNC    LOCAL  DEFAULT    2 sysrq_handle_crash
 95121: ffff80000882eb34   160 FUNC    LOCAL  DEFAULT    2 sysrq_reset_seq_param_set
189973: ffff80000882f5d4   408 FUNC    GLOBAL DEFAULT    2 __handle_sysrq
"""

# The console of that kernel for sysrq c, recorded on the arm64 guest
SYSRQ = DATA / "reports" / "arm64" / "sysrq-6.1-frame-past-panic-kdump"


def test_function_before() -> None:
    table = FunctionTable.from_readelf(READELF)
    assert table.function_before("sysrq_reset_seq_param_set") == "sysrq_handle_crash"
    assert table.function_before("sysrq_handle_reboot") is None  # the first one
    assert table.function_before("no_such_function") is None


def test_frame_past_panic_names_its_caller() -> None:
    record = find_crashes(reports.read(SYSRQ).body)[0]
    # the console: the frame past panic() names no caller, its caller's caller is the guilty one
    assert record.guilty_frame == "__handle_sysrq"
    assert fix_noreturn_frames(record, FunctionTable.from_readelf(READELF))
    assert record.guilty_frame == "sysrq_handle_crash"
    assert record.signature == "Kernel panic: sysrq triggered crash in sysrq_handle_crash"
    names = [f.function for f in record.frames]
    assert "sysrq_handle_crash" in names and "sysrq_reset_seq_param_set" not in names
    assert not fix_noreturn_frames(record, FunctionTable.from_readelf(READELF))  # once


def test_function_table_of_a_real_elf(tmp_path: Path) -> None:
    source = tmp_path / "f.c"
    source.write_text("void first(void) {}\nvoid second(void) {}\n")
    obj = tmp_path / "f.o"
    subprocess.run(["gcc", "-O0", "-c", "-o", str(obj), str(source)], check=True)
    table = symbols.function_table(obj)
    assert table is not None and table.function_before("second") == "first"
    assert symbols.function_table(tmp_path / "missing") is None

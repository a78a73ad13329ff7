"""The analysis of a log-only dump, on a real crashed kernel's log (tests/data/serial-x86_64:
sysrq on the x86_64 guest, sent over the console by the crash kernel)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_kdump.analysis.dmesg import analyze_dmesg
from pytest_kdump.errors import AnalysisError

LOG = Path(__file__).resolve().parents[2] / "data" / "serial-x86_64" / "vmcore-dmesg.txt"


def test_sysrq_log_gives_panic_task_and_backtrace() -> None:
    result = analyze_dmesg(LOG)
    assert result.backend == "dmesg" and result.flags == ["DMESG ONLY"]
    assert result.kernel_release == "6.1.0-57-cloud-amd64"
    assert result.panic_message == "sysrq triggered crash"
    task = result.crashing_task
    assert (task.pid, task.command, task.cpu, task.active) == (99, "sh", 0, True)
    assert result.functions[:4] == ["dump_stack_lvl", "panic", "sysrq_handle_crash",
                                    "__handle_sysrq.cold"]
    assert "_printk" not in result.functions  # the unwinder's '?' frame
    assert [f.level for f in result.backtrace] == list(range(len(result.backtrace)))
    assert result.tasks == [] and result.modules == []
    assert result.sys["SIGNATURE"] == "Kernel panic: sysrq triggered crash in sysrq_handle_crash"
    assert result.log == LOG.read_text()


def test_a_note_goes_into_the_warnings() -> None:
    result = analyze_dmesg(LOG, note="the crash kernel sent the last 3000 of 24705 bytes")
    assert result.warnings[-1] == "the crash kernel sent the last 3000 of 24705 bytes"


def test_a_log_without_a_crash_report_is_a_clear_error(tmp_path: Path) -> None:
    log = tmp_path / "vmcore-dmesg.txt"
    log.write_text("".join(line for line in LOG.read_text().splitlines(keepends=True)
                           if "sysrq" not in line and "panic" not in line.lower()
                           and "Call Trace" not in line)[:4000])
    with pytest.raises(AnalysisError, match="holds no crash report") as info:
        analyze_dmesg(log)
    assert info.value.phase == "analysis" and "serial_limit" in info.value.advice


ARM64_LOG = LOG.parents[1] / "serial-arm64" / "vmcore-dmesg.txt"


def test_arm64_frame_past_panic_is_named_with_the_vmlinux(monkeypatch) -> None:
    """arm64 6.1 prints the frame past panic() as the next function (+0x0): with the vmlinux's
    function table it is its caller, sysrq_handle_crash, as crash would show it."""
    from pytest_kdump import symbols
    from tests.unit.test_symbols import READELF

    plain = analyze_dmesg(ARM64_LOG)
    assert "sysrq_reset_seq_param_set" in plain.functions
    assert plain.kernel_release == "6.1.0-50-arm64"
    assert plain.crashing_task.command == "sh"
    monkeypatch.setattr(symbols, "function_table",
                        lambda path: symbols.FunctionTable.from_readelf(READELF))
    fixed = analyze_dmesg(ARM64_LOG, vmlinux=Path("vmlinux"))
    assert "sysrq_handle_crash" in fixed.functions
    assert "sysrq_reset_seq_param_set" not in fixed.functions
    assert fixed.sys["SIGNATURE"] == "Kernel panic: sysrq triggered crash in sysrq_handle_crash"

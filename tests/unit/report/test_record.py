"""The kdump.json record: schema version, keys, atomic write."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from pytest_kdump.engine.results import ArmedState, PhaseTiming
from pytest_kdump.errors import CycleError
from pytest_kdump.report.record import SCHEMA, build_record, write_record

ARMED = ArmedState(loaded=False, reserved_bytes=0, ram_bytes=512 << 20, region=None,
                   cmdline="console=ttyS0", kernel_release="6.1.0-test")


def _handle(tmp_path: Path) -> SimpleNamespace:
    """A test handle that failed in phase armed, before any dump."""
    engine = SimpleNamespace(warnings=["w1"], phases=[PhaseTiming("boot", 1.5),
                                                      PhaseTiming("armed", 0.2, ok=False)],
                             last_armed=None)
    session = SimpleNamespace(crash_tool=SimpleNamespace(version="8.0.6", source="cache"),
                              vmlinux=tmp_path / "vmlinux")
    return SimpleNamespace(
        session=session, engine=engine, name="tests/x.py::test_a",
        console_log=tmp_path / "console.log", crashes=[], last_dump=None, last_armed=ARMED,
        unexpected=[], error=CycleError("crash kernel not loaded", phase="armed",
                                        advice="put crashkernel= on the command line"))


def test_record_of_a_failed_test(tmp_path: Path) -> None:
    record = build_record(_handle(tmp_path), "failed", 12.345)
    assert record["schema"] == SCHEMA == 1
    assert (record["test"], record["outcome"], record["total_seconds"]) == (
        "tests/x.py::test_a", "failed", 12.35)
    assert record["phases"] == [{"name": "boot", "seconds": 1.5, "ok": True},
                                {"name": "armed", "seconds": 0.2, "ok": False}]
    assert record["armed"]["loaded"] is False and record["armed"]["kernel_release"] == "6.1.0-test"
    assert record["error"] == {"type": "CycleError", "phase": "armed",
                               "message": "crash kernel not loaded",
                               "advice": "put crashkernel= on the command line"}
    assert "vmcore" not in record and "analysis" not in record
    assert record["crash_version"] == "8.0.6" and record["warnings"] == ["w1"]


def test_write_is_atomic_and_replaces(tmp_path: Path) -> None:
    (tmp_path / "kdump.json").write_text("old")
    path = write_record(tmp_path, {"schema": 1, "path": tmp_path / "x"})
    assert json.loads(path.read_text()) == {"schema": 1, "path": str(tmp_path / "x")}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kdump.json"]  # no partial left

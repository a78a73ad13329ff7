"""Reading a night's artifact folders back (pytest_kdump.report.nights) on recorded nights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_kdump.errors import ConfigError
from pytest_kdump.report.nights import CrashSeen, read_night, read_nights
from tests.unit.report.conftest import HUNG, NIGHT_A, NIGHT_B, NIGHT_C, SYSRQ

MATRIX = "examples/test_crash_matrix.py::test_crash_matrix"


def _test(night, test: str, arch: str):
    return next(t for t in night.tests if t.test == test and t.arch == arch)


def test_a_night_with_two_boards_and_failures() -> None:
    night = read_night(NIGHT_A)
    assert night.label == "2026-12-06-a" and len(night.tests) == 10
    assert night.outcomes() == {"passed": 7, "failed": 2, "skipped": 1}
    # x86_64 from crash's sys MACHINE, arm64 (drgn, no sys) from the kernel release's flavour
    assert night.boards == ["aarch64", "x86_64"]
    hung = _test(night, f"{MATRIX}[module:hung]", "aarch64")
    assert (hung.outcome, hung.trigger, hung.vmcore_size, hung.backend) == (
        "failed", "module:hung", 18053571, "drgn")
    assert hung.error["type"] == "CrashMismatch" and hung.error["phase"] == "trigger"
    assert hung.crashes == [CrashSeen(HUNG, "hung-task", triggered=True)]
    assert not hung.asked_for(hung.crashes[0])  # the test failed: not the crash asked for
    assert hung.files == ["console.log", "kdump.json", "drgn-summary.txt"]
    assert [p.name for p in hung.phases] == ["recover", "armed", "trigger", "crash_kernel",
                                             "dump_saved", "fetch", "analysis"]
    assert hung.phases[2].seconds == 13.51 and hung.total_seconds == 30.72
    sysrq = _test(night, f"{MATRIX}[sysrq]", "x86_64")
    assert sysrq.crashes[0].signature == SYSRQ and sysrq.asked_for(sysrq.crashes[0])
    assert sysrq.files == ["console.log", "kdump.json", "crash-00-sys.txt", "crash-01-bt.txt",
                           "crash-04-mod.txt"]
    assert (sysrq.crash_version, sysrq.backend) == ("8.0.6", "crash")
    assert sysrq.kernel_release == "6.1.0-57-cloud-amd64" and sysrq.env is None
    assert sysrq.board == "x86_64"
    shell = _test(night, "tests/qemu/test_console_driver.py::"
                         "test_shelldriver_and_kdump_share_the_console", "x86_64")
    assert shell.phases == [] and shell.crashes == [] and shell.vmcore_size is None
    divide = _test(night, f"{MATRIX}[module:divide]", "aarch64")
    assert divide.outcome == "skipped" and divide.error["type"] == "Unsupported"


def test_the_later_night_and_its_session_log() -> None:
    night = read_night(NIGHT_B)
    assert night.outcomes() == {"passed": 8, "skipped": 1}
    assert night.sessions == ["arm64/session/console.log"]
    hung = _test(night, "::test_crash_matrix[module:hung]", "aarch64")  # armed.arch
    assert hung.outcome == "passed" and hung.crashes[0].signature == "task hung in kdump_crash_hang"


def test_crashes_nobody_asked_for_are_counted_once() -> None:
    """An unexpected crash's dump has its reports as console_records (trigger "unexpected"):
    they are the unexpected_crashes entries, not the test's own crash."""
    night = read_night(NIGHT_C)
    assert night.outcomes() == {"xfailed": 2}
    assert night.boards == ["qemu-x86_64.yaml / x86_64"]  # records with board: env / arch
    for test in night.tests:
        assert test.trigger == "unexpected" and test.vmcore_size > 1 << 20
        assert test.crashes == [CrashSeen(SYSRQ, "panic", triggered=False)]
        assert not test.asked_for(test.crashes[0])
    assert night.tests[0].error["type"] == "UnexpectedCrash"


def test_the_record_board_names_the_env(nights_copy: Path) -> None:
    """Records since 0.2 carry the labgrid target and env: the board is 'env / arch'."""
    path = next((nights_copy / "2026-12-06-b" / "arm64").glob("*sysrq/kdump.json"))
    record = json.loads(path.read_text())
    record["board"] = {"target": "main", "env": "qemu-arm64.yaml"}
    path.write_text(json.dumps(record))
    test = next(t for t in read_night(path.parents[1]).tests if t.folder == path.parent)
    assert (test.env, test.board) == ("qemu-arm64.yaml", "qemu-arm64.yaml / aarch64")


def test_a_rack_board_is_named_by_its_place(nights_copy: Path) -> None:
    """Records of a rack board carry its place: each place is a board of its own."""
    path = next((nights_copy / "2026-12-06-b" / "arm64").glob("*sysrq/kdump.json"))
    record = json.loads(path.read_text())
    record["board"] = {"target": "main", "env": "beagleplay.yaml", "place": "bp2"}
    path.write_text(json.dumps(record))
    test = next(t for t in read_night(path.parents[1]).tests if t.folder == path.parent)
    assert (test.place, test.board) == ("bp2", "bp2 / aarch64")


def test_nights_are_labelled_by_folder_and_kept_in_order(tmp_path: Path) -> None:
    nights = read_nights([NIGHT_B, NIGHT_A])
    assert [n.label for n in nights] == ["2026-12-06-b", "2026-12-06-a"]
    for name in ("one", "two"):  # two folders of the same name: labelled by their path
        (tmp_path / name).symlink_to(NIGHT_A)
    same = read_nights([tmp_path / "one" / ".", tmp_path / "two" / "."])
    assert len({n.label for n in same}) == 2


def test_a_folder_without_records_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "session").mkdir()
    (tmp_path / "session" / "console.log").write_text("boot\n")
    with pytest.raises(ConfigError, match="no kdump.json in this folder") as info:
        read_night(tmp_path)
    assert "--kdump-artifacts" in info.value.advice
    with pytest.raises(ConfigError, match="no such folder"):
        read_night(tmp_path / "missing")


@pytest.mark.parametrize(("damage", "message"), [
    (lambda text: text[: len(text) // 2], "not a readable kdump.json"),
    (lambda text: text.replace('"schema": 1', '"schema": 2'), "schema 2, this report reads"),
    (lambda text: text.replace('"outcome"', '"result"'), "lacks or mangles a key"),
    (lambda text: "[]", "schema 'list'"),
])
def test_a_broken_record_names_its_file(nights_copy: Path, damage, message: str) -> None:
    path = next((nights_copy / "2026-12-06-a").rglob("kdump.json"))
    path.write_text(damage(path.read_text()))
    with pytest.raises(ConfigError, match=message) as info:
        read_night(nights_copy / "2026-12-06-a")
    assert str(path) in info.value.message

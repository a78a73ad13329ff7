"""Tests of parse.log: ``log`` and its options."""

from __future__ import annotations

from pytest_kdump.analysis.crash import parse as cp
from tests.unit.analysis.crash.parse.recorded import RELEASE, read


def test_log_sysrq() -> None:
    lines = cp.parse_log(read("sysrq-8.0.6", "log.txt"))
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
    lines = cp.parse_log(read("module-null-8.0.6", "log.txt"))
    oops = next(line for line in lines if line.text.startswith("Oops:"))
    assert oops == cp.LogLine(timestamp=5.510138, text="Oops: 0002 [#1] PREEMPT SMP NOPTI",
                              stamp="5.510138")
    assert lines[-1].text == "CR2: 0000000000000000"
    assert " ? do_fault+0x1a7/0x410" in [line.text for line in lines]


def test_log_human_timestamps() -> None:
    lines = cp.parse_log(read("module-null-8.0.6", "log_T_tail_3.txt"))
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

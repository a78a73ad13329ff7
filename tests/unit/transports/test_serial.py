"""The serial transport on a real crash kernel's console text (tests/data/serial-x86_64: the
block as the guest init sent it, and the log it decodes to), intact, cut and garbled."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_kdump.errors import VmcoreError
from pytest_kdump.transports import by_name
from pytest_kdump.transports.serial import INCOMPLETE, SerialTransport, find_block

DATA = Path(__file__).resolve().parents[2] / "data" / "serial-x86_64"
CONSOLE = (DATA / "crash-kernel.console").read_text()
LOG = (DATA / "vmcore-dmesg.txt").read_bytes()


def _lines() -> list[str]:
    return CONSOLE.splitlines(keepends=True)


def _block_range() -> tuple[int, int]:
    """Indexes of the begin and end lines in the recorded console text."""
    lines = _lines()
    begin = next(i for i, line in enumerate(lines) if "kdump-dmesg: begin" in line)
    end = next(i for i, line in enumerate(lines) if "kdump-dmesg: end" in line)
    return begin, end


def _fetch(tmp_path: Path, console: str) -> tuple[SerialTransport, Path]:
    transport = by_name("serial")()
    transport.before_crash()
    transport.take_console(console)
    return transport, tmp_path / "dump"


def test_recorded_block_decodes_to_the_recorded_log(tmp_path: Path) -> None:
    transport, dest = _fetch(tmp_path, CONSOLE)
    fetched = transport.fetch(dest)
    assert fetched.vmcore is None
    assert fetched.dmesg == dest / "vmcore-dmesg.txt"
    assert fetched.dmesg.read_bytes() == LOG
    assert fetched.status == {"size": str(len(LOG)), "dmesg_only": "1", "total": str(len(LOG))}
    assert sorted(p.name for p in dest.iterdir()) == ["vmcore-dmesg.txt"]


def test_a_kernel_message_inside_the_block_is_left_out(tmp_path: Path) -> None:
    lines = _lines()
    begin, _ = _block_range()
    lines.insert(begin + 3, "[    7.480000] random: crng init done\r\n")
    transport, dest = _fetch(tmp_path, "".join(lines))
    fetched = transport.fetch(dest)
    assert fetched.dmesg.read_bytes() == LOG
    assert fetched.status["skipped_lines"] == "1"


def test_kernel_messages_cut_into_base64_lines_are_left_out(tmp_path: Path) -> None:
    """Recorded in CI: two kernel messages landed in the middle of base64 lines."""
    recorded = DATA.parent / "serial-x86_64-interleaved"
    transport, dest = _fetch(tmp_path, (recorded / "crash-kernel.console").read_text())
    fetched = transport.fetch(dest)
    assert fetched.dmesg.read_bytes() == (recorded / "vmcore-dmesg.txt").read_bytes()
    assert fetched.status["skipped_lines"] == "2"
    block = find_block((recorded / "crash-kernel.console").read_text())
    assert [line.split("] ")[1][:22] for line in block.skipped] == [
        "tsc: Refined TSC clock", "clocksource: tsc: mask"]


@pytest.mark.parametrize("marker", ["kdump-dmesg: begin", "kdump-dmesg: end"])
def test_a_kernel_message_cut_into_a_marker_line_is_left_out(tmp_path: Path,
                                                             marker: str) -> None:
    message = "[    2.276167] tsc: Refined TSC clocksource calibration: 2599.979 MHz\r\n"
    console = CONSOLE.replace(marker, marker[:12] + message + marker[12:])
    assert marker not in console
    transport, dest = _fetch(tmp_path, console)
    fetched = transport.fetch(dest)
    assert fetched.dmesg.read_bytes() == LOG
    assert fetched.status["skipped_lines"] == "1"


@pytest.mark.parametrize("messages", [
    # two at once, as the kernel flushes them
    "[    2.276167] tsc: Refined TSC clocksource calibration: 2599.979 MHz\r\n"
    "[    2.279957] clocksource: Switched to clocksource tsc\r\n",
    # CONFIG_PRINTK_CALLER's id after the time
    "[    2.276167][    T1] tsc: Refined TSC clocksource calibration: 2599.979 MHz\r\n",
])
def test_kernel_messages_in_a_row_cut_into_a_line_are_left_out(tmp_path: Path,
                                                               messages: str) -> None:
    lines = _lines()
    begin, _ = _block_range()
    line = lines[begin + 5]
    lines[begin + 5] = line[:30] + messages + line[30:]
    transport, dest = _fetch(tmp_path, "".join(lines))
    fetched = transport.fetch(dest)
    assert fetched.dmesg.read_bytes() == LOG
    assert fetched.status["skipped_lines"] == str(messages.count("\n"))


def test_a_cut_block_keeps_the_text_from_its_begin_line(tmp_path: Path) -> None:
    # a message cut into a line before the block moves nothing: the kept text starts at
    # the begin line of the console as received
    lines = _lines()
    begin, end = _block_range()
    lines[begin - 1] = lines[begin - 1][:5] + "[    2.000001] random: crng init done\r\n" + \
        lines[begin - 1][5:]
    transport, dest = _fetch(tmp_path, "".join(lines[:end - 2]))
    with pytest.raises(VmcoreError, match="no 'kdump-dmesg: end' line"):
        transport.fetch(dest)
    assert (dest / INCOMPLETE).read_text().startswith("kdump-dmesg: begin")


def test_the_last_block_is_taken(tmp_path: Path) -> None:
    older = CONSOLE.replace(f"bytes={len(LOG)}", f"bytes={len(LOG) + 5}")
    transport, dest = _fetch(tmp_path, older + "\nrebooting\n" + CONSOLE)
    assert transport.fetch(dest).dmesg.read_bytes() == LOG


@pytest.mark.parametrize("damage, problem", [
    ("cut", "no 'kdump-dmesg: end' line"),
    ("lost line", "does not decode"),
    ("flipped character", "does not decode"),
    ("wrong size", f"decodes to {len(LOG)} bytes, its begin line says {len(LOG) + 1}"),
])
def test_a_damaged_block_is_refused_and_kept(tmp_path: Path, damage: str, problem: str) -> None:
    lines = _lines()
    begin, end = _block_range()
    if damage == "cut":
        lines = lines[:(begin + end) // 2]
    elif damage == "lost line":
        del lines[begin + 5]
    elif damage == "flipped character":
        line = lines[begin + 5]
        lines[begin + 5] = ("B" if line[10] != "B" else "C").join((line[:10], line[11:]))
    else:
        lines[begin] = lines[begin].replace(f"bytes={len(LOG)}", f"bytes={len(LOG) + 1}")
    transport, dest = _fetch(tmp_path, "".join(lines))
    dest.mkdir()
    (dest / "vmcore-dmesg.txt").write_text("an earlier crash's log")
    with pytest.raises(VmcoreError) as info:
        transport.fetch(dest)
    assert info.value.phase == "fetch"
    assert problem in info.value.message
    assert "serial_limit" in info.value.advice
    kept = dest / INCOMPLETE
    assert f"kept in {kept}" in info.value.message
    assert kept.read_text().startswith("kdump-dmesg: begin")
    assert sorted(p.name for p in dest.iterdir()) == [INCOMPLETE]  # no final name left


def test_no_block_says_how_to_make_the_crash_kernel_send_one(tmp_path: Path) -> None:
    start, _ = _block_range()
    transport, dest = _fetch(tmp_path, "".join(_lines()[:start]))
    with pytest.raises(VmcoreError, match="printed no dmesg block") as info:
        transport.fetch(dest)
    assert "pytest_kdump.dump=serial" in info.value.advice


def test_before_crash_forgets_the_last_crash_text(tmp_path: Path) -> None:
    transport, dest = _fetch(tmp_path, CONSOLE)
    transport.before_crash()
    with pytest.raises(VmcoreError, match="printed no dmesg block"):
        transport.fetch(dest)


def test_a_block_far_larger_than_a_log_is_refused() -> None:
    from pytest_kdump.transports import serial

    huge = "kdump-dmesg: begin bytes=10 gzip base64\n" + ("A" * 76 + "\n") * 300
    old, serial.MAX_BLOCK = serial.MAX_BLOCK, 76 * 100
    try:
        block = find_block(huge)
    finally:
        serial.MAX_BLOCK = old
    assert block is not None and block.text is None
    assert "larger than 7600 characters" in (block.problem or "")

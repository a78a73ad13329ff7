"""ConsoleSpawn: expect over the captured stream."""

from __future__ import annotations

from pathlib import Path

import pexpect
import pytest

from pytest_kdump.console.capture import ConsoleCapture
from pytest_kdump.console.spawn import ConsoleSpawn
from tests.unit.console.conftest import FakeSource, wait_for


def test_expect_across_chunks(spawn: ConsoleSpawn, source: FakeSource) -> None:
    source.feed(b"[    1.0] Linux ver")
    with pytest.raises(pexpect.TIMEOUT):
        spawn.expect_exact("Linux version", timeout=0.3)
    source.feed(b"sion 6.1.0-56-clo", b"ud-amd64 (debian", b"-kernel@lists)\r\n")
    spawn.expect(r"Linux version (\S+) ", timeout=2)
    assert spawn.match.group(1) == "6.1.0-56-cloud-amd64"
    assert spawn.before == "[    1.0] "


def test_expect_multibyte_split(spawn: ConsoleSpawn, source: FakeSource) -> None:
    data = "café ✓ ok".encode()
    source.feed(*(data[i:i + 1] for i in range(len(data))))
    spawn.expect_exact("café ✓ ok", timeout=2)


def test_send_goes_to_the_board(spawn: ConsoleSpawn, source: FakeSource) -> None:
    assert spawn.sendline("echo hi") == 8
    spawn.send(b"\x03")
    assert bytes(source.written) == b"echo hi\n\x03"


def test_eof_when_source_gone_and_resume(capture: ConsoleCapture, spawn: ConsoleSpawn,
                                         source: FakeSource) -> None:
    source.feed(b"reboot: Power down\r\n")
    source.vanish()
    spawn.expect_exact("Power down", timeout=2)  # bytes before the EOF are still matched
    with pytest.raises(pexpect.EOF):
        spawn.expect_exact("never", timeout=2)
    assert capture.gone
    with pytest.raises(pexpect.EOF):  # stays at EOF
        spawn.expect_exact("never", timeout=0.1)
    # the board is powered on again: the same capture and spawn go on
    source.feed(b"[    0.000000] Linux version 6.1.0-56-cloud-amd64 (debian-kernel)\r\n")
    spawn.drain()
    spawn.reset_eof()
    capture.resume()
    spawn.expect(r"Linux version (\S+) ", timeout=2)
    assert not capture.gone
    assert spawn.match.group(1) == "6.1.0-56-cloud-amd64"


def test_eof_without_pending_data(capture: ConsoleCapture, spawn: ConsoleSpawn,
                                  source: FakeSource) -> None:
    source.feed(b"x")
    spawn.expect_exact("x", timeout=2)
    source.vanish()
    with pytest.raises(pexpect.EOF):
        spawn.expect_exact("y", timeout=2)
    spawn.reset_eof()
    capture.resume()
    source.feed(b"y")
    spawn.expect_exact("y", timeout=2)


def test_drain_forgets_unmatched(spawn: ConsoleSpawn, source: FakeSource,
                                 capture: ConsoleCapture) -> None:
    source.feed(b"old prompt kdump# ")
    wait_for(lambda: capture.total_bytes == 18)
    spawn.drain()
    source.feed(b"new output\n")
    spawn.expect_exact("new output", timeout=2)
    assert "old prompt" not in spawn.before


def test_nothing_unsearched_when_output_piles_up(spawn: ConsoleSpawn,
                                                 source: FakeSource) -> None:
    """200 KB arrive while nobody waits (e.g. a crash kernel's log during another wait): the
    line at their start is still found, then the line at their end."""
    filler = b"".join(b"[    2.%06d] filler line of the crash kernel's boot log\r\n" % i
                      for i in range(3000))
    source.feed(b"pytest-kdump: DUMP-OK size=123\r\n", *[filler[i:i + 4096]
                                                         for i in range(0, len(filler), 4096)],
                b"reboot: Power down\r\n")
    wait_for(lambda: spawn._queue.qsize() > 40)
    spawn.expect(r"DUMP-OK size=(\d+)", timeout=2)
    assert spawn.match.group(1) == "123"
    spawn.expect_exact("reboot: Power down", timeout=2)


@pytest.mark.parametrize("power_on", [False, True])
def test_drain_keeps_the_end_of_the_console(source: FakeSource, tmp_path: Path,
                                            power_on: bool) -> None:
    """The board went away and came back while nobody waited: drain forgets the bytes but
    the next wait still learns of the power cycle (EOF, once), unless reset_eof() (the
    engine powers it on itself) says it does not matter."""
    cap = ConsoleCapture(source.read, tmp_path, auto_resume=True)
    spawn = ConsoleSpawn(cap, source.write, timeout=5)
    try:
        cap.resume()
        source.feed(b"old\r\n")
        source.vanish()
        source.feed(b"new boot\r\n")
        wait_for(lambda: cap.total_bytes == 15 and not cap.gone)
        spawn.drain()
        if power_on:
            spawn.reset_eof()
        else:
            with pytest.raises(pexpect.EOF):
                spawn.expect_exact("later", timeout=5)
        source.feed(b"later\r\n")
        spawn.expect_exact("later", timeout=5)
        assert "new boot" not in spawn.before
    finally:
        spawn.close()
        cap.close()

"""ConsoleSpawn: expect over the captured stream."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

from pytest_kdump.console.capture import ConsoleCapture, SourceGone
from pytest_kdump.console.spawn import ConsoleSpawn


class FakeSource:
    """A console fed by the test: ``feed`` bytes, ``vanish`` to make the board go away."""

    _GONE = object()

    def __init__(self) -> None:
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.written = bytearray()

    def feed(self, *chunks: bytes) -> None:
        for chunk in chunks:
            self.q.put(chunk)

    def vanish(self) -> None:
        self.q.put(self._GONE)

    def read(self, timeout: float) -> bytes:
        try:
            item = self.q.get(timeout=timeout)
        except queue.Empty:
            return b""
        if item is self._GONE:
            raise SourceGone()
        return item

    def write(self, data: bytes) -> None:
        self.written += data


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def capture(source: FakeSource, tmp_path: Path) -> Iterator[ConsoleCapture]:
    cap = ConsoleCapture(source.read, tmp_path / "logs")
    yield cap
    cap.close()


@pytest.fixture
def spawn(capture: ConsoleCapture, source: FakeSource) -> Iterator[ConsoleSpawn]:
    sp = ConsoleSpawn(capture, source.write, timeout=5)
    capture.resume()
    yield sp
    sp.close()


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

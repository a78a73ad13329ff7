"""Console capture under faults (issue 15, items 1, 2, 3 and 6).

A reader that dies, a listener that raises, bursts bigger than pexpect's search window, a
subscriber that never reads, and a board that goes away and comes back: each is injected the
way it happens for real, and every wait is bounded so that a broken capture fails, not hangs.
"""

from __future__ import annotations

import re
import select
import socket
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

from pytest_kdump.console.capture import ConsoleCapture
from pytest_kdump.console.spawn import ConsoleSpawn
from pytest_kdump.engine.cycle import CycleEngine
from pytest_kdump.errors import CaptureError
from pytest_kdump.transports.disk_image import DiskImageTransport
from tests.helpers import DATA
from tests.unit.console.conftest import FakeSource, wait_for

RAW = DATA / "sysrq-x86_64" / "console.raw"  # a real boot, panic and crash kernel console
WAIT = 10  # seconds: far more than any wait below needs; a broken capture fails after it


@pytest.fixture
def spawn(capture: ConsoleCapture, source: FakeSource) -> Iterator[ConsoleSpawn]:
    sp = ConsoleSpawn(capture, source.write, timeout=WAIT)
    capture.resume()
    yield sp
    sp.close()


def _log(capture: ConsoleCapture) -> str:
    return capture.log_path.read_text(encoding="utf-8")


# -- 1. the reader dies, a listener raises -------------------------------------------------------

def _socket_reader(sock: socket.socket) -> Callable[[float], bytes]:
    """A console read over a socket, as a serial server connection is read."""
    def read(timeout: float) -> bytes:
        ready, _, _ = select.select([sock], [], [], timeout)
        return sock.recv(65536) if ready else b""
    return read


def test_reader_exception_is_raised_by_the_waits(tmp_path: Path) -> None:
    """The console socket is closed under the reader while a wait runs: select() raises
    ValueError. The wait raises CaptureError naming it at once (not a timeout with a frozen
    console), every later wait too, the log says when capture stopped, close() still works."""
    board, ours = socket.socketpair()
    cap = ConsoleCapture(_socket_reader(ours), tmp_path)
    spawn = ConsoleSpawn(cap, board.sendall, timeout=WAIT)
    cap.resume()
    board.sendall(b"[    1.000000] Linux version 6.1.0\r\n[    1.100000] still booting")
    spawn.expect_exact("Linux version", timeout=WAIT)
    closer = threading.Timer(0.2, ours.close)  # the connection goes while we wait
    closer.start()
    try:
        with pytest.raises(CaptureError) as info:
            spawn.expect_exact("login:", timeout=WAIT)
    finally:
        closer.join()
    # select() on the closed socket: ValueError; or recv() if it was closed mid-select
    assert isinstance(info.value.cause, (ValueError, OSError))
    assert cap.failure is info.value.cause and cap.failed_at is not None
    assert repr(cap.failure) in info.value.message and "stopped" in info.value.message
    assert info.value.advice
    assert spawn.before.endswith("still booting")  # what came before the failure was seen
    with pytest.raises(CaptureError):  # every later wait, without waiting
        spawn.expect_exact("login:", timeout=WAIT)
    with pytest.raises(CaptureError):  # a labgrid client's stream too
        cap.subscribe().get(timeout=WAIT)
    cap.close()
    board.close()
    log = _log(cap)
    assert f"] [pytest-kdump] console capture stopped at {cap.failed_at:.3f} s: " \
           f"{cap.failure!r}\n" in log, log
    assert log.index("still booting") < log.index("console capture stopped")


class SocketBoard:
    """A board whose console is a socket pair: ``board`` is the board's end; the host end
    is read with select() and recv(), as a serial server connection is."""

    name = "socket-board"

    def __init__(self) -> None:
        self.board, self.host = socket.socketpair()
        self.read = _socket_reader(self.host)

    def power_on(self) -> None:  # it boots: the firmware prints, then the link breaks
        self.board.sendall(b"SeaBIOS (version 1.16.2-debian-1.16.2-1)\r\nBooting from ROM..")
        threading.Timer(0.2, self.host.close).start()

    def power_off(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.host.sendall(data)

    def alive(self) -> bool:
        return True

    def describe_death(self) -> str:
        return "the console socket closed"


def test_reader_exception_fails_the_phase_naming_it(tmp_path: Path) -> None:
    """Through the engine: the boot phase fails with the reader's exception, its phase, the
    console tail and the log, not with a misleading 'boot did not finish within 60 s'."""
    board = SocketBoard()
    engine = CycleEngine(board, DiskImageTransport(tmp_path / "dump.img"), tmp_path)
    try:
        with pytest.raises(CaptureError) as info:
            engine.ensure_shell()
    finally:
        engine.close()
        board.board.close()
    error = info.value
    assert error.phase == "boot" and repr(engine.capture.failure) in error.message
    assert "Booting from ROM" in (error.console_tail or "")
    assert error.log_path == engine.capture.log_path
    assert "did not finish" not in str(error)


@pytest.mark.parametrize("role", ["listener", "echo"])
def test_failing_listener_is_removed_and_reported(source: FakeSource, tmp_path: Path,
                                                  role: str) -> None:
    """A listener writing to a file that was closed (stderr swapped and closed under it)
    raises: the reader goes on, the other listeners still get everything, the log says it,
    and waits raise CaptureError naming it until the loss is accepted."""
    dead = open(tmp_path / "closed.txt", "w")
    dead.close()
    cap = ConsoleCapture(source.read, tmp_path / "logs", echo=dead.write if role == "echo"
                         else None)
    seen: list[str] = []
    if role == "listener":
        cap.listeners.append(dead.write)
    cap.listeners.append(seen.append)
    spawn = ConsoleSpawn(cap, source.write, timeout=WAIT)
    try:
        cap.resume()
        source.feed(b"first line\r\n")
        wait_for(lambda: bool(cap.listener_errors), timeout=WAIT)
        with pytest.raises(CaptureError) as info:
            spawn.expect_exact("second line", timeout=WAIT)
        assert "TextIOWrapper.write" in info.value.message
        assert isinstance(info.value.cause, ValueError)
        assert dead.write not in cap.listeners
        source.feed(b"second line\r\n")  # the reader goes on
        wait_for(lambda: "".join(seen) == "first line\r\nsecond line\r\n", timeout=WAIT)
        with pytest.raises(CaptureError):  # still: the listener's work is not being done
            spawn.expect_exact("second line", timeout=WAIT)
        cap.listener_errors.clear()  # the caller accepts going on without it
        spawn.expect_exact("second line", timeout=WAIT)
    finally:
        spawn.close()
        cap.close()
    assert cap.raw_path.read_bytes() == b"first line\r\nsecond line\r\n"
    assert re.search(r"\[pytest-kdump\] console listener TextIOWrapper.write failed at "
                     r"\d+\.\d{3} s and was removed: ValueError", _log(cap))


# -- 2. bursts bigger than pexpect's search window -------------------------------------------

MARK = "pytest-kdump MARK-42 température ✓ °C"


def _burst(size: int, where: str) -> tuple[bytes, int]:
    """``size`` bytes of real console with MARK at the start, in the middle (its ✓ cut by
    the spawn's read boundary nearest the middle) or at the end; and MARK's offset."""
    console = RAW.read_bytes()
    mark = MARK.encode()
    text = (console * (size // len(console) + 1))[:size - len(mark)]
    if where == "start":
        at = 0
    elif where == "end":
        at = len(text)
    else:
        boundary = (size // 2) // ConsoleSpawn.READ_LIMIT * ConsoleSpawn.READ_LIMIT
        at = boundary - mark.index("✓".encode()) - 1  # ✓'s 3 bytes: 1 before, 2 after
    return text[:at] + mark + text[at:], at


@pytest.mark.parametrize("size", [44_000, 256 * 1024])
@pytest.mark.parametrize("where", ["start", "middle", "end"])
@pytest.mark.parametrize("method", ["expect", "expect_exact"])
def test_burst_is_searched_whole(capture: ConsoleCapture, spawn: ConsoleSpawn,
                                 source: FakeSource, size: int, where: str,
                                 method: str) -> None:
    """A burst of console text arrives in one read (a crash kernel's log while nobody waits):
    the mark is found wherever it is, and everything before it is in ``before``."""
    burst, at = _burst(size, where)
    source.feed(burst)
    wait_for(lambda: capture.total_bytes == len(burst), timeout=WAIT)
    if method == "expect":
        spawn.expect(r"pytest-kdump MARK-(\d+) température ✓ °C", timeout=WAIT)
        assert spawn.match.group(1) == "42"
    else:
        spawn.expect_exact(MARK, timeout=WAIT)
    assert spawn.before == burst[:at].decode()


def test_pattern_cut_by_a_read_boundary_anywhere(capture: ConsoleCapture,
                                                 source: FakeSource) -> None:
    """MARK cut by the spawn's read boundary after each of its bytes (inside its multi-byte
    characters too): found each time, with the text before it whole."""
    capture.resume()
    mark = MARK.encode()
    filler = (RAW.read_bytes() * 2)[:3 * ConsoleSpawn.READ_LIMIT]
    for cut in range(1, len(mark)):
        spawn = ConsoleSpawn(capture, source.write, timeout=WAIT)
        at = 2 * ConsoleSpawn.READ_LIMIT - cut
        burst = filler[:at] + mark + filler[at:]
        total = capture.total_bytes + len(burst)
        source.feed(burst)
        wait_for(lambda: capture.total_bytes == total, timeout=WAIT)  # noqa: B023
        spawn.expect_exact(MARK, timeout=WAIT)
        assert spawn.before == filler[:at].decode(), cut
        spawn.close()


# -- 3. a subscriber that never reads ----------------------------------------------------------

class Flood:
    """A console printing ``total`` bytes of real console text as fast as it is read, then
    what ``then`` is fed."""

    CHUNK = 64 * 1024

    def __init__(self, total: int, then: FakeSource) -> None:
        console = RAW.read_bytes()
        self.period = len(console)
        self.text = console * (self.CHUNK // len(console) + 2)
        self.total = total
        self.sent = 0
        self.then = then

    def read(self, timeout: float) -> bytes:
        if self.sent >= self.total:
            return self.then.read(timeout)
        at = self.sent % self.period
        chunk = self.text[at:at + self.CHUNK]  # a new bytes object, as a real read makes
        self.sent += len(chunk)
        return chunk


def test_slow_subscriber_is_bounded(source: FakeSource, tmp_path: Path) -> None:
    """200 MB of console while a spawn and a labgrid-style client never read: memory stays
    near the per-subscriber bound, each learns how many bytes it lost, the logs keep
    everything, and the spawn then still matches new text."""
    total = 200 * 1000 * 1000
    flood = Flood(total, then=source)
    tracemalloc.start()
    try:
        cap = ConsoleCapture(flood.read, tmp_path / "logs")
        spawn = ConsoleSpawn(cap, source.write, timeout=WAIT)
        client = cap.subscribe()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        cap.resume()
        wait_for(lambda: cap.total_bytes >= total, timeout=600)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    print(f"peak traced memory {peak / 2**20:.1f} MiB for {cap.total_bytes / 1e6:.0f} MB")
    try:
        bound = ConsoleCapture.SUBSCRIBER_BYTES
        # the two queues share the chunks; + the tail's history and chunks in flight
        assert peak < bound + (4 << 20), f"{peak / 2**20:.1f} MiB"
        assert cap.raw_path.stat().st_size == cap.total_bytes  # the logs keep everything
        assert _log(cap).count("] [pytest-kdump] a console reader fell more than 8 MiB "
                               "behind at ") == 2
        for lost in (spawn.lost, client.dropped):  # each kept its last 8 MiB
            assert bound - 2 * Flood.CHUNK < cap.total_bytes - lost <= bound
        source.feed(b"\r\n[    9.000000] pytest-kdump: after the flood\r\n")
        spawn.expect_exact("after the flood", timeout=WAIT)
        assert f"[pytest-kdump: {spawn.lost} bytes of console output lost here" in spawn.before
        first = client.get(timeout=WAIT)
        assert f"[pytest-kdump: {client.dropped} bytes of console".encode() in first
    finally:
        spawn.close()
        cap.close()
        cap.raw_path.unlink()
        cap.log_path.unlink()


# -- 6. the board goes away and comes back -------------------------------------------------

def test_bytes_after_end_of_console_reach_the_next_wait(source: FakeSource,
                                                        tmp_path: Path) -> None:
    """Someone else powers the board off and on (the capture resumes by itself): the end of
    the console is raised once where it happened, and the new boot goes to the next wait.
    While the console is gone and nothing came, waits raise EOF at once."""
    cap = ConsoleCapture(source.read, tmp_path, auto_resume=True)
    spawn = ConsoleSpawn(cap, source.write, timeout=WAIT)
    try:
        cap.resume()
        # the power-off and the next boot are all captured before anyone waits
        first = b"reboot: Power down\r\n"
        second = b"[    0.000000] Linux version 6.1.0-56-cloud-amd64 (second boot)\r\n"
        source.feed(first)
        source.vanish()
        source.feed(second)
        wait_for(lambda: cap.total_bytes == len(first + second), timeout=WAIT)
        spawn.expect_exact("Power down", timeout=WAIT)
        with pytest.raises(pexpect.EOF):  # the end of the first boot, at its place
            spawn.expect_exact("Linux version", timeout=WAIT)
        spawn.expect(r"Linux version (\S+) \(second boot\)", timeout=WAIT)
        assert spawn.match.group(1) == "6.1.0-56-cloud-amd64"
        source.vanish()
        for _ in range(2):  # gone, nothing new: EOF, not a timeout
            with pytest.raises(pexpect.EOF):
                spawn.expect_exact("login:", timeout=WAIT)
        assert cap.gone
        source.feed(b"[    0.000000] Linux version 6.1.0-56-cloud-amd64 (third boot)\r\n")
        wait_for(lambda: not cap.gone, timeout=WAIT)  # it came back
        spawn.expect_exact("(third boot)", timeout=WAIT)
    finally:
        spawn.close()
        cap.close()


def test_power_on_forgets_an_end_of_console_noticed_late(source: FakeSource,
                                                           tmp_path: Path) -> None:
    """The board went off and the reader noticed it only after the engine drained the spawn
    for a power-on: the end of the console, followed by nothing when the capture resumes, is
    forgotten, so the new boot's first wait is not failed by the old power-off."""
    cap = ConsoleCapture(source.read, tmp_path)
    spawn = ConsoleSpawn(cap, source.write, timeout=WAIT)
    try:
        cap.resume()
        spawn.drain()
        spawn.reset_eof()  # the engine's power_on, before the reader saw the board go
        source.vanish()
        wait_for(lambda: cap.gone, timeout=WAIT)  # now the end of the console is queued
        cap.resume()  # the board is on again
        source.feed(b"[    0.000000] Linux version 6.1.0-56-cloud-amd64 (new boot)\r\n")
        spawn.expect_exact("(new boot)", timeout=WAIT)
    finally:
        spawn.close()
        cap.close()


def test_pause_returns_once_the_reader_is_parked(source: FakeSource, tmp_path: Path) -> None:
    """After pause() the reader reads no more: a board switched off then is not reported
    gone, and no end of the console is queued for the next boot's waits."""
    cap = ConsoleCapture(source.read, tmp_path)
    spawn = ConsoleSpawn(cap, source.write, timeout=WAIT)
    try:
        cap.resume()
        source.feed(b"before\r\n")
        spawn.expect_exact("before", timeout=WAIT)
        cap.pause()
        source.vanish()  # the board is switched off while the capture is paused
        threading.Event().wait(0.5)
        assert not cap.gone
        source.q.get_nowait()  # the power-off was never read: take it back
        cap.resume()
        source.feed(b"after\r\n")
        spawn.expect_exact("after", timeout=WAIT)
    finally:
        spawn.close()
        cap.close()

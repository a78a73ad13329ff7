"""LabgridBoard over labgrid's real SerialDriver on a pty (the far end is this test), directly
or through a real ser2net (RFC 2217, as an exporter serves it), and its bound on power
switches."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import tty

import pytest
from labgrid import Target
from labgrid.driver import SerialDriver
from labgrid.resource import NetworkSerialPort, RawSerialPort

from pytest_kdump.console.capture import SourceGone
from pytest_kdump.drivers import board as board_module
from pytest_kdump.drivers.board import LabgridBoard, console_open_error
from pytest_kdump.errors import BoardDied
from pytest_kdump.rack.control import free_port, tool


def test_a_serial_read_returns_what_arrived_without_waiting_for_a_full_chunk() -> None:
    """pyserial's read(n) waits for n bytes: a prompt of 8 bytes must not wait out the
    timeout (on a rack, every command's answer waited the capture's 50 ms, and more)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    target = Target("board")
    RawSerialPort(target, name=None, port=os.ttyname(slave), speed=115200)
    serial = SerialDriver(target, name=None)
    target.activate(serial)
    try:
        board = LabgridBoard(None, serial)
        os.write(master, b"kdump# ")
        started, data = time.monotonic(), b""
        while len(data) < 7 and time.monotonic() - started < 10:
            data += board.read(timeout=3.0)
        elapsed = time.monotonic() - started
        assert data == b"kdump# "
        assert elapsed < 1.0, f"the read waited {elapsed:.2f} s for 7 bytes"
        os.write(master, b"x" * 10000)  # more than a chunk: read in chunks of at most 4096
        got = b""
        while len(got) < 10000:
            chunk = board.read(timeout=3.0)
            assert 0 < len(chunk) <= 4096
            got += chunk
        assert got == b"x" * 10000
        # the port is configured once for the reader's timeout, not at every read (pyserial
        # reconfigures on each timeout set: over RFC 2217 that is >= 50 ms per read)
        reconfigured = []
        original = serial.serial._reconfigure_port
        serial.serial._reconfigure_port = lambda *a: (reconfigured.append(1), original(*a))
        for _ in range(20):
            os.write(master, b"y")
            assert board.read(timeout=3.0) == b"y"
        assert reconfigured == []
    finally:
        target.deactivate(serial)
        os.close(master)
        os.close(slave)


class _SilentSwitch:
    """A network power switch that takes the request and answers only when told to."""

    def __init__(self) -> None:
        self.answer = threading.Event()
        self.calls: list[str] = []

    def on(self) -> None:
        self.calls.append("on")
        self.answer.wait(30)

    def off(self) -> None:
        self.calls.append("off")
        self.answer.wait(30)


def test_a_power_switch_that_does_not_answer_is_bounded_and_not_overtaken() -> None:
    switch = _SilentSwitch()
    board = LabgridBoard(switch, object(), name="main on place bp1")
    board.power_timeout = 0.5
    started = time.monotonic()
    with pytest.raises(BoardDied, match="did not switch board main on place bp1 on within"):
        board.power_on()
    assert time.monotonic() - started < 5
    # a later request may not overtake the one still pending (a late "on" after an "off")
    with pytest.raises(BoardDied, match="has not answered the last request yet"):
        board.power_off()
    assert switch.calls == ["on"]
    switch.answer.set()
    time.sleep(0.1)
    board.power_off()  # answered at last: the board is switchable again
    assert switch.calls == ["on", "off"]


# -- a serial console behind ser2net (RFC 2217), as an exporter serves a place's ----------

class _Switch:
    """A power switch that answers at once and records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def on(self) -> None:
        self.calls.append("on")

    def off(self) -> None:
        self.calls.append("off")


def _ser2net(tty: str) -> tuple[subprocess.Popen, int]:
    """ser2net serving ``tty`` over RFC 2217 on a free port, started as labgrid-exporter
    starts it; returns once it listens."""
    port = free_port()
    proc = subprocess.Popen(
        [tool("ser2net"), "-d", "-n", "-Y",
         f"connection: &con01#  accepter: telnet(rfc2217,mode=server),tcp,{port}",
         "-Y", f"  connector: serialdev(nouucplock=true),{tty},115200n81,local",
         "-Y", "  options:", "-Y", "    max-connections: 10"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"ser2net did not listen on {port}") from None
            time.sleep(0.05)


def _stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(10)


def _read_until(board: LabgridBoard, want: bytes, seconds: float = 10) -> bytes:
    deadline, got = time.monotonic() + seconds, b""
    while want not in got and time.monotonic() < deadline:
        got += board.read(timeout=0.2)
    return got


@pytest.fixture
def on_place_bp1(monkeypatch: pytest.MonkeyPatch) -> None:
    """Targets are on place bp1 (a real RemotePlace needs a coordinator)."""
    monkeypatch.setattr(board_module, "place_of",
                        lambda target: "bp1" if target is not None else None)


@pytest.mark.usefixtures("on_place_bp1")
def test_a_ser2net_refusing_the_connection_is_a_clear_error_naming_place_and_port() -> None:
    target = Target("main")
    port = free_port()  # nothing listens there: as a place whose ser2net died
    NetworkSerialPort(target, name=None, host="127.0.0.1", port=port, speed=115200)
    serial = SerialDriver(target, name=None)
    with pytest.raises(OSError) as raised:  # pyserial's SerialException
        target.activate(serial)
    error = console_open_error(target, raised.value)
    assert isinstance(error, BoardDied) and error.phase == "setup"
    assert (f"cannot open the console of target main on place bp1: ser2net at 127.0.0.1:{port} "
            "(rfc2217) could not be opened (SerialException: [Errno 111] Connection refused)"
            ) == error.message
    assert "labgrid-client -p bp1 -v resources" in error.advice
    assert "rfc2217://" not in str(error)  # pyserial's repeated URLs are left out
    assert console_open_error(Target("nothing"), raised.value) is None  # not a serial port


@pytest.mark.usefixtures("on_place_bp1")
def test_a_lost_ser2net_connection_names_the_endpoint_and_is_reopened_at_power_on() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    first, port = _ser2net(os.ttyname(slave))
    second = None
    target = Target("main")
    resource = NetworkSerialPort(target, name=None, host="127.0.0.1", port=port, speed=115200)
    serial = SerialDriver(target, name=None)
    target.activate(serial)
    switch = _Switch()
    board = LabgridBoard(switch, serial, name="main on place bp1")
    try:
        os.write(master, b"before\n")
        assert b"before" in _read_until(board, b"before")
        _stop(first)  # the exporter went away, and its ser2net with it
        deadline = time.monotonic() + 10
        with pytest.raises(SourceGone):
            while time.monotonic() < deadline:
                board.read(timeout=0.2)
        death = board.describe_death()
        assert f"board main on place bp1 (ser2net at 127.0.0.1:{port} (rfc2217)) was lost: " \
               "SerialException: connection failed" in death, death
        assert "labgrid-client -p bp1 -v resources" in board.death_advice()
        with pytest.raises(SourceGone):  # not read again until the next power-on
            board.read(timeout=0.2)
        with pytest.raises(BoardDied, match="cannot write to the console: the console "
                                            "connection of board main on place bp1"):
            board.write(b"x")
        # the exporter is back: the place's port has another ser2net, on another port
        second, resource.port = _ser2net(os.ttyname(slave))
        board.power_on()
        assert switch.calls == ["off", "on"]  # switched off first: its state was unknown
        assert board.console_lost is None
        os.write(master, b"after\n")
        assert b"after" in _read_until(board, b"after")
        board.write(b"typed")
        got = b""
        while len(got) < 5:
            got += os.read(master, 5)
        assert got == b"typed"
        # lost again, and nothing comes back: power-on fails within reconnect_timeout
        _stop(second)
        with pytest.raises(SourceGone):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                board.read(timeout=0.2)
        board.reconnect_timeout = 1.0
        started = time.monotonic()
        with pytest.raises(BoardDied) as raised:
            board.power_on()
        assert time.monotonic() - started < 10
        assert raised.value.phase == "boot"
        assert f"the console of board main on place bp1 (ser2net at 127.0.0.1:{resource.port} " \
               "(rfc2217)) was lost (SerialException: connection failed" in raised.value.message
        assert "could not be opened again within 1 s: SerialException: [Errno 111] " \
               "Connection refused" in raised.value.message
        assert switch.calls == ["off", "on", "off"]  # not switched on without a console
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                _stop(proc)
        target.deactivate(serial)
        os.close(master)
        os.close(slave)


def test_a_power_switch_error_shows_what_the_switch_answered() -> None:
    """A rack board whose QEMU cannot start: the switch answers 500 with QEMU's log tail,
    and the error shows that answer (requests' HTTPError says only the status)."""
    import requests

    class RefusingSwitch:
        port = None

        def on(self) -> None:
            answer = requests.Response()
            answer.status_code = 500
            answer._content = b"QEMU exited at once with status 1: qemu: could not load kernel"
            raise requests.HTTPError("500 Server Error: Internal Server Error for url: "
                                     "http://127.0.0.1:1/outlet/1", response=answer)

    board = LabgridBoard(RefusingSwitch(), object(), name="main on place bp1")
    with pytest.raises(BoardDied) as info:
        board.power_on()
    message = info.value.message
    assert message.startswith("power-on of board main on place bp1 failed: HTTPError(")
    assert "the switch answered: QEMU exited at once with status 1: qemu: could not load " \
           "kernel" in message
    assert "console stopped answering" not in message

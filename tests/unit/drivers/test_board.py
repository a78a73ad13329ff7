"""LabgridBoard over labgrid's real SerialDriver on a pty (the far end is this test), and its
bound on power switches."""

from __future__ import annotations

import os
import threading
import time
import tty

import pytest
from labgrid import Target
from labgrid.driver import SerialDriver
from labgrid.resource import RawSerialPort

from pytest_kdump.drivers.board import LabgridBoard
from pytest_kdump.errors import BoardDied


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

"""QemuBoard against a real QEMU that stops answering, and a console flood (issue 15, items 7
and 15).

The wedged-QEMU tests start a real QEMU through labgrid's QEMUDriver (no guest kernel: the
firmware idles, which is all a monitor and a serial socket need, and starts in well under a
second) and SIGSTOP it, as a debugger, a stuck host or an overloaded machine would leave it.
Every call that could hang runs in a thread joined with a bound, so a hang fails the test.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from labgrid import Environment, Target
from labgrid.driver import QEMUDriver

from pytest_kdump.console.capture import SourceGone
from pytest_kdump.drivers.board import QemuBoard
from pytest_kdump.errors import BoardDied

WAIT = 60.0  # bound of every wait (a loaded host is slow, a hang must still fail)

ENV_YAML = """\
targets:
  main:
    drivers:
      QEMUDriver:
        qemu_bin: qemu
        machine: pc
        cpu: qemu64
        memory: 64M
        extra_args: "-accel tcg -smp 1"
tools:
  qemu: {qemu}
"""


def bounded(fn: Callable[[], Any], what: str | None = None, timeout: float = WAIT) -> Any:
    """``fn()`` in a thread: its result or exception, or a test failure (naming ``what``) if
    it hangs."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"{what or fn.__qualname__} did not return within {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def wait_for_monitor_input(child: subprocess.Popen) -> None:
    """Wait (bounded) until a command waits in the (stopped) QEMU's monitor input, its stdin."""
    deadline = time.monotonic() + WAIT
    while not struct.unpack("i", fcntl.ioctl(child.stdin, termios.FIONREAD, b"\0" * 4))[0]:
        assert time.monotonic() < deadline, f"nothing sent to QEMU's monitor within {WAIT:g} s"
        time.sleep(0.01)


def qemu_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("pytest-kdump-qmp-")]


@pytest.fixture
def qemu_board(tmp_path: Path) -> Iterator[QemuBoard]:
    """A QemuBoard over labgrid's QEMUDriver, powered on; whatever QEMU it left is killed."""
    qemu_bin = shutil.which("qemu-system-x86_64")
    if qemu_bin is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    env_file = tmp_path / "env.yaml"
    env_file.write_text(ENV_YAML.format(qemu=qemu_bin))
    env = Environment(str(env_file))
    board = QemuBoard(None, env.get_target("main").get_driver(QEMUDriver), "wedge")
    board.power_on()
    started = [board.qemu._child]
    original_power_on = board.power_on

    def power_on() -> None:  # remember every QEMU, to clean up whatever a test left
        original_power_on()
        started.append(board.qemu._child)

    board.power_on = power_on  # type: ignore[method-assign]
    try:
        yield board
    finally:
        for child in started:
            if child is not None and child.poll() is None:
                os.kill(child.pid, signal.SIGCONT)
                child.kill()
                child.wait(WAIT)
        bounded(board.power_off)
        env.cleanup()


@pytest.mark.qemu
def test_power_off_kills_a_wedged_qemu(qemu_board: QemuBoard) -> None:
    board = qemu_board
    board.off_timeout = 2.0
    child = board.qemu._child
    os.kill(child.pid, signal.SIGSTOP)
    bounded(board.power_off)
    assert child.returncode == -signal.SIGKILL  # killed and reaped: no QEMU left behind
    assert (board.qemu._child, board.qemu._clientsocket, board.qemu.status) == (None, None, 0)
    death = board.describe_death()
    assert "killed" in death and "stopped" in death and "'quit'" in death, death
    with pytest.raises(SourceGone):
        board.read(0.01)
    # the driver is back to "off": it powers on a new QEMU, which quits when asked
    board.power_on()
    fresh = board.qemu._child
    assert fresh is not None and fresh.pid != child.pid and board.alive()
    bounded(board.power_off)
    assert fresh.returncode == 0 and board.exit_code == 0
    bounded(lambda: [t.join(WAIT) for t in qemu_threads()], "the monitor workers' end")
    assert not qemu_threads()


@pytest.mark.qemu
def test_reader_runs_while_power_off_waits_for_qemu(qemu_board: QemuBoard) -> None:
    board = qemu_board
    board.off_timeout = 10 * WAIT  # power-off waits for QEMU for the whole test
    child = board.qemu._child
    os.kill(child.pid, signal.SIGSTOP)
    power_off = threading.Thread(target=board.power_off, daemon=True)
    power_off.start()
    wait_for_monitor_input(child)  # quit is sent: power-off waits for QEMU
    assert bounded(lambda: board.read(0.05), "board.read") == b""  # not locked out
    assert power_off.is_alive()
    os.kill(child.pid, signal.SIGCONT)  # QEMU answers quit and exits
    power_off.join(WAIT)
    assert not power_off.is_alive(), f"power_off did not return within {WAIT:g} s of SIGCONT"
    assert child.returncode == 0 and board.qemu.status == 0


@pytest.mark.qemu
def test_inject_nmi_to_a_wedged_qemu_fails_and_power_on_replaces_it(
        qemu_board: QemuBoard) -> None:
    board = qemu_board
    board.monitor_timeout = 2.0
    board.inject_nmi()  # a QEMU that answers takes it
    child = board.qemu._child
    os.kill(child.pid, signal.SIGSTOP)
    with pytest.raises(BoardDied) as info:
        bounded(board.inject_nmi)
    message = str(info.value)
    assert "did not answer 'inject-nmi' within 2 s" in message, message
    assert f"pid {child.pid}" in message and "stopped" in message, message
    assert "SIGSTOP" in (info.value.advice or ""), info.value.advice
    with pytest.raises(BoardDied, match="did not answer 'inject-nmi'"):
        bounded(board.inject_nmi)  # refused at once: the monitor is out of step
    # the engine takes a BoardDied as "off" and powers on: the wedged QEMU must go first
    board.power_on()
    assert child.returncode == -signal.SIGKILL
    assert board.qemu._child is not child and board.alive()
    bounded(board.inject_nmi)  # the new QEMU's monitor answers


SENDER = r"""
import socket, sys
sock = socket.socket(fileno=int(sys.argv[1]))
data = bytes(range(256)) * (int(sys.argv[2]) // 256)
for i in range(len(data)):  # one byte per send(), as QEMU writes its serial socket
    sock.send(data[i:i + 1])
"""


def test_read_takes_a_byte_per_send_flood_without_sleeping(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The cause of ~25 KB/s (bench/console): labgrid's _read sleeps 10 ms before each recv
    while QEMU, a send() per byte, fills its socket's send buffer after a few hundred bytes
    and waits. QemuBoard.read must take what is there without sleeping, byte-exact, then
    report the console gone once QEMU closed it and exited."""
    size = 64 * 1024
    ours, theirs = socket.socketpair()
    sender = subprocess.Popen([sys.executable, "-c", SENDER, str(theirs.fileno()), str(size)],
                              pass_fds=[theirs.fileno()], close_fds=True)
    theirs.close()
    ours.setblocking(False)  # as labgrid leaves QEMU's serial socket
    qemu = QEMUDriver(Target("flood"), None, qemu_bin="qemu", machine="pc", cpu="qemu64",
                      memory="64M")
    qemu._child, qemu._clientsocket, qemu.status = sender, ours, 1
    board = QemuBoard(None, qemu)

    real_sleep = time.sleep
    reader: list[threading.Thread] = []

    def sleep(seconds: float) -> None:
        if threading.current_thread() in reader:
            try:
                waiting = ours.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                waiting = b""
            assert not waiting, f"the console read slept {seconds} s while bytes waited"
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    received = bytearray()

    def read_all() -> None:
        reader.append(threading.current_thread())
        while True:
            try:
                received.extend(board.read(0.05))
            except SourceGone:
                return

    try:
        bounded(read_all)
    finally:
        sender.kill()
        sender.wait(WAIT)
        ours.close()
    assert received == bytes(range(256)) * (size // 256)

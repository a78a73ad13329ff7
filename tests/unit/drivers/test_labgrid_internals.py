"""The labgrid internals pytest-kdump relies on still exist and mean what it thinks.

Every private labgrid attribute pytest-kdump reads is listed in ``drivers/board.py``
(:data:`CONSOLE_INTERNALS`, :data:`QEMU_INTERNALS`); the one it writes on strategies is
``broken`` (``drivers/strategy.py``: :func:`clear_broken`). A labgrid upgrade that changes one
of them fails here rather than on a board.
"""

from __future__ import annotations

import inspect
import socket
import subprocess

import pytest
from labgrid import Target
from labgrid.driver import QEMUDriver, SerialDriver
from labgrid.driver.consoleexpectmixin import ConsoleExpectMixin
from labgrid.strategy import Strategy, StrategyError, never_retry
from labgrid.util.qmp import QMPMonitor

from pytest_kdump.console.capture import SourceGone
from pytest_kdump.drivers.board import (
    CONSOLE_INTERNALS,
    QEMU_INTERNALS,
    SERIAL_INTERNALS,
    LabgridBoard,
    QemuBoard,
    make_board,
)
from pytest_kdump.drivers.strategy import clear_broken
from pytest_kdump.engine.board import NmiBoard


@pytest.fixture
def qemu() -> QEMUDriver:
    """A QEMUDriver as labgrid creates it, never activated (no QEMU runs)."""
    return QEMUDriver(Target("internals"), None, qemu_bin="qemu", machine="pc", cpu="qemu64",
                      memory="64M")


def test_qemu_driver_has_what_qemuboard_reads(qemu: QEMUDriver) -> None:
    for name in set(QEMU_INTERNALS) - {"qmp", "_cmd"}:  # set by on() and on_activate()
        assert hasattr(qemu, name), f"labgrid's QEMUDriver has no {name} any more"
    # fast mode: on() starts QEMU with the command line on_activate() made, stopped (-S),
    # and sends cont (which only marks a guest waiting for its -incoming state to run)
    activate = inspect.getsource(QEMUDriver.on_activate)
    assert "self._cmd = self.get_qemu_base_args()" in activate
    assert 'self._cmd.append("-S")' in activate
    assert "subprocess.Popen(\n            self._cmd," in inspect.getsource(QEMUDriver.on)
    assert 'self.monitor_command("cont")' in inspect.getsource(QEMUDriver.on)
    assert (qemu._child, qemu._socket, qemu._clientsocket, qemu.status) == (None, None, None, 0)
    # what they mean: on() starts _child, accepts _clientsocket on _socket, sets status
    on = inspect.getsource(QEMUDriver.on)
    for needle in ("self._child = subprocess.Popen", "self._clientsocket, address = "
                   "self._socket.accept()", "self.status = 1"):
        assert needle in on
    assert "self.status = 0" in inspect.getsource(QEMUDriver.off)
    # QemuBoard sends monitor commands through qmp.execute (monitor_command is a @step: not
    # from a worker thread), and powers off by itself: deactivation must not quit again
    assert "self.qmp = QMPMonitor(" in on
    assert list(inspect.signature(QMPMonitor.execute).parameters) == ["self", "command",
                                                                      "arguments"]
    assert "if self.status:" in inspect.getsource(QEMUDriver.on_deactivate)
    assert "self._clientsocket" in inspect.getsource(QEMUDriver._read)


def test_console_drivers_have_unlogged_io() -> None:
    for cls in (QEMUDriver, SerialDriver):
        for name in CONSOLE_INTERNALS:
            assert callable(getattr(cls, name, None)), f"{cls.__name__} has no {name}"
    assert "self._read(" in inspect.getsource(ConsoleExpectMixin.read)
    assert "self._write(" in inspect.getsource(ConsoleExpectMixin.write)


def test_serial_driver_keeps_its_pyserial_port_in_serial() -> None:
    """LabgridBoard reads SerialDriver's port itself (SERIAL_INTERNALS): labgrid makes it in
    __attrs_post_init__, a pyserial Serial (rfc2217's for a NetworkSerialPort)."""
    init = inspect.getsource(SerialDriver.__attrs_post_init__)
    for name in SERIAL_INTERNALS:
        assert f"self.{name} = serial.Serial()" in init
    assert "self.serial = serial.rfc2217.Serial()" in init
    assert "self.serial.timeout = timeout" in inspect.getsource(SerialDriver._read)


def test_serial_driver_on_activate_opens_the_port_its_resource_names_now() -> None:
    """LabgridBoard._reconnect closes a lost SerialDriver and calls on_activate again: it must
    take the address from the resource at each call (an exporter restarted serves the place
    on another port) and open the port."""
    activate = inspect.getsource(SerialDriver.on_activate)
    assert "host, port = proxymanager.get_host_and_port(self.port)" in activate
    assert "self.open()" in activate
    assert "self.status = 0" in inspect.getsource(SerialDriver.close)


def test_qemuboard_on_a_qemu_driver(qemu: QEMUDriver) -> None:
    board = make_board(None, qemu, "vm")
    assert isinstance(board, QemuBoard) and isinstance(board, NmiBoard)
    assert board.power is qemu and board.power_control  # QEMUDriver is its own power
    assert not board.alive() and board.describe_death() == "QEMU is not running"
    with pytest.raises(SourceGone):
        board.read(0.01)

    # QEMU exited by itself (the crash kernel powered off): reaped back to "off"
    qemu._child = subprocess.Popen(["sh", "-c", "exit 3"])
    qemu._child.wait()
    qemu._clientsocket, other = socket.socketpair()
    qemu.status = 1
    assert not board.alive()
    assert board.describe_death() == "QEMU exited with code 3 (see its stderr above)"
    board.power_off()  # nothing to quit: QEMU is gone
    assert (qemu._child, qemu._clientsocket, qemu.status, board.exit_code) == (None, None, 0, 3)
    assert board.describe_death() == "QEMU exited with code 3 (see its stderr above)"
    other.close()


def test_labgridboard_is_not_an_nmi_board() -> None:
    board = make_board(None, object(), "serial")
    assert type(board) is LabgridBoard and not isinstance(board, NmiBoard)


def test_never_retry_keeps_what_broke_a_strategy_in_broken() -> None:
    class Once(Strategy):
        @never_retry
        def transition(self, status: str) -> str:
            if status == "bad":
                raise ValueError(status)
            return status

    strategy = Once(Target("strategy"), None)
    assert strategy.broken is None
    with pytest.raises(StrategyError):
        strategy.transition("bad")
    assert isinstance(strategy.broken, ValueError), "never_retry no longer sets .broken"
    with pytest.raises(StrategyError):
        strategy.transition("good")  # refused while broken
    clear_broken(strategy)
    assert strategy.transition("good") == "good"

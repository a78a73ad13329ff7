"""labgrid drivers as the engine's :class:`~pytest_kdump.engine.board.Board`.

:class:`LabgridBoard` adapts a labgrid PowerProtocol driver (optional) and a ConsoleProtocol
driver (SerialDriver, ...) to the engine's Board; :class:`QemuBoard` does the same for a
QEMUDriver, which is both, and needs care that only it knows. :func:`make_board` picks one.

labgrid has no public API for some of what is needed here; every private attribute read is
listed in :data:`CONSOLE_INTERNALS` or :data:`QEMU_INTERNALS`, and
``tests/unit/drivers/test_labgrid_internals.py`` fails when a labgrid release drops one.
"""

from __future__ import annotations

import threading

import pexpect
from labgrid.driver import QEMUDriver
from labgrid.protocol import ConsoleProtocol, PowerProtocol

from pytest_kdump.console.capture import SourceGone
from pytest_kdump.errors import BoardDied, ConfigError

# labgrid's console drivers (ConsoleExpectMixin) do their I/O in _read/_write; their public
# read()/write() are logged @steps, and labgrid's step stack is not thread-safe: the capture
# thread reads through _read, and writes go through _write outside the step log.
CONSOLE_INTERNALS = ("_read", "_write")

# QEMUDriver state that QemuBoard reads and resets (no public API: QEMU exiting by itself,
# e.g. after the crash kernel powers off, is not something labgrid expects):
#   _child         the QEMU process (poll() tells whether it exited)
#   _clientsocket  the accepted serial socket (closed and cleared when QEMU exited)
#   _socket        the listening serial socket (labgrid accepts on it without a timeout)
#   status         1 while labgrid takes QEMU as running (reset to 0 when it exited)
QEMU_INTERNALS = ("_child", "_clientsocket", "_socket", "status")

NO_POWER_ADVICE = (
    "bind a PowerProtocol driver to the target in the env YAML, before KdumpConsoleDriver: "
    "NetworkPowerDriver (a PDU), ExternalPowerDriver (your own on/off commands) or "
    "ManualPowerDriver (labgrid asks you to switch the board); or bring the board to a shell "
    "prompt on its console (auto-login, KdumpDriver's prompt matching it) before the tests")


class LabgridBoard:
    """A labgrid console driver and, optionally, a power driver.

    Without a power driver (``power_control`` False) nothing can switch the board: the engine
    uses it while it answers at a shell, :meth:`power_off` does nothing and :meth:`power_on`
    raises a ConfigError saying which driver to bind.
    """

    _power_advice = "check the power driver and its connection (see the error above)"

    def __init__(self, power: PowerProtocol | None, console: ConsoleProtocol,
                 name: str = "board") -> None:
        self.power = power
        self.console = console
        self.name = name
        self._lock = threading.Lock()

    @property
    def power_control(self) -> bool:
        return self.power is not None

    def power_on(self) -> None:
        if self.power is None:
            raise ConfigError(
                f"cannot power on board {self.name!r}: no PowerProtocol driver is bound to "
                "KdumpConsoleDriver (without one, pytest-kdump uses the board only while it "
                "answers at a shell on its console)", phase="boot", advice=NO_POWER_ADVICE)
        with self._lock:
            self._before_power_on()
            try:
                self.power.on()
            except Exception as exc:  # labgrid raises plain errors (IOError, timeouts...)
                raise BoardDied(f"power-on failed: {exc!r}. {self.describe_death()}",
                                phase="boot", advice=self._power_advice) from exc

    def _before_power_on(self) -> None:
        """Hook for boards that need care before power-on (under the lock)."""

    def power_off(self) -> None:
        if self.power is None:
            return  # nothing can switch it off: the board keeps running
        with self._lock:
            self.power.off()

    def read(self, timeout: float) -> bytes:
        with self._lock:
            self._check_readable()
            read = getattr(self.console, "_read", None) or self.console.read
            try:
                data = read(size=4096, timeout=timeout)
            except pexpect.TIMEOUT:
                return b""
            except (OSError, EOFError) as exc:
                raise SourceGone() from exc
            if not data and not self.alive():
                raise SourceGone()
            return data

    def _check_readable(self) -> None:
        """Raise SourceGone when the console cannot be read now (under the lock)."""

    def write(self, data: bytes) -> None:
        if not self.alive():
            raise BoardDied(f"cannot write to the console: {self.describe_death()}")
        write = getattr(self.console, "_write", None) or self.console.write
        while data:
            sent = write(data)
            data = data[sent:] if isinstance(sent, int) and sent > 0 else b""

    def alive(self) -> bool:
        return True

    def describe_death(self) -> str:
        return "the console stopped answering"


class QemuBoard(LabgridBoard):
    """A QEMUDriver (power and console in one): copes with QEMU exiting by itself, bounds
    labgrid's wait for QEMU's serial connection, and sends NMIs through QEMU's monitor."""

    _power_advice = ("check the QEMU command line and its stderr above (image paths, memory, "
                     "-accel)")

    def __init__(self, power: PowerProtocol | None, qemu: QEMUDriver,
                 name: str = "board") -> None:
        super().__init__(power or qemu, qemu, name)  # a QEMUDriver is its own power driver
        self.qemu = qemu
        self.exit_code: int | None = None

    def _before_power_on(self) -> None:
        self._reap()
        # labgrid accepts QEMU's serial connection without a timeout: bound it
        if self.qemu._socket is not None:
            self.qemu._socket.settimeout(30)

    def power_off(self) -> None:
        with self._lock:
            if self._reap():
                return
            try:
                self.power.off()
            except Exception:
                if not self._reap():
                    raise

    def _reap(self) -> bool:
        """Bring a QEMUDriver whose process exited back to 'off'; True if it had exited."""
        qemu = self.qemu
        child = qemu._child
        if child is None or child.poll() is None:
            return False
        self.exit_code = child.returncode
        if qemu._clientsocket is not None:
            qemu._clientsocket.close()
            qemu._clientsocket = None
        qemu._child = None
        qemu.status = 0
        return True

    def _check_readable(self) -> None:
        if not self.qemu.status or self.qemu._clientsocket is None:
            raise SourceGone()  # QEMU is off (whoever switched it off)

    def alive(self) -> bool:
        child = self.qemu._child
        return child is not None and child.poll() is None

    def inject_nmi(self) -> None:
        """Send an NMI to the guest (QEMU monitor's inject-nmi)."""
        self.qemu.monitor_command("inject-nmi")

    def describe_death(self) -> str:
        child = self.qemu._child
        code = child.poll() if child is not None else self.exit_code
        if code is None:
            return "QEMU is not running"
        return f"QEMU exited with code {code} (see its stderr above)"


def make_board(power: PowerProtocol | None, console: ConsoleProtocol,
               name: str = "board") -> LabgridBoard:
    """The Board for a target's power driver (None if none is bound) and console driver."""
    if isinstance(console, QEMUDriver):
        return QemuBoard(power, console, name)
    return LabgridBoard(power, console, name)

"""labgrid integration: ``KdumpConsoleDriver``, a console that keeps every byte.

It is the only reader of the board's real console (QEMUDriver, SerialDriver...): a background
thread captures everything into the session log, feeds crash detection, and hands each client
(labgrid's ShellDriver, pytest-kdump's KdumpDriver) its own copy of the stream. labgrid's own
console drivers let one client at a time read; this one lets several read the same bytes.

    KdumpConsoleDriver:
      name: kdump-console        # ShellDriver: {bindings: {console: kdump-console}}
      log_dir: null              # session logs (default: $LG_KDUMP_RUN/console)

It binds the target's console driver and, if there is one, its power driver (declare that
before KdumpConsoleDriver). Without a power driver the board is used while it answers at a
shell; powering it on is an error saying which driver to bind (see
:class:`~pytest_kdump.drivers.board.LabgridBoard`).
"""

from __future__ import annotations

import os
import queue
import tempfile
from pathlib import Path
from typing import Any

import attr
import pexpect
from labgrid.driver import Driver
from labgrid.driver.consoleexpectmixin import ConsoleExpectMixin
from labgrid.factory import target_factory
from labgrid.protocol import ConsoleProtocol

from pytest_kdump.console.capture import END_OF_STREAM, ConsoleCapture, Subscription
from pytest_kdump.drivers.board import LabgridBoard, make_board, place_of


@target_factory.reg_driver
@attr.s(eq=False)
class KdumpConsoleDriver(ConsoleExpectMixin, Driver, ConsoleProtocol):
    """Captures a console in the background and shares it between several clients.

    While active, ``board`` is the engine's view of the bound drivers (a
    :class:`~pytest_kdump.drivers.board.QemuBoard` for a QEMUDriver) and ``capture`` the
    :class:`~pytest_kdump.console.capture.ConsoleCapture` reading it.
    """

    bindings = {"console": "ConsoleProtocol", "power": {"PowerProtocol", None}}

    log_dir = attr.ib(default=None, validator=attr.validators.optional(
        attr.validators.instance_of(str)))
    txdelay = attr.ib(default=0.0, validator=attr.validators.instance_of(float))
    txchunk = attr.ib(default=1, validator=attr.validators.instance_of(int))
    linesep = attr.ib(default="\n", validator=attr.validators.instance_of(str))
    # seconds for the power driver to switch the board (a network switch that does not
    # answer); not used with a QEMUDriver, which QemuBoard bounds itself
    power_timeout = attr.ib(default=60.0, converter=float)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.capture: ConsoleCapture | None = None
        self.board: LabgridBoard | None = None
        self._queue: Subscription | None = None
        self._pending = b""

    def on_activate(self) -> None:
        folder = Path(self.log_dir) if self.log_dir else self._default_log_dir()
        name = self.target.name if self.target else "board"
        place = place_of(self.target)
        self.board = make_board(self.power, self.console,
                                name=f"{name} on place {place}" if place else name)
        if self.board.power_timeout is not None:
            self.board.power_timeout = self.power_timeout
        self.capture = ConsoleCapture(self.board.read, folder, auto_resume=True)
        self.capture.resume()

    def on_deactivate(self) -> None:
        if self.capture is not None and self._queue is not None:
            self.capture.unsubscribe(self._queue)
        self._queue = None
        if self.capture is not None:
            self.capture.close()
            self.capture = None

    @staticmethod
    def _default_log_dir() -> Path:
        run = os.environ.get("LG_KDUMP_RUN")
        return Path(run) / "console" if run else Path(tempfile.mkdtemp(prefix="kdump-console-"))

    def resolve_conflicts(self, client: Any) -> None:
        """Every client gets the whole stream: nobody is deactivated."""

    # ConsoleExpectMixin's read()/expect() for labgrid clients (ShellDriver...)
    def _read(self, size: int = 1, timeout: float = 0.0, max_size: int | None = None) -> bytes:
        limit = max_size or 4096
        if self._queue is None:  # the first labgrid client read: its stream starts now
            self._queue = self.capture.subscribe()
        if not self._pending:
            try:
                item = self._queue.get(timeout=timeout) if timeout else self._queue.get_nowait()
            except queue.Empty:
                raise pexpect.TIMEOUT(f"Timeout of {timeout:.2f} seconds exceeded") from None
            if item is END_OF_STREAM:  # labgrid consoles have no EOF: the board is off
                raise pexpect.TIMEOUT("console closed (board off)")
            self._pending = item
        data, self._pending = self._pending[:limit], self._pending[limit:]
        return data

    def _write(self, data: bytes) -> int:
        self.board.write(data)
        return len(data)

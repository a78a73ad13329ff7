"""labgrid drivers as the engine's :class:`~pytest_kdump.engine.board.Board`.

:class:`LabgridBoard` adapts any labgrid target's PowerProtocol and ConsoleProtocol drivers
(QEMUDriver, SerialDriver with a PDU...) to the engine's Board.
"""

from __future__ import annotations

import threading
from typing import Any

import pexpect

from pytest_kdump.console.capture import SourceGone
from pytest_kdump.errors import BoardDied


class LabgridBoard:
    """A labgrid power driver and console driver (one QEMUDriver can be both)."""

    def __init__(self, power: Any, console: Any, name: str = "board") -> None:
        self.power = power
        self.console = console
        self.name = name
        self._lock = threading.Lock()

    @property
    def _qemu(self) -> Any | None:
        """The QEMUDriver, when the console is one (it needs special care)."""
        return self.console if type(self.console).__name__ == "QEMUDriver" else None

    def power_on(self) -> None:
        qemu = self._qemu
        with self._lock:
            if qemu is not None:
                self._reap_qemu()
                # labgrid accepts QEMU's serial connection without a timeout: bound it
                if getattr(qemu, "_socket", None) is not None:
                    qemu._socket.settimeout(30)
            try:
                self.power.on()
            except Exception as exc:  # labgrid raises plain errors (IOError, timeouts...)
                raise BoardDied(f"power-on failed: {exc!r}. {self.describe_death()}",
                                phase="boot",
                                advice="check the QEMU command line and its stderr above "
                                       "(image paths, memory, -accel)") from exc

    def power_off(self) -> None:
        with self._lock:
            if self._qemu is not None and self._reap_qemu():
                return
            try:
                self.power.off()
            except Exception:
                if self._qemu is None or self._reap_qemu() is False:
                    raise

    def _reap_qemu(self) -> bool:
        """Bring a QEMUDriver whose process exited back to 'off'; True if it had exited."""
        qemu = self._qemu
        child = getattr(qemu, "_child", None)
        if child is None or child.poll() is None:
            return False
        self.exit_code = child.returncode
        if qemu._clientsocket is not None:
            qemu._clientsocket.close()
            qemu._clientsocket = None
        qemu._child = None
        qemu.status = 0
        return True

    def read(self, timeout: float) -> bytes:
        with self._lock:
            qemu = self._qemu
            if qemu is not None and (not qemu.status or qemu._clientsocket is None):
                raise SourceGone()  # QEMU is off (whoever switched it off)
            # labgrid's read() is a logged @step, and its step stack is not thread-safe:
            # the capture thread calls the drivers' underlying _read() instead.
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

    def write(self, data: bytes) -> None:
        if not self.alive():
            raise BoardDied(f"cannot write to the console: {self.describe_death()}")
        # like read(): the underlying _write, outside labgrid's step log (its serial logger
        # fails on a console that only ever writes there); our capture logs everything
        write = getattr(self.console, "_write", None) or self.console.write
        while data:
            sent = write(data)
            data = data[sent:] if isinstance(sent, int) and sent > 0 else b""

    def alive(self) -> bool:
        qemu = self._qemu
        if qemu is None:
            return True
        child = getattr(qemu, "_child", None)
        return child is not None and child.poll() is None

    @property
    def nmi_supported(self) -> bool:
        return self._qemu is not None

    def inject_nmi(self) -> None:
        """Send an NMI to the board (QEMU's monitor); boards without a way raise."""
        if self._qemu is None:
            raise NotImplementedError("NMI injection needs QEMU (its monitor's inject-nmi)")
        self._qemu.monitor_command("inject-nmi")

    def describe_death(self) -> str:
        qemu = self._qemu
        if qemu is None:
            return "the console stopped answering"
        child = getattr(qemu, "_child", None)
        code = child.poll() if child is not None else getattr(self, "exit_code", None)
        if code is None:
            return "QEMU is not running"
        return f"QEMU exited with code {code} (see its stderr above)"

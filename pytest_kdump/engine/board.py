"""What the engine needs from a board: power, a byte console, commands, file copies.

:class:`Board` is power and console; :class:`NmiBoard` a board that can also receive an NMI
from the host. :class:`CommandRunner` runs shell commands on the board and :class:`FileCopier`
copies files to it: by default the console's shell (:class:`~pytest_kdump.console.shell.Shell`)
and a base64 copy over it (:class:`~pytest_kdump.console.transfer.ConsoleCopy`);
:mod:`pytest_kdump.drivers` adapts labgrid's drivers to all four. Nothing here knows labgrid
or QEMU.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pytest_kdump.console.shell import CommandResult


class Board(Protocol):
    """Power and console of one device under test.

    A board may also have ``power_control`` (bool, default True): False when nothing can
    switch it on or off (no PDU), so the engine takes it as it finds it.
    """

    name: str

    def power_on(self) -> None:
        """Switch the board on (raise a KdumpError saying why if it cannot)."""
        ...

    def power_off(self) -> None:
        """Switch the board off (do nothing if it cannot be switched off)."""
        ...

    def read(self, timeout: float) -> bytes:
        """Bytes from the console (``b""`` if none); raises SourceGone when it is gone."""
        ...

    def write(self, data: bytes) -> None: ...

    def alive(self) -> bool:
        """False when the board is known to be gone (QEMU exited)."""
        ...

    def describe_death(self) -> str:
        """Why the board is gone, for error messages."""
        ...


@runtime_checkable
class NmiBoard(Protocol):
    """A board the host can send an NMI to (QEMU's monitor)."""

    def inject_nmi(self) -> None: ...


class CommandRunner(Protocol):
    """Runs shell commands on the board."""

    def wait_ready(self, timeout: float) -> None:
        """Return once commands can run; raise ``pexpect.TIMEOUT`` (or ``pexpect.EOF`` when
        the console went away) if not within ``timeout`` seconds."""
        ...

    def run(self, command: str, timeout: float = 30,
            abort: Sequence[re.Pattern[str]] | None = None,
            confirm: Sequence[re.Pattern[str]] | None = None) -> CommandResult:
        """Run ``command``: its output and exit code. Raise
        :class:`~pytest_kdump.console.shell.ShellAborted` if one of the ``abort`` patterns
        (a kernel crash) shows on the console first, ``pexpect.TIMEOUT`` after ``timeout``.
        With ``confirm`` patterns (the kernel going down), abort text is a crash only if one
        of them follows or the command does not finish: a command that finishes printed it."""
        ...


class FileCopier(Protocol):
    """Copies host files to the board."""

    def put(self, local: Path, remote: str) -> None:
        """Copy the host file ``local`` to ``remote`` on the board (a KdumpError if it fails)."""
        ...

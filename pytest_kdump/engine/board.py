"""The board as the kdump engine sees it: power and a byte console.

:class:`Board` is what the engine needs; :mod:`pytest_kdump.drivers.board` adapts a labgrid
target's drivers to it. Nothing here knows labgrid or QEMU.
"""

from __future__ import annotations

from typing import Protocol


class Board(Protocol):
    """Power and console of one device under test."""

    name: str

    def power_on(self) -> None: ...

    def power_off(self) -> None: ...

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

    def inject_nmi(self) -> None:
        """Send an NMI (raise NotImplementedError if the board cannot)."""
        ...

"""Vmcore transports: how the dump gets from the crash kernel's target to the host.

One module per transport, chosen by name (:func:`by_name`):

- ``disk-image`` (:mod:`.disk_image`): QEMU's ext4 dump disk, read on the host with debugfs;
- ``ssh`` (:mod:`.ssh`): the dump on the board's disk (kdump-tools' ``/var/crash``), fetched
  over SSH after the board is back;
- ``netcat`` (:mod:`.netcat`): the crash kernel streams the dump to a listener on this host;
- ``serial`` (:mod:`.serial`): no network: the crash kernel prints the crashed kernel's dmesg
  on the console, and that log is the whole result (no vmcore).

Flattened dumps (``makedumpfile -F``) are rebuilt by :mod:`.flattened`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol

from pytest_kdump.errors import ConfigError


@dataclass
class FetchedDump:
    """The files fetched after a crash: the vmcore (None for a dmesg-only transport), the
    crashed kernel's dmesg, the transport's status (``size``...)."""

    vmcore: Path | None
    dmesg: Path | None
    status: dict[str, str]

    @property
    def expected_size(self) -> int | None:
        size = self.status.get("size")
        return int(size) if size and size.isdigit() else None


DEFAULT_FETCH_TIMEOUT = 600.0
"""Seconds a whole fetch may take when the caller gives no timeout."""


class VmcoreTransport(Protocol):
    """Prepares the dump target before a crash and fetches the dump after it.

    ``fetch`` copies the dump into the folder ``dest`` within ``timeout`` seconds for the
    whole fetch (:data:`DEFAULT_FETCH_TIMEOUT` when None), else raises PhaseTimeout with phase
    ``fetch``. Files get their final names only once complete: after a failure no file of
    this fetch (nor a stale one of an earlier fetch) is left under a final name.

    Optional methods the engine calls when a transport has them: ``before_crash(run)`` just
    before a trigger (``run`` runs a board command); ``kernel_args()``, what the crash kernel
    must be told (added to an ``arm:`` command line); ``take_console(text)``, the crash
    kernel's console text up to the saver's success line, before ``fetch`` (``serial``).
    """

    needs_board: bool
    """Whether the board must be back at a shell for the fetch (``ssh``); otherwise the dump
    is fetched as soon as the saver reports it saved."""

    def prepare(self) -> None: ...

    def fetch(self, dest: Path, timeout: float | None = None) -> FetchedDump: ...


NAMES = ("disk-image", "ssh", "netcat", "serial")


def by_name(name: str) -> type[Any]:
    """The transport class called ``name`` (its module's ``TRANSPORT``)."""
    if name not in NAMES:
        raise ConfigError(f"unknown vmcore transport {name!r}",
                          advice=f"use one of: {', '.join(NAMES)}")
    return import_module(f"{__name__}.{name.replace('-', '_')}").TRANSPORT

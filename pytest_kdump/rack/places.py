"""Places for a test run: one per pytest-xdist worker, acquired for the run, released after.

``--kdump-places p1,p2`` (ini ``kdump_places``) lists the places; the xdist controller hands
each worker starting a free one (a run without xdist takes the first). The place is acquired
with ``labgrid-client`` before labgrid reads the env YAML (whose ``RemotePlace`` names
``$LG_PLACE``), and released when the worker ends. A worker that crashes cannot release its
place: the controller does it when it sees the worker go down (if the worker had acquired
it), and hands it to the replacement worker.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from pytest_kdump.errors import ConfigError
from pytest_kdump.rack.control import RackError, client
from pytest_kdump.rack.spec import DEFAULT_PORT


def parse_places(value: str | list[str] | None) -> list[str]:
    """``"p1,p2"`` or ``["p1", "p2"]`` (ini lines) -> ``["p1", "p2"]``; names checked."""
    if not value:
        return []
    items = value if isinstance(value, list) else [value]
    places = [p.strip() for item in items for p in item.split(",") if p.strip()]
    for p in places:
        if not re.fullmatch(r"[A-Za-z0-9][\w.+-]*", p):
            raise ConfigError(f"--kdump-places: {p!r} is not a place name",
                              advice="labgrid place names are letters, digits and . _ + -; "
                                     "give them comma-separated: --kdump-places bp1,bp2")
    if len(set(places)) != len(places):
        raise ConfigError(f"--kdump-places lists a place twice: {','.join(places)}",
                          advice="each worker needs a board of its own")
    return places


def no_free_place(places: list[str], worker: str | None) -> ConfigError:
    """The error for an xdist worker that finds every place taken by the others."""
    return ConfigError(f"xdist worker {worker} has no place: --kdump-places lists "
                       f"{len(places)} ({', '.join(places)})", phase="rack",
                       advice=f"run at most {len(places)} workers (-n {len(places)}), "
                              "or list more places")


class PlaceBook:
    """The xdist controller's book of places: which are free for a worker starting, and
    which a worker holds (each worker marks the place it acquired with a file in
    :attr:`marks`, so that a dead worker's place is released only if it had it)."""

    def __init__(self, places: list[str]) -> None:
        self.free = list(places)
        self.marks = Path(tempfile.mkdtemp(prefix="pytest-kdump-places-"))

    def take(self) -> str | None:
        return self.free.pop(0) if self.free else None

    def give_back(self, place: str) -> None:
        if place not in self.free:
            self.free.append(place)

    def held(self, place: str) -> bool:
        return (self.marks / place).exists()

    def unmark(self, place: str) -> None:
        self.unmark_in(self.marks, place)

    @staticmethod
    def unmark_in(marks: Path, place: str) -> None:
        (marks / place).unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.marks, ignore_errors=True)


def mark_held(marks: Path, place: str) -> None:
    """A worker's note to the controller: it holds ``place``."""
    (marks / place).touch()


def coordinator_address(option: str | None) -> str:
    """``--lg-coordinator``, else ``$LG_COORDINATOR``, else labgrid's default."""
    return option or os.environ.get("LG_COORDINATOR") or f"127.0.0.1:{DEFAULT_PORT}"


def acquire(place: str, coordinator: str) -> None:
    """Acquire ``place``; a clear ConfigError if it is taken, unknown or the coordinator is
    not there."""
    try:
        client(coordinator, "-p", place, "acquire")
    except RackError as exc:
        raise ConfigError(f"cannot acquire place {place!r} at coordinator {coordinator}: "
                          f"{exc.message.split(' failed: ', 1)[-1]}",
                          phase="rack", advice=_acquire_advice(exc.message, place,
                                                                coordinator)) from None


def _acquire_advice(said: str, place: str, coordinator: str) -> str:
    if "already acquired" in said or "acquired by" in said:
        return (f"someone holds the place: `labgrid-client -x {coordinator} -p {place} show` "
                "says who; wait for them, take another place, or, if it is a run of yours "
                f"that died, `labgrid-client -x {coordinator} -p {place} release --kick`")
    if "not found" in said or "does not exist" in said or "pattern" in said:
        return (f"the coordinator has no place {place!r}: `labgrid-client -x {coordinator} "
                "places` lists them (pytest-kdump rack up makes board-1...)")
    return (f"check that the coordinator runs at {coordinator} (--lg-coordinator, "
            "$LG_COORDINATOR; pytest-kdump rack status for the simulated rack)")


def release(place: str, coordinator: str) -> str | None:
    """Release ``place``; return why it could not be, or None."""
    try:
        client(coordinator, "-p", place, "release")
    except RackError as exc:
        return exc.message
    return None

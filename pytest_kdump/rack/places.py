"""Places for a test run: one per pytest-xdist worker, acquired for the run, released after.

``--kdump-places p1,p2`` (ini ``kdump_places``) lists the places; worker ``gwN`` takes the
N-th (a run without xdist, the first). The place is acquired with ``labgrid-client`` before
labgrid reads the env YAML (whose ``RemotePlace`` names ``$LG_PLACE``), and released when the
worker ends. A worker that crashes cannot release its place: the xdist controller does it
when it sees the worker go down, so a replacement worker can acquire it.
"""

from __future__ import annotations

import os
import re

from pytest_kdump.errors import ConfigError
from pytest_kdump.rack.control import RackError, client
from pytest_kdump.rack.spec import DEFAULT_PORT

_WORKER = re.compile(r"^gw(\d+)$")


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


def place_for(places: list[str], worker: str | None) -> str:
    """The place of xdist ``worker`` (``gw1`` -> the second), or the first without xdist."""
    index = 0
    if worker:
        m = _WORKER.match(worker)
        index = int(m.group(1)) if m else 0
    if index >= len(places):
        raise ConfigError(f"xdist worker {worker} has no place: --kdump-places lists "
                          f"{len(places)} ({', '.join(places)})",
                          advice=f"run at most {len(places)} workers (-n {len(places)}), "
                                 "or list more places")
    return places[index]


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

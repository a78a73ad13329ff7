"""The keys of pytest-kdump's labgrid drivers: labgrid drops a key its driver does not have
with a warning and uses the default; for these drivers a key they lack is an error naming the
closest one (a typo such as ``transprot: ssh``)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import attr

from pytest_kdump.errors import ConfigError

LABGRID_KEYS = frozenset({"name", "bindings", "cls"})
"""Keys labgrid itself takes for any driver."""


def driver_keys(cls: type) -> list[str]:
    """The keys an env YAML may give ``cls`` (its attrs fields), in their order."""
    return [a.name for a in attr.fields(cls) if a.init and a.name not in ("target", "state")]


def check_keys(where: str, cls: type, keys: Iterable[str]) -> None:
    """ConfigError for the first of ``keys`` that ``cls`` does not have; ``where`` names the
    env file and target."""
    known = driver_keys(cls)
    for key in keys:
        if key in known or key in LABGRID_KEYS:
            continue
        close = difflib.get_close_matches(str(key), known, n=1)
        raise ConfigError(f"{where}: {cls.__name__} has no key {key!r}"
                          + (f" (did you mean {close[0]!r}?)" if close else ""),
                          advice=f"{cls.__name__}'s keys: {', '.join(known)}")

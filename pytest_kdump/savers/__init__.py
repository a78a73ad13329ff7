"""How a crash kernel saves the vmcore, chosen by name (like labgrid's power backends by model).

Crash-kernel set-ups differ in how they report a dump saved: this project's guest init,
Debian's kdump-tools, Fedora's kdump-utils. Each is one module here defining ``SAVER``;
:func:`by_name` loads it, so supporting another distribution is one more file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import import_module

from pytest_kdump.errors import ConfigError

NAMES = ("guest-init", "kdump-tools", "kdump-utils")
ALIASES = {"pytest-kdump": "guest-init"}  # the name of guest-init before 0.2


@dataclass(frozen=True)
class Saver:
    """How a crash-kernel set-up reports success or failure of saving the vmcore.

    ``success``'s optional group ``size`` is the vmcore size in bytes; ``failure``'s group
    ``why`` its reason; ``started`` the line that says saving began.
    """

    name: str
    success: list[str]
    failure: list[str]
    started: list[str] = field(default_factory=list)

    def patterns(self) -> list[re.Pattern[str]]:
        return [re.compile(p) for p in self.success + self.failure]

    def is_success(self, index: int) -> bool:
        return index < len(self.success)


def by_name(name: str) -> Saver:
    """The saver called ``name`` (``guest-init``, ``kdump-tools``, ``kdump-utils``)."""
    name = ALIASES.get(name, name)
    if name not in NAMES:
        raise ConfigError(f"unknown saver {name!r}", advice=f"use one of: {', '.join(NAMES)}")
    return import_module(f"{__name__}.{name.replace('-', '_')}").SAVER

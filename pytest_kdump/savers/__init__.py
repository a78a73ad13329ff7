"""How a crash kernel saves the vmcore, chosen by name (like labgrid's power backends by model).

Crash-kernel set-ups differ in how they report a dump saved and how they tell they are armed:
this project's guest init, Debian's kdump-tools, Fedora's kdump-utils, a user's own ``script``
(the seed lab's: ``makedumpfile -F -c -d 31 /proc/vmcore | nc HOST PORT`` in the crash
kernel). Each is one module here defining ``SAVER``; :func:`by_name` loads it, so supporting
another distribution is one more file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import import_module

from pytest_kdump.errors import ConfigError

NAMES = ("guest-init", "kdump-tools", "kdump-utils", "script")
ALIASES = {"pytest-kdump": "guest-init"}  # the name of guest-init before 0.2


@dataclass(frozen=True)
class Saver:
    """How a crash-kernel set-up reports success or failure of saving the vmcore.

    ``success``'s optional groups: ``size``, the vmcore size in bytes; ``path``, the folder
    the dump was saved in on the board. ``failure``'s group ``why`` is its reason; ``started``
    the line that says saving began. ``status_command`` asks the saver whether it is armed
    (its output matches ``status_ready`` when it is); ``arm_advice`` says how to arm it and
    ``failure_advice`` what to check when saving failed.
    """

    name: str
    success: list[str]
    failure: list[str]
    started: list[str] = field(default_factory=list)
    status_command: str = ""
    status_ready: str = ""
    arm_advice: str = ""
    failure_advice: str = ""

    def patterns(self) -> list[re.Pattern[str]]:
        return [re.compile(p) for p in self.success + self.failure]

    def is_success(self, index: int) -> bool:
        return index < len(self.success)


def by_name(name: str) -> Saver:
    """The saver called ``name`` (``guest-init``, ``kdump-tools``, ``kdump-utils``,
    ``script``)."""
    name = ALIASES.get(name, name)
    if name not in NAMES:
        raise ConfigError(f"unknown saver {name!r}", advice=f"use one of: {', '.join(NAMES)}")
    return import_module(f"{__name__}.{name.replace('-', '_')}").SAVER

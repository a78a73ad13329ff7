"""Ways to crash the kernel under test.

A trigger knows how it fires (a shell command, or a host action such as an NMI from QEMU's
monitor), what it needs first (sysctls, files to copy to the board, board features), what the
console and the analysis should show (kind, culprit function), and how long to wait.

:mod:`~pytest_kdump.triggers.builtin` holds the triggers known by name,
:mod:`~pytest_kdump.triggers.module` those of pytest-kdump's crash module (``module:<mode>``,
which need a module built for the board's kernel); :func:`get_trigger` resolves a spec string.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from pytest_kdump.console.transfer import CONTROL_CHARS, check_remote_path
from pytest_kdump.errors import ConfigError, UnknownTrigger

# a sysctl name: kernel.core_pattern, net.ipv4.conf.eth0.rp_filter
_SYSCTL_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


@dataclass(frozen=True)
class Trigger:
    """A way to make the kernel crash.

    ``command`` is typed at the board's shell and is not expected to return; ``sysctls`` are
    set first; ``files`` (remote path, local file) are copied to the board before;
    ``host_action`` (``"nmi"``) fires from the host instead of the shell; ``requires`` names
    board features (``"nmi"``, ``"path:/some/file"``); ``kind`` is the expected console
    record kind; ``culprit`` the guilty function of the console signature and
    ``analysis_culprit`` the function expected in crash's backtrace (default: culprit).
    """

    name: str
    command: str
    sysctls: dict[str, str] = field(default_factory=dict)
    culprit: str | None = None
    timeout: float = 30.0
    kind: str | None = None
    files: tuple[tuple[str, Path], ...] = ()
    host_action: str | None = None
    requires: tuple[str, ...] = ()
    analysis_culprit: str | None = None

    def __post_init__(self) -> None:
        for key, value in self.sysctls.items():
            if not isinstance(key, str) or not _SYSCTL_KEY.fullmatch(key):
                raise ConfigError(f"trigger {self.name}: {key!r} is not a sysctl name",
                                  phase="trigger",
                                  advice="write sysctls as dotted names (kernel.panic_on_oops)")
            if CONTROL_CHARS.search(str(value)):
                raise ConfigError(f"trigger {self.name}: the value of sysctl {key} "
                                  f"({str(value)!r}) holds a line break or control character",
                                  phase="trigger", advice="a sysctl value is one line of text")
        for remote, _ in self.files:
            check_remote_path(remote, f"trigger {self.name}: the file destination",
                              phase="trigger")

    @property
    def backtrace_culprit(self) -> str | None:
        """The function expected in crash's backtrace."""
        return self.analysis_culprit or self.culprit

    def setup_commands(self, root: str = "/proc/sys") -> list[str]:
        """The shell commands that set the sysctls (files under ``root``). Values are quoted
        and written by printf, so that they arrive as they are: ``|/usr/lib/x %p``, ``-n``,
        backslashes (which some shells' echo would eat) included."""
        return [f"printf '%s\\n' {shlex.quote(str(value))} > "
                f"{shlex.quote(root + '/' + key.replace('.', '/'))}"
                for key, value in self.sysctls.items()]

    def __str__(self) -> str:
        return f"{self.name} ({self.command!r})"


# builtin.py builds Trigger objects: imported once Trigger exists.
from pytest_kdump.triggers.builtin import (  # noqa: E402
    BUILTIN,
    INIT_EXIT,
    LKDTM_DIRECT,
    NMI,
    SYSRQ,
    lkdtm,
)

__all__ = ["BUILTIN", "INIT_EXIT", "LKDTM_DIRECT", "NMI", "SYSRQ", "Trigger", "get_trigger",
           "lkdtm"]


def get_trigger(spec: str | Trigger) -> Trigger:
    """A trigger by name (``"sysrq"``), a Trigger itself, ``"cmd:<shell command>"`` (run as
    written: it is the user's own command) or ``"lkdtm:<TYPE>"`` (a ConfigError unless TYPE
    is an LKDTM crash type's name). (``"module:<mode>"`` needs a module built for the board's
    kernel: see :func:`pytest_kdump.triggers.module.module_trigger` and ``Kdump.trigger``.)"""
    if isinstance(spec, Trigger):
        return spec
    if spec.startswith("cmd:"):
        return Trigger(name="command", command=spec[4:])
    if spec.startswith("lkdtm:"):
        return lkdtm(spec[6:])
    try:
        return BUILTIN[spec]
    except KeyError:
        raise UnknownTrigger(f"unknown trigger {spec!r}; known: {', '.join(BUILTIN)}, "
                             "'module:<mode>', 'lkdtm:<TYPE>' or 'cmd:<shell command>'",
                             phase="trigger", advice="name a trigger listed") from None

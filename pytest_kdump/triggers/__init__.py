"""Ways to crash the kernel under test.

A trigger knows how it fires (a shell command, or a host action such as an NMI from QEMU's
monitor), what it needs first (sysctls, files to copy to the board, board features), what the
console and the analysis should show (kind, culprit function), and how long to wait.

:mod:`~pytest_kdump.triggers.builtin` holds the triggers known by name,
:mod:`~pytest_kdump.triggers.module` those of pytest-kdump's crash module (``module:<mode>``,
which need a module built for the board's kernel); :func:`get_trigger` resolves a spec string.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path


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

    @property
    def backtrace_culprit(self) -> str | None:
        """The function expected in crash's backtrace."""
        return self.analysis_culprit or self.culprit

    def setup_commands(self) -> list[str]:
        """The shell commands that set the sysctls."""
        return [f"echo {shlex.quote(str(value))} > "
                f"{shlex.quote('/proc/sys/' + key.replace('.', '/'))}"
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
    """A trigger by name (``"sysrq"``), a Trigger itself, ``"cmd:<shell command>"`` or
    ``"lkdtm:<TYPE>"``. (``"module:<mode>"`` needs a module built for the board's kernel: see
    :func:`pytest_kdump.triggers.module.module_trigger` and ``Kdump.trigger``.)"""
    if isinstance(spec, Trigger):
        return spec
    if spec.startswith("cmd:"):
        return Trigger(name="command", command=spec[4:])
    if spec.startswith("lkdtm:"):
        return lkdtm(spec[6:])
    try:
        return BUILTIN[spec]
    except KeyError:
        raise ValueError(f"unknown trigger {spec!r}; known: {', '.join(BUILTIN)}, "
                         "'module:<mode>', 'lkdtm:<TYPE>' or 'cmd:<shell command>'") from None

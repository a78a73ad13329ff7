"""Ways to crash the kernel under test.

A trigger knows how it fires (a shell command, or a host action such as an NMI from QEMU's
monitor), what it needs first (sysctls, files to copy to the board, board features), what the
console and the analysis should show (kind, culprit function), and how long to wait.
"""

from __future__ import annotations

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
    expect_headline: str | None = None
    culprit: str | None = None
    timeout: float = 30.0
    kind: str | None = None
    files: tuple[tuple[str, Path], ...] = ()
    host_action: str | None = None
    requires: tuple[str, ...] = ()
    analysis_culprit: str | None = None

    @property
    def backtrace_culprit(self) -> str | None:
        return self.analysis_culprit or self.culprit

    def setup_commands(self) -> list[str]:
        return [f"echo {value} > /proc/sys/{key.replace('.', '/')}"
                for key, value in self.sysctls.items()]

    def __str__(self) -> str:
        return f"{self.name} ({self.command!r})"


SYSRQ = Trigger(
    name="sysrq",
    command="echo c > /proc/sysrq-trigger",
    expect_headline=r"Kernel panic - not syncing: sysrq triggered crash",
    culprit="sysrq_handle_crash",
    kind="panic",
)

INIT_EXIT = Trigger(
    name="init-exit",
    command="touch /tmp/pytest-kdump-exit-init; exit",
    expect_headline=r"Kernel panic - not syncing: Attempted to kill init!",
    culprit="do_exit",
    # crash's unwinder is unreliable through do_exit.cold (seen: do_group_exit in one run,
    # stale frames in another): only the panic itself is asserted in the dump
    analysis_culprit="panic",
    kind="panic",
)

# An NMI from QEMU's monitor with unknown_nmi_panic: the console shows no report (the kernel
# jumps to the crash kernel), the dump's backtrace shows the NMI handler.
NMI = Trigger(
    name="nmi",
    command="",
    sysctls={"kernel.unknown_nmi_panic": "1"},
    host_action="nmi",
    requires=("nmi",),
    kind="unknown",
    analysis_culprit="unknown_nmi_error",
)

LKDTM_DIRECT = "/sys/kernel/debug/provoke-crash/DIRECT"


def lkdtm(crashtype: str, timeout: float = 30.0) -> Trigger:
    """A crash from the kernel's LKDTM (CONFIG_LKDTM), e.g. ``lkdtm("PANIC")``."""
    return Trigger(
        name=f"lkdtm:{crashtype}",
        command=f"mount -t debugfs none /sys/kernel/debug 2>/dev/null; "
                f"echo {crashtype} > {LKDTM_DIRECT}",
        requires=(f"path:{LKDTM_DIRECT}",),
        timeout=timeout,
    )


BUILTIN = {"sysrq": SYSRQ, "init-exit": INIT_EXIT, "nmi": NMI}


def get_trigger(spec: str | Trigger) -> Trigger:
    """A trigger by name (``"sysrq"``), a Trigger itself, ``"cmd:<shell command>"`` or
    ``"lkdtm:<TYPE>"``. (``"module:<mode>"`` needs the board: see ``Kdump.trigger``.)"""
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

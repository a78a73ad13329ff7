"""Ways to crash the kernel under test.

A trigger knows the shell command that fires it, the sysctls it needs first, what the console
should show, and how long to wait for the crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Trigger:
    """A way to make the kernel crash from its shell.

    ``command`` is typed at the board's shell and is not expected to return; ``sysctls`` are
    set first; ``expect_headline`` is a regular expression the crash's first console line must
    match; ``culprit`` is the function expected in the crashing task's backtrace.
    """

    name: str
    command: str
    sysctls: dict[str, str] = field(default_factory=dict)
    expect_headline: str | None = None
    culprit: str | None = None
    timeout: float = 30.0

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
)

INIT_EXIT = Trigger(
    name="init-exit",
    command="touch /tmp/pytest-kdump-exit-init; exit",
    expect_headline=r"Kernel panic - not syncing: Attempted to kill init!",
    culprit="do_exit",
)

BUILTIN = {"sysrq": SYSRQ, "init-exit": INIT_EXIT}


def get_trigger(spec: str | Trigger) -> Trigger:
    """A trigger by name (``"sysrq"``), a Trigger itself, or ``"cmd:<shell command>"``."""
    if isinstance(spec, Trigger):
        return spec
    if spec.startswith("cmd:"):
        return Trigger(name="command", command=spec[4:])
    try:
        return BUILTIN[spec]
    except KeyError:
        raise ValueError(f"unknown trigger {spec!r}; known: {', '.join(BUILTIN)}, "
                         "or 'cmd:<shell command>'") from None

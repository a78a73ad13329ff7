"""The built-in triggers: sysrq, init exiting, an NMI from the host, and the kernel's LKDTM."""

from __future__ import annotations

import re
import shlex

from pytest_kdump.errors import ConfigError
from pytest_kdump.triggers import Trigger

SYSRQ = Trigger(
    name="sysrq",
    command="echo c > /proc/sysrq-trigger",
    culprit="sysrq_handle_crash",
    kind="panic",
)

INIT_EXIT = Trigger(
    name="init-exit",
    command="touch /tmp/pytest-kdump-exit-init; exit",
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
    """A crash from the kernel's LKDTM (CONFIG_LKDTM), e.g. ``lkdtm("PANIC")``; a ConfigError
    unless ``crashtype`` is a crash type's name (capitals, digits, underscores)."""
    if not re.fullmatch(r"[A-Z][A-Z0-9_]*", crashtype):
        raise ConfigError(f"{crashtype!r} is not an LKDTM crash type", phase="trigger",
                          advice="name one in capitals, e.g. lkdtm:PANIC or lkdtm:BUG (the "
                                 "kernel's Documentation/fault-injection/provoke-crashes.rst "
                                 "lists them)")
    return Trigger(
        name=f"lkdtm:{crashtype}",
        command=f"mount -t debugfs none /sys/kernel/debug 2>/dev/null; "
                f"echo {shlex.quote(crashtype)} > {shlex.quote(LKDTM_DIRECT)}",
        requires=(f"path:{LKDTM_DIRECT}",),
        timeout=timeout,
    )


BUILTIN: dict[str, Trigger] = {"sysrq": SYSRQ, "init-exit": INIT_EXIT, "nmi": NMI}
"""The triggers known by name."""

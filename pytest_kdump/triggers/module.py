"""The triggers of pytest-kdump's crash module (``module:<mode>``).

``insmod kdump_crash.ko mode=MODE`` crashes the kernel in the way :data:`MODES` describes (the
module is built by :mod:`pytest_kdump.build.crashmod`). Not every mode works on every
architecture: :func:`check_mode` says so before the module is built, and
:func:`module_trigger` makes the trigger from the built module.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from pytest_kdump.arch import get_arch
from pytest_kdump.errors import UnknownTrigger, Unsupported
from pytest_kdump.triggers import Trigger

REMOTE_PATH = "/tmp/kdump_crash.ko"
"""Where the module is copied on the board."""

_BOTH = ("x86_64", "aarch64")
_OOPS = {"kernel.panic_on_oops": "1"}
_NULL_HEADLINE = r"BUG: kernel NULL pointer dereference|Unable to handle kernel NULL pointer " \
                 r"dereference"


@dataclass(frozen=True)
class ModuleMode:
    """What one ``mode=`` of the crash module does.

    ``culprit``: the module function the console's report names; ``kind``: the console record
    kind (:data:`pytest_kdump.detect.KINDS`); ``sysctls``: to set before loading; ``timeout``:
    seconds to wait for the crash after insmod; ``returns``: insmod returns 0 before the crash
    (timer: ~100 ms later; softlockup: the thread spins after 100 ms; hung: it sleeps at once),
    else insmod never returns; ``headline``: a regex of the report's first line;
    ``analysis_culprit``: the function crash's ``bt`` of the panicking task shows; ``task``: the
    module thread's name; ``arches``: where the mode works; ``limit``: why not elsewhere.
    """

    name: str
    culprit: str
    kind: str
    headline: str
    analysis_culprit: str
    sysctls: dict[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    returns: bool = False
    task: str | None = None
    arches: tuple[str, ...] = _BOTH
    limit: str = ""


MODES: dict[str, ModuleMode] = {m.name: m for m in (
    ModuleMode("panic", culprit="kdump_crash_panic", kind="panic",
               headline=r"Kernel panic - not syncing: kdump_crash: panic",
               analysis_culprit="kdump_crash_panic"),
    ModuleMode("bug", culprit="kdump_crash_bug", kind="bug", sysctls=dict(_OOPS),
               headline=r"kernel BUG at \S*kdump_crash\.c:\d+!",
               analysis_culprit="kdump_crash_bug"),
    ModuleMode("null", culprit="kdump_crash_null", kind="null-deref", sysctls=dict(_OOPS),
               headline=_NULL_HEADLINE, analysis_culprit="kdump_crash_null"),
    ModuleMode("warn", culprit="kdump_crash_warn", kind="warning",
               sysctls={"kernel.panic_on_warn": "1"},
               headline=r"WARNING: CPU: \d+ PID: \d+ at \S*kdump_crash",
               analysis_culprit="kdump_crash_warn"),
    ModuleMode("divide", culprit="kdump_crash_divide", kind="divide-error", sysctls=dict(_OOPS),
               headline=r"divide error: 0000", analysis_culprit="kdump_crash_divide",
               arches=("x86_64",),
               limit="integer division by zero does not trap on arm64 (the result is 0)"),
    ModuleMode("timer", culprit="kdump_crash_timer_fn", kind="null-deref", sysctls=dict(_OOPS),
               returns=True, headline=_NULL_HEADLINE, analysis_culprit="kdump_crash_timer_fn"),
    ModuleMode("softlockup", culprit="kdump_crash_spin", kind="soft-lockup",
               sysctls={"kernel.softlockup_panic": "1", "kernel.watchdog_thresh": "5"},
               timeout=90.0, returns=True, headline=r"watchdog: BUG: soft lockup - CPU#\d+ stuck",
               analysis_culprit="kdump_crash_spin", task="kcrash_spin"),
    ModuleMode("hung", culprit="kdump_crash_hang", kind="hung-task",
               sysctls={"kernel.hung_task_panic": "1", "kernel.hung_task_timeout_secs": "5"},
               timeout=60.0, returns=True,
               headline=r"INFO: task kcrash_hang:\d+ blocked for more than \d+ seconds",
               # The panic runs in khungtaskd (kernel/hung_task.c watchdog(), into which
               # check_hung_uninterruptible_tasks is inlined); the hung thread's stack
               # (with kdump_crash_hang) is "bt <pid of kcrash_hang>" and the console's report.
               analysis_culprit="watchdog", task="kcrash_hang"),
    # ud2 on x86 (outside any BUG() site), udf #0 on arm64
    ModuleMode("undef", culprit="kdump_crash_undef", kind="invalid-opcode", sysctls=dict(_OOPS),
               headline=r"invalid opcode: 0000|Internal error: Oops - [Uu]ndefined instruction",
               analysis_culprit="kdump_crash_undef"),
    # a write to 0xdead000000: mapped nowhere, above the NULL page
    ModuleMode("badaddr", culprit="kdump_crash_badaddr", kind="paging-request",
               sysctls=dict(_OOPS),
               headline=r"BUG: unable to handle page fault for address: 000000dead000000|"
                        r"Unable to handle kernel paging request at virtual address "
                        r"000000dead000000",
               analysis_culprit="kdump_crash_badaddr"),
)}
"""The crash module's modes by name."""


def supported_modes(arch: str) -> list[str]:
    """The modes that crash a kernel of ``arch`` (division by zero traps only on x86)."""
    return [name for name, mode in MODES.items() if arch in mode.arches]


def check_mode(mode: str, arch: str) -> ModuleMode:
    """The mode called ``mode``, if it can crash an ``arch`` kernel: call it before building
    the module. An unknown mode raises ValueError; an unknown architecture, or one the mode
    cannot crash (``divide`` on aarch64), a ConfigError naming the modes that work there."""
    if mode not in MODES:
        raise UnknownTrigger(f"unknown crash module mode {mode!r}; known: {', '.join(MODES)}",
                             phase="trigger", advice="use module:<mode> with a mode listed")
    get_arch(arch, phase="trigger")
    spec = MODES[mode]
    if arch not in spec.arches:
        reason = f": {spec.limit}" if spec.limit else ""
        raise Unsupported(
            f"module:{mode} cannot crash an {arch} kernel{reason}; modes for {arch}: "
            f"{', '.join(supported_modes(arch))}", phase="trigger",
            advice=f"use module:{mode} on {', '.join(spec.arches)} only")
    return spec


def module_trigger(mode: str, ko: Path, arch: str, remote: str = REMOTE_PATH) -> Trigger:
    """The trigger that copies the built module ``ko`` to ``remote`` on an ``arch`` board and
    loads it with ``mode=mode``; raises like :func:`check_mode`."""
    spec = check_mode(mode, arch)
    return Trigger(
        name=f"module:{mode}",
        command=f"insmod {shlex.quote(remote)} mode={shlex.quote(mode)}",
        sysctls=dict(spec.sysctls),
        files=((remote, Path(ko)),),
        kind=spec.kind,
        culprit=spec.culprit,
        timeout=float(spec.timeout),
        analysis_culprit=spec.analysis_culprit,
    )

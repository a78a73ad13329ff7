"""The analysis of one dump by a backend: ``crash`` (default) or ``drgn``.

:func:`start` opens the backend at once (crash loads the vmlinux in the background) and
returns a :class:`PendingAnalysis`; its ``result()`` is the :class:`~.model.Analysis`. With the
crash backend, the :class:`~.crashsession.CrashSession` stays open for more commands
(``pending.session``) until the caller closes it.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import crashparse as cp
from .crashsession import CrashSession
from .crashtool import CrashTool, known_problem
from .errors import AnalysisError, ConfigError
from .model import Analysis, Frame, Module, Task

__all__ = ["Analysis", "Frame", "Module", "Task", "BACKENDS", "DEFAULT_COMMANDS",
           "PendingAnalysis", "analyze", "from_session", "start"]

BACKENDS = ("crash", "drgn")
DEFAULT_COMMANDS = ("sys", "bt", "ps", "log", "mod")


def from_session(session: CrashSession, commands: list[str] | tuple[str, ...] = ()
                 ) -> Analysis:
    """Run ``sys, bt, ps, log, mod`` and the extra ``commands`` in an open crash session and
    build the :class:`Analysis`; every command's raw text is in ``outputs``."""
    session.wait_ready()
    outputs = {c: session.run(c) for c in dict.fromkeys([*DEFAULT_COMMANDS, *commands])}
    sysinfo = cp.parse_sys(outputs["sys"])
    if not sysinfo.release:
        raise AnalysisError(f"crash's 'sys' on {session.vmcore.name} shows no kernel release: "
                            f"{cp.command_error('sys', outputs['sys']) or outputs['sys'][:200]!r}",
                            phase="analysis", advice="see crash-session.txt in the artifacts")
    traces = cp.parse_bt(outputs["bt"])
    trace = traces[0] if traces else None
    tasks = cp.parse_ps(outputs["ps"])
    modules = cp.parse_mod(outputs["mod"])
    crashing = trace.task if trace else None
    if crashing is not None:  # ps knows more of it (state, parent, active mark) than bt
        crashing = next((t for t in tasks if (t.pid, t.task) == (crashing.pid, crashing.task)),
                        crashing)
    warnings = list(session.warnings) + list(sysinfo.warnings)
    problem = known_problem(session.crash.version, sysinfo.release)
    if problem:
        warnings.append(problem)
    return Analysis(
        kernel_release=sysinfo.release, panic_message=sysinfo.panic_message,
        crashing_task=crashing,
        # crash names no module on the exception frame: found from the modules' ranges
        backtrace=cp.resolve_modules(list(trace.frames), modules) if trace else [],
        tasks=tasks, tool_version=session.crash.version,
        seconds=round(time.monotonic() - session.started_at, 2), backend="crash",
        modules=modules, log=outputs["log"], flags=list(sysinfo.flags),
        sys=dict(sysinfo.fields), warnings=warnings, outputs=outputs)


class PendingAnalysis:
    """An analysis under way; :meth:`result` waits for it. A context manager: leaving it
    closes the crash session."""

    def __init__(self, backend: str, crash: CrashTool | None, vmlinux: Path, vmcore: Path,
                 commands: list[str], out_dir: Path | None, timeout: float,
                 start_timeout: float) -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"unknown analysis backend {backend!r}",
                              advice=f"choose one of {', '.join(BACKENDS)}")
        if backend == "drgn" and commands:
            raise ConfigError(f"crash commands {commands} need the crash backend",
                              advice="with drgn, ask crash through crash.session.run(...), "
                                     "or choose the crash backend")
        self.backend = backend
        self.vmlinux, self.vmcore, self.out_dir = Path(vmlinux), Path(vmcore), out_dir
        self.commands = commands
        self.session: CrashSession | None = None
        if backend == "crash":
            if crash is None:
                raise ConfigError("the crash backend needs a crash tool",
                                  advice="run `pytest-kdump setup-crash`")
            self.session = CrashSession(crash, vmlinux, vmcore, out_dir=out_dir,
                                        start_timeout=start_timeout, command_timeout=timeout)

    def result(self) -> Analysis:
        if self.session is not None:
            try:
                return from_session(self.session, self.commands)
            except BaseException:
                self.session.close()
                raise
        from .drgn_backend import analyze_drgn
        return analyze_drgn(self.vmlinux, self.vmcore, out_dir=self.out_dir)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()

    def __enter__(self) -> PendingAnalysis:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start(crash: CrashTool | None, vmlinux: Path, vmcore: Path,
          commands: list[str] | None = None, out_dir: Path | None = None,
          timeout: float = 300, backend: str = "crash",
          start_timeout: float | None = None) -> PendingAnalysis:
    """Open the backend on the dump; ``.result()`` waits and parses. ``commands``: crash
    commands to run besides ``sys, bt, ps, log, mod``; ``timeout`` bounds each command and,
    unless ``start_timeout`` is given, crash's start-up."""
    return PendingAnalysis(backend, crash, Path(vmlinux), Path(vmcore), list(commands or ()),
                           out_dir, timeout, start_timeout or timeout)


def analyze(crash: CrashTool | None, vmlinux: Path, vmcore: Path,
            commands: list[str] | None = None, out_dir: Path | None = None,
            timeout: float = 300, backend: str = "crash",
            start_timeout: float | None = None) -> Analysis:
    """Analyse the dump with one backend and close it."""
    with start(crash, vmlinux, vmcore, commands, out_dir, timeout, backend,
               start_timeout) as pending:
        return pending.result()

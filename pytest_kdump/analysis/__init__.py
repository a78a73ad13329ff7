"""The analysis of one dump by a backend: ``crash`` (default) or ``drgn``.

:func:`start` opens the backend at once (crash loads the vmlinux in the background) and
returns a :class:`PendingAnalysis`; its ``result()`` is the :class:`~.model.Analysis`. With the
crash backend, the :class:`~.crash.process.CrashProcess` stays open for more commands
(``pending.process``) until the caller closes it. Backends: :mod:`.crash` (the crash utility)
and :mod:`.drgn`.
"""

from __future__ import annotations

from pathlib import Path

from pytest_kdump.analysis.crash.backend import DEFAULT_COMMANDS, from_process
from pytest_kdump.analysis.crash.process import CrashProcess
from pytest_kdump.analysis.crash.tool import CrashTool, crash_for_dump
from pytest_kdump.analysis.model import Analysis, Frame, Module, Task
from pytest_kdump.errors import ConfigError
from pytest_kdump.vmcore import dump_arch

__all__ = ["Analysis", "Frame", "Module", "Task", "BACKENDS", "DEFAULT_COMMANDS",
           "PendingAnalysis", "analyze", "from_process", "start"]

BACKENDS = ("crash", "drgn")


class PendingAnalysis:
    """An analysis under way; :meth:`result` waits for it. A context manager: leaving it
    closes the crash process."""

    def __init__(self, backend: str, crash: CrashTool | None, vmlinux: Path, vmcore: Path,
                 commands: list[str], out_dir: Path | None, timeout: float,
                 start_timeout: float) -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"unknown analysis backend {backend!r}",
                              advice=f"choose one of {', '.join(BACKENDS)}")
        if backend == "drgn" and commands:
            raise ConfigError(f"crash commands {commands} need the crash backend",
                              advice="with drgn, ask crash through crash.process.run(...), "
                                     "or choose the crash backend")
        self.backend = backend
        self.vmlinux, self.vmcore, self.out_dir = Path(vmlinux), Path(vmcore), out_dir
        self.commands = commands
        self.process: CrashProcess | None = None
        if backend == "crash":
            if crash is None:
                raise ConfigError("the crash backend needs a crash tool",
                                  advice="run `pytest-kdump setup-crash`")
            # a crash reads its own architecture's dumps: the cached one for the dump's
            crash = crash_for_dump(crash, self.vmlinux, self.vmcore)
            self.process = CrashProcess(crash, vmlinux, vmcore, out_dir=out_dir,
                                        start_timeout=start_timeout, command_timeout=timeout)
        else:
            dump_arch(self.vmlinux, self.vmcore)  # a vmlinux of another architecture: error

    def result(self) -> Analysis:
        if self.process is not None:
            try:
                return from_process(self.process, self.commands)
            except BaseException:
                self.process.close()
                raise
        from pytest_kdump.analysis.drgn import analyze_drgn
        return analyze_drgn(self.vmlinux, self.vmcore, out_dir=self.out_dir)

    def close(self) -> None:
        if self.process is not None:
            self.process.close()

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

"""The crash backend: build an :class:`~pytest_kdump.analysis.model.Analysis` from a crash
process on the dump."""

from __future__ import annotations

import time

from pytest_kdump.analysis.crash import parse as cp
from pytest_kdump.analysis.crash.process import CrashProcess
from pytest_kdump.analysis.crash.tool import known_problem
from pytest_kdump.analysis.model import Analysis
from pytest_kdump.errors import AnalysisError

DEFAULT_COMMANDS = ("sys", "bt", "ps", "log", "mod")


def from_process(process: CrashProcess, commands: list[str] | tuple[str, ...] = ()
                 ) -> Analysis:
    """Run ``sys, bt, ps, log, mod`` and the extra ``commands`` in an open crash process and
    build the :class:`Analysis`; every command's raw text is in ``outputs``. An extra command
    that would escape to a shell is refused before any runs (the process's ``allow_shell``
    decides)."""
    process.check_commands(commands)
    process.wait_ready()
    outputs = {c: process.run(c) for c in dict.fromkeys([*DEFAULT_COMMANDS, *commands])}
    sysinfo = cp.parse_sys(outputs["sys"])
    if not sysinfo.release:
        raise AnalysisError(f"crash's 'sys' on {process.vmcore.name} shows no kernel release: "
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
    warnings = list(process.warnings) + list(sysinfo.warnings)
    problem = known_problem(process.crash.version, sysinfo.release)
    if problem:
        warnings.append(problem)
    return Analysis(
        kernel_release=sysinfo.release, panic_message=sysinfo.panic_message,
        crashing_task=crashing,
        # crash names no module on the exception frame: found from the modules' ranges
        backtrace=cp.resolve_modules(list(trace.frames), modules) if trace else [],
        tasks=tasks, tool_version=process.crash.version,
        seconds=round(time.monotonic() - process.started_at, 2), backend="crash",
        modules=modules, log=outputs["log"], flags=list(sysinfo.flags),
        sys=dict(sysinfo.fields), warnings=warnings, outputs=outputs)

"""pytest-kdump: kernel crash (kdump) regression testing with pytest, labgrid and crash/drgn.

Tests use the ``kdump`` fixture (see the README); the names a test or a script needs are here::

    from pytest_kdump import assert_in_backtrace, Trigger, open_session

They are imported on first use: importing the package loads neither labgrid nor pexpect.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "assert_in_backtrace": "analysis.assertions",
    "assert_log_contains": "analysis.assertions",
    "assert_module_loaded": "analysis.assertions",
    "assert_not_in_backtrace": "analysis.assertions",
    "assert_panic_message": "analysis.assertions",
    "assert_task_state": "analysis.assertions",
    "Analysis": "analysis.model",
    "CrashProcess": "analysis.crash.process",
    "Kdump": "session",
    "KdumpSession": "session",
    "Crash": "session",
    "Trigger": "triggers",
    "CrashRecord": "detect",
    "find_crashes": "detect",
    "DumpResult": "engine.results",
    "ArmedState": "engine.results",
    "open_session": "drivers.environment",
    "KdumpError": "errors",
    "CycleError": "errors",
    "CrashMismatch": "errors",
    "UnexpectedCrash": "errors",
    "AnalysisError": "errors",
    "CrashCommandError": "errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_kdump' has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])

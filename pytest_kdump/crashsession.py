"""Deprecated path (until 0.3): use :mod:`pytest_kdump.analysis.crash.process`."""

import warnings

from pytest_kdump.analysis.crash.process import CommandOutput, CrashProcess

warnings.warn("pytest_kdump.crashsession moved to pytest_kdump.analysis.crash.process",
              DeprecationWarning, stacklevel=2)
__all__ = ["CrashSession", "CrashProcess", "CommandOutput"]
CrashSession = CrashProcess  # the name before 0.2

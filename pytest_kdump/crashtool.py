"""Deprecated path (until 0.3): use :mod:`pytest_kdump.analysis.crash.tool`."""

import warnings

from pytest_kdump.analysis.crash.tool import CrashTool, find_crash, install_crash, installed_crash

warnings.warn("pytest_kdump.crashtool moved to pytest_kdump.analysis.crash.tool",
              DeprecationWarning, stacklevel=2)
__all__ = ["CrashTool", "find_crash", "install_crash", "installed_crash"]

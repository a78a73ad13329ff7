"""Deprecated path (until 0.3): use :mod:`pytest_kdump.build.crashmod`."""

import warnings

from pytest_kdump.build.crashmod import build_module, module_from_build_dir

warnings.warn("pytest_kdump.crashmod moved to pytest_kdump.build.crashmod",
              DeprecationWarning, stacklevel=2)
__all__ = ["build_module", "module_from_build_dir"]

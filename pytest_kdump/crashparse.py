"""Deprecated path (until 0.3): use :mod:`pytest_kdump.analysis.crash.parse`."""

import warnings

from pytest_kdump.analysis.crash.parse import *  # noqa: F403

warnings.warn("pytest_kdump.crashparse moved to pytest_kdump.analysis.crash.parse",
              DeprecationWarning, stacklevel=2)

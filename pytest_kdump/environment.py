"""Deprecated path (until 0.3): use :mod:`pytest_kdump.drivers.environment`."""

import warnings

from pytest_kdump.drivers.environment import open_session

warnings.warn("pytest_kdump.environment moved to pytest_kdump.drivers.environment",
              DeprecationWarning, stacklevel=2)
__all__ = ["open_session"]

"""Deprecated path (until 0.3): use :mod:`pytest_kdump.build.image`."""

import warnings

from pytest_kdump.build.image import GuestImage, build_image, current_image
from pytest_kdump.cachedir import cache_dir

warnings.warn("pytest_kdump.image moved to pytest_kdump.build.image",
              DeprecationWarning, stacklevel=2)
__all__ = ["cache_dir", "GuestImage", "build_image", "current_image"]

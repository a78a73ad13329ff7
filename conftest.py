"""Repository-wide test configuration.

pytester runs pytest-kdump in a child pytest. Tests under ``tests/qemu/`` and ``examples/`` boot
a real QEMU guest: they get the ``qemu`` marker, so ``pytest -m "not qemu"`` is the quick loop.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

_ROOT = Path(__file__).resolve().parent
_QEMU_DIRS = (_ROOT / "tests" / "qemu", _ROOT / "examples")
# Examples for a distribution's kdump (the Debian guest, a real board): the default env's
# busybox guest is not one. tests/qemu/test_debian.py runs them with the Debian envs; named on
# the command line, they run with the env given (pytest collects explicit paths).
collect_ignore = ["examples/test_distro_kdump.py"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "qemu: boots a real QEMU guest (tests/qemu, examples)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path)
        if any(path.is_relative_to(d) for d in _QEMU_DIRS):
            item.add_marker(pytest.mark.qemu)

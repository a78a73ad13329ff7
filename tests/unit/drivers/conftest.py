"""Fixtures of the driver tests: labgrid targets made of the fake busybox board's drivers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.drivers import fakeboard


@pytest.fixture
def make_target(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``make_target(power=..., console=..., kdump=..., extra=...)``: a labgrid Target from
    :func:`fakeboard.env_yaml` (cleaned up after the test)."""
    from labgrid import Environment

    import pytest_kdump.drivers  # noqa: F401  (registers pytest-kdump's drivers)

    targets = []

    def make(**kwargs: Any) -> Any:
        path = tmp_path / f"env-{len(targets)}.yaml"
        path.write_text(fakeboard.env_yaml(tmp_path, **kwargs))
        target = Environment(str(path)).get_target("main")
        targets.append(target)
        return target

    yield make
    for target in targets:
        target.cleanup()

"""Cache folders: the build lock is bounded."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from pytest_kdump.cachedir import locked
from pytest_kdump.errors import ToolError


def test_a_lock_held_by_another_build_is_waited_for_then_an_error(tmp_path: Path) -> None:
    with locked(tmp_path):  # free: taken at once
        pass
    with open(tmp_path / ".lock", "w") as other:  # another process's build, as far as flock goes
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(ToolError, match=r"\.lock stayed locked for 0\.6 s") as info:
            with locked(tmp_path, timeout=0.6):
                raise AssertionError("must not get the lock")
    assert "fuser" in info.value.advice
    with locked(tmp_path, timeout=0.6):  # released: taken again
        pass

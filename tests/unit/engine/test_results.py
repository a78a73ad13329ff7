"""Phase timeouts and sizes."""

from __future__ import annotations

import pytest

from pytest_kdump.engine.results import Timeouts, parse_size
from pytest_kdump.errors import ConfigError


def test_timeouts_from_dict() -> None:
    assert Timeouts.from_dict(None) == Timeouts()
    t = Timeouts.from_dict({"boot": 5, "dump_saved": 12.5})
    assert (t.boot, t.dump_saved, t.shell) == (5, 12.5, Timeouts().shell)


def test_timeouts_unknown_phase() -> None:
    with pytest.raises(ConfigError, match="unknown phase timeout.*: dump, shel") as exc:
        Timeouts.from_dict({"shel": 10, "dump": 3, "boot": 1})
    assert "dump_saved" in exc.value.advice


@pytest.mark.parametrize("value", [0, -1, "10", None, [5]])
def test_timeouts_bad_values(value: object) -> None:
    with pytest.raises(ConfigError, match="positive numbers of seconds"):
        Timeouts.from_dict({"boot": value})


@pytest.mark.parametrize("text, size", [
    ("128M", 128 << 20), ("128m", 128 << 20), (" 64M\n", 64 << 20), ("512K", 512 << 10),
    ("1G", 1 << 30), ("4096", 4096), ("0", 0),
    ("1G-2G:128M,2G-:256M", None), ("128M@16M", None), ("auto", None), ("128MB", None),
    ("", None),
])
def test_parse_size(text: str, size: int | None) -> None:
    assert parse_size(text) == size

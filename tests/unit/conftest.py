"""Fixtures of the unit tests: real recorded data."""

from __future__ import annotations

import pytest

from tests.helpers import DATA


@pytest.fixture(scope="session")
def console() -> str:
    """The real console of a sysrq run (tests/data/sysrq-x86_64/console.raw), as text."""
    return (DATA / "sysrq-x86_64" / "console.raw").read_bytes().decode("utf-8", errors="replace")

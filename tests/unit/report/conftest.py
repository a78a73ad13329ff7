"""Fixtures of the report tests: two real nights recorded in tests/data/nights/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import DATA

NIGHTS = DATA / "nights"
NIGHT_A = NIGHTS / "2026-12-06-a"  # x86_64 and arm64; two arm64 tests failed
NIGHT_B = NIGHTS / "2026-12-06-b"  # the same boards, later: every crash test passed
NIGHT_C = NIGHTS / "2026-12-06-c"  # two sysrq panics nobody asked for, xfailed by a baseline

# the ticket and the baseline of these tests are made up; the signatures are the nights' own
HUNG = "task hung in __switch_to"  # night a, arm64: module:hung crashed elsewhere (failed)
UNDEF_OLD = "Oops in kdump_crash_undef"  # night a, arm64: module:undef, older detector (failed)
SYSRQ = "Kernel panic: sysrq triggered crash in sysrq_handle_crash"
TICKET = "https://bugs.example.org/kdump/41"
BASELINE = f"""\
- signature: "{HUNG}"
  status: known-bug
  ticket: {TICKET}
  note: khungtaskd names __switch_to on arm64 6.1
- signature: "{UNDEF_OLD}"
  status: fixed
  ticket: KDUMP-7
- signature: "WARNING in dev_watchdog"
  status: expected
  note: the lab's switch drops the link at night
"""


@pytest.fixture
def nights_copy(tmp_path: Path) -> Path:
    """A writable copy of tests/data/nights (for broken or varied records)."""
    dest = tmp_path / "nights"
    shutil.copytree(NIGHTS, dest)
    return dest

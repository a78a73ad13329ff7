"""The crash outputs the parser tests read: tests/data/crash/<dump>/<command>.txt, recorded by
tests/data/crash/record.py (see tests/data/README.md)."""

from __future__ import annotations

from tests.helpers import DATA as TEST_DATA

DATA = TEST_DATA / "crash"
DUMPS = ("sysrq-8.0.6", "sysrq-8.0.2", "module-null-8.0.6", "module-bug-8.0.6")
# the recorded dumps' kernel (not the one the suite builds today)
RELEASE = "6.1.0-56-cloud-amd64"


def read(dump: str, name: str) -> str:
    return (DATA / dump / name).read_text()

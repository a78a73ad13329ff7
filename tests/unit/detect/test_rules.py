"""The rule table (pytest_kdump.detect.rules) and the package's public names. Whole reports of
each kind: tests/data/reports (test_reports.py); here the rows no report file opens."""

from __future__ import annotations

import pytest

from pytest_kdump import detect
from pytest_kdump.detect import find_crashes
from pytest_kdump.detect.rules import BEFORE_OOPS, MARKERLESS, RULES, SEPARATED


def test_rows_that_open_a_report_have_a_builder() -> None:
    for rule in RULES:
        assert (rule.build is not None) == (rule.role in ("report", "oops", "panic")), rule
    assert MARKERLESS | BEFORE_OOPS | SEPARATED <= {rule.kind for rule in RULES}


@pytest.mark.parametrize("line, kind, signature", [
    ("BUG: unable to handle page fault for address: ffffc90000abc000", "paging-request",
     "BUG: unable to handle page fault in foo_fn"),
    # before 4.19
    ("BUG: unable to handle kernel NULL pointer dereference at 0000000000000010", "null-deref",
     "BUG: kernel NULL pointer dereference in foo_fn"),
    ("BUG: unable to handle kernel paging request at ffffc90000abc000", "paging-request",
     "BUG: unable to handle page fault in foo_fn"),
    ("Unable to handle kernel paging request at virtual address ffff800008a1b000",
     "paging-request", "Unable to handle kernel paging request in foo_fn"),
    # the title names both functions: no guilty frame
    ("BUG: KCSAN: data-race in foo_read / foo_write", "kcsan",
     "KCSAN: data-race in foo_read / foo_write"),
    ("Oops - undefined instruction: 0 [#1] SMP ARM", "invalid-opcode", "invalid opcode in foo_fn"),
    ("Oops - BUG: 0 [#1] SMP ARM", "bug", "kernel BUG in foo_fn"),
    ("Unhandled fault: alignment exception (0x001) at 0x00000001", "oops",
     "Unhandled fault in foo_fn"),
    ("INFO: rcu_sched self-detected stall on CPU", "rcu-stall", "rcu detected stall in foo_fn"),
    ("Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)", "panic",
     "Kernel panic: VFS: Unable to mount root fs on unknown-block(0,0) in foo_fn"),
])
def test_row_titles(line: str, kind: str, signature: str) -> None:
    text = f"[    1.000000] {line}\r\n[    1.000100] RIP: 0010:foo_fn+0x1/0x2 [m]\r\n"
    (rec,) = find_crashes(text)
    assert (rec.kind, rec.signature, rec.corrupted) == (kind, signature, False)
    assert rec.kind in detect.KINDS


def test_public_names() -> None:
    assert detect.__all__ == sorted(detect.__all__)
    assert all(hasattr(detect, name) for name in detect.__all__)
    assert "Frame" not in detect.__all__ and not hasattr(detect, "Frame")  # ReportFrame

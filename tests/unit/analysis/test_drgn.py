"""The drgn backend's pieces that need no dump (the dumps are in tests/qemu/test_drgn.py)."""

from __future__ import annotations

from pytest_kdump.analysis.drgn import available, panic_from_log


def test_drgn_is_installed():
    """The set-up installs the drgn extra: the backend must be usable here."""
    assert available() is None


def test_panic_from_log():
    assert panic_from_log(["sysrq: Trigger a crash",
                           "Kernel panic - not syncing: sysrq triggered crash"]) == (
        "sysrq triggered crash", '"Kernel panic - not syncing: sysrq triggered crash"')
    bug = ["kernel BUG at kdump_crash.c:59!", "invalid opcode: 0000 [#1] PREEMPT SMP NOPTI"]
    assert panic_from_log(bug)[0] == "kernel BUG at kdump_crash.c:59!"
    gpf = "general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP"
    assert panic_from_log(["BUG: oops", gpf, "RIP: 0010:f+0x1/0x2"])[0] == gpf
    assert panic_from_log(["just booting"]) == ("", "")

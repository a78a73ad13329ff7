"""The engine's fast mode on the fake busybox board: boot once, save the armed board, restore
it at every later power-on (the QEMU side, migration to a file, runs in tests/qemu)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pytest_kdump.engine.results import BoardState
from pytest_kdump.errors import CycleError
from tests.unit.drivers.fakeboard import FakeDumpDisk


def _fast_engine(make_target, tmp_path: Path, fail_restore: bool = False,
                 console: str = ""):
    target = make_target(console="        after: poweroff\n" + console)
    fake = target.get_driver("FakeBusyboxConsole")
    engine = target.get_driver("KdumpDriver").engine(
        tmp_path / "session", transport=FakeDumpDisk(tmp_path / "board-dump"))
    assert engine.snapshot is None  # not a QEMU board: KdumpDriver leaves fast mode off

    def save_state(path: Path, timeout: float) -> None:
        path.write_text(json.dumps(fake.saved_state(), default=lambda b: b.decode()))

    def power_on_restored(path: Path, timeout: float) -> None:
        if fail_restore:
            raise CycleError("QEMU could not restore the guest's state: it is 'paused'")
        state = json.loads(path.read_text())
        state["files"] = {k: v.encode() for k, v in state["files"].items()}
        fake.restore_state(state)

    engine.board.save_state = save_state  # what QemuBoard offers
    engine.board.power_on_restored = power_on_restored
    engine.snapshot = tmp_path / "armed-board.qemu-state"
    return engine, fake


def test_the_armed_board_is_saved_once_and_restored_at_each_power_on(make_target, tmp_path):
    engine, fake = _fast_engine(make_target, tmp_path)
    armed = engine.check_armed()
    assert armed.loaded and fake.boots == 1
    names = [p.name for p in engine.phases]
    assert names[:3] == ["boot", "shell", "snapshot"], names
    assert engine.snapshot.is_file()
    for n in (1, 2):
        engine.take_dump("sysrq", tmp_path / f"dump{n}")
        assert fake.mode == "off"  # the crash kernel powered the board off
        engine.power_off()
        started = time.time()
        assert engine.check_armed().loaded
        assert engine.state is BoardState.SHELL
        assert (fake.boots, fake.restores) == (1, n)  # restored, never booted again
        assert engine.phases[-2].name == "restore", [p.name for p in engine.phases]
        clock, seed = fake.reseeds[-1]  # the host's time, fresh random bytes each time
        assert engine._last_ts == 12.34  # the kernel's clock: untimestamped text is output
        assert started - 2 <= clock <= time.time() + 1
    assert fake.reseeds[0][1] != fake.reseeds[1][1]
    assert [p.name for p in engine.phases].count("snapshot") == 1
    assert not engine.warnings


def test_a_state_that_cannot_be_restored_turns_fast_mode_off(make_target, tmp_path):
    engine, fake = _fast_engine(make_target, tmp_path, fail_restore=True)
    engine.take_dump("sysrq", tmp_path / "dump1")
    engine.power_off()
    assert engine.check_armed().loaded  # booted in full instead
    assert (fake.boots, fake.restores) == (2, 0)
    restore = [p for p in engine.phases if p.name == "restore"]
    assert len(restore) == 1 and restore[0].ok is False
    assert engine.snapshot is None and not (tmp_path / "armed-board.qemu-state").exists()
    assert any("fast mode off: restoring the saved armed board failed" in w
               and "'paused'" in w for w in engine.warnings), engine.warnings


def test_an_unarmed_board_is_not_saved(make_target, tmp_path):
    engine, fake = _fast_engine(make_target, tmp_path, console="        kdump_loaded: false\n")
    engine.ensure_shell()
    assert engine.state is BoardState.SHELL
    assert not engine.snapshot.exists()
    assert "snapshot" not in [p.name for p in engine.phases]

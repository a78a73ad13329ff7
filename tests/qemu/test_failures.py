"""Real QEMU runs where something goes wrong: each must fail fast, name its phase, say what to
check, and show the console tail and the log's path.

These boot the project's guest image under TCG (built on first use); no mocks.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from pytest_kdump.drivers.environment import open_session
from pytest_kdump.errors import BoardDied, CycleError, PhaseTimeout
from pytest_kdump.triggers import Trigger
from tests.helpers import ENV, assert_helpful, env_variant, own_session


@pytest.fixture(scope="module")
def sysrq_session(tmp_path_factory: pytest.TempPathFactory):
    """One QEMU board for this module, with its own dump disk, and a real sysrq crash on it."""
    base = tmp_path_factory.mktemp("sysrq")
    env, session = own_session(base)
    crash = session.for_test(base / "artifacts" / "sysrq").trigger_crash("sysrq")
    yield session, crash
    session.close()
    env.cleanup()


def test_no_crashkernel_fails_in_armed_phase(tmp_path, own_run_dir):
    env_file = env_variant(tmp_path, **{"crashkernel=128M ": ""})
    env, session = open_session(env_file, tmp_path / "artifacts")
    try:
        with pytest.raises(CycleError) as info:
            session.for_test(tmp_path / "artifacts" / "t").trigger_crash("sysrq")
    finally:
        session.close()
        env.cleanup()
    assert_helpful(info.value, "armed")
    assert "no crashkernel=" in info.value.message
    assert "crashkernel=" in info.value.advice
    assert "kdump NOT armed" in info.value.console_tail


def test_trigger_that_does_not_crash_times_out_and_board_recovers(sysrq_session):
    session, _ = sysrq_session
    kdump = session.for_test(session.artifacts_root / "noop")
    with pytest.raises(PhaseTimeout) as info:
        kdump.trigger_crash(Trigger(name="noop", command="true", timeout=3))
    assert_helpful(info.value, "trigger")
    assert "returned (exit 0)" in info.value.message
    # the board is still usable: the next command finds the shell again
    assert kdump.armed().loaded
    assert kdump.run("echo still-here") == "still-here"


def test_qemu_dying_mid_cycle_is_reported(tmp_path, own_run_dir):
    env, session = open_session(ENV, tmp_path / "artifacts")
    qemu = env.get_target().get_driver("QEMUDriver", activate=False)
    kdump = session.for_test(tmp_path / "artifacts" / "t")
    kdump.armed()

    def kill_when_saving() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "saving vmcore" in session.engine.capture.tail(400):  # said once a session
                os.kill(qemu._child.pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_saving, daemon=True)
    killer.start()
    try:
        with pytest.raises(BoardDied) as info:
            kdump.trigger_crash("sysrq")
    finally:
        killer.join(5)
        session.close()
        env.cleanup()
    assert_helpful(info.value, "dump_saved")
    assert "QEMU exited" in info.value.message


def test_sysrq_dump_checks(sysrq_session):
    _, crash = sysrq_session
    assert crash.dump.vmcore.format == "kdump-compressed"
    assert crash.panic_message == "sysrq triggered crash"
    assert [p.name for p in crash.dump.phases][-5:] == [
        "armed", "trigger", "crash_kernel", "dump_saved", "fetch"]


"""Faults around the engine and the plugin, on the real QEMU board: board commands that time out
or lose the board, crash text that is no crash, a second crash in one test, a run stopped by
SIGTERM or SIGKILL. Each would have failed before its fix (issue 15, items 4, 5, 8, 9, 12, 13).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_kdump.errors import BoardDied, ConfigError, PhaseTimeout
from pytest_kdump.plugin import artifact_name
from pytest_kdump.session import KdumpSession
from tests.helpers import DATA, ENV, assert_helpful, own_session

pytestmark = pytest.mark.qemu

# A real kernel BUG report (x86_64, 6.1), its lines written to the kernel log through
# /dev/kmsg: the kernel prints them on the console with fresh timestamps and lives on, as
# after a non-fatal oops (panic_on_oops=0).
_REPORT = (DATA / "reports" / "x86_64" / "kernel-bug-not-fatal").read_text()
OOPS_LINES = [line.split("] ", 1)[1] for line in _REPORT.split("\n\n", 1)[1].splitlines()
              if line.startswith("[")]
# one command per 8 lines: the shell's line editor takes about 1000 characters
INJECT_OOPS = ["; ".join(f"echo {shlex.quote('<1>' + line)} > /dev/kmsg"
                         for line in OOPS_LINES[i:i + 8]) for i in range(0, len(OOPS_LINES), 8)]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KdumpSession]:
    """One QEMU board for this module, with its own dump disk."""
    env, kdump_session = own_session(tmp_path_factory.mktemp("engine"))
    yield kdump_session
    kdump_session.close()
    env.cleanup()


def test_run_timeout_names_the_phase_and_is_recorded(session: KdumpSession) -> None:
    kdump = session.for_test(session.artifacts_root / "run-timeout")
    with pytest.raises(PhaseTimeout) as info:
        kdump.run("sleep 30", timeout=2)
    assert_helpful(info.value, "run")
    assert "'sleep 30' did not finish within 2 s" in info.value.message
    record = kdump.finish("failed", 1.0)
    assert record["error"]["phase"] == "run", record["error"]
    assert json.loads((kdump.artifacts / "kdump.json").read_text())["error"]["type"] == \
        "PhaseTimeout"
    # the board is usable again: the engine finds its shell (or boots it)
    assert session.for_test(session.artifacts_root / "after").run("echo back") == "back"


def test_board_lost_during_a_command_is_board_died(session: KdumpSession) -> None:
    kdump = session.for_test(session.artifacts_root / "board-lost")
    kdump.run("true")
    qemu = session.engine.board.qemu._child
    killer = threading.Timer(3.0, qemu.kill)
    killer.start()
    try:
        with pytest.raises(BoardDied) as info:
            kdump.run("sleep 60", timeout=120)
    finally:
        killer.cancel()
    assert info.value.phase == "run" and "QEMU exited" in info.value.message, info.value
    assert kdump.finish("failed", 1.0)["error"]["type"] == "BoardDied"
    assert session.for_test(session.artifacts_root / "reboot").run("echo back") == "back"


def test_crash_text_in_command_output_is_no_crash(session: KdumpSession) -> None:
    engine = session.engine
    first = session.for_test(session.artifacts_root / "live-oops")
    mark = len(engine.seen)
    for command in INJECT_OOPS:  # the kernel prints a BUG report and lives on
        first.run(command)
    engine.settle_detection()
    live = engine.unexpected_since(mark)
    assert [s.record.kind for s in live] == ["bug"], engine.seen[mark:]
    assert first.collect_unexpected(live) is None  # survived: no dump to wait for

    second = session.for_test(session.artifacts_root / "dmesg")
    mark = len(engine.seen)
    out = second.run("dmesg")
    assert "kernel BUG at drivers/foo.c:42!" in out
    assert second.run("echo 'Oops: 0000 [#1] PREEMPT SMP NOPTI'") == \
        "Oops: 0000 [#1] PREEMPT SMP NOPTI"
    engine.settle_detection()
    assert engine.unexpected_since(mark) == [], engine.seen[mark:]
    assert engine.state.value == "shell"
    warnings = second.finish("passed", 1.0)["warnings"]
    assert any("kernel BUG at drivers/foo.c:42!" in w for w in warnings), warnings

    third = session.for_test(session.artifacts_root / "next")
    third.run("true")
    assert third.finish("passed", 1.0)["warnings"] == []  # not the last test's warnings


def test_overlong_command_is_refused(session: KdumpSession) -> None:
    kdump = session.for_test(session.artifacts_root / "long-command")
    with pytest.raises(ConfigError, match="line editor"):
        kdump.run("echo " + "x" * 2000)
    assert kdump.run("echo fine") == "fine"


def test_fetch_timeout_is_the_fetch_phase_and_leaves_no_vmcore(session: KdumpSession) -> None:
    kdump = session.for_test(session.artifacts_root / "fetch-timeout")
    timeouts = session.engine.timeouts
    saved, timeouts.fetch = timeouts.fetch, 0.001
    try:
        with pytest.raises(PhaseTimeout) as info:
            kdump.trigger_crash("sysrq", backend="drgn")
    finally:
        timeouts.fetch = saved
    assert info.value.phase == "fetch" and "fetch" in info.value.advice, info.value
    assert not (kdump.artifacts / "vmcore").exists()
    assert kdump.finish("failed", 1.0)["error"]["phase"] == "fetch"
    assert session.for_test(session.artifacts_root / "after-fetch").run("echo back") == "back"


def test_second_crash_in_one_test_has_its_own_folder(session: KdumpSession) -> None:
    kdump = session.for_test(session.artifacts_root / "two-crashes")
    first = kdump.trigger_crash("sysrq", backend="drgn")
    second = kdump.trigger_crash("init-exit", backend="drgn")
    assert first.vmcore == kdump.artifacts / "vmcore"
    assert second.vmcore == kdump.artifacts / "crash-2" / "vmcore"
    assert second.vmcore.stat().st_size > 1 << 20
    assert (kdump.artifacts / "crash-2" / "vmcore-dmesg.txt").is_file()
    record = kdump.finish("passed", 1.0)
    assert [c["trigger"] for c in record["crashes"]] == ["sysrq", "init-exit"], record


# -- a whole run stopped from outside ------------------------------------------------------------

LONG_TEST = '''
def test_long(kdump):
    kdump.run("echo STARTED-$((6*7))")
    kdump.run("sleep 300", timeout=400)
'''


def _child_pytest(tmp_path: Path, name: str, source: str, *args: str
                  ) -> tuple[subprocess.Popen, Path, Path]:
    """pytest in a child process on ``source`` (as ``name``), with a board of its own; returns
    the process, its artifact folder and its run folder (which QEMU's command line names)."""
    (tmp_path / name).write_text(source)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    run = tmp_path / "run"
    run.mkdir()
    env = dict(os.environ, LG_KDUMP_RUN=str(run), PYTHONPATH=str(Path.cwd()))
    # output to a file, not a pipe: a process the child leaves behind holding the pipe (its
    # reaper, QEMU) would make waiting for the pipe's end outlast the child itself
    with open(tmp_path / "output.txt", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-c", str(tmp_path / "pytest.ini"), "-p",
             "no:cacheprovider", "--lg-env", str(ENV), "--kdump-artifacts",
             str(tmp_path / "art"), str(tmp_path / name), *args],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=_default_sigint)
    return proc, tmp_path / "art", run


def _default_sigint() -> None:
    """SIGINT back to its default in the child: a suite started in the background by a
    non-interactive shell inherits it ignored, and Python then never turns it into
    KeyboardInterrupt (the interrupted-run test would wait for nothing)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _finished(proc: subprocess.Popen, tmp_path: Path, timeout: float) -> str:
    """The child's output once it has exited; if it has not within ``timeout``, fail with its
    output so far and the processes it started."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        ps = subprocess.run(["ps", "-o", "pid,stat,etime,args", "--ppid", str(proc.pid)],
                            capture_output=True, text=True).stdout
        raise AssertionError(f"the child pytest did not exit within {timeout} s; its output:\n"
                             f"{_output(tmp_path)[-3000:]}\nits children:\n{ps}") from None
    return _output(tmp_path)


def _output(tmp_path: Path) -> str:
    return (tmp_path / "output.txt").read_bytes().decode(errors="replace")


def _wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.5)


def _qemu_of(run: Path) -> list[int]:
    """QEMU processes whose command line names the run folder (its dump disk)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"qemu-system" in cmdline and str(run).encode() in cmdline:
                pids.append(int(entry.name))
    return pids


@contextlib.contextmanager
def _long_run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Path, Path]]:
    """The child pytest, once its test waits on the board: (process, console log, run
    folder); killed on the way out if still running."""
    proc, art, run = _child_pytest(tmp_path, "test_long.py", LONG_TEST)
    log = art / artifact_name("test_long.py::test_long") / "console.log"
    try:
        _wait_for(lambda: log.is_file() and "STARTED-42" in log.read_text(), 180,
                  "the test reached its long command")
        assert _qemu_of(run)
        yield proc, log, run
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopped_run_records_interrupted_and_leaves_no_qemu(tmp_path: Path, sig: int) -> None:
    with _long_run(tmp_path) as (proc, log, run):
        proc.send_signal(sig)
        out = _finished(proc, tmp_path, 90)
    record = json.loads((log.parent / "kdump.json").read_text())
    assert record["outcome"] == "interrupted", out[-3000:]
    assert "STARTED-42" in log.read_text()
    _wait_for(lambda: not _qemu_of(run), 10, "QEMU gone after the run")


def test_killed_run_leaves_no_qemu(tmp_path: Path) -> None:
    with _long_run(tmp_path) as (proc, _, run):
        proc.kill()  # SIGKILL: no teardown at all
        proc.wait(timeout=30)
    _wait_for(lambda: not _qemu_of(run), 20, "QEMU gone after pytest was killed")


BOARD_TESTS = '''
def test_uses_the_board(target, request):
    assert request.config.stash  # the board's console is captured for this test too

def test_crashes(kdump):
    kdump.trigger_crash("sysrq")
'''


def test_a_run_without_kdump_tests_keeps_each_tests_console_log(tmp_path: Path) -> None:
    """-k selects only a test using the labgrid target: it still gets its folder, console log
    and kdump.json (and the crash watch), as a test using kdump would."""
    proc, art, _ = _child_pytest(tmp_path, "test_board.py", BOARD_TESTS, "-k", "uses_the_board")
    out = _finished(proc, tmp_path, 300)
    assert proc.returncode == 0, out[-3000:]
    folder = art / artifact_name("test_board.py::test_uses_the_board")
    assert (folder / "console.log").is_file()
    assert json.loads((folder / "kdump.json").read_text())["outcome"] == "passed"

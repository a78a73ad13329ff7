"""CrashProcess's plumbing against a fake crash (fake_crash.py here): big outputs, output
cap, timeouts, a crash that dies, start-up complaints, processes nobody closes. Fast; the
same on real dumps is in tests/qemu/test_crash_process.py."""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import pytest

from pytest_kdump.analysis.crash import process as process_mod
from pytest_kdump.analysis.crash.process import CrashProcess
from pytest_kdump.analysis.crash.tool import CrashTool
from pytest_kdump.errors import AnalysisError, CrashCommandError, VmcoreError
from tests.helpers import fake_dump_files

FAKE = CrashTool(argv=(sys.executable, str(Path(__file__).with_name("fake_crash.py"))),
                 version="8.0.6", source="fake")


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return fake_dump_files(tmp_path)


def session(files, mode: str = "ok", **kw) -> CrashProcess:
    return CrashProcess(FAKE, *files, env={"FAKE_CRASH": mode}, **kw)


def test_outputs_are_split_per_command(files, tmp_path):
    with session(files, out_dir=tmp_path / "out") as s:
        assert s.run("say hello") == "hello\n"
        assert s.sys().panic_message == "fake"
        assert s.run("say @@PYTEST-KDUMP-99@@") == "@@PYTEST-KDUMP-99@@\n"  # not our marker
        assert s.commands_run == 3
    text = (tmp_path / "out" / "crash-session.txt").read_text()
    assert "crash> say hello\nhello\n" in text
    assert (tmp_path / "out" / "crash-00-say_hello.txt").read_text() == "hello\n"


def test_big_output_comes_back_whole(files):
    with session(files, command_timeout=60) as s:
        text = s.run("flood 64")
        assert len(text) == 64 << 20 and s.run("say after") == "after\n"


def test_output_cap(files, monkeypatch):
    monkeypatch.setattr(process_mod, "_MAX_OUTPUT", 1 << 20)
    s = session(files)
    with pytest.raises(AnalysisError, match="command 'flood 8' printed more than 1 MB") as info:
        s.run("flood 8")
    assert "is this binary really crash" in info.value.advice and not s.alive


def test_command_timeout_ends_the_session(files):
    s = session(files, command_timeout=0.5)
    with pytest.raises(AnalysisError, match=r"command 'sleep 30' did not finish within 0.5 s"):
        s.run("sleep 30")
    assert not s.alive
    with pytest.raises(AnalysisError, match="the crash process on vmcore is closed"):
        s.run("say again")


def test_use_after_close_is_clear(files):
    with session(files) as s:
        s.wait_ready()
    with pytest.raises(AnalysisError, match="is closed"):
        s.sys()


def test_crash_dying_mid_command(files):
    s = session(files)
    with pytest.raises(AnalysisError, match="crash exited during 'die': crash: fatal error"):
        s.run("die")


def test_command_errors(files):
    with session(files) as s:
        with pytest.raises(CrashCommandError, match="gdb request failed") as info:
            s.p("no_such_symbol")
        assert info.value.output.startswith("p: gdb request failed")


def test_script_keeps_results_up_to_a_fatal_command(files, tmp_path):
    script = tmp_path / "s.crash"
    script.write_text("# a comment\nsay one\n\np nothing\nsleep 30\nsay never\nexit\n")
    with session(files, command_timeout=0.5) as s:
        results = s.run_script(script)
    assert [(r.command, r.error is not None, r.fatal) for r in results] == [
        ("say one", False, False), ("p nothing", True, False), ("sleep 30", True, True)]
    assert "did not finish" in results[-1].error


@pytest.mark.parametrize("mode, message, advice", [
    ("mismatch", "kernel version inconsistency", "does not match"),
    ("bad-vmlinux", "vmlinux: not a supported file format", "is not a vmlinux"),
    ("bad-vmcore", "vmcore: not a supported file format", "crash cannot read this vmcore"),
    ("other-arch", "this crash reads X86_64 dumps, vmcore is ARM64", "setup-crash --arch"),
    ("garbage", "crash exited with 3 before its prompt: crash: something nobody", "by hand"),
])
def test_startup_complaints(files, mode, message, advice):
    s = session(files, mode=mode)
    with pytest.raises(AnalysisError, match=message) as info:
        s.wait_ready()
    assert advice in info.value.advice and info.value.phase == "analysis"
    assert not s.alive


def test_start_timeout(files):
    s = session(files, mode="slow", start_timeout=0.5)
    with pytest.raises(AnalysisError, match="start-up did not finish within 0.5 s") as info:
        s.run("sys")
    assert "start_timeout" in info.value.advice


def test_unclosed_session_does_not_leak_crash(files):
    s = session(files)
    s.wait_ready()
    pid = s.proc.pid
    del s
    gc.collect()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()


def test_bad_inputs(files, tmp_path):
    vmlinux, vmcore = files
    with pytest.raises(AnalysisError, match=r"vmcore .* is a folder, not a file \(did you mean"):
        (tmp_path / "dump").mkdir()
        (tmp_path / "dump" / "vmcore").write_bytes(vmcore.read_bytes())
        CrashProcess(FAKE, vmlinux, tmp_path / "dump")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(VmcoreError, match="is empty") as info:
        CrashProcess(FAKE, vmlinux, empty)
    assert info.value.phase == "analysis"
    with pytest.raises(ValueError, match="one crash command per call"):
        session(files).run("")

"""The crash process on real dumps of this project (tests/conftest.py: ``real_dumps``): one
crash process, many commands, typed results, scripts, and clear errors for bad input."""

from __future__ import annotations

import shutil

import pytest

from pytest_kdump import analysis
from pytest_kdump.analysis.crash.process import CrashProcess
from pytest_kdump.analysis.crash.tool import CrashTool, find_crash
from pytest_kdump.cachedir import cache_dir
from pytest_kdump.errors import AnalysisError, CrashCommandError, ToolError, VmcoreError
from tests.helpers import ROOT


@pytest.fixture(scope="module")
def sysrq(real_dumps, tmp_path_factory):
    dump = real_dumps["sysrq"]
    out = tmp_path_factory.mktemp("crash-sysrq")
    with CrashProcess(dump.crash_tool, dump.vmlinux, dump.vmcore, out_dir=out) as s:
        yield s


@pytest.fixture(scope="module")
def oops(real_dumps, tmp_path_factory):
    dump = real_dumps["module-null"]
    with CrashProcess(dump.crash_tool, dump.vmlinux, dump.vmcore,
                      out_dir=tmp_path_factory.mktemp("crash-oops")) as s:
        yield s


def test_one_process_answers_many_commands(sysrq):
    pid, before = sysrq.proc.pid, sysrq.commands_run
    info = sysrq.sys()
    assert info.panic_message == "sysrq triggered crash"
    assert "PARTIAL DUMP" in info.flags
    bt = sysrq.bt()
    assert bt.task.command == "sh"
    assert [f.function for f in bt.frames][:4] == [
        "machine_kexec", "__crash_kexec", "panic", "sysrq_handle_crash"]
    tasks = sysrq.ps()
    assert len(tasks) > 20 and [t.pid for t in tasks if t.active] == [bt.task.pid]
    assert any(line.text.endswith("sysrq: Trigger a crash") for line in sysrq.log())
    assert "virtio_blk" in [m.name for m in sysrq.mod()]
    assert sysrq.kmem_info().total_mem_bytes > 100 << 20
    assert sysrq.files(1).files
    assert "/proc" in [m.dirname for m in sysrq.mount()]
    assert "lo" in [d.name for d in sysrq.net()]
    assert "sysrq_handle_crash" in {i.symbol for i in sysrq.dis("sysrq_handle_crash")}
    assert sysrq.p("init_task.pid").value == "0"
    assert sysrq.struct("task_struct.pid", bt.task.task)["pid"] == str(bt.task.pid)
    assert len(sysrq.rd("jiffies", 4)) == 2
    assert sysrq.proc.pid == pid and sysrq.alive  # the same crash process all along
    assert sysrq.commands_run - before == 13


def test_transcript_and_outputs_are_kept(sysrq):
    sysrq.run("p jiffies")
    transcript = (sysrq.out_dir / "crash-session.txt").read_text()
    assert "# crash start-up" in transcript and "crash> p jiffies" in transcript
    assert list(sysrq.out_dir.glob("crash-*-p_jiffies.txt"))


def test_command_errors_raise_or_come_back_as_text(sysrq):
    text = sysrq.run("bt 99999")
    assert "invalid task or pid value" in text
    with pytest.raises(CrashCommandError) as info:
        sysrq.p("no_such_symbol")
    assert info.value.command == "p no_such_symbol" and "gdb request failed" in str(info.value)
    assert sysrq.alive  # an error does not end the session
    with pytest.raises(ValueError):
        sysrq.run("sys\nbt")
    with pytest.raises(ValueError):
        sysrq.run("exit")


def test_oops_in_module_exception_frame(oops):
    bt = oops.bt()
    exc = next(f for f in bt.frames if f.exception)
    assert exc.function == "kdump_crash_null" and exc.offset == 12
    assert exc.module == "kdump_crash"  # crash prints none: found from mod's ranges
    assert exc.registers["RIP"] == exc.address
    assert oops.sys().panic_message.startswith("Oops: 0002")
    assert "kdump_crash" in [m.name for m in oops.mod()]


def test_script_file_runs_every_command(oops):
    results = oops.run_script(ROOT / "examples" / "analyze.crash")
    assert [r.command for r in results][:3] == ["sys", "bt", "bt -a"]
    assert len(results) == 10 and not [r for r in results if r.error]
    assert "kdump_crash_null" in results[1].output


def test_analysis_from_one_session(real_dumps, tmp_path):
    dump = real_dumps["module-null"]
    result = analysis.analyze(dump.crash_tool, dump.vmlinux, dump.vmcore, out_dir=tmp_path)
    assert result.backend == "crash" and result.crashing_task.command == "insmod"
    assert "kdump_crash" in [m.name for m in result.modules]
    assert "kdump_crash_null" in result.functions
    assert (tmp_path / "crash-session.txt").is_file()


def test_timeout_kills_crash_and_names_the_command(real_dumps, tmp_path):
    dump = real_dumps["sysrq"]
    s = CrashProcess(dump.crash_tool, dump.vmlinux, dump.vmcore, out_dir=tmp_path)
    s.wait_ready()
    with pytest.raises(AnalysisError, match=r"command 'foreach bt' did not finish within 0.001 s"):
        s.run("foreach bt", timeout=0.001)
    assert not s.alive and "STOPPED" in (tmp_path / "crash-session.txt").read_text()
    s.close()


def test_start_timeout(real_dumps):
    dump = real_dumps["sysrq"]
    s = CrashProcess(dump.crash_tool, dump.vmlinux, dump.vmcore, start_timeout=0.2)
    with pytest.raises(AnalysisError, match="start-up did not finish within 0.2 s"):
        s.wait_ready()
    assert not s.alive


# -- bad input: each a clear message ---------------------------------------------------------
def test_missing_crash_binary(real_dumps, tmp_path):
    dump = real_dumps["sysrq"]
    tool = CrashTool(argv=(str(tmp_path / "no-crash"),), version="8.0.6", source="test")
    with pytest.raises(ToolError) as info:
        CrashProcess(tool, dump.vmlinux, dump.vmcore)
    assert "cannot run crash" in info.value.message and "setup-crash" in info.value.advice
    with pytest.raises(ToolError, match="not found or not executable") as info:
        find_crash(str(tmp_path / "no-crash-here"), cache_dir())
    assert info.value.advice


def test_missing_vmlinux_and_vmcore(real_dumps, tmp_path):
    dump = real_dumps["sysrq"]
    with pytest.raises(AnalysisError, match="vmlinux not found"):
        CrashProcess(dump.crash_tool, tmp_path / "vmlinux", dump.vmcore)
    with pytest.raises(AnalysisError, match="vmcore not found"):
        CrashProcess(dump.crash_tool, dump.vmlinux, tmp_path / "vmcore")


def test_vmlinux_without_debug_info(real_dumps, tmp_path):
    dump = real_dumps["sysrq"]
    vmlinuz = tmp_path / "vmlinuz"
    shutil.copy(dump.vmlinux.parent / "vmlinuz", vmlinuz)
    s = CrashProcess(dump.crash_tool, vmlinuz, dump.vmcore, out_dir=tmp_path)
    with pytest.raises(AnalysisError) as info:
        s.wait_ready()
    assert info.value.phase == "analysis" and "-dbg" in info.value.advice
    assert not s.alive


def test_truncated_vmcore(real_dumps, tmp_path):
    dump = real_dumps["sysrq"]
    cut = tmp_path / "vmcore"
    cut.write_bytes(dump.vmcore.read_bytes()[: dump.vmcore.stat().st_size // 3])
    with pytest.raises(VmcoreError) as info:
        CrashProcess(dump.crash_tool, dump.vmlinux, cut)
    assert "truncated" in info.value.message and info.value.phase == "analysis"


def test_vmlinux_of_another_build(real_dumps, other_build_vmlinux):
    dump = real_dumps["sysrq"]
    with pytest.raises(AnalysisError) as info:
        analysis.analyze(dump.crash_tool, other_build_vmlinux, dump.vmcore, ["sys"])
    assert info.value.phase == "analysis"
    assert "kernel version inconsistency" in info.value.message
    assert "does not match" in info.value.advice

"""The drgn backend on real dumps: what it finds, how it compares with crash, its errors."""

from __future__ import annotations

import re
import sys

import pytest

from pytest_kdump.analysis.crash.process import CrashProcess
from pytest_kdump.analysis.drgn import analyze_drgn, available
from pytest_kdump.errors import AnalysisError, ToolError, VmcoreError
from pytest_kdump.symbols import clean_function


@pytest.fixture(scope="module")
def analyses(real_dumps, tmp_path_factory) -> dict:
    """drgn's analysis of each real dump (the sysrq one also writes its summary)."""
    out = tmp_path_factory.mktemp("drgn")
    return {name: analyze_drgn(d.vmlinux, d.vmcore, out_dir=out if name == "sysrq" else None)
            for name, d in real_dumps.items()} | {"out": out}


def test_sysrq_analysis(analyses, real_dumps):
    a = analyses["sysrq"]
    assert a.backend == "drgn" and a.tool_version and a.seconds > 0
    assert re.fullmatch(r"\d+\.\d+\.\d+-\S+", a.kernel_release)
    assert a.sys["RELEASE"] == a.kernel_release and a.sys["MACHINE"] == "x86_64"
    assert a.panic_message == "sysrq triggered crash"
    assert a.sys["PANIC"] == '"Kernel panic - not syncing: sysrq triggered crash"'
    t = a.crashing_task
    assert t is not None and t.command == "sh" and t.active and t.state == "RU"
    assert re.fullmatch(r"[0-9a-f]{16}", t.task) and t.cpu == 0 and t.ppid
    assert {"sysrq_handle_crash", "panic"} <= set(a.functions)
    assert a.functions.index("panic") < a.functions.index("sysrq_handle_crash")
    # crash's symbol names, not DWARF's: the .cold part of __handle_sysrq
    assert "__handle_sysrq.cold" in a.functions
    assert [f.level for f in a.backtrace] == list(range(len(a.backtrace)))
    assert not any(f.exception for f in a.backtrace)  # a panic, not a fault
    frame = a.backtrace[a.functions.index("sysrq_handle_crash")]
    assert frame.source and frame.source.startswith("drivers/tty/sysrq.c:")
    assert len(a.tasks) > 20 and a.sys["TASKS"] == str(len(a.tasks))
    assert a.task(t.pid) == t and [x.pid for x in a.tasks if x.active] == [t.pid]
    assert a.task(0).command == "swapper/0" and a.task(0).kernel_thread
    assert a.task(1).ppid == 0 and not a.task(1).kernel_thread
    assert {x.state for x in a.tasks} <= {"RU", "IN", "UN", "ID", "ZO", "ST", "TR", "DE"}
    assert "virtio_blk" in [m.name for m in a.modules]
    assert all(m.size > 0 and m.base for m in a.modules)
    assert "sysrq: Trigger a crash" in a.log
    assert a.outputs["bt"].startswith("#0") and "sysrq_handle_crash" in a.outputs["bt"]
    summary = (analyses["out"] / "drgn-summary.txt").read_text()
    assert "sysrq_handle_crash" in summary and " sh\n" in summary


def test_module_oops_analysis(analyses):
    """An oops in a module's init: the trace goes through the module's init code to
    do_one_initcall (drgn alone stops after 2 frames; see _cover_init_sections)."""
    a = analyses["module-null"]
    assert a.panic_message == "Oops: 0002 [#1] PREEMPT SMP NOPTI"
    assert a.sys["PANIC"].endswith("(check log for details)")
    assert a.crashing_task is not None and a.crashing_task.command == "insmod"
    assert "kdump_crash" in [m.name for m in a.modules]
    first = a.backtrace[0]
    assert (first.function, first.module, first.exception) == ("kdump_crash_null",
                                                               "kdump_crash", True)
    assert first.registers["RIP"] == first.address.rjust(16, "0")
    assert a.backtrace[1].function == "kdump_crash_init"
    assert a.backtrace[1].module == "kdump_crash"
    assert "do_one_initcall" in a.functions and "do_init_module" in a.functions
    assert [f.exception for f in a.backtrace].count(True) == 1
    assert "TAINTED" in a.flags


@pytest.mark.parametrize("name", ["sysrq", "module-null"])
def test_same_as_crash(analyses, real_dumps, name):
    """Against crash's raw outputs on the same dump, read here with a crash process."""
    d = real_dumps[name]
    with CrashProcess(d.crash_tool, d.vmlinux, d.vmcore) as s:
        out = {cmd: s.run(cmd) for cmd in ("bt", "ps", "log", "sys", "mod")}
    a = analyses[name]
    bt = out["bt"]
    crash_tasks = {}
    for line in out["ps"].splitlines()[1:]:
        pid, ppid, cpu, task, st, *_, comm = line.lstrip(">").split()
        crash_tasks[task] = (int(pid), int(ppid), int(cpu), st, comm.strip("[]"),
                             line.startswith(">"))
    assert {t.task: (t.pid, t.ppid, t.cpu, t.state, t.command, t.active)
            for t in a.tasks} == crash_tasks
    assert a.log == out["log"]
    sys_txt = out["sys"]
    assert f"PANIC: {a.sys['PANIC']}" in sys_txt and f"TASKS: {len(a.tasks)}" in sys_txt
    crash_functions = [clean_function(f) for f in re.findall(r"\] (\S+) at ", bt)]
    # drgn starts at the saved registers: every function of its trace is in crash's, in
    # the same order, except where the names differ (listed in the report)
    named = {"entry_SYSCALL_64": "entry_SYSCALL_64_after_hwframe",
             "kdump_crash_init": "_MODULE_INIT_START_kdump_crash"}
    mine = [named.get(clean_function(f), clean_function(f)) for f in a.functions]
    if a.backtrace[0].exception:
        assert f"[exception RIP: {mine[0]}+{a.backtrace[0].offset}]" in bt
        mine = mine[1:]
    start = crash_functions.index(mine[0])
    assert crash_functions[start:] == mine
    mods = out["mod"]
    for m in a.modules:
        assert re.search(rf"{m.address}\s+{m.name}\s+{m.base}\s+{m.size}\s", mods)


def test_missing_inputs(real_dumps, tmp_path):
    dump = real_dumps["sysrq"]
    with pytest.raises(AnalysisError, match="vmlinux not found") as info:
        analyze_drgn(tmp_path / "nope", dump.vmcore)
    assert info.value.phase == "analysis"
    with pytest.raises(AnalysisError, match="vmcore not found"):
        analyze_drgn(dump.vmlinux, tmp_path / "nope")


def test_drgn_not_installed(real_dumps, monkeypatch):
    monkeypatch.setitem(sys.modules, "drgn", None)  # import drgn -> ImportError
    assert "pip install" in available()
    with pytest.raises(ToolError) as info:
        analyze_drgn(real_dumps["sysrq"].vmlinux, real_dumps["sysrq"].vmcore)
    assert info.value.advice == "pip install 'pytest-kdump[drgn]'"


def test_vmlinuz_is_not_a_debug_vmlinux(real_dumps):
    dump = real_dumps["sysrq"]
    with pytest.raises(AnalysisError, match="no debug info") as info:
        analyze_drgn(dump.vmlinux.parent / "vmlinuz", dump.vmcore)
    assert "-dbg" in info.value.advice and info.value.phase == "analysis"


def test_vmlinux_of_another_build(real_dumps, other_build_vmlinux):
    """Another build date in linux_banner, same build ID: drgn alone would accept it."""
    dump = real_dumps["sysrq"]
    other = other_build_vmlinux
    with pytest.raises(AnalysisError, match="vmlinux does not match") as info:
        analyze_drgn(other, dump.vmcore)
    assert "exactly that kernel build" in info.value.advice


def test_truncated_vmcore(real_dumps, tmp_path):
    dump = real_dumps["sysrq"]
    cut = tmp_path / "vmcore"
    cut.write_bytes(dump.vmcore.read_bytes()[: dump.vmcore.stat().st_size // 2])
    with pytest.raises(VmcoreError, match="truncated") as info:
        analyze_drgn(dump.vmlinux, cut)
    assert info.value.phase == "analysis"

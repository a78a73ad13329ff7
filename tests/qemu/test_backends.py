"""crash and drgn on the same real sysrq dump: the same answers in the same result model."""

from __future__ import annotations

import pytest

from pytest_kdump import analysis
from pytest_kdump.symbols import clean_function


@pytest.fixture(scope="module")
def both(real_dumps, tmp_path_factory):
    dump = real_dumps["sysrq"]
    out = tmp_path_factory.mktemp("backends")
    results = {b: analysis.analyze(dump.crash_tool, dump.vmlinux, dump.vmcore, out_dir=out / b,
                                   backend=b) for b in analysis.BACKENDS}
    return dump.release, results


def test_backends_agree_on_a_sysrq_dump(both):
    release, results = both
    crash, drgn = results["crash"], results["drgn"]
    assert (crash.backend, drgn.backend) == ("crash", "drgn")
    assert release and drgn.kernel_release == crash.kernel_release == release
    assert drgn.panic_message == crash.panic_message == "sysrq triggered crash"
    ct, dt = crash.crashing_task, drgn.crashing_task
    assert (dt.pid, dt.command, dt.cpu, dt.task, dt.state, dt.ppid, dt.active) == (
        ct.pid, ct.command, ct.cpu, ct.task, ct.state, ct.ppid, ct.active) == (
        ct.pid, "sh", 0, ct.task, "RU", 1, True)
    # drgn starts at the registers saved for kdump (crash adds machine_kexec) and names two
    # entry points differently; otherwise the frames are crash's, in crash's order
    named = {"entry_SYSCALL_64": "entry_SYSCALL_64_after_hwframe"}
    mine = [named.get(clean_function(f), clean_function(f)) for f in drgn.functions]
    theirs = [clean_function(f) for f in crash.functions]
    assert "sysrq_handle_crash" in mine and theirs[theirs.index(mine[0]):] == mine, (
        theirs, mine)
    assert {t.pid for t in drgn.tasks} == {t.pid for t in crash.tasks}
    states = {t.pid: t.state for t in crash.tasks}
    assert {t.pid: t.state for t in drgn.tasks} == states
    assert [t.pid for t in drgn.tasks if t.active] == [t.pid for t in crash.tasks if t.active]
    assert sorted(m.name for m in drgn.modules) == sorted(m.name for m in crash.modules)
    assert "sysrq: Trigger a crash" in drgn.log and "sysrq: Trigger a crash" in crash.log


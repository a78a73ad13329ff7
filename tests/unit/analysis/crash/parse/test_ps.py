"""Tests of parse.ps: ``ps`` and ``ps -m``."""

from __future__ import annotations

import pytest

from pytest_kdump.analysis.crash import parse as cp
from pytest_kdump.analysis.model import Task
from tests.unit.analysis.crash.parse.recorded import read


def test_ps_sysrq() -> None:
    tasks = cp.parse_ps(read("sysrq-8.0.6", "ps.txt"))
    assert len(tasks) == 47
    assert tasks[0] == Task(pid=0, command="swapper/0", cpu=0, task="ffffffff9221aa40",
                            state="RU", ppid=0, mem_percent=0.0, vsz=0, rss=0,
                            kernel_thread=True)
    assert tasks[1] == Task(pid=1, command="init", cpu=0, task="ffff8a80c11f3000", state="IN",
                            ppid=0, mem_percent=0.3, vsz=2260, rss=1812)
    active = [t for t in tasks if t.active]
    assert active == [Task(pid=99, command="sh", cpu=0, task="ffff8a80deefe000", state="RU",
                           ppid=1, active=True, mem_percent=0.3, vsz=2260, rss=1676)]
    assert sum(t.kernel_thread for t in tasks) == 45
    assert len({t.pid for t in tasks}) == 47
    assert next(t for t in tasks if t.pid == 11).command == "rcu_tasks_kthre"  # 15 chars
    assert {t.state for t in tasks} == {"RU", "IN", "ID"}
    bt = cp.parse_bt_one(read("sysrq-8.0.6", "bt.txt"))
    assert bt is not None and bt.task is not None
    assert (bt.task.pid, bt.task.task, bt.task.command) == (
        active[0].pid, active[0].task, active[0].command)


def test_ps_module_null() -> None:
    tasks = cp.parse_ps(read("module-null-8.0.6", "ps.txt"))
    assert len(tasks) == 48
    (active,) = [t for t in tasks if t.active]
    assert (active.pid, active.ppid, active.command, active.rss) == (109, 99, "insmod", 1184)
    sh = next(t for t in tasks if t.pid == 99)
    assert (sh.state, sh.active, sh.kernel_thread) == ("IN", False, False)


def test_ps_crash_802() -> None:
    # crash 8.0.2 finds only the idle task and the panicking one, with a bogus PPID and RSS
    tasks = cp.parse_ps(read("sysrq-8.0.2", "ps.txt"))
    assert [(t.pid, t.command, t.kernel_thread) for t in tasks] == [
        (0, "swapper/0", True), (99, "sh", False)]
    assert (tasks[1].active, tasks[1].ppid, tasks[1].rss, tasks[1].mem_percent) == (
        True, -1, 76, 0.0)


def test_ps_header_driven() -> None:
    text = ("   PID  PPID  CPU   TASK      ST  COMM\n"
            ">   10     2    3  ffff0010  RU  [kworker/3:1 x]\n"
            "     11   1   0  ffff0011  IN  a b c\n"
            "     12   1   0\n")
    tasks = cp.parse_ps(text)
    assert tasks == [
        Task(pid=10, command="kworker/3:1 x", cpu=3, task="ffff0010", state="RU", ppid=2,
             active=True, kernel_thread=True),
        Task(pid=11, command="a b c", cpu=0, task="ffff0011", state="IN", ppid=1)]
    header = "      PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM\n"
    assert cp.parse_ps(header) == []
    assert cp.parse_ps("") == []
    assert cp.parse_ps("ps: invalid task\n") == []


def test_ps_m() -> None:
    times = cp.parse_ps_m(read("sysrq-8.0.6", "ps_m.txt"))
    assert len(times) == 47
    assert times[0] == cp.TaskTime(pid=99, task="ffff8a80deefe000", cpu=0, command="sh",
                                   state="RU", since_last_run=0.0, stamp="0 00:00:00.000")
    assert times[-1].pid == 0 and times[-1].since_last_run == pytest.approx(3.591)
    assert times[8].command == "kworker/0:1H"
    assert times[8].since_last_run == pytest.approx(1.271)
    assert [t.since_last_run for t in times] == sorted(t.since_last_run for t in times)
    pids = {t.pid for t in cp.parse_ps(read("sysrq-8.0.6", "ps.txt"))}
    assert {t.pid for t in times} == pids
    assert len(cp.parse_ps_m(read("sysrq-8.0.2", "ps_m.txt"))) == 2
    long = cp.parse_ps_m('[2 03:04:05.500] [UN]  PID: 7  TASK: ffff07  CPU: 1  COMMAND: "x"')
    assert long[0].since_last_run == pytest.approx(2 * 86400 + 3 * 3600 + 4 * 60 + 5.5)
    assert cp.parse_ps_m("[0 00:00:00.000] [RU]  PID: 99  TASK:") == []

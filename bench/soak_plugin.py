"""bench/soak's pytest plugin: what each crash test left behind, and what its process holds.

Loaded in bench/soak's child pytest with ``-p soak_plugin`` (``bench/`` on ``PYTHONPATH``);
each process writes JSON lines to ``$SOAK_OUT/<pid>.jsonl``:

- a process that runs tests (an xdist worker, or the only process) writes ``begin`` (session
  start), ``start`` (a test begins), ``test`` (a test ended, its fixtures torn down: the
  process's resources and the check of the test's artifact folder) and ``end`` (session over,
  board closed); ``begin`` and ``end`` also list the open files;
- the process that gathers reports (the xdist controller, or the only process) writes
  ``report`` (nodeid, phase, outcome, duration, and the failure's first line).

``SOAK_PRUNE=1`` deletes each vmcore once checked, so a long run does not fill the disk.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_kdump.errors import KdumpError
from pytest_kdump.vmcore import check_vmcore

_OUT: Path | None = None
_GATHERS = False  # this process gathers the reports (not an xdist worker)


def folder_of(artifacts_root: Path, nodeid: str) -> Path:
    """A test's artifact folder, named as pytest_kdump.plugin names it."""
    return artifacts_root / re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")


def check_artifacts(folder: Path, prune: bool = False) -> dict[str, Any]:
    """What a crash test's folder holds; ``problems`` lists what a complete one lacks.

    The vmcore is checked again here (complete, and the size kdump.json recorded); ``prune``
    deletes it afterwards.
    """
    problems: list[str] = []
    info: dict[str, Any] = {"folder": str(folder), "problems": problems}
    if not folder.is_dir():
        problems.append("no artifact folder")
        return info
    record: dict[str, Any] = {}
    try:
        record = json.loads((folder / "kdump.json").read_text())
    except FileNotFoundError:
        problems.append("no kdump.json")
    except ValueError as exc:
        problems.append(f"kdump.json unreadable: {exc}")
    error = record.get("error")
    info.update(outcome=record.get("outcome"), error=error,
                total_seconds=record.get("total_seconds"),
                phases={p["name"]: p["seconds"] for p in record.get("phases", [])},
                backend=(record.get("analysis") or {}).get("backend"))
    if record.get("outcome") not in (None, "passed", "skipped"):
        problems.append(f"kdump.json outcome {record['outcome']}")
    if error:
        problems.append(f"{error['type']} in phase {error['phase']}: {error['message']}")
    if record and "analysis" not in record:
        problems.append("kdump.json has no analysis")
    if not (folder / "console.log").is_file():
        problems.append("no console.log")
    vmcore = folder / "vmcore"
    if vmcore.is_file():
        try:
            info["vmcore_size"] = check_vmcore(vmcore, record.get("vmcore_size")).size
        except KdumpError as exc:
            problems.append(f"vmcore check: {exc.message}")
        if prune:
            vmcore.unlink()
            info["pruned"] = True
    else:
        problems.append("no vmcore")
    outputs = {"crash": "crash-*.txt", "drgn": "drgn-summary.txt"}.get(info["backend"] or "")
    if outputs and not any(folder.glob(outputs)):
        problems.append(f"no {info['backend']} output ({outputs})")
    return info


def sample(pid: int) -> dict[str, Any]:
    """A process's resident memory (now, anonymous part and peak, kB), threads, open fds and
    children."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    children = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:]
        state, ppid = rest.split()[:2]
        if int(ppid) == pid:
            children.append(f"{comm}:{state}")
    kb = {key: int(fields[key].split()[0]) for key in ("VmRSS", "RssAnon", "VmHWM")}
    return {"rss_kb": kb["VmRSS"], "anon_kb": kb["RssAnon"], "hwm_kb": kb["VmHWM"],
            "threads": int(fields["Threads"]), "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "children": sorted(children)}


def _write(kind: str, **data: Any) -> None:
    if _OUT is None:
        return
    line = json.dumps({"kind": kind, "pid": os.getpid(), "t": time.time(), **data}, default=str)
    with open(_OUT / f"{os.getpid()}.jsonl", "a") as f:
        f.write(line + "\n")


def _worker(config: pytest.Config) -> str:
    return getattr(config, "workerinput", {}).get("workerid", "main")


def _runs_tests(config: pytest.Config) -> bool:
    """An xdist worker, or a run without workers (``-n 0``)."""
    return hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", 0)


def pytest_configure(config: pytest.Config) -> None:
    global _OUT, _GATHERS
    out = os.environ.get("SOAK_OUT")
    _OUT = Path(out) if out else None
    _GATHERS = not hasattr(config, "workerinput")


def open_files(pid: int) -> list[str]:
    """What the process's open fds point to."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:  # closed meanwhile
            pass
    return sorted(targets)


def pytest_sessionstart(session: pytest.Session) -> None:
    if _runs_tests(session.config):
        _write("begin", worker=_worker(session.config), files=open_files(os.getpid()),
               **sample(os.getpid()))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    if not _runs_tests(item.config):
        yield
        return
    _write("start", nodeid=item.nodeid, worker=_worker(item.config))
    yield
    folder = dict(item.user_properties).get("kdump_artifacts")
    if folder is None:  # the kdump fixture never got as far as its teardown
        root = Path(item.config.getoption("--kdump-artifacts"))
        folder = folder_of(root, item.nodeid)
    artifacts = check_artifacts(Path(folder), prune=os.environ.get("SOAK_PRUNE") == "1")
    # after the last test the session's fixtures (the board) are torn down too
    _write("test", nodeid=item.nodeid, worker=_worker(item.config), artifacts=artifacts,
           session_closed=nextitem is None, **sample(os.getpid()))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not _GATHERS:
        return
    summary = ""
    if report.failed:
        lines = report.longreprtext.splitlines()
        errors = [line for line in lines if line.startswith("E ")]
        summary = (errors or lines or [""])[0][:300]
    _write("report", nodeid=report.nodeid, when=report.when, outcome=report.outcome,
           duration=report.duration, summary=summary)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _runs_tests(session.config):
        _write("end", worker=_worker(session.config), files=open_files(os.getpid()),
               **sample(os.getpid()))

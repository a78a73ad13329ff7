"""The simulated lab rack with labgrid's own programs: two QEMU boards behind
labgrid-coordinator, labgrid-exporter (ser2net, RFC 2217) and an HTTP power switch; the
examples run unchanged on them, one place per xdist worker; and the rack's faults.

Each run is a child pytest (a pytest session drives one board per worker), as a user's
nightly run would be; artifacts go under ``<artifacts>/rack-*/``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from labgrid.driver.power import rest

from pytest_kdump.cachedir import cache_dir
from pytest_kdump.rack import control
from pytest_kdump.rack.spec import RackState
from tests.helpers import ROOT, child_pytest

RACK_ENV = ROOT / "labgrid-envs" / "rack" / "qemu-x86_64.yaml"
EXAMPLES = [ROOT / "examples" / "test_sysrq_crash.py", ROOT / "examples" / "test_dump_analysis.py"]
CACHE = cache_dir()  # read at import: pytester's fixture gives each test another HOME


def _rack_processes(state: RackState) -> list[int]:
    """Every process of the rack: its programs' process groups (the exporter's ser2net
    included) and the boards' QEMUs (their command lines name the rack's folder)."""
    groups = set(state.pids.values())
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            pgid = os.getpgid(int(proc.name))
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ProcessLookupError):
            continue
        if control._alive(int(proc.name)) and (pgid in groups or str(state.dir) in cmdline):
            found.append(int(proc.name))
    return found


@pytest.fixture(scope="module")
def rack(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("rack")
    state = control.up(folder, boards=2, port=control.free_port(), progress=lambda _: None)
    yield state
    control.down(folder, progress=lambda _: None)


def _run(pytester, monkeypatch, request, rack: RackState, name: str, places: str,
         *args: str, env: Path = RACK_ENV, tests: list[Path] = EXAMPLES):
    monkeypatch.setenv("PYTEST_KDUMP_CACHE", str(CACHE))
    monkeypatch.setenv("LG_KDUMP_RACK", str(rack.dir))
    monkeypatch.delenv("LG_PLACE", raising=False)
    root = request.config.rootpath / request.config.getini("kdump_artifacts") / name
    shutil.rmtree(root, ignore_errors=True)  # this run's records only (a rerun keeps none)
    junit = pytester.path / "junit.xml"
    result = child_pytest(pytester, *map(str, tests), "--lg-env", str(env),
                          "--lg-coordinator", rack.coordinator, "--kdump-places", places,
                          "--kdump-artifacts", str(root), "--kdump-backend", "drgn",
                          "--junitxml", str(junit), "-W", "ignore::DeprecationWarning",
                          *args, timeout=900)
    cases = list(ET.parse(junit).getroot().iter("testcase")) if junit.exists() else []
    return result, cases, root


def _acquired(rack: RackState) -> dict[str, str]:
    out = control.client(rack.coordinator, "-v", "places").stdout
    places, held = {}, None
    for line in out.splitlines():
        if line.startswith("Place '"):
            held = line.split("'")[1]
        elif line.strip().startswith("acquired:") and held:
            places[held] = line.split(":", 1)[1].strip()
    return places


def test_examples_run_on_two_remote_boards_in_parallel(pytester, monkeypatch, request, rack):
    """The same example files as on a local QEMU, with only --lg-env and the places changed:
    each xdist worker acquires its own place, crashes its board, gets the dump; the places are
    free again afterwards."""
    result, cases, root = _run(pytester, monkeypatch, request, rack, "rack-parallel",
                               "board-1,board-2", "-n", "2")
    out = result.stdout.str()
    kinds = [child.tag for case in cases for child in case
             if child.tag in ("failure", "error", "skipped")]
    assert len(cases) == 3 and not kinds, out[-6000:]
    records = [json.loads(p.read_text()) for p in root.glob("*/kdump.json")]
    assert len(records) == 3, sorted(root.iterdir())
    assert {r["board"]["place"] for r in records} == {"board-1", "board-2"}, \
        [r["board"] for r in records]
    assert all(r["vmcore_size"] > 1_000_000 for r in records), records
    assert _acquired(rack) == {"board-1": "None", "board-2": "None"}


def test_a_place_someone_else_holds_is_a_clear_error(pytester, monkeypatch, request, rack):
    env = control.client_env(rack.coordinator) | {"LG_USERNAME": "alice"}
    subprocess.run([control.tool("labgrid-client"), "-p", "board-2", "acquire"], env=env,
                   check=True, capture_output=True, timeout=30)
    try:
        result, cases, _ = _run(pytester, monkeypatch, request, rack, "rack-taken", "board-2")
        text = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR and not cases, text[-3000:]
        assert "cannot acquire place 'board-2'" in text and "alice" in text, text[-3000:]
        assert "release --kick" in text, text[-3000:]
    finally:
        subprocess.run([control.tool("labgrid-client"), "-p", "board-2", "release"], env=env,
                       check=True, capture_output=True, timeout=30)


def test_a_power_switch_that_does_not_answer_fails_naming_place_and_switch(
        pytester, monkeypatch, request, rack, tmp_path):
    text = RACK_ENV.read_text().replace("name: kdump-console\n",
                                        "name: kdump-console\n        power_timeout: 5\n")
    env = tmp_path / "rack-env.yaml"
    env.write_text(text)
    host = rack.pids["boardhost"]
    os.kill(host, signal.SIGSTOP)  # its HTTP server takes the connection and never answers
    try:
        started = time.monotonic()
        result, cases, root = _run(pytester, monkeypatch, request, rack, "rack-power",
                                   "board-1", env=env, tests=EXAMPLES[:1])
        seconds = time.monotonic() - started
    finally:
        os.kill(host, signal.SIGCONT)
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out[-4000:]
    assert len(cases) == 1 and (cases[0].find("error") is not None
                                or cases[0].find("failure") is not None), out[-4000:]
    assert "the power switch did not switch board main on place board-1" in out, out[-4000:]
    assert "within 5 s (rest http://127.0.0.1:" in out, out[-4000:]
    assert seconds < 120, f"the run took {seconds:.0f} s"
    assert _acquired(rack)["board-1"] == "None"  # released after the failure too


def test_without_coordinator_a_run_stops_at_once_and_down_leaves_nothing(
        pytester, monkeypatch, request, rack):
    for index in (1, 2):  # both boards on, board-1's place held: QEMUs and a ser2net run
        rest.power_set(rack.power_url, None, index, True)
    control.client(rack.coordinator, "-p", "board-1", "acquire")
    deadline = time.monotonic() + 15
    while len(_rack_processes(rack)) < 6 and time.monotonic() < deadline:
        time.sleep(0.2)
    processes = _rack_processes(rack)
    names = [Path(f"/proc/{p}/comm").read_text().strip() for p in processes]
    assert names.count("ser2net") == 1 and sum("qemu" in n for n in names) == 2, names
    os.killpg(rack.pids["coordinator"], signal.SIGTERM)
    deadline = time.monotonic() + 15
    while control.running(rack)["coordinator"] and time.monotonic() < deadline:
        time.sleep(0.2)
    result, cases, _ = _run(pytester, monkeypatch, request, rack, "rack-nocoord", "board-1")
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR and not cases, text[-3000:]
    assert f"coordinator {rack.coordinator}" in text and "Could not connect" in text, \
        text[-3000:]
    stopped = control.down(rack.dir, progress=lambda _: None)
    assert "boardhost" in stopped and "coordinator" not in stopped, stopped
    left = [p for p in processes if control._alive(p)]
    assert not left, [Path(f"/proc/{p}/cmdline").read_bytes() for p in left]
    assert not _rack_processes(rack)

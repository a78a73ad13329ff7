"""The simulated lab rack with labgrid's own programs: two QEMU boards behind
labgrid-coordinator, labgrid-exporter (ser2net, RFC 2217) and an HTTP power switch; the
examples run unchanged on them, one place per xdist worker; and the rack's faults.

Each run is a child pytest (a pytest session drives one board per worker), as a user's
nightly run would be; artifacts go under ``<artifacts>/rack-*/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
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
RACK_ENV_ARM64 = ROOT / "labgrid-envs" / "rack" / "qemu-arm64.yaml"
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


def _problems(cases: list) -> list[str]:
    """The failures, errors and skips among JUnit test cases."""
    return [child.tag for case in cases for child in case
            if child.tag in ("failure", "error", "skipped")]


def _acquired(rack: RackState) -> dict[str, str]:
    out = control.client(rack.coordinator, "-v", "places").stdout
    places, held = {}, None
    for line in out.splitlines():
        if line.startswith("Place '"):
            held = line.split("'")[1]
        elif line.strip().startswith("acquired:") and held:
            places[held] = line.split(":", 1)[1].strip()
    return places


def test_an_arm64_rack_board_runs_the_example_unchanged(pytester, monkeypatch, request,
                                                       tmp_path_factory):
    """``rack up --arch arm64``: a board of the BeaglePlay's architecture behind the same
    coordinator, exporter and power switch; the sysrq example runs with only --lg-env
    changed (first in this file: the two-board rack is not up yet), and down leaves nothing."""
    folder = tmp_path_factory.mktemp("rack-arm64")
    state = control.up(folder, boards=1, arch="arm64", port=control.free_port(),
                       progress=lambda _: None)
    try:
        assert [b.arch for b in state.boards] == ["aarch64"]
        result, cases, root = _run(pytester, monkeypatch, request, state, "rack-arm64",
                                   "board-1", env=RACK_ENV_ARM64, tests=EXAMPLES[:1])
        out = result.stdout.str()
        kinds = _problems(cases)
        assert len(cases) == 1 and not kinds, out[-6000:]
        record = json.loads(next(root.glob("*/kdump.json")).read_text())
        assert record["board"]["place"] == "board-1", record["board"]
        assert record["armed"]["arch"] == "aarch64", record["armed"]
        assert record["vmcore_size"] > 1_000_000, record
        assert _acquired(state) == {"board-1": "None"}
    finally:
        control.down(folder, progress=lambda _: None)
    assert _rack_processes(state) == []


def test_examples_run_on_two_remote_boards_in_parallel(pytester, monkeypatch, request, rack):
    """The same example files as on a local QEMU, with only --lg-env and the places changed:
    each xdist worker acquires its own place, crashes its board, gets the dump; the places are
    free again afterwards."""
    result, cases, root = _run(pytester, monkeypatch, request, rack, "rack-parallel",
                               "board-1,board-2", "-n", "2")
    out = result.stdout.str()
    kinds = _problems(cases)
    assert len(cases) == 3 and not kinds, out[-6000:]
    records = [json.loads(p.read_text()) for p in root.glob("*/kdump.json")]
    assert len(records) == 3, sorted(root.iterdir())
    assert {r["board"]["place"] for r in records} == {"board-1", "board-2"}, \
        [r["board"] for r in records]
    assert all(r["vmcore_size"] > 1_000_000 for r in records), records
    assert _acquired(rack) == {"board-1": "None", "board-2": "None"}


def test_the_same_test_on_every_board_with_dist_each(pytester, monkeypatch, request, rack):
    """``--dist each``: the sysrq example runs on both boards at once (the nightly "every
    board" run), and each board's copy keeps an artifact folder of its own."""
    result, cases, root = _run(pytester, monkeypatch, request, rack, "rack-each",
                               "board-1,board-2", "-n", "2", "--dist", "each",
                               tests=EXAMPLES[:1])
    out = result.stdout.str()
    kinds = _problems(cases)
    assert len(cases) == 2 and not kinds, out[-6000:]
    folders = sorted(p for p in root.iterdir() if (p / "kdump.json").is_file())
    assert [p.name.rsplit("@", 1)[-1] for p in folders] == ["board-1", "board-2"], folders
    records = [json.loads((p / "kdump.json").read_text()) for p in folders]
    assert [r["board"]["place"] for r in records] == ["board-1", "board-2"], records
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


# A plugin for the child run: in the xdist worker that holds board-1, once the place is
# acquired (the exporter started its ser2net) and before the session opens the console, the
# exporter's ser2net for that board is killed: the place's serial port refuses connections.
KILL_SER2NET = """
import json, os, signal, time
from pathlib import Path


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput") or os.environ["LG_PLACE"] != "board-1":
        return
    rack = Path(os.environ["LG_KDUMP_RACK"])
    tty = json.loads((rack / "boards.json").read_text())["boards"]["board-1"]["tty"]
    group = json.loads((rack / "rack.json").read_text())["pids"]["exporter-board-1"]
    connector = f"  connector: serialdev(nouucplock=true),{tty},".encode()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\\0")
                if (proc.name.isdigit() and os.getpgid(int(proc.name)) == group
                        and argv[0].endswith(b"ser2net")
                        and any(a.startswith(connector) for a in argv)):
                    os.kill(int(proc.name), signal.SIGKILL)
                    return
            except OSError:
                continue
        time.sleep(0.1)
    raise RuntimeError(f"no ser2net of board-1 ({tty}) in the exporter's group {group}")
"""


def test_a_ser2net_refusing_the_connection_fails_naming_place_and_port(
        pytester, monkeypatch, request, rack):
    """board-1's ser2net dies while the place is acquired (the exporter does not notice): the
    worker on board-1 fails each of its tests at once, naming the place, ser2net's address
    and what to check; the worker on board-2 passes its tests; both places are released."""
    pytester.makepyfile(kill_ser2net=KILL_SER2NET)
    result, cases, root = _run(pytester, monkeypatch, request, rack, "rack-ser2net",
                               "board-1,board-2", "-n", "2", "-p", "kill_ser2net")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED and len(cases) == 3, out[-6000:]
    errors = [case.find("error") for case in cases if case.find("error") is not None]
    passed = [case for case in cases if not any(child.tag in ("failure", "error", "skipped")
                                                for child in case)]
    assert errors and len(errors) + len(passed) == 3, out[-6000:]
    for error in errors:  # each of board-1's tests, at its set-up
        text = f"{error.get('message')}\n{error.text}"
        assert re.search(r"\[phase setup\] cannot open the console of target main on place "
                         r"board-1: ser2net at 127\.0\.0\.1:\d+ \(rfc2217\) could not be opened "
                         r"\(SerialException: \[Errno 111\] Connection refused\)", text), text
        assert "labgrid-client -p board-1 -v resources" in text, text
        assert "Traceback" not in text and "serialutil.py" not in text, text
    records = [json.loads(p.read_text()) for p in root.glob("*/kdump.json")]
    assert len(records) == len(passed) and {r["board"]["place"] for r in records} == \
        {"board-2"}, [r["board"] for r in records]
    assert all(r["outcome"] == "passed" for r in records), records
    assert _acquired(rack) == {"board-1": "None", "board-2": "None"}


def _new_qemu(folder: Path, old: set[int], deadline: float) -> int | None:
    """A QEMU of the board whose folder is ``folder``, not in ``old``, that has run for a
    second (one that cannot start exits at once)."""
    while time.monotonic() < deadline:
        found = {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                 and _cmdline(int(p.name)).startswith("qemu-system")
                 and f"{folder}/" in _cmdline(int(p.name))} - old
        if found:
            time.sleep(1.0)
            running = [pid for pid in found if control._alive(pid)]
            if running:
                return running[0]
            old |= found
        time.sleep(0.1)
    return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.fixture
def own_rack(tmp_path_factory: pytest.TempPathFactory, rack: RackState):
    """A rack of its own, for a test that restarts its exporter and takes it down; the module
    rack's boards are switched off meanwhile (two cores)."""
    for index in (1, 2):
        rest.power_set(rack.power_url, None, index, False)
    folder = tmp_path_factory.mktemp("own-rack")
    state = control.up(folder, boards=2, port=control.free_port(), progress=lambda _: None)
    yield state
    control.down(folder, progress=lambda _: None)


def test_an_exporter_restarted_during_a_test_fails_it_naming_the_place_then_reconnects(
        pytester, monkeypatch, request, own_rack):
    """board-1's exporter (with its ser2net) is killed while board-1 boots for its first
    test, and started again: that test fails in its phase, saying that the place's console
    connection was lost and what to check; board-1's next test reconnects (the coordinator
    gives the place its resources again) and passes; board-2, on an exporter of its own,
    passes both; both places are released; the killed exporter's group is gone, and rack
    down leaves nothing."""
    rack = own_rack
    old_group = rack.pids["exporter-board-1"]
    before = {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}
    events: list[str] = []

    def restart() -> None:
        try:
            qemu = _new_qemu(rack.dir / "board-1", before, time.monotonic() + 300)
            if qemu is None:
                events.append("no QEMU of board-1 started")
                return
            time.sleep(0.5)  # board-1 is booting
            os.killpg(old_group, signal.SIGKILL)  # as a crash or kill -9 of the exporter
            events.append("killed")
            control.restart_exporter(rack, "board-1", progress=lambda _: None)
            events.append("restarted")
        except Exception as exc:  # the test fails on it below
            events.append(f"restart failed: {exc!r}")

    # four sysrq tests, two per worker (xdist's load scheduling sends 2 to each of 2 workers)
    sysrq = (ROOT / "examples" / "test_sysrq_crash.py").read_text()
    tests = [pytester.path / f"test_sysrq_{n}.py" for n in range(1, 5)]
    for path in tests:
        path.write_text(sysrq)
    worker = threading.Thread(target=restart, daemon=True)
    worker.start()
    result, cases, root = _run(pytester, monkeypatch, request, rack, "rack-exporter",
                               "board-1,board-2", "-n", "2", tests=tests)
    worker.join(60)
    out = result.stdout.str()
    assert events == ["killed", "restarted"], (events, out[-6000:])
    assert len(cases) == 4, out[-6000:]
    assert not [c for c in cases if c.find("error") is not None or c.find("skipped") is not None]
    failed = [case.find("failure") for case in cases if case.find("failure") is not None]
    places = []
    for failure in failed:
        text = f"{failure.get('message')}\n{failure.text}"
        found = re.search(r"\[phase (boot|shell)\] the board went away during \1: the console "
                          r"connection of board main on place (board-\d) \(ser2net at "
                          r"127\.0\.0\.1:\d+ \(rfc2217\)\) was lost: SerialException: ", text)
        assert found, text
        assert f"labgrid-client -p {found.group(2)} -v resources" in text, text
        places.append(found.group(2))
    # board-1's test under way fails, and its next test reconnects and passes; board-2, on
    # an exporter of its own, sees nothing
    assert places == ["board-1"], places
    records = [json.loads(p.read_text()) for p in root.glob("*/kdump.json")]
    outcomes = {place: sorted(r["outcome"] for r in records if r["board"]["place"] == place)
                for place in ("board-1", "board-2")}
    assert outcomes["board-1"] == ["failed", "passed"], outcomes
    assert outcomes["board-2"] == ["passed", "passed"], outcomes
    assert _acquired(rack) == {"board-1": "None", "board-2": "None"}
    with pytest.raises(ProcessLookupError):  # the killed exporter's ser2net went with it
        os.killpg(old_group, 0)
    assert rack.pids["exporter-board-1"] != old_group
    assert all(control.running(rack).values()), control.running(rack)
    processes = _rack_processes(rack)
    stopped = control.down(rack.dir, progress=lambda _: None)
    assert stopped == ["exporter-board-1", "exporter-board-2", "coordinator", "boardhost"], \
        stopped
    left = [p for p in processes if control._alive(p)]
    assert not left, [_cmdline(p) for p in left]
    assert not _rack_processes(rack)


def test_the_coordinator_gone_during_a_run_fails_its_tests_and_down_leaves_nothing(
        pytester, monkeypatch, request, own_rack):
    """The coordinator is killed while board-1 boots: the exporters lose it and stop their
    ser2net, so the test under way fails in its phase naming the lost console connection and
    the place; the run ends, bounded; rack down leaves no QEMU, ser2net or labgrid
    process."""
    rack = own_rack
    before = {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}
    events: list[str] = []

    def kill() -> None:
        qemu = _new_qemu(rack.dir / "board-1", before, time.monotonic() + 300)
        if qemu is None:
            events.append("no QEMU of board-1 started")
            return
        time.sleep(0.5)  # board-1 is booting
        os.killpg(rack.pids["coordinator"], signal.SIGKILL)
        events.append("killed")

    sysrq = (ROOT / "examples" / "test_sysrq_crash.py").read_text()
    tests = [pytester.path / f"test_sysrq_{n}.py" for n in (1, 2)]
    for path in tests:
        path.write_text(sysrq)
    worker = threading.Thread(target=kill, daemon=True)
    worker.start()
    started = time.monotonic()
    result, cases, _ = _run(pytester, monkeypatch, request, rack, "rack-coordinator-gone",
                            "board-1,board-2", "-n", "2", tests=tests)
    seconds = time.monotonic() - started
    worker.join(60)
    out = result.stdout.str() + result.stderr.str()
    assert events == ["killed"], (events, out[-6000:])
    assert seconds < 400, f"the run took {seconds:.0f} s"
    failures = [f"{c.find('failure').get('message')}\n{c.find('failure').text}" for c in cases
                if c.find("failure") is not None]
    lost = [f for f in failures if re.search(
        r"the console connection of board main on place board-1 \(ser2net at 127\.0\.0\.1:"
        r"\d+ \(rfc2217\)\) was lost", f)]
    assert lost, out[-6000:]
    assert "labgrid-client -p board-1 -v resources" in lost[0], lost[0]
    processes = _rack_processes(rack)
    control.down(rack.dir, progress=lambda _: None)
    left = [p for p in processes if control._alive(p)]
    assert not left, [_cmdline(p) for p in left]
    assert not _rack_processes(rack)


def test_without_coordinator_a_run_stops_at_once_and_down_leaves_nothing(
        pytester, monkeypatch, request, rack):
    for index in (1, 2):  # both boards on, board-1's place held: QEMUs and a ser2net run
        rest.power_set(rack.power_url, None, index, True)
    control.client(rack.coordinator, "-p", "board-1", "acquire")
    deadline = time.monotonic() + 15
    while len(_rack_processes(rack)) < 7 and time.monotonic() < deadline:
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

"""The pytest plugin: options, the ``kdump`` fixture, artifacts and reports.

The engine (:mod:`pytest_kdump.engine`) does the work; this module wires it to labgrid's
``target`` fixture, gives each test an artifact folder and writes ``kdump.json``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from labgrid.binding import BindingError
from labgrid.exceptions import InvalidConfigError, NoDriverFoundError

from pytest_kdump.analysis import BACKENDS
from pytest_kdump.analysis.crash.cross import setup_advice
from pytest_kdump.analysis.crash.tool import (
    CrashTool,
    find_crash,
    install_crash,
    installed_crash,
)
from pytest_kdump.arch import get_arch
from pytest_kdump.cachedir import cache_dir
from pytest_kdump.drivers.board import console_open_error
from pytest_kdump.drivers.environment import check_env_file, set_env_defaults
from pytest_kdump.errors import KdumpError, ToolError, UnexpectedCrash
from pytest_kdump.rack import places as rack_places
from pytest_kdump.report.baseline import Baseline, Verdict, load_baseline
from pytest_kdump.session import Kdump, KdumpSession, ready_driver

_REPORTS = pytest.StashKey[dict]()
_SESSION = pytest.StashKey[KdumpSession]()
_HANDLE = pytest.StashKey["Kdump | None"]()  # None once the test is finished
_MARK = pytest.StashKey[int]()
_RUN_DIR = pytest.StashKey["Path | None"]()
_OLD_SIGTERM = pytest.StashKey[Any]()
_BASELINE = pytest.StashKey["Baseline | None"]()
_PLACE = pytest.StashKey["tuple[str, str] | None"]()  # (place, coordinator) this run holds
_PLACE_BOOK = pytest.StashKey["rack_places.PlaceBook"]()  # xdist controller: who has which


def _sigterm(signum: int, frame: Any) -> None:
    """SIGTERM (a CI job's timeout) stops the run like Ctrl-C: fixtures are torn down, the
    running test's artifacts kept and recorded as interrupted, its board switched off."""
    raise KeyboardInterrupt(f"stopped by signal {signum} (SIGTERM)")


def unexpected_summary(seen: list, log_path: Path, folder: Path) -> str:
    """What a test that crashed the kernel unexpectedly fails with."""
    lines = [f"UnexpectedCrash: the kernel crashed during this test ({len(seen)} report(s))"]
    for s in seen:
        rec = s.record
        lines += [f"  kind: {rec.kind}", f"  signature: {rec.signature}",
                  "  console:"] + [f"    {line}" for line in rec.raw.splitlines()[:20]]
    lines += [f"Full console log: {log_path}",
              f"Dump and analysis (if kdump was armed): {folder}"]
    return "\n".join(lines)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kdump", "kernel crash (kdump) testing")
    group.addoption("--kdump-artifacts", metavar="DIR", default=None,
                    help="folder for per-test console logs, vmcores, crash outputs and "
                         "kdump.json (default: ini kdump_artifacts, else ./kdump-artifacts)")
    group.addoption("--kdump-echo", action="store_true", default=None,
                    help="copy the board's console to the terminal as it arrives")
    group.addoption("--kdump-crash", metavar="PATH", default=None,
                    help="crash binary to use (default: KdumpDriver's crash key, else the one "
                         "pytest-kdump installs)")
    group.addoption("--kdump-backend", choices=BACKENDS, default=None,
                    help="analyse dumps with the crash utility or drgn (default: ini "
                         "kdump_backend, else crash); per test: @pytest.mark.kdump_backend")
    group.addoption("--kdump-baseline", metavar="FILE", default=None,
                    help="YAML of known crash signatures: a crash nobody asked for that is a "
                         "known-bug xfails with its ticket, an expected one does not fail the "
                         "test, any other fails it (default: ini kdump_baseline)")
    group.addoption("--kdump-places", metavar="P1,P2", default=None,
                    help="labgrid places to run on, one per xdist worker (gw0 takes the "
                         "first); each is acquired for the run and released after, and the "
                         "env's RemotePlace gets it as $LG_PLACE (default: ini kdump_places)")
    group.addoption("--kdump-full-boots", action="store_true", default=None,
                    help="boot the QEMU guest in full at every power-on instead of restoring "
                         "the armed board saved after the first boot (fast mode, the default "
                         "where KdumpDriver's snapshot applies; default: ini kdump_full_boots)")
    parser.addini("kdump_backend", "analysis backend (see --kdump-backend)", default="crash")
    parser.addini("kdump_full_boots", "boot in full at every power-on (see --kdump-full-boots)",
                  type="bool", default=False)
    parser.addini("kdump_places", "labgrid places, one per xdist worker (see --kdump-places)",
                  type="args", default=[])
    parser.addini("kdump_baseline", "crash signature baseline (see --kdump-baseline)",
                  default="")
    parser.addini("kdump_artifacts", "artifact folder (see --kdump-artifacts)",
                  default="kdump-artifacts")
    parser.addini("kdump_echo", "copy the console to the terminal", type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kdump: a test that crashes the kernel under test")
    config.addinivalue_line("markers", "kdump_backend(name): analyse this test's dumps with "
                            "'crash' or 'drgn'")
    backend = _backend(config)
    if backend not in BACKENDS:
        raise pytest.UsageError(f"kdump_backend = {backend!r}: choose one of "
                                f"{', '.join(BACKENDS)}")
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL):
        config.stash[_OLD_SIGTERM] = signal.signal(signal.SIGTERM, _sigterm)
    # Values the environment YAML refers to with !template; labgrid reads it after us.
    config.stash[_RUN_DIR] = set_env_defaults(_worker(config))
    artifacts = _artifacts_root(config)
    if artifacts.exists() and not artifacts.is_dir():
        raise pytest.UsageError(f"--kdump-artifacts {artifacts}: a file, not a folder; give "
                                "the folder for the tests' artifacts (created if missing)")
    env_file = config.getoption("lg_env", None) or os.environ.get("LG_ENV")
    try:
        if env_file:
            check_env_file(env_file)
        config.stash[_BASELINE] = _load_baseline(config)
        config.stash[_PLACE] = _take_place(config)
    except KdumpError as exc:
        raise pytest.UsageError(str(exc)) from None


def _places(config: pytest.Config) -> list[str]:
    return rack_places.parse_places(config.getoption("--kdump-places")
                                    or config.getini("kdump_places"))


def _is_xdist_controller(config: pytest.Config) -> bool:
    return _worker(config) is None and getattr(config.option, "dist", "no") != "no"


def _take_place(config: pytest.Config) -> tuple[str, str] | None:
    """Acquire this process's place and name it in $LG_PLACE, before labgrid reads the env
    YAML. Under xdist the controller hands each worker a free place (pytest_configure_node)
    and acquires none itself, but sets $LG_PLACE too: labgrid loads the env there as well."""
    places = _places(config)
    if not places:
        return None
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "kdump_place" in workerinput:
        place = workerinput["kdump_place"]
        if place is None:
            raise rack_places.no_free_place(places, _worker(config))
    else:
        place = places[0]
    os.environ["LG_PLACE"] = place
    if _is_xdist_controller(config):
        workers = getattr(config.option, "numprocesses", None)
        if isinstance(workers, int) and workers > len(places):
            raise rack_places.no_free_place(places, f"gw{len(places)}")
        config.stash[_PLACE_BOOK] = rack_places.PlaceBook(places)
        return None
    coordinator = rack_places.coordinator_address(config.getoption("lg_coordinator", None))
    rack_places.acquire(place, coordinator)
    if workerinput is not None and "kdump_place_marks" in workerinput:
        rack_places.mark_held(Path(workerinput["kdump_place_marks"]), place)
    return place, coordinator


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: a free place for each worker starting (a replacement worker gets
    the place of the one that died); whether every worker runs every test (``--dist each``:
    a worker's own config says "no")."""
    node.workerinput["kdump_dist_each"] = getattr(node.config.option, "dist", None) == "each"
    book = node.config.stash.get(_PLACE_BOOK, None)
    if book is not None:
        node.workerinput["kdump_place"] = book.take()
        node.workerinput["kdump_place_marks"] = str(book.marks)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: a worker that died could not release its place: release it for it
    if it held it (a place it failed to acquire is someone else's), and free it."""
    book = node.config.stash.get(_PLACE_BOOK, None)
    place = node.workerinput.get("kdump_place") if book is not None else None
    if place is None:
        return
    if error and book.held(place):
        coordinator = rack_places.coordinator_address(
            node.config.getoption("lg_coordinator", None))
        why = rack_places.release(place, coordinator)
        book.unmark(place)
        reporter = node.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"pytest-kdump: place {place} of worker {node.gateway.id}, "
                                f"which died: {f'not released: {why}' if why else 'released'}")
    book.give_back(place)


def pytest_unconfigure(config: pytest.Config) -> None:
    held = config.stash.get(_PLACE, None)
    if held is not None:
        why = rack_places.release(*held)
        if why:
            print(f"pytest-kdump: place {held[0]} not released: {why}")
        marks = getattr(config, "workerinput", {}).get("kdump_place_marks")
        if marks:
            rack_places.PlaceBook.unmark_in(Path(marks), held[0])
    book = config.stash.get(_PLACE_BOOK, None)
    if book is not None:
        book.close()
    old = config.stash.get(_OLD_SIGTERM, None)
    if old is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, old)
    run = config.stash.get(_RUN_DIR, None)
    if run is not None:  # the dump disk and scratch files of this session (artifacts stay)
        shutil.rmtree(run, ignore_errors=True)
        current = os.environ.get("LG_KDUMP_RUN")
        if current and Path(current).is_relative_to(run):
            del os.environ["LG_KDUMP_RUN"]


def _load_baseline(config: pytest.Config) -> Baseline | None:
    """``--kdump-baseline``, else ini ``kdump_baseline`` (see :func:`_user_path`), read once:
    a wrong file stops the run before any test."""
    path = _user_path(config, "--kdump-baseline", "kdump_baseline")
    return load_baseline(path) if path else None


def _user_path(config: pytest.Config, option: str, ini: str) -> Path | None:
    """A path option: the command line's relative to the folder pytest was started in, the
    ini file's relative to that file's folder (to the rootdir when there is no ini file)."""
    if value := config.getoption(option):
        path, base = Path(value), Path(config.invocation_params.dir)
    elif value := config.getini(ini):
        path = Path(value)
        base = config.inipath.parent if config.inipath else Path(config.rootpath)
    else:
        return None
    return path if path.is_absolute() else base / path


def _worker(config: pytest.Config) -> str | None:
    """The xdist worker's id (``gw0``...) in a worker process, else None."""
    return getattr(config, "workerinput", {}).get("workerid")


def _backend(config: pytest.Config) -> str:
    return config.getoption("--kdump-backend") or config.getini("kdump_backend")


def _artifacts_root(config: pytest.Config) -> Path:
    """``--kdump-artifacts``, else ini ``kdump_artifacts`` (see :func:`_user_path`)."""
    path = _user_path(config, "--kdump-artifacts", "kdump_artifacts")
    return path if path else Path(config.rootpath) / "kdump-artifacts"


_LABGRID_ENV_ERRORS = (NoDriverFoundError, BindingError, InvalidConfigError)


def _env_error(exc: Exception) -> str:
    return (f"labgrid environment: {exc}\nWhat to check: the target's drivers and their "
            "keys in the env YAML; labgrid-envs/qemu-x86_64.yaml is a complete one")


def _labgrid_target(request: pytest.FixtureRequest) -> Any:
    """labgrid's ``target`` fixture; an env it cannot make a target of (a driver without the
    drivers it binds to, a bad key) fails the test with labgrid's one-line reason."""
    try:
        return request.getfixturevalue("target")
    except _LABGRID_ENV_ERRORS as exc:
        raise pytest.fail.Exception(_env_error(exc), pytrace=False) from None


def _env_crash(request: pytest.FixtureRequest) -> str | None:
    """KdumpDriver's ``crash`` key in the labgrid env, if there is an env with one."""
    if not (request.config.getoption("lg_env", None) or os.environ.get("LG_ENV")):
        return None
    try:
        driver = _labgrid_target(request).get_driver("KdumpDriver", activate=False)
    except NoDriverFoundError:
        return None
    return driver.crash


@pytest.fixture(scope="session")
def kdump_crash_tool(request: pytest.FixtureRequest) -> CrashTool:
    """The crash utility used for analysis: ``--kdump-crash``, else KdumpDriver's ``crash``
    key, else the one pytest-kdump installs into its cache on first use."""
    explicit = request.config.getoption("--kdump-crash") or _env_crash(request)
    try:
        if explicit:
            return find_crash(explicit, cache_dir())
        return install_crash(cache_dir())
    except KdumpError as exc:
        raise pytest.fail.Exception(str(exc), pytrace=False) from None


@pytest.fixture(scope="session")
def kdump_session(request: pytest.FixtureRequest, kdump_crash_tool: CrashTool) -> KdumpSession:
    """The labgrid target's KdumpDriver and its engine, for the whole session."""
    target = _labgrid_target(request)
    config = request.config
    root = _artifacts_root(config)
    echo = config.getoption("--kdump-echo") or config.getini("kdump_echo")
    try:
        driver = ready_driver(target)
        _check_crash_for_board(driver, kdump_crash_tool, _backend(config))
        # each xdist worker has its own board and its own session log folder
        worker = _worker(config)
        session = KdumpSession.from_driver(driver, root, kdump_crash_tool, echo=bool(echo),
                                           backend=_backend(config),
                                           log_folder=f"session-{worker}" if worker else "session")
    except KdumpError as exc:
        raise pytest.fail.Exception(str(exc), pytrace=False) from None
    except _LABGRID_ENV_ERRORS as exc:
        raise pytest.fail.Exception(_env_error(exc), pytrace=False) from None
    except OSError as exc:  # a console that cannot be opened (pyserial's SerialException)
        error = console_open_error(target, exc)
        if error is None:
            raise
        raise pytest.fail.Exception(str(error), pytrace=False) from None
    if config.getoption("--kdump-full-boots") or config.getini("kdump_full_boots"):
        session.engine.snapshot = None
    config.stash[_SESSION] = session
    yield session
    del config.stash[_SESSION]
    session.close()


def _check_crash_for_board(driver: Any, tool: CrashTool, backend: str) -> None:
    """Before the first crash: a QEMU board's kernel architecture (KdumpDriver's ``image``)
    that no installed crash reads fails the session at once, not after a whole crash cycle."""
    if backend != "crash" or not driver.image:
        return
    arch = get_arch(driver.image.removeprefix("debian-")).name
    if tool.arch in (None, arch) or installed_crash(cache_dir(), arch):
        return
    raise ToolError(f"the board runs an {arch} kernel (KdumpDriver image: {driver.image}) and "
                    f"no installed crash reads {arch} dumps ({tool} reads {tool.arch} ones)",
                    phase="setup", advice=setup_advice(arch))


def artifact_name(nodeid: str, copy: str | None = None) -> str:
    """A test's artifact folder name: its node id with runs of other characters than
    letters, digits and ``_.-`` made ``_``, then ``-`` and 8 hex digits of the node id's
    hash, so that no two tests share a folder (``test_x[a b]``, ``test_x[a_b]``,
    ``tests/a/b.py`` and ``tests/a_b.py`` would otherwise); ``copy`` (one of several runs
    of the same test, e.g. the board it ran on) is added after ``@``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")
    name = f"{name}-{hashlib.sha1(nodeid.encode()).hexdigest()[:8]}"
    if copy:
        name += "@" + re.sub(r"[^A-Za-z0-9_.-]+", "_", copy)
    return name


def _folder(session: KdumpSession, item: pytest.Item) -> Path:
    return session.artifacts_root / artifact_name(item.nodeid, _copy_of(item.config))


def _copy_of(config: pytest.Config) -> str | None:
    """With ``--dist each`` every xdist worker runs every test (the same test on every board
    of a rack): this worker's copy is named after its place, else its worker id, so that the
    copies keep a folder each. None otherwise."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None or not workerinput.get("kdump_dist_each"):
        return None
    return workerinput.get("kdump_place") or workerinput.get("workerid")


def _outcome(item: pytest.Item) -> str:
    """The test's outcome so far; ``interrupted`` when its call never ended (Ctrl-C, SIGTERM:
    pytest then tears the fixtures down without a report for the call)."""
    reports = item.stash.get(_REPORTS, {})
    if any(r.failed for r in reports.values()):
        return "failed"
    if any(r.skipped and hasattr(r, "wasxfail") for r in reports.values()):
        return "xfailed"
    if any(r.skipped for r in reports.values()):
        return "skipped"
    return "passed" if "call" in reports else "interrupted"


def _collect_unexpected(handle: Kdump, item: pytest.Item) -> None:
    """Fetch and analyse the dump of a crash no test asked for; keep errors for the report."""
    session = handle.session
    new = [s for s in session.engine.unexpected_since(item.stash.get(_MARK, 0))
           if s not in handle.unexpected]
    if not new:
        return
    try:
        crash = handle.collect_unexpected(new)
        text = (str(crash.analysis) if crash else
                "no dump: kdump was not armed, or the kernel survived the crash")
    except KdumpError as exc:
        text = f"the dump of the unexpected crash could not be collected:\n{exc}"
    except Exception as exc:  # a bug or a tool's own error: the record is still written
        session.engine.warnings.append(f"collecting the unexpected crash failed: {exc!r}")
        handle.error = handle.error or KdumpError(
            f"collecting the unexpected crash failed: {exc!r}", phase="collect",
            advice="a bug in pytest-kdump or a host tool: see the traceback in the report",
            log_path=handle.console_log)
        session.engine.forget_state()
        text = f"the dump of the unexpected crash could not be collected: {exc!r}"
    item.add_report_section("teardown", "kdump: unexpected crash", text)
    session.reset_strategy()


def _finish(handle: Kdump, item: pytest.Item, started: float) -> dict:
    """Collect an unexpected crash, then always close the test's crash processes, detach its
    console log and write its ``kdump.json``."""
    try:
        _collect_unexpected(handle, item)
    finally:
        record = handle.finish(_outcome(item), time.time() - started)
    return record


@pytest.fixture
def kdump(request: pytest.FixtureRequest, kdump_session: KdumpSession) -> Kdump:
    """Crash the kernel under test and analyse the dump: ``kdump.trigger_crash("sysrq")``."""
    folder = _folder(kdump_session, request.node)
    handle = kdump_session.for_test(folder, request.node.nodeid)
    marker = request.node.get_closest_marker("kdump_backend")
    if marker is not None:
        if not marker.args or marker.args[0] not in BACKENDS:
            pytest.fail(f"@pytest.mark.kdump_backend{marker.args}: give one of "
                        f"{', '.join(BACKENDS)}", pytrace=False)
        handle.backend = marker.args[0]
    request.node.stash[_HANDLE] = handle
    started = time.time()
    yield handle
    record = _finish(handle, request.node, started)
    request.node.stash[_HANDLE] = None  # pytest keeps items: not their dumps and analyses
    for key in ("vmcore_size", "crash_version", "panic_message", "total_seconds"):
        if record.get(key) is not None:
            request.node.user_properties.append((f"kdump_{key}", record[key]))
    for signature in dict.fromkeys(r["signature"] for r in record.get("console_records", [])):
        if ("kdump_signature", signature) not in request.node.user_properties:
            request.node.user_properties.append(("kdump_signature", signature))
    if record.get("analysis"):
        request.node.user_properties.append(("kdump_backend", record["analysis"]["backend"]))
    request.node.user_properties.append(("kdump_artifacts", str(folder)))


def _board_session(request: pytest.FixtureRequest) -> KdumpSession | None:
    """The kdump session of a test that uses the labgrid target without the ``kdump``
    fixture (started for it if the env has a KdumpDriver), else None."""
    session = request.config.stash.get(_SESSION, None)
    if session is not None or "target" not in request.fixturenames:
        return session
    try:
        _labgrid_target(request).get_driver("KdumpDriver", activate=False)
    except NoDriverFoundError:
        return None
    return request.getfixturevalue("kdump_session")


@pytest.fixture(autouse=True)
def _kdump_crash_watch(request: pytest.FixtureRequest) -> Any:
    """In a session with a kdump board, any test during which the kernel crashes fails; a test
    using the board without the ``kdump`` fixture gets its console log and ``kdump.json``
    too."""
    session = _board_session(request)
    request.node.stash[_MARK] = len(session.engine.seen) if session else 0
    handle = None
    if session is not None and "kdump" not in request.fixturenames:
        handle = session.for_test(_folder(session, request.node), request.node.nodeid)
    started = time.time()
    yield
    session = request.config.stash.get(_SESSION, None)
    if session is None or _HANDLE in request.node.stash:
        return
    if handle is None and session.engine.unexpected_since(request.node.stash[_MARK]):
        handle = session.for_test(_folder(session, request.node), request.node.nodeid)
    if handle is not None:
        _finish(handle, request.node, started)


def baseline_verdict(item: pytest.Item, signatures: list[str]) -> Verdict | None:
    """The baseline's verdict on the crashes nobody asked for during ``item`` (None without
    a baseline); JUnit properties get each signature and, with a baseline, its class."""
    baseline = item.config.stash.get(_BASELINE, None)
    verdict = baseline.verdict(signatures) if baseline is not None else None
    for signature in dict.fromkeys(signatures):
        item.user_properties.append(("kdump_signature", signature))
    for j in verdict.judgements if verdict else ():
        item.user_properties.append(("kdump_baseline", f"{j.kind}: {j.signature}"))
    return verdict


def apply_verdict(report: pytest.TestReport, verdict: Verdict) -> None:
    """A failed call ``report``: xfail if its crashes are known bugs only (the reason names
    their tickets), else still failed, with the new signatures said."""
    report.sections.append(("kdump: baseline", verdict.reason))
    if verdict.outcome == "xfailed":
        report.outcome = "skipped"
        report.wasxfail = verdict.reason
    else:
        report.longrepr = f"{report.longrepr}\nBaseline: {verdict.reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    outcome = yield
    report = outcome.get_result()
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    error = call.excinfo.value if call.excinfo is not None else None
    if isinstance(error, KdumpError):
        # our errors already say the phase, the advice, the console tail and the log path
        report.longrepr = f"{type(error).__name__}: {error}"
        if not isinstance(error, UnexpectedCrash) or report.when != "call":
            return
    session = item.config.stash.get(_SESSION, None)
    if report.when != "call" or session is None:
        return
    session.engine.settle_detection()
    new = session.engine.unexpected_since(item.stash.get(_MARK, 0))
    signatures = [s.record.signature for s in new]
    if isinstance(error, UnexpectedCrash):  # a board command of the test met the crash
        signatures = [r.signature for r in error.records] + signatures
    if not signatures:
        return
    verdict = baseline_verdict(item, signatures)
    if verdict is not None and verdict.outcome == "passed":  # crashes the baseline expects
        report.sections.append(("kdump: baseline", verdict.reason))
        return
    if new and not isinstance(error, UnexpectedCrash):
        report.outcome = "failed"
        report.longrepr = unexpected_summary(new, session.engine.log_path,
                                             _folder(session, item))
    if verdict is not None:
        apply_verdict(report, verdict)

"""The pytest plugin's usage errors and options, in a child pytest (no board is booted)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_kdump import plugin
from pytest_kdump.analysis.crash.tool import CrashTool
from pytest_kdump.errors import ConfigError, ToolError
from pytest_kdump.rack.control import free_port
from tests.helpers import ENV, child_pytest

FAKE_ENV = """\
targets:
  main:
    drivers:
      FakeConsoleDriver: {}
      FakePowerDriver: {}
      KdumpConsoleDriver: {}
      KdumpDriver:
        crash: /nonexistent/crash
imports:
  - labgrid.driver.fake
  - pytest_kdump.labgrid_driver
"""


def test_bad_env_file_is_a_usage_error(pytester, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets: [oops\n")
    pytester.makepyfile(test_x="def test_x(kdump):\n    pass\n")
    result = child_pytest(pytester, "--lg-env", str(bad))
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*is not valid YAML*", "*What to check: fix the YAML syntax*"])


def test_bad_backend_is_a_usage_error(pytester):
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = child_pytest(pytester, "--lg-env", str(ENV), "-o", "kdump_backend=gdb")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*kdump_backend = 'gdb': choose one of crash, drgn*"])
    result = child_pytest(pytester, "--lg-env", str(ENV), "--kdump-backend", "gdb")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--kdump-backend: invalid choice: 'gdb'*"])


def test_the_env_crash_key_chooses_the_crash_utility(pytester, tmp_path):
    """KdumpDriver's crash key is the crash utility used (unless --kdump-crash is given)."""
    env = tmp_path / "env.yaml"
    env.write_text(FAKE_ENV)
    pytester.makepyfile(test_x="def test_x(kdump_crash_tool):\n    pass\n")
    result = child_pytest(pytester, "--lg-env", str(env))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*crash '/nonexistent/crash' not found or not executable*"])
    result = child_pytest(pytester, "--lg-env", str(env), "--kdump-crash", "/nonexistent/other")
    result.stdout.fnmatch_lines(["*crash '/nonexistent/other' not found or not executable*"])
    # said once in the error, not again under "During handling of the above exception"
    # (the short summary repeats it whole when pytest runs on CI, so it is not counted)
    said = "[phase analysis] crash '/nonexistent/other' not found or not executable"
    assert result.stdout.lines.count(said) == 1, result.stdout.str()
    assert "During handling" not in result.stdout.str()


def test_an_env_labgrid_cannot_bind_fails_in_one_line(pytester, tmp_path):
    env = tmp_path / "env.yaml"
    env.write_text("targets:\n  main:\n    drivers:\n      KdumpDriver: {}\n"
                   "imports:\n  - pytest_kdump.labgrid_driver\n")
    pytester.makepyfile(test_x="def test_x(kdump):\n    pass\n")
    result = child_pytest(pytester, f"--lg-env={env}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["labgrid environment: binding KdumpDriver failed: no "
                                 "KdumpConsoleDriver driver found in Target*",
                                 "What to check: the target's drivers*"])
    assert "def bind_driver" not in result.stdout.str()  # no labgrid traceback


def test_an_artifacts_path_that_is_a_file_is_a_usage_error(pytester):
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    (pytester.path / "notes.txt").write_text("")
    result = child_pytest(pytester, "--lg-env", str(ENV), "--kdump-artifacts", "notes.txt")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--kdump-artifacts */notes.txt: a file, not a folder*"])


def test_artifacts_paths_resolve_like_pytest_paths(tmp_path):
    ini = tmp_path / "proj" / "pytest.ini"
    config = SimpleNamespace(
        getoption=lambda name: option, getini=lambda name: "kdump-artifacts",
        invocation_params=SimpleNamespace(dir=tmp_path / "cwd"), inipath=ini,
        rootpath=tmp_path / "root")
    option = "out"  # on the command line: from where pytest was started
    assert plugin._artifacts_root(config) == tmp_path / "cwd" / "out"
    option = None  # in the ini file: from the ini file's folder
    assert plugin._artifacts_root(config) == tmp_path / "proj" / "kdump-artifacts"
    option = "/abs/out"
    assert plugin._artifacts_root(config) == Path("/abs/out")


def test_no_crash_for_the_boards_architecture_fails_at_session_start(tmp_path, monkeypatch):
    """An arm64 QEMU board with only the x86_64 crash installed: the session stops before any
    crash cycle, saying how to get one (or to use drgn)."""
    monkeypatch.setenv("PYTEST_KDUMP_CACHE", str(tmp_path))  # nothing installed
    x86 = CrashTool(argv=("crash",), version="8.0.6", source="cache", arch="x86_64")
    board = SimpleNamespace(image="aarch64")
    with pytest.raises(ToolError) as info:
        plugin._check_crash_for_board(board, x86, "crash")
    assert info.value.message.startswith("the board runs an aarch64 kernel")
    assert "setup-crash --arch aarch64" in info.value.advice and info.value.phase == "setup"
    plugin._check_crash_for_board(board, x86, "drgn")  # drgn reads any architecture
    plugin._check_crash_for_board(SimpleNamespace(image="x86_64"), x86, "crash")
    plugin._check_crash_for_board(SimpleNamespace(image=None), x86, "crash")  # a real board
    unknown = CrashTool(argv=("/opt/crash",), version="9.0", source="explicit")
    plugin._check_crash_for_board(board, unknown, "crash")  # given by path: used as it is


RACK_ENV = ENV.parent / "rack" / "qemu-x86_64.yaml"


def test_places_listed_twice_are_a_usage_error(pytester):
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = child_pytest(pytester, "--lg-env", str(RACK_ENV), "--kdump-places", "bp1,bp1")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--kdump-places lists a place twice*"])


def test_a_place_with_no_coordinator_stops_the_run_before_any_test(pytester):
    """labgrid-client itself is asked (a closed port: nothing answers), as on a rack."""
    port = free_port()
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = child_pytest(pytester, "--lg-env", str(RACK_ENV), "--kdump-places", "bp1",
                          "--lg-coordinator", f"127.0.0.1:{port}", timeout=120)
    assert result.ret == 4, result.stdout.str()
    result.stderr.fnmatch_lines([
        f"*cannot acquire place 'bp1' at coordinator 127.0.0.1:{port}*Could not connect*",
        f"*What to check: check that the coordinator runs at 127.0.0.1:{port}*"])


def _config(options: dict, workerinput: dict | None = None, **option: object):
    config = SimpleNamespace(option=SimpleNamespace(**option), stash={})
    config.getoption = lambda name, default=None: options.get(name, default)
    config.getini = lambda name: []
    if workerinput is not None:
        config.workerinput = workerinput
    return config


def test_each_worker_names_its_place_for_the_env(monkeypatch):
    """$LG_PLACE is set before labgrid reads the env; the xdist controller acquires nothing
    (no coordinator needed) and refuses more workers than places; a worker started with no
    free place is refused."""
    monkeypatch.setenv("LG_PLACE", "unset-after-the-test")
    monkeypatch.delenv("LG_PLACE")
    controller = _config({"--kdump-places": "bp1,bp2"}, dist="load", numprocesses=2)
    assert plugin._take_place(controller) is None
    assert os.environ["LG_PLACE"] == "bp1"
    book = controller.stash[plugin._PLACE_BOOK]
    assert book.take() == "bp1"
    book.close()
    too_many = _config({"--kdump-places": "bp1,bp2"}, dist="load", numprocesses=3)
    with pytest.raises(ConfigError, match="worker gw2 has no place"):
        plugin._take_place(too_many)
    late = _config({"--kdump-places": "bp1,bp2"}, {"workerid": "gw3", "kdump_place": None})
    with pytest.raises(ConfigError, match="worker gw3 has no place"):
        plugin._take_place(late)


@pytest.mark.parametrize(("nodeid", "name"), [
    ("examples/test_sysrq_crash.py::test_sysrq_crash",
     "examples_test_sysrq_crash.py_test_sysrq_crash-"),
    ("t.py::test_throughput[0]", "t.py_test_throughput_0-"),
    ("t.py::test_crash[module-oops]", "t.py_test_crash_module-oops-"),
])
def test_artifact_folders_keep_node_ids_readable(nodeid: str, name: str) -> None:
    folder = plugin.artifact_name(nodeid)
    assert folder.startswith(name) and len(folder) == len(name) + 8, folder
    assert plugin.artifact_name(nodeid) == folder  # the same test, the same folder


def test_node_ids_that_read_alike_get_folders_of_their_own() -> None:
    ids = ["t.py::test_x[a b]", "t.py::test_x[a_b]", "t.py::test_x[a/b]", "t.py::test_x[a:b]",
           "t.py::test_x[a  b]", "t.py::Test::test_x[a b]", "t.py::test_x[a]", "t.py::test_x_a",
           "tests/a/b.py::t", "tests/a_b.py::t", "t.py::Test::test_x", "t.py::Test_test_x"]
    names = [plugin.artifact_name(i) for i in ids]
    assert len(set(names)) == len(ids), names
    assert all("/" not in n and " " not in n for n in names), names


def test_with_dist_each_every_board_keeps_its_copy_of_a_test() -> None:
    """``--dist each`` runs every test on every worker (board): each copy gets a folder of its
    own, named after the worker's place (else its worker id); other modes keep one folder."""
    from types import SimpleNamespace

    def node(dist: str) -> SimpleNamespace:  # the controller's view of a worker starting
        return SimpleNamespace(config=SimpleNamespace(option=SimpleNamespace(dist=dist),
                                                      stash={}), workerinput={})

    def config(dist: str | None, **workerinput: str) -> SimpleNamespace:
        conf = SimpleNamespace(option=SimpleNamespace(dist="no"))  # a worker's own option
        if dist is not None:
            starting = node(dist)
            plugin.pytest_configure_node(starting)
            conf.workerinput = starting.workerinput | workerinput
        return conf

    nodeid = "examples/test_sysrq_crash.py::test_sysrq_crash"
    plain = plugin.artifact_name(nodeid)
    assert plugin._copy_of(config("load", workerid="gw0", kdump_place="board-1")) is None
    assert plugin._copy_of(config(None)) is None  # no xdist
    assert plugin._copy_of(config("each", workerid="gw1")) == "gw1"
    on_board = plugin._copy_of(config("each", workerid="gw0", kdump_place="board-1"))
    assert on_board == "board-1"
    assert plugin.artifact_name(nodeid, on_board) == f"{plain}@board-1"
    assert plugin.artifact_name(nodeid, "a b/c") == f"{plain}@a_b_c"

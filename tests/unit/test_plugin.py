"""The pytest plugin's usage errors and options, in a child pytest (no board is booted)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pytest_kdump import plugin
from pytest_kdump.analysis.crash.tool import CrashTool
from pytest_kdump.errors import ToolError
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

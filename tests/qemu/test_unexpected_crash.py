"""Crashes nobody asked for, in a child pytest on the real QEMU env: the test during which the
kernel crashed fails with a short summary, its dump is fetched and analysed anyway, the board
comes back for the next test, and console signatures are stable across boots."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pytest_kdump.cachedir import cache_dir
from tests.helpers import ENV, child_pytest

SUITE = '''
import time

def test_a_crashes_by_accident(kdump):
    assert kdump.armed().loaded
    kdump.run("echo c > /proc/sysrq-trigger")

def test_b_board_is_back(kdump):
    assert kdump.run("echo alive") == "alive"
    assert kdump.armed().loaded

def test_c_raw_console_without_kdump_fixture(target, kdump_session):
    kdump_session.engine.ensure_shell()
    seen = len(kdump_session.engine.seen)
    target.get_driver("KdumpConsoleDriver").write(b"echo c > /proc/sysrq-trigger\\n")
    # the kernel dies while this test waits (for the console to show it): nobody expects it
    deadline = time.monotonic() + 120
    while len(kdump_session.engine.seen) == seen and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(kdump_session.engine.seen) > seen, "no crash seen within 120 s"

def test_d_expected_sysrq(kdump):
    crash = kdump.trigger_crash("sysrq")
    print("SIGNATURE-D", crash.dump.record.signature)

def test_e_expected_init_exit(kdump):
    crash = kdump.trigger_crash("init-exit")
    print("SIGNATURE-E", crash.dump.record.signature)

def test_f_wrong_expectation(kdump):
    kdump.trigger_crash("sysrq", expect="in some_other_function$")
'''


def _record(artifacts: Path, test: str) -> dict:
    return json.loads(next(artifacts.glob(f"*{test}-*")).joinpath("kdump.json").read_text())


def test_unexpected_and_expected_crashes(pytester, monkeypatch, tmp_path):
    monkeypatch.setenv("LG_KDUMP_RUN", str(tmp_path / "run"))
    # pytester gives the child its own HOME: keep the real image and crash cache
    monkeypatch.setenv("PYTEST_KDUMP_CACHE", str(cache_dir()))
    (tmp_path / "run").mkdir()
    pytester.makepyfile(test_suite=SUITE)
    artifacts = tmp_path / "artifacts"
    result = child_pytest(pytester, "--lg-env", str(ENV), "--kdump-artifacts", str(artifacts),
                          "-s", timeout=900)
    result.assert_outcomes(passed=3, failed=3)
    out = result.stdout.str()
    # the accident, seen from the test's own command: fails at once, with the crash summary
    result.stdout.fnmatch_lines([
        "*UnexpectedCrash: [[]phase run[]] the kernel crashed while running*sysrq-trigger*",
        "*Full console log:*console.log*"])
    assert "sysrq_handle_crash" in out
    # the accident nobody waited for: the test fails with kind, signature and console excerpt
    result.stdout.fnmatch_lines([
        "*UnexpectedCrash: the kernel crashed during this test (1 report(s))",
        "*kind: panic*", "*signature:*sysrq_handle_crash*", "*console:*",
        "*Dump and analysis (if kdump was armed):*test_c_raw_console*"])
    result.stdout.fnmatch_lines(["*CrashMismatch: [[]phase trigger[]] trigger sysrq: expected "
                                 "a signature matching 'in some_other_function$'*"])
    for test in ("test_a_crashes_by_accident", "test_c_raw_console_without_kdump_fixture"):
        record = _record(artifacts, test)
        assert record["outcome"] == "failed"
        assert record["unexpected_crashes"][0]["kind"] == "panic"
        assert record["panic_message"] == "sysrq triggered crash"  # crash analysed the dump
        assert "sysrq_handle_crash" in " ".join(record["analysis"]["backtrace"])
        assert record["vmcore_size"] > 1 << 20
    assert _record(artifacts, "test_b_board_is_back")["outcome"] == "passed"
    # same bug, different boots: same signature; another bug: another signature
    sig_a = _record(artifacts, "test_a_crashes_by_accident")["unexpected_crashes"][0]["signature"]
    sig_c = _record(artifacts, "test_c_raw_console_without_kdump_fixture")[
        "unexpected_crashes"][0]["signature"]
    sig_d = re.search(r"SIGNATURE-D (.*)", out).group(1).strip()
    sig_e = re.search(r"SIGNATURE-E (.*)", out).group(1).strip()
    assert sig_a == sig_c == sig_d, (sig_a, sig_c, sig_d)
    assert sig_e != sig_d and "do_exit" in sig_e, sig_e

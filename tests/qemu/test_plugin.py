"""The pytest plugin end to end, in a child pytest on the real QEMU env: a crash test that
fails keeps its artifacts, says which phase failed, and records it in kdump.json."""

from __future__ import annotations

import json

from pytest_kdump.cachedir import cache_dir
from tests.helpers import ENV, child_pytest


def test_failing_crash_test_keeps_artifacts_and_reports_phase(pytester, monkeypatch, tmp_path):
    monkeypatch.setenv("LG_KDUMP_RUN", str(tmp_path / "run"))
    # pytester gives the child its own HOME: keep the real image and crash cache
    monkeypatch.setenv("PYTEST_KDUMP_CACHE", str(cache_dir()))
    (tmp_path / "run").mkdir()
    pytester.makepyfile(test_noop="""
        from pytest_kdump.triggers import Trigger

        def test_noop_does_not_crash(kdump):
            kdump.trigger_crash(Trigger(name="noop", command="true", timeout=2))
    """)
    artifacts = tmp_path / "artifacts"
    result = child_pytest(pytester, "--lg-env", str(ENV), "--kdump-artifacts", str(artifacts),
                          "--junitxml", str(tmp_path / "junit.xml"), timeout=300)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*PhaseTimeout: [[]phase trigger[]] trigger noop*returned (exit 0)*",
        "*What to check:*", "*Console tail:*", "*Full console log:*console.log*"])
    folder = next(artifacts.glob("*test_noop_does_not_crash-*"))
    record = json.loads((folder / "kdump.json").read_text())
    assert record["outcome"] == "failed"
    assert record["error"]["phase"] == "trigger"
    assert [p["name"] for p in record["phases"]] == ["boot", "shell", "snapshot", "armed",
                                                    "trigger"]
    assert record["phases"][-1]["ok"] is False
    assert record["armed"]["loaded"] is True
    assert "TRIGGER-RETURNED-0" in (folder / "console.log").read_text()
    assert "kdump_artifacts" in (tmp_path / "junit.xml").read_text()


def _two_crashes(pytester, monkeypatch, tmp_path, *args: str) -> list[dict]:
    """Two sysrq crash tests in one child session; their kdump.json records, in order."""
    monkeypatch.setenv("PYTEST_KDUMP_CACHE", str(cache_dir()))
    pytester.makepyfile(test_twice="""
        import pytest

        @pytest.mark.parametrize("n", [1, 2])
        def test_sysrq(kdump, n):
            assert kdump.trigger_crash("sysrq").panic_message == "sysrq triggered crash"
    """)
    artifacts = tmp_path / "artifacts"
    result = child_pytest(pytester, "--lg-env", str(ENV), "--kdump-artifacts", str(artifacts),
                          "--kdump-backend", "drgn", *args, timeout=600)
    result.assert_outcomes(passed=2)
    return [json.loads(p.read_text())
            for p in sorted(artifacts.glob("*test_sysrq*/kdump.json"))]


def test_fast_mode_restores_the_armed_board_and_full_boots_boot(pytester, monkeypatch,
                                                                tmp_path):
    """Fast mode (the default on the QEMU env): the first test boots and saves the armed
    board, the second starts from it with no boot; --kdump-full-boots boots both."""
    first, second = _two_crashes(pytester, monkeypatch, tmp_path / "fast")
    names = [[p["name"] for p in r["phases"]] for r in (first, second)]
    assert names[0][:3] == ["boot", "shell", "snapshot"], names
    assert names[1][0] == "restore" and "boot" not in names[1], names
    assert not [w for r in (first, second) for w in r["warnings"] if "fast mode" in w]
    assert second["vmcore_size"] > 1 << 20
    first, second = _two_crashes(pytester, monkeypatch, tmp_path / "full",
                                 "--kdump-full-boots")
    names = [[p["name"] for p in r["phases"]] for r in (first, second)]
    assert "snapshot" not in names[0] and names[1][0] == "recover", names

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
    folder = next(artifacts.glob("*test_noop_does_not_crash"))
    record = json.loads((folder / "kdump.json").read_text())
    assert record["outcome"] == "failed"
    assert record["error"]["phase"] == "trigger"
    assert [p["name"] for p in record["phases"]] == ["boot", "shell", "snapshot", "armed",
                                                    "trigger"]
    assert record["phases"][-1]["ok"] is False
    assert record["armed"]["loaded"] is True
    assert "TRIGGER-RETURNED-0" in (folder / "console.log").read_text()
    assert "kdump_artifacts" in (tmp_path / "junit.xml").read_text()

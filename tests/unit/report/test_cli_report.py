"""``pytest-kdump report`` on the recorded nights: text, JSON, the page, the baseline, and
bad input as a clear error (exit status 2, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_kdump.cli import main
from tests.unit.report.conftest import BASELINE, HUNG, NIGHT_A, NIGHT_B, SYSRQ, UNDEF_OLD

NIGHTS = [str(NIGHT_A), str(NIGHT_B)]


def test_text_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", *NIGHTS]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("night 2026-12-06-a: 10 tests (2 failed, 7 passed, 1 skipped) on "
                      "aarch64, x86_64")
    assert out[2] == "last night 2026-12-06-b: 8 crash report(s): 0 new, 0 known, 8 expected"
    assert out[3].split()[:3] == ["expected", "4x", "Kernel"] and SYSRQ in out[3]
    assert any(line.split()[:2] == ["new", "1x"] and HUNG in line
               and "not seen last night" in line for line in out)


def test_json_html_and_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(BASELINE)
    code = main(["report", *NIGHTS, "--baseline", str(baseline), "--json",
                 "--html", str(tmp_path / "html")])
    captured = capsys.readouterr()
    assert code == 0
    data = json.loads(captured.out)
    assert data["baseline"] == str(baseline)
    assert [e["signature"] for e in data["possibly_fixed"]] == [HUNG]
    assert captured.err.strip() == f"html: {tmp_path / 'html' / 'index.html'}"
    assert (tmp_path / "html" / "index.html").read_text().startswith("<!DOCTYPE html>")


def test_update_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "new" / "baseline.yaml"
    baseline.parent.mkdir()
    assert main(["report", *NIGHTS, "--baseline", str(baseline), "--update-baseline"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"baseline {baseline}: 2 signature(s) added with status new")
    entries = yaml.safe_load(baseline.read_text())
    assert [(e["signature"], e["status"]) for e in entries] == [(HUNG, "new"),
                                                                (UNDEF_OLD, "new")]
    # triaged by hand, then updated again: the entry is kept as it is
    entries[0].update(status="known-bug", ticket="KDUMP-41")
    baseline.write_text(yaml.safe_dump(entries))
    assert main(["report", *NIGHTS, "--baseline", str(baseline), "--update-baseline"]) == 0
    assert "0 signature(s) added" in capsys.readouterr().out
    assert yaml.safe_load(baseline.read_text())[0] == entries[0]


@pytest.mark.parametrize(("args", "message"), [
    (["{empty}"], "no kdump.json in this folder or below it"),
    (["{missing}"], "no such folder"),
    ([str(NIGHT_B), "--baseline", "{broken}"], "not valid YAML"),
    ([str(NIGHT_B), "--baseline", "{status}"], "unknown status 'open'"),
    ([str(NIGHT_B), "--baseline", "{missing}"], "cannot read the baseline"),
    ([str(NIGHT_B), "--update-baseline"], "--update-baseline needs the file"),
    ([str(NIGHT_B), "--html", "{status}"], "cannot write the report"),  # a file, not a folder
])
def test_bad_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    args: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.yaml").write_text("- signature: [x\n")
    (tmp_path / "status.yaml").write_text("- {signature: x, status: open}\n")
    paths = {"empty": tmp_path / "empty", "missing": tmp_path / "missing",
             "broken": tmp_path / "broken.yaml", "status": tmp_path / "status.yaml"}
    assert main(["report", *(a.format(**paths) for a in args)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pytest-kdump: error: ") and message in err


def test_the_command_without_a_traceback(tmp_path: Path) -> None:
    """The installed entry point, as a user runs it, on a folder with no record."""
    result = subprocess.run([sys.executable, "-m", "pytest_kdump.cli", "report", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no kdump.json" in result.stderr and "What to check:" in result.stderr

"""The report page in a real browser: Debian's Chromium, headless, offline. It loads, its DOM
holds the signature table, the tests and the plots, its links resolve, and no request leaves
the machine (Chromium's own network log says so). A screenshot is kept in
``kdump-artifacts/report-check/`` with the page."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

from pytest_kdump.report.baseline import parse_baseline
from pytest_kdump.report.html import write_html
from pytest_kdump.report.nights import read_nights
from pytest_kdump.report.summary import Summary, summarize
from tests.unit.report.conftest import BASELINE, NIGHT_A, NIGHT_B, NIGHT_C, TICKET
from tests.unit.report.test_html import Page

INSTALL = "apt-get install -y chromium"


def chromium() -> str:
    """Debian's chromium: a missing browser fails the test (it is part of the set-up)."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(f"chromium not found: the report page is checked in a real browser; "
                    f"install it with '{INSTALL}'", pytrace=False)
    return path


def open_page(page: Path, work: Path, screenshot: Path | None = None) -> tuple[str, list]:
    """``page`` in headless Chromium with name resolution off: the DOM after loading, and
    the network requests made on the page's behalf (from the net log)."""
    net_log = work / "net-log.json"
    argv = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
            "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={work / 'profile'}",
            "--no-first-run", "--disable-background-networking", "--disable-sync",
            "--disable-component-update", "--disable-extensions", "--window-size=1400,2400",
            f"--log-net-log={net_log}", "--dump-dom"]
    if screenshot is not None:
        argv.append(f"--screenshot={screenshot}")
    result = subprocess.run([*argv, page.as_uri()], capture_output=True, text=True,
                            timeout=90, cwd=work)
    assert result.returncode == 0, result.stderr[-2000:]
    log = json.loads(net_log.read_text())
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    # the browser's own background calls have no file:// network isolation key; the page's do
    requests = [e["params"]["url"] for e in log["events"]
                if names[e["type"]] == "URL_REQUEST_START_JOB"
                and "file://" in e["params"].get("network_isolation_key", "")]
    return result.stdout, requests


@pytest.fixture(scope="module")
def report_page(pytestconfig: pytest.Config) -> tuple[Path, Summary]:
    """The page of the three recorded nights, written where the run's artifacts are kept."""
    keep = Path(pytestconfig.rootpath) / pytestconfig.getini("kdump_artifacts") / "report-check"
    shutil.rmtree(keep, ignore_errors=True)
    summary = summarize(read_nights([NIGHT_A, NIGHT_B, NIGHT_C]), parse_baseline(BASELINE))
    return write_html(summary, keep), summary


def test_the_page_in_chromium(report_page: tuple[Path, Summary], tmp_path: Path) -> None:
    page_path, summary = report_page
    shot = page_path.parent / "report.png"
    dom, requests = open_page(page_path, tmp_path, screenshot=shot)
    assert requests == []
    page = Page(dom)
    assert "".join(page.text).count("Nightly report: 2026-12-06-c") == 1
    assert [(r["data-signature"], r["class"]) for r in page.find("tr", "sig")] == [
        (g.signature, f"sig sig-{g.judgement.kind}") for g in summary.groups]
    assert page.find("tr", "sig")[0]["class"] == "sig sig-new"  # night c's accidents first
    assert page.find("span", "c-new")[0]["id"] == "count-new"
    assert len(page.find("tr", "test")) == sum(len(n.tests) for n in summary.nights)
    assert [r["class"] for r in page.find("tr", "test")][:2] == ["test outcome-xfailed"] * 2
    assert len(page.find("details")) == 2  # the older nights, folded
    assert {s["data-board"] for s in page.find("div", "trend")} == {
        "aarch64", "x86_64", "qemu-x86_64.yaml / x86_64"}
    assert len(page.find("svg", "plot-phases")) == len(page.find("svg", "plot-size")) == 3
    assert len(page.find("rect", "bar")) == sum(len(n.phases) for t in summary.trends
                                                for n in t.nights)
    assert len(page.find("circle", "point")) == 2 + 2 + 1
    hrefs = [a["href"] for a in page.find("a")]
    assert hrefs.count(TICKET) == 3
    files = [h for h in hrefs if h != TICKET]
    assert files and all((page_path.parent / unquote(h)).resolve().is_file() for h in files)
    # the screenshot: a real rendering (kept next to the page)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000


def test_the_request_check_sees_a_fetch(tmp_path: Path) -> None:
    """The net log check is no formality: a page that loads a web image is caught."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="https://example.org/x.png">'
                    "</body></html>")
    _, requests = open_page(page, tmp_path)
    assert requests == ["https://example.org/x.png"]


def test_a_missing_chromium_fails_with_the_install_command(monkeypatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match=f"install it with '{INSTALL}'"):
        chromium()

"""The report page (pytest_kdump.report.html) as HTML: self-contained, nothing fetched, the
expected rows, plots and links (the browser check is test_html_browser.py)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

from pytest_kdump.report.baseline import parse_baseline
from pytest_kdump.report.html import render, write_html
from pytest_kdump.report.nights import read_nights
from pytest_kdump.report.summary import summarize
from tests.unit.report.conftest import BASELINE, HUNG, NIGHT_A, NIGHT_B, TICKET

URL_RE = re.compile(r"""https?://[^\s"'<>]+""")


class Page(HTMLParser):
    """The tags of a page with their attributes, and its text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, str]]:
        return [a for t, a in self.tags
                if t == tag and (cls is None or cls in a.get("class", "").split())]


TEXT_ATTRIBUTES = ("title", "aria-label", "data-signature", "data-test")


def external_urls(text: str) -> list[str]:
    """Web addresses in the page's attributes, but for text shown (tooltips, labels) and
    ticket links (followed when clicked, never fetched)."""
    urls = []
    for tag, attrs in Page(text).tags:
        for name, value in attrs.items():
            ticket = tag == "a" and name == "href" and "ticket" in attrs.get("class", "")
            if URL_RE.search(value) and not ticket and name not in TEXT_ATTRIBUTES:
                urls.append(f"<{tag} {name}={value}>")
    return urls


def test_the_page_of_two_nights(tmp_path: Path) -> None:
    nights = read_nights([NIGHT_A, NIGHT_B])
    summary = summarize(nights, parse_baseline(BASELINE))
    path = write_html(summary, tmp_path / "out")
    assert path == tmp_path / "out" / "index.html"
    text = path.read_text()
    page = Page(text)
    # self-contained: no script, no external resource, a policy that forbids fetching
    assert not page.find("script") and not page.find("link") and not page.find("img")
    policy = [m for m in page.find("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in policy[0]["content"]
    assert "url(" not in text and "@import" not in text
    assert external_urls(text) == []
    # the signature table, night a's failed test, possibly fixed
    assert [a["href"] for a in page.find("a", "ticket")] == [TICKET] * 3
    # one signature row per group, the new/known classes shown
    rows = page.find("tr", "sig")
    assert [r["data-signature"] for r in rows] == [g.signature for g in summary.groups]
    assert any(r["class"] == "sig sig-known" and r["data-signature"] == HUNG for r in rows)
    assert [r["data-signature"] for r in page.find("tr", "fixed")] == [HUNG]
    # one row per test of each night, a phase bar per test with phases
    tests = page.find("tr", "test")
    assert len(tests) == 19 and len({r["id"] for r in tests}) == 19
    assert len(page.find("svg", "phases")) == 18  # the console-driver test had no cycle
    assert {r["data-board"] for r in tests} == {"aarch64", "x86_64"}
    # the trends: two plots per board
    assert [s["id"] for s in page.find("svg", "plot")] == [
        "plot-phases-aarch64", "plot-size-aarch64", "plot-phases-x86_64", "plot-size-x86_64"]
    # a stacked bar per board and night: its 9 phases (boot and shell: the first test's)
    assert len(page.find("rect", "bar")) == 2 * 2 * 9
    assert len(page.find("circle", "point")) == 4
    # every link but tickets is relative and names an existing file
    links = [a["href"] for a in page.find("a") if "ticket" not in a.get("class", "")]
    assert len(links) == sum(len(t.files) for n in nights for t in n.tests) + 1  # + session
    for href in links:
        assert not href.startswith(("/", "http")), href
        assert (path.parent / unquote(href)).resolve().is_file(), href


def test_one_night_has_no_trend_plots(tmp_path: Path) -> None:
    text = render(summarize(read_nights([NIGHT_B])), tmp_path)
    page = Page(text)
    assert not page.find("svg", "plot") and "give several nights" in text
    assert "No baseline given" in text
    assert "Every known bug" not in text


def test_text_from_the_records_is_escaped(nights_copy: Path, tmp_path: Path) -> None:
    path = next((nights_copy / "2026-12-06-b" / "x86_64").glob("*sysrq/kdump.json"))
    record = json.loads(path.read_text())
    record["console_records"][0]["signature"] = '<script>alert(1)</script> in "x"'
    record["test"] = "t.py::test[<b>]"
    path.write_text(json.dumps(record))
    text = render(summarize(read_nights([nights_copy / "2026-12-06-b"])), tmp_path)
    assert "<script>" not in text and "<b>]" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; in &quot;x&quot;" in text

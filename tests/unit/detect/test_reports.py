"""Every console report file (tests/data/reports/<arch>/<name>): its headers are what
find_crashes() makes of its console text. Format and update mode: tests/data/README.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_kdump.detect import find_crashes
from tests.unit.detect import reports

FILES = reports.files()
HEADER_RE = re.compile(r"[A-Z][A-Z_]*:(?: .*)?")


@pytest.mark.parametrize("path", FILES, ids=reports.name)
def test_report(path: Path) -> None:
    report = reports.read(path)
    got = reports.render(find_crashes(report.body))
    if reports.update_mode():
        if report.headers == got:
            return
        reports.write(report, got)  # never a pass: a rewritten file wants a review
        pytest.fail(f"{report.name}: headers rewritten ({reports.UPDATE_ENV}=1): review the diff "
                    "and run again without it", pytrace=False)
    assert report.headers == got, (
        f"{report.name}: the headers differ from what the detector finds; if that is on purpose "
        f"(or the file is new), rewrite them with {reports.UPDATE_ENV}=1 and review the diff")


@pytest.mark.parametrize("path", FILES, ids=reports.name)
def test_report_file_format(path: Path) -> None:
    report = reports.read(path)
    assert path.parent.name in reports.ARCHES
    head = path.read_bytes().decode("utf-8").partition("\n\n")[0].split("\n")
    assert all(HEADER_RE.fullmatch(line) for line in head), head
    assert head[:len(report.about)] == report.about  # SOURCE and NOTE lines first
    sources = [line for line in report.about if line.startswith("SOURCE:")]
    assert len(sources) == 1 and report.about[0] == sources[0], "one SOURCE line, first"
    assert sources[0].removeprefix("SOURCE: ").startswith(reports.SOURCE_KINDS)
    assert report.body.strip(), "no console text"


def test_every_arch_has_reports() -> None:
    assert {p.parent.name for p in FILES} == set(reports.ARCHES)
    assert not [p for p in reports.REPORTS.iterdir() if p.is_file()]

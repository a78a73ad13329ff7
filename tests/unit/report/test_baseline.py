"""The crash baseline (pytest_kdump.report.baseline): its format, its errors, its verdicts on
the recorded nights' signatures."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_kdump.report.baseline import (
    STATUSES,
    Baseline,
    BaselineError,
    Entry,
    load_baseline,
    parse_baseline,
    save_baseline,
)
from pytest_kdump.report.nights import read_night
from tests.unit.report.conftest import BASELINE, HUNG, NIGHT_A, TICKET, UNDEF_OLD


def test_the_format_and_each_judgement() -> None:
    book = parse_baseline(BASELINE)
    assert list(book.entries) == [HUNG, UNDEF_OLD, "WARNING in dev_watchdog"]
    assert book.entries[HUNG] == Entry(HUNG, "known-bug", TICKET,
                                       "khungtaskd names __switch_to on arm64 6.1")
    known = book.judge(HUNG)
    assert (known.kind, known.ticket, known.why) == ("known", TICKET, f"known bug {TICKET}")
    regression = book.judge(UNDEF_OLD)
    assert regression.kind == "new" and "marked fixed (KDUMP-7) but seen again" in regression.why
    assert book.judge("WARNING in dev_watchdog").kind == "expected"
    unknown = book.judge("kernel BUG in ext4_writepages")
    assert (unknown.kind, unknown.entry, unknown.why) == ("new", None, "not in the baseline")
    untriaged = Baseline(None, {"x": Entry("x", "new")}).judge("x")
    assert untriaged.kind == "new" and "not triaged yet" in untriaged.why


def test_verdicts_on_the_recorded_signatures() -> None:
    """The decision the plugin takes for crashes nobody asked for, on the real signatures of
    night a's two failed arm64 tests (taken as if they had been unexpected)."""
    night = read_night(NIGHT_A)
    failed = [c.signature for t in night.tests if t.outcome == "failed" for c in t.crashes]
    assert sorted(failed) == sorted([HUNG, UNDEF_OLD])
    book = parse_baseline(BASELINE)
    known = book.verdict([HUNG, HUNG])  # the same crash twice: judged once
    assert known.outcome == "xfailed" and len(known.judgements) == 1
    assert known.reason == f"known bug {TICKET}: {HUNG}"
    both = book.verdict([HUNG, UNDEF_OLD])  # a new signature wins over a known bug
    assert both.outcome == "failed"
    assert both.reason.startswith(f"new crash signature '{UNDEF_OLD}': marked fixed")
    expected = book.verdict(["WARNING in dev_watchdog"])
    assert expected.outcome == "passed" and "expected crash" in expected.reason
    assert book.verdict(["WARNING in dev_watchdog", HUNG]).outcome == "xfailed"
    assert Baseline(None, {}).verdict([HUNG]).outcome == "failed"


@pytest.mark.parametrize(("text", "message"), [
    ("- signature: [oops\n", "not valid YAML"),
    ("signature: x\nstatus: new\n", "expected a list of entries, got a dict"),
    ("- just a string\n", "entry 1: expected a mapping"),
    ("- status: new\n", "entry 1: no signature"),
    ("- signature: x\n  status: wontfix\n",
     "unknown status 'wontfix', choose one of expected, known-bug, fixed, new"),
    ("- signature: x\n", "unknown status None"),
    ("- signature: x\n  status: new\n  tiket: 1\n", "unknown key(s) tiket"),
    ("- {signature: x, status: new}\n- {signature: x, status: fixed}\n",
     "entry 2: signature 'x' is listed twice"),
])
def test_a_wrong_baseline_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "baseline.yaml"
    path.write_text(text)
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    assert message in info.value.message and str(path) in info.value.message
    assert ", ".join(STATUSES) in info.value.advice


def test_missing_empty_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "baseline.yaml"
    with pytest.raises(BaselineError, match="cannot read the baseline"):
        load_baseline(path)
    assert load_baseline(path, missing_ok=True).entries == {}
    path.write_text("# nothing triaged yet\n")
    assert load_baseline(path).entries == {}
    book = parse_baseline(BASELINE, path)
    save_baseline(book, path)
    assert path.read_text().startswith("# pytest-kdump crash baseline")
    assert load_baseline(path).entries == book.entries
    assert [p.name for p in tmp_path.iterdir()] == ["baseline.yaml"]  # no partial file left

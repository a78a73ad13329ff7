"""The report's content (pytest_kdump.report.summary) on the two recorded nights."""

from __future__ import annotations

import json
import statistics

from pytest_kdump.report.baseline import parse_baseline
from pytest_kdump.report.nights import read_nights
from pytest_kdump.report.summary import summarize, update_baseline
from tests.unit.report.conftest import (
    BASELINE,
    HUNG,
    NIGHT_A,
    NIGHT_B,
    NIGHT_C,
    SYSRQ,
    TICKET,
    UNDEF_OLD,
)


def _group(summary, signature: str):
    return next(g for g in summary.groups if g.signature == signature)


def test_signatures_grouped_across_tests_boards_and_nights() -> None:
    summary = summarize(read_nights([NIGHT_A, NIGHT_B]))
    assert summary.last.label == "2026-12-06-b"
    # every crash of night b was the one its test asked for
    assert summary.last_counts() == {"new": 0, "known": 0, "expected": 8}
    sysrq = _group(summary, SYSRQ)
    assert (sysrq.count, sysrq.boards, sysrq.first_seen, sysrq.last_seen) == (
        4, ["aarch64", "x86_64"], "2026-12-06-a", "2026-12-06-b")
    assert sysrq.kinds == ["panic"] and sysrq.in_last_night
    assert sysrq.judgement.kind == "expected" and sysrq.judgement.why.startswith("triggered")
    assert len(sysrq.tests) == 2  # arm64's night b ran the matrix with another rootdir
    hung = _group(summary, HUNG)
    assert (hung.count, hung.first_seen, hung.last_seen, hung.in_last_night) == (
        1, "2026-12-06-a", "2026-12-06-a", False)
    assert hung.judgement.kind == "new"
    # groups seen last night first, new before known before expected
    assert [g.in_last_night for g in summary.groups] == sorted(
        (g.in_last_night for g in summary.groups), reverse=True)
    assert summary.possibly_fixed == [] and summary.baseline is None


def test_night_a_alone_against_the_baseline() -> None:
    summary = summarize(read_nights([NIGHT_A]), parse_baseline(BASELINE))
    # 6 crash tests got their crash; of the 2 failed ones, one is a known bug, one is back
    assert summary.last_counts() == {"new": 1, "known": 1, "expected": 6}
    assert _group(summary, HUNG).judgement.ticket == TICKET
    assert "regression" in _group(summary, UNDEF_OLD).judgement.why
    assert summary.possibly_fixed == []  # the one known bug did happen


def test_a_known_bug_that_did_not_happen_is_possibly_fixed() -> None:
    summary = summarize(read_nights([NIGHT_A, NIGHT_B]), parse_baseline(BASELINE))
    assert [e.signature for e in summary.possibly_fixed] == [HUNG]
    assert _group(summary, HUNG).judgement.kind == "known"  # as of its last night


def test_a_signature_asked_for_elsewhere_is_new_when_nobody_asked_for_it() -> None:
    """Night c's sysrq panics happened by accident: the same signature the sysrq tests of
    nights a and b asked for is looked up there, and new without a baseline entry."""
    summary = summarize(read_nights([NIGHT_A, NIGHT_B, NIGHT_C]))
    assert summary.last_counts() == {"new": 2, "known": 0, "expected": 0}
    sysrq = _group(summary, SYSRQ)
    assert (sysrq.count, sysrq.first_seen, sysrq.last_seen) == (6, "2026-12-06-a",
                                                                  "2026-12-06-c")
    assert sysrq.boards == ["aarch64", "qemu-x86_64.yaml / x86_64", "x86_64"]
    assert (sysrq.judgement.kind, sysrq.judgement.why) == ("new", "not in the baseline")
    known = parse_baseline(f'- {{signature: "{SYSRQ}", status: known-bug, ticket: KDUMP-99}}')
    summary = summarize(read_nights([NIGHT_A, NIGHT_B, NIGHT_C]), known)
    assert summary.last_counts() == {"new": 0, "known": 2, "expected": 0}
    assert _group(summary, SYSRQ).judgement.ticket == "KDUMP-99"
    # the sysrq tests' own crashes stay expected: never looked up
    assert {o.judgement.kind for o in summary.occurrences
            if o.signature == SYSRQ and o.night != "2026-12-06-c"} == {"expected"}


def test_update_baseline_adds_what_nobody_asked_for_as_new() -> None:
    nights = read_nights([NIGHT_A, NIGHT_B])
    book = parse_baseline(BASELINE)
    before = dict(book.entries)
    assert update_baseline(book, summarize(nights, book)) == []  # both already listed
    book = parse_baseline("")
    added = update_baseline(book, summarize(nights, book))
    assert [(e.signature, e.status) for e in added] == [(HUNG, "new"), (UNDEF_OLD, "new")]
    assert added[0].note == ("first seen 2026-12-06-a: examples/test_crash_matrix.py::"
                             "test_crash_matrix[module:hung] on aarch64 (hung-task)")
    assert update_baseline(book, summarize(nights, book)) == []
    # added, not triaged: still new (until someone sets its status)
    assert "not triaged yet" in _group(summarize(nights, book), HUNG).judgement.why
    assert parse_baseline(BASELINE).entries == before
    book = parse_baseline("")
    [entry] = update_baseline(book, summarize(read_nights([NIGHT_C]), book))
    assert (entry.signature, entry.note) == (
        SYSRQ, "first seen 2026-12-06-c: test_suite.py::test_a_crashes_by_accident on "
               "qemu-x86_64.yaml / x86_64 (panic)")


def test_trends_per_board_from_the_records() -> None:
    summary = summarize(read_nights([NIGHT_A, NIGHT_B]))
    assert [t.board for t in summary.trends] == ["aarch64", "x86_64"]
    assert summary.phases == ["boot", "shell", "recover", "armed", "trigger", "crash_kernel",
                              "dump_saved", "fetch", "analysis"]
    for trend, folder in zip(summary.trends, ("arm64", "x86_64"), strict=True):
        for night, path in zip(trend.nights, (NIGHT_A, NIGHT_B), strict=True):
            records = [json.loads(p.read_text()) for p in (path / folder).glob("*/kdump.json")]
            dumps = [r for r in records if r.get("vmcore_size")]
            sizes = [r["vmcore_size"] for r in dumps]
            assert night.tests == len(dumps)
            assert (night.size_min, night.size_max) == (min(sizes), max(sizes))
            assert night.size_median == statistics.median(sizes)
            fetch = [p["seconds"] for r in dumps for p in r["phases"] if p["name"] == "fetch"]
            assert night.phases["fetch"] == round(statistics.median(fetch), 2)


def test_json_data() -> None:
    data = summarize(read_nights([NIGHT_A, NIGHT_B]), parse_baseline(BASELINE)).to_dict()
    text = json.dumps(data)
    assert json.loads(text)["last_night"] == {"label": "2026-12-06-b", "new": 0, "known": 0,
                                               "expected": 8}
    assert [n["label"] for n in data["nights"]] == ["2026-12-06-a", "2026-12-06-b"]
    hung = next(t for t in data["nights"][0]["tests"] if t["test"].endswith("[module:hung]")
                and t["arch"] == "aarch64")
    assert hung["crashes"] == [{"signature": HUNG, "kind": "hung-task", "asked_for": False,
                                "class": "known", "why": f"known bug {TICKET}",
                                "baseline_status": "known-bug", "ticket": TICKET,
                                "note": "khungtaskd names __switch_to on arm64 6.1"}]
    assert data["possibly_fixed"][0]["signature"] == HUNG
    assert {t["board"] for t in data["trends"]} == {"aarch64", "x86_64"}

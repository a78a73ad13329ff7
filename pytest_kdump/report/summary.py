"""The nightly report's content: the nights' tests, their crash signatures grouped across tests
and boards and judged against the baseline, and each board's trends over the nights. The HTML
page (:mod:`.html`) and ``--json`` show this same :class:`Summary`."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from pytest_kdump.report.baseline import Baseline, Entry, Judgement
from pytest_kdump.report.nights import Night, TestRun

# the kdump cycle's phases in cycle order (others follow in the order first seen)
PHASE_ORDER = ("boot", "shell", "recover", "armed", "trigger", "crash_kernel", "dump_saved",
               "fetch", "analysis")
ASKED_FOR = "triggered on purpose by its test"


@dataclass(frozen=True)
class Occurrence:
    """One crash report of one test in one night, with its judgement: ``expected`` (asked
    for, or so in the baseline), ``known`` or ``new``."""

    night: str
    test: TestRun
    signature: str
    kind: str
    asked_for: bool
    judgement: Judgement


@dataclass
class SignatureGroup:
    """A crash signature across tests, boards and nights: how often and where it was seen,
    and its ``judgement`` in the last night it was seen in (``in_last_night``)."""

    signature: str
    kinds: list[str]
    count: int
    tests: list[str]
    boards: list[str]
    first_seen: str
    last_seen: str
    in_last_night: bool
    judgement: Judgement


@dataclass
class NightTrend:
    """One board in one night: medians of each phase over its ``tests`` that got a dump, and
    the dump sizes (median, min, max; None without a dump)."""

    night: str
    tests: int
    phases: dict[str, float]
    size_median: float | None = None
    size_min: int | None = None
    size_max: int | None = None


@dataclass
class BoardTrend:
    """A board's nights, in night order (nights without the board left out)."""

    board: str
    nights: list[NightTrend] = field(default_factory=list)


@dataclass
class Summary:
    """The report: ``nights`` oldest first, the signature ``groups``, the baseline's entries
    for bugs that did not happen in the last night (``possibly_fixed``) and the trends."""

    nights: list[Night]
    occurrences: list[Occurrence]
    groups: list[SignatureGroup]
    possibly_fixed: list[Entry]
    trends: list[BoardTrend]
    phases: list[str]  # every phase name seen, in cycle order
    baseline: Baseline | None

    @property
    def last(self) -> Night:
        return self.nights[-1]

    def last_counts(self) -> dict[str, int]:
        """The last night's crash reports by judgement (new, known, expected)."""
        counts = {"new": 0, "known": 0, "expected": 0}
        for o in self.occurrences:
            if o.night == self.last.label:
                counts[o.judgement.kind] += 1
        return counts

    def judgements_of(self, test: TestRun) -> list[Occurrence]:
        return [o for o in self.occurrences if o.test is test]

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready data (``pytest-kdump report --json``)."""
        return {
            "nights": [_night_dict(self, n) for n in self.nights],
            "last_night": {"label": self.last.label, **self.last_counts()},
            "signatures": [_group_dict(g) for g in self.groups],
            "baseline": str(self.baseline.path) if self.baseline and self.baseline.path
            else None,
            "possibly_fixed": [e.to_dict() for e in self.possibly_fixed],
            "phases": self.phases,
            "trends": [{"board": t.board, "nights": [vars(n) for n in t.nights]}
                       for t in self.trends],
        }


def _judgement_dict(j: Judgement) -> dict[str, Any]:
    return {"class": j.kind, "why": j.why,
            "baseline_status": j.entry.status if j.entry else None,
            "ticket": j.ticket, "note": j.entry.note if j.entry else None}


def _night_dict(summary: Summary, night: Night) -> dict[str, Any]:
    tests = []
    for t in night.tests:
        tests.append({
            "test": t.test, "folder": str(t.folder), "outcome": t.outcome, "board": t.board,
            "arch": t.arch, "env": t.env, "total_seconds": t.total_seconds,
            "phases": [vars(p) for p in t.phases], "trigger": t.trigger,
            "vmcore_size": t.vmcore_size, "panic_message": t.panic_message,
            "crash_version": t.crash_version, "backend": t.backend,
            "kernel_release": t.kernel_release, "error": t.error, "files": t.files,
            "crashes": [{"signature": o.signature, "kind": o.kind, "asked_for": o.asked_for,
                         **_judgement_dict(o.judgement)} for o in summary.judgements_of(t)],
        })
    return {"label": night.label, "path": str(night.path), "outcomes": night.outcomes(),
            "boards": night.boards, "sessions": night.sessions, "tests": tests}


def _group_dict(g: SignatureGroup) -> dict[str, Any]:
    return {"signature": g.signature, "kinds": g.kinds, "count": g.count, "tests": g.tests,
            "boards": g.boards, "first_seen": g.first_seen, "last_seen": g.last_seen,
            "in_last_night": g.in_last_night, **_judgement_dict(g.judgement)}


def _phase_order(nights: list[Night]) -> list[str]:
    seen = list(dict.fromkeys(p.name for n in nights for t in n.tests for p in t.phases))
    return [p for p in PHASE_ORDER if p in seen] + [p for p in seen if p not in PHASE_ORDER]


def _trends(nights: list[Night]) -> list[BoardTrend]:
    boards: dict[str, BoardTrend] = {}
    for night in nights:
        for board in night.boards:
            # complete cycles only: tests that got a dump
            tests = [t for t in night.tests if t.board == board and t.vmcore_size is not None]
            times: dict[str, list[float]] = {}
            for t in tests:
                for p in t.phases:
                    times.setdefault(p.name, []).append(p.seconds)
            sizes = [t.vmcore_size for t in tests if t.vmcore_size is not None]
            trend = NightTrend(night.label, len(tests),
                               {k: round(statistics.median(v), 2) for k, v in times.items()})
            if sizes:
                trend.size_median = statistics.median(sizes)
                trend.size_min, trend.size_max = min(sizes), max(sizes)
            boards.setdefault(board, BoardTrend(board)).nights.append(trend)
    return [boards[b] for b in sorted(boards)]


def summarize(nights: list[Night], baseline: Baseline | None = None) -> Summary:
    """The report of ``nights`` (oldest first; the last one is "the night") judged against
    ``baseline`` (None: no baseline, every crash nobody asked for is new)."""
    if not nights:
        raise ValueError("no nights to report on")
    book = baseline or Baseline(None, {})
    occurrences = []
    for night in nights:
        for t in night.tests:
            for c in t.crashes:
                asked = t.asked_for(c)
                judgement = (Judgement(c.signature, "expected", ASKED_FOR) if asked
                             else book.judge(c.signature))
                occurrences.append(Occurrence(night.label, t, c.signature, c.kind, asked,
                                              judgement))
    last = nights[-1].label
    order = [n.label for n in nights]
    groups = []
    for signature in dict.fromkeys(o.signature for o in occurrences):
        occ = [o for o in occurrences if o.signature == signature]
        latest = [o for o in occ if o.night == occ[-1].night]  # its last night's reports
        judgement = next((o.judgement for o in latest if not o.asked_for), latest[0].judgement)
        seen = sorted({o.night for o in occ}, key=order.index)
        groups.append(SignatureGroup(
            signature=signature, kinds=sorted({o.kind for o in occ}), count=len(occ),
            tests=list(dict.fromkeys(o.test.test for o in occ)),
            boards=sorted({o.test.board for o in occ}), first_seen=seen[0],
            last_seen=seen[-1], in_last_night=seen[-1] == last, judgement=judgement))
    rank = {"new": 0, "known": 1, "expected": 2}
    groups.sort(key=lambda g: (not g.in_last_night, rank[g.judgement.kind], -g.count,
                               g.signature))
    tonight = {o.signature for o in occurrences if o.night == last}
    possibly_fixed = [e for e in book.entries.values()
                      if e.status in ("known-bug", "new") and e.signature not in tonight]
    return Summary(nights, occurrences, groups, possibly_fixed, _trends(nights),
                   _phase_order(nights), baseline)


def update_baseline(baseline: Baseline, summary: Summary) -> list[Entry]:
    """Add the signatures of the nights' crashes nobody asked for that the baseline lacks,
    with status ``new`` (to triage: they still count as new) and a note saying where they were
    first seen; existing entries stay as they are. Returns the added entries."""
    added = []
    for o in summary.occurrences:  # oldest night first: the note names the first sighting
        if o.asked_for or o.signature in baseline.entries:
            continue
        entry = Entry(o.signature, "new", None,
                      f"first seen {o.night}: {o.test.test} on {o.test.board} ({o.kind})")
        baseline.entries[o.signature] = entry
        added.append(entry)
    return added

"""The real-world corpus: ``tests/data/corpus/<arch>/<name>`` (format: tests/data/README.md).

A file is header lines (``KEY: value``), one blank line, then the console text of a real crash
report (or of a boot with no crash) from a public source. Unlike ``tests/data/reports`` the
headers are labels written when the report was collected, never by the detector:

- ``SOURCE: <url>`` (first), then ``NOTE:`` lines;
- ``EXPECT_CRASH: yes|no``: the text holds a crash report (``no``: a false alarm is any record);
- ``EXPECT_KIND: <kind>`` (crash reports): one of :data:`pytest_kdump.detect.KINDS`;
- ``EXPECT_GUILTY: <function>`` (optional): the culprit a developer named; ``GUILTY_BY:`` how
  it was found (``fix``: the fix changes it, ``subject``: the fix's subject names it,
  ``reading``: the crash site read off a report of a test's deliberate bad access);
- ``KERNEL: <release>`` (optional): the kernel release the report prints.

:func:`score` runs the detector over the corpus and computes the bench figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pytest_kdump.detect import CrashRecord
from tests.helpers import DATA

CORPUS = DATA / "corpus"
LABEL_KEYS = ("SOURCE", "NOTE", "EXPECT_CRASH", "EXPECT_KIND", "EXPECT_GUILTY", "GUILTY_BY",
              "KERNEL")
GUILTY_BY = ("fix", "subject", "reading")


@dataclass
class CorpusReport:
    """One corpus file: its labels and its console text."""

    path: Path
    labels: dict[str, str]
    notes: list[str]
    body: str

    @property
    def name(self) -> str:
        """``<arch>/<name>``."""
        return self.path.relative_to(CORPUS).as_posix()

    @property
    def arch(self) -> str:
        return self.path.parent.name

    @property
    def crash(self) -> bool:
        """The text holds a crash report."""
        return self.labels["EXPECT_CRASH"] == "yes"

    @property
    def kind(self) -> str | None:
        return self.labels.get("EXPECT_KIND")

    @property
    def guilty(self) -> str | None:
        return self.labels.get("EXPECT_GUILTY")


def files() -> list[Path]:
    """Every corpus file, sorted."""
    return sorted(p for p in CORPUS.glob("*/*") if p.is_file())


def read(path: Path) -> CorpusReport:
    """Split a corpus file into its labels and its console text."""
    head, sep, body = path.read_bytes().decode("utf-8").partition("\n\n")
    if not sep:
        raise ValueError(f"{path}: no blank line after the headers")
    labels: dict[str, str] = {}
    notes = []
    for line in head.split("\n"):
        key, _, value = line.partition(": ")
        if key not in LABEL_KEYS:
            raise ValueError(f"{path}: unknown header {line!r}")
        if key == "NOTE":
            notes.append(value)
        elif key in labels:
            raise ValueError(f"{path}: {key} twice")
        else:
            labels[key] = value
    return CorpusReport(path, labels, notes, body)


def load() -> list[CorpusReport]:
    """The whole corpus."""
    return [read(p) for p in files()]


@dataclass
class Outcome:
    """What the detector made of one corpus file."""

    report: CorpusReport
    records: list[CrashRecord]

    @property
    def first(self) -> CrashRecord | None:
        return self.records[0] if self.records else None

    @property
    def found(self) -> bool:
        return bool(self.records)

    @property
    def kind_ok(self) -> bool:
        return self.first is not None and self.first.kind == self.report.kind

    @property
    def guilty_ok(self) -> bool:
        return self.first is not None and self.first.guilty_frame == self.report.guilty


@dataclass
class Score:
    """The bench figures over a corpus: ratios in [0, 1] and their counts."""

    outcomes: list[Outcome]
    crashes: int = 0
    found: int = 0
    clean: int = 0
    alarms: int = 0
    kind_ok: int = 0
    guilty_labelled: int = 0
    guilty_ok: int = 0
    misses: list[Outcome] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.crashes if self.crashes else 1.0

    @property
    def false_alarms(self) -> float:
        return self.alarms / self.clean if self.clean else 0.0

    @property
    def kind_agreement(self) -> float:
        return self.kind_ok / self.found if self.found else 0.0

    @property
    def guilty_agreement(self) -> float:
        """Among the found reports with an ``EXPECT_GUILTY`` label."""
        return self.guilty_ok / self.guilty_labelled if self.guilty_labelled else 0.0

    def figures(self) -> dict[str, float]:
        return {"recall": round(self.recall, 3), "false_alarms": round(self.false_alarms, 3),
                "guilty": round(self.guilty_agreement, 3), "kind": round(self.kind_agreement, 3)}


def score(reports: list[CorpusReport],
          detect: Callable[[str], list[CrashRecord]]) -> Score:
    """Run ``detect`` (e.g. :func:`~pytest_kdump.detect.find_crashes`) over ``reports``."""
    s = Score([])
    for report in reports:
        out = Outcome(report, detect(report.body))
        s.outcomes.append(out)
        if not report.crash:
            s.clean += 1
            s.alarms += out.found
            if out.found:
                s.misses.append(out)
            continue
        s.crashes += 1
        s.found += out.found
        if not out.found:
            s.misses.append(out)
            continue
        s.kind_ok += out.kind_ok
        if report.guilty:
            s.guilty_labelled += 1
            s.guilty_ok += out.guilty_ok
    return s


def timed(reports: list[CorpusReport], detect: Callable[[str], list[CrashRecord]],
          n: int = 1000) -> float:
    """Seconds to run ``detect`` over ``n`` reports (the corpus repeated)."""
    bodies = [r.body for r in reports]
    t0 = time.perf_counter()
    for i in range(n):
        detect(bodies[i % len(bodies)])
    return time.perf_counter() - t0

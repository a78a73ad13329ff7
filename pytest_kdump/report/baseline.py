"""The baseline of known crash signatures, and what a crash is against it.

The baseline is a YAML list, one entry per signature::

    - signature: "WARNING in dev_watchdog"
      status: known-bug          # expected | known-bug | fixed | new
      ticket: https://bugs.example.org/1234
      note: the board's Ethernet PHY times out at boot

It judges the crashes nobody asked for: an unexpected crash, or a triggered crash in a test
that did not pass (e.g. another signature than the one asked for). A crash a test triggered
on purpose and got is expected by definition and never looked up. A looked-up crash is

- ``expected`` if its entry says ``expected`` (a crash the lab accepts);
- ``known`` if its entry says ``known-bug``;
- ``new`` otherwise: not in the baseline, still ``new`` (added by ``--update-baseline`` and
  not triaged yet), or ``fixed`` and seen again (a regression).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from pytest_kdump.errors import ConfigError

STATUSES = ("expected", "known-bug", "fixed", "new")
KEYS = ("signature", "status", "ticket", "note")
ADVICE = ("the baseline is a YAML list of {signature, status, ticket, note}; status is one of "
          + ", ".join(STATUSES) + " (see README, Nightly report)")


class BaselineError(ConfigError):
    """The baseline file cannot be read, is not valid YAML or has a wrong entry."""


@dataclass
class Entry:
    """One known signature: its triage ``status``, a ``ticket`` (link or id), a ``note``."""

    signature: str
    status: str
    ticket: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("signature", self.signature), ("status", self.status),
                                  ("ticket", self.ticket), ("note", self.note)) if v}


@dataclass(frozen=True)
class Judgement:
    """What one crash signature is against the baseline: ``kind`` new, known or expected,
    the ``entry`` (None if the signature is not in the baseline) and ``why`` in words."""

    signature: str
    kind: str
    why: str
    entry: Entry | None = None

    @property
    def ticket(self) -> str | None:
        return self.entry.ticket if self.entry else None


@dataclass(frozen=True)
class Verdict:
    """What a test's unexpected crashes make of it: ``outcome`` failed (a new signature),
    xfailed (known bugs only), or passed (expected ones only: the test keeps its own
    outcome); ``reason`` for the report."""

    outcome: str
    reason: str
    judgements: tuple[Judgement, ...]


@dataclass
class Baseline:
    """The entries of a baseline file, by signature, in file order."""

    path: Path | None
    entries: dict[str, Entry]

    def judge(self, signature: str) -> Judgement:
        """``signature`` (a crash nobody asked for) against the baseline."""
        entry = self.entries.get(signature)
        if entry is None:
            return Judgement(signature, "new", "not in the baseline")
        if entry.status == "expected":
            return Judgement(signature, "expected", "expected in the baseline", entry)
        if entry.status == "known-bug":
            return Judgement(signature, "known", f"known bug {entry.ticket or '(no ticket)'}",
                             entry)
        if entry.status == "fixed":
            return Judgement(signature, "new", f"marked fixed ({entry.ticket or 'no ticket'}) "
                                               "but seen again: a regression", entry)
        return Judgement(signature, "new", "in the baseline, not triaged yet (status new)",
                         entry)

    def verdict(self, signatures: list[str]) -> Verdict:
        """The outcome of a test during which these unexpected crashes happened."""
        judged = tuple(self.judge(s) for s in dict.fromkeys(signatures))
        new = [j for j in judged if j.kind == "new"]
        if new:
            return Verdict("failed", "; ".join(f"new crash signature {j.signature!r}: {j.why}"
                                               for j in new), judged)
        known = [j for j in judged if j.kind == "known"]
        if known:
            return Verdict("xfailed", "; ".join(f"{j.why}: {j.signature}" for j in known),
                           judged)
        return Verdict("passed", "; ".join(f"expected crash: {j.signature}" for j in judged),
                       judged)

    def to_yaml(self) -> str:
        return yaml.safe_dump([e.to_dict() for e in self.entries.values()], sort_keys=False,
                              allow_unicode=True, width=100)


def parse_baseline(text: str, path: Path | None = None) -> Baseline:
    """A baseline from YAML text; any wrong entry is a :class:`BaselineError` naming it."""
    where = str(path) if path else "baseline"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BaselineError(f"{where}: not valid YAML: {exc}", advice=ADVICE) from None
    if data is None:
        data = []
    if not isinstance(data, list):
        raise BaselineError(f"{where}: expected a list of entries, got a "
                            f"{type(data).__name__}", advice=ADVICE)
    entries: dict[str, Entry] = {}
    for i, item in enumerate(data, 1):
        at = f"{where}: entry {i}"
        if not isinstance(item, dict):
            raise BaselineError(f"{at}: expected a mapping, got {item!r}", advice=ADVICE)
        unknown = sorted(set(map(str, item)) - set(KEYS))
        if unknown:
            raise BaselineError(f"{at}: unknown key(s) {', '.join(unknown)}", advice=ADVICE)
        signature, status = item.get("signature"), item.get("status")
        if not isinstance(signature, str) or not signature.strip():
            raise BaselineError(f"{at}: no signature", advice=ADVICE)
        if status not in STATUSES:
            raise BaselineError(f"{at} ({signature!r}): unknown status {status!r}, choose one "
                                f"of {', '.join(STATUSES)}", advice=ADVICE)
        if signature in entries:
            raise BaselineError(f"{at}: signature {signature!r} is listed twice",
                                advice=ADVICE)
        ticket, note = item.get("ticket"), item.get("note")
        entries[signature] = Entry(signature, status, None if ticket is None else str(ticket),
                                   None if note is None else str(note))
    return Baseline(path, entries)


def load_baseline(path: Path, missing_ok: bool = False) -> Baseline:
    """The baseline in ``path``; an empty one if it does not exist and ``missing_ok``."""
    path = Path(path)
    if missing_ok and not path.exists():
        return Baseline(path, {})
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"cannot read the baseline {path}: {exc}",
                            advice="give an existing YAML file (--update-baseline creates "
                                   "it)") from None
    return parse_baseline(text, path)


def save_baseline(baseline: Baseline, path: Path) -> None:
    """Write ``baseline`` to ``path`` (through a temporary file: never half-written)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text("# pytest-kdump crash baseline: status expected | known-bug | fixed | "
                       "new\n" + baseline.to_yaml())
    partial.replace(path)

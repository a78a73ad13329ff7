"""A night's artifact folders read back: every ``kdump.json`` under a folder, with the files
next to it, as :class:`Night` and :class:`TestRun` objects for the nightly report.

A night is one folder as the plugin writes it (``--kdump-artifacts``): one sub-folder per test
holding ``kdump.json``, ``console.log``, crash's outputs and the ``vmcore``, plus the session's
``session*/`` folders. Test folders are found at any depth, so a night may also hold one
artifact folder per board (``night/beagleplay-1/...``, ``night/beagleplay-2/...``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_kdump.errors import ConfigError
from pytest_kdump.report.record import FILE_NAME, SCHEMA

# Debian kernel flavours -> ``uname -m``, for records made before ``armed.arch`` existed
_FLAVOURS = {"amd64": "x86_64", "arm64": "aarch64", "ppc64el": "ppc64le", "s390x": "s390x",
             "riscv64": "riscv64"}
# the trigger of the dump of a crash nobody asked for (KdumpSession.collect_unexpected)
UNEXPECTED = "unexpected"
# files of a test folder worth a link, besides console.log and kdump.json
_OUTPUT_GLOBS = ("crash-*.txt", "crash-output.txt", "drgn-*.txt", "vmcore-dmesg.txt")


@dataclass(frozen=True)
class Phase:
    """One phase of a test's kdump cycle (``kdump.json`` ``phases``)."""

    name: str
    seconds: float
    ok: bool = True


@dataclass(frozen=True)
class CrashSeen:
    """A crash report a test's console showed: its ``signature`` and ``kind``; ``triggered``
    when the test's own trigger caused it (a ``console_records`` entry), not when nobody asked
    for it (``unexpected_crashes``)."""

    signature: str
    kind: str
    triggered: bool


@dataclass
class TestRun:
    """One test of one night, from its ``kdump.json`` and the files beside it."""

    __test__ = False  # not a pytest test class

    night: str
    folder: Path  # the test's artifact folder
    test: str  # the pytest node id
    outcome: str  # passed, failed, skipped, xfailed or interrupted
    arch: str  # the board's architecture (``uname -m``), "?" if the record does not tell
    env: str | None  # the labgrid environment (record ``board.env``), None in older records
    total_seconds: float
    phases: list[Phase]
    crashes: list[CrashSeen]
    trigger: str | None = None
    vmcore_size: int | None = None
    panic_message: str | None = None
    crash_version: str | None = None
    backend: str | None = None  # the analysis backend: crash or drgn
    kernel_release: str | None = None
    error: dict[str, Any] | None = None  # {type, phase, message, advice}
    files: list[str] = field(default_factory=list)  # file names to link, in display order
    warnings: list[str] = field(default_factory=list)
    place: str | None = None  # the labgrid place of a rack board (record ``board.place``)

    @property
    def board(self) -> str:
        """What the report calls the board: ``env / arch``, or the arch alone; a rack board
        by its place (``bp1 / aarch64``), each place a board of its own."""
        return f"{self.place or self.env} / {self.arch}" if (self.place or self.env) \
            else self.arch

    def asked_for(self, crash: CrashSeen) -> bool:
        """Whether ``crash`` is this test's own crash gone as asked: caused by its trigger in
        a test that passed (expected by definition, never looked up in a baseline)."""
        return crash.triggered and self.outcome == "passed"


@dataclass
class Night:
    """One night's run: its ``label`` (the folder's name), its folder and its tests in
    folder order; ``sessions``: the session console logs found (relative paths)."""

    label: str
    path: Path
    tests: list[TestRun]
    sessions: list[str] = field(default_factory=list)

    @property
    def boards(self) -> list[str]:
        return sorted({t.board for t in self.tests})

    def outcomes(self) -> dict[str, int]:
        """How many tests had each outcome."""
        counts: dict[str, int] = {}
        for t in self.tests:
            counts[t.outcome] = counts.get(t.outcome, 0) + 1
        return counts


def _arch(record: dict[str, Any]) -> str:
    """The board's architecture: ``armed.arch``, else crash's ``sys`` MACHINE, else the
    Debian flavour at the end of the kernel release (records from before ``armed.arch``)."""
    armed = record.get("armed") or {}
    if armed.get("arch"):
        return str(armed["arch"])
    machine = ((record.get("analysis") or {}).get("sys") or {}).get("MACHINE")
    if machine:
        return str(machine).split()[0]
    release = armed.get("kernel_release") or record.get("crash_kernel_release") or ""
    return _FLAVOURS.get(str(release).rsplit("-", 1)[-1], "?") if release else "?"


def _files(folder: Path) -> list[str]:
    names = [n for n in ("console.log", FILE_NAME) if (folder / n).is_file()]
    outputs = {p.name for pattern in _OUTPUT_GLOBS for p in folder.glob(pattern) if p.is_file()}
    names += sorted(outputs)
    if (folder / "vmcore").is_file():
        names.append("vmcore")
    return names


def read_test(path: Path, night: str) -> TestRun:
    """One test from its ``kdump.json`` at ``path``; a file that is not a schema-1 record is
    a :class:`ConfigError` naming it."""
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable kdump.json ({exc})", phase="report",
                          advice="kdump.json is written whole or not at all: this one was "
                                 "edited or copied in part; restore or delete it") from None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        found = record.get("schema") if isinstance(record, dict) else type(record).__name__
        raise ConfigError(f"{path}: kdump.json schema {found!r}, this report reads schema "
                          f"{SCHEMA}", phase="report",
                          advice="read it with the pytest-kdump version that wrote it")
    try:
        # console_records are the last dump's reports: the test's own crash, unless that
        # dump is an unexpected crash's (trigger "unexpected"), listed in unexpected_crashes
        own = record.get("trigger") not in (None, UNEXPECTED)
        crashes = [CrashSeen(r["signature"], r["kind"], True)
                   for r in (record.get("console_records") or [] if own else [])]
        crashes += [CrashSeen(r["signature"], r["kind"], False)
                    for r in record.get("unexpected_crashes") or []]
        phases = [Phase(p["name"], float(p["seconds"]), bool(p.get("ok", True)))
                  for p in record.get("phases") or []]
        board = record.get("board") or {}
        analysis = record.get("analysis") or {}
        return TestRun(
            night=night, folder=path.parent, test=record["test"], outcome=record["outcome"],
            arch=_arch(record), env=board.get("env"),
            total_seconds=float(record.get("total_seconds") or 0.0), phases=phases,
            crashes=crashes, trigger=record.get("trigger"),
            vmcore_size=record.get("vmcore_size"), panic_message=record.get("panic_message"),
            crash_version=record.get("crash_version"), backend=analysis.get("backend"),
            kernel_release=(record.get("armed") or {}).get("kernel_release")
            or record.get("crash_kernel_release"),
            error=record.get("error"), files=_files(path.parent),
            warnings=list(record.get("warnings") or []), place=board.get("place"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: kdump.json lacks or mangles a key ({exc!r})",
                          phase="report", advice="the file was edited or truncated: "
                                                 "compare it with the schema in "
                                                 "pytest_kdump/report/record.py") from None


def read_night(folder: Path, label: str | None = None) -> Night:
    """The night in ``folder``: every ``kdump.json`` below it (hidden folders skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder", phase="report",
                          advice="give the artifact folders of the nights to report on "
                                 "(pytest's --kdump-artifacts, default ./kdump-artifacts)")
    label = label or folder.resolve().name
    paths = sorted(p for p in folder.rglob(FILE_NAME)
                   if not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not paths:
        raise ConfigError(f"{folder}: no kdump.json in this folder or below it",
                          phase="report",
                          advice="give the folder pytest wrote the artifacts to "
                                 "(--kdump-artifacts, default ./kdump-artifacts): each test "
                                 "has a sub-folder with its kdump.json")
    sessions = sorted(str(p.relative_to(folder)) for p in folder.rglob("session*/console.log"))
    return Night(label, folder, [read_test(p, label) for p in paths], sessions)


def read_nights(folders: list[Path]) -> list[Night]:
    """The nights in the order given (oldest first); folders with the same name are labelled
    by their path as given."""
    names = [Path(f).resolve().name for f in folders]
    return [read_night(Path(f), str(f).rstrip("/") if names.count(n) > 1 else n)
            for f, n in zip(folders, names, strict=True)]

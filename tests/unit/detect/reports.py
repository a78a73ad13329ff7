"""Console report files: ``tests/data/reports/<arch>/<name>`` (format: tests/data/README.md).

A file is header lines (``KEY: value``), one blank line, then the console text exactly as the
detector is fed it (CRLF line ends and escape sequences kept: files are read as bytes). The
headers are:

- ``SOURCE:`` (first, one line) ``recorded: ...`` or ``hand-built: ...``, then any ``NOTE:``
  lines: where the console comes from, kept as written;
- ``RECORDS: N``, then for each of the N records ``find_crashes()`` returns, in order, its
  fields as :func:`render` writes them (a block starting with ``KIND:``).

With ``PYTEST_KDUMP_UPDATE_REPORTS=1`` the tests rewrite ``RECORDS`` and the record blocks from
the detector's current output instead of comparing them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pytest_kdump.detect import CrashRecord
from tests.helpers import DATA

REPORTS = DATA / "reports"
ARCHES = ("arm64", "x86_64")
UPDATE_ENV = "PYTEST_KDUMP_UPDATE_REPORTS"
ABOUT_KEYS = ("SOURCE", "NOTE")  # written by hand; the other keys by render()
SOURCE_KINDS = ("recorded: ", "hand-built: ")


@dataclass
class ReportFile:
    """One report file: its hand-written lines, its record headers and its console text."""

    path: Path
    about: list[str]  # the SOURCE and NOTE lines
    headers: list[str]  # "RECORDS: N" and the record blocks
    body: str

    @property
    def name(self) -> str:
        """``<arch>/<name>``."""
        return name(self.path)


def files() -> list[Path]:
    """Every report file, sorted."""
    return sorted(p for p in REPORTS.glob("*/*") if p.is_file())


def name(path: Path) -> str:
    """``<arch>/<name>`` of a report file (the tests' ids)."""
    return path.relative_to(REPORTS).as_posix()


def read(path: Path) -> ReportFile:
    """Split a report file into its header lines and its console text."""
    head, sep, body = path.read_bytes().decode("utf-8").partition("\n\n")
    if not sep:
        raise ValueError(f"{path}: no blank line after the headers")
    lines = head.split("\n")
    about = [line for line in lines if line.split(":", 1)[0] in ABOUT_KEYS]
    headers = [line for line in lines if line.split(":", 1)[0] not in ABOUT_KEYS]
    return ReportFile(path, about, headers, body)


def write(report: ReportFile, headers: list[str]) -> None:
    """Rewrite ``report``'s file with these record headers (its SOURCE/NOTE lines and console
    text unchanged)."""
    text = "\n".join(report.about + headers) + "\n\n" + report.body
    report.path.write_bytes(text.encode("utf-8"))


def body(name: str) -> str:
    """The console text of ``tests/data/reports/<name>`` (e.g. ``x86_64/null-deref-kdump``)."""
    return read(REPORTS / name).body


def update_mode() -> bool:
    """The tests rewrite the record headers (``PYTEST_KDUMP_UPDATE_REPORTS=1``)."""
    return os.environ.get(UPDATE_ENV) == "1"


def render(records: list[CrashRecord]) -> list[str]:
    """The header lines of ``records``: ``RECORDS: N`` then one block per record."""
    lines = [f"RECORDS: {len(records)}"]
    for rec in records:
        lines += _record(rec)
    return lines


def _record(rec: CrashRecord) -> list[str]:
    """A record's fields as ``KEY: value`` lines; a field that is None is left out."""

    def yes(flag: bool) -> str:
        return "yes" if flag else "no"

    fields: list[tuple[str, object]] = [
        ("KIND", rec.kind),
        ("SIGNATURE", rec.signature),
        ("GUILTY", rec.guilty_frame),
        ("HEADLINE", rec.headline),
        ("MESSAGE", rec.message),
        ("PANIC", rec.panic_message),
        ("END", rec.end),
        ("FATAL", yes(rec.fatal)),
        ("CRASH_KERNEL", yes(rec.crash_kernel)),
        ("CORRUPTED", yes(rec.corrupted)),
        ("TRUNCATED", yes(rec.truncated)),
        ("CPU", rec.cpu),
        ("PID", rec.pid),
        ("COMM", rec.comm),
        ("TAINT", rec.taint),
        ("KDUMP", yes(rec.kdump_loaded)),
        ("RELEASE", rec.kernel_release),
        ("HARDWARE", rec.hardware),
        ("RIP", rec.rip),
        *[("TRACE", frame) for frame in rec.frames],
        ("MODULES", " ".join(rec.modules) if rec.modules else None),
        ("TIME", f"{rec.timestamp:.6f}" if rec.timestamp is not None else None),
        ("LINES", f"{rec.start_line}-{rec.end_line}"),
        ("RAW_LINES", len(rec.raw.split("\n")) if rec.raw else 0),
        *[("CONTEXT", line) for line in (rec.context.split("\n") if rec.context else [])],
    ]
    return [f"{key}: {value}".rstrip() for key, value in fields if value is not None]

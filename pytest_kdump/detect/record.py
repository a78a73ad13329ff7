"""Crash records: what the detector makes of a kernel crash report on a console."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_kdump.symbols import clean_function

__all__ = ["END_REASONS", "KINDS", "UNKNOWN_REASON", "CrashRecord", "ReportFrame"]

KINDS = (
    "panic", "oops", "null-deref", "paging-request", "gpf", "invalid-opcode", "divide-error",
    "bug", "warning", "soft-lockup", "hard-lockup", "hung-task", "rcu-stall", "kasan", "ubsan",
    "kfence", "kcsan", "stack-protector", "unknown",
)
"""Every value of :attr:`CrashRecord.kind`. ``unknown``: a crash kernel started and no crash
report came before it (an NMI panic prints nothing on the console)."""

UNKNOWN_REASON = "crash kernel started with no crash report on the console (NMI or hard hang?)"

END_REASONS = {
    "end-trace": "---[ end trace ]---",
    "end-panic": "---[ end Kernel panic ]---",
    "end-report": "the end of the report (its closing ==== line or the end of its call trace)",
    "kernel-start": "a new kernel starting (with kdump loaded: the crash kernel)",
    "crashdump-start": "'Starting crashdump kernel...'",
    "next-report": "the start of the next crash report",
    "eof": "the end of the console text (the report was still open)",
    "limit": "the size limit of a report (no end seen)",
}
"""Every value of :attr:`CrashRecord.end`, with what it means."""


@dataclass(frozen=True)
class ReportFrame:
    """A code location of a console report: ``func+0x16/0x20 [mod]`` (the dump analysis has
    its own :class:`pytest_kdump.analysis.Frame`).

    ``offset`` and ``size`` are the numbers after ``+`` and ``/``; ``module`` is None for the
    kernel itself; ``reliable`` is False for the frames the unwinder marks with ``?``.
    """

    function: str
    offset: int | None = None
    module: str | None = None
    reliable: bool = True
    size: int | None = None

    @property
    def name(self) -> str:
        """The function without compiler suffixes (``.cold``, ``.isra.0``, ``.constprop.0``)."""
        return clean_function(self.function)

    def __str__(self) -> str:
        text = self.function
        if self.offset is not None:
            text += f"+{self.offset:#x}" + (f"/{self.size:#x}" if self.size is not None else "")
        if self.module:
            text += f" [{self.module}]"
        return text if self.reliable else "? " + text


@dataclass
class CrashRecord:
    """One kernel crash report found on a console (see
    :func:`~pytest_kdump.detect.find_crashes`).

    - ``kind``: one of :data:`KINDS`; for an oops that led to ``Kernel panic - not syncing:
      Fatal exception`` (or a WARNING to ``panic_on_warn set``) the kind of the oops/WARNING:
      the panic is part of the same record and makes it ``fatal``.
    - ``headline``: the report's first line without console prefix; ``message`` what it says
      (the panic string for panics); ``panic_message`` the panic string if the report ended
      in a panic.
    - ``cpu``, ``pid``, ``comm``: the crashing CPU and task (for a hung task: the blocked one);
      ``taint``: ``"Not tainted"`` or the flags (``"G W OE"``); ``kdump_loaded``: ``Kdump:
      loaded`` was on the ``CPU:`` line; ``hardware``: the ``Hardware name:`` line;
      ``kernel_release`` the release on the ``CPU:`` line.
    - ``rip``: where the kernel faulted (``RIP: 0010:`` / arm64 ``pc :``, before the call
      trace); ``frames`` the report's (first) call trace; ``modules`` the ``Modules linked
      in:`` list.
    - ``signature``: a normalised title with the guilty frame, e.g. ``BUG: kernel NULL pointer
      dereference in crash_null_deref``; ``guilty_frame`` that function.
    - ``fatal``: the kernel died (a panic, or a new kernel started right after the report);
      ``crash_kernel``: the crash kernel started after it (``end`` says how the report ended,
      one of :data:`END_REASONS`).
    - ``raw``: the report's console lines (timestamps kept, ``\\r`` and escape sequences
      removed; at most :data:`~pytest_kdump.detect.MAX_RAW` characters, ``truncated`` if
      more); ``context`` the console lines just before it; ``start_line``/``end_line`` its
      first and last line, counted from 1 in the text given to the detector; ``timestamp``
      the kernel time of its first line.
    - ``corrupted``: only a generic panic was seen (``Fatal exception``...): the real report
      was lost.
    """

    kind: str
    headline: str
    message: str = ""
    signature: str = ""
    guilty_frame: str | None = None
    fatal: bool = False
    crash_kernel: bool = False
    end: str = "eof"
    panic_message: str | None = None
    cpu: int | None = None
    pid: int | None = None
    comm: str | None = None
    taint: str | None = None
    kdump_loaded: bool = False
    hardware: str | None = None
    kernel_release: str | None = None
    rip: ReportFrame | None = None
    frames: list[ReportFrame] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    timestamp: float | None = None
    start_line: int = 0
    end_line: int = 0
    raw: str = ""
    context: str = ""
    truncated: bool = False
    corrupted: bool = False

    @property
    def taint_flags(self) -> str:
        """The taint letters without spaces (``"GWO"``), empty when not tainted."""
        return "" if not self.taint or self.taint == "Not tainted" else self.taint.replace(" ", "")

    def excerpt(self, max_lines: int = 30) -> str:
        """The first ``max_lines`` lines of the report, for a failure message."""
        lines = self.raw.splitlines()
        if len(lines) <= max_lines:
            return "\n".join(lines)
        return "\n".join(lines[:max_lines] + [f"... ({len(lines) - max_lines} more lines)"])

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready builtins (frames as dicts)."""
        return asdict(self)

    def __str__(self) -> str:
        state = "fatal" if self.fatal else "not fatal"
        if self.crash_kernel:
            state += ", crash kernel started"
        lines = [f"{self.kind} ({state}): {self.signature}", f"  {self.headline}"]
        if self.panic_message is not None and self.kind != "panic":
            lines.append(f"  then: Kernel panic - not syncing: {self.panic_message}")
        who = []
        if self.cpu is not None:
            who.append(f"CPU {self.cpu}")
        if self.pid is not None:
            who.append(f"PID {self.pid}" + (f" ({self.comm})" if self.comm else ""))
        if self.taint:
            who.append(self.taint if self.taint == "Not tainted" else f"tainted {self.taint}")
        if self.kernel_release:
            who.append(self.kernel_release)
        if self.kdump_loaded:
            who.append("kdump loaded")
        if who:
            lines.append("  " + ", ".join(who))
        if self.rip:
            lines.append(f"  at {self.rip}")
        trace = [f.function + (f" [{f.module}]" if f.module else "")
                 for f in self.frames if f.reliable]
        if trace:
            more = " < ..." if len(trace) > 8 else ""
            lines.append("  call trace: " + " < ".join(trace[:8]) + more)
        lines.append(f"  console lines {self.start_line}-{self.end_line}, ended by {self.end}")
        return "\n".join(lines)

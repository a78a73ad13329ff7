"""Kernel crashes on a console: recognise them, parse them into records, sign them.

- :func:`find_crashes` (a whole log) and :class:`StreamDetector` (chunk by chunk, for a live
  console) turn console text into :class:`CrashRecord` objects: one per crash report (panic,
  oops, BUG, WARNING, lockups, hung tasks, RCU stalls, KASAN/UBSAN/KFENCE, stack protector, a
  crash kernel starting with no report), with the crashing task, the faulting location
  (:class:`ReportFrame`), the call trace and a syzkaller-style ``signature`` (normalised title
  + guilty frame) that is the same for the same bug on every boot.
- The modules: :mod:`.patterns` (the cycle's console patterns), :mod:`.record` (the records),
  :mod:`.rules` (the rule table: one row per kind of report, with its title builder),
  :mod:`.signature` (guilty frames and their skip rules :data:`SKIP_RULES`,
  normalisation), :mod:`.stream` (the detector).
"""

from __future__ import annotations

from pytest_kdump.detect.patterns import (
    CRASH_HEADLINES,
    CRASH_RE,
    KERNEL_BANNER_RE,
    PANIC_END_RE,
    PANIC_RE,
    crash_headline,
)
from pytest_kdump.detect.record import END_REASONS, KINDS, UNKNOWN_REASON, CrashRecord, ReportFrame
from pytest_kdump.detect.signature import (
    SKIP_FUNCTIONS,
    SKIP_RULES,
    SkipRule,
    base_name,
    is_reporting_function,
    normalise,
)
from pytest_kdump.detect.stream import (
    BANNER_LOOKAHEAD,
    CLAIM_LINES,
    CONTEXT_LINES,
    GRACE_LINES,
    MAX_LINE,
    MAX_QUIET,
    MAX_RAW,
    MAX_REPORT_LINES,
    StreamDetector,
    find_crashes,
)

__all__ = [
    "BANNER_LOOKAHEAD",
    "CLAIM_LINES",
    "CONTEXT_LINES",
    "CRASH_HEADLINES",
    "CRASH_RE",
    "CrashRecord",
    "END_REASONS",
    "GRACE_LINES",
    "KERNEL_BANNER_RE",
    "KINDS",
    "MAX_LINE",
    "MAX_QUIET",
    "MAX_RAW",
    "MAX_REPORT_LINES",
    "PANIC_END_RE",
    "PANIC_RE",
    "ReportFrame",
    "SKIP_FUNCTIONS",
    "SKIP_RULES",
    "SkipRule",
    "StreamDetector",
    "UNKNOWN_REASON",
    "base_name",
    "crash_headline",
    "find_crashes",
    "is_reporting_function",
    "normalise",
]

"""
Kernel Log
----------

Parser of crash's ``log`` (the kernel's message buffer), with its options ``-T`` (dates),
``-t`` (no stamps), ``-m`` (levels) and ``-c`` (callers): :func:`parse_log`, and
:func:`log_text` for the messages alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LOG_SECONDS = re.compile(r"^\[\s*(\d+\.\d+)\] ?")
_LOG_HUMAN = re.compile(r"^\[((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [^\]]*\d{4})\] ?")
_LOG_CALLER = re.compile(r"^\[\s*([TC]\d+)\] ?")
_LOG_LEVEL = re.compile(r"^<([0-9a-f])>")


@dataclass(frozen=True)
class LogLine:
    """A kernel log line (``log``). ``timestamp`` is seconds since boot (None for ``log -T``
    dates, ``log -t`` and continuation lines); ``stamp`` the bracket as printed; ``level``
    the ``log -m`` level; ``caller`` the ``log -c`` ``T123``/``C0`` id."""

    timestamp: float | None
    text: str
    stamp: str | None = None
    level: int | None = None
    caller: str | None = None


def parse_log(text: str) -> list[LogLine]:
    """Parse ``log`` (also ``log -T``, ``-t``, ``-m``, ``-c``) into :class:`LogLine` s.

    A line without a stamp is a continuation of a multi-line message; crash indents it to
    the previous prefix's width, and that indentation is removed from its text.

    >>> (line,) = parse_log("[    5.510138] Oops: 0002 [#1] PREEMPT SMP NOPTI")
    >>> line.timestamp, line.text
    (5.510138, 'Oops: 0002 [#1] PREEMPT SMP NOPTI')

    :return: a :class:`LogLine` per line of ``text``
    """
    lines = []
    indent = 0
    for line in text.splitlines():
        rest, stamp, seconds, level, caller = line, None, None, None, None
        if m := _LOG_SECONDS.match(rest):
            stamp, seconds = m.group(0).strip()[1:-1].strip(), float(m.group(1))
        elif m := _LOG_HUMAN.match(rest):
            stamp = m.group(1)
        if m:
            rest = rest[m.end():]
            if c := _LOG_CALLER.match(rest):
                caller, rest = c.group(1), rest[c.end():]
            if lv := _LOG_LEVEL.match(rest):
                level, rest = int(lv.group(1), 16), rest[lv.end():]
            indent = len(line) - len(rest)
        elif indent and line[:indent].isspace():
            rest = line[indent:]
        lines.append(LogLine(timestamp=seconds, text=rest, stamp=stamp, level=level,
                             caller=caller))
    return lines


def log_text(lines: list[LogLine]) -> str:
    """The log's messages without their stamps, one per line.

    :param lines: the lines of ``log`` (:func:`parse_log`)
    :return: their texts joined by newlines
    """
    return "\n".join(line.text for line in lines)

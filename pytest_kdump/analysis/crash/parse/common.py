"""
Common Helpers
--------------

What the parsers of every crash command family share: number conversions, the
``PID: ..  TASK: ..  CPU: ..  COMMAND: ".."`` task header that ``bt``, ``files``, ``ps -m``
and ``foreach`` print, and :func:`command_error`, which tells crash's (and gdb's) error
messages from the normal output of any command.
"""

from __future__ import annotations

import re

from pytest_kdump.analysis.model import Task

_HEX = re.compile(r"[0-9a-fA-F]+")
# The task header of bt, files, ps -m...: PID: 99  TASK: ffff...  CPU: 0  COMMAND: "sh"
_TASK_HEADER = re.compile(
    r'PID:\s*(\d+)\s+TASK:\s*([0-9a-f]+)\s+CPU:\s*(\S+)\s+COMMAND:\s*"(.*)"')


def _int(text: str | None) -> int | None:
    """``text`` as a decimal (or ``0x`` hex) int, or None."""
    if text is None:
        return None
    try:
        return int(text, 16) if text.lower().startswith(("0x", "-0x")) else int(text)
    except ValueError:
        return None


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _header_task(line: str) -> Task | None:
    """The :class:`Task` of a ``PID: .. TASK: .. CPU: .. COMMAND: ".."`` line, or None."""
    m = _TASK_HEADER.search(line)
    if not m:
        return None
    pid, task, cpu, command = m.groups()
    return Task(pid=int(pid), command=command, cpu=_int(cpu), task=task)


_GDB_ERRORS = re.compile(r"^(?:symbol not found: |No symbol .* in current context|"
                         r"Cannot access memory at address |A syntax error in expression|"
                         r"There is no member named )")


def command_error(command: str, text: str) -> str | None:
    """crash's error message for ``command`` if ``text`` starts with one, else None.

    The first line that is neither blank nor a ``WARNING:`` decides: an error is
    ``<cmd>: ...`` (``bt: invalid task or pid value: 99999``, ``p: gdb request failed: ...``),
    ``crash: ...``, or gdb's ``symbol not found: X``, ``No symbol "x" in current context.``,
    ``Cannot access memory at address 0x...``. A ``<cmd>: WARNING: ...`` is no error; nor is
    an error after normal output (a partial result such as a bt cut short).

    >>> command_error("bt 99999", "bt: invalid task or pid value: 99999")
    'bt: invalid task or pid value: 99999'
    >>> command_error("bt", "bt: WARNING: possibly bogus exception frame") is None
    True

    :param command: the crash command line that printed ``text``
    :param text: what crash printed
    :return: the error line, stripped, or None
    """
    words = re.split(r"[\s/|]+", command.strip())
    names = {"crash", words[0]} if words and words[0] else {"crash"}
    if words[0] == "foreach":  # "foreach UN bt": the errors name the command, not the filter
        names.update(w for w in words[1:] if w.isalpha() and w.islower())
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("WARNING:"):
            continue
        name, sep, rest = stripped.partition(": ")
        if sep and name in names and rest and not rest.startswith("WARNING:"):
            return stripped
        if _GDB_ERRORS.match(stripped):
            return stripped
        return None
    return None

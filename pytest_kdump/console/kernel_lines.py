"""The kernel's own messages in console text: the console prints them whenever they come, in
the middle of a command's output, or of a line of it."""

from __future__ import annotations

import re

from pytest_kdump.detect.patterns import CONSOLE_PREFIX

__all__ = ["unsplice", "without_kernel_messages"]

# Kernel messages printed in the middle of a line, one or several in a row: the line's rest
# follows them. (Not after a '>': that is a syslog level, "<6>", the message's own.)
_SPLICED_RE = re.compile(r"(?<=[^\r\n>])(?:" + CONSOLE_PREFIX + r"[^\n]*\n)+")
_WHOLE_RE = re.compile(r"^" + CONSOLE_PREFIX + r"[^\n]*(?:\n|$)", re.M)


def unsplice(text: str) -> tuple[str, list[tuple[int, str]]]:
    """``text`` with the kernel messages printed in the middle of a line cut out, so that the
    line is whole again, and the cut messages with where they were in the returned text."""
    parts: list[str] = []
    cuts: list[tuple[int, str]] = []
    last = length = 0
    for m in _SPLICED_RE.finditer(text):
        parts.append(text[last:m.start()])
        length += m.start() - last
        cuts.append((length, m.group()))
        last = m.end()
    parts.append(text[last:])
    return "".join(parts), cuts


def without_kernel_messages(output: str) -> str:
    """A command's output as read on the console, without the kernel messages printed during
    it (``[    5.300000] random: crng init done`` before ``x86_64``, or cut into it). For the
    output of commands that print no kernel-stamped lines themselves (not ``dmesg``)."""
    return _WHOLE_RE.sub("", unsplice(output)[0])

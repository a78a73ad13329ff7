"""The console patterns of the cycle: regular expressions over console text, kernel timestamps
allowed in front. (How a crash kernel reports its dump saved is a saver's business:
:mod:`pytest_kdump.savers`.)"""

from __future__ import annotations

import re

__all__ = ["CONSOLE_PREFIX", "CRASH_HEADLINES", "CRASH_RE", "KERNEL_BANNER_RE", "KERNEL_PREFIX",
           "PANIC_END_RE", "PANIC_RE", "crash_headline"]

_TS = r"(?:\[\s*\d+\.\d+\]\s*)?"
# The prefix a kernel puts on its console lines: "[   12.345678]" (anywhere: shell output may
# precede it), an optional caller id "[T123]" / "[    C0]" (some kernels print a space before
# it; Unisoc's print "c0" right after the timestamp), and an optional syslog level "<4>".
KERNEL_PREFIX = r"(?:<\d{1,2}>)?\[\s*(?P<ts>\d+\.\d+)\](?:\s?\[\s*[TC]\d+\]|c\d{1,4}\b)? ?"
# The same as a console shows it live: printk's timestamp always has six decimals.
CONSOLE_PREFIX = KERNEL_PREFIX.replace(r"\d+\.\d+", r"\d+\.\d{6}")

# The first line of a kernel crash report: what the kernel prints when it dies.
CRASH_HEADLINES = [
    r"Kernel panic - not syncing: [^\r\n]*",
    r"BUG: kernel NULL pointer dereference[^\r\n]*",
    r"BUG: unable to handle [^\r\n]*",
    r"Unable to handle kernel [^\r\n]*",
    r"Internal error: [^\r\n]*",
    r"kernel BUG at [^\r\n]*",
    r"general protection fault[^\r\n]*",
    r"invalid opcode: [^\r\n]*",
    r"divide error: [^\r\n]*",
    r"Oops: [^\r\n]*",
]
CRASH_RE = re.compile("|".join(f"(?:{p})" for p in CRASH_HEADLINES))
PANIC_RE = re.compile(r"Kernel panic - not syncing: ([^\r\n]*)")
# A kernel starting: the production kernel at power-on, the crash kernel after a panic.
KERNEL_BANNER_RE = re.compile(_TS + r"Linux version (\S+) ")  # the space: release complete
PANIC_END_RE = re.compile(r"---\[ end Kernel panic")


def crash_headline(text: str) -> str | None:
    """The first crash headline in ``text`` (e.g. ``Kernel panic - not syncing: ...``)."""
    m = CRASH_RE.search(text)
    return m.group(0).strip() if m else None

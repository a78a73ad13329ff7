"""Copying a file to the board over its console: base64 in short lines, checked with md5sum.

Works on any board with a shell (busybox has ``base64`` and ``md5sum``), no network needed.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
from collections.abc import Callable
from pathlib import Path

from pytest_kdump.console.kernel_lines import without_kernel_messages
from pytest_kdump.errors import ConfigError, CycleError

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
"""Characters no command line typed at a board's shell can carry, even quoted: a line break
splits the command, NUL ends it (a tab is fine)."""


def check_remote_path(path: str, what: str = "the board path",
                      phase: str | None = None) -> str:
    """``path`` if it can go (quoted) on a board's command line: absolute (so never taken
    for an option), without line breaks or control characters; else a ConfigError."""
    if not path.startswith("/") or CONTROL_CHARS.search(path):
        raise ConfigError(f"{what} {path!r} cannot be used on the board", phase=phase,
                          advice="use an absolute path without line breaks or control "
                                 "characters")
    return path


class ConsoleCopy:
    """Copies files with shell commands run by ``run`` (which returns a command's output and
    raises on a non-zero exit, like :meth:`CycleEngine.run`); ``chunk``: base64 characters
    per command line."""

    def __init__(self, run: Callable[[str], str], chunk: int = 700) -> None:
        self.run = run
        self.chunk = chunk

    def put(self, local: Path, remote: str) -> None:
        """Copy ``local`` to the board's ``remote`` (any absolute path: it is quoted); a
        ConfigError for a path no command line can carry, a CycleError if the copy is
        corrupted."""
        check_remote_path(remote, "the copy's destination")
        raw = Path(local).read_bytes()
        data = base64.b64encode(raw).decode()
        dest, b64 = shlex.quote(remote), shlex.quote(f"{remote}.b64")
        self.run(f"rm -f {b64}")
        for i in range(0, len(data), self.chunk):
            self.run(f"echo {data[i:i + self.chunk]} >> {b64}")
        self.run(f"base64 -d {b64} > {dest} && rm {b64}")
        # coreutils' md5sum puts a backslash before the sum of a name holding one
        got = without_kernel_messages(self.run(f"md5sum {dest}"))
        got = (got.split() or [""])[0].removeprefix("\\")
        want = hashlib.md5(raw).hexdigest()
        if got != want:
            raise CycleError(f"copying {local} to the board's {remote} corrupted it "
                             f"(md5 {got} != {want})", advice="the console drops input: "
                             "lower the chunk size or check the serial link")

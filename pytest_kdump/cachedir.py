"""Cache folders: built in a staging folder, stamped last, swapped into place atomically.

The image, crash and kernel-header caches all follow this: a folder with a ``stamp.json`` is
complete; one without is a leftover of an interrupted build.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from pytest_kdump.errors import ToolError

STAMP = "stamp.json"


def cache_dir() -> Path:
    """The user's cache folder: $PYTEST_KDUMP_CACHE, else $XDG_CACHE_HOME/pytest-kdump."""
    if os.environ.get("PYTEST_KDUMP_CACHE"):
        return Path(os.environ["PYTEST_KDUMP_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pytest-kdump"


@contextlib.contextmanager
def locked(folder: Path, timeout: float = 1800) -> Iterator[None]:
    """Hold ``folder/.lock`` exclusively: other processes building there (xdist workers) wait,
    up to ``timeout`` seconds, then get a ToolError."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".lock"
    deadline = time.monotonic() + timeout
    with open(path, "w") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ToolError(f"{path} stayed locked for {timeout:g} s by another build",
                                    advice="wait for the other pytest-kdump build to finish, or "
                                           "stop it (fuser -v that file names it)") from None
                time.sleep(0.5)
        yield


def publish(stage: Path, final: Path, stamp: dict) -> None:
    """Write ``stamp`` into ``stage``, then replace ``final`` with it."""
    (stage / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        final.rename(old)
    stage.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def point(link: Path, name: str) -> None:
    """Make ``link`` a symlink to ``name`` (in the same folder), replaced atomically."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(name)
    tmp.replace(link)


def stamps(base: Path, prefix: str = "") -> Iterator[tuple[Path, dict]]:
    """(folder, stamp) for each complete folder of ``base`` whose name starts with prefix."""
    for stamp_file in base.glob(f"{glob.escape(prefix)}*/{STAMP}"):
        try:
            yield stamp_file.parent, json.loads(stamp_file.read_text())
        except (OSError, ValueError):
            continue

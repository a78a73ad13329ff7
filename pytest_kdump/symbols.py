"""Kernel symbol names, as both the console detector and the dump analysis read them."""

from __future__ import annotations

import bisect
import logging
import re
import subprocess
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_kdump.detect.record import CrashRecord

__all__ = ["FunctionTable", "clean_function", "fix_noreturn_frames"]

logger = logging.getLogger(__name__)


def clean_function(name: str) -> str:
    """``name`` without compiler suffixes: ``__handle_sysrq.cold`` -> ``__handle_sysrq``
    (also ``.isra.0``, ``.constprop.0``, ``.part.0``)."""
    return name.split(".", 1)[0] or name


class FunctionTable:
    """The functions of a vmlinux, in address order (its ELF symbol table, read once)."""

    def __init__(self, functions: list[tuple[int, str]]) -> None:
        self._functions = sorted(functions)
        self._addresses = [a for a, _ in self._functions]
        self._by_name: dict[str, int] = {}
        for address, name in self._functions:
            self._by_name.setdefault(name, address)

    @classmethod
    def from_readelf(cls, text: str) -> FunctionTable:
        """From ``readelf -sW`` output (its FUNC symbols)."""
        return cls([(int(addr, 16), name) for addr, name in re.findall(
            r"^\s*\d+: ([0-9a-f]+)\s+\d+\s+FUNC\s+\S+\s+\S+\s+\S+\s+(\S+)$", text, re.M)])

    def function_before(self, name: str) -> str | None:
        """The function that ends where ``name`` starts: the caller of a noreturn function
        when a backtrace shows its return address as ``name+0x0``."""
        address = self._by_name.get(name)
        if address is None:
            return None
        i = bisect.bisect_left(self._addresses, address)
        return self._functions[i - 1][1] if i > 0 else None


@lru_cache(maxsize=4)
def _table(vmlinux: str, mtime: float) -> FunctionTable | None:
    try:
        out = subprocess.run(["readelf", "-sW", vmlinux], capture_output=True, text=True,
                             timeout=120, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        logger.warning("cannot read the symbols of %s: %s", vmlinux, e)
        return None
    return FunctionTable.from_readelf(out)


def function_table(vmlinux: Path) -> FunctionTable | None:
    """The function table of ``vmlinux`` (cached per file and modification time), or None
    when it cannot be read."""
    try:
        mtime = vmlinux.stat().st_mtime
    except OSError:
        return None
    return _table(str(vmlinux), mtime)


def fix_noreturn_frames(record: CrashRecord, table: FunctionTable) -> bool:
    """Name the real caller in frames printed past a noreturn call.

    A call to a noreturn function (``panic``, ``do_exit``) can be the last instruction of its
    caller; the return address then lies at the start of the next function, and kernels whose
    unwinder does not step back (arm64 before 6.x) print ``next_function+0x0/...``. A return
    address is never at a function's start, so such a frame (other than the first, the
    faulting pc) is replaced by the function before it. The guilty frame and the signature
    follow: the console detector skips a frame past a noreturn call (it names no caller), so a
    renamed frame above the guilty frame it chose, and not a reporting helper, becomes it.
    Returns whether anything changed.
    """
    from pytest_kdump.detect.signature import base_name, is_reporting_function

    renamed: dict[str, str] = {}
    renamed_at: list[int] = []
    frames = list(record.frames)
    for i, frame in enumerate(frames):
        if i == 0 or frame.offset != 0 or frame.module is not None:
            continue
        caller = table.function_before(frame.function)
        if caller:
            renamed[frame.function] = caller
            renamed_at.append(i)
            frames[i] = replace(frame, function=caller, offset=None, size=None)
    if not renamed:
        return False
    names = [base_name(f.function) for f in record.frames]
    record.frames = frames
    old = record.guilty_frame
    new = renamed.get(old) if old else None
    if new is None and old in names:
        new = next((frames[i].function for i in renamed_at if i < names.index(old)
                    and not is_reporting_function(frames[i].function, record.kind)), None)
    if old and new:
        record.guilty_frame = new
        if record.signature.endswith(f" in {old}"):
            record.signature = record.signature[: -len(old)] + new
    return True

"""Checks that a fetched vmcore is complete before anyone analyses it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import VmcoreError

# makedumpfile's compressed format starts with "KDUMP   "; -E writes ELF; -F a flattened stream.
SIGNATURES = {b"KDUMP   ": "kdump-compressed", b"\x7fELF": "elf",
              b"makedumpfile": "flattened"}


@dataclass(frozen=True)
class VmcoreInfo:
    """A vmcore file that passed the checks."""

    path: Path
    size: int
    format: str


def check_vmcore(path: Path, expected_size: int | None = None) -> VmcoreInfo:
    """Raise VmcoreError unless ``path`` is a non-empty, complete dump file."""
    advice = ("the crash kernel did not finish writing the dump: read its console output "
              "(makedumpfile's messages) and check the dump target's free space")
    if not path.is_file():
        raise VmcoreError(f"no vmcore at {path}", phase="fetch", advice=advice)
    size = path.stat().st_size
    if size == 0:
        raise VmcoreError(f"vmcore {path} is empty", phase="fetch", advice=advice)
    with open(path, "rb") as f:
        head = f.read(16)
    fmt = next((name for sig, name in SIGNATURES.items() if head.startswith(sig)), None)
    if fmt is None:
        raise VmcoreError(f"{path} is not a kdump file (starts with {head[:8]!r})",
                          phase="fetch", advice="the file is not a vmcore: check the dump path")
    if expected_size is not None and size != expected_size:
        raise VmcoreError(f"vmcore {path} is truncated: {size} bytes, the crash kernel wrote "
                          f"{expected_size}", phase="fetch", advice=advice)
    return VmcoreInfo(path, size, fmt)

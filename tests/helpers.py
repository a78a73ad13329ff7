"""Shared by the tests: where things are, and synthetic vmcores."""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
ENV = ROOT / "labgrid-envs" / "qemu-x86_64.yaml"

# labgrid 26.0.1's SerialLoggingReporter fails (a KeyError, reported as this warning) when a
# console's first logged step is a write, as in ShellDriver's log-in
LABGRID_LOGGER_WARNING = pytest.mark.filterwarnings(
    "ignore:unhandled exception during event notification:UserWarning")


def make_kdump(pfns: list[int], *, status: int = 1, release: str = "6.1.0-test",
               block: int = 4096, seed: int = 0) -> bytes:
    """A small kdump-compressed file in makedumpfile's layout (what vmcore.kdump_layout reads):
    header block, one sub-header block, bitmap blocks (bitmap1 then bitmap2), 24-byte page
    descriptors for the pages set in bitmap2, then the (here random) page data."""
    sub_blocks, bitmap_blocks = 1, 2
    head = bytearray(block)
    head[0:8] = b"KDUMP   "
    struct.pack_into("<i", head, 8, 6)  # header_version
    head[12:17] = b"Linux"  # utsname.sysname; release is the third 65-byte field
    head[12 + 130:12 + 130 + len(release)] = release.encode()
    struct.pack_into("<IiiI", head, 424, status, block, sub_blocks, bitmap_blocks)
    half = bitmap_blocks * block // 2
    bitmap1, bitmap2 = bytearray(half), bytearray(half)
    for pfn in pfns:
        for bitmap in (bitmap1, bitmap2):
            bitmap[pfn // 8] |= 1 << (pfn % 8)
    table_at = (1 + sub_blocks + bitmap_blocks) * block
    offset = table_at + 24 * len(pfns)
    rng = random.Random(seed)
    table, data = b"", b""
    for i in range(len(pfns)):
        page = rng.randbytes(50 + 37 * i)
        table += struct.pack("<qIIQ", offset, len(page), 1, 0)
        offset += len(page)
        data += page
    out = bytes(head) + bytes(sub_blocks * block) + bitmap1 + bitmap2 + table + data
    assert len(out) == offset
    return out


PFNS = [0, 1, 2, 9, 100, 4000]


def child_pytest(pytester: Any, *args: str, timeout: float | None = None) -> Any:
    """pytest in a child process, configured by an ini of its own: not by this repository's
    pyproject.toml, whose addopts run two xdist workers (a child's prints would be lost)."""
    ini = pytester.makeini("[pytest]\n")
    return pytester.runpytest_subprocess("-c", str(ini), "-p", "no:cacheprovider", *args,
                                         timeout=timeout)


def env_variant(tmp_path: Path, **replace: str) -> Path:
    """The project's QEMU env file with some text replaced."""
    text = ENV.read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "env.yaml"
    path.write_text(text)
    return path


def assert_helpful(exc: Exception, phase: str) -> None:
    """The error names the phase, gives advice, the console tail and an existing log."""
    assert exc.phase == phase, f"expected phase {phase}, got {exc.phase}: {exc}"
    assert exc.advice, exc
    assert exc.console_tail and len(exc.console_tail.splitlines()) >= 5, exc
    assert exc.log_path is not None and exc.log_path.is_file(), exc
    text = str(exc)
    assert f"[phase {phase}]" in text and "What to check:" in text and "Console tail:" in text


def fake_dump_files(folder: Path) -> tuple[Path, Path]:
    """A vmlinux and a vmcore that only look like them (for a fake crash)."""
    vmlinux = folder / "vmlinux"
    vmlinux.write_bytes(b"\x7fELF not really")
    vmcore = folder / "vmcore"
    vmcore.write_bytes(b"\x7fELF\x02" + bytes(59))  # an ELF core with no segments
    return vmlinux, vmcore


def own_session(base: Path, **kwargs: Any) -> tuple[Any, Any]:
    """A QEMU board of its own (its dump disk in ``base``) and its KdumpSession, artifacts in
    ``base/artifacts``: (labgrid env, session); close the session, then clean the env up."""
    import os

    from pytest_kdump.drivers.environment import open_session

    old = os.environ.get("LG_KDUMP_RUN")
    os.environ["LG_KDUMP_RUN"] = str(base)
    try:
        return open_session(ENV, base / "artifacts", **kwargs)
    finally:
        if old is None:
            del os.environ["LG_KDUMP_RUN"]
        else:
            os.environ["LG_KDUMP_RUN"] = old

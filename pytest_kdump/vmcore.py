"""Checks that a fetched vmcore is complete before anyone analyses it."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pytest_kdump.arch import ALIASES
from pytest_kdump.errors import ConfigError, VmcoreError

# makedumpfile's compressed format starts with "KDUMP   "; -E writes ELF; -F a flattened stream.
SIGNATURES = {b"KDUMP   ": "kdump-compressed", b"\x7fELF": "elf",
              b"makedumpfile": "flattened"}


DUMP_DH_COMPRESSED_INCOMPLETE = 0x8  # makedumpfile: the dump was cut short (e.g. disk full)


def kdump_layout(path: Path) -> tuple[int, int, str]:
    """(bytes the data needs, header status, kernel release) of a kdump-compressed file.

    The size is the end of the farthest page in the page-descriptor table, so a truncated
    file is told from a complete one without reading the pages.
    """
    with open(path, "rb") as f:
        head = f.read(4096)
        if len(head) < 448:
            return 1 << 62, 0, ""
        release = head[12 + 65 * 2:12 + 65 * 3].split(b"\0")[0].decode(errors="replace")
        status, block, sub_blocks, bitmap_blocks = struct.unpack_from("<IiiI", head, 424)
        if block <= 0 or bitmap_blocks <= 0:
            return 1 << 62, status, release
        f.seek((1 + sub_blocks) * block + bitmap_blocks * block // 2)
        bitmap2 = f.read(bitmap_blocks * block // 2)
        if len(bitmap2) < bitmap_blocks * block // 2:
            return 1 << 62, status, release
        pages = int.from_bytes(bitmap2, "little").bit_count()
        f.seek((1 + sub_blocks + bitmap_blocks) * block)
        table = f.read(pages * 24)
    if len(table) < pages * 24:
        return 1 << 62, status, release
    end = max((off + size for off, size, _, _ in struct.iter_unpack("<qIIQ", table)),
              default=0)
    return end, status, release


def elf_layout(path: Path) -> int:
    """Bytes an ELF vmcore needs: the end of its farthest program segment (``1 << 62`` when
    the ELF or program headers are cut)."""
    with open(path, "rb") as f:
        ident = f.read(64)
        if len(ident) < 64:
            return 1 << 62
        if ident[4] != 2:  # 32-bit ELF: not produced by makedumpfile on our targets
            return 0
        phoff, = struct.unpack_from("<Q", ident, 32)
        phentsize, phnum = struct.unpack_from("<HH", ident, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    if len(table) < phentsize * phnum:
        return 1 << 62
    end = 0
    for i in range(phnum):
        _, _, offset, _, _, filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        end = max(end, offset + filesz)
    return end


@dataclass(frozen=True)
class VmcoreInfo:
    """A vmcore file that passed the checks."""

    path: Path
    size: int
    format: str


def check_vmcore(path: Path, expected_size: int | None = None) -> VmcoreInfo:
    """Raise VmcoreError unless ``path`` is a non-empty, complete, readable dump file."""
    try:
        return _check_vmcore(path, expected_size)
    except OSError as exc:
        raise VmcoreError(f"cannot read vmcore {path}: {exc.strerror or exc}", phase="fetch",
                          advice="check the file's permissions and the disk") from None


def check_inputs(vmlinux: Path, vmcore: Path) -> VmcoreInfo:
    """Check an analysis's inputs: both files exist (a folder is named as such) and the vmcore
    is complete. Errors are in phase ``analysis``."""
    from pytest_kdump.errors import AnalysisError

    for path, what in ((vmlinux, "vmlinux"), (vmcore, "vmcore")):
        if path.is_dir():
            hint = f" (did you mean {path / what}?)" if (path / what).is_file() else ""
            raise AnalysisError(f"{what} {path} is a folder, not a file{hint}",
                                phase="analysis", advice=f"give the path of the {what} file")
        if not path.is_file():
            raise AnalysisError(f"{what} not found: {path}", phase="analysis",
                                advice=f"give the path of the {what}")
    try:
        return check_vmcore(vmcore)
    except VmcoreError as exc:
        exc.phase = "analysis"
        raise


def _check_vmcore(path: Path, expected_size: int | None) -> VmcoreInfo:
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
    needed = 0
    if fmt == "kdump-compressed":
        needed, status, _ = kdump_layout(path)
        if status & DUMP_DH_COMPRESSED_INCOMPLETE:
            raise VmcoreError(f"makedumpfile marked {path} incomplete", phase="fetch",
                              advice="the dump target filled up or the crash kernel died while "
                                     "writing: free space on the dump target, or lower -d")
    elif fmt == "elf":
        needed = elf_layout(path)
    if needed > size:
        # kdump_layout says 1 << 62 when the headers themselves are cut
        what = ("its headers are cut short" if needed >= 1 << 62
                else f"its headers describe {needed}")
        raise VmcoreError(f"vmcore {path} is truncated: {size} bytes, {what}", phase="fetch",
                          advice=advice)
    return VmcoreInfo(path, size, fmt)


# --- architectures ----------------------------------------------------------------------------

# ELF e_machine -> ``uname -m`` name (elf.h); ppc64 is told apart by the byte order.
ELF_MACHINES = {62: "x86_64", 183: "aarch64", 3: "i686", 22: "s390x", 243: "riscv64"}
_EM_PPC64 = 21
# offset of utsname.machine in makedumpfile's disk_dump_header: signature[8],
# header_version (int), then struct new_utsname of six 65-byte fields, machine the fifth
_KDUMP_MACHINE = 12 + 65 * 4
_FLAT_HEADER = 4096  # makedumpfile -F: a 4096-byte header, then (offset, size, data) blocks
_FLAT_BLOCKS = 64  # blocks of a flattened file looked at for its offset-0 header


def elf_arch(head: bytes) -> str | None:
    """The ``uname -m`` name of an ELF file's machine (``x86_64``, ``aarch64``) from its first
    bytes; None for another file or an unknown machine."""
    if len(head) < 20 or not head.startswith(b"\x7fELF") or head[5] not in (1, 2):
        return None
    machine, = struct.unpack_from("<H" if head[5] == 1 else ">H", head, 18)
    if machine == _EM_PPC64:
        return "ppc64le" if head[5] == 1 else "ppc64"
    return ELF_MACHINES.get(machine)


def _kdump_arch(head: bytes) -> str | None:
    machine = head[_KDUMP_MACHINE:_KDUMP_MACHINE + 65].split(b"\0")[0]
    name = machine.decode("ascii", errors="replace").strip()
    return ALIASES.get(name, name) or None  # Debian's names (arm64) mapped to uname -m's


def _dump_head_arch(head: bytes) -> str | None:
    if head.startswith((b"KDUMP   ", b"DISKDUMP")):
        return _kdump_arch(head) if len(head) > _KDUMP_MACHINE else None
    return elf_arch(head)


def _flattened_head(f: BinaryIO) -> bytes:
    """The first bytes of the dump a flattened file holds (its block at offset 0)."""
    f.seek(_FLAT_HEADER)
    for _ in range(_FLAT_BLOCKS):
        block = f.read(16)
        if len(block) < 16:
            break
        # the block headers are big-endian (crash's makedumpfile.c swaps them on x86)
        offset, size = struct.unpack(">qq", block)
        if offset < 0 or size < 0:  # END_FLAG_FLAT_HEADER
            break
        if offset == 0:
            return f.read(min(size, 4096))
        f.seek(size, 1)
    return b""


def vmcore_arch(path: Path) -> str | None:
    """The architecture (``uname -m`` name: ``x86_64``, ``aarch64``) of the kernel that wrote
    the dump at ``path``, from its header: ``utsname.machine`` of a kdump-compressed file
    (flattened or not), ``e_machine`` of an ELF vmcore. None when the file cannot be read or
    does not say (never raises for a bad file)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
            if head.startswith(b"makedumpfile"):
                head = _flattened_head(f)
    except OSError:
        return None
    return _dump_head_arch(head)


def vmlinux_arch(path: Path) -> str | None:
    """The architecture of an ELF kernel (a debug vmlinux), None for any other file."""
    try:
        with open(path, "rb") as f:
            return elf_arch(f.read(64))
    except OSError:
        return None


def dump_arch(vmlinux: Path, vmcore: Path) -> str | None:
    """The architecture of an analysis's inputs: the vmcore's, else the vmlinux's (None if
    neither says). A vmlinux of another architecture than the dump is a ConfigError."""
    dump, kernel = vmcore_arch(vmcore), vmlinux_arch(vmlinux)
    if dump and kernel and dump != kernel:
        raise ConfigError(f"{vmlinux} is a kernel for {kernel}, but {vmcore} is the dump of a "
                          f"kernel for {dump}", phase="analysis",
                          advice=f"give the debug vmlinux of the {dump} kernel that wrote the "
                                 f"dump (for the QEMU guest: the vmlinux in pytest-kdump's "
                                 f"images/{dump}-current cache folder)")
    return dump or kernel

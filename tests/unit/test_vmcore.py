"""vmcore completeness checks on synthetic kdump-compressed and ELF files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pytest_kdump import vmcore
from pytest_kdump.errors import VmcoreError
from tests.helpers import PFNS, make_kdump


def test_synthetic_kdump_complete(tmp_path: Path) -> None:
    path = tmp_path / "vmcore"
    data = make_kdump(PFNS)
    path.write_bytes(data)
    assert vmcore.kdump_layout(path) == (len(data), 1, "6.1.0-test")
    assert vmcore.check_vmcore(path) == vmcore.VmcoreInfo(path, len(data), "kdump-compressed")
    assert vmcore.check_vmcore(path, expected_size=len(data)).size == len(data)


@pytest.mark.parametrize("cut", [1, 100])
def test_synthetic_kdump_truncated_data(tmp_path: Path, cut: int) -> None:
    data = make_kdump(PFNS)
    path = tmp_path / "vmcore"
    path.write_bytes(data[:-cut])
    with pytest.raises(VmcoreError, match=rf"truncated: {len(data) - cut} bytes, its headers "
                                          rf"describe {len(data)}") as exc:
        vmcore.check_vmcore(path)
    assert exc.value.phase == "fetch" and exc.value.advice


@pytest.mark.parametrize("keep", [16, 447, 4096, 4096 * 2 + 8, 4096 * 4 + 30])
def test_synthetic_kdump_truncated_headers(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "vmcore"
    path.write_bytes(make_kdump(PFNS)[:keep])
    with pytest.raises(VmcoreError, match=f"truncated: {keep} bytes, its headers are cut short"):
        vmcore.check_vmcore(path)


def test_synthetic_kdump_incomplete_flag(tmp_path: Path) -> None:
    path = tmp_path / "vmcore"
    path.write_bytes(make_kdump(PFNS, status=1 | vmcore.DUMP_DH_COMPRESSED_INCOMPLETE))
    with pytest.raises(VmcoreError, match="marked .* incomplete") as exc:
        vmcore.check_vmcore(path)
    assert "free space" in exc.value.advice


def test_vmcore_size_differs_from_reported(tmp_path: Path) -> None:
    path = tmp_path / "vmcore"
    data = make_kdump(PFNS)
    path.write_bytes(data)
    with pytest.raises(VmcoreError, match=rf"{len(data)} bytes, the crash kernel wrote "
                                          rf"{len(data) + 10}"):
        vmcore.check_vmcore(path, expected_size=len(data) + 10)


def test_vmcore_missing_empty_foreign(tmp_path: Path) -> None:
    with pytest.raises(VmcoreError, match="no vmcore at"):
        vmcore.check_vmcore(tmp_path / "nothing")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(VmcoreError, match="is empty"):
        vmcore.check_vmcore(empty)
    text = tmp_path / "dmesg.txt"
    text.write_bytes(b"[    0.000000] Linux version 6.1.0\n" * 20)
    with pytest.raises(VmcoreError, match=r"not a kdump file \(starts with b'\[    0.0'\)"):
        vmcore.check_vmcore(text)
    with pytest.raises(VmcoreError, match="no vmcore at"):
        vmcore.check_vmcore(tmp_path)  # a directory is no dump either


def make_elf(segments: list[tuple[int, int]]) -> bytes:
    """A 64-bit little-endian ELF core with PT_LOAD segments (offset, size) and their data."""
    phoff, phentsize = 64, 56
    ehdr = bytearray(64)
    ehdr[0:7] = b"\x7fELF\x02\x01\x01"
    struct.pack_into("<HHI", ehdr, 16, 4, 62, 1)  # ET_CORE, EM_X86_64
    struct.pack_into("<Q", ehdr, 32, phoff)
    struct.pack_into("<HH", ehdr, 54, phentsize, len(segments))
    phdrs = b"".join(struct.pack("<IIQQQQQQ", 1, 4, off, 0, 0, size, size, 0)
                     for off, size in segments)
    out = bytearray(ehdr + phdrs)
    end = max(off + size for off, size in segments)
    out += bytes(end - len(out))
    return bytes(out)


def test_elf_vmcore(tmp_path: Path) -> None:
    path = tmp_path / "vmcore"
    data = make_elf([(4096, 8192), (12288, 4096)])
    path.write_bytes(data)
    assert vmcore.check_vmcore(path) == vmcore.VmcoreInfo(path, 16384, "elf")
    path.write_bytes(data[:16000])
    with pytest.raises(VmcoreError, match="16000 bytes, its headers describe 16384"):
        vmcore.check_vmcore(path)


@pytest.mark.parametrize("keep", [4, 40, 64, 100])  # in the ELF header, in the program headers
def test_elf_vmcore_truncated_headers(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "vmcore"
    path.write_bytes(make_elf([(4096, 8192), (12288, 4096)])[:keep])
    with pytest.raises(VmcoreError, match=f"truncated: {keep} bytes, its headers are cut short"):
        vmcore.check_vmcore(path)


def test_flattened_vmcore_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "vmcore"
    path.write_bytes(b"makedumpfile\0\0\0\0" + bytes(100))
    assert vmcore.check_vmcore(path).format == "flattened"

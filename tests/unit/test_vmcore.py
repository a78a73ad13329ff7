"""vmcore completeness checks on synthetic kdump-compressed and ELF files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pytest_kdump import vmcore
from pytest_kdump.errors import ConfigError, VmcoreError
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


# --- architectures ----------------------------------------------------------------------------

# The first 64 bytes of real debug vmlinux files: Debian's 6.12.95+deb12-arm64 (ET_DYN,
# EM_AARCH64) and 6.1.0-57-cloud-amd64 (ET_EXEC, EM_X86_64), from pytest-kdump's image cache.
VMLINUX_ARM64 = bytes.fromhex(
    "7f454c460201010000000000000000000300b70001000000000000800080ffff"
    "400000000000000078cacd170000000000000000400038000400400031003000")
VMLINUX_X86_64 = bytes.fromhex(
    "7f454c4602010100000000000000000002003e00010000000000000100000000"
    "4000000000000000d84c29230000000000000000400038000500400052005100")
# makedumpfile's disk_dump_header: "KDUMP   ", header_version, then six 65-byte utsname
# fields (sysname, nodename, release, version, machine, domainname)
MACHINE_AT = 12 + 65 * 4


def kdump_of(machine: bytes) -> bytes:
    """A complete synthetic kdump-compressed file whose utsname.machine is ``machine``."""
    data = bytearray(make_kdump(PFNS))
    data[MACHINE_AT:MACHINE_AT + len(machine)] = machine
    return bytes(data)


def flattened(dump: bytes, first_block: int = 4096) -> bytes:
    """``dump`` in makedumpfile's flattened format (-F): a 4096-byte header ("makedumpfile",
    type 1, version 1, big-endian), then (offset, size) big-endian block headers, each before
    its data; the tail block first, so the offset-0 block is not the first one; end flag -1."""
    head = bytearray(4096)
    head[0:12] = b"makedumpfile"
    struct.pack_into(">qq", head, 16, 1, 1)
    tail = dump[first_block:]
    out = bytes(head) + struct.pack(">qq", first_block, len(tail)) + tail
    out += struct.pack(">qq", 0, first_block) + dump[:first_block]
    return out + struct.pack(">qq", -1, -1)


@pytest.mark.parametrize("machine, arch", [(b"aarch64", "aarch64"), (b"x86_64", "x86_64"),
                                           (b"arm64", "aarch64"), (b"s390x", "s390x")])
def test_vmcore_arch_of_kdump_compressed(tmp_path: Path, machine: bytes, arch: str) -> None:
    path = tmp_path / "vmcore"
    path.write_bytes(kdump_of(machine))
    assert vmcore.vmcore_arch(path) == arch
    assert vmcore.check_vmcore(path).format == "kdump-compressed"  # still a complete dump
    path.write_bytes(flattened(kdump_of(machine)))
    assert vmcore.vmcore_arch(path) == arch


def test_vmcore_arch_of_real_kdump_header(tmp_path: Path) -> None:
    """The utsname fields of a real x86_64 dump (Debian 6.1.0-57-cloud-amd64), as written."""
    uts = [b"Linux", b"(none)", b"6.1.0-57-cloud-amd64",
           b"#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26)", b"x86_64", b"(none)"]
    head = b"KDUMP   " + struct.pack("<i", 6) + b"".join(f.ljust(65, b"\0") for f in uts)
    path = tmp_path / "vmcore"
    path.write_bytes(head + bytes(4096 - len(head)))
    assert vmcore.vmcore_arch(path) == "x86_64"


def test_vmcore_arch_of_elf_vmcores(tmp_path: Path) -> None:
    path = tmp_path / "vmcore"
    data = bytearray(make_elf([(4096, 8192)]))
    path.write_bytes(data)
    assert vmcore.vmcore_arch(path) == "x86_64"
    struct.pack_into("<H", data, 18, 183)  # EM_AARCH64
    path.write_bytes(data)
    assert vmcore.vmcore_arch(path) == "aarch64"
    path.write_bytes(flattened(bytes(data), first_block=64))
    assert vmcore.vmcore_arch(path) == "aarch64"


def test_vmcore_arch_unknown(tmp_path: Path) -> None:
    path = tmp_path / "vmcore"
    assert vmcore.vmcore_arch(path) is None  # missing
    path.write_bytes(b"[    0.000000] Linux version 6.1.0\n" * 20)
    assert vmcore.vmcore_arch(path) is None
    path.write_bytes(kdump_of(b"")[:MACHINE_AT])  # cut before utsname.machine
    assert vmcore.vmcore_arch(path) is None
    path.write_bytes(kdump_of(b""))  # an empty machine field
    assert vmcore.vmcore_arch(path) is None
    path.write_bytes(flattened(kdump_of(b"aarch64"))[:4096 + 8])  # block header cut
    assert vmcore.vmcore_arch(path) is None
    elf = bytearray(VMLINUX_X86_64)
    struct.pack_into("<H", elf, 18, 0x1234)
    path.write_bytes(elf)
    assert vmcore.vmcore_arch(path) is None


def test_vmlinux_arch(tmp_path: Path) -> None:
    path = tmp_path / "vmlinux"
    for data, arch in ((VMLINUX_ARM64, "aarch64"), (VMLINUX_X86_64, "x86_64")):
        path.write_bytes(data)
        assert vmcore.vmlinux_arch(path) == arch
    path.write_bytes(b"MZ\0\0" + bytes(60))  # a compressed vmlinuz: no ELF
    assert vmcore.vmlinux_arch(path) is None
    assert vmcore.vmlinux_arch(tmp_path / "none") is None
    big_endian = bytearray(VMLINUX_X86_64)
    big_endian[5] = 2
    struct.pack_into(">H", big_endian, 18, 21)  # EM_PPC64
    assert vmcore.elf_arch(bytes(big_endian)) == "ppc64"


def test_dump_arch_mismatch_is_a_config_error(tmp_path: Path) -> None:
    vmlinux, dump = tmp_path / "vmlinux", tmp_path / "vmcore"
    vmlinux.write_bytes(VMLINUX_X86_64)
    dump.write_bytes(kdump_of(b"aarch64"))
    with pytest.raises(ConfigError) as exc:
        vmcore.dump_arch(vmlinux, dump)
    assert exc.value.phase == "analysis"
    assert "is a kernel for x86_64, but" in exc.value.message and "for aarch64" in exc.value.message
    assert "images/aarch64-current" in exc.value.advice
    vmlinux.write_bytes(VMLINUX_ARM64)
    assert vmcore.dump_arch(vmlinux, dump) == "aarch64"
    dump.write_bytes(b"not a dump")
    assert vmcore.dump_arch(vmlinux, dump) == "aarch64"  # the vmlinux says
    vmlinux.write_bytes(b"not a kernel")
    assert vmcore.dump_arch(vmlinux, dump) is None

"""Unit tests of the small pieces: the cpio writer, the vmcore completeness checks, phase
timeouts and sizes, triggers, the labgrid environment and KdumpDriver configuration, and the
ext4 dump-disk transport (host mkfs.ext4/debugfs, no QEMU)."""

from __future__ import annotations

import io
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from pytest_kdump import vmcore
from pytest_kdump.cpio import NewcWriter
from pytest_kdump.cycle import Timeouts, parse_size
from pytest_kdump.environment import check_env_file
from pytest_kdump.errors import ConfigError, VmcoreError
from pytest_kdump.transport import DiskImageTransport
from pytest_kdump.triggers import SYSRQ, Trigger, get_trigger

# --- cpio -----------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("cpio") is None, reason="host cpio not installed")
def test_cpio_round_trip(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "etc").mkdir(mode=0o700)
    (tree / "etc").chmod(0o700)
    hello = tree / "bin" / "hello"
    hello.write_bytes(b"#!/bin/sh\necho hello\n")  # 21 bytes: exercises the padding
    hello.chmod(0o755)
    (tree / "empty").write_bytes(b"")
    (tree / "empty").chmod(0o600)
    (tree / "link").symlink_to("bin/hello")
    (tree / "libx").symlink_to("bin")  # a symlink to a directory is kept as a link

    buf = io.BytesIO()
    w = NewcWriter(buf)
    w.add_tree(tree)
    w.add_dir("dev")
    w.add_chardev("dev/console", 5, 1)
    w.close()
    archive = buf.getvalue()
    assert len(archive) % 4 == 0

    proc = subprocess.run(["cpio", "-itv"], input=archive, capture_output=True, check=True)
    listing = [line.split() for line in proc.stdout.decode().splitlines()]
    entries = {f[-3] if "->" in f else f[-1]: f for f in listing}
    assert list(entries) == ["bin", "etc", "libx", "empty", "link", "bin/hello", "dev",
                             "dev/console"]
    modes = {name: f[0] for name, f in entries.items()}
    assert modes == {"bin": "drwxr-xr-x", "etc": "drwx------", "libx": "lrwxrwxrwx",
                     "empty": "-rw-------", "link": "lrwxrwxrwx", "bin/hello": "-rwxr-xr-x",
                     "dev": "drwxr-xr-x", "dev/console": "crw-------"}
    assert all(f[2:4] == ["root", "root"] for f in listing)
    assert entries["link"][-2:] == ["->", "bin/hello"]
    assert entries["libx"][-2:] == ["->", "bin"]
    assert entries["dev/console"][4:6] == ["5,", "1"]
    assert entries["bin/hello"][4] == "21"
    assert b"TRAILER" not in proc.stdout  # the trailer ends the archive, it is no entry

    out = subprocess.run(["cpio", "-i", "--to-stdout", "bin/hello"], input=archive,
                         capture_output=True, check=True)
    assert out.stdout == hello.read_bytes()


# --- vmcore checks --------------------------------------------------------------------------

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


# cut in: the header, the sub-header, the bitmaps, the page table
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


# --- Timeouts, parse_size -------------------------------------------------------------------

def test_timeouts_from_dict() -> None:
    assert Timeouts.from_dict(None) == Timeouts()
    t = Timeouts.from_dict({"boot": 5, "dump_saved": 12.5})
    assert (t.boot, t.dump_saved, t.shell) == (5, 12.5, Timeouts().shell)


def test_timeouts_unknown_phase() -> None:
    with pytest.raises(ConfigError, match="unknown phase timeout.*: dump, shel") as exc:
        Timeouts.from_dict({"shel": 10, "dump": 3, "boot": 1})
    assert "dump_saved" in exc.value.advice


@pytest.mark.parametrize("value", [0, -1, "10", None, [5]])
def test_timeouts_bad_values(value: object) -> None:
    with pytest.raises(ConfigError, match="positive numbers of seconds"):
        Timeouts.from_dict({"boot": value})


@pytest.mark.parametrize("text, size", [
    ("128M", 128 << 20), ("128m", 128 << 20), (" 64M\n", 64 << 20), ("512K", 512 << 10),
    ("1G", 1 << 30), ("4096", 4096), ("0", 0),
    ("1G-2G:128M,2G-:256M", None), ("128M@16M", None), ("auto", None), ("128MB", None),
    ("", None),
])
def test_parse_size(text: str, size: int | None) -> None:
    assert parse_size(text) == size


# --- triggers -------------------------------------------------------------------------------

def test_get_trigger() -> None:
    assert get_trigger("sysrq") is SYSRQ
    assert SYSRQ.command == "echo c > /proc/sysrq-trigger"
    assert SYSRQ.culprit == "sysrq_handle_crash"
    custom = Trigger(name="oops", command="insmod /oops.ko",
                     sysctls={"kernel.panic_on_oops": "1"})
    assert get_trigger(custom) is custom
    assert custom.setup_commands() == ["echo 1 > /proc/sys/kernel/panic_on_oops"]
    cmd = get_trigger("cmd:echo 1 > /proc/sys/kernel/panic; echo c > /proc/sysrq-trigger")
    assert cmd.name == "command"
    assert cmd.command == "echo 1 > /proc/sys/kernel/panic; echo c > /proc/sysrq-trigger"
    assert cmd.setup_commands() == []
    assert str(SYSRQ) == "sysrq ('echo c > /proc/sysrq-trigger')"


@pytest.mark.parametrize("spec", ["sysrqq", "", "SYSRQ", "cmd"])
def test_get_trigger_unknown(spec: str) -> None:
    with pytest.raises(ValueError, match="unknown trigger .*known: sysrq, init-exit, nmi"):
        get_trigger(spec)


# --- labgrid environment and KdumpDriver configuration --------------------------------------

ENV = """\
targets:
  main:
    drivers:
      FakeConsoleDriver: {{}}
      FakePowerDriver: {{}}
      KdumpConsoleDriver: {{}}
      KdumpDriver:
{driver}
imports:
  - labgrid.driver.fake
  - pytest_kdump.labgrid_driver
"""


def _load_target(tmp_path: Path, driver_yaml: str):
    from labgrid import Environment

    path = tmp_path / "env.yaml"
    path.write_text(ENV.format(driver=driver_yaml))
    check_env_file(path)
    return Environment(str(path)).get_target("main")


def test_kdump_driver_config(tmp_path: Path) -> None:
    target = _load_target(tmp_path, "        crashkernel: 128M\n"
                                    "        dump_disk: /tmp/kdump-test.img\n"
                                    "        prompt: 'kdump# '\n"
                                    "        recognizer: kdump-tools\n"
                                    "        timeouts: {boot: 30, dump_saved: 300}\n")
    driver = target.get_driver("KdumpDriver", activate=False)
    assert (driver.crashkernel, driver.dump_disk, driver.prompt, driver.recognizer) == (
        "128M", "/tmp/kdump-test.img", "kdump# ", "kdump-tools")
    assert driver.timeouts == {"boot": 30, "dump_saved": 300}
    assert driver.dump_disk_size == 1024


@pytest.mark.filterwarnings("ignore:unsupported attribute")
def test_kdump_driver_typo_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key.*crashkernal") as exc:
        _load_target(tmp_path, "        crashkernal: 128M\n"
                               "        dump_disk: /tmp/kdump-test.img\n")
    assert str(tmp_path / "env.yaml") in exc.value.message
    assert "crashkernel" in exc.value.advice


def test_kdump_driver_bad_recognizer(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown recognizer 'systemd'"):
        _load_target(tmp_path, "        recognizer: systemd\n")


def test_kdump_driver_bad_timeouts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown phase timeout.*: boto"):
        _load_target(tmp_path, "        timeouts: {boto: 30}\n")
    with pytest.raises(ConfigError, match="positive"):
        _load_target(tmp_path, "        timeouts: {boot: 0}\n")


def test_check_env_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment file not found") as exc:
        check_env_file(tmp_path / "missing.yaml")
    assert "--lg-env" in exc.value.advice
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets:\n  main:\n    drivers: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        check_env_file(bad)
    for text in ("imports: [x]\n", "- a list\n", ""):
        bad.write_text(text)
        with pytest.raises(ConfigError, match="has no 'targets:' section"):
            check_env_file(bad)
    good = tmp_path / "good.yaml"
    good.write_text('targets:\n  main:\n    drivers:\n      KdumpDriver:\n'
                    '        dump_disk: !template "$LG_KDUMP_RUN/dump.img"\n')
    check_env_file(good)
    check_env_file(Path(__file__).parents[1] / "labgrid-envs" / "qemu-x86_64.yaml")


# --- the ext4 dump disk ---------------------------------------------------------------------

def _mkfs(image: Path, content: Path) -> None:
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["/sbin/mkfs.ext4", "-q", "-F", "-d", str(content), str(image)],
                   check=True, capture_output=True)


def test_disk_prepare(tmp_path: Path) -> None:
    image = tmp_path / "run" / "dump.img"
    DiskImageTransport(image, size_mb=8).prepare()
    assert image.stat().st_size == 8 << 20
    assert DiskImageTransport(image)._is_ext4()
    label = subprocess.run(["/sbin/dumpe2fs", "-h", str(image)], capture_output=True,
                           text=True).stdout
    assert "Filesystem volume name:   kdump" in label
    # an existing ext4 image is kept as it is (the crash kernel's dump is on it)
    mtime = image.stat().st_mtime_ns
    DiskImageTransport(image, size_mb=16).prepare()
    assert image.stat().st_mtime_ns == mtime and image.stat().st_size == 8 << 20
    # a file that is not ext4 is formatted
    image.write_bytes(b"garbage" * 1000)
    DiskImageTransport(image, size_mb=8).prepare()
    assert DiskImageTransport(image)._is_ext4()


def test_disk_fetch_without_vmcore(tmp_path: Path) -> None:
    image = tmp_path / "dump.img"
    DiskImageTransport(image, size_mb=8).prepare()
    with pytest.raises(VmcoreError, match=r"no vmcore on the dump disk .*\(files: none\)"):
        DiskImageTransport(image).fetch(tmp_path / "out")
    content = tmp_path / "content"
    content.mkdir()
    (content / "status").write_text("rc=1 stage=makedumpfile\n")
    (content / "dmesg.txt").write_text("[ 0.0] Linux version\n")
    _mkfs(image, content)
    with pytest.raises(VmcoreError, match=r"\(files: dmesg.txt, status\)") as exc:
        DiskImageTransport(image).fetch(tmp_path / "out")
    assert exc.value.phase == "fetch"


def test_disk_fetch_vmcore(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    data = make_kdump(PFNS)
    (content / "vmcore").write_bytes(data)
    (content / "dmesg.txt").write_text("[    4.414331] Kernel panic - not syncing: sysrq\n")
    (content / "status").write_text(f"rc=0 size={len(data)} kernel=6.1.0-test\n")
    image = tmp_path / "dump.img"
    _mkfs(image, content)
    dest = tmp_path / "artifacts" / "test1"
    dest.mkdir(parents=True)
    (dest / "vmcore").write_bytes(b"stale" * 100_000)  # an earlier run's, larger: replaced
    fetched = DiskImageTransport(image).fetch(dest)
    assert fetched.vmcore == dest / "vmcore"
    assert fetched.vmcore.read_bytes() == data
    assert fetched.dmesg == dest / "vmcore-dmesg.txt"
    assert fetched.dmesg.read_text().startswith("[    4.414331] Kernel panic")
    assert fetched.status == {"rc": "0", "size": str(len(data)), "kernel": "6.1.0-test"}
    assert fetched.expected_size == len(data)
    info = vmcore.check_vmcore(fetched.vmcore, fetched.expected_size)
    assert info.format == "kdump-compressed"


def test_disk_fetch_vmcore_without_status(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "vmcore").write_bytes(make_kdump(PFNS))
    image = tmp_path / "dump.img"
    _mkfs(image, content)
    fetched = DiskImageTransport(image).fetch(tmp_path / "out")
    assert (fetched.status, fetched.expected_size, fetched.dmesg) == ({}, None, None)


def test_unsupported_triggers_say_why(tmp_path: Path) -> None:
    """A board that cannot receive an NMI: the trigger is refused with the precise reason."""
    from pytest_kdump.console import SourceGone
    from pytest_kdump.cycle import KdumpCycle
    from pytest_kdump.transport import DiskImageTransport
    from pytest_kdump.triggers import NMI

    class SerialOnlyBoard:
        name = "serial-board"

        def read(self, timeout: float) -> bytes:
            raise SourceGone()

        def write(self, data: bytes) -> None:
            raise AssertionError("nothing is typed to check a trigger's support")

    cycle = KdumpCycle(SerialOnlyBoard(), DiskImageTransport(tmp_path / "d.img"), tmp_path)
    try:
        assert "NMI injection needs QEMU's monitor" in cycle.unsupported(NMI)
        assert cycle.unsupported(get_trigger("sysrq")) is None
    finally:
        cycle.capture.close()

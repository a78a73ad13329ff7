"""The ext4 dump-disk transport (host mkfs.ext4/debugfs, no QEMU)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pytest_kdump import vmcore
from pytest_kdump.errors import VmcoreError
from pytest_kdump.transports.disk_image import DiskImageTransport
from tests.helpers import PFNS, make_kdump


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
    dest = tmp_path / "artifacts" / 'test 1\'s "dump"'  # any folder name works
    dest.mkdir(parents=True)
    (dest / "vmcore").write_bytes(b"stale" * 100_000)  # an earlier run's, larger: replaced
    fetched = DiskImageTransport(image).fetch(dest)
    assert fetched.vmcore == dest / "vmcore"
    assert fetched.vmcore.read_bytes() == data
    assert fetched.dmesg == dest / "vmcore-dmesg.txt"
    assert fetched.dmesg.read_text().startswith("[    4.414331] Kernel panic")
    assert fetched.status == {"rc": "0", "size": str(len(data)), "kernel": "6.1.0-test"}
    assert fetched.expected_size == len(data)
    assert sorted(p.name for p in dest.iterdir()) == ["vmcore", "vmcore-dmesg.txt"]
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

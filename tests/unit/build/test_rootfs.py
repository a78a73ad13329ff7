"""The Debian guest builder's parts that run without mmdebstrap (the build itself runs in
./setup and every QEMU test of tests/qemu/test_debian.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pytest_kdump.build import image, rootfs
from pytest_kdump.cli import _image_name
from pytest_kdump.errors import ImageError

GUEST = Path(rootfs.__file__).parents[1] / "guest" / "debian"


def test_names() -> None:
    assert rootfs.is_debian("debian-x86_64") and not rootfs.is_debian("x86_64")
    assert rootfs.arch_of("debian-arm64") == rootfs.arch_of("debian-aarch64") == "aarch64"
    assert _image_name("debian-arm64") == "debian-aarch64" and _image_name("arm64") == "aarch64"
    with pytest.raises(ImageError, match="unknown architecture 'riscv64'"):
        rootfs.arch_of("debian-riscv64")


def _fake(cache: Path, arch: str, key: str) -> Path:
    folder = cache / "images" / f"debian-{arch}-6.12-test-{key}"
    folder.mkdir(parents=True)
    for name in ("disk.img", "vmlinuz", "initrd.img", "vmlinux", "id_ed25519"):
        (folder / name).write_bytes(b"x")
    rootfs.DebianImage(arch=arch, dir=folder, kernel_release="6.12-test", key=key).save()
    (cache / "images" / f"debian-{arch}-current").symlink_to(folder.name)
    return folder


def test_current_debian_is_the_complete_one_of_this_builder(tmp_path: Path) -> None:
    assert image.current_image("debian-x86_64", cache=tmp_path) is None
    folder = _fake(tmp_path, "x86_64", "abcdefgh" + rootfs._builder_hash()[:4])
    found = image.current_image("debian-x86_64", cache=tmp_path)
    assert found is not None and found.dir == folder.resolve()
    assert found.vmlinux == folder.resolve() / "vmlinux" and found.name == "debian-x86_64"
    (folder / "id_ed25519").write_bytes(b"")  # incomplete: not current
    assert image.current_image("debian-x86_64", cache=tmp_path) is None


def test_an_image_of_another_builder_is_not_current(tmp_path: Path) -> None:
    _fake(tmp_path, "aarch64", "abcdefgh" + "zzzz")
    assert rootfs.current_debian("debian-arm64", cache=tmp_path) is None


@pytest.mark.parametrize("script", ["customize.sh", "kdump-upload"])
def test_guest_scripts_parse(script: str) -> None:
    shell = "bash" if script == "kdump-upload" else "sh"
    proc = subprocess.run([shell, "-n", str(GUEST / script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_kdump_upload_without_a_target_reports_the_failure(tmp_path: Path) -> None:
    """The upload script in bash with no kdump_upload= on the command line: it says why, in
    the script saver's words, then reboots (stubbed)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("reboot", "sync"):
        (bin_dir / name).write_text("#!/bin/sh\necho \"$0 $*\" >> \"$LOG\"\n")
        (bin_dir / name).chmod(0o755)
    text = (GUEST / "kdump-upload").read_text().replace("/proc/cmdline", str(tmp_path / "cmd"))
    (tmp_path / "cmd").write_text("console=ttyS0 root=/dev/vda\n")
    (tmp_path / "up").write_text(text)
    proc = subprocess.run(["bash", str(tmp_path / "up")], capture_output=True, text=True,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "LOG": str(tmp_path / "log")},
                          timeout=30)
    from pytest_kdump.savers import by_name
    saver = by_name("script")
    failed = [p for p in saver.patterns()[len(saver.success):] if p.search(proc.stdout)]
    assert failed and "no kdump_upload=HOST:PORT" in proc.stdout, proc.stdout
    assert "reboot -f" in (tmp_path / "log").read_text()

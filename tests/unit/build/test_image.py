"""The guest image builder's fast paths: architecture errors, the arm64 kallsyms fix-up and
progress messages (the real build is exercised by the QEMU tests)."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from pytest_kdump import cli
from pytest_kdump.build import image
from pytest_kdump.errors import ImageError


def test_unknown_arch(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as info:
        image.build_image("riscv64", cache=tmp_path)
    err = info.value
    assert (err.message, err.phase) == ("unknown architecture 'riscv64'", "image")
    assert err.advice == "use one of: x86_64, aarch64"


def _elf_with(tmp_path: Path, symbols: dict[str, int]) -> Path:
    """An ELF object whose symbol table holds ``symbols`` at those offsets (made by gcc)."""
    source = tmp_path / "syms.s"
    source.write_text("".join(f".globl {n}\n.org {o:#x}\n{n}:\n" for n, o in
                              sorted(symbols.items(), key=lambda kv: kv[1])) + "nop\n")
    obj = tmp_path / "vmlinux"
    subprocess.run(["gcc", "-c", "-o", str(obj), str(source)], check=True)
    return obj


def _sysroot(tmp_path: Path, config: str) -> Path:
    (tmp_path / "sysroot" / "boot").mkdir(parents=True)
    (tmp_path / "sysroot" / "boot" / "config-6.1.0-test").write_text(config)
    (tmp_path / "tree" / "etc").mkdir(parents=True)
    return tmp_path / "sysroot"


def test_text_offset_for_a_kernel_without_kallsyms_all(tmp_path: Path) -> None:
    """Debian's 6.1 arm64 kernel: /proc/kallsyms will lack _text; the init gets _stext - _text
    from the debug vmlinux's symbols."""
    sysroot = _sysroot(tmp_path, "CONFIG_KEXEC=y\n# CONFIG_KALLSYMS_ALL is not set\n")
    vmlinux = _elf_with(tmp_path, {"_text": 0, "_stext": 0x10000})
    image._text_offset(sysroot, "6.1.0-test", vmlinux, tmp_path / "tree")
    assert (tmp_path / "tree" / "etc" / "kallsyms-text-offset").read_text() == "0x10000\n"


def test_no_text_offset_with_kallsyms_all(tmp_path: Path) -> None:
    sysroot = _sysroot(tmp_path, "CONFIG_KEXEC=y\nCONFIG_KALLSYMS_ALL=y\n")
    image._text_offset(sysroot, "6.1.0-test", tmp_path / "no-vmlinux", tmp_path / "tree")
    assert not (tmp_path / "tree" / "etc" / "kallsyms-text-offset").exists()


def test_text_offset_without_the_symbols_is_a_clear_error(tmp_path: Path) -> None:
    sysroot = _sysroot(tmp_path, "CONFIG_KEXEC=y\n")
    vmlinux = _elf_with(tmp_path, {"_stext": 0x10000})
    with pytest.raises(ImageError) as info:
        image._text_offset(sysroot, "6.1.0-test", vmlinux, tmp_path / "tree")
    assert info.value.message == ("kernel 6.1.0-test is built without CONFIG_KALLSYMS_ALL and "
                                  "its debug vmlinux gives no _text and _stext")
    assert "CONFIG_KALLSYMS_ALL=y" in info.value.advice and info.value.phase == "image"


def test_prune_logs_what_it_removes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for name in ("x86_64-6.1.0-1-amd64-aaa", "x86_64-6.1.0-2-amd64-bbb", "aarch64-6.1.0-1-x"):
        (tmp_path / name).mkdir()
    (tmp_path / "x86_64-current").symlink_to("x86_64-6.1.0-2-amd64-bbb")
    with caplog.at_level(logging.INFO, logger="pytest_kdump"):
        image._prune(tmp_path, "x86_64", keep=tmp_path / "x86_64-6.1.0-2-amd64-bbb")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "aarch64-6.1.0-1-x", "x86_64-6.1.0-2-amd64-bbb", "x86_64-current"]
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("pytest_kdump.build.image", "INFO", "removed the older image x86_64-6.1.0-1-amd64-aaa")]


def test_cli_error_path_unchanged(capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise ImageError("no kernel package", phase="image", advice="try another")

    monkeypatch.setattr(image, "build_image", fail)
    logger = logging.getLogger("pytest_kdump")
    handlers, level = list(logger.handlers), logger.level
    try:
        assert cli.main(["image", "build", "--arch", "aarch64"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("pytest-kdump: error: [phase image] no kernel package\n")
        logger.info("a progress line")
        assert capsys.readouterr().err == "pytest-kdump: a progress line\n"
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(level)


def test_an_image_of_another_builder_is_not_current(tmp_path: Path) -> None:
    """An image made with another guest init (an older pytest-kdump) is rebuilt, not used."""
    folder = tmp_path / "images" / "x86_64-6.1.0-test-abc"
    folder.mkdir(parents=True)
    for name in ("vmlinuz", "initrd.img", "vmlinux"):
        (folder / name).write_bytes(b"x")
    (tmp_path / "images" / "x86_64-current").symlink_to(folder.name)
    old = image.GuestImage("x86_64", folder, "6.1.0-test", "abc", builder="an older one")
    old.save()
    assert image.current_image("x86_64", cache=tmp_path) is None
    image.GuestImage("x86_64", folder, "6.1.0-test", "abc", builder=image._builder_hash()).save()
    assert image.current_image("x86_64", cache=tmp_path).kernel_release == "6.1.0-test"


def test_kernel_without_crash_dump_is_refused(tmp_path: Path) -> None:
    """A kernel that cannot be a crash kernel (no CONFIG_CRASH_DUMP, as BeagleBoard's stock
    config) is refused when the image is built, naming what kdump needs."""
    config = tmp_path / "config-6.1.0-test"
    config.write_text("CONFIG_KEXEC=y\n# CONFIG_CRASH_DUMP is not set\nCONFIG_PROC_VMCORE=y\n"
                      "CONFIG_BLK_DEV_INITRD=y\nCONFIG_MAGIC_SYSRQ=y\n")
    with pytest.raises(ImageError) as info:
        image._check_config(config, "linux-image-6.1.0-test")
    assert info.value.message == "kernel linux-image-6.1.0-test lacks CONFIG_CRASH_DUMP"
    assert "CONFIG_CRASH_DUMP" in info.value.advice and info.value.phase == "image"
    config.write_text(config.read_text().replace("# CONFIG_CRASH_DUMP is not set",
                                                 "CONFIG_CRASH_DUMP=y"))
    image._check_config(config, "linux-image-6.1.0-test")  # complete: no error


def test_image_info_names_the_crash_of_each_architecture(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PYTEST_KDUMP_CACHE", str(tmp_path))  # an empty cache
    assert cli.main(["image", "info"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == ["no image built yet: run 'pytest-kdump image build'",
                       "crash for x86_64 dumps: not installed (setup-crash --arch x86_64)",
                       "crash for aarch64 dumps: not installed (setup-crash --arch aarch64)"]

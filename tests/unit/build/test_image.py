"""The guest image builder's fast paths: architecture errors and progress messages (the real
build is exercised by the QEMU tests)."""

from __future__ import annotations

import logging
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


def test_arm64_images_not_yet(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="aarch64 guest images are not supported yet"):
        image.build_image("aarch64", cache=tmp_path)
    assert not list(tmp_path.iterdir())


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


def test_cli_error_path_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("pytest_kdump")
    handlers, level = list(logger.handlers), logger.level
    try:
        assert cli.main(["image", "build", "--arch", "aarch64"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("pytest-kdump: error: [phase image] aarch64 guest images are not "
                              "supported yet")
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

"""The architecture table."""

from __future__ import annotations

import dataclasses
import os

import pytest

from pytest_kdump import arch
from pytest_kdump.arch import ARCHES, Arch, from_deb_arch, get_arch, host_arch
from pytest_kdump.build import debian
from pytest_kdump.errors import ConfigError, ImageError


def test_table() -> None:
    assert list(ARCHES) == ["x86_64", "aarch64"]
    x86, arm = ARCHES["x86_64"], ARCHES["aarch64"]
    assert (x86.kernel_arch, x86.deb_arch, x86.cross_prefix, x86.cross_gcc_package) == (
        "x86", "amd64", "x86_64-linux-gnu-", "gcc-x86-64-linux-gnu")
    assert (arm.kernel_arch, arm.deb_arch, arm.cross_prefix, arm.cross_gcc_package) == (
        "arm64", "arm64", "aarch64-linux-gnu-", "gcc-aarch64-linux-gnu")
    assert (x86.multiarch, x86.loader) == ("x86_64-linux-gnu", "ld-linux-x86-64.so.2")
    assert (arm.multiarch, arm.loader) == ("aarch64-linux-gnu", "ld-linux-aarch64.so.1")
    assert (x86.readelf_machine, arm.readelf_machine) == ("Advanced Micro Devices X86-64",
                                                          "AArch64")
    assert (x86.kconfig, arm.kconfig) == ("CONFIG_X86_64", "CONFIG_ARM64")
    assert (x86.kernel_meta, x86.qemu, x86.console) == (
        "linux-image-cloud-amd64", "qemu-system-x86_64", "ttyS0")
    assert (arm.kernel_meta, arm.qemu, arm.console) == (
        "linux-image-arm64", "qemu-system-aarch64", "ttyAMA0")
    for name, spec in ARCHES.items():
        assert spec.name == name == str(spec)
        assert all(isinstance(v, str) and v for v in dataclasses.astuple(spec)), name
    with pytest.raises(dataclasses.FrozenInstanceError):
        x86.name = "i386"  # type: ignore[misc]


def test_get_arch() -> None:
    assert get_arch("aarch64") is ARCHES["aarch64"]
    assert get_arch("arm64") is ARCHES["aarch64"]  # Debian's names work too
    assert get_arch("amd64") is ARCHES["x86_64"]
    with pytest.raises(ConfigError) as info:
        get_arch("arm")
    assert info.value.message == "unknown architecture 'arm'"
    assert info.value.advice == "use one of: x86_64, aarch64" and info.value.phase is None


def test_get_arch_raises_the_callers_error() -> None:
    with pytest.raises(ImageError) as info:
        get_arch("riscv64", error=ImageError, phase="module", doing="build the crash module")
    assert info.value.message == "cannot build the crash module for architecture 'riscv64'"
    assert info.value.phase == "module"


def test_from_deb_arch() -> None:
    assert from_deb_arch("amd64") is ARCHES["x86_64"]
    assert from_deb_arch("arm64") is ARCHES["aarch64"]
    assert from_deb_arch("x86_64") is None and from_deb_arch("riscv64") is None


@pytest.mark.parametrize("machine, expected", [("x86_64", "x86_64"), ("aarch64", "aarch64"),
                                               ("riscv64", None)])
def test_host_arch(monkeypatch: pytest.MonkeyPatch, machine: str, expected: str | None) -> None:
    uname = os.uname()
    fake = os.uname_result((*uname[:4], machine))
    monkeypatch.setattr(arch.os, "uname", lambda: fake)
    got = host_arch()
    assert (got.name if got else None) == expected


@pytest.mark.parametrize("machine, expected", [("x86_64", "amd64"), ("aarch64", "arm64"),
                                               ("riscv64", "riscv64")])
def test_host_deb_arch_without_dpkg(monkeypatch: pytest.MonkeyPatch, machine: str,
                                    expected: str) -> None:
    def no_dpkg(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("dpkg")

    fake = os.uname_result((*os.uname()[:4], machine))
    monkeypatch.setattr(os, "uname", lambda: fake)
    monkeypatch.setattr(debian.subprocess, "run", no_dpkg)
    assert debian.host_deb_arch() == expected


def test_host_arch_agrees_with_dpkg() -> None:
    spec = host_arch()
    if spec is None:
        pytest.skip(f"{os.uname().machine} is not in the table")
    assert isinstance(spec, Arch) and debian.host_deb_arch() == spec.deb_arch

"""The architectures pytest-kdump knows: one table for the image builder, the crash module's
build, the cached crash and the Debian helpers.

An architecture is named as ``uname -m`` names it (``x86_64``, ``aarch64``); :func:`get_arch`
looks one up and fails clearly for any other name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pytest_kdump.errors import ConfigError, KdumpError


@dataclass(frozen=True)
class Arch:
    """What differs between architectures.

    ``name``: ``uname -m`` (``x86_64``); ``kernel_arch``: the kernel's ``ARCH=`` (``x86``);
    ``kconfig``: the kernel config option set only for it (``CONFIG_X86_64``); ``deb_arch``:
    Debian's name (``amd64``); ``multiarch``: Debian's multiarch triplet, the library folder
    (``x86_64-linux-gnu``); ``cross_gcc_package``: the Debian package of the cross compiler;
    ``readelf_machine``: ``readelf -h``'s ``Machine:`` for its ELF files; ``loader``: the file
    name of glibc's dynamic loader; ``kernel_meta``: the Debian kernel package the guest image
    uses by default; ``qemu``: the QEMU system emulator; ``console``: the guest's serial tty.
    """

    name: str
    kernel_arch: str
    kconfig: str
    deb_arch: str
    multiarch: str
    cross_gcc_package: str
    readelf_machine: str
    loader: str
    kernel_meta: str
    qemu: str
    console: str

    @property
    def cross_prefix(self) -> str:
        """The Debian cross toolchain's prefix (``x86_64-linux-gnu-``)."""
        return f"{self.multiarch}-"

    def __str__(self) -> str:
        return self.name


ARCHES: dict[str, Arch] = {
    "x86_64": Arch(
        name="x86_64", kernel_arch="x86", kconfig="CONFIG_X86_64", deb_arch="amd64",
        multiarch="x86_64-linux-gnu", cross_gcc_package="gcc-x86-64-linux-gnu",
        readelf_machine="Advanced Micro Devices X86-64", loader="ld-linux-x86-64.so.2",
        kernel_meta="linux-image-cloud-amd64", qemu="qemu-system-x86_64", console="ttyS0"),
    "aarch64": Arch(
        name="aarch64", kernel_arch="arm64", kconfig="CONFIG_ARM64", deb_arch="arm64",
        multiarch="aarch64-linux-gnu", cross_gcc_package="gcc-aarch64-linux-gnu",
        readelf_machine="AArch64", loader="ld-linux-aarch64.so.1",
        kernel_meta="linux-image-arm64", qemu="qemu-system-aarch64", console="ttyAMA0"),
}
"""The known architectures by ``uname -m`` name."""


ALIASES = {a.deb_arch: a.name for a in ARCHES.values()} | {"arm64": "aarch64"}
"""Other names of the architectures: Debian's (``amd64``, ``arm64``)."""


def get_arch(name: str, *, error: type[KdumpError] = ConfigError, phase: str | None = None,
             doing: str | None = None) -> Arch:
    """The architecture called ``name`` (or one of its :data:`ALIASES`); an unknown one raises
    ``error`` (a ConfigError by default) with ``phase``, saying what could not be done
    (``doing``) and which names work."""
    try:
        return ARCHES[name] if name in ARCHES else ARCHES[ALIASES[name]]
    except KeyError:
        message = (f"cannot {doing} for architecture {name!r}" if doing
                   else f"unknown architecture {name!r}")
        raise error(message, phase=phase, advice=f"use one of: {', '.join(ARCHES)}") from None


def from_deb_arch(deb_arch: str) -> Arch | None:
    """The architecture Debian calls ``deb_arch`` (``amd64``), or None if it is not known."""
    return next((a for a in ARCHES.values() if a.deb_arch == deb_arch), None)


def host_arch() -> Arch | None:
    """The host's architecture (``uname -m``), or None if it is not known."""
    return ARCHES.get(os.uname().machine)

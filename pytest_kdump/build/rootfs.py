"""The Debian guest: a real board's stand-in, built from Debian packages with ``mmdebstrap``.

Unlike the busybox guest (:mod:`.image`), nothing of pytest-kdump runs on it: systemd, Debian's
kernel, ``kdump-tools`` (which loads the crash kernel at boot and saves the dump to
``/var/crash``), ``openssh-server``, a root password for the serial log-in. An image is a
folder in the cache holding:

- ``disk.img``: the root file system (raw ext4, sparse; QEMU opens it with ``snapshot=on``,
  so every power-on starts from the same disk and a reboot keeps what was written);
- ``vmlinuz``, ``initrd.img``: the disk's own kernel and initrd, for QEMU's ``-kernel``;
- ``vmlinux``: the debug vmlinux, for crash and drgn;
- ``id_ed25519``: the key root accepts over SSH;
- ``manifest.json``.

Named ``debian-<arch>`` (``debian-x86_64``, ``debian-aarch64``) wherever a guest image is
named. Another architecture than the host's runs the packages' scripts under qemu-user
(binfmt_misc), which the builder turns on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pytest_kdump import reaper
from pytest_kdump.arch import get_arch
from pytest_kdump.build import debian
from pytest_kdump.build.manifest import Manifest
from pytest_kdump.cachedir import cache_dir, locked, point
from pytest_kdump.errors import ImageError, ToolError

logger = logging.getLogger(__name__)

PREFIX = "debian-"
"""Image names starting with this are Debian guests (``debian-x86_64``)."""
SUITE = "trixie"
BUILDER_VERSION = 1
HOOK = Path(__file__).parents[1] / "guest" / "debian" / "customize.sh"
# What a board owner installs for kdump the distribution's way, and what a test needs.
PACKAGES = ("systemd-sysv", "udev", "dbus", "login", "procps", "iproute2", "kmod",
            "kdump-tools", "kexec-tools", "makedumpfile", "openssh-server", "netcat-openbsd",
            "e2fsprogs", "zstd")
DISK_SIZE = "4G"
BUILD_TIMEOUT = 2400.0
"""Seconds the whole root file system build may take (arm64 under qemu-user: ~10 min)."""
PROGRESS_EVERY = 30.0
ROOT_PASSWORD = "kdump"
"""root's password on the serial console (a throw-away test guest; SSH takes the key only)."""


@dataclass
class DebianImage(Manifest):
    """A built Debian guest; paths are absolute."""

    arch: str
    dir: Path
    kernel_release: str
    key: str
    suite: str = SUITE
    packages: dict[str, str] = field(default_factory=dict)
    built_at: str = ""
    build_seconds: float = 0.0

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.arch}"

    @property
    def disk(self) -> Path:
        return self.dir / "disk.img"

    @property
    def kernel(self) -> Path:
        return self.dir / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.dir / "initrd.img"

    @property
    def vmlinux(self) -> Path:
        return self.dir / "vmlinux"

    @property
    def ssh_key(self) -> Path:
        return self.dir / "id_ed25519"

    def complete(self) -> bool:
        return self.complete_files(self.disk, self.kernel, self.initrd, self.vmlinux, self.ssh_key)

    def __str__(self) -> str:
        return f"Debian {self.suite} {self.arch} guest, kernel {self.kernel_release}, in {self.dir}"


def is_debian(name: str) -> bool:
    return name.startswith(PREFIX)


def arch_of(name: str) -> str:
    """``debian-arm64`` → ``aarch64`` (any architecture alias is accepted)."""
    return get_arch(name.removeprefix(PREFIX), error=ImageError, phase="image").name


def current_debian(name: str, cache: Path | None = None) -> DebianImage | None:
    """The Debian guest last built for ``name``'s architecture, if complete."""
    link = (cache or cache_dir()) / "images" / f"{PREFIX}{arch_of(name)}-current"
    if not (link / "manifest.json").is_file():
        return None
    image = DebianImage.load(link.resolve())
    return image if image.complete() and image.key.endswith(_builder_hash()[:4]) else None


def _builder_hash() -> str:
    """The builder's inputs: its version, suite, packages and every file it installs."""
    text = f"{BUILDER_VERSION}\n{SUITE}\n{' '.join(PACKAGES)}\n" + "".join(
        f"{p.name}\n{p.read_text()}" for p in sorted(HOOK.parent.iterdir()) if p.is_file())
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _check_host(arch: str) -> None:
    for tool in ("mmdebstrap", "mkfs.ext4", "ssh-keygen", "dpkg-deb"):
        if shutil.which(tool) is None and not Path("/sbin", tool).exists():
            raise ToolError(f"host tool {tool!r} not found", phase="image",
                            advice="run the set-up script (installs mmdebstrap, e2fsprogs, "
                                   "openssh-client)")
    if os.geteuid() != 0:
        raise ToolError("building the Debian guest needs root (mmdebstrap's root mode: the "
                        "packages' scripts run in a chroot)", phase="image",
                        advice="run 'sudo pytest-kdump image build --arch debian-x86_64'")
    if arch != get_arch(os.uname().machine).name:
        _enable_binfmt(arch)


def _enable_binfmt(arch: str) -> None:
    """Let this host run ``arch``'s programs under qemu-user (the packages' scripts)."""
    misc = Path("/proc/sys/fs/binfmt_misc")
    if not (misc / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(misc)],
                       capture_output=True, timeout=30)
    name = f"qemu-{arch}"
    if not (misc / name).exists() and shutil.which("update-binfmts"):
        subprocess.run(["update-binfmts", "--enable", name], capture_output=True, timeout=30)
    if not (misc / name).exists():
        raise ToolError(f"this host cannot run {arch} programs (no binfmt_misc entry {name})",
                        phase="image",
                        advice="install qemu-user-static and binfmt-support (the set-up script "
                               f"does), then 'update-binfmts --enable {name}'")


def build_debian(name: str = "debian-x86_64", *, force: bool = False,
                 cache: Path | None = None) -> DebianImage:
    """Build (or find in the cache) the Debian guest ``name`` (``debian-<arch>``)."""
    spec = get_arch(name.removeprefix(PREFIX), error=ImageError, phase="image")
    _check_host(spec.name)
    cache = cache or cache_dir()
    started = time.monotonic()
    apt = debian.Apt(cache, suite=SUITE, arch=spec.deb_arch)
    kernel_pkg = _kernel_package(apt, spec.kernel_meta)
    pkgs = apt.resolve([kernel_pkg, f"{kernel_pkg}-dbg", "kdump-tools", "makedumpfile",
                        "kexec-tools", "systemd"])
    versions = {n: p.version for n, p in sorted(pkgs.items())}
    key = hashlib.sha256(json.dumps(versions).encode()).hexdigest()[:8] + _builder_hash()[:4]
    release = kernel_pkg.removeprefix("linux-image-")
    images = cache / "images"
    final = images / f"{PREFIX}{spec.name}-{release}-{key}"
    link = images / f"{PREFIX}{spec.name}-current"
    with locked(images, timeout=BUILD_TIMEOUT + 1200):  # another worker's build: wait it out
        if not force and (final / "manifest.json").is_file():
            image = DebianImage.load(final)
            if image.complete():
                point(link, final.name)
                return image
        dbg = apt.download([pkgs[f"{kernel_pkg}-dbg"]], cache / "debs")[0]
        stage = final.with_name(final.name + ".partial")
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pytest-kdump",
              "-f", str(stage / "id_ed25519")], 60, "ssh-keygen")
        with tempfile.TemporaryDirectory(prefix="pytest-kdump-rootfs-",
                                         dir=images) as tmp:
            root = Path(tmp) / "root"
            try:  # the log outlives the build folder: a failure names it
                _mmdebstrap(spec.deb_arch, kernel_pkg, root, stage,
                            images / f"{PREFIX}{spec.name}-build.log")
            finally:  # a killed mmdebstrap leaves /proc, /sys, /dev/pts mounted in the chroot
                _unmount_under(root)
            boot = root / "boot"
            shutil.copy2(boot / f"vmlinuz-{release}", stage / "vmlinuz")
            shutil.copy2(boot / f"initrd.img-{release}", stage / "initrd.img")
            logger.info("making the root file system's disk (%s, ext4, sparse)", DISK_SIZE)
            _run(["mkfs.ext4", "-q", "-F", "-L", "kdump-root", "-d", str(root),
                  str(stage / "disk.img"), DISK_SIZE], 600, "mkfs.ext4")
            logger.info("extracting the debug vmlinux from %s", dbg.name)
            member = f"./usr/lib/debug/boot/vmlinux-{release}"
            debian.extract(dbg, Path(tmp) / "dbg", [member])
            (Path(tmp) / "dbg" / member).replace(stage / "vmlinux")
        shutil.rmtree(final, ignore_errors=True)
        stage.rename(final)  # complete images only: a failed build leaves *.partial
        image = DebianImage(arch=spec.name, dir=final.resolve(), kernel_release=release,
                            key=key, packages=versions,
                            built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                            build_seconds=round(time.monotonic() - started, 1))
        image.save()
        point(link, final.name)
        for old in images.glob(f"{PREFIX}{spec.name}-*"):
            if old.is_dir() and not old.is_symlink() and old != final:
                shutil.rmtree(old, ignore_errors=True)
        logger.info("Debian guest built in %s s: %s", image.build_seconds, image)
        return image


def _unmount_under(root: Path) -> None:
    """Unmount whatever is still mounted under ``root`` (deepest first), so that removing the
    build folder never walks into a mounted /proc, /sys or /dev."""
    prefix = str(root.resolve()) + "/"
    try:
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    except OSError:
        return
    for where in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", where], capture_output=True, timeout=30)


def _kernel_package(apt: debian.Apt, meta: str) -> str:
    for dep in apt.depends(meta):
        if dep.startswith("linux-image-") and dep[12:13].isdigit():
            return dep
    raise ImageError(f"{meta} depends on no kernel package in Debian {SUITE}", phase="image")


def _mmdebstrap(deb_arch: str, kernel_pkg: str, root: Path, image_dir: Path, log: Path) -> None:
    mirrors = debian.system_debian_uris()
    if not mirrors:
        raise ToolError("no Debian archive found in the host's apt sources", phase="image",
                        advice="add a Debian mirror to /etc/apt/sources.list")
    argv = ["mmdebstrap", "--variant=apt", "--mode=root", f"--arch={deb_arch}",
            f"--include={','.join((*PACKAGES, kernel_pkg))}",
            # mmdebstrap runs the hook with sh -c: the paths quoted
            f"--customize-hook=sh {shlex.quote(str(HOOK))} \"$1\" "
            f"{shlex.quote(str(image_dir))}",
            SUITE, str(root), mirrors[0]]
    logger.info("building the Debian %s %s root file system with mmdebstrap (log: %s)",
                SUITE, deb_arch, log)
    _run(argv, BUILD_TIMEOUT, "mmdebstrap", log=log)


def _run(argv: list[str], timeout: float, what: str, log: Path | None = None) -> None:
    """Run ``argv`` in its own process group with a clean environment, at most ``timeout``
    seconds, logging progress; a failure is a ToolError with the log's end."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8",
           "HOME": "/root", "TMPDIR": os.environ.get("TMPDIR", "/tmp")}
    if log is None:
        fd, name = tempfile.mkstemp(prefix=f"pytest-kdump-{what}-", suffix=".log")
        os.close(fd)
        log = Path(name)
    started = time.monotonic()
    with open(log, "wb") as out, reaper.own_group(argv, name=what, stdin=subprocess.DEVNULL,
                                                  stdout=out, stderr=subprocess.STDOUT,
                                                  env=env) as proc:
        while True:
            left = started + timeout - time.monotonic()
            if left <= 0:
                raise ToolError(f"{what} did not finish within {timeout:g} s (killed); "
                                f"log: {log}", phase="image",
                                advice="check the host's load, free space and network")
            try:
                rc = proc.wait(timeout=min(PROGRESS_EVERY, left))
                break
            except subprocess.TimeoutExpired:
                logger.info("%s: %.0f s, %s", what, time.monotonic() - started, _last_line(log))
    if rc != 0:
        raise ToolError(f"{what} failed (exit {rc}): {_last_line(log)}; log: {log}",
                        phase="image", advice=f"read {log}; a download error means the "
                                              "Debian mirror is unreachable; 'install "
                                              "arch-test' or binfmt: the set-up script "
                                              "installs what another architecture needs")


def _last_line(log: Path) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 2048))
            lines = [x for x in f.read().decode(errors="replace").splitlines() if x.strip()]
    except OSError:
        return ""
    return lines[-1].strip()[:200] if lines else ""

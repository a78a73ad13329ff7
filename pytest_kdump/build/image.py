"""The guest image builder: a kdump-capable QEMU guest made from Debian packages.

An image is a folder in the cache holding:

- ``vmlinuz``: the production kernel (also used as crash kernel);
- ``initrd.img``: busybox, kexec-tools, makedumpfile, their libraries, the modules needed to
  reach the dump disk, our ``init`` and, inside it, ``/boot/vmlinuz`` and
  ``/boot/initrd-crash.img`` for ``kexec -p``;
- ``vmlinux``: the debug vmlinux, for crash and drgn;
- ``manifest.json``: package versions, kernel release, build key.

The folder name holds a key made of every package version and the builder's own source, so an
unchanged second build costs a few apt-cache look-ups; ``force`` rebuilds.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pytest_kdump.arch import Arch, get_arch
from pytest_kdump.build import debian, rootfs
from pytest_kdump.build.cpio import NewcWriter
from pytest_kdump.build.manifest import Manifest
from pytest_kdump.cachedir import cache_dir, locked, point
from pytest_kdump.errors import ImageError, ToolError

logger = logging.getLogger(__name__)

# Bump when the builder's output changes (the guest init's text is hashed on its own).
BUILDER_VERSION = 2
GUEST_DIR = Path(__file__).parents[1] / "guest"
REQUIRED_CONFIG = ("CONFIG_KEXEC", "CONFIG_CRASH_DUMP", "CONFIG_PROC_VMCORE",
                   "CONFIG_BLK_DEV_INITRD", "CONFIG_MAGIC_SYSRQ")
# Modules the init loads (in dependency order) to reach the dump disk, when not built in.
DUMP_MODULES = ("virtio_pci", "virtio_blk", "ext4")


@dataclass
class GuestImage(Manifest):
    """A built guest image; paths are absolute."""

    arch: str
    dir: Path
    kernel_release: str
    key: str
    packages: dict[str, str] = field(default_factory=dict)
    built_at: str = ""
    build_seconds: float = 0.0
    builder: str = ""  # hash of the builder (its version and guest/init.sh) that made it

    @property
    def kernel(self) -> Path:
        return self.dir / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.dir / "initrd.img"

    @property
    def vmlinux(self) -> Path:
        return self.dir / "vmlinux"

    def complete(self) -> bool:
        return self.complete_files(self.kernel, self.initrd, self.vmlinux)

    def __str__(self) -> str:
        return f"{self.arch} guest, kernel {self.kernel_release}, in {self.dir}"


def current_image(arch: str = "x86_64", cache: Path | None = None
                  ) -> GuestImage | rootfs.DebianImage | None:
    """The image last built for ``arch``, if it is complete and made by this builder (an
    image made by an older pytest-kdump, e.g. with another guest init, is not current).
    ``debian-<arch>`` names the Debian guest (:mod:`.rootfs`)."""
    if rootfs.is_debian(arch):
        return rootfs.current_debian(arch, cache)
    link = (cache or cache_dir()) / "images" / f"{arch}-current"
    if not (link / "manifest.json").is_file():
        return None
    image = GuestImage.load(link.resolve())
    return image if image.complete() and image.builder == _builder_hash() else None


def _builder_hash() -> str:
    h = hashlib.sha256(str(BUILDER_VERSION).encode())
    h.update((GUEST_DIR / "init.sh").read_bytes())
    return h.hexdigest()


def build_image(arch: str = "x86_64", *, force: bool = False, cache: Path | None = None,
                kernel_package: str | None = None) -> GuestImage:
    """Build (or find in the cache) the guest image for ``arch``.

    ``kernel_package`` picks another Debian kernel package than the architecture's default
    (``linux-image-cloud-amd64``'s current kernel on x86_64). ``debian-<arch>`` builds the
    Debian guest (:mod:`.rootfs`).
    """
    if rootfs.is_debian(arch):
        return rootfs.build_debian(arch, force=force, cache=cache)  # type: ignore[return-value]
    spec = get_arch(arch, error=ImageError, phase="image")
    for tool in ("apt-cache", "apt-get", "dpkg-deb", "depmod", "modprobe", "readelf", "tar"):
        if shutil.which(tool) is None and not Path("/sbin", tool).exists():
            raise ToolError(f"host tool {tool!r} not found", phase="image",
                            advice="run the set-up script (installs kmod, binutils, dpkg tools)")
    cache = cache or cache_dir()
    apt = debian.Apt(cache, arch=spec.deb_arch)
    started = time.monotonic()

    kernel_pkg = _kernel_package(apt, kernel_package or spec.kernel_meta)
    roots = ["busybox-static", "kexec-tools", "makedumpfile"]
    names = [kernel_pkg, f"{kernel_pkg}-dbg", *apt.library_closure(roots)]
    pkgs = apt.resolve(names)
    versions = {n: p.version for n, p in sorted(pkgs.items())}
    key = hashlib.sha256(json.dumps([versions, _builder_hash()]).encode()).hexdigest()[:12]
    release = kernel_pkg.removeprefix("linux-image-")
    image_dir = cache / "images" / f"{arch}-{release}-{key}"
    link = cache / "images" / f"{arch}-current"
    if not force and (image_dir / "manifest.json").is_file():
        image = GuestImage.load(image_dir)
        if image.complete():
            if not image.builder:  # made before manifests named their builder: the key does
                image.builder = _builder_hash()
                image.save()
            point(link, image_dir.name)
            logger.info("image up to date: %s", image)
            return image

    with locked(cache / "images"):  # concurrent builders (xdist workers) wait for each other
        if not force and (image_dir / "manifest.json").is_file():
            image = GuestImage.load(image_dir)
            if image.complete():  # built by whoever held the lock
                point(link, image_dir.name)
                return image
        debs = dict(zip(names, apt.download([pkgs[n] for n in names], cache / "debs"), strict=True))
        final_dir, image_dir = image_dir, image_dir.with_name(image_dir.name + ".partial")
        shutil.rmtree(image_dir, ignore_errors=True)
        image_dir.mkdir(parents=True)
        with tempfile.TemporaryDirectory(prefix="pytest-kdump-image-") as tmp:
            stage = Path(tmp)
            logger.info("unpacking packages")
            for name in names:
                if name != f"{kernel_pkg}-dbg":
                    debian.extract(debs[name], stage / "sysroot")
            release = _kernel_release(stage / "sysroot")
            _check_config(stage / "sysroot" / "boot" / f"config-{release}", kernel_pkg)
            tree = stage / "tree"
            _populate_tree(tree, stage / "sysroot", spec, release)
            _extract_vmlinux(debs[f"{kernel_pkg}-dbg"], release, image_dir, stage)
            _text_offset(stage / "sysroot", release, image_dir / "vmlinux", tree)
            crash_initrd = _cpio(tree, level=6)
            shutil.copy2(stage / "sysroot" / "boot" / f"vmlinuz-{release}", image_dir / "vmlinuz")
            boot = tree / "boot"
            boot.mkdir()
            shutil.copy2(image_dir / "vmlinuz", boot / "vmlinuz")
            (boot / "initrd-crash.img").write_bytes(crash_initrd)
            (image_dir / "initrd.img").write_bytes(_cpio(tree, level=1))
            logger.info("initramfs: crash %d KiB, production %d KiB", len(crash_initrd) >> 10,
                        (image_dir / "initrd.img").stat().st_size >> 10)
        shutil.rmtree(final_dir, ignore_errors=True)
        image_dir.rename(final_dir)  # complete images only: a failed build leaves *.partial
        image_dir = final_dir
        image = GuestImage(arch=arch, dir=image_dir.resolve(), kernel_release=release, key=key,
                           packages=versions, built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                           build_seconds=round(time.monotonic() - started, 1),
                           builder=_builder_hash())
        image.save()
        point(link, image_dir.name)
        logger.info("image built in %s s: %s", image.build_seconds, image)
        _prune(cache / "images", arch, keep=image_dir)
        return image


def _prune(root: Path, arch: str, keep: Path) -> None:
    """Remove the other images of ``arch`` (600 MB each, mostly the vmlinux)."""
    for old in root.glob(f"{arch}-*"):
        if old.is_symlink() or old.resolve() == keep.resolve() or not old.is_dir():
            continue
        shutil.rmtree(old, ignore_errors=True)
        logger.info("removed the older image %s", old.name)


def _kernel_package(apt: debian.Apt, name: str) -> str:
    """A concrete kernel package: a metapackage is resolved to the kernel it depends on."""
    if re.match(r"linux-image-\d", name):
        return name
    for dep in apt.depends(name):
        if re.match(r"linux-image-\d", dep):
            return dep
    raise ImageError(f"{name} does not name a Debian kernel package", phase="image",
                     advice="give a package such as linux-image-cloud-amd64 or "
                            "linux-image-6.1.0-56-amd64")


def _kernel_release(sysroot: Path) -> str:
    found = sorted((sysroot / "boot").glob("vmlinuz-*"))
    if not found:
        raise ImageError("the kernel package has no /boot/vmlinuz-*", phase="image")
    return found[0].name.removeprefix("vmlinuz-")


def _check_config(config: Path, pkg: str) -> None:
    if not config.is_file():
        return
    text = config.read_text()
    missing = [opt for opt in REQUIRED_CONFIG if f"\n{opt}=y" not in f"\n{text}"]
    if missing:
        raise ImageError(f"kernel {pkg} lacks {', '.join(missing)}", phase="image",
                         advice=f"kdump needs {', '.join(REQUIRED_CONFIG)} built in (=y): "
                                "use another kernel")


def _populate_tree(tree: Path, sysroot: Path, spec: Arch, release: str) -> None:
    """The crash initramfs: init, busybox, kexec, makedumpfile, their libraries, modules."""
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "lib", "etc", "proc", "sys", "tmp",
              "dump", "root"):
        (tree / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(GUEST_DIR / "init.sh", tree / "init")
    (tree / "init").chmod(0o755)
    shutil.copy2(_find_program(sysroot, "busybox"), tree / "bin" / "busybox")
    (tree / "bin" / "sh").symlink_to("busybox")
    binaries = []
    for name in ("kexec", "makedumpfile"):
        src = _find_program(sysroot, name)
        shutil.copy2(src, tree / "sbin" / name)
        binaries.append(src)
    _copy_libraries(tree, sysroot, spec, binaries)
    _copy_modules(tree, sysroot, release)


def _text_offset(sysroot: Path, release: str, vmlinux: Path, tree: Path) -> None:
    """For a kernel whose /proc/kallsyms will lack ``_text`` (built without
    ``CONFIG_KALLSYMS_ALL``, like Debian's 6.1 arm64), store ``_stext - _text`` from its debug
    vmlinux in ``/etc/kallsyms-text-offset``: the init adds ``_text`` for kexec-tools, which
    needs it to describe the kernel in the dump header (without it makedumpfile fails: "Can't
    get the address of system_utsname")."""
    config = sysroot / "boot" / f"config-{release}"
    if not config.is_file() or "\nCONFIG_KALLSYMS_ALL=y" in f"\n{config.read_text()}":
        return
    symbols = _readelf(vmlinux, "-sW")
    found = {name: int(addr, 16) for addr, name in
             re.findall(r"^\s*\d+: ([0-9a-f]+)\s.*\s(_s?text)$", symbols, re.M)}
    if set(found) != {"_text", "_stext"}:
        raise ImageError(f"kernel {release} is built without CONFIG_KALLSYMS_ALL and its debug "
                         "vmlinux gives no _text and _stext", phase="image",
                         advice="use a kernel built with CONFIG_KALLSYMS_ALL=y: kexec-tools "
                                "needs _text in /proc/kallsyms")
    offset = found["_stext"] - found["_text"]
    (tree / "etc" / "kallsyms-text-offset").write_text(f"{offset:#x}\n")
    logger.info("kernel without CONFIG_KALLSYMS_ALL: the init adds _text = _stext - %#x "
                "to /proc/kallsyms for kexec", offset)


def _find_program(sysroot: Path, name: str) -> Path:
    """``name`` in the unpacked packages (``/usr/bin`` in merged-/usr releases)."""
    src = next((sysroot / d / name for d in ("sbin", "usr/sbin", "bin", "usr/bin")
                if (sysroot / d / name).is_file()), None)
    if src is None:
        raise ImageError(f"{name} missing from its package", phase="image",
                         advice="report this: the package's layout is not the expected one")
    return src


READELF_TIMEOUT = 120.0
"""Seconds readelf may take (the symbol table of the 300-600 MB debug vmlinux: ~2 s)."""


def _readelf(path: Path, flag: str) -> str:
    try:
        return subprocess.run(["readelf", flag, str(path)], capture_output=True, text=True,
                              timeout=READELF_TIMEOUT).stdout
    except subprocess.TimeoutExpired:
        raise ImageError(f"readelf {flag} {path} did not finish within {READELF_TIMEOUT:g} s",
                         phase="image", advice="check the host's load and disk, then build "
                                               "again") from None


def _copy_libraries(tree: Path, sysroot: Path, spec: Arch, binaries: list[Path]) -> None:
    dirs = [sysroot / d for d in (f"lib/{spec.multiarch}", f"usr/lib/{spec.multiarch}", "lib",
                                  "usr/lib", "lib64")]
    interp = re.search(r"interpreter: (\S+?)\]", _readelf(binaries[0], "-l"))
    if interp:
        loader = interp.group(1).lstrip("/")
        name = Path(loader).name
        found = next((d / name for d in dirs if (d / name).exists()), None)
        if found is None:
            raise ImageError(f"dynamic loader {loader} not found in libc6", phase="image")
        (tree / loader).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found, tree / loader)
        (tree / loader).chmod(0o755)
    todo, done = list(binaries), set()
    while todo:
        for soname in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                                 _readelf(todo.pop(), "-d")):
            if soname in done:
                continue
            done.add(soname)
            src = next((d / soname for d in dirs if (d / soname).exists()), None)
            if src is None:
                raise ImageError(f"library {soname} not found in the downloaded packages",
                                 phase="image", advice="a dependency was renamed: report it")
            shutil.copyfile(src, tree / "lib" / soname)
            (tree / "lib" / soname).chmod(0o755)
            todo.append(src.resolve())


def _copy_modules(tree: Path, sysroot: Path, release: str) -> None:
    subprocess.run(["depmod", "-b", str(sysroot), release], check=True, capture_output=True)
    order: list[str] = []
    for name in DUMP_MODULES:
        proc = subprocess.run(["modprobe", "-d", str(sysroot), "-S", release, "--show-depends",
                               name], capture_output=True, text=True)
        if proc.returncode != 0:
            raise ImageError(f"module {name} not found for {release}: {proc.stderr.strip()}",
                             phase="image", advice="the kernel needs virtio_blk and ext4")
        for line in proc.stdout.splitlines():
            if not line.startswith("insmod "):
                continue
            src = Path(line.split()[1])
            rel = src.name.split(".ko")[0] + ".ko"
            if rel in order:
                continue
            order.append(rel)
            data = src.read_bytes()
            if src.name.endswith(".xz"):
                import lzma
                data = lzma.decompress(data)
            elif src.name.endswith(".zst"):
                data = subprocess.run(["zstd", "-dc", str(src)], capture_output=True,
                                      check=True).stdout
            (tree / "lib" / "modules").mkdir(parents=True, exist_ok=True)
            (tree / "lib" / "modules" / rel).write_bytes(data)
    (tree / "etc" / "modules.load").write_text("".join(m + "\n" for m in order))


def _cpio(tree: Path, level: int) -> bytes:
    raw = io.BytesIO()
    writer = NewcWriter(raw)
    writer.add_dir("dev")
    writer.add_chardev("dev/console", 5, 1)
    writer.add_tree(tree)
    writer.close()
    return gzip.compress(raw.getvalue(), compresslevel=level, mtime=0)


def _extract_vmlinux(deb: Path, release: str, image_dir: Path, stage: Path) -> None:
    member = f"./usr/lib/debug/boot/vmlinux-{release}"
    logger.info("extracting the debug vmlinux from %s (the slowest step, ~10 s)", deb.name)
    debian.extract(deb, stage / "dbg", [member])
    (stage / "dbg" / member).replace(image_dir / "vmlinux")

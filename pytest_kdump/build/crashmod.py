"""The crash module: ``kdump_crash.ko``, built for the kernel under test, crashes it on load.

Debian kernels have no LKDTM, so pytest-kdump brings its own module
(``guest/crashmod/kdump_crash.c``): ``insmod kdump_crash.ko mode=MODE`` crashes the kernel in
the way :data:`pytest_kdump.triggers.module.MODES` describes, from a function named after the
mode.

- :func:`build_module` builds it for a Debian kernel release: ``linux-headers-<release>`` and
  the ``linux-headers-*``/``linux-kbuild-*`` packages it depends on are downloaded (never
  installed) and unpacked into ``<cache>/headers/<release>-<version>/``; the module is built in
  ``<cache>/modules/<release>-<key>/``, the key hashing the source, the headers' version and the
  target architecture. An unchanged second call returns at once, without apt or make.
- :func:`module_from_build_dir` builds it against a kernel build tree (a board's own kernel).
- ``arch="aarch64"`` on an x86_64 host cross-compiles (``ARCH=arm64
  CROSS_COMPILE=aarch64-linux-gnu-``); the headers' host programs (``linux-kbuild``) then come
  from the host's architecture.

The returned ``.ko`` is stripped of debug information (``strip --strip-debug``: ~12 KB, small
enough to send over a serial console); the unstripped one lies beside it as
``<name>.unstripped.ko`` (for crash's ``mod -s``). Progress is logged (``logging``, INFO).
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from pytest_kdump.arch import ARCHES, get_arch
from pytest_kdump.build import debian
from pytest_kdump.cachedir import cache_dir, locked, publish, stamps
from pytest_kdump.errors import ImageError, KdumpError, ToolError

logger = logging.getLogger(__name__)

MODULE_NAME = "kdump_crash"
SOURCE_DIR = Path(__file__).parents[1] / "guest" / "crashmod"
# Bump when the build's output changes for the same source and headers.
BUILD_FORMAT = 1
PHASE = "module"

# Packages of the headers' closure that the build needs. linux-compiler-gcc-*-<arch> holds only
# documentation (it depends on the compiler package): the compiler is checked on the host.
_HEADER_PREFIXES = ("linux-headers-", "linux-kbuild-")
_CLOSURE_PREFIXES = (*_HEADER_PREFIXES, "linux-compiler-")


# --- entry points -----------------------------------------------------------------------------

def build_module(kernel_release: str, *, arch: str = "x86_64", cache: Path | None = None,
                 source: Path | None = None, force: bool = False) -> Path:
    """The crash module (stripped ``.ko``) for Debian kernel ``kernel_release``.

    ``source`` is a folder with the module's ``.c`` files and ``Kbuild`` (default: the bundled
    ``kdump_crash``), or one ``.c`` file. ``force`` looks the headers up again and rebuilds.
    """
    get_arch(arch, error=ImageError, phase=PHASE, doing="build the crash module")
    cache = cache or cache_dir()
    files = _source_files(source)
    src_hash = _hash_files(files)
    base = cache / "modules"
    if not force and (ko := _find_built(base, kernel_release, arch, src_hash)):
        return ko
    cross = _cross_prefix(arch)
    _check_tools(arch, cross)
    with locked(base):
        if not force and (ko := _find_built(base, kernel_release, arch, src_hash)):
            return ko
        kdir, version = _debian_headers(kernel_release, arch, cache, force)
        key = _key(src_hash, version, arch)
        return _build(kdir, base / f"{kernel_release}-{key}", files, arch=arch, cross=cross,
                      release=kernel_release, src_hash=src_hash,
                      stamp_extra={"headers_version": version}, label=_label(source))


def module_from_build_dir(kdir: Path, *, arch: str | None = None, cache: Path | None = None,
                          source: Path | None = None, force: bool = False,
                          cross_compile: str | None = None) -> Path:
    """The crash module built against a kernel build tree ``kdir`` (where ``make`` built the
    kernel, or ran ``modules_prepare`` with a ``Module.symvers``): a board's own kernel.

    ``arch`` defaults to the tree's (its ``.config``); ``cross_compile`` to the Debian cross
    prefix when it differs from the host's (give your toolchain's prefix otherwise).
    """
    kdir = Path(kdir).expanduser().resolve()
    config = kdir / ".config"
    if not (kdir / "Makefile").is_file() or not config.is_file():
        raise ImageError(f"{kdir} is not a configured kernel build tree (no Makefile or .config)",
                         phase=PHASE, advice="give the folder where the kernel was built "
                                             "(its O= folder if it was built out of tree)")
    release = _tree_release(kdir)
    if release is None or not (kdir / "Module.symvers").is_file():
        raise ImageError(f"{kdir} has no include/generated/utsrelease.h or Module.symvers",
                         phase=PHASE, advice="build the kernel in that tree first ('make', or "
                                             "'make modules_prepare' plus its Module.symvers)")
    text = config.read_text(errors="replace")
    tree_arch = next((a.name for a in ARCHES.values() if f"\n{a.kconfig}=y" in f"\n{text}"),
                     None)
    if tree_arch is None:
        raise ImageError(f"the kernel in {kdir} is neither x86_64 nor arm64 (its .config)",
                         phase=PHASE, advice=f"supported architectures: {', '.join(ARCHES)}")
    if arch is not None and arch != tree_arch:
        raise ImageError(f"the kernel in {kdir} is for {tree_arch}, not {arch}", phase=PHASE,
                         advice=f"pass arch={tree_arch!r} or the {arch} kernel's build folder")
    arch = tree_arch
    cache = cache or cache_dir()
    files = _source_files(source)
    src_hash = _hash_files(files)
    tree_hash = hashlib.sha256(str(kdir).encode())
    for name in (".config", "Module.symvers", "include/generated/utsrelease.h"):
        tree_hash.update((kdir / name).read_bytes())
    version = f"tree-{tree_hash.hexdigest()[:12]}"
    base = cache / "modules"
    if not force and (ko := _find_built(base, release, arch, src_hash, version)):
        return ko
    cross = _cross_prefix(arch) if cross_compile is None else cross_compile
    _check_tools(arch, cross)
    with locked(base):
        return _build(kdir, base / f"{release}-{_key(src_hash, version, arch)}", files,
                      arch=arch, cross=cross, release=release, src_hash=src_hash,
                      stamp_extra={"headers_version": version, "kdir": str(kdir)},
                      label=_label(source))


def _tree_release(kdir: Path) -> str | None:
    """The release a module built in ``kdir`` gets in its vermagic (UTS_RELEASE; Debian's
    include/config/kernel.release holds only the upstream version)."""
    uts = kdir / "include" / "generated" / "utsrelease.h"
    if uts.is_file():
        m = re.search(r'UTS_RELEASE\s+"([^"]+)"', uts.read_text(errors="replace"))
        if m:
            return m.group(1)
    return None


# --- source and cache keys --------------------------------------------------------------------

def _source_files(source: Path | None) -> dict[str, bytes]:
    """The module's source files by name: a folder's .c/.h/Kbuild/Makefile, or one .c file."""
    source = Path(source) if source is not None else SOURCE_DIR
    if source.is_file():
        if source.suffix != ".c":
            raise ImageError(f"{source} is not a C file", phase=PHASE,
                             advice="give a module's .c file or a folder with its Kbuild")
        return {source.name: source.read_bytes(), "Kbuild": f"obj-m := {source.stem}.o\n".encode()}
    if not source.is_dir():
        raise ImageError(f"module source {source} not found", phase=PHASE)
    files = {p.name: p.read_bytes() for p in sorted(source.iterdir())
             if p.is_file() and (p.suffix in (".c", ".h") or p.name in ("Kbuild", "Makefile"))}
    sources = [n for n in files if n.endswith(".c")]
    if not sources:
        raise ImageError(f"no .c file in {source}", phase=PHASE)
    if "Kbuild" not in files and "Makefile" not in files:
        if len(sources) > 1:
            raise ImageError(f"{source} has several .c files and no Kbuild", phase=PHASE,
                             advice="add a Kbuild file (obj-m := NAME.o ...)")
        files["Kbuild"] = f"obj-m := {Path(sources[0]).stem}.o\n".encode()
    return files


def _label(source: Path | None) -> str:
    return f"{MODULE_NAME}.ko" if source is None else str(source)


def _hash_files(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name, data in sorted(files.items()):
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def _key(src_hash: str, version: str, arch: str) -> str:
    return hashlib.sha256(
        json.dumps([BUILD_FORMAT, src_hash, version, arch]).encode()).hexdigest()[:12]


def _find_built(base: Path, release: str, arch: str, src_hash: str,
                version: str | None = None) -> Path | None:
    """The newest complete earlier build of this source for this release."""
    found = []
    for folder, stamp in stamps(base, f"{release}-"):
        ko = folder / stamp.get("ko", "")
        if (stamp.get("format") == BUILD_FORMAT and stamp.get("release") == release
                and stamp.get("arch") == arch and stamp.get("source_hash") == src_hash
                and (stamp.get("headers_version") == version if version is not None
                     else "kdir" not in stamp)  # Debian headers, not a build tree
                and stamp.get("ko") and ko.is_file()):
            found.append((stamp.get("built_at", ""), ko))
    return max(found)[1] if found else None


# --- tools ------------------------------------------------------------------------------------

def _cross_prefix(arch: str) -> str:
    """The cross-compiler prefix for ``arch``; empty when the host runs that architecture."""
    spec = ARCHES[arch]
    return "" if spec.deb_arch == debian.host_deb_arch() else spec.cross_prefix


def _check_tools(arch: str, cross: str) -> None:
    if shutil.which("make") is None:
        raise ToolError("make not found: cannot build the crash module", phase=PHASE,
                        advice="apt-get install make gcc (or build-essential)")
    if cross:
        found = _which_prefixed(f"{cross}gcc")
        if not found:
            raise ToolError(f"no cross compiler {cross}gcc for {arch} kernels", phase=PHASE,
                            advice=f"apt-get install {ARCHES[arch].cross_gcc_package}")
    elif not _which_prefixed("gcc"):
        raise ToolError("gcc not found: cannot build the crash module", phase=PHASE,
                        advice="apt-get install gcc make (the kernel's gcc version: see its "
                               "linux-compiler-gcc-* package)")


def _which_prefixed(name: str) -> str | None:
    """``name`` or a versioned ``name-N`` on PATH."""
    if found := shutil.which(name):
        return found
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        for candidate in sorted(Path(folder or ".").glob(f"{glob.escape(name)}-[0-9]*")):
            if os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def _config_value(kdir: Path, name: str) -> str | None:
    """A CONFIG_ value of the tree (.config, else include/config/auto.conf), unquoted."""
    for path in (kdir / ".config", kdir / "include" / "config" / "auto.conf"):
        if path.is_file():
            m = re.search(rf"^{name}=(.*)$", path.read_text(errors="replace"), re.M)
            if m:
                return m.group(1).strip().strip('"')
            return None
    return None


def _version_of(text: str) -> tuple[int, ...] | None:
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?\s*$", text.strip())
    return tuple(int(x) for x in m.groups() if x is not None) if m else None


def _compiler(kdir: Path, arch: str, cross: str) -> str:
    """The C compiler to build with: the kernel's (CONFIG_CC_VERSION_TEXT), checked on PATH."""
    if _config_value(kdir, "CONFIG_CC_IS_CLANG") == "y":
        raise ToolError(f"the kernel in {kdir} was built with clang", phase=PHASE,
                        advice="only gcc-built kernels are supported: build the module yourself "
                               "(LLVM=1) and load it as a user module")
    text = _config_value(kdir, "CONFIG_CC_VERSION_TEXT") or ""
    word = text.split()[0] if text.split() else "gcc"
    if not re.fullmatch(r"[\w.+-]*gcc[\w.+-]*", word):
        word = "gcc"
    cc = word if (not cross or word.startswith(cross)) else cross + word
    if shutil.which(cc) is None:
        package = ARCHES[arch].cross_gcc_package if cross else word
        raise ToolError(f"the kernel was built with {text or 'gcc'!r}, and {cc} is not installed",
                        phase=PHASE, advice=f"apt-get install {package} (the same gcc major "
                                            "version as the kernel's)")
    got = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    got = got.splitlines()[0].strip() if got.strip() else ""
    want_v, got_v = _version_of(text), _version_of(got)
    if want_v and got_v and want_v[0] != got_v[0]:
        raise ToolError(f"compiler mismatch: the kernel was built with {text!r}, the host's {cc} "
                        f"is {got!r}", phase=PHASE,
                        advice=f"install gcc {want_v[0]} (Debian: gcc-{want_v[0]}) so that the "
                               "module matches the kernel")
    if text and got and want_v != got_v:
        logger.info("note: the kernel was built with %r, the module is built with %r", text,
                    got)
    return cc


# --- Debian headers ---------------------------------------------------------------------------

def _debian_headers(release: str, arch: str, cache: Path, force: bool) -> tuple[Path, str]:
    """(kernel build dir, headers version) of ``linux-headers-<release>``, unpacked in the cache.

    A complete unpacked copy is reused without apt (the Debian ABI name in the release changes
    whenever the ABI does); ``force`` asks apt again.
    """
    base = cache / "headers"
    if not force:
        done = []
        for folder, stamp in stamps(base, f"{release}-"):
            kdir = folder / stamp.get("kdir", "-")
            if stamp.get("release") == release and (kdir / "Makefile").is_file():
                done.append((stamp.get("unpacked_at", ""), kdir, stamp["version"]))
        if done:
            _, kdir, version = max(done)
            return kdir, version

    started = time.monotonic()
    apt = debian.Apt(cache, arch=ARCHES[arch].deb_arch)
    root_pkg = f"linux-headers-{release}"
    try:
        top = apt.resolve([root_pkg])[root_pkg]
    except ToolError as e:
        raise ImageError(
            f"no Debian headers for kernel {release} ({arch}): apt knows no {root_pkg}",
            phase=PHASE,
            advice="a Debian kernel's headers may be gone from the mirror after a point release "
                   "(rebuild the image with the current kernel, after 'apt-get update'); for a "
                   "custom kernel, build the module against its build tree with "
                   "pytest_kdump.build.crashmod.module_from_build_dir(KDIR)") from e
    names = [root_pkg]
    level = [root_pkg]
    while level:
        deps = apt.depends_many(level)
        level = list(dict.fromkeys(d for n in level for d in deps.get(n, [])
                                   if d.startswith(_CLOSURE_PREFIXES) and d not in names))
        names += level
    wanted = [n for n in names if n.startswith(_HEADER_PREFIXES)]
    # The kbuild package holds host programs (fixdep, modpost, objtool): when cross-compiling
    # they must be the host's build, not the target's.
    host_apt = apt if not _cross_prefix(arch) else debian.Apt(cache)
    groups = [(apt, [n for n in wanted if n != root_pkg and
                     (host_apt is apt or not n.startswith("linux-kbuild-"))])]
    if host_apt is not apt:
        groups.append((host_apt, [n for n in wanted if n.startswith("linux-kbuild-")]))
    pkgs = {root_pkg: top}
    for source, group in groups:
        if group:
            pkgs.update(source.resolve(group))
    if not any(n.startswith("linux-kbuild-") for n in pkgs):
        raise ImageError(f"{root_pkg} depends on no linux-kbuild-* package", phase=PHASE,
                         advice="not a Debian kernel headers package?")
    debs_dir = base / "debs"
    debs = []
    for source, group in ((apt, [root_pkg] + groups[0][1]), *groups[1:]):
        try:
            debs += source.download([pkgs[n] for n in group], debs_dir)
        except KdumpError as e:
            e.phase = PHASE
            raise
    downloaded = time.monotonic()

    final = base / f"{release}-{top.version.replace(':', '_')}"
    stage = base / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    logger.info("unpacking %s into %s", ", ".join(pkgs), final)
    for deb in debs:
        try:
            debian.extract(deb, stage)
        except KdumpError as e:
            e.phase = PHASE
            raise
    rel_kdir = Path("usr/src") / f"linux-headers-{release}"
    _fix_tree(stage, stage / rel_kdir)
    if not all((stage / rel_kdir / name).is_file() for name in ("Makefile", ".config")):
        raise ImageError(f"{root_pkg} has no {rel_kdir}/Makefile or .config", phase=PHASE,
                         advice="not a Debian kernel headers package?")
    if (got := _tree_release(stage / rel_kdir)) != release:
        raise ImageError(f"{root_pkg} is for kernel release {got}, not {release}", phase=PHASE,
                         advice="report this: the package's layout is not the expected one")
    stamp = {"release": release, "arch": arch, "version": top.version, "kdir": str(rel_kdir),
             "packages": {n: p.version for n, p in pkgs.items()},
             "unpacked_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "download_seconds": round(downloaded - started, 2),
             "unpack_seconds": round(time.monotonic() - downloaded, 2)}
    publish(stage, final, stamp)
    for deb in debs:  # the unpacked tree is the cache
        deb.unlink(missing_ok=True)
    logger.info("headers for %s ready in %.1f s (download %s s, unpack %s s)", release,
                time.monotonic() - started, stamp["download_seconds"], stamp["unpack_seconds"])
    return final / rel_kdir, top.version


def _fix_tree(root: Path, kdir: Path) -> None:
    """Make the unpacked packages work where they are: absolute symlinks (lib/modules/*/build)
    point inside ``root``; the flavour Makefile's ``include /usr/src/...`` becomes relative
    (make runs in ``kdir``)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            link = Path(dirpath) / name
            if link.is_symlink() and os.readlink(link).startswith("/"):
                target = root / os.readlink(link).lstrip("/")
                link.unlink()
                link.symlink_to(os.path.relpath(target, link.parent))
    for makefile in (root / "usr" / "src").glob("*/Makefile"):
        text = makefile.read_text()
        here = makefile.parent
        fixed = re.sub(r"^include\s+(/\S+)",
                       lambda m, here=here: "include " + os.path.relpath(
                           root / m.group(1).lstrip("/"), here),
                       text, flags=re.M)
        if fixed != text:
            makefile.write_text(fixed)


# --- the build --------------------------------------------------------------------------------

def _make_env() -> dict[str, str]:
    """The environment without variables that would redirect kbuild."""
    drop = {"ARCH", "CROSS_COMPILE", "CC", "LD", "LLVM", "M", "O", "V", "W", "C", "KDIR",
            "MAKEFLAGS", "MAKELEVEL", "MFLAGS"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("KBUILD_")}


def _tail(text: str, lines: int = 25) -> str:
    """The compiler's last lines, errors first when there are many."""
    all_lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in all_lines if re.search(r"\berror\b|Error \d", line)]
    picked = all_lines[-lines:]
    if errors and not any(e in picked for e in errors[:3]):
        picked = errors[:10] + ["..."] + all_lines[-(lines - 10):]
    return "\n".join("    " + line for line in picked)


def _build(kdir: Path, build_dir: Path, files: dict[str, bytes], *, arch: str, cross: str,
           release: str, src_hash: str, stamp_extra: dict, label: str) -> Path:
    """make -C kdir M=build_dir modules, then strip; called with the modules lock held."""
    started = time.monotonic()
    cc = _compiler(kdir, arch, cross)
    shutil.rmtree(build_dir, ignore_errors=True)
    build_dir.mkdir(parents=True)
    for name, data in files.items():
        (build_dir / name).write_bytes(data)
    cmd = ["make", "-C", str(kdir), f"M={build_dir}", f"ARCH={ARCHES[arch].kernel_arch}",
           f"CC={cc}"]
    if cross:
        cmd.append(f"CROSS_COMPILE={cross}")
    if shutil.which("pahole") is None:
        # BTF for the module would need pahole (dwarves); crash and drgn read its DWARF
        cmd.append("CONFIG_DEBUG_INFO_BTF_MODULES=")
    cmd.append("modules")
    logger.info("building the crash module for %s (%s) in %s", release, arch, build_dir)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_make_env(),
                          stdin=subprocess.DEVNULL)
    output = proc.stdout + proc.stderr
    (build_dir / "build.log").write_text(" ".join(cmd) + "\n" + output)
    kos = sorted(build_dir.glob("*.ko"))
    if proc.returncode != 0 or not kos:  # no stamp: the folder is rebuilt next time
        raise ToolError(
            f"building the module {label} for kernel {release} failed (make exit "
            f"{proc.returncode}); the compiler's last lines:\n{_tail(output)}",
            phase=PHASE,
            advice=f"fix the source (copied to {build_dir}); full log: {build_dir}/build.log")
    built = next((k for k in kos if k.stem == MODULE_NAME), kos[0])
    unstripped = built.with_name(f"{built.stem}.unstripped.ko")
    built.rename(unstripped)
    strip = f"{cross}strip" if cross and shutil.which(f"{cross}strip") else "strip"
    if shutil.which(strip) is None:
        raise ToolError(f"{strip} not found", phase=PHASE, advice="apt-get install binutils")
    res = subprocess.run([strip, "--strip-debug", "-o", str(built), str(unstripped)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise ToolError(f"{strip} --strip-debug {unstripped.name} failed: {res.stderr.strip()}",
                        phase=PHASE, advice="check binutils")
    elapsed = round(time.monotonic() - started, 2)
    stamp = {"format": BUILD_FORMAT, "release": release, "arch": arch, "source_hash": src_hash,
             "ko": built.name, "unstripped": unstripped.name, "size": built.stat().st_size,
             "compiler": cc, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "build_seconds": elapsed, **stamp_extra}
    (build_dir / "stamp.json").write_text(json.dumps(stamp, indent=1) + "\n")
    logger.info("built %s (%s bytes) in %s s", built, stamp["size"], elapsed)
    return built

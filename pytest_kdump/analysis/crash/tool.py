"""The ``crash`` utility: a recent one, without touching the host.

Bookworm's crash 8.0.2 misreads current Debian 6.1 kernels (its task list holds 2 tasks).
:func:`install_crash` unpacks Debian trixie's crash and the few libraries it needs into the
user's cache and runs it through trixie's own dynamic loader, so nothing on the host changes::

    <cache>/crash/<package version>/root/      the unpacked packages
    <cache>/crash/<package version>/bin/crash  a wrapper script users can run by hand
    <cache>/crash/<package version>/stamp.json written last: the folder is complete
    <cache>/crash/current -> <package version>

A crash reads the dumps of its own architecture only (:attr:`CrashTool.arch`); the crash for
another architecture's dumps (arm64 dumps on an x86_64 host) is built from source by
:mod:`.cross`. :func:`find_crash` picks the crash to use, :func:`crash_for_dump` the one for a
dump's architecture, and :func:`known_problem` says when a crash is known to be too old for a
kernel.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pytest_kdump.arch import from_deb_arch
from pytest_kdump.build import debian
from pytest_kdump.cachedir import locked, point, publish
from pytest_kdump.errors import ToolError
from pytest_kdump.vmcore import dump_arch

logger = logging.getLogger(__name__)

SUITE = "trixie"
STAMP_FORMAT = 1
_SETUP_ADVICE = "run `pytest-kdump setup-crash` (or the set-up script) to install a recent crash"
# More packages than this means the dependency walk pulled in something unexpected.
_MAX_PACKAGES = 20


# Options for every crash pytest-kdump starts: silent (no banner), no ~/.crashrc or ./.crashrc
# (they can run shell escapes, and a `set radix 16` there breaks the parsers), no pager.
SESSION_OPTIONS = ("-s", "--no_crashrc", "--no_scroll")


@dataclass(frozen=True)
class CrashTool:
    """A runnable crash: :meth:`command` is the argv of a crash process on a dump.

    ``arch`` is the architecture of the dumps it reads (``x86_64``, ``aarch64``); None when
    not known (a crash given by path or found on PATH: used as it is)."""

    argv: tuple[str, ...]
    version: str
    source: str
    arch: str | None = None

    def __str__(self) -> str:
        return f"crash {self.version} ({self.source})"

    def command(self, vmlinux: Path, vmcore: Path) -> list[str]:
        """The argv of a crash process on ``vmlinux`` + ``vmcore`` that reads no start-up file.

        Every path is absolute, so the process may run in any working directory."""
        first, *rest = self.argv
        if "/" in first:  # a command name stays as it is: PATH finds it
            first = os.path.abspath(first)
        return [first, *rest, *SESSION_OPTIONS, os.path.abspath(vmlinux),
                os.path.abspath(vmcore)]


# --- versions -------------------------------------------------------------------------------

def parse_crash_version(text: str) -> str:
    """``"8.0.6"`` from ``crash --version`` output (``crash 8.0.6``, ``crash 9.0.0++``...)."""
    m = re.search(r"^crash (\d+(?:\.\d+)+)", text, re.M)
    if not m:
        raise ValueError(f"no crash version in: {text.strip()[:200]!r}")
    return m.group(1)


def crash_version(argv: tuple[str, ...] | list[str]) -> str:
    """Run ``crash --version`` and return its version (a clear ToolError if it cannot run)."""
    try:
        proc = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"cannot run {' '.join(argv)}: {exc}", phase="analysis",
                        advice=_SETUP_ADVICE) from exc
    try:
        return parse_crash_version(proc.stdout)
    except ValueError:
        out = (proc.stdout + proc.stderr).strip()[-600:]
        raise ToolError(f"{' '.join(argv)} --version failed (exit {proc.returncode}): {out}",
                        phase="analysis", advice=_SETUP_ADVICE) from None


def _vtuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:3])


# --- known problems -------------------------------------------------------------------------

@dataclass(frozen=True)
class _Rule:
    kernel_from: tuple[int, int, int]   # first affected kernel
    kernel_below: tuple[int, int, int] | None  # first kernel no longer affected (None: all later)
    crash_fixed: tuple[int, int, int]   # first crash release with the fix
    problem: str


# Sources: the upstream commits listed per release in trixie's crash changelog
# (/usr/share/doc/crash/changelog.Debian.gz of crash 8.0.6-1), the crash-utility mailing list
# (maple tree series by Tao Liu, merged for 8.0.3), and the bookworm linux changelog, which
# shows "pid: Replace struct pid 1-element array with flex-array" (Linux 6.5 commit
# b69f0aeb0689) backported in 6.1.112-1, the first Debian upload after upstream 6.1.107 that
# carried it. Only start-up-breaking or wrong-answer problems, and a few command failures.
_RULES = (
    _Rule((6, 1, 107), (6, 2, 0), (8, 0, 4),
          "the task list is misread (\"active task ... not found in PID hash\", TASKS: 2, `ps` "
          "nearly empty, wrong PANIC): struct pid.numbers became a flexible array in 6.1.107, "
          "fixed by crash 88580068b7dd"),
    _Rule((6, 5, 0), None, (8, 0, 4),
          "the task list is misread (\"active task ... not found in PID hash\"): struct "
          "pid.numbers became a flexible array in Linux 6.5, fixed by crash 88580068b7dd"),
    _Rule((6, 4, 0), None, (8, 0, 4),
          "the session fails to start (\"invalid structure member offset: module_core_size\"): "
          "Linux 6.4 changed the module memory layout, fixed by crash 7750e61fdb2a"),
    _Rule((6, 1, 0), None, (8, 0, 3),
          "`vm` and `fuser` fail: Linux 6.1 keeps VMAs in a maple tree (crash 8.0.3 added it)"),
    _Rule((6, 8, 0), None, (8, 0, 5), "`mount` fails on Linux 6.8 and later (crash 3d60d9d40457)"),
    _Rule((6, 9, 0), None, (8, 0, 6), "`kmem -v` is wrong on Linux 6.9 and later (7c2c90d0b06a)"),
    _Rule((6, 10, 0), None, (8, 0, 6),
          "`kmem -i` and `swap` fail on Linux 6.10 and later (3452fe802bf9)"),
)
# Debian's stable kernels are named X.Y.0-ABI-flavour; the ABI number only grows. From the
# bookworm linux changelog ("Bump ABI to 26" in 6.1.112-1): ABI -> lowest upstream version.
_DEBIAN_ABI = {(6, 1): ((26, (6, 1, 112)),)}


def kernel_version(kernel_release: str) -> tuple[int, int, int] | None:
    """The upstream version behind a kernel release string (a lower bound for Debian ABI names).

    Accepts ``uname -r`` (``6.1.0-56-cloud-amd64``, ``6.12.48+deb13-amd64``, ``6.5.11``) or text
    holding ``uname -v`` (``... Debian 6.1.192-2 ...``), which gives the exact version.
    """
    m = re.search(r"Debian (\d+)\.(\d+)\.(\d+)", kernel_release)
    if m:
        return int(m[1]), int(m[2]), int(m[3])
    m = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?(?:-(\d+)-)?", kernel_release)
    if not m:
        return None
    major, minor, patch = int(m[1]), int(m[2]), int(m[3] or 0)
    if patch == 0 and m[4] is not None:
        for abi, lowest in _DEBIAN_ABI.get((major, minor), ()):
            if int(m[4]) >= abi:
                return lowest
    return major, minor, patch


def known_problem(crash_version: str, kernel_release: str) -> str | None:
    """A warning when this crash is known to be too old for that kernel, else None."""
    crash = _vtuple(crash_version)
    kernel = kernel_version(kernel_release)
    if len(crash) < 2 or kernel is None:
        return None
    found = [r for r in _RULES
             if r.kernel_from <= kernel and (r.kernel_below is None or kernel < r.kernel_below)
             and crash < r.crash_fixed]
    if not found:
        return None
    need = ".".join(map(str, max(r.crash_fixed for r in found)))
    problems = "; ".join(r.problem for r in found)
    return (f"crash {crash_version} is too old for kernel {kernel_release.strip()}: {problems}. "
            f"Use crash >= {need} ({_SETUP_ADVICE}).")


# --- the cached copy ------------------------------------------------------------------------

def _tool_from(folder: Path) -> CrashTool | None:
    """The CrashTool of a complete install folder, or None (missing, partial, other format)."""
    try:
        stamp = json.loads((folder / "stamp.json").read_text())
        if stamp.get("format") != STAMP_FORMAT:
            return None
        root = folder / "root"
        loader, crash = root / stamp["loader"], root / stamp["crash"]
        libs = [root / d for d in stamp["library_path"]]
        if not (loader.is_file() and crash.is_file() and (folder / "bin/crash").is_file()):
            return None
        spec = from_deb_arch(stamp["arch"])
        return CrashTool(argv=(str(loader), "--library-path", ":".join(map(str, libs)),
                               str(crash)),
                         version=stamp["crash_version"],
                         source=f"cache ({stamp['suite']} {stamp['package_version']})",
                         arch=spec.name if spec else stamp["arch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def installed_crash(cache_dir: Path, arch: str | None = None) -> CrashTool | None:
    """The crash installed in the cache by :func:`install_crash` (no apt, no process), or None.

    With ``arch`` (``aarch64``): the crash in the cache that reads that architecture's dumps,
    installed or built by :func:`~.cross.install_cross_crash`, or None."""
    base = cache_dir / "crash"
    current = base / "current"
    tool = _tool_from(current.resolve()) if current.exists() else None
    if not tool:
        tools = [t for t in (_tool_from(p.parent) for p in base.glob("*/stamp.json")) if t]
        tool = max(tools, key=lambda t: _vtuple(t.version), default=None)
    if arch is None or (tool and tool.arch == arch):
        return tool
    from pytest_kdump.analysis.crash.cross import installed_cross_crash

    return installed_cross_crash(cache_dir, arch)


def _layout(root: Path, arch: str) -> tuple[str, list[str], str]:
    """Loader, library folders and crash binary of an unpacked sysroot (Debian ``arch``),
    relative to it."""
    spec = from_deb_arch(arch)
    multiarch, loader_name = (spec.multiarch, spec.loader) if spec else (f"{arch}-linux-gnu", "")
    candidates = ("lib64", "usr/lib64", f"lib/{multiarch}", f"usr/lib/{multiarch}", "lib",
                  "usr/lib")
    if loader_name:
        loaders = [root / d / loader_name for d in candidates]
    else:  # an architecture not in the table: take any ld-linux* found
        loaders = [p for d in candidates for p in sorted((root / d).glob("ld-linux*.so.*"))]
    real_root = root.resolve()
    # Symlinks are followed, but an absolute one would lead to the host's loader: skip it.
    loader = next((p.resolve() for p in loaders
                   if p.is_file() and p.resolve().is_relative_to(real_root)), None)
    crash = next((root / p for p in ("usr/bin/crash", "bin/crash") if (root / p).is_file()), None)
    if loader is None or crash is None:
        raise ToolError(f"the unpacked {SUITE} packages have no {'loader' if crash else 'crash'}"
                        f" in {root}", phase="setup", advice=f"{_SETUP_ADVICE} with --force")
    libs = [d for d in (f"usr/lib/{multiarch}", f"lib/{multiarch}", "usr/lib", "lib")
            if (root / d).is_dir() and not (root / d).is_symlink()]
    return str(loader.relative_to(real_root)), libs, str(crash.relative_to(root))


def _write_wrapper(folder: Path, loader: str, libs: list[str], crash: str, what: str) -> None:
    lib_path = ":".join(f"$root/{d}" for d in libs)
    script = folder / "bin" / "crash"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        "#!/bin/sh\n"
        f"# {what}, run with its own dynamic loader and libraries (installed by pytest-kdump).\n"
        "# Nothing on the host is used but the kernel: move the folder freely.\n"
        'root="$(dirname "$(readlink -f "$0")")/../root"\n'
        f'exec "$root/{loader}" --library-path "{lib_path}" "$root/{crash}" "$@"\n'
    )
    script.chmod(0o755)


def _resolve_and_download(apt: debian.Apt, debs_dir: Path) -> tuple[dict[str, debian.Package],
                                                                      list[Path]]:
    names = apt.library_closure(["crash"])
    pkgs = apt.resolve(names)
    if len(pkgs) > _MAX_PACKAGES:
        logger.warning("crash pulls %d packages from %s: %s", len(pkgs), SUITE, ", ".join(pkgs))
    return pkgs, apt.download([pkgs[n] for n in names], debs_dir)


def install_crash(cache_dir: Path, *, force: bool = False) -> CrashTool:
    """Install trixie's crash and its libraries into ``cache_dir/crash/<version>``.

    A complete install is returned at once, without apt. ``force`` refreshes the package
    lists and reinstalls. Progress is logged (``logging``, INFO). Concurrent callers (xdist
    workers) wait for each other.
    """
    base = cache_dir / "crash"
    if not force and (tool := installed_crash(cache_dir)):
        return tool
    with locked(base):
        if not force and (tool := installed_crash(cache_dir)):
            return tool
        return _install_locked(cache_dir, base, force)


def _install_locked(cache_dir: Path, base: Path, force: bool) -> CrashTool:
    started = time.monotonic()
    apt = debian.Apt(cache_dir, suite=SUITE)
    if force:
        apt.update()
    debs_dir = base / "debs"
    try:
        pkgs, debs = _resolve_and_download(apt, debs_dir)
    except ToolError:
        if force:
            raise
        logger.info("refreshing the %s package lists and trying again", SUITE)
        apt.update()  # stale lists name files the mirror no longer has
        pkgs, debs = _resolve_and_download(apt, debs_dir)
    version = pkgs["crash"].version
    folder = base / version.replace(":", "_")
    if not force and (tool := _tool_from(folder)):
        point(base / "current", folder.name)
        return tool

    stage = base / f".{folder.name}.tmp-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    logger.info("unpacking %d %s package(s) into %s", len(debs), SUITE, folder)
    for deb in debs:
        debian.extract(deb, stage / "root")
    loader, libs, crash = _layout(stage / "root", apt.arch)
    _write_wrapper(stage, loader, libs, crash, f"crash {version} from Debian {SUITE}")
    staged_root = stage / "root"
    got = crash_version((str(staged_root / loader), "--library-path",
                         ":".join(str(staged_root / d) for d in libs), str(staged_root / crash)))
    stamp = {"format": STAMP_FORMAT, "suite": SUITE, "arch": apt.arch, "crash_version": got,
             "package_version": version, "loader": loader, "library_path": libs,
             "crash": crash, "packages": {n: p.version for n, p in sorted(pkgs.items())},
             "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    publish(stage, folder, stamp)
    point(base / "current", folder.name)
    wanted = {d.name for d in debs}
    for stale in debs_dir.glob("*.deb"):
        if stale.name not in wanted:
            stale.unlink()
    tool = _tool_from(folder)
    if tool is None:  # pragma: no cover - the folder was just verified
        raise ToolError(f"crash install in {folder} is incomplete", phase="setup",
                        advice=f"{_SETUP_ADVICE} with --force")
    logger.info("installed %s in %.1f s; run it by hand as %s", tool,
                time.monotonic() - started, folder / "bin" / "crash")
    return tool


# --- choosing a crash -----------------------------------------------------------------------

def find_crash(explicit: str | None, cache_dir: Path) -> CrashTool:
    """The crash to use: ``explicit`` (a path or command), else the cached one, else PATH's."""
    if explicit:
        path = shutil.which(explicit) if "/" not in explicit else explicit
        if not path or not Path(path).is_file() or not os.access(path, os.X_OK):
            raise ToolError(f"crash {explicit!r} not found or not executable", phase="analysis",
                            advice="give the path of a runnable crash, or drop the option to "
                                   f"use the cached one ({_SETUP_ADVICE})")
        path = os.path.abspath(path)  # crash processes run in a folder of their own
        return CrashTool(argv=(path,), version=crash_version((path,)), source="explicit")
    tool = installed_crash(cache_dir)
    if tool:
        return tool
    on_path = shutil.which("crash")
    if on_path:
        return CrashTool(argv=(on_path,), version=crash_version((on_path,)), source="PATH")
    raise ToolError("no crash found (none given, none installed in the cache, none on PATH)",
                    phase="analysis", advice=_SETUP_ADVICE)


def crash_for_dump(tool: CrashTool | None, vmlinux: Path, vmcore: Path,
                   cache_dir: Path | None = None) -> CrashTool:
    """The crash to analyse ``vmcore`` with: ``tool`` when it reads the dump's architecture
    (or its architecture is not known: a crash given by path is used as it is), else the
    crash in the cache for that architecture; ``tool`` None picks the cached one (else
    PATH's). The architecture is read from the vmcore's header (else the vmlinux's); a
    vmlinux of another architecture than the dump is a ConfigError, and a dump no installed
    crash reads a ToolError naming the set-up command."""
    from pytest_kdump.cachedir import cache_dir as default_cache_dir

    arch = dump_arch(vmlinux, vmcore)
    if tool is not None and (arch is None or tool.arch in (None, arch)):
        return tool
    cache = cache_dir if cache_dir is not None else default_cache_dir()
    if arch is None:
        return find_crash(None, cache)
    found = installed_crash(cache, arch)
    if found:
        return found
    if tool is None and arch == os.uname().machine:
        return find_crash(None, cache)  # PATH's crash reads the host's dumps
    from pytest_kdump.analysis.crash.cross import setup_advice

    have = f"{tool} reads {tool.arch} dumps only and " if tool else ""
    raise ToolError(f"{vmcore} is the dump of a kernel for {arch}: {have}no crash for {arch} "
                    "dumps is installed", phase="analysis", advice=setup_advice(arch))

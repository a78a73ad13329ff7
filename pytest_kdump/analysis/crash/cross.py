"""A crash for another architecture's dumps (arm64 dumps on an x86_64 host), built here.

A crash reads the dumps of the architecture it was built for: Debian's amd64 crash says
"machine type mismatch" on an arm64 dump. crash's own makefile builds a crash for another
target on an x86_64 host (``make target=ARM64``), and Debian trixie's
``crash_<version>.orig.tar.gz`` bundles the gdb source crash links in, so the build needs no
network. :func:`install_cross_crash` fetches that tarball through apt (a private ``deb-src``
configuration for trixie: apt checks the signed index and the tarball's SHA-256; only the
orig tarball of trixie's source package is on the mirror, so ``apt-get source`` runs with
``--tar-only``), builds it in a hidden folder of the cache and keeps only the binary::

    <cache>/crash-cross/aarch64/<source version>/bin/crash   the crash binary (stripped)
    <cache>/crash-cross/aarch64/<source version>/stamp.json  written last: the build is complete
    <cache>/crash-cross/aarch64/current -> <source version>
    <cache>/crash-cross/aarch64/make-<source version>.log    the make log of a failed build

Measured on a 2-core x86_64 bookworm host (``make -j2``): the build took 336 s on an idle
host and 500-600 s beside a running QEMU guest (a 750 MB tree, deleted afterwards; the
stripped binary is 11 MB); crash on an arm64 sysrq dump (sys, bt, ps, log, mod) takes 7.4 s.
The alternative measured, trixie's crash:arm64 run under qemu-user
(``qemu-aarch64-static -cpu max,pauth=off``; without ``pauth=off`` it did not finish in 10
minutes), took 35 s per analysis: too slow for a crash matrix. The binary uses the host's
libraries (ncurses, lzo, snappy, zstd, libstdc++), installed with the -dev packages of
:data:`BUILD_PACKAGES`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_kdump import reaper
from pytest_kdump.analysis.crash.tool import CrashTool, crash_version
from pytest_kdump.build import debian
from pytest_kdump.cachedir import locked, point, publish
from pytest_kdump.errors import ToolError

logger = logging.getLogger(__name__)

SUITE = "trixie"
STAMP_FORMAT = 1
# crash's make target for each dump architecture it can be built for on this host
# (crash's configure.c: ARM64 on an X86_64 host); keyed by ``uname -m`` names
TARGETS = {"x86_64": {"aarch64": "ARM64"}}
# compression libraries of makedumpfile's -l, -p and -z (zlib's -c is always built in)
MAKE_GOALS = ("lzo", "snappy", "zstd")
BUILD_TIMEOUT = 1800.0
"""Seconds the build may take (6-10 minutes on 2 cores)."""
APT_TIMEOUT = 600.0
PROGRESS_EVERY = 30.0
"""Seconds between two progress lines of the build."""

# What the build runs, and the Debian package of each: a program on PATH or a header
BUILD_TOOLS = (("make", "make"), ("gcc", "gcc"), ("g++", "g++"), ("bison", "bison"),
               ("flex", "flex"), ("makeinfo", "texinfo"), ("patch", "patch"))
BUILD_HEADERS = (("zlib.h", "zlib1g-dev"), ("ncurses.h", "libncurses-dev"),
                 ("lzo/lzo1x.h", "liblzo2-dev"), ("snappy-c.h", "libsnappy-dev"),
                 ("zstd.h", "libzstd-dev"))
BUILD_PACKAGES = tuple(dict.fromkeys(p for _, p in BUILD_TOOLS + BUILD_HEADERS))
"""The Debian packages the build needs."""
_BUILD_PATH = "/usr/local/bin:/usr/bin:/bin"
_APT_ADVICE = ("check that Debian's mirror is reachable (the host's apt sources name it); "
               "a stale source index is refreshed by `pytest-kdump setup-crash --arch ... "
               "--force`")


def setup_advice(arch: str) -> str:
    """What to run to get a crash for ``arch`` dumps."""
    return (f"run `pytest-kdump setup-crash --arch {arch}` (builds crash for {arch} dumps from "
            "Debian's source, 6-10 minutes), or analyse with the drgn backend")


def target_for(arch: str, host: str | None = None) -> str:
    """crash's make target for ``arch`` dumps on this host (``ARM64``); a ToolError if crash
    cannot be built for them here."""
    host = host or os.uname().machine
    target = TARGETS.get(host, {}).get(arch)
    if target is None:
        known = ", ".join(TARGETS.get(host, {})) or "none"
        raise ToolError(f"pytest-kdump cannot build crash for {arch} dumps on a {host} host",
                        phase="setup",
                        advice=f"architectures it can build crash for here: {known}; analyse "
                               f"{arch} dumps on an {arch} host, or with the drgn backend")
    return target


# --- the cached build -----------------------------------------------------------------------

def _tool_from(folder: Path, arch: str) -> CrashTool | None:
    """The CrashTool of a complete build folder, or None (missing, partial, other format)."""
    try:
        stamp = json.loads((folder / "stamp.json").read_text())
        binary = folder / "bin" / "crash"
        if (stamp.get("format") != STAMP_FORMAT or stamp.get("arch") != arch
                or not os.access(binary, os.X_OK)):
            return None
        return CrashTool(argv=(str(binary),), version=stamp["crash_version"],
                         source=f"cache (built from {stamp['suite']} "
                                f"{stamp['source_version']} for {arch} dumps)", arch=arch)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def installed_cross_crash(cache_dir: Path, arch: str = "aarch64") -> CrashTool | None:
    """The crash for ``arch`` dumps built by :func:`install_cross_crash` (no process), or
    None."""
    base = cache_dir / "crash-cross" / arch
    current = base / "current"
    tool = _tool_from(current.resolve(), arch) if current.exists() else None
    if tool:
        return tool
    tools = [t for t in (_tool_from(p.parent, arch) for p in base.glob("*/stamp.json")) if t]
    return max(tools, key=lambda t: tuple(int(x) for x in re.findall(r"\d+", t.version)[:3]),
               default=None)


def install_cross_crash(cache_dir: Path, arch: str = "aarch64", *, force: bool = False,
                        timeout: float = BUILD_TIMEOUT) -> CrashTool:
    """Build trixie's crash for ``arch`` dumps into ``cache_dir/crash-cross/<arch>/``.

    A complete build is returned at once. ``force`` refreshes trixie's source index and
    builds again. The build is bounded by ``timeout`` seconds and logs a progress line every
    :data:`PROGRESS_EVERY` seconds (``logging``, INFO). Concurrent callers (xdist workers)
    wait for each other.
    """
    target = target_for(arch)
    base = cache_dir / "crash-cross" / arch
    if not force and (tool := installed_cross_crash(cache_dir, arch)):
        return tool
    check_build_tools()
    with locked(base, timeout=timeout + APT_TIMEOUT):
        if not force and (tool := installed_cross_crash(cache_dir, arch)):
            return tool
        return _install_locked(cache_dir, base, arch, target, force, timeout)


def _install_locked(cache_dir: Path, base: Path, arch: str, target: str, force: bool,
                    timeout: float) -> CrashTool:
    started = time.monotonic()
    # what a killed build left (we hold the lock: no other build runs)
    for stale in [*base.glob(".*.tmp-*"), *base.glob(".*.old-*")]:
        logger.info("removing the unfinished build %s", stale)
        shutil.rmtree(stale, ignore_errors=True)
    source = SourceApt(cache_dir, SUITE)
    if force:
        source.update()
    for attempt in (1, 2):
        version, tarball_name, sha256 = source.orig_tarball("crash")
        folder = base / version.replace(":", "_")
        if not force and (tool := _tool_from(folder, arch)):
            point(base / "current", folder.name)
            return tool
        stage = base / f".{folder.name}.tmp-{os.getpid()}"
        stage.mkdir(parents=True)
        try:
            tarball = source.download("crash", version, tarball_name, sha256, stage)
            break
        except ToolError:
            shutil.rmtree(stage, ignore_errors=True)
            if force or attempt == 2:
                raise
            # a stale index names a tarball the mirror no longer has
            logger.info("refreshing the %s source index and trying again", SUITE)
            source.update()
    try:
        tree = unpack(tarball, stage / "src")
        log = base / f"make-{folder.name}.log"  # kept when the build fails
        argv = make_command(target)
        build_started = time.monotonic()
        logger.info("building crash %s for %s dumps (%s, in %s); the log is %s", version, arch,
                    " ".join(argv), tree, log)
        run_make(argv, tree, log, timeout, what=f"crash {version} for {arch}",
                 home=stage / "src")  # deleted with the tree
        seconds = round(time.monotonic() - build_started, 1)
        binary = stage / "bin" / "crash"
        binary.parent.mkdir()
        built = tree / "crash"
        if not built.is_file():
            raise ToolError(f"make finished but built no crash binary in {tree}", phase="setup",
                            advice="read the make log and report it to pytest-kdump")
        shutil.move(str(built), binary)
        stripped = strip(binary)
        got = crash_version((str(binary),))
        shutil.rmtree(stage / "src")  # the 750 MB build tree
        tarball.unlink()
        stamp = {"format": STAMP_FORMAT, "suite": SUITE, "arch": arch, "target": target,
                 "source_version": version, "crash_version": got, "tarball": tarball_name,
                 "sha256": sha256, "make": " ".join(argv), "build_seconds": seconds,
                 "stripped": stripped,
                 "host": os.uname().machine,
                 "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        publish(stage, folder, stamp)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    (base / f"make-{folder.name}.log").unlink(missing_ok=True)  # only a failure's log stays
    point(base / "current", folder.name)
    tool = _tool_from(folder, arch)
    if tool is None:  # pragma: no cover - the folder was just published
        raise ToolError(f"crash build in {folder} is incomplete", phase="setup",
                        advice=setup_advice(arch))
    logger.info("built %s in %.0f s (make: %.0f s); run it by hand as %s", tool,
                time.monotonic() - started, seconds, folder / "bin" / "crash")
    return tool


# --- the build ------------------------------------------------------------------------------

def missing_build_packages(which: Callable[[str], str | None] = shutil.which,
                           include: Path = Path("/usr/include")) -> list[str]:
    """The Debian packages of the build tools and headers missing on this host."""
    missing = [pkg for tool, pkg in BUILD_TOOLS if not which(tool)]
    missing += [pkg for header, pkg in BUILD_HEADERS if not (include / header).is_file()]
    return list(dict.fromkeys(missing))


def check_build_tools() -> None:
    """A ToolError naming the ``apt-get install`` line when a build tool is missing."""
    missing = missing_build_packages()
    if missing:
        raise ToolError(f"building crash needs packages that are not installed: "
                        f"{', '.join(missing)}", phase="setup",
                        advice=f"apt-get install --no-install-recommends {' '.join(missing)} "
                               "(as root; the set-up script installs them)")


def make_command(target: str, jobs: int | None = None) -> list[str]:
    """The make command line of a build for ``target`` (``ARM64``)."""
    jobs = jobs or os.cpu_count() or 1
    return ["make", f"-j{jobs}", f"target={target}", *MAKE_GOALS]


def build_environment(home: Path) -> dict[str, str]:
    """The build's whole environment: no user MAKEFLAGS, CFLAGS, CC, locale or start-up
    files; HOME and TMPDIR inside the build folder."""
    tmp = home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return {"PATH": _BUILD_PATH, "LANG": "C", "LC_ALL": "C", "HOME": str(home),
            "TMPDIR": str(tmp)}


def unpack(tarball: Path, dest: Path) -> Path:
    """Unpack crash's orig tarball into ``dest``; the source folder (``crash-8.0.6``)."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tarball) as tar:
            tar.extractall(dest, filter="data")  # no absolute paths, links out, devices
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ToolError(f"cannot unpack {tarball.name}: {exc}", phase="setup",
                        advice="check free space in the cache (the build needs ~800 MB), "
                               "then run `pytest-kdump setup-crash --arch ... --force`") from None
    trees = [p for p in dest.iterdir() if p.is_dir() and (p / "Makefile").is_file()]
    if len(trees) != 1:
        raise ToolError(f"{tarball.name} holds no single crash source folder", phase="setup",
                        advice="report it to pytest-kdump: Debian's source package changed")
    # crash's makefile downloads gdb with wget when its tarball is missing: never here
    if not list(trees[0].glob("gdb-*.tar.gz")):
        raise ToolError(f"{tarball.name} bundles no gdb source (gdb-*.tar.gz): the build "
                        "would download it", phase="setup",
                        advice="report it to pytest-kdump: Debian's source package changed")
    return trees[0]


def strip(binary: Path) -> bool:
    """Strip the built binary as Debian does (~100 MB to ~11 MB); False when ``strip``
    is missing or fails (the binary works as it is)."""
    if shutil.which("strip") is None:
        return False
    try:
        proc = subprocess.run(["strip", "--strip-unneeded", str(binary)], capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def _tail_lines(log: Path, size: int) -> list[str]:
    """The lines of the last ``size`` bytes of ``log`` (none if it cannot be read)."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return f.read().decode(errors="replace").splitlines()
    except OSError:
        return []


def _last_step(log: Path) -> str:
    """What the build is doing: the last step its log names (a compiler warning's lines in
    between are passed over), else its last line."""
    lines = [x.strip() for x in _tail_lines(log, 4096) if x.strip()]
    for line in reversed(lines):
        if m := re.match(r"(CXX|CC|CCLD|CXXLD|AR|GEN|YACC|LEX)\s+(\S+)", line):
            return f"{m[1]} {m[2]}"
        if m := re.search(r"\s-o\s+(\S+)", line):
            return f"building {m[1]}"
    return lines[-1][:100] if lines else ""


def _log_excerpt(log: Path) -> str:
    """The first error line of the log's end, else its last step."""
    errors = [x.strip() for x in _tail_lines(log, 65536)
              if re.search(r"\berror\b|No such file|not found", x)]
    return (errors[0] if errors else _last_step(log))[:300]


def run_make(argv: list[str], tree: Path, log: Path, timeout: float, *, what: str = "crash",
             home: Path, every: float = PROGRESS_EVERY) -> None:
    """Run ``argv`` in ``tree`` (its own process group, the clean environment of
    :func:`build_environment` with ``home``, output to ``log``) for at most ``timeout``
    seconds, logging progress every ``every`` seconds. A failure or a timeout kills the whole
    build and raises a ToolError naming the log."""
    started = time.monotonic()
    deadline = started + timeout
    with open(log, "wb") as out, reaper.own_group(
            argv, name="make", cwd=tree, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, env=build_environment(home)) as proc:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ToolError(f"building {what} did not finish within {timeout:g} s (killed); "
                                f"make log: {log}", phase="setup",
                                advice="the build takes 6-10 minutes on 2 cores: check the "
                                       "host's load and free space, then try again")
            try:
                rc = proc.wait(timeout=min(every, left))
                break
            except subprocess.TimeoutExpired:
                logger.info("building %s: %.0f s, %s", what, time.monotonic() - started,
                            _last_step(log) or "...")
    if rc != 0:
        raise ToolError(f"building {what} failed (make exit {rc}): {_log_excerpt(log)}; "
                        f"make log: {log}", phase="setup",
                        advice=f"read the make log {log}; a missing -dev package shows as a "
                               f"missing header (the build needs: {' '.join(BUILD_PACKAGES)})")


# --- trixie's source package through apt ----------------------------------------------------

class SourceApt:
    """apt for one suite's source packages only: a private configuration (``deb-src`` lines
    for the host's Debian mirrors) in ``cache_dir/apt/<suite>-source``."""

    def __init__(self, cache_dir: Path, suite: str) -> None:
        self.suite = suite
        root = cache_dir / "apt" / f"{suite}-source"
        self.root = root
        try:
            conf = debian.write_apt_config(
                root, "".join(f"deb-src {u} {suite} main\n" for u in debian.system_debian_uris()),
                'Acquire::GzipIndexes "true";\n')  # the index stays compressed (22 MB, not 57)
        except ToolError as e:
            e.phase = "setup"
            raise
        self.env = {"PATH": os.environ.get("PATH", _BUILD_PATH), "LANG": "C", "LC_ALL": "C",
                    "APT_CONFIG": str(conf)}
        for name in ("http_proxy", "https_proxy", "no_proxy"):
            if name in os.environ:
                self.env[name] = os.environ[name]
        if not any((root / "lists").glob("*_Sources*")):
            self.update()

    def update(self) -> None:
        """Download the suite's source index."""
        _run(["apt-get", "update", "-q"], self.env, f"apt-get update ({self.suite} sources)")

    def orig_tarball(self, package: str) -> tuple[str, str, str]:
        """(source version, orig tarball file name, its SHA-256) of apt's candidate."""
        out = _run(["apt-get", "source", "--print-uris", "--only-source", package], self.env,
                   f"apt-get source --print-uris {package} ({self.suite})")
        return parse_print_uris(out, package)

    def download(self, package: str, version: str, name: str, sha256: str,
                 dest: Path) -> Path:
        """Download the orig tarball ``name`` into ``dest`` and check its SHA-256."""
        logger.info("downloading %s from %s", name, self.suite)
        _run(["apt-get", "source", "--download-only", "--tar-only", "--only-source", "-q",
              f"{package}={version}"], self.env, f"apt-get source {package}={version}",
             cwd=dest)
        path = dest / name
        if not path.is_file():
            raise ToolError(f"apt-get source gave no {name}", phase="setup",
                            advice=_APT_ADVICE)
        digest = file_sha256(path)
        if digest != sha256:
            raise ToolError(f"{name}: SHA-256 {digest}, {self.suite}'s index says {sha256}",
                            phase="setup", advice="try again later (the mirror may be in the "
                                                  "middle of an update), with --force")
        return path


def parse_print_uris(text: str, package: str) -> tuple[str, str, str]:
    """(version, orig tarball name, SHA-256) from ``apt-get source --print-uris`` output."""
    files = re.findall(r"^'(\S+)' (\S+) (\d+) SHA256:([0-9a-f]{64})$", text, re.M)
    dsc = next((name for _, name, _, _ in files if name.endswith(".dsc")), None)
    orig = next(((name, digest) for _, name, _, digest in files
                 if re.fullmatch(rf"{re.escape(package)}_[^_]+\.orig\.tar\.\w+", name)), None)
    if dsc is None or orig is None:
        raise ToolError(f"apt names no .dsc and orig tarball of {package}: "
                        f"{text.strip()[-400:]!r}", phase="setup", advice=_APT_ADVICE)
    return dsc[len(package) + 1:-len(".dsc")], orig[0], orig[1]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _run(argv: list[str], env: dict[str, str], what: str, cwd: Path | None = None,
         timeout: float = APT_TIMEOUT) -> str:
    """Run an apt command (its own process group, killed on a timeout); its stdout."""
    if shutil.which(argv[0]) is None:
        raise ToolError(f"{argv[0]} not found", phase="setup",
                        advice="this needs a Debian host with apt")
    with reaper.own_group(argv, name=argv[0], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolError(f"{what} did not finish within {timeout:g} s (killed)",
                            phase="setup", advice=_APT_ADVICE) from None
    if proc.returncode != 0:
        raise ToolError(f"{what} failed (exit {proc.returncode}): {err.strip()[-800:]}",
                        phase="setup", advice=_APT_ADVICE)
    return out

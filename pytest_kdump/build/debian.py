"""Debian packages, downloaded and unpacked, never installed.

The host's apt answers for its own release and architecture; :class:`Apt` with ``suite`` or
``arch`` set runs apt with a private configuration (own sources, state and cache) so that
packages of another release (trixie's crash) or architecture (arm64) can be fetched the same way.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pytest_kdump import reaper
from pytest_kdump.arch import host_arch
from pytest_kdump.errors import ToolError

_ADVICE = ("run the set-up script (it runs 'apt-get update'), or check that Debian's mirror is "
           "reachable")


@dataclass(frozen=True)
class Package:
    """A package resolved to the exact version apt would download."""

    name: str
    version: str
    arch: str

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.arch}.deb"


def _run(cmd: list[str], env: dict[str, str] | None = None, what: str = "",
         phase: str = "image") -> str:
    if shutil.which(cmd[0]) is None:
        raise ToolError(f"{cmd[0]} not found", phase=phase,
                        advice="this needs a Debian host with apt")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise ToolError(
            f"{what or ' '.join(cmd)} failed (exit {proc.returncode}): "
            f"{proc.stderr.strip()[-800:]}",
            phase=phase,
            advice=_ADVICE,
        )
    return proc.stdout


def system_debian_uris() -> list[str]:
    """The Debian archive URIs of the host's apt sources (not security or third-party ones)."""
    uris: list[str] = []
    files = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for path in files:
        if not path.is_file() or not path.name.endswith((".list", ".sources")):
            continue
        for line in path.read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("URIs:"):
                found = line.split()[1:]
            elif line.startswith("deb "):
                found = [w for w in line.split()[1:] if "://" in w][:1]
            else:
                continue
            uris += [u for u in found if "debian" in u and "security" not in u and u not in uris]
    return uris


def write_apt_config(root: Path, sources: str, extra: str = "") -> Path:
    """A private apt configuration in ``root`` (its own sources list, state, cache and parts:
    nothing of the host's apt but its keyring), with ``extra`` settings; its apt.conf."""
    if not sources:
        raise ToolError("no Debian archive found in the host's apt sources", phase="image",
                        advice="add a Debian mirror to /etc/apt/sources.list")
    for sub in ("lists/partial", "archives/partial", "etc/preferences.d", "etc/apt.conf.d"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "etc/sources.list").write_text(sources)
    (root / "status").touch()
    conf = root / "apt.conf"
    conf.write_text(
        extra +
        f'Dir::State "{root}";\nDir::State::Lists "{root}/lists";\n'
        f'Dir::State::status "{root}/status";\nDir::Cache "{root}";\n'
        f'Dir::Cache::archives "{root}/archives";\n'
        f'Dir::Etc::sourcelist "{root}/etc/sources.list";\nDir::Etc::sourceparts "-";\n'
        f'Dir::Etc::preferencesparts "{root}/etc/preferences.d";\n'
        f'Dir::Etc::parts "{root}/etc/apt.conf.d";\n'
        'Acquire::Languages "none";\nAPT::Sandbox::User "root";\n'
    )
    return conf


class Apt:
    """apt-cache / apt-get download for one (suite, arch); the host's when both are None."""

    def __init__(self, cache_dir: Path, suite: str | None = None, arch: str | None = None) -> None:
        self.cache_dir = cache_dir
        self.suite = suite
        self.arch = arch or host_deb_arch()
        self._env: dict[str, str] | None = None
        if suite is not None or self.arch != host_deb_arch():
            self._env = self._private_config(suite or host_suite())

    def _private_config(self, suite: str) -> dict[str, str]:
        root = self.cache_dir / "apt" / f"{suite}-{self.arch}"
        uris = system_debian_uris()
        conf = write_apt_config(
            root, "".join(f"deb [arch={self.arch}] {u} {suite} main\n" for u in uris),
            f'APT::Architecture "{self.arch}";\nAPT::Architectures {{ "{self.arch}"; }};\n')
        env = dict(os.environ, APT_CONFIG=str(conf))
        if not any((root / "lists").glob("*_Packages")):
            _run(["apt-get", "update", "-q"], env, f"apt-get update for {suite}/{self.arch}")
        return env

    def update(self) -> None:
        """Refresh a private configuration's package lists (the host's is the set-up's job)."""
        if self._env is not None:
            _run(["apt-get", "update", "-q"], self._env, "apt-get update")

    def resolve(self, names: list[str]) -> dict[str, Package]:
        """The candidate version of each package; a missing one is a clear error."""
        out = _run(["apt-cache", "policy", *names], self._env, "apt-cache policy")
        found: dict[str, Package] = {}
        current = None
        for line in out.splitlines():
            if line and not line.startswith(" "):
                current = line.rstrip(":").split(":")[0]
            elif current and line.strip().startswith("Candidate:"):
                version = line.split(":", 1)[1].strip()
                if version and version != "(none)":
                    found[current] = Package(current, version, self._arch_of(current))
        missing = [n for n in names if n.split(":")[0] not in found]
        if missing:
            raise ToolError(f"package(s) not found by apt: {', '.join(missing)}", phase="image",
                            advice=_ADVICE)
        return found

    def _arch_of(self, name: str) -> str:
        return "all" if name.endswith(("-doc", "-common")) else self.arch

    def depends_many(self, names: list[str]) -> dict[str, list[str]]:
        """Direct Depends/Pre-Depends of each package (first alternative of each; virtual
        packages, shown as <name>, are left out)."""
        out = _run(["apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts",
                    "--no-breaks", "--no-replaces", "--no-enhances", *names], self._env)
        deps: dict[str, list[str]] = {}
        current: list[str] = []
        alternative = False
        for line in out.splitlines():
            if line and not line.startswith(" "):
                current = deps.setdefault(line.strip().split(":")[0], [])
                alternative = False
                continue
            m = re.match(r"\s+(\|)?(Pre)?Depends: (\S+)", line)
            if m:
                if not alternative and not m.group(3).startswith("<"):
                    current.append(m.group(3).split(":")[0])
                alternative = m.group(1) == "|"
        return deps

    def depends(self, name: str) -> list[str]:
        """Direct Depends/Pre-Depends of one package."""
        return self.depends_many([name]).get(name, [])

    def library_closure(self, roots: list[str]) -> list[str]:
        """``roots`` plus the library packages they depend on, recursively (one apt-cache
        call per level)."""
        seen: list[str] = []
        level = list(dict.fromkeys(roots))
        while level:
            seen += level
            found = self.depends_many(level)
            level = list(dict.fromkeys(
                d for name in level for d in found.get(name, [])
                if re.match(r"(lib|zlib)", d) and d not in seen))
        return seen

    def download(self, packages: list[Package], dest: Path) -> list[Path]:
        """Download the packages (those not already in ``dest``), printing progress."""
        dest.mkdir(parents=True, exist_ok=True)
        todo = [p for p in packages if not (dest / p.filename).exists()]
        if todo:
            names = ", ".join(p.name for p in todo)
            print(f"pytest-kdump: downloading {len(todo)} package(s): {names}", file=sys.stderr)
            tmp = dest / "partial"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            proc = subprocess.run(
                ["apt-get", "download", "-q", *[f"{p.name}={p.version}" for p in todo]],
                cwd=tmp, env=self._env, capture_output=True, text=True,
            )
            for line in proc.stdout.splitlines():
                if line.startswith(("Get:", "Fetched")):
                    print(f"  {line}", file=sys.stderr)
            if proc.returncode != 0:
                raise ToolError(f"apt-get download failed: {proc.stderr.strip()[-800:]}",
                                phase="image", advice=_ADVICE)
            for p in todo:
                got = list(tmp.glob(f"{p.name}_*.deb"))
                if not got:
                    raise ToolError(f"apt-get download gave no file for {p.name}", phase="image",
                                    advice=_ADVICE)
                got[0].rename(dest / p.filename)
        return [dest / p.filename for p in packages]


EXTRACT_TIMEOUT = 900.0
"""Seconds an unpacking may take (the x86_64 debug kernel package takes 10-15 s)."""


def extract(deb: Path, dest: Path, members: list[str] | None = None, *,
            timeout: float = EXTRACT_TIMEOUT, phase: str = "image") -> None:
    """Unpack a .deb's files (or only ``members``, tar paths like ``./usr/bin/x``) into dest.

    Bounded by ``timeout`` seconds; on a timeout or a failure every process of the unpacking
    is killed and a ToolError names the package and the step that failed.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if members:
        steps = [["dpkg-deb", "--fsys-tarfile", str(deb)],
                 ["tar", "-x", "-C", str(dest), "--", *members]]
    else:
        steps = [["dpkg-deb", "-x", str(deb), str(dest)]]
    what = ", ".join(members) if members else "the files"
    for argv in steps:
        if shutil.which(argv[0]) is None:
            raise ToolError(f"{argv[0]} not found (needed to unpack {deb.name})", phase=phase,
                            advice="this needs a Debian host with dpkg and tar")
    with contextlib.ExitStack() as stack:
        errs = [stack.enter_context(tempfile.TemporaryFile()) for _ in steps]
        procs, late = _pipeline(steps, errs, time.monotonic() + timeout)
        if late:
            running = " and ".join(" ".join(steps[i][:2]) for i in late)
            raise ToolError(
                f"unpacking {what} of {deb.name} did not finish within {timeout:g} s "
                f"({running} still running, killed)", phase=phase,
                advice=f"check the host's disk (slow or full), or delete {deb} (it may be "
                       "damaged or on a hung file system) and build again")
        failed: dict[int, str] = {}  # step: its error output
        for i, proc in enumerate(procs):
            if proc.returncode != 0:
                errs[i].seek(0)
                failed[i] = errs[i].read().decode(errors="replace").strip()[-800:]
        # blame the first step that failed on its own: a writer that got SIGPIPE (dpkg-deb
        # says "Broken pipe") only saw its reader end early
        broken = {i for i, text in failed.items()
                  if procs[i].returncode == -signal.SIGPIPE or "Broken pipe" in text}
        blamed = min(set(failed) - broken, default=min(failed, default=None))
        if blamed is not None:
            rc = procs[blamed].returncode
            raise ToolError(
                f"cannot unpack {what} of {deb.name}: {' '.join(steps[blamed][:2])} failed "
                f"({_status(rc)}): {failed[blamed] or 'no error output'}", phase=phase,
                advice=f"check free space and the file size limit (ulimit -f) in {dest}, or "
                       f"delete {deb} (it may be damaged) and build again (--force)")


def _status(rc: int) -> str:
    """``exit 2`` or ``killed by SIGXFSZ``, from a Popen returncode."""
    if rc >= 0:
        return f"exit {rc}"
    try:
        return f"killed by {signal.Signals(-rc).name}"
    except ValueError:
        return f"killed by signal {-rc}"


def _pipeline(steps: list[list[str]], errs: list[IO[bytes]],
              deadline: float) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    """Run ``steps`` as a shell pipeline (each one's stdout into the next one's stdin, the
    last one's to /dev/null, stderr to ``errs``) until ``deadline``; return the processes
    and the indexes of the steps still running at the deadline (killed). Whatever happens,
    no process is left running."""
    procs: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as stack:  # on the way out: each step's group killed, reaped
        stdin: IO[bytes] | int = subprocess.DEVNULL
        for argv, err in zip(steps, errs, strict=True):
            last = argv is steps[-1]
            # own process group: dpkg-deb forks decompressors, killed along with it
            procs.append(stack.enter_context(reaper.own_group(
                argv, name=argv[0], stdin=stdin, stderr=err,
                stdout=subprocess.DEVNULL if last else subprocess.PIPE)))
            if not isinstance(stdin, int):
                # close the parent's copy of the pipe: when the reader ends early, the writer
                # gets SIGPIPE instead of blocking forever on a full pipe
                stdin.close()
            stdin = procs[-1].stdout or subprocess.DEVNULL
        try:
            for proc in reversed(procs):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return procs, [i for i, proc in enumerate(procs) if proc.poll() is None]
        return procs, []


def host_deb_arch() -> str:
    """The host's Debian architecture (``amd64``): dpkg's, else from ``uname -m``."""
    try:
        return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        arch = host_arch()
        return arch.deb_arch if arch else os.uname().machine


def host_suite() -> str:
    info = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    m = re.search(r"^VERSION_CODENAME=(\S+)", info, re.M)
    return m.group(1) if m else "bookworm"

"""Debian packages, downloaded and unpacked, never installed.

The host's apt answers for its own release and architecture; :class:`Apt` with ``suite`` or
``arch`` set runs apt with a private configuration (own sources, state and cache) so that
packages of another release (trixie's crash) or architecture (arm64) can be fetched the same way.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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
        for sub in ("lists/partial", "archives/partial", "etc/preferences.d", "etc/apt.conf.d"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        uris = system_debian_uris()
        if not uris:
            raise ToolError("no Debian archive found in the host's apt sources", phase="image",
                            advice="add a Debian mirror to /etc/apt/sources.list")
        (root / "etc/sources.list").write_text(
            "".join(f"deb [arch={self.arch}] {u} {suite} main\n" for u in uris)
        )
        (root / "status").touch()
        conf = root / "apt.conf"
        conf.write_text(
            f'APT::Architecture "{self.arch}";\nAPT::Architectures {{ "{self.arch}"; }};\n'
            f'Dir::State "{root}";\nDir::State::Lists "{root}/lists";\n'
            f'Dir::State::status "{root}/status";\nDir::Cache "{root}";\n'
            f'Dir::Cache::archives "{root}/archives";\n'
            f'Dir::Etc::sourcelist "{root}/etc/sources.list";\nDir::Etc::sourceparts "-";\n'
            f'Dir::Etc::preferencesparts "{root}/etc/preferences.d";\n'
            f'Dir::Etc::parts "{root}/etc/apt.conf.d";\n'
            'Acquire::Languages "none";\nAPT::Sandbox::User "root";\n'
        )
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


def extract(deb: Path, dest: Path, members: list[str] | None = None) -> None:
    """Unpack a .deb's files (or only ``members``, tar paths like ``./usr/bin/x``) into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    if not members:
        _run(["dpkg-deb", "-x", str(deb), str(dest)], what=f"dpkg-deb -x {deb.name}")
        return
    fsys = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    tar = subprocess.run(["tar", "-x", "-C", str(dest), *members], stdin=fsys.stdout,
                         capture_output=True, text=True)
    fsys.wait()
    if tar.returncode != 0 or fsys.returncode != 0:
        raise ToolError(f"cannot extract {members} from {deb.name}: {tar.stderr.strip()[-500:]}",
                        phase="image", advice="delete the cached .deb and build again (--force)")


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

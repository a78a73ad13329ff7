"""Tests of pytest_kdump.analysis.crash.cross without network or a real build: apt's answer
parsed, the build tools checked, make run bounded and clean, and the whole install flow with a
small fake crash source tree (a real make on a tiny Makefile, ~1 s)."""

from __future__ import annotations

import io
import json
import logging
import os
import tarfile
import threading
import time
from pathlib import Path

import pytest

from pytest_kdump.analysis.crash import cross
from pytest_kdump.analysis.crash import tool as tool_mod
from pytest_kdump.errors import ToolError

# `apt-get source --print-uris --only-source crash` for trixie on 2026-12-06 (deb.debian.org)
PRINT_URIS = """Reading package lists...
Need to get 41.3 MB of source archives.
'http://deb.debian.org/debian/pool/main/c/crash/crash_8.0.6-1.dsc' crash_8.0.6-1.dsc 1948 SHA256:e7f39795cb620a45737f5ee4b285c158c0c3488239fd8c9b84d91d2819f436ae
'http://deb.debian.org/debian/pool/main/c/crash/crash_8.0.6.orig.tar.gz' crash_8.0.6.orig.tar.gz 41189968 SHA256:097c6c94ded7e24db4af58de24744bd28276d6f5bae0828bc6b6a02664c4282a
'http://deb.debian.org/debian/pool/main/c/crash/crash_8.0.6-1.debian.tar.xz' crash_8.0.6-1.debian.tar.xz 153312 SHA256:d397f7001b2728f79b66edd4dd675a6d7d0fc7b1b4007d9971cf454277276cc1
"""  # noqa: E501


def test_parse_print_uris() -> None:
    assert cross.parse_print_uris(PRINT_URIS, "crash") == (
        "8.0.6-1", "crash_8.0.6.orig.tar.gz",
        "097c6c94ded7e24db4af58de24744bd28276d6f5bae0828bc6b6a02664c4282a")


@pytest.mark.parametrize("text", ["", "E: Unable to find a source package for crash\n",
                                  PRINT_URIS.replace("orig.tar.gz", "tar.gz")])
def test_parse_print_uris_without_tarball(text: str) -> None:
    with pytest.raises(ToolError, match="apt names no .dsc and orig tarball of crash") as exc:
        cross.parse_print_uris(text, "crash")
    assert exc.value.phase == "setup" and exc.value.advice


def test_target_for_host() -> None:
    assert cross.target_for("aarch64", host="x86_64") == "ARM64"
    with pytest.raises(ToolError, match="cannot build crash for x86_64 dumps on a aarch64"):
        cross.target_for("x86_64", host="aarch64")
    with pytest.raises(ToolError) as exc:
        cross.target_for("x86_64", host="x86_64")  # the host's own: install_crash's job
    assert "aarch64" in exc.value.advice and "drgn" in exc.value.advice


# --- build tools and environment ------------------------------------------------------------

def test_missing_build_packages(tmp_path: Path) -> None:
    for header in ("zlib.h", "ncurses.h", "lzo/lzo1x.h", "snappy-c.h"):
        (tmp_path / header).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / header).touch()
    present = {"make", "gcc", "g++", "flex", "patch"}
    missing = cross.missing_build_packages(lambda t: t if t in present else None, tmp_path)
    assert missing == ["bison", "texinfo", "libzstd-dev"]
    assert set(cross.BUILD_PACKAGES) >= {"bison", "flex", "texinfo", "libzstd-dev", "make"}


def test_missing_build_tool_names_the_apt_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cross, "missing_build_packages", lambda: ["bison", "texinfo"])
    with pytest.raises(ToolError) as exc:
        cross.check_build_tools()
    assert exc.value.phase == "setup" and "bison, texinfo" in exc.value.message
    assert "apt-get install --no-install-recommends bison texinfo" in exc.value.advice


def test_make_command() -> None:
    assert cross.make_command("ARM64", jobs=2) == ["make", "-j2", "target=ARM64", "lzo",
                                                   "snappy", "zstd"]


def test_build_environment_is_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("MAKEFLAGS", "-j64 -k"), ("CFLAGS", "-O0"), ("LANG", "de_DE.UTF-8"),
                        ("CC", "clang")):
        monkeypatch.setenv(name, value)
    env = cross.build_environment(tmp_path)
    assert set(env) == {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR"}
    assert (env["LANG"], env["LC_ALL"], env["HOME"]) == ("C", "C", str(tmp_path))
    assert Path(env["TMPDIR"]).is_dir() and Path(env["TMPDIR"]).is_relative_to(tmp_path)


# --- make, bounded ----------------------------------------------------------------------------

def test_run_make_clean_env_and_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("MAKEFLAGS", "-j64")
    log = tmp_path / "make.log"
    script = "env; echo '  CXX    dwarf2/read.o'; sleep 0.5"
    with caplog.at_level(logging.INFO, logger="pytest_kdump"):
        cross.run_make(["sh", "-c", script], tmp_path, log, 30, home=tmp_path, every=0.1)
    text = log.read_text()
    assert "MAKEFLAGS" not in text and "LANG=C" in text and f"HOME={tmp_path}" in text
    progress = [r.getMessage() for r in caplog.records]
    assert progress and progress[-1].startswith("building crash: ")
    assert progress[-1].endswith(" s, CXX dwarf2/read.o")


def test_run_make_failure_names_the_error_and_log(tmp_path: Path) -> None:
    log = tmp_path / "make.log"
    script = ("echo 'gcc -c diskdump.c'; "
              "echo 'diskdump.c:31:10: fatal error: zstd.h: No such file or directory'; "
              "echo 'make[1]: *** [Makefile:12: diskdump.o] Error 1'; exit 2")
    with pytest.raises(ToolError) as exc:
        cross.run_make(["sh", "-c", script], tmp_path, log, 30, what="crash 8.0.6",
                       home=tmp_path)
    err = exc.value
    assert err.message.startswith("building crash 8.0.6 failed (make exit 2): diskdump.c:31:10:"
                                  " fatal error: zstd.h: No such file or directory")
    assert f"make log: {log}" in err.message and str(log) in err.advice
    assert "libzstd-dev" in err.advice and log.is_file()


def test_run_make_timeout_kills_the_whole_build(tmp_path: Path) -> None:
    log = tmp_path / "make.log"
    pid_file = tmp_path / "child.pid"
    # a child of make's that ignores nothing special: it must die with the group
    script = f"sleep 60 & echo $! > {pid_file}; wait"
    started = time.monotonic()
    with pytest.raises(ToolError, match=r"did not finish within 0.5 s \(killed\); make log"):
        cross.run_make(["sh", "-c", script], tmp_path, log, 0.5, home=tmp_path, every=0.2)
    assert time.monotonic() - started < 15
    child = int(pid_file.read_text())
    for _ in range(50):  # reaped by init: gone after a short while
        if not Path(f"/proc/{child}").exists() or "Z" in _state(child):
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{child}").exists() or "Z" in _state(child)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


# --- unpacking ------------------------------------------------------------------------------

def _tarball(path: Path, files: dict[str, bytes], mode: int = 0o644) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return path


def test_unpack(tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "crash_8.0.6.orig.tar.gz",
                       {"crash-8.0.6/Makefile": b"all:\n", "crash-8.0.6/gdb-10.2.tar.gz": b"x"})
    assert cross.unpack(tarball, tmp_path / "src") == tmp_path / "src" / "crash-8.0.6"


def test_unpack_without_gdb_or_unsafe(tmp_path: Path) -> None:
    no_gdb = _tarball(tmp_path / "a.tar.gz", {"crash-8.0.6/Makefile": b"all:\n"})
    with pytest.raises(ToolError, match="bundles no gdb source .* would download it"):
        cross.unpack(no_gdb, tmp_path / "a")
    escape = _tarball(tmp_path / "b.tar.gz", {"../outside": b"x"})
    with pytest.raises(ToolError, match="cannot unpack b.tar.gz"):
        cross.unpack(escape, tmp_path / "b")
    assert not (tmp_path / "outside").exists()


# --- the install flow with a fake source tree -----------------------------------------------

# A stand-in for crash's makefile: `make -jN target=ARM64 lzo snappy zstd` builds ./crash,
# counting builds in BUILDS (outside the tree) and failing when FAIL exists.
FAKE_MAKEFILE = b"""\
lzo snappy zstd: all
all:
\t@test "$(target)" = ARM64
\t@echo "  CC     main.o"
\t@if [ -e $(STATE)/FAIL ]; then echo 'main.c:1: error: it broke'; exit 1; fi
\t@echo build >> $(STATE)/BUILDS
\t@printf '#!/bin/sh\\necho\\necho "crash 8.0.6"\\n' > crash
\t@chmod +x crash
"""


class FakeSourceApt:
    """SourceApt's answers without apt: the tarball is written by download()."""

    def __init__(self, cache_dir: Path, suite: str) -> None:
        self.state = cache_dir.parent

    def update(self) -> None:
        raise AssertionError("no update without --force")

    def orig_tarball(self, package: str) -> tuple[str, str, str]:
        return "8.0.6-1", "crash_8.0.6.orig.tar.gz", "0" * 64

    def download(self, package: str, version: str, name: str, sha256: str,
                 dest: Path) -> Path:
        makefile = FAKE_MAKEFILE.replace(b"$(STATE)", str(self.state).encode())
        return _tarball(dest / name, {"crash-8.0.6/Makefile": makefile,
                                      "crash-8.0.6/gdb-10.2.tar.gz": b"gdb"})


@pytest.fixture
def fake_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder whose cross builds use the fake source tree (``tmp_path/cache``)."""
    monkeypatch.setattr(cross, "SourceApt", FakeSourceApt)
    monkeypatch.setattr(cross, "check_build_tools", lambda: None)
    monkeypatch.setattr(cross, "TARGETS", {os.uname().machine: {"aarch64": "ARM64"}})
    return tmp_path / "cache"


def test_install_builds_once_and_keeps_only_the_binary(fake_build: Path) -> None:
    cache = fake_build
    tool = cross.install_cross_crash(cache, "aarch64")
    base = cache / "crash-cross" / "aarch64"
    folder = base / "8.0.6-1"
    assert tool == tool_mod.CrashTool(
        argv=(str(folder / "bin" / "crash"),), version="8.0.6", arch="aarch64",
        source="cache (built from trixie 8.0.6-1 for aarch64 dumps)")
    assert sorted(p.name for p in folder.iterdir()) == ["bin", "stamp.json"]
    assert sorted(p.name for p in base.iterdir()) == [".lock", "8.0.6-1", "current"]
    stamp = json.loads((folder / "stamp.json").read_text())
    assert (stamp["arch"], stamp["target"], stamp["source_version"]) == (
        "aarch64", "ARM64", "8.0.6-1")
    assert stamp["make"].endswith("target=ARM64 lzo snappy zstd")
    assert stamp["build_seconds"] >= 0
    assert cross.install_cross_crash(cache, "aarch64") == tool  # no second build
    assert tool_mod.installed_crash(cache, "aarch64") == tool
    assert (cache.parent / "BUILDS").read_text() == "build\n"


def test_failed_build_keeps_the_log_and_nothing_else(fake_build: Path) -> None:
    cache = fake_build
    (cache.parent / "FAIL").touch()
    with pytest.raises(ToolError) as exc:
        cross.install_cross_crash(cache, "aarch64")
    base = cache / "crash-cross" / "aarch64"
    log = base / "make-8.0.6-1.log"
    assert "main.c:1: error: it broke" in exc.value.message and str(log) in exc.value.message
    assert sorted(p.name for p in base.iterdir()) == [".lock", log.name]
    assert cross.installed_cross_crash(cache, "aarch64") is None
    (cache.parent / "FAIL").unlink()
    cross.install_cross_crash(cache, "aarch64")
    assert not log.exists()  # a successful build drops the old failure's log


def test_leftover_of_a_killed_build_is_removed(fake_build: Path) -> None:
    base = fake_build / "crash-cross" / "aarch64"
    leftover = base / ".8.0.6-1.tmp-99999" / "src"
    leftover.mkdir(parents=True)
    cross.install_cross_crash(fake_build, "aarch64")
    assert not leftover.parent.exists()


def test_concurrent_callers_build_once(fake_build: Path) -> None:
    results: list[tool_mod.CrashTool] = []
    threads = [threading.Thread(target=lambda: results.append(
        cross.install_cross_crash(fake_build, "aarch64"))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2 and results[0] == results[1]
    assert (fake_build.parent / "BUILDS").read_text() == "build\n"


def test_stale_source_index_is_refreshed_once(fake_build: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    class StaleOnce(FakeSourceApt):
        def update(self) -> None:
            calls.append("update")

        def download(self, package: str, version: str, name: str, sha256: str,
                     dest: Path) -> Path:
            calls.append("download")
            if calls == ["download"]:
                raise ToolError("apt-get source failed: 404  Not Found")
            return super().download(package, version, name, sha256, dest)

    monkeypatch.setattr(cross, "SourceApt", StaleOnce)
    assert cross.install_cross_crash(fake_build, "aarch64").arch == "aarch64"
    assert calls == ["download", "update", "download"]


def test_source_apt_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private apt for trixie's sources only (an index already there: no apt runs)."""
    monkeypatch.setattr(cross.debian, "system_debian_uris",
                        lambda: ["http://deb.debian.org/debian"])
    root = tmp_path / "apt" / "trixie-source"
    (root / "lists").mkdir(parents=True)
    (root / "lists" / "deb.debian.org_debian_dists_trixie_main_source_Sources.lz4").touch()
    apt = cross.SourceApt(tmp_path, "trixie")
    assert (root / "etc/sources.list").read_text() == (
        "deb-src http://deb.debian.org/debian trixie main\n")
    conf = (root / "apt.conf").read_text()
    assert f'Dir::State::Lists "{root}/lists";' in conf and 'Dir::Etc::sourceparts "-";' in conf
    assert apt.env["APT_CONFIG"] == str(root / "apt.conf") and apt.env["LANG"] == "C"


def test_progress_names_the_last_step_past_a_warning(tmp_path: Path) -> None:
    """Lines of the crash build's real log: a warning's caret line is not a step."""
    log = tmp_path / "make.log"
    log.write_text("  CXX    p-lang.o\n"
                   "../../gdb/p-lang.c:12:5: warning: unused variable 'x'\n"
                   "   12 |     int x;\n"
                   "      |     ^~~~~~~~~~\n")
    assert cross._last_step(log) == "CXX p-lang.o"
    log.write_text("checking for struct winsize in sys/ioctl.h and termios.h...\n")
    assert cross._last_step(log) == "checking for struct winsize in sys/ioctl.h and termios.h..."
    assert cross._last_step(tmp_path / "none") == ""

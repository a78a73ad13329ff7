"""Tests of pytest_kdump.analysis.crash.tool: version parsing and the known-problem table
(fast), choosing a crash (fake ones), and one real install of trixie's crash into a
temporary cache (~5 s)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_kdump.analysis.crash import tool as tool_mod
from pytest_kdump.errors import ConfigError, ToolError
from tests.unit.test_vmcore import VMLINUX_ARM64, VMLINUX_X86_64, kdump_of

VERSION_OUTPUT = """
crash 8.0.6
Copyright (C) 2002-2025  Red Hat, Inc.

GNU gdb (GDB) 10.2
"""


# --- version parsing ------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    (VERSION_OUTPUT, "8.0.6"),
    ("\ncrash 8.0.2\n", "8.0.2"),
    ("crash 9.0.0++\n", "9.0.0"),
    ("crash 8.0.3-alt1\n", "8.0.3"),
    ("crash 7.3.0\nGNU gdb (GDB) 10.2\n", "7.3.0"),
])
def test_parse_crash_version(text: str, expected: str) -> None:
    assert tool_mod.parse_crash_version(text) == expected


@pytest.mark.parametrize("text", ["", "GNU gdb (GDB) 10.2\n", "crash: command not found\n"])
def test_parse_crash_version_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        tool_mod.parse_crash_version(text)


@pytest.mark.parametrize("release, expected", [
    ("6.1.0-56-cloud-amd64", (6, 1, 112)),        # Debian ABI 56 >= 26: at least 6.1.112
    ("6.1.0-26-amd64", (6, 1, 112)),
    ("6.1.0-25-amd64", (6, 1, 0)),                # 6.1.106: only known to be 6.1.x
    ("6.1.0-13-arm64", (6, 1, 0)),
    ("#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)", (6, 1, 192)),
    ("6.12.48+deb13-amd64", (6, 12, 48)),
    ("6.5.11", (6, 5, 11)),
    ("6.5", (6, 5, 0)),
    ("5.10.0-30-amd64", (5, 10, 0)),
    ("not a kernel", None),
])
def test_kernel_version(release: str, expected: tuple[int, int, int] | None) -> None:
    assert tool_mod.kernel_version(release) == expected


# --- known problems -------------------------------------------------------------------------

def test_bookworm_crash_on_current_debian_61_kernel_warns() -> None:
    text = tool_mod.known_problem("8.0.2", "6.1.0-56-cloud-amd64")
    assert text is not None
    assert "not found in PID hash" in text and "crash >= 8.0.4" in text
    assert "maple tree" in text          # 8.0.2 also predates maple tree support
    assert "setup-crash" in text


@pytest.mark.parametrize("crash, release", [
    ("8.0.6", "6.1.0-56-cloud-amd64"),
    ("8.0.4", "6.1.0-56-cloud-amd64"),
    ("8.0.2", "5.10.0-30-amd64"),
    ("8.0.2", "6.0.12"),
    ("9.0.0", "6.12.48+deb13-amd64"),
    ("8.0.6", "weird"),
    ("unknown", "6.1.0-56-cloud-amd64"),
])
def test_no_known_problem(crash: str, release: str) -> None:
    assert tool_mod.known_problem(crash, release) is None


def test_early_debian_61_kernel_only_lacks_maple_tree() -> None:
    text = tool_mod.known_problem("8.0.2", "6.1.0-25-amd64")
    assert text is not None and "maple tree" in text
    assert "PID hash" not in text and "crash >= 8.0.3" in text


def test_exact_version_from_uname_v_decides_the_61_backport() -> None:
    assert "PID hash" in tool_mod.known_problem("8.0.3", "Debian 6.1.107-1")
    assert tool_mod.known_problem("8.0.3", "Debian 6.1.106-3") is None


@pytest.mark.parametrize("crash, release, needed", [
    ("8.0.3", "6.5.11", "8.0.4"),
    ("8.0.3", "6.4.0", "8.0.4"),
    ("8.0.4", "6.8.1", "8.0.5"),
    ("8.0.5", "6.10.3", "8.0.6"),
    ("8.0.2", "6.10.3", "8.0.6"),
])
def test_newer_kernels_need_newer_crash(crash: str, release: str, needed: str) -> None:
    text = tool_mod.known_problem(crash, release)
    assert text is not None and f"crash >= {needed}" in text


# --- choosing a crash -----------------------------------------------------------------------

def _fake_crash(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "crash"
    path.write_text(f"#!/bin/sh\necho\necho 'crash {version}'\n")
    path.chmod(0o755)
    return path


def test_explicit_crash(tmp_path: Path) -> None:
    fake = _fake_crash(tmp_path / "bin", "8.0.5")
    tool = tool_mod.find_crash(str(fake), tmp_path / "cache")
    assert tool == tool_mod.CrashTool(argv=(str(fake),), version="8.0.5", source="explicit")


def test_explicit_crash_by_relative_path_runs_from_anywhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_crash(tmp_path / "bin", "8.0.6")
    monkeypatch.chdir(tmp_path)
    tool = tool_mod.find_crash("bin/crash", tmp_path / "cache")
    assert tool.argv == (str(fake),)  # crash processes run in a folder of their own
    argv = tool.command(Path("vmlinux"), Path("dump/vmcore"))
    assert argv == [str(fake), *tool_mod.SESSION_OPTIONS, str(tmp_path / "vmlinux"),
                    str(tmp_path / "dump" / "vmcore")]
    assert "--no_crashrc" in argv


def test_explicit_crash_missing_or_not_executable(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="not found or not executable"):
        tool_mod.find_crash(str(tmp_path / "nope"), tmp_path)
    plain = tmp_path / "plain"
    plain.write_text("#!/bin/sh\n")
    with pytest.raises(ToolError, match="not found or not executable"):
        tool_mod.find_crash(str(plain), tmp_path)


def test_explicit_crash_that_does_not_run(tmp_path: Path) -> None:
    bad = tmp_path / "crash"
    bad.write_text("#!/bin/sh\necho 'error while loading shared libraries' >&2\nexit 127\n")
    bad.chmod(0o755)
    with pytest.raises(ToolError, match="exit 127.*shared libraries"):
        tool_mod.find_crash(str(bad), tmp_path)


def test_crash_on_path_and_none_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dir = tmp_path / "path"
    _fake_crash(fake_dir, "8.0.2")
    monkeypatch.setenv("PATH", str(fake_dir))
    tool = tool_mod.find_crash(None, tmp_path / "cache")
    assert (tool.version, tool.source) == ("8.0.2", "PATH")

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolError) as err:
        tool_mod.find_crash(None, tmp_path / "cache")
    assert "setup-crash" in str(err.value)


def test_incomplete_install_is_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "crash" / "8.0.6-1"
    (folder / "root").mkdir(parents=True)
    (folder / "stamp.json").write_text(json.dumps({"format": tool_mod.STAMP_FORMAT}))
    assert tool_mod.installed_crash(tmp_path) is None


# --- the crash for a dump's architecture ----------------------------------------------------

def _native_install(cache: Path, deb_arch: str = "amd64") -> tool_mod.CrashTool:
    """A complete install folder as install_crash writes it (fake files)."""
    folder = cache / "crash" / "8.0.6-1"
    loader = _file(folder / "root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    _file(folder / "root/usr/bin/crash")
    _file(folder / "bin/crash")
    (folder / "stamp.json").write_text(json.dumps({
        "format": tool_mod.STAMP_FORMAT, "suite": "trixie", "arch": deb_arch,
        "crash_version": "8.0.6", "package_version": "8.0.6-1",
        "loader": str(loader.relative_to(folder / "root")),
        "library_path": ["usr/lib/x86_64-linux-gnu"], "crash": "usr/bin/crash"}))
    (cache / "crash" / "current").symlink_to("8.0.6-1")
    tool = tool_mod.installed_crash(cache)
    assert tool is not None
    return tool


def _cross_build(cache: Path, arch: str = "aarch64") -> Path:
    """A complete build folder as cross.install_cross_crash writes it (a fake binary)."""
    folder = cache / "crash-cross" / arch / "8.0.6-1"
    _fake_crash(folder / "bin", "8.0.6")
    (folder / "stamp.json").write_text(json.dumps({
        "format": 1, "suite": "trixie", "arch": arch, "target": "ARM64",
        "source_version": "8.0.6-1", "crash_version": "8.0.6", "build_seconds": 336.0}))
    return folder / "bin" / "crash"


def _inputs(tmp_path: Path, machine: bytes, vmlinux: bytes = b"") -> tuple[Path, Path]:
    vmlinux_path, vmcore = tmp_path / "vmlinux", tmp_path / "vmcore"
    vmlinux_path.write_bytes(vmlinux or b"no ELF")
    vmcore.write_bytes(kdump_of(machine))
    return vmlinux_path, vmcore


def test_native_install_reads_its_architecture(tmp_path: Path) -> None:
    tool = _native_install(tmp_path)
    assert tool.arch == "x86_64"  # from the stamp's Debian name
    assert tool_mod.installed_crash(tmp_path, "x86_64") == tool
    assert tool_mod.installed_crash(tmp_path, "aarch64") is None


def test_cross_build_is_found_by_architecture(tmp_path: Path) -> None:
    binary = _cross_build(tmp_path)
    assert tool_mod.installed_crash(tmp_path) is None  # not the host's own
    tool = tool_mod.installed_crash(tmp_path, "aarch64")
    assert tool == tool_mod.CrashTool(
        argv=(str(binary),), version="8.0.6", arch="aarch64",
        source="cache (built from trixie 8.0.6-1 for aarch64 dumps)")


def test_arm64_dump_gets_the_cross_crash(tmp_path: Path) -> None:
    native = _native_install(tmp_path)
    binary = _cross_build(tmp_path)
    vmlinux, vmcore = _inputs(tmp_path, b"aarch64", VMLINUX_ARM64)
    for given in (native, None):
        tool = tool_mod.crash_for_dump(given, vmlinux, vmcore, tmp_path)
        assert (tool.argv, tool.arch) == ((str(binary),), "aarch64")
    vmcore.write_bytes(kdump_of(b"x86_64"))
    vmlinux.write_bytes(VMLINUX_X86_64)
    assert tool_mod.crash_for_dump(native, vmlinux, vmcore, tmp_path) == native
    assert tool_mod.crash_for_dump(None, vmlinux, vmcore, tmp_path) == native


def test_arm64_dump_without_cross_crash_names_the_setup(tmp_path: Path) -> None:
    native = _native_install(tmp_path)
    vmlinux, vmcore = _inputs(tmp_path, b"aarch64")
    for given in (native, None):
        with pytest.raises(ToolError) as exc:
            tool_mod.crash_for_dump(given, vmlinux, vmcore, tmp_path)
        assert exc.value.phase == "analysis"
        assert "is the dump of a kernel for aarch64" in exc.value.message
        assert "pytest-kdump setup-crash --arch aarch64" in exc.value.advice
    assert "reads x86_64 dumps only" in str(
        pytest.raises(ToolError, tool_mod.crash_for_dump, native, vmlinux, vmcore,
                      tmp_path).value)


def test_explicit_crash_is_used_for_any_dump(tmp_path: Path) -> None:
    _cross_build(tmp_path)
    explicit = tool_mod.find_crash(str(_fake_crash(tmp_path / "bin", "8.0.6")), tmp_path)
    assert explicit.arch is None
    vmlinux, vmcore = _inputs(tmp_path, b"aarch64")
    assert tool_mod.crash_for_dump(explicit, vmlinux, vmcore, tmp_path) == explicit


def test_dump_of_unknown_architecture_keeps_the_crash(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    native = _native_install(tmp_path / "cache")
    vmlinux, vmcore = _inputs(tmp_path, b"")
    assert tool_mod.crash_for_dump(native, vmlinux, vmcore, tmp_path / "cache") == native
    assert tool_mod.crash_for_dump(None, vmlinux, vmcore, tmp_path / "cache") == native
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolError, match="no crash found"):
        tool_mod.crash_for_dump(None, vmlinux, vmcore, tmp_path / "nothing")


def test_vmlinux_of_another_architecture_fails_before_crash(tmp_path: Path) -> None:
    native = _native_install(tmp_path)
    _cross_build(tmp_path)
    vmlinux, vmcore = _inputs(tmp_path, b"aarch64", VMLINUX_X86_64)
    with pytest.raises(ConfigError, match="is a kernel for x86_64, but .* for aarch64"):
        tool_mod.crash_for_dump(native, vmlinux, vmcore, tmp_path)


# --- the unpacked sysroot -------------------------------------------------------------------

def _file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x7fELF")
    return path


def test_layout_merged_usr_amd64(tmp_path: Path) -> None:
    """trixie's layout: /lib and /lib64 are symlinks into /usr; the lib64 loader is an absolute
    symlink (to the host's loader): the one inside the sysroot is taken."""
    root = tmp_path / "root"
    _file(root / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    _file(root / "usr/bin/crash")
    (root / "usr/lib64").mkdir(parents=True)
    (root / "usr/lib64/ld-linux-x86-64.so.2").symlink_to(
        "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    (root / "lib").symlink_to("usr/lib")
    (root / "lib64").symlink_to("usr/lib64")
    loader, libs, crash = tool_mod._layout(root, "amd64")
    assert loader == "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    assert libs == ["usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib"]
    assert crash == "usr/bin/crash"


def test_layout_arm64_and_unknown_arch(tmp_path: Path) -> None:
    root = tmp_path / "arm64"
    _file(root / "lib/aarch64-linux-gnu/ld-linux-aarch64.so.1")
    _file(root / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")  # not arm64's: ignored
    _file(root / "bin/crash")
    loader, libs, crash = tool_mod._layout(root, "arm64")
    assert (loader, crash) == ("lib/aarch64-linux-gnu/ld-linux-aarch64.so.1", "bin/crash")
    assert libs == ["lib/aarch64-linux-gnu", "usr/lib", "lib"]
    root = tmp_path / "riscv64"  # not in the table: any ld-linux* will do
    _file(root / "lib/ld-linux-riscv64-lp64d.so.1")
    _file(root / "usr/bin/crash")
    assert tool_mod._layout(root, "riscv64")[0] == "lib/ld-linux-riscv64-lp64d.so.1"


def test_layout_without_crash_or_loader(tmp_path: Path) -> None:
    _file(tmp_path / "usr/bin/crash")
    with pytest.raises(ToolError, match="have no loader"):
        tool_mod._layout(tmp_path, "amd64")
    (tmp_path / "usr/bin/crash").unlink()
    _file(tmp_path / "lib64/ld-linux-x86-64.so.2")
    with pytest.raises(ToolError, match="have no crash"):
        tool_mod._layout(tmp_path, "amd64")


def test_too_many_packages_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    names = ["crash", *(f"lib{i}" for i in range(tool_mod._MAX_PACKAGES))]

    class FakeApt:
        def library_closure(self, roots: list[str]) -> list[str]:
            return names

        def resolve(self, wanted: list[str]) -> dict[str, object]:
            return dict.fromkeys(wanted)

        def download(self, packages: list[object], dest: Path) -> list[Path]:
            return [dest / f"{i}.deb" for i in range(len(packages))]

    with caplog.at_level(logging.INFO, logger="pytest_kdump"):
        pkgs, debs = tool_mod._resolve_and_download(FakeApt(), tmp_path)  # type: ignore[arg-type]
    assert len(pkgs) == len(debs) == tool_mod._MAX_PACKAGES + 1
    (record,) = caplog.records
    assert record.name == "pytest_kdump.analysis.crash.tool" and record.levelname == "WARNING"
    assert record.getMessage().startswith("crash pulls 21 packages from trixie: crash, lib0, ")


# --- the real thing -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tool_mod.CrashTool]:
    assert shutil.which("apt-get") and shutil.which("dpkg-deb"), "needs a Debian host with apt"
    cache = tmp_path_factory.mktemp("cache")
    return cache, tool_mod.install_crash(cache)


def test_install_runs_trixie_crash(installed: tuple[Path, tool_mod.CrashTool]) -> None:
    cache, tool = installed
    assert tool.source.startswith("cache (trixie ")
    assert tool_mod.crash_version(tool.argv) == tool.version
    assert tool_mod.known_problem(tool.version, "6.1.0-56-cloud-amd64") is None
    folder = cache / "crash" / "current"
    stamp = json.loads((folder / "stamp.json").read_text())
    assert set(stamp["packages"]) >= {"crash", "libc6", "libstdc++6", "libzstd1"}
    assert len(stamp["packages"]) <= 15       # libraries only: no perl, binutils...
    loader = Path(tool.argv[0])
    assert loader.is_relative_to((cache / "crash").resolve()) and os.access(loader, os.X_OK)


def test_wrapper_script_runs_by_hand(installed: tuple[Path, tool_mod.CrashTool]) -> None:
    cache, tool = installed
    wrapper = cache / "crash" / "current" / "bin" / "crash"
    out = subprocess.run([str(wrapper), "--version"], capture_output=True, text=True, check=True)
    assert tool_mod.parse_crash_version(out.stdout) == tool.version


def test_second_install_touches_no_apt(installed: tuple[Path, tool_mod.CrashTool],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cache, tool = installed

    def no_apt(*args: object, **kwargs: object) -> None:
        raise AssertionError("apt used although the install is complete")

    monkeypatch.setattr(tool_mod.debian, "Apt", no_apt)
    assert tool_mod.install_crash(cache) == tool
    assert tool_mod.find_crash(None, cache) == tool      # the cache wins over PATH

"""Tests of pytest_kdump.build.crashmod: the modes against the C source and error paths (fast),
and one real build of
kdump_crash.ko for the guest kernel against Debian's headers in a temporary cache (~5-10 s:
13.7 MB of packages, 82 MB unpacked, ~1.3 s of make)."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pytest_kdump.arch import ARCHES
from pytest_kdump.build import crashmod, debian, image
from pytest_kdump.cachedir import cache_dir
from pytest_kdump.errors import ImageError, KdumpError, ToolError
from pytest_kdump.triggers.module import MODES

SOURCE = crashmod.SOURCE_DIR / "kdump_crash.c"


# --- the modes ----------------------------------------------------------------------------

def test_modes_match_the_source() -> None:
    """Every mode is handled in the C file and every culprit is a noinline function there."""
    text = SOURCE.read_text()
    for mode, spec in MODES.items():
        assert f'sysfs_streq(mode, "{mode}")' in text, mode
        assert re.search(rf"KDUMP_CRASH_FN \w+ {spec.culprit}\(", text), mode
        assert mode in re.search(r'#define KDUMP_CRASH_MODES "([^"]+)"', text).group(1)
        if spec.task:
            assert f'"{spec.task}"' in text and len(spec.task) <= 15  # TASK_COMM_LEN


def test_source_files_from_one_c_file(tmp_path: Path) -> None:
    shutil.copy(SOURCE, tmp_path / "mine.c")
    files = crashmod._source_files(tmp_path / "mine.c")
    assert files["Kbuild"] == b"obj-m := mine.o\n" and "mine.c" in files
    files = crashmod._source_files(None)
    assert set(files) == {"kdump_crash.c", "Kbuild", "Makefile"}
    with pytest.raises(ImageError, match="not found"):
        crashmod._source_files(tmp_path / "missing")


# --- errors before any download -------------------------------------------------------------

def _no_apt(*args: object, **kwargs: object) -> None:
    raise AssertionError("apt used")


def test_missing_make_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(crashmod.debian, "Apt", _no_apt)
    with pytest.raises(ToolError, match="make not found") as info:
        crashmod.build_module("6.1.0-56-cloud-amd64", cache=tmp_path)
    assert info.value.phase == "module" and "apt-get install" in info.value.advice


def test_missing_cross_compiler_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a PATH with make and nothing else (set-up installs the cross compiler: hide it)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "make").symlink_to(shutil.which("make") or "/usr/bin/make")
    monkeypatch.setenv("PATH", str(tools))
    monkeypatch.setattr(crashmod.debian, "Apt", _no_apt)
    with pytest.raises(ToolError, match="no cross compiler aarch64-linux-gnu-gcc") as info:
        crashmod.build_module("6.1.0-56-arm64", arch="aarch64", cache=tmp_path)
    assert info.value.phase == "module"
    assert info.value.advice == "apt-get install gcc-aarch64-linux-gnu"


def test_unknown_arch(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="architecture 'riscv64'") as info:
        crashmod.build_module("6.1.0-56-riscv64", arch="riscv64", cache=tmp_path)
    assert info.value.message == "cannot build the crash module for architecture 'riscv64'"
    assert info.value.phase == "module" and info.value.advice == "use one of: x86_64, aarch64"


def test_compiler_mismatch_is_clear(tmp_path: Path) -> None:
    assert shutil.which("gcc"), "gcc is missing: run ./setup"
    got = subprocess.run(["gcc", "-dumpversion"], capture_output=True, text=True).stdout.strip()
    other = int(got.split(".")[0]) + 1
    (tmp_path / ".config").write_text(
        f'CONFIG_CC_VERSION_TEXT="gcc (Debian {other}.1.0-1) {other}.1.0"\n')
    with pytest.raises(ToolError, match="compiler mismatch") as info:
        crashmod._compiler(tmp_path, "x86_64", "")
    assert f"gcc {other}" in info.value.advice
    (tmp_path / ".config").write_text('CONFIG_CC_VERSION_TEXT="gcc-77 (Debian 77.1.0) 77.1.0"\n')
    with pytest.raises(ToolError, match="gcc-77 is not installed"):
        crashmod._compiler(tmp_path, "x86_64", "")


def test_build_dir_must_be_a_built_tree(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not a configured kernel build tree"):
        crashmod.module_from_build_dir(tmp_path, cache=tmp_path)
    (tmp_path / "Makefile").write_text("")
    (tmp_path / ".config").write_text("CONFIG_X86_64=y\n")
    with pytest.raises(ImageError, match="Module.symvers") as info:
        crashmod.module_from_build_dir(tmp_path, cache=tmp_path)
    assert "modules_prepare" in info.value.advice


def _tree(kdir: Path, config: str) -> Path:
    (kdir / "include" / "generated").mkdir(parents=True)
    (kdir / "include" / "generated" / "utsrelease.h").write_text(
        '#define UTS_RELEASE "6.1.0-99-test"\n')
    (kdir / "Makefile").write_text("")
    (kdir / "Module.symvers").write_text("")
    (kdir / ".config").write_text(config)
    return kdir


@pytest.mark.parametrize("config, tree_arch", [("CONFIG_X86_64=y\n", "x86_64"),
                                               ("CONFIG_64BIT=y\nCONFIG_ARM64=y\n", "aarch64")])
def test_build_dir_arch_comes_from_its_config(tmp_path: Path, config: str,
                                              tree_arch: str) -> None:
    kdir = _tree(tmp_path / "tree", config)
    other = "aarch64" if tree_arch == "x86_64" else "x86_64"
    with pytest.raises(ImageError, match=f"is for {tree_arch}, not {other}") as info:
        crashmod.module_from_build_dir(kdir, arch=other, cache=tmp_path)
    assert info.value.advice.startswith(f"pass arch={tree_arch!r}")


def test_build_dir_of_another_arch(tmp_path: Path) -> None:
    kdir = _tree(tmp_path / "tree", "CONFIG_RISCV=y\n# CONFIG_X86_64 is not set\n")
    with pytest.raises(ImageError, match="neither x86_64 nor arm64") as info:
        crashmod.module_from_build_dir(kdir, cache=tmp_path)
    assert info.value.advice == "supported architectures: x86_64, aarch64"


def test_cross_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crashmod.debian, "host_deb_arch", lambda: "amd64")
    assert crashmod._cross_prefix("x86_64") == ""
    assert crashmod._cross_prefix("aarch64") == "aarch64-linux-gnu-"
    monkeypatch.setattr(crashmod.debian, "host_deb_arch", lambda: "arm64")
    assert crashmod._cross_prefix("x86_64") == "x86_64-linux-gnu-"
    assert crashmod._cross_prefix("aarch64") == ""


def test_compiler_minor_difference_is_logged(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    assert shutil.which("gcc"), "gcc is missing: run ./setup"
    got = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout
    major = int(re.search(r"(\d+)\.\d+(?:\.\d+)?\s*$", got.splitlines()[0]).group(1))
    text = f"gcc (Debian {major}.99.0-1) {major}.99.0"
    (tmp_path / ".config").write_text(f'CONFIG_CC_VERSION_TEXT="{text}"\n')
    with caplog.at_level(logging.INFO, logger="pytest_kdump"):
        assert crashmod._compiler(tmp_path, "x86_64", "") == "gcc"
    (record,) = caplog.records
    assert record.name == "pytest_kdump.build.crashmod" and record.levelname == "INFO"
    assert record.getMessage().startswith(f"note: the kernel was built with {text!r}, the "
                                          "module is built with 'gcc ")


# --- the real build -------------------------------------------------------------------------

def _guest_release() -> str:
    current = image.current_image("x86_64")
    if current is not None:
        return current.kernel_release
    apt = debian.Apt(cache_dir())
    for dep in apt.depends(ARCHES["x86_64"].kernel_meta):
        if re.match(r"linux-image-\d", dep):
            return dep.removeprefix("linux-image-")
    pytest.fail("cannot tell the guest kernel release from Debian's registry (apt-get update?)")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path, float]:
    for tool in ("apt-get", "dpkg-deb", "make", "gcc", "strip", "modinfo", "readelf", "nm"):
        assert shutil.which(tool) or Path("/sbin", tool).exists(), f"{tool} missing: run ./setup"
    release = _guest_release()
    cache = tmp_path_factory.mktemp("cache")
    started = time.monotonic()
    ko = crashmod.build_module(release, cache=cache)
    return cache, release, ko, time.monotonic() - started


def _out(*cmd: str) -> str:
    tool = shutil.which(cmd[0]) or f"/sbin/{cmd[0]}"
    return subprocess.run([tool, *cmd[1:]], capture_output=True, text=True, check=True).stdout


def test_module_is_built_for_the_guest_kernel(built: tuple[Path, str, Path, float]) -> None:
    cache, release, ko, _ = built
    assert ko.is_file() and ko.name == "kdump_crash.ko" and ko.is_relative_to(cache)
    header = _out("readelf", "-h", str(ko))
    assert re.search(r"Type:\s+REL \(Relocatable file\)", header)
    assert re.search(rf"Machine:\s+{ARCHES['x86_64'].readelf_machine}", header)
    assert _out("modinfo", "-F", "vermagic", str(ko)).split()[0] == release
    assert _out("modinfo", "-F", "license", str(ko)).strip() == "GPL"
    assert re.search(r"^mode:.*\(charp\)$", _out("modinfo", "-p", str(ko)), re.M)
    symbols = {line.split()[-1]: line.split()[-2] for line in _out("nm", str(ko)).splitlines()}
    for mode, spec in MODES.items():
        assert symbols.get(spec.culprit) in ("t", "T"), mode
    assert ".debug_info" not in _out("readelf", "-S", "-W", str(ko))
    assert ko.stat().st_size < 64 * 1024
    assert ko.with_name("kdump_crash.unstripped.ko").stat().st_size > ko.stat().st_size
    # BUG()'s file name does not carry the build folder (stable "kernel BUG at" lines)
    strings = _out("strings", str(ko))
    assert "kdump_crash.c" in strings.splitlines() and str(cache) not in strings


def test_headers_tree_is_self_contained(built: tuple[Path, str, Path, float]) -> None:
    cache, release, _, _ = built
    (root,) = [p for p in (cache / "headers").glob(f"{release}-*") if p.is_dir()]
    build_link = root / "lib" / "modules" / release / "build"
    assert not str(build_link.readlink()).startswith("/")
    assert build_link.resolve() == (root / "usr" / "src" / f"linux-headers-{release}").resolve()
    assert "include /" not in (build_link / "Makefile").read_text()
    assert not list((cache / "headers" / "debs").glob("*.deb"))  # the tree is the cache


def test_second_call_is_cached(built: tuple[Path, str, Path, float],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    cache, release, ko, _ = built
    monkeypatch.setattr(crashmod.debian, "Apt", _no_apt)
    monkeypatch.setattr(crashmod, "_build", _no_apt)
    # neither apt nor the compiler may run: both raise if called
    assert crashmod.build_module(release, cache=cache) == ko


def test_bad_source_shows_the_compiler_error(built: tuple[Path, str, Path, float],
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cache, release, _, _ = built
    source = tmp_path / "src"
    shutil.copytree(crashmod.SOURCE_DIR, source)
    text = (source / "kdump_crash.c").read_text()
    (source / "kdump_crash.c").write_text(text.replace('panic("kdump_crash: panic");',
                                                       'panic("kdump_crash: panic")'))
    monkeypatch.setattr(crashmod.debian, "Apt", _no_apt)  # the unpacked headers are reused
    with pytest.raises(ToolError) as info:
        crashmod.build_module(release, cache=cache, source=source)
    err = info.value
    assert err.phase == "module" and str(source) in err.message
    assert re.search(r"kdump_crash\.c:\d+:\d+: error: expected .;. before .\}. token",
                     err.message)
    assert "build.log" in err.advice


def test_unknown_release_is_clear(built: tuple[Path, str, Path, float]) -> None:
    cache = built[0]
    with pytest.raises(KdumpError) as info:
        crashmod.build_module("6.1.0-999-nosuch-amd64", cache=cache)
    err = info.value
    assert isinstance(err, ImageError) and err.phase == "module"
    assert "linux-headers-6.1.0-999-nosuch-amd64" in err.message
    assert "module_from_build_dir" in err.advice


def test_module_from_a_build_tree(built: tuple[Path, str, Path, float]) -> None:
    """Debian's headers folder is a (minimal) kernel build tree: the board path works on it."""
    cache, release, ko, _ = built
    kdir = cache / "headers"
    (kdir,) = [p / "usr" / "src" / f"linux-headers-{release}" for p in kdir.glob(f"{release}-*")
               if p.is_dir()]
    tree_ko = crashmod.module_from_build_dir(kdir, cache=cache)
    assert tree_ko != ko and tree_ko.is_file()
    assert _out("modinfo", "-F", "vermagic", str(tree_ko)).split()[0] == release
    assert crashmod.module_from_build_dir(kdir, cache=cache) == tree_ko
    assert crashmod.build_module(release, cache=cache) == ko  # not mixed up with the tree's


def test_culprits_make_no_tail_calls(built: tuple[Path, str, Path, float]) -> None:
    """A tail call would drop the culprit's frame from the call trace: every jump out of a
    culprit goes to the return thunk (a return), never to another function."""
    assert shutil.which("objdump"), "objdump (binutils) is missing: run ./setup"
    text = _out("objdump", "-dr", str(built[2]))
    for mode, spec in MODES.items():
        body = re.search(rf"<{spec.culprit}>:\n(.*?)(?:\n\n|\Z)", text, re.S)
        assert body, mode
        lines = body.group(1).splitlines()
        for i, line in enumerate(lines):
            if re.search(r"\sjmp\s+[0-9a-f]+ <", line) and i + 1 < len(lines) and \
                    "R_X86_64_PLT32" in lines[i + 1]:
                assert "__x86_return_thunk" in lines[i + 1], f"{mode}: tail call {lines[i + 1]}"

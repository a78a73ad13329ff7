"""Unpacking Debian packages (issue 15, item 14) with the real dpkg-deb and tar: a tar that
dies in the middle, a damaged package, a package that never arrives. Nothing hangs, nothing
is left running, the error names the package and the step."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from pytest_kdump.build import debian
from pytest_kdump.errors import ToolError
from tests.helpers import ROOT

BOUND = 60  # seconds before a test gives up on an unpacking that should have ended before

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")

BIG = "./usr/share/kdump-test/big.bin"


def _deb(tmp_path: Path, big_mb: int, compression: str = "none") -> Path:
    """A real .deb with a ``big_mb`` MiB file (not zeros: nothing sparse) and a small one."""
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: kdump-test\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        "Description: test\n")
    big = root / BIG
    big.parent.mkdir(parents=True)
    big.write_bytes(os.urandom(1 << 20) * big_mb)
    (big.parent / "small.txt").write_text("small\n")
    deb = tmp_path / "kdump-test_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Z", compression, "--build", str(root),
                    str(deb)], check=True, capture_output=True)
    shutil.rmtree(root)
    return deb


def _processes_using(path: Path) -> list[str]:
    """Processes (any parent) whose command line names ``path``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(str(path).encode() in a for a in args):
            found.append(f"{cmdline.parent.name}: {b' '.join(args).decode(errors='replace')}")
    return found


_CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from pytest_kdump.build import debian
    from pytest_kdump.errors import ToolError
    try:
        debian.extract(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:] or None)
        print(json.dumps(None))
    except ToolError as exc:
        print(json.dumps([exc.phase, exc.message, exc.advice]))
""")


def _extract_in_child(tmp_path: Path, deb: Path, dest: Path, members: list[str],
                      file_limit: int) -> object:
    """Run the real extract() in a child Python whose processes may write files of at most
    ``file_limit`` bytes (``ulimit -f``): tar is killed by SIGXFSZ in the middle of a file.
    Bounded: a hang kills the child's whole process group and fails the test."""
    script = tmp_path / "child.py"
    script.write_text(_CHILD)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    proc = subprocess.Popen([sys.executable, str(script), str(ROOT), str(deb), str(dest),
                             *members], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=limit, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        for pid in _processes_using(deb):
            os.kill(int(pid.split(":")[0]), signal.SIGKILL)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"extract() hung: still running after {BOUND} s")
    assert proc.returncode == 0, err
    return json.loads(out)


def test_tar_dies_mid_file(tmp_path: Path) -> None:
    """tar killed in the middle of a file (a file size limit; an OOM kill is the same) while
    dpkg-deb still has megabytes to write: before, the parent kept the pipe open and waited
    for dpkg-deb forever."""
    deb = _deb(tmp_path, big_mb=16)
    dest = tmp_path / "out"
    result = _extract_in_child(tmp_path, deb, dest, [BIG], file_limit=1 << 20)
    assert isinstance(result, list), result
    phase, message, advice = result
    assert phase == "image"
    assert message.startswith(f"cannot unpack {BIG} of {deb.name}: tar -x failed "
                              "(killed by SIGXFSZ)"), message
    assert "ulimit -f" in advice and str(deb) in advice
    assert _processes_using(deb) == []


@pytest.mark.parametrize("members", [[BIG], []], ids=["members", "all"])
def test_damaged_package(tmp_path: Path, members: list[str]) -> None:
    """A .deb cut short (an interrupted download): the error blames dpkg-deb, not tar."""
    deb = _deb(tmp_path, big_mb=4, compression="gzip")
    data = deb.read_bytes()
    deb.write_bytes(data[:len(data) // 2])
    with pytest.raises(ToolError) as exc:
        debian.extract(deb, tmp_path / "out", members or None, timeout=BOUND)
    step = "dpkg-deb --fsys-tarfile" if members else "dpkg-deb -x"
    assert exc.value.message.startswith(f"cannot unpack {members[0] if members else 'the files'} "
                                        f"of {deb.name}: {step} failed (exit 2): "), exc.value
    assert "dpkg-deb" in exc.value.message.split(": ", 2)[2]  # dpkg-deb's own words
    assert exc.value.phase == "image"
    assert _processes_using(deb) == []


def test_member_not_in_package(tmp_path: Path) -> None:
    deb = _deb(tmp_path, big_mb=1)
    with pytest.raises(ToolError, match=r"of kdump-test_1.0_all.deb: tar -x failed \(exit 2\): "
                                        r"tar: ./nope: Not found in archive"):
        debian.extract(deb, tmp_path / "out", ["./nope"], timeout=BOUND, phase="module")


def test_member_looking_like_an_option(tmp_path: Path) -> None:
    """Member names go after ``--``: one starting with a dash is a name, not a tar option."""
    deb = _deb(tmp_path, big_mb=1)
    with pytest.raises(ToolError, match=r"tar: --to-command=touch PWNED: Not found in archive"):
        debian.extract(deb, tmp_path / "out", ["--to-command=touch PWNED"], timeout=BOUND)
    assert not (tmp_path / "out" / "PWNED").exists() and not Path("PWNED").exists()


@pytest.mark.parametrize("members", [[BIG], []], ids=["members", "all"])
def test_package_that_never_arrives(tmp_path: Path, members: list[str]) -> None:
    """A package whose reads block forever (a FIFO nobody writes, as a file on a hung network
    file system): the timeout ends it, with dpkg-deb killed."""
    deb = tmp_path / "kdump-test_1.0_all.deb"
    os.mkfifo(deb)
    result: dict[str, BaseException] = {}

    def run() -> None:
        try:
            debian.extract(deb, tmp_path / "out", members or None, timeout=2)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND)
    try:
        assert not thread.is_alive(), "extract() ignored its timeout"
    finally:
        if thread.is_alive():  # let the stuck dpkg-deb see an end of file
            fd = os.open(deb, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
    error = result.get("error")
    assert isinstance(error, ToolError), result
    step = "dpkg-deb --fsys-tarfile" if members else "dpkg-deb -x"
    assert f"of {deb.name} did not finish within 2 s ({step}" in error.message, error
    assert _processes_using(deb) == []


def test_extract_members_and_all(tmp_path: Path) -> None:
    """The good path: one member, then the whole package."""
    deb = _deb(tmp_path, big_mb=2, compression="xz")
    debian.extract(deb, tmp_path / "one", ["./usr/share/kdump-test/small.txt"])
    assert [p.name for p in (tmp_path / "one").rglob("*") if p.is_file()] == ["small.txt"]
    debian.extract(deb, tmp_path / "all")
    assert (tmp_path / "all" / BIG).stat().st_size == 2 << 20

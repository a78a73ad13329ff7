"""Fetching the dump from the disk image (issue 15, items 10 and 11) with the real debugfs:
a fetch that runs out of time, a host disk that fills up, artifact and dump disk paths with
hostile characters."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_kdump.errors import KdumpError, PhaseTimeout, VmcoreError
from pytest_kdump.transports.disk_image import DiskImageTransport
from tests.helpers import PFNS, ROOT, make_kdump

BOUND = 60  # seconds before a test gives up on a fetch that should have ended long before


def _disk(image: Path, files: dict[str, bytes], size_mb: int = 16) -> Path:
    """A real ext4 dump disk holding ``files``, made by mkfs.ext4 -d."""
    content = image.parent / f"{image.name}.content"
    content.mkdir(parents=True)
    for name, data in files.items():
        (content / name).write_bytes(data)
    with open(image, "wb") as f:
        f.truncate(size_mb << 20)
    subprocess.run(["/sbin/mkfs.ext4", "-q", "-F", "-d", str(content), str(image)],
                   check=True, capture_output=True)
    shutil.rmtree(content)
    return image


def _children(name: str) -> list[int]:
    """Our child processes called ``name`` (zombies included: they are orphans too)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        ppid = int(text[text.rindex(")") + 2:].split()[1])
        if comm == name and ppid == os.getpid():
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] != "Z"


@pytest.fixture
def stopped() -> Iterator[list[int]]:
    """Pids the test stopped with SIGSTOP: resumed and killed at the end whatever happens."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def _fetch_in_thread(transport: DiskImageTransport, dest: Path,
                     **kwargs: float) -> tuple[threading.Thread, dict[str, object]]:
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["value"] = transport.fetch(dest, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_fetch_timeout_kills_debugfs_mid_copy(tmp_path: Path, stopped: list[int]) -> None:
    """The fetch timeout bounds a copy that stops progressing (a debugfs frozen with SIGSTOP
    once it has written part of the vmcore): PhaseTimeout naming phase fetch and the advice,
    debugfs killed, no file under the final name, no partial file left."""
    image = _disk(tmp_path / "dump.img", {"vmcore": b"\x5a" * (256 << 20),
                                          "dmesg.txt": b"[ 1.0] panic\n"}, size_mb=400)
    dest = tmp_path / "artifacts"
    dest.mkdir()
    (dest / "vmcore").write_bytes(b"an earlier run's dump")  # must not pass for this one
    thread, result = _fetch_in_thread(DiskImageTransport(image), dest, timeout=8)
    partial = dest / ".vmcore.partial"
    end = time.monotonic() + BOUND
    while not stopped and time.monotonic() < end and thread.is_alive():
        if partial.exists() and partial.stat().st_size > 0:
            for pid in _children("debugfs"):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
        time.sleep(0.001)
    assert stopped, f"debugfs was never seen copying the vmcore: {result}"
    thread.join(BOUND)
    assert not thread.is_alive(), "the fetch ignored its timeout"
    error = result.get("error")
    assert isinstance(error, PhaseTimeout), result
    assert error.phase == "fetch"
    assert "did not finish within 8 s" in error.message
    assert "dump /vmcore" in error.message and str(image) in error.message
    assert "raise the fetch timeout" in (error.advice or "")
    assert "timeouts: {fetch:" in (error.advice or "")
    assert not any(_alive(pid) for pid in stopped), "debugfs was left running"
    assert _children("debugfs") == [], "debugfs was left unreaped"
    assert sorted(p.name for p in dest.iterdir()) == []


def test_fetch_zero_timeout_runs_nothing(tmp_path: Path) -> None:
    image = _disk(tmp_path / "dump.img", {"vmcore": make_kdump(PFNS)})
    with pytest.raises(PhaseTimeout, match="within 0 s"):
        DiskImageTransport(image).fetch(tmp_path / "out", timeout=0)
    assert _children("debugfs") == []


_FULL_DISK_CHILD = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from pytest_kdump.errors import KdumpError
    from pytest_kdump.transports.disk_image import DiskImageTransport
    dest = Path(sys.argv[2])
    try:
        DiskImageTransport(Path(sys.argv[1])).fetch(dest, timeout=60)
        out = {"error": None}
    except KdumpError as exc:
        out = {"error": type(exc).__name__, "phase": exc.phase, "message": exc.message}
    out["left"] = sorted(os.listdir(dest))
    print(json.dumps(out))
""")


def test_fetch_onto_a_full_disk(tmp_path: Path) -> None:
    """The host's disk fills up during the copy: debugfs exits 0 with a truncated file. The
    fetch says so, and leaves neither the truncated copy nor an earlier run's vmcore.

    The full disk is a real 1 MiB tmpfs, mounted in a private mount namespace (unshare -m) of
    a child process, which runs the fetch."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to mount a small tmpfs")
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a mount namespace here")
    data = os.urandom(4 << 20)
    image = _disk(tmp_path / "dump.img", {"vmcore": data, "status": b"rc=0\n"})
    dest = tmp_path / "small disk"
    dest.mkdir()
    script = tmp_path / "child.py"
    script.write_text(_FULL_DISK_CHILD)
    # the earlier run's vmcore is put on the full disk after mounting it
    shell = ('mount -t tmpfs -o size=1m tmpfs "$1" && echo old > "$1/vmcore" && '
             'shift && exec "$@"')
    proc = subprocess.run(["unshare", "-m", "sh", "-c", shell, "sh", str(dest),
                           sys.executable, str(script), str(image), str(dest), str(ROOT)],
                          capture_output=True, text=True, timeout=BOUND)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["error"], out.get("phase")) == ("VmcoreError", "fetch"), out
    assert re.search(rf"copied \d+ of {len(data)} bytes of /vmcore", out["message"])
    assert "No space left on device while writing file" in out["message"]
    assert out["message"].count("No space left") == 1  # one line per block, said once
    assert out["left"] == []  # neither the truncated copy nor the earlier run's vmcore


@pytest.mark.parametrize("folder", [
    'a b/c  d', "it's \"quoted\"", "ünïcödé ☃ 中文", "$(touch PWNED); x | y `id` *",
    "-R rm", "\\back\\slash", "new\nline"])
def test_fetch_into_hostile_paths(tmp_path: Path, folder: str) -> None:
    """Artifact folders and dump disk paths with spaces, quotes, non-ASCII, shell syntax:
    each fetch gets the whole dump, and nothing runs."""
    data = make_kdump(PFNS)
    base = tmp_path / folder
    image = _disk(base / f"dump {folder}.img",
                  {"vmcore": data, "dmesg.txt": b"[ 1.0] Kernel panic\n",
                   "status": f"rc=0 size={len(data)}\n".encode()})
    dest = base / "test[1] dump" / folder
    fetched = DiskImageTransport(image).fetch(dest, timeout=BOUND)
    assert fetched.vmcore == dest / "vmcore" and fetched.vmcore.read_bytes() == data
    assert fetched.dmesg is not None and fetched.dmesg.read_bytes() == b"[ 1.0] Kernel panic\n"
    assert fetched.expected_size == len(data)
    assert sorted(p.name for p in dest.iterdir()) == ["vmcore", "vmcore-dmesg.txt"]
    assert not list(tmp_path.rglob("PWNED")) and not Path("PWNED").exists()


def test_fetch_relative_dest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative artifacts folder (the ini's kdump_artifacts is one) and dump disk path."""
    _disk(tmp_path / "dump.img", {"vmcore": make_kdump(PFNS)})
    monkeypatch.chdir(tmp_path)
    fetched = DiskImageTransport(Path("dump.img")).fetch(Path("art ifacts/t 1"))
    assert fetched.vmcore.read_bytes() == make_kdump(PFNS)


def test_fetch_from_a_damaged_disk(tmp_path: Path) -> None:
    """A dump disk that is not ext4 any more: the error says debugfs cannot open it (not
    "no vmcore")."""
    image = tmp_path / "dump disk.img"
    image.write_bytes(b"\0" * (1 << 20))
    with pytest.raises(VmcoreError, match="debugfs cannot open the dump disk") as exc:
        DiskImageTransport(image).fetch(tmp_path / "out")
    assert "Bad magic number" in exc.value.message and exc.value.phase == "fetch"
    assert isinstance(exc.value, KdumpError)

"""The ``ssh`` transport without a network: its listing command in real shells on a folder laid
out like /var/crash, the choice of this crash's dump, and a whole fetch through a fake SSH
driver (commands run in ``sh`` on the host) and a fake ``scp`` that copies local files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_kdump.errors import PhaseTimeout, VmcoreError
from pytest_kdump.transports.ssh import (
    SshTransport,
    list_dumps_command,
    newest_new_dump,
    parse_dumps,
)
from tests.unit.transports.test_flattened import flat, scattered

# dash (Debian's sh), busybox ash (with busybox's own stat, as on a small board), bash
SHELLS = {name: argv for name, argv in (("sh", ["sh"]), ("busybox", ["/bin/busybox", "sh"]),
                                         ("bash", ["bash"]))
          if shutil.which(argv[0])}
STAMP, OLD = "202612061631", "202612051200"
ODD = "it's a dump"  # a folder name with a space and a quote


@pytest.fixture(params=list(SHELLS))
def shell(request: pytest.FixtureRequest) -> str:
    return request.param


def _run(shell: str, command: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``command`` in ``shell``; for busybox, its stat applet comes first on PATH."""
    env = dict(os.environ)
    if shell == "busybox":
        applets = tmp_path / "busybox-applets"
        applets.mkdir(exist_ok=True)
        if not (applets / "stat").exists():
            (applets / "stat").symlink_to("/bin/busybox")
        env["PATH"] = f"{applets}{os.pathsep}{env['PATH']}"
    return subprocess.run([*SHELLS[shell], "-c", command], capture_output=True, text=True,
                          env=env, timeout=30)


def _write(path: Path, data: bytes, mtime: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def _var_crash(root: Path) -> dict[str, Path]:
    """A folder like kdump-tools' (and kdump-utils') /var/crash: the dump files that must be
    listed, by name; the rest (dmesg, incomplete dumps, lock) must not be."""
    listed = {
        "new": _write(root / STAMP / f"dump.{STAMP}", b"KDUMP new", 1796575000),
        "old": _write(root / OLD / f"dump.{OLD}", b"older dump!", 1796400000),
        "utils": _write(root / "127.0.0.1-2026-12-06-16:40" / "vmcore", b"ELF", 1796576000),
        "odd": _write(root / ODD / "vmcore.1", b"odd one", 1796577000),
    }
    _write(root / STAMP / f"dmesg.{STAMP}", b"[ 0.0] Linux", 1796575000)
    _write(root / "202612061640" / "dump-incomplete", b"half", 1796578000)
    _write(root / "127.0.0.1-2026-12-06-16:40" / "vmcore-incomplete", b"half", 1796578000)
    _write(root / "kdump_lock", b"", 1796578000)
    _write(root / "kexec_cmd", b"kexec -p ...", 1796578000)
    return listed


def test_list_dumps_in_real_shells(tmp_path: Path, shell: str) -> None:
    board = tmp_path / "var" / "crash"
    listed = _var_crash(board)
    for folder in (str(board), f"{board}/"):
        proc = _run(shell, list_dumps_command(folder), tmp_path)
        assert proc.returncode == 0 and proc.stderr == "", proc
        lines = sorted(proc.stdout.splitlines())
        assert lines == sorted(f"{p.stat().st_mtime:.0f} {p.stat().st_size} {p}"
                               for p in listed.values())
    got = parse_dumps(proc.stdout)
    # a folder with a space and a quote is listed (its copy is refused clearly, see
    # test_fetch_refuses_a_path_scp_cannot_take)
    assert got == {str(p): (int(p.stat().st_mtime), p.stat().st_size)
                   for p in listed.values()}
    assert got[str(listed["new"])] == (1796575000, len(b"KDUMP new"))
    # before a crash the list is read on the console: a kernel message there changes nothing
    crng = "[    3.693546] random: crng init done\n"
    assert parse_dumps(crng + proc.stdout[:12] + crng + proc.stdout[12:]) == got


def test_list_dumps_empty_or_missing_folder(tmp_path: Path, shell: str) -> None:
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "missing", tmp_path / "it's missing"):
        proc = _run(shell, list_dumps_command(str(folder)), tmp_path)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert parse_dumps("") == {}


# -- which dump is this crash's ------------------------------------------------------------
OLD_DUMP = f"/var/crash/{OLD}/dump.{OLD}"
NEW_DUMP = f"/var/crash/{STAMP}/dump.{STAMP}"


def test_newest_new_dump_only_an_older_one() -> None:
    before = {OLD_DUMP: (100, 10)}
    with pytest.raises(VmcoreError, match="no new dump under /var/crash") as exc:
        newest_new_dump(before, dict(before), "/var/crash")
    assert OLD_DUMP in exc.value.message and exc.value.phase == "fetch"
    with pytest.raises(VmcoreError, match=r"\(dumps there before the crash and still: none\)"):
        newest_new_dump({}, {}, "/var/crash", saved_in=f"/var/crash/{STAMP}")


def test_newest_new_dump_next_to_an_old_one() -> None:
    before = {OLD_DUMP: (100, 10)}
    assert newest_new_dump(before, {**before, NEW_DUMP: (50, 20)}, "/var/crash") == NEW_DUMP


def test_newest_new_dump_rewritten_in_place() -> None:
    assert newest_new_dump({NEW_DUMP: (100, 10)}, {NEW_DUMP: (200, 30)}, "/var/crash") \
        == NEW_DUMP
    assert newest_new_dump({NEW_DUMP: (100, 10)}, {NEW_DUMP: (100, 30)}, "/var/crash") \
        == NEW_DUMP  # the same second, a new size


@pytest.mark.parametrize("saved_in", [f"/var/crash/{STAMP}", f"/var/crash/{STAMP}/"])
def test_newest_new_dump_prefers_the_savers_folder(saved_in: str) -> None:
    elsewhere = "/var/crash/127.0.0.1-2026-12-06-16:40/vmcore"
    after = {OLD_DUMP: (100, 10), NEW_DUMP: (300, 10), elsewhere: (400, 10)}
    assert newest_new_dump({OLD_DUMP: (100, 10)}, after, "/var/crash", saved_in) == NEW_DUMP
    # a saver's folder without a new dump: the newest new one
    assert newest_new_dump({}, after, "/var/crash", "/var/crash/other") == elsewhere


def test_newest_new_dump_two_new_ones() -> None:
    a, b = "/var/crash/a/dump.a", "/var/crash/b/vmcore.b"
    assert newest_new_dump({}, {a: (500, 1), b: (400, 999)}, "/var/crash") == a
    assert newest_new_dump({}, {a: (300, 1), b: (400, 999)}, "/var/crash") == b


# -- a whole fetch -----------------------------------------------------------------------------
@dataclass
class FakeTarget:
    calls: list[str] = field(default_factory=list)

    def activate(self, drv: object) -> None:
        self.calls.append("activate")

    def deactivate(self, drv: object) -> None:
        self.calls.append("deactivate")


@dataclass
class FakeNetworkService:
    address: str = "192.0.2.7"
    port: int = 2222
    username: str = "root"


@dataclass
class FakeSsh:
    """What SshTransport uses of labgrid's SSHDriver; commands run in ``sh`` on this host,
    where a temporary folder stands for the board's /var/crash."""

    down: bool = False  # sshd does not answer
    target: FakeTarget = field(default_factory=FakeTarget)
    networkservice: FakeNetworkService = field(default_factory=FakeNetworkService)
    connection_timeout: float = 0.0
    ssh_prefix: list[str] = field(default_factory=lambda: ["-o", "BatchMode=yes"])

    def run(self, cmd: str, timeout: float | None = None) -> tuple[list[str], list[str], int]:
        if self.down:
            return [], ["ssh: connect to host 192.0.2.7 port 2222: Connection refused"], 255
        proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True,
                              timeout=timeout)
        return proc.stdout.splitlines(), proc.stderr.splitlines(), proc.returncode

    def board_run(self, cmd: str, timeout: float) -> str:
        """The engine's ``run`` for before_crash."""
        out, err, rc = self.run(cmd, timeout)
        assert rc == 0, err
        return "\n".join(out)


# SshTransport._copy runs this as `scp -q -S ssh <prefix> -P PORT user@host:PATH DEST`. The path
# is taken literally, as scp's SFTP mode (OpenSSH >= 9, the default) does; the paths here need
# no shell quoting, so shlex.quote leaves them as they are.
FAKE_SCP = """\
import shutil, sys
args = sys.argv[1:]
assert args[:3] == ["-q", "-S", "ssh"] and args[3:7] == ["-o", "BatchMode=yes", "-P", "2222"]
src, dst = args[-2:]
user_host, _, path = src.partition(":")
assert user_host == "root@192.0.2.7", src
try:
    shutil.copyfile(path, dst)
except OSError as exc:
    sys.exit(f"scp: {path}: {exc.strerror}")
"""


@pytest.fixture
def fake_scp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scp = bin_dir / "scp"
    scp.write_text(f"#!{sys.executable}\n{FAKE_SCP}")
    scp.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


PAYLOAD = bytes(range(256)) * 40  # the rebuilt dump: 10240 bytes


def _board(tmp_path: Path) -> tuple[Path, FakeSsh, SshTransport]:
    """A board with an older dump, its transport after before_crash."""
    board = tmp_path / "board" / "var" / "crash"
    _write(board / OLD / f"dump.{OLD}", flat([(0, b"old" * 100)]), 1796400000)
    _write(board / OLD / f"dmesg.{OLD}", b"old dmesg", 1796400000)
    _write(board / "kdump_lock", b"", 1796400000)
    ssh = FakeSsh()
    transport = SshTransport(ssh, folder=str(board))
    transport.before_crash(ssh.board_run)
    return board, ssh, transport


def _dest(tmp_path: Path) -> Path:
    """The artifacts folder, with an earlier run's files in it."""
    dest = tmp_path / "artifacts" / "test 1's dump"
    _write(dest / "vmcore", b"stale" * 1000, 1)
    _write(dest / "vmcore-dmesg.txt", b"stale dmesg", 1)
    return dest


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.usefixtures("fake_scp")
def test_fetch_flattened_dump_and_remove(tmp_path: Path) -> None:
    board, ssh, transport = _board(tmp_path)
    _write(board / STAMP / f"dump.{STAMP}", flat(scattered(PAYLOAD)), 1796575000)
    _write(board / STAMP / f"dmesg.{STAMP}", b"[ 4.4] Kernel panic - not syncing\n",
           1796575000)
    dest = _dest(tmp_path)
    fetched = transport.fetch(dest, timeout=30)
    assert fetched.vmcore == dest / "vmcore" and fetched.vmcore.read_bytes() == PAYLOAD
    assert fetched.dmesg == dest / "vmcore-dmesg.txt"
    assert fetched.dmesg.read_text() == "[ 4.4] Kernel panic - not syncing\n"
    assert fetched.status == {"size": str(len(PAYLOAD)),
                              "board_path": f"{board}/{STAMP}/dump.{STAMP}"}
    assert fetched.expected_size == len(PAYLOAD)
    assert _names(dest) == ["vmcore", "vmcore-dmesg.txt"]  # no stream, no partial
    assert _names(board) == [OLD, "kdump_lock"]  # this crash's folder removed, not the older
    assert _names(board / OLD) == [f"dmesg.{OLD}", f"dump.{OLD}"]
    # reconnected (the board rebooted), with a bounded connection timeout
    # and disconnected after: no SSH master outlives the board
    assert ssh.target.calls == ["deactivate", "activate", "deactivate"]
    assert 1 <= ssh.connection_timeout <= 30


@pytest.mark.usefixtures("fake_scp")
def test_fetch_keeps_the_dump_without_remove(tmp_path: Path) -> None:
    """kdump-utils' folder: a plain (not flattened) vmcore and vmcore-dmesg.txt."""
    board, _, transport = _board(tmp_path)
    transport.remove = False
    folder = board / "127.0.0.1-2026-12-06-16:40"
    _write(folder / "vmcore", PAYLOAD, 1796575000)
    _write(folder / "vmcore-dmesg.txt", b"dmesg\n", 1796575000)
    dest = _dest(tmp_path)
    fetched = transport.fetch(dest, timeout=30)
    assert fetched.vmcore.read_bytes() == PAYLOAD
    assert fetched.dmesg is not None and fetched.dmesg.read_text() == "dmesg\n"
    assert fetched.status["size"] == str(len(PAYLOAD))
    assert _names(dest) == ["vmcore", "vmcore-dmesg.txt"]
    assert _names(folder) == ["vmcore", "vmcore-dmesg.txt"]  # left on the board


@pytest.mark.usefixtures("fake_scp")
def test_fetch_only_an_older_dump(tmp_path: Path) -> None:
    board, _, transport = _board(tmp_path)
    dest = _dest(tmp_path)
    with pytest.raises(VmcoreError, match="no new dump") as exc:
        transport.fetch(dest, timeout=30)
    assert f"{board}/{OLD}/dump.{OLD}" in exc.value.message and exc.value.phase == "fetch"
    assert _names(dest) == []  # the stale files are gone, no vmcore
    assert _names(board) == [OLD, "kdump_lock"]


@pytest.mark.usefixtures("fake_scp")
def test_fetch_cut_flattened_dump(tmp_path: Path) -> None:
    board, _, transport = _board(tmp_path)
    stream = flat(scattered(PAYLOAD), end=False)
    _write(board / STAMP / f"dump.{STAMP}", stream, 1796575000)
    _write(board / STAMP / f"dmesg.{STAMP}", b"dmesg\n", 1796575000)
    dest = _dest(tmp_path)
    with pytest.raises(VmcoreError, match="end record") as exc:
        transport.fetch(dest, timeout=30)
    assert exc.value.phase == "fetch"
    # the refused dump's bytes are kept; no file of this fetch under a final name
    assert _names(dest) == [f"dump.{STAMP}.incomplete"]
    assert (dest / f"dump.{STAMP}.incomplete").read_bytes() == stream
    assert _names(board / STAMP) == [f"dmesg.{STAMP}", f"dump.{STAMP}"]  # not removed


@pytest.mark.usefixtures("fake_scp")
def test_fetch_flattened_dump_named_vmcore(tmp_path: Path) -> None:
    board, _, transport = _board(tmp_path)
    _write(board / "127.0.0.1-2026-12-06-16:40" / "vmcore", flat(scattered(PAYLOAD)),
           1796575000)
    fetched = transport.fetch(_dest(tmp_path), timeout=30)
    assert fetched.vmcore.read_bytes() == PAYLOAD


def test_fetch_board_without_ssh(tmp_path: Path) -> None:
    """sshd never answers: PhaseTimeout after the fetch timeout (one try a second)."""
    ssh = FakeSsh(down=True)
    transport = SshTransport(ssh, folder=str(tmp_path / "crash"))
    with pytest.raises(PhaseTimeout, match=r"SSH \(root@192\.0\.2\.7:2222\) did not answer "
                                           r"after its reboot: 'true' exited with 255") as exc:
        transport.fetch(tmp_path / "dest", timeout=2)
    assert exc.value.phase == "fetch"
    assert _names(tmp_path / "dest") == []
    assert ssh.target.calls.count("activate") >= 1


@pytest.mark.usefixtures("fake_scp")
def test_fetch_refuses_a_path_scp_cannot_take(tmp_path: Path) -> None:
    """A dump folder with a space and a quote is found, and its copy refused with the reason
    (scp's SFTP mode takes no shell quoting): no file in dest, the board's dump kept."""
    board, _, transport = _board(tmp_path)
    dump = _write(board / ODD / "vmcore.1", flat(scattered(PAYLOAD)), 1796575000)
    dest = tmp_path / "dest"
    with pytest.raises(VmcoreError, match="spaces or quotes in the path") as exc:
        transport.fetch(dest, timeout=10)
    assert exc.value.phase == "fetch" and str(dump) in exc.value.message
    assert not dest.exists() or not list(dest.iterdir())
    assert dump.is_file()


@pytest.mark.usefixtures("fake_scp")
def test_fetch_an_empty_dump_the_saver_called_saved(tmp_path: Path) -> None:
    """Debian 13 arm64: makedumpfile fails, kdump-tools (checking its pipe's last command)
    renames an empty dump.<stamp> and says "saved vmcore" (tests/qemu/test_debian.py)."""
    board, _, transport = _board(tmp_path)
    _write(board / STAMP / f"dump.{STAMP}", b"", 1796575000)
    dest = _dest(tmp_path)
    with pytest.raises(VmcoreError, match="is empty: the saver reported it saved") as exc:
        transport.fetch(dest, timeout=30)
    assert exc.value.phase == "fetch" and f"dump.{STAMP}" in exc.value.message
    assert f"dump.{STAMP}.incomplete" in _names(dest) and "vmcore" not in _names(dest)
    assert (board / STAMP / f"dump.{STAMP}").exists()  # not removed from the board

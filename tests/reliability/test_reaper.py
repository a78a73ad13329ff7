"""pytest_kdump.reaper: what a Python process starts dies with it, however it dies.

Each test runs a *parent*: a Python process that imports the reaper and obeys commands on
its stdin (start a process, watch, unwatch, fork, exit). The test ends the parent the way
pytest ends for real (SIGKILL, SIGTERM to its process group, Ctrl-C, a normal exit) and
checks, through pidfds of its own, which of the parent's processes are still alive.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_kdump import reaper

WAIT = 60.0  # bound of every wait (a loaded host is slow, a hang must still fail)

PARENT = r"""
import os, sys, warnings
from pytest_kdump import reaper

warnings.simplefilter("always", reaper.ReaperWarning)
procs = {}
for line in sys.stdin:
    cmd, *args = line.split()
    if cmd == "start":  # start WATCH CLOSE_FDS ARGV...
        import subprocess
        p = subprocess.Popen(args[2:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, close_fds=args[1] == "1")
        procs[p.pid] = p
        if args[0] == "1":
            reaper.watch_popen(p, "sleeper")
        reply = p.pid
    elif cmd == "fork":  # a child that keeps running this Python, without exec
        reply = os.fork()
        if reply == 0:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            import time
            time.sleep(1000)
            os._exit(0)
    elif cmd == "watch":
        reaper.watch(int(args[0]), "sleeper")
        reply = "ok"
    elif cmd == "unwatch":
        reaper.unwatch(int(args[0]))
        reply = "ok"
    elif cmd == "wait":
        reply = procs[int(args[0])].wait()
    elif cmd == "watcher":
        reply = reaper.watcher_pid()
    elif cmd == "children":  # the processes this one started and still has
        with open(f"/proc/self/task/{os.getpid()}/children") as f:
            reply = f.read().strip() or "none"
    elif cmd == "modules":
        reply = "subprocess" in sys.modules
    elif cmd == "exit":
        sys.exit(0)
    print(reply, flush=True)
"""

# a process that survives SIGTERM (and SIGINT): only the SIGKILL step ends it
STUBBORN = r"""
import pathlib, signal, sys, time
folder = pathlib.Path(sys.argv[1])
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, lambda *_: (folder / "got-sigterm").touch())
(folder / "ready").touch()
while True:
    time.sleep(1000)
"""


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll ``condition`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


class Process:
    """A process the test did not start, held by a pidfd (its pid may be reused)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)

    def alive(self) -> bool:
        return not select.select([self.pidfd], [], [], 0)[0]  # readable once it exited

    def kill(self) -> None:
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Parent:
    """The parent process, driven through its stdin."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[Process] = []
        # its own session: signals to its process group do not reach the test
        self.proc = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=tmp_path, start_new_session=True)
        self._buf = b""

    def ask(self, command: str) -> str:
        """Send a command; its one-line answer."""
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + WAIT
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                pytest.fail(f"the parent did not answer {command!r} within {WAIT:g} s")
            data = os.read(fd, 4096)
            if not data:
                pytest.fail(f"the parent exited on {command!r}: {self.finish()[1]}")
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def start(self, *argv: str, watch: bool = True, close_fds: bool = True) -> Process:
        """A process started by the parent (watched unless told otherwise)."""
        pid = self.ask(f"start {int(watch)} {int(close_fds)} {' '.join(argv)}")
        return self._hold(int(pid))

    def fork(self) -> Process:
        """A fork() child of the parent that does not exec."""
        return self._hold(int(self.ask("fork")))

    def watcher(self) -> Process:
        return self._hold(int(self.ask("watcher")))

    def _hold(self, pid: int) -> Process:
        process = Process(pid)
        self.started.append(process)
        return process

    def finish(self) -> tuple[int, str]:
        """Wait until the parent exited and its stderr closed, also by the watcher, which
        inherited it: the watcher has done its work. The exit code and stderr."""
        try:
            _, err = self.proc.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the parent or its watcher still runs after {WAIT:g} s")
        return self.proc.returncode, err.decode(errors="replace")

    def close(self) -> None:
        """Kill the parent and all it started (the watcher may still hold its stderr)."""
        if self.proc.poll() is None:
            self.proc.kill()
        for process in self.started:
            process.kill()
            os.close(process.pidfd)
        try:
            self.proc.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            pass  # a watcher that never exits: its test has failed already


@pytest.fixture
def parent(tmp_path: Path) -> Iterator[Parent]:
    p = Parent(tmp_path)
    try:
        yield p
    finally:
        p.close()


def end(parent: Parent, how: str) -> None:
    """End the parent as pytest ends: killed, or by a normal exit."""
    if how == "exit":
        parent.proc.stdin.write(b"exit\n")
        parent.proc.stdin.flush()
    else:  # the parent alone: its processes get no signal but the watcher's
        os.kill(parent.proc.pid, getattr(signal, how.upper()))


@pytest.mark.parametrize("how", ["sigkill", "sigterm", "sigint", "exit"])
def test_watched_process_dies_with_its_parent(parent: Parent, how: str) -> None:
    """However the parent ends, the process it watched is killed and the watcher exits."""
    sleeper = parent.start("sleep", "1000")
    watcher = parent.watcher()
    end(parent, how)
    code, err = parent.finish()
    wait_until(lambda: not sleeper.alive(), "the watched process is killed")
    wait_until(lambda: not watcher.alive(), "the watcher exits")
    assert f"stopping its sleeper (pid {sleeper.pid})" in err
    if how == "exit":
        assert code == 0, err
        assert "Traceback" not in err and "Warning" not in err


def test_normal_exit_returns_after_the_kill(parent: Parent) -> None:
    """After a normal exit, the parent exits only once the watcher has killed what was
    still watched: nothing of it is left when its exit status is known."""
    sleeper = parent.start("sleep", "1000")
    parent.proc.stdin.write(b"exit\n")
    parent.proc.stdin.flush()
    assert parent.proc.wait(timeout=WAIT) == 0
    assert not sleeper.alive()


def test_a_process_ignoring_sigterm_gets_sigkill(parent: Parent, tmp_path: Path) -> None:
    """SIGTERM first, then SIGKILL; the watcher, in a session of its own, survives the
    SIGTERM sent to the parent's process group (which the stubborn process ignores)."""
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN)
    stubborn = parent.start(sys.executable, str(script), str(tmp_path))
    wait_until((tmp_path / "ready").exists, "the stubborn process is ready")
    os.killpg(parent.proc.pid, signal.SIGTERM)
    _, err = parent.finish()
    wait_until(lambda: not stubborn.alive(), "the stubborn process is killed")
    assert (tmp_path / "got-sigterm").exists()
    assert f"(pid {stubborn.pid}) is still running" in err and "SIGKILL" in err


def test_unwatched_process_survives(parent: Parent) -> None:
    """unwatch(): the process outlives the parent (the fixture kills it)."""
    kept = parent.start("sleep", "1000")
    killed = parent.start("sleep", "1000")
    assert parent.ask(f"unwatch {kept.pid}") == "ok"
    end(parent, "sigkill")
    _, err = parent.finish()  # the watcher exited: it is done
    wait_until(lambda: not killed.alive(), "the still-watched process is killed")
    assert kept.alive()
    assert f"(pid {kept.pid})" not in err


def test_children_holding_inherited_fds_do_not_delay_the_kill(parent: Parent) -> None:
    """Processes started after the watcher (close_fds True and False) and a fork() child
    that keeps running Python do not hold the watcher's socket: it sees the parent die."""
    watched = parent.start("sleep", "1000")
    others = [parent.start("sleep", "1000", watch=False),
              parent.start("sleep", "1000", watch=False, close_fds=False),
              parent.fork()]
    end(parent, "sigkill")
    parent.finish()
    wait_until(lambda: not watched.alive(), "the watched process is killed")
    assert all(p.alive() for p in others)  # not watched: not the watcher's business


def test_exited_process_is_left_alone(parent: Parent) -> None:
    """A watched process that exited and was reaped: at the end nothing is killed, nothing
    is reported, no error (the pid now belongs to nobody, or to someone else)."""
    done = parent.start("true")
    assert parent.ask(f"wait {done.pid}") == "0"
    survivor = parent.start("sleep", "1000", watch=False)
    end(parent, "exit")
    code, err = parent.finish()
    assert code == 0
    assert err == ""
    assert survivor.alive()


def test_watcher_death_warns_once_and_breaks_nothing(parent: Parent) -> None:
    """A dead watcher: watch() and unwatch() go on without raising; one ReaperWarning."""
    first = parent.start("sleep", "1000")
    watcher = parent.watcher()
    watcher.kill()
    wait_until(lambda: not watcher.alive(), "the watcher is killed")
    second = parent.start("sleep", "1000")
    assert parent.ask(f"watch {second.pid}") == "ok"
    assert parent.ask(f"unwatch {first.pid}") == "ok"
    assert parent.ask("watcher") == "None"
    end(parent, "exit")
    code, err = parent.finish()
    assert code == 0, err
    assert err.count("ReaperWarning") == 1, err
    assert "Traceback" not in err


def test_unused_reaper_costs_nothing(parent: Parent) -> None:
    """Importing the reaper and unwatching an unknown pid start no process."""
    assert parent.ask("unwatch 1") == "ok"
    assert parent.ask("watcher") == "None"
    assert parent.ask("children") == "none"
    assert parent.ask("modules") == "False"  # not even subprocess is imported


def test_a_process_already_gone_is_not_watched() -> None:
    """watch() of a pid that no longer exists: no error, no watcher started."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    before = reaper.watcher_pid()
    reaper.watch(proc.pid, "gone")  # the pid is free: pidfd_open says so
    assert reaper.watcher_pid() == before


def test_module_entry_point_needs_the_socket() -> None:
    """``python -m pytest_kdump.reaper`` runs the watcher; on a stdin that is not its
    socket it says so and exits 2 (it does not wait forever)."""
    proc = subprocess.run([sys.executable, "-m", "pytest_kdump.reaper"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=WAIT)
    assert proc.returncode == 2
    assert "stdin must be the socket" in proc.stderr


def test_own_group_kills_the_group_and_unwatches() -> None:
    """reaper.own_group(): the process in a group of its own, watched while the block runs;
    on the way out (here an exception) the group, a child the process started included, is
    killed, the process reaped and unwatched."""
    before = set(reaper._watched)  # other tests of this process may watch theirs
    with pytest.raises(RuntimeError), reaper.own_group(
            ["sh", "-c", "sleep 1000 & echo $!; wait"], name="sh",
            stdout=subprocess.PIPE, text=True) as proc:
        child = int(proc.stdout.readline())
        assert os.getpgid(child) == proc.pid != os.getpgid(0)
        assert proc.pid in reaper._watched
        raise RuntimeError("the block failed")
    assert proc.returncode is not None
    wait_until(lambda: _gone(child), "the group's other process killed")
    assert not reaper._watched - before


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True

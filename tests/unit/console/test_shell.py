"""Shell against a real busybox shell on a pty."""

from __future__ import annotations

import errno
import os
import select
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from pytest_kdump.console.capture import ConsoleCapture, SourceGone
from pytest_kdump.console.shell import Shell
from pytest_kdump.console.spawn import ConsoleSpawn
from tests.unit.console.conftest import FakeSource


class PtyBoard:
    """A fake board: busybox sh on a pseudo-terminal, its console the pty master."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        env = {"PS1": "kdump# ", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/",
               "TERM": "vt100", "ENV": "/dev/null"}
        # setsid -c: the pty becomes the shell's controlling terminal, so ^C works as on a
        # serial console
        self.proc = subprocess.Popen(["/bin/busybox", "setsid", "-c", "/bin/busybox", "sh",
                                      "-i"], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, cwd="/", start_new_session=True)
        os.close(slave)

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.master, 65536)
        except OSError as exc:  # EIO: the shell exited and the slave side closed
            if exc.errno == errno.EIO:
                raise SourceGone() from None
            raise
        if not data:
            raise SourceGone()
        return data

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        os.close(self.master)


@pytest.fixture
def busybox(tmp_path: Path) -> Iterator[tuple[Shell, ConsoleCapture, PtyBoard]]:
    assert os.access("/bin/busybox", os.X_OK), "/bin/busybox is missing: run ./setup"
    board = PtyBoard()
    cap = ConsoleCapture(board.read, tmp_path)
    sp = ConsoleSpawn(cap, board.write, timeout=5)
    cap.resume()
    shell = Shell(sp, prompt="kdump# ")
    try:
        yield shell, cap, board
    finally:
        sp.close()
        cap.close()
        board.close()


def test_shell_run(busybox: tuple[Shell, ConsoleCapture, PtyBoard]) -> None:
    shell, capture, _ = busybox
    shell.wait_ready(10)
    assert (shell.run("true").rc, shell.run("true").output) == (0, "")
    assert shell.run("false").rc == 1
    r = shell.run("(echo hi; exit 3)")
    assert (r.output, r.rc) == ("hi", 3)
    assert str(r) == "$ (echo hi; exit 3)  (exit 3)\nhi"
    r = shell.run("printf 'a\\nb\\n\\n'; sh -c 'exit 7'")
    assert (r.output, r.rc) == ("a\nb", 7)
    r = shell.run("cat /nonexistent-kdump-file")
    assert r.rc == 1 and "No such file or directory" in r.output
    r = shell.run("echo $((6*7))")
    assert (r.output, r.rc) == ("42", 0)
    # the raw console holds the command lines' echo: the markers there are spelled KD-''BEGIN,
    # so only the real output is taken
    raw = capture.raw_path.read_bytes()
    assert b"KD-''BEGIN" in raw


def test_shell_echo_not_taken_for_marker(busybox: tuple[Shell, ConsoleCapture, PtyBoard]
                                         ) -> None:
    shell, _, _ = busybox
    shell.wait_ready(10)
    # the echo of the command line comes at once; the output after a while
    r = shell.run("sleep 0.3; echo late")
    assert (r.output, r.rc) == ("late", 0)
    # a command line longer than the terminal: busybox wraps its echo
    long = "x" * 300
    r = shell.run(f"echo {long}")
    assert (r.output, r.rc) == (long, 0)
    # output that looks like a marker of another command is just output
    r = shell.run("echo KD-END-999999-0-")
    assert (r.output, r.rc) == ("KD-END-999999-0-", 0)


def test_shell_timeout_and_board_gone(busybox: tuple[Shell, ConsoleCapture, PtyBoard]) -> None:
    shell, capture, board = busybox
    shell.wait_ready(10)
    with pytest.raises(pexpect.TIMEOUT):
        shell.run("sleep 3", timeout=0.5)
    board.write(b"\x03")  # ^C the sleep
    shell.wait_ready(5)
    shell.spawn.sendline("exit")
    with pytest.raises(pexpect.EOF):
        shell.spawn.expect_exact("never", timeout=5)
    assert capture.gone
    board.proc.wait(5)


def test_shell_wait_ready_times_out_without_prompt(capture: ConsoleCapture,
                                                   spawn: ConsoleSpawn,
                                                   source: FakeSource) -> None:
    shell = Shell(spawn, prompt="kdump# ")
    source.feed(b"[    1.0] still booting\r\n")
    with pytest.raises(pexpect.TIMEOUT):  # the wait is bounded: it gives up
        shell.wait_ready(0.5)
    assert source.written.startswith(b"\n")  # it asked for a prompt

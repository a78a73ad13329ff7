"""Tests of the console capture (pytest_kdump.console) over a fake in-memory source, and of
pytest_kdump.shell.Shell against a real busybox shell on a pseudo-terminal."""

from __future__ import annotations

import errno
import os
import queue
import random
import re
import select
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

from pytest_kdump import console as console_mod
from pytest_kdump.console import ConsoleCapture, ConsoleSpawn, SourceGone
from pytest_kdump.shell import Shell

RAW = Path(__file__).parent / "data" / "sysrq-x86_64" / "console.raw"
STAMP = re.compile(r"\[\s*\d+\.\d{3}\] ")
LINE_STAMP = re.compile(r"^\[\s*\d+\.\d{3}\] ", re.M)  # ^ is after \n only, not after \r


class FakeSource:
    """A console fed by the test: ``feed`` bytes, ``vanish`` to make the board go away."""

    _GONE = object()

    def __init__(self) -> None:
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.written = bytearray()

    def feed(self, *chunks: bytes) -> None:
        for chunk in chunks:
            self.q.put(chunk)

    def vanish(self) -> None:
        self.q.put(self._GONE)

    def read(self, timeout: float) -> bytes:
        try:
            item = self.q.get(timeout=timeout)
        except queue.Empty:
            return b""
        if item is self._GONE:
            raise SourceGone()
        return item

    def write(self, data: bytes) -> None:
        self.written += data


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def capture(source: FakeSource, tmp_path: Path) -> Iterator[ConsoleCapture]:
    cap = ConsoleCapture(source.read, tmp_path / "logs")
    yield cap
    cap.close()


@pytest.fixture
def spawn(capture: ConsoleCapture, source: FakeSource) -> Iterator[ConsoleSpawn]:
    sp = ConsoleSpawn(capture, source.write, timeout=5)
    capture.resume()
    yield sp
    sp.close()


def _read_log(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as f:  # keep the \r of the console
        return f.read()


def _strip_stamps(text: str) -> str:
    return LINE_STAMP.sub("", text)


# --- logs -----------------------------------------------------------------------------------

def test_raw_and_text_log_of_real_console(capture: ConsoleCapture, source: FakeSource) -> None:
    data = RAW.read_bytes()
    rng = random.Random(1)
    pos = 0
    while pos < len(data):  # chunks cut anywhere, also between \r and \n
        n = rng.randint(1, 700)
        source.feed(data[pos:pos + n])
        pos += n
    capture.resume()
    wait_for(lambda: capture.total_bytes == len(data))
    capture.close()
    assert capture.raw_path.read_bytes() == data
    text = _read_log(capture.log_path)
    lines = text.split("\n")[:-1]
    # one host timestamp per console line (\n-terminated), none after a lone \r
    assert len(lines) == data.count(b"\n") and text.endswith("\n")
    assert all(STAMP.match(line) for line in lines)
    assert len(STAMP.findall(text)) == len(lines)
    assert _strip_stamps(text) == data.decode("utf-8", "replace")


def test_text_log_decodes_characters_split_across_chunks(capture: ConsoleCapture,
                                                         source: FakeSource) -> None:
    data = "température: 42 °C ✓\n".encode()
    source.feed(*(data[i:i + 1] for i in range(len(data))))  # one byte per read
    capture.resume()
    wait_for(lambda: capture.total_bytes == len(data))
    capture.close()
    assert capture.raw_path.read_bytes() == data
    text = capture.log_path.read_text(encoding="utf-8")
    assert _strip_stamps(text) == data.decode()


def test_flood_raw_log_is_byte_exact(capture: ConsoleCapture, source: FakeSource) -> None:
    rng = random.Random(7)
    alphabet = bytes(range(0x20, 0x7f)) + b"\n" * 3
    data = rng.choices(alphabet, k=5_500_000)
    data = bytes(data)
    start = time.monotonic()
    pos = 0
    chunks = 0
    while pos < len(data):
        n = rng.randint(1, 8192)
        source.feed(data[pos:pos + n])
        pos += n
        chunks += 1
    capture.resume()
    wait_for(lambda: capture.total_bytes == len(data), timeout=10)
    capture.close()
    elapsed = time.monotonic() - start
    assert capture.raw_path.read_bytes() == data
    text = capture.log_path.read_text(encoding="utf-8")
    assert text.count("\n") == data.count(b"\n") + (not data.endswith(b"\n"))
    assert elapsed < 5, f"{len(data)} bytes in {chunks} chunks took {elapsed:.1f} s"
    # the history kept for tail() stays bounded
    assert capture._history_size <= console_mod.HISTORY_BYTES + 8192


def test_attach_detach_log(capture: ConsoleCapture, source: FakeSource, tmp_path: Path) -> None:
    capture.resume()
    before, during, after = (b"before the test\r\n", [b"during ", b"the test\r\n",
                             b"second line\r\n"], b"after the test\r\n")
    source.feed(before)
    wait_for(lambda: capture.total_bytes == len(before))
    per_test = tmp_path / "test.log"
    capture.attach_log(per_test)
    source.feed(*during)
    total = len(before) + len(b"".join(during))
    wait_for(lambda: capture.total_bytes == total)
    capture.detach_log(per_test)
    source.feed(after)
    wait_for(lambda: capture.total_bytes == total + len(after))
    capture.close()
    text = _read_log(per_test)
    assert _strip_stamps(text) == "during the test\r\nsecond line\r\n"
    assert len(LINE_STAMP.findall(text)) == len(STAMP.findall(text)) == 2
    session = _strip_stamps(_read_log(capture.log_path))
    assert session == ("before the test\r\nduring the test\r\nsecond line\r\n"
                       "after the test\r\n")


def test_detach_mid_line_ends_the_line(capture: ConsoleCapture, source: FakeSource,
                                       tmp_path: Path) -> None:
    capture.resume()
    per_test = tmp_path / "test.log"
    capture.attach_log(per_test)
    source.feed(b"no newline yet")
    wait_for(lambda: capture.total_bytes == 14)
    capture.detach_log(per_test)
    assert _strip_stamps(per_test.read_text()) == "no newline yet\n"


def test_echo_gets_the_text(source: FakeSource, tmp_path: Path) -> None:
    seen: list[str] = []
    cap = ConsoleCapture(source.read, tmp_path, echo=seen.append)
    try:
        cap.resume()
        source.feed(b"a", b"b\n")
        wait_for(lambda: "".join(seen) == "ab\n")
    finally:
        cap.close()


def test_tail(capture: ConsoleCapture, source: FakeSource) -> None:
    capture.resume()
    data = b"".join(b"line %d\r\n" % i for i in range(100)) + b"kdump# \x1b[6n"
    source.feed(data)
    wait_for(lambda: capture.total_bytes == len(data))
    assert capture.tail(3) == "line 98\nline 99\nkdump# "
    assert capture.tail(200).splitlines()[0] == "line 0"


def test_pause_and_resume(capture: ConsoleCapture, source: FakeSource) -> None:
    capture.resume()
    source.feed(b"one\n")
    wait_for(lambda: capture.total_bytes == 4)
    capture.pause()
    time.sleep(0.3)  # let the reader finish its current read
    source.feed(b"two\n")
    time.sleep(0.3)
    assert capture.total_bytes == 4
    capture.resume()
    wait_for(lambda: capture.total_bytes == 8)


# --- ConsoleSpawn ---------------------------------------------------------------------------

def test_expect_across_chunks(spawn: ConsoleSpawn, source: FakeSource) -> None:
    source.feed(b"[    1.0] Linux ver")
    with pytest.raises(pexpect.TIMEOUT):
        spawn.expect_exact("Linux version", timeout=0.3)
    source.feed(b"sion 6.1.0-56-clo", b"ud-amd64 (debian", b"-kernel@lists)\r\n")
    spawn.expect(r"Linux version (\S+) ", timeout=2)
    assert spawn.match.group(1) == "6.1.0-56-cloud-amd64"
    assert spawn.before == "[    1.0] "


def test_expect_multibyte_split(spawn: ConsoleSpawn, source: FakeSource) -> None:
    data = "café ✓ ok".encode()
    source.feed(*(data[i:i + 1] for i in range(len(data))))
    spawn.expect_exact("café ✓ ok", timeout=2)


def test_send_goes_to_the_board(spawn: ConsoleSpawn, source: FakeSource) -> None:
    assert spawn.sendline("echo hi") == 8
    spawn.send(b"\x03")
    assert bytes(source.written) == b"echo hi\n\x03"


def test_eof_when_source_gone_and_resume(capture: ConsoleCapture, spawn: ConsoleSpawn,
                                         source: FakeSource) -> None:
    source.feed(b"reboot: Power down\r\n")
    source.vanish()
    spawn.expect_exact("Power down", timeout=2)  # bytes before the EOF are still matched
    with pytest.raises(pexpect.EOF):
        spawn.expect_exact("never", timeout=2)
    assert capture.gone
    with pytest.raises(pexpect.EOF):  # stays at EOF
        spawn.expect_exact("never", timeout=0.1)
    # the board is powered on again: the same capture and spawn go on
    source.feed(b"[    0.000000] Linux version 6.1.0-56-cloud-amd64 (debian-kernel)\r\n")
    spawn.drain()
    spawn.reset_eof()
    capture.resume()
    spawn.expect(r"Linux version (\S+) ", timeout=2)
    assert not capture.gone
    assert spawn.match.group(1) == "6.1.0-56-cloud-amd64"


def test_eof_without_pending_data(capture: ConsoleCapture, spawn: ConsoleSpawn,
                                  source: FakeSource) -> None:
    source.feed(b"x")
    spawn.expect_exact("x", timeout=2)
    source.vanish()
    with pytest.raises(pexpect.EOF):
        spawn.expect_exact("y", timeout=2)
    spawn.reset_eof()
    capture.resume()
    source.feed(b"y")
    spawn.expect_exact("y", timeout=2)


def test_drain_forgets_unmatched(spawn: ConsoleSpawn, source: FakeSource,
                                 capture: ConsoleCapture) -> None:
    source.feed(b"old prompt kdump# ")
    wait_for(lambda: capture.total_bytes == 18)
    spawn.drain()
    source.feed(b"new output\n")
    spawn.expect_exact("new output", timeout=2)
    assert "old prompt" not in spawn.before


# --- Shell against a real busybox shell on a pty ----------------------------------------------

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
    if not os.access("/bin/busybox", os.X_OK):
        pytest.skip("/bin/busybox is not installed")
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
    start = time.monotonic()
    with pytest.raises(pexpect.TIMEOUT):
        shell.wait_ready(0.5)
    assert time.monotonic() - start < 1.5
    assert source.written.startswith(b"\n")  # it asked for a prompt

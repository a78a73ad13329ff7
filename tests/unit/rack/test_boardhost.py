"""The board host as a real process: its power switch driven by labgrid's own ``rest`` power
model, its serial relay read through the pty the way ser2net opens it. The "QEMU" is a small
Python board that connects to the relay like QEMU's ``-chardev socket,server=off``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from labgrid.driver.power import rest

from pytest_kdump.rack import control

FAKE_BOARD = r"""
import socket, sys, threading, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"hello from board\n")
if len(sys.argv) > 2 and sys.argv[2] == "flood":  # a boot log, as fast as it goes
    time.sleep(0.5)
    s.sendall(b"".join(b"line %06d\n" % i for i in range(10000)) + b"END\n")
    time.sleep(60)
def echo():
    while True:
        data = s.recv(100)
        if not data:
            return
        s.sendall(b"echo:" + data)
threading.Thread(target=echo, daemon=True).start()
n = 0
while True:
    time.sleep(0.05)
    n += 1
    s.sendall(b"tick %d\n" % n)
    if len(sys.argv) > 2 and n >= int(sys.argv[2]):
        sys.exit(0)  # a board that powers itself off
"""


@pytest.fixture
def host(tmp_path: Path):
    script = tmp_path / "board.py"
    script.write_text(FAKE_BOARD)
    config = {"boards": [
        {"name": "board-1", "index": 1, "argv": [sys.executable, str(script), "{serial_port}"],
         "log": str(tmp_path / "b1.log")},
        {"name": "board-2", "index": 2,
         "argv": [sys.executable, str(script), "{serial_port}", "10"],
         "log": str(tmp_path / "b2.log")},
        {"name": "board-3", "index": 3,
         "argv": [sys.executable, "-c", "import sys; print('qemu: could not load kernel'); "
                  "sys.exit(1)"], "log": str(tmp_path / "b3.log")},
        {"name": "board-4", "index": 4,
         "argv": [sys.executable, str(script), "{serial_port}", "flood"],
         "log": str(tmp_path / "b4.log")}]}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with open(tmp_path / "host.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pytest_kdump.rack.boardhost",
                                 str(tmp_path / "config.json")], stderr=log)
    deadline = time.monotonic() + 20
    while not (tmp_path / "boards.json").exists():
        assert proc.poll() is None, (tmp_path / "host.log").read_text()
        assert time.monotonic() < deadline, "the board host did not get ready"
        time.sleep(0.05)
    ready = json.loads((tmp_path / "boards.json").read_text())
    yield proc, ready, tmp_path
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)


def _read_until(fd: int, pattern: bytes, timeout: float = 10) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while not re.search(pattern, seen):
        assert time.monotonic() < deadline, f"{pattern!r} not seen in {seen[-300:]!r}"
        try:
            seen += os.read(fd, 4096)
        except BlockingIOError:
            time.sleep(0.02)
    return seen


def _open_pty(path: str) -> int:
    return os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)


def test_rest_power_starts_and_kills_the_board_and_the_pty_carries_its_console(host) -> None:
    proc, ready, _ = host
    url, tty = ready["power_url"], ready["boards"]["board-1"]["tty"]
    assert rest.power_get(url, None, 1) is False
    fd = _open_pty(tty)
    try:
        rest.power_set(url, None, 1, True)
        assert rest.power_get(url, None, 1) is True
        _read_until(fd, rb"hello from board\n")
        os.write(fd, b"ping\n")
        _read_until(fd, rb"echo:ping\n")
        rest.power_set(url, None, 1, False)
        assert rest.power_get(url, None, 1) is False
        rest.power_set(url, None, 1, True)  # power on again: a new boot on the same pty
        _read_until(fd, rb"hello from board\n")
    finally:
        os.close(fd)
    assert rest.power_get(url, None, 2) is False  # the other outlet was never switched


def test_a_new_reader_gets_no_output_from_before_it_opened_the_port(host) -> None:
    _, ready, _ = host
    url, tty = ready["power_url"], ready["boards"]["board-1"]["tty"]
    rest.power_set(url, None, 1, True)
    fd = _open_pty(tty)
    seen = _read_until(fd, rb"tick \d+\n")
    last_read = max(int(n) for n in re.findall(rb"tick (\d+)\n", seen))
    time.sleep(0.5)  # ~10 ticks the reader leaves unread in the pty
    os.close(fd)
    time.sleep(1.0)  # ~20 ticks nobody reads
    fd = _open_pty(tty)
    try:
        seen = _read_until(fd, rb"\ntick \d+\n")
    finally:
        os.close(fd)
    first = int(re.search(rb"tick (\d+)", seen).group(1))
    assert first > last_read + 15, f"stale output after re-opening: {seen[:200]!r}"


def test_a_board_that_powers_itself_off_reads_as_off(host) -> None:
    _, ready, _ = host
    url = ready["power_url"]
    rest.power_set(url, None, 2, True)  # board-2 exits after 10 ticks
    deadline = time.monotonic() + 10
    while rest.power_get(url, None, 2):
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_a_board_that_cannot_start_is_a_500_naming_its_log(host) -> None:
    _, ready, tmp_path = host
    answer = requests.put(ready["power_url"].format(index=3), data=b"1", timeout=10)
    assert answer.status_code == 500
    assert "exited at once with status 1" in answer.text, answer.text
    assert "could not load kernel" in answer.text and str(tmp_path / "b3.log") in answer.text
    assert rest.power_get(ready["power_url"], None, 3) is False


def test_a_slow_reader_loses_no_output(host) -> None:
    """ser2net behind: the board's output waits for it, none is dropped."""
    _, ready, _ = host
    fd = _open_pty(ready["boards"]["board-4"]["tty"])
    try:
        rest.power_set(ready["power_url"], None, 4, True)
        seen, deadline = b"", time.monotonic() + 60
        while not seen.endswith(b"END\n"):
            assert time.monotonic() < deadline, seen[-200:]
            time.sleep(0.01)  # a slow reader: the pty fills up
            try:
                seen += os.read(fd, 1024)
            except BlockingIOError:
                pass
    finally:
        os.close(fd)
    lines = seen.split(b"hello from board\n", 1)[1].splitlines()[:-1]
    assert lines == [b"line %06d" % i for i in range(10000)]


def test_unknown_outlets_and_values_are_refused(host) -> None:
    _, ready, _ = host
    url = ready["power_url"]
    assert requests.get(url.format(index=9), timeout=5).status_code == 404
    assert requests.put(url.format(index=1), data=b"on", timeout=5).status_code == 400
    assert requests.get(url.format(index=1).replace("/value", ""), timeout=5).status_code == 404


def test_sigterm_stops_the_host_and_its_boards(host) -> None:
    proc, ready, tmp_path = host
    rest.power_set(ready["power_url"], None, 1, True)
    time.sleep(0.3)
    board = [p for p in _children(proc.pid)]
    assert board, "no board process"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    time.sleep(0.2)
    assert not [p for p in board if control._alive(p)], "a board outlived its host"


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(x) for x in out.split()]

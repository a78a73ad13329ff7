"""ConsoleCapture: raw and text logs, per-test logs, echo, pause/resume."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest

from pytest_kdump.console import capture as console_mod
from pytest_kdump.console.capture import ConsoleCapture
from tests.helpers import DATA
from tests.unit.console.conftest import FakeSource, wait_for

RAW = DATA / "sysrq-x86_64" / "console.raw"


STAMP = re.compile(r"\[\s*\d+\.\d{3}\] ")


LINE_STAMP = re.compile(r"^\[\s*\d+\.\d{3}\] ", re.M)  # ^ is after \n only, not after \r


def _read_log(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as f:  # keep the \r of the console
        return f.read()


def _strip_stamps(text: str) -> str:
    return LINE_STAMP.sub("", text)


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
    pos = 0
    while pos < len(data):
        n = rng.randint(1, 8192)
        source.feed(data[pos:pos + n])
        pos += n
    capture.resume()
    wait_for(lambda: capture.total_bytes == len(data), timeout=120)  # every byte arrives
    capture.close()
    assert capture.raw_path.read_bytes() == data
    text = capture.log_path.read_text(encoding="utf-8")
    assert text.count("\n") == data.count(b"\n") + (not data.endswith(b"\n"))
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


def test_subscriber_beyond_its_bound_loses_the_oldest(source: FakeSource, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that fell behind gets a line saying how much it lost, then an end of the
    console that fell in the gap, then the newest chunks."""
    monkeypatch.setattr(ConsoleCapture, "SUBSCRIBER_BYTES", 1000)
    cap = ConsoleCapture(source.read, tmp_path, auto_resume=True)
    try:
        sub = cap.subscribe()
        cap.resume()
        source.feed(b"a" * 600)
        source.vanish()
        source.feed(b"b" * 600, b"c" * 600)
        wait_for(lambda: cap.total_bytes == 1800)
        items = [sub.get(timeout=5) for _ in range(3)]
    finally:
        cap.close()
    assert isinstance(items[0], bytes)
    assert items[0].startswith(b"\r\n[pytest-kdump: 1200 bytes of console output lost here")
    assert items[1] is console_mod.END_OF_STREAM and items[2] == b"c" * 600
    assert sub.dropped == 1200 and sub.empty()
    assert cap.raw_path.read_bytes() == b"a" * 600 + b"b" * 600 + b"c" * 600


def test_subscriber_bound_holds_for_tiny_chunks(source: FakeSource, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A trickle of one-byte reads nobody takes: each chunk counts its own cost, so the
    queue stays bounded in memory, not only in console bytes."""
    monkeypatch.setattr(ConsoleCapture, "SUBSCRIBER_BYTES", 6500)
    cap = ConsoleCapture(source.read, tmp_path)
    try:
        sub = cap.subscribe()
        cap.resume()
        source.feed(*[b"x"] * 1000)
        wait_for(lambda: cap.total_bytes == 1000)
        queued = sub.qsize() - 1  # the first item is the line saying what was lost
        assert queued <= 6500 // (1 + sub.CHUNK_COST)
        assert sub.dropped == 1000 - queued
    finally:
        cap.close()
    assert cap.log_path.read_text().count("a console reader fell more than") == 1

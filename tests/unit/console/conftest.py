"""A console fed by the test, its capture and a pexpect spawn over it."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_kdump.console.capture import ConsoleCapture, SourceGone
from pytest_kdump.console.spawn import ConsoleSpawn


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


def wait_for(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    """Return once ``cond()`` is true; fail after ``timeout`` s (generous: the host is loaded)."""
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

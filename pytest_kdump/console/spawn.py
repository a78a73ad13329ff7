"""pexpect over a captured console stream, so ``expect`` never races the logger for bytes."""

from __future__ import annotations

import queue
from collections.abc import Callable

import pexpect
from pexpect.spawnbase import SpawnBase

from pytest_kdump.console.capture import _EOF, ConsoleCapture


class ConsoleSpawn(SpawnBase):
    """A pexpect spawn over a :class:`ConsoleCapture` stream; writes go to ``write``."""

    def __init__(self, capture: ConsoleCapture, write: Callable[[bytes], None],
                 timeout: float = 30) -> None:
        # each read searches the new text plus this much before it, not the whole buffer
        super().__init__(timeout=timeout, maxread=65536, searchwindowsize=16384,
                         encoding="utf-8", codec_errors="replace")
        self.capture = capture
        self._write = write
        self._queue = capture.subscribe()
        self.delayafterread = None
        self._eof = False

    def read_nonblocking(self, size: int = 1, timeout: float | None = -1) -> str:
        if self._eof:
            raise pexpect.EOF("console closed")
        if timeout == -1:
            timeout = self.timeout
        try:
            chunk = self._queue.get(timeout=timeout if timeout is not None else 1e6)
        except queue.Empty:
            raise pexpect.TIMEOUT("no console output") from None
        parts = [chunk]
        while len(parts) < 64:  # take what is already queued in one go
            try:
                parts.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if _EOF in parts:
            idx = parts.index(_EOF)
            parts = parts[:idx]
            self._eof = True
            if not parts:
                raise pexpect.EOF("console closed")
        return self._decoder.decode(b"".join(parts), final=False)

    def reset_eof(self) -> None:
        """Accept input again after the board came back (power-on after EOF)."""
        self._eof = False

    def drain(self) -> None:
        """Forget what was received and not yet matched (it stays in the logs)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _EOF:
                self._eof = True
        self._buffer = self.buffer_type()
        self._before = self.buffer_type()

    def send(self, s: str | bytes) -> int:
        data = s.encode() if isinstance(s, str) else s
        self._write(data)
        return len(data)

    def sendline(self, s: str = "") -> int:
        return self.send(s + "\n")

    def close(self) -> None:
        self.capture.unsubscribe(self._queue)

"""pexpect over a captured console stream, so ``expect`` never races the logger for bytes."""

from __future__ import annotations

import queue
from collections.abc import Callable

import pexpect
from pexpect.spawnbase import SpawnBase

from pytest_kdump.console.capture import END_OF_STREAM, ConsoleCapture


class ConsoleSpawn(SpawnBase):
    """A pexpect spawn over a :class:`ConsoleCapture` stream; writes go to ``write``."""

    # pexpect searches a read's new text plus the window before it, but of a read longer than
    # the window only its last window: reads are kept below it so that no text goes unsearched
    SEARCH_WINDOW = 16384
    READ_LIMIT = 8192  # bytes, so at most 8192 characters

    def __init__(self, capture: ConsoleCapture, write: Callable[[bytes], None],
                 timeout: float = 30) -> None:
        super().__init__(timeout=timeout, maxread=self.READ_LIMIT,
                         searchwindowsize=self.SEARCH_WINDOW,
                         encoding="utf-8", codec_errors="replace")
        self.capture = capture
        self._write = write
        self._queue = capture.subscribe()
        self.delayafterread = None
        self._eof = False
        self._pending = b""  # received, not yet handed to pexpect

    def read_nonblocking(self, size: int = 1, timeout: float | None = -1) -> str:
        if not self._pending:
            self._pending = self._receive(timeout)
        data = self._pending[:self.READ_LIMIT]
        self._pending = self._pending[self.READ_LIMIT:]
        return self._decoder.decode(data, final=False)

    def _receive(self, timeout: float | None) -> bytes:
        """What is queued (waiting up to ``timeout`` for the first chunk); EOF once the
        console closed and everything before it was read."""
        if self._eof:
            raise pexpect.EOF("console closed")
        if timeout == -1:
            timeout = self.timeout
        try:
            chunk = self._queue.get(timeout=timeout if timeout is not None else 1e6)
        except queue.Empty:
            raise pexpect.TIMEOUT("no console output") from None
        parts = [chunk]
        size = len(chunk) if chunk is not END_OF_STREAM else 0
        while size < self.READ_LIMIT:  # take what is already queued in one go
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            parts.append(item)
            if item is END_OF_STREAM:
                break
            size += len(item)
        if END_OF_STREAM in parts:
            parts = parts[:parts.index(END_OF_STREAM)]
            self._eof = True
            if not parts:
                raise pexpect.EOF("console closed")
        return b"".join(parts)

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
            if item is END_OF_STREAM:
                self._eof = True
        self._pending = b""
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

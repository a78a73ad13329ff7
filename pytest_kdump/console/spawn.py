"""pexpect over a captured console stream, so ``expect`` never races the logger for bytes."""

from __future__ import annotations

import queue
from collections.abc import Callable

import pexpect
from pexpect.spawnbase import SpawnBase

from pytest_kdump.console.capture import END_OF_STREAM, ConsoleCapture
from pytest_kdump.errors import CaptureError


class ConsoleSpawn(SpawnBase):
    """A pexpect spawn over a :class:`ConsoleCapture` stream; writes go to ``write``.

    The console's end (the board went away) is an event at its place in the stream: a wait
    that reaches it raises :class:`pexpect.EOF` once, and the bytes after it (the board came
    back) go to the next wait. While the console is gone and nothing new came, every wait
    raises EOF at once. If the capture's reader stopped on an error, or one of its listeners
    failed, waits raise :class:`~pytest_kdump.errors.CaptureError`. If this spawn fell more
    than ``capture.SUBSCRIBER_BYTES`` behind, the stream has a line saying how many bytes it
    lost there (:attr:`lost` counts them).
    """

    # pexpect searches a read's new text plus the window before it, but of a read longer than
    # the window only its last window: reads are kept below it so that no text goes unsearched
    SEARCH_WINDOW = 16384
    READ_LIMIT = 8192  # bytes, so at most 8192 characters
    RECORD_LIMIT = 64 << 20  # characters start_recording keeps at most

    def __init__(self, capture: ConsoleCapture, write: Callable[[bytes], None],
                 timeout: float = 30) -> None:
        super().__init__(timeout=timeout, maxread=self.READ_LIMIT,
                         searchwindowsize=self.SEARCH_WINDOW,
                         encoding="utf-8", codec_errors="replace")
        self.capture = capture
        self._write = write
        self._queue = capture.subscribe(strict=True)
        self.delayafterread = None
        self._eof = False  # the end of the stream was reached and not yet raised
        self._pending = b""  # received, not yet handed to pexpect
        self._recording: list[str] | None = None  # see start_recording
        self._recorded = 0

    @property
    def lost(self) -> int:
        """Bytes this spawn lost because it fell too far behind (the logs have them)."""
        return self._queue.dropped

    def read_nonblocking(self, size: int = 1, timeout: float | None = -1) -> str:
        if not self._pending:
            self._pending = self._receive(timeout)
        data = self._pending[:self.READ_LIMIT]
        self._pending = self._pending[self.READ_LIMIT:]
        text = self._decoder.decode(data, final=False)
        if self._recording is not None and self._recorded < self.RECORD_LIMIT:
            self._recording.append(text)
            self._recorded += len(text)
        return text

    def start_recording(self) -> None:
        """Keep every character read from now on, until :meth:`stop_recording` (at most
        :data:`RECORD_LIMIT`): pexpect's ``before`` holds only the last search window, too
        little for a block of output such as the ``serial`` transport's dmesg."""
        self._recording, self._recorded = [], 0

    def stop_recording(self) -> str:
        """What was read since :meth:`start_recording` (empty if not recording); stops."""
        text = "".join(self._recording or [])
        self._recording, self._recorded = None, 0
        return text

    def _receive(self, timeout: float | None) -> bytes:
        """What is queued (waiting up to ``timeout`` for the first chunk), up to the next end
        of stream; EOF when that end is reached, or at once while the console is gone."""
        if self._eof:
            self._eof = False
            raise pexpect.EOF("console closed")
        if timeout == -1:
            timeout = self.timeout
        try:
            chunk = self._queue.get_nowait()
        except queue.Empty:
            if self.capture.gone:  # and nothing came since
                raise pexpect.EOF("console closed") from None
            try:
                chunk = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise pexpect.TIMEOUT("no console output") from None
        if chunk is END_OF_STREAM:
            raise pexpect.EOF("console closed")
        parts = [chunk]
        size = len(chunk)
        while size < self.READ_LIMIT:  # take what is already queued in one go
            try:
                item = self._queue.get_nowait()
            except (queue.Empty, CaptureError):  # a failure is raised by the next read
                break
            if item is END_OF_STREAM:
                self._eof = True  # raised by the next read, after these bytes
                break
            parts.append(item)
            size += len(item)
        return b"".join(parts)

    def reset_eof(self) -> None:
        """Forget an end of stream not yet raised (the board is being powered on again)."""
        self._eof = False

    def drain(self) -> None:
        """Forget what was received and not yet matched (it stays in the logs); an end of
        stream among it is still raised by the next wait."""
        if self._queue.clear():
            self._eof = True
        self._pending = b""
        self._decoder.reset()
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

"""Console capture: a background reader keeps every byte; pexpect waits on top of that stream.

One :class:`ConsoleCapture` per console reads the board in a thread, whoever else waits or not,
and writes every byte to the session's raw log, to a timestamped text log and to the logs
attached for the current test; :class:`~.spawn.ConsoleSpawn` waits on a copy of that stream, a
:class:`Subscription`.
"""

from __future__ import annotations

import codecs
import queue
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from pytest_kdump.errors import CaptureError

END_OF_STREAM = object()  # what a subscriber's queue gets when the console closed
HISTORY_BYTES = 1 << 20


class SourceGone(Exception):
    """Raised by a capture's read function when the console will give no more bytes."""


@dataclass(frozen=True)
class ListenerError:
    """A listener (or the echo) raised: it was removed and the reader went on without it."""

    listener: Callable[[str], object]
    error: BaseException
    at: float  # seconds since the capture started

    @property
    def name(self) -> str:
        return _name(self.listener)


def _name(func: object) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


class _TextLog:
    """A line log with host timestamps (seconds since the capture started) on each line."""

    def __init__(self, path: Path, t0: float, mode: str = "a") -> None:
        self.path = path
        self.file: TextIO = open(path, mode, encoding="utf-8", errors="replace", newline="")
        self.t0 = t0
        self.at_line_start = True

    def write(self, text: str, now: float) -> None:
        out = []
        for piece in text.splitlines(keepends=True):
            if self.at_line_start:
                out.append(f"[{now - self.t0:9.3f}] ")
            out.append(piece)
            self.at_line_start = piece.endswith("\n")
        self.file.write("".join(out))
        self.file.flush()

    def note(self, line: str, now: float) -> None:
        """A line of pytest-kdump's own, on a line of its own."""
        if not self.at_line_start:
            self.file.write("\n")
            self.at_line_start = True
        self.write(f"[pytest-kdump] {line}\n", now)

    def close(self) -> None:
        if not self.at_line_start:
            self.file.write("\n")
        self.file.close()


class Subscription:
    """One reader's copy of the console stream: byte chunks and :data:`END_OF_STREAM` events.

    It keeps at most ``limit`` bytes (counting :attr:`CHUNK_COST` more for each chunk, so that
    a trickle of tiny reads is bounded too): when its reader falls further behind, the oldest
    chunks are dropped, :attr:`dropped` counts their bytes, and the reader gets, in their
    place, a line saying how many bytes it lost (the capture's logs keep everything). An end
    of stream that fell in the gap is delivered just after that line.

    :meth:`get` works like :meth:`queue.SimpleQueue.get`, and raises
    :class:`~pytest_kdump.errors.CaptureError` once the capture's reader stopped on an error
    and everything queued before was read. With ``strict`` it also raises, before anything
    else, while a listener of the capture has failed (``capture.listener_errors``).
    """

    CHUNK_COST = 64  # what a queued chunk costs besides its bytes (object, deque slot)

    def __init__(self, capture: ConsoleCapture, limit: int, strict: bool = False) -> None:
        self.capture = capture
        self.limit = limit
        self.strict = strict
        self.dropped = 0  # bytes lost since the subscription began
        self._items: deque[object] = deque()
        self._size = 0  # what the queued chunks cost: their bytes and CHUNK_COST each
        self._lost = 0  # bytes lost at the head, not yet reported to the reader
        self._eof_lost = False  # an end of stream fell in that gap
        self._cond = threading.Condition()

    # -- the capture's side ------------------------------------------------------------------
    def put(self, item: bytes | object) -> bool:
        """Queue a chunk (or END_OF_STREAM), dropping the oldest chunks beyond the limit;
        True if that began a gap (the reader had lost nothing it was not told of)."""
        dropped = 0
        with self._cond:
            began_gap = False
            self._items.append(item)
            if isinstance(item, bytes):
                self._size += len(item) + self.CHUNK_COST
                while self._size > self.limit and len(self._items) > 1:
                    old = self._items.popleft()
                    if isinstance(old, bytes):
                        self._size -= len(old) + self.CHUNK_COST
                        dropped += len(old)
                    else:
                        self._eof_lost = True
                began_gap = dropped > 0 and not self._lost
                self._lost += dropped
                self.dropped += dropped
            self._cond.notify_all()
        return began_gap

    def wake(self) -> None:
        """Wake the waiting reader (the capture failed, or one of its listeners)."""
        with self._cond:
            self._cond.notify_all()

    # -- the reader's side -------------------------------------------------------------------
    def get(self, block: bool = True, timeout: float | None = None) -> bytes | object:
        """The next chunk or END_OF_STREAM; :class:`queue.Empty` if none within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self.strict and self.capture.listener_errors:
                    raise self.capture.listener_error()
                if self._lost:
                    return self._gap()
                if self._items:
                    item = self._items.popleft()
                    if isinstance(item, bytes):
                        self._size -= len(item) + self.CHUNK_COST
                    return item
                if self.capture.failure is not None:
                    raise self.capture.reader_error()
                left = None if deadline is None else deadline - time.monotonic()
                if not block or (left is not None and left <= 0):
                    raise queue.Empty
                self._cond.wait(left)

    def get_nowait(self) -> bytes | object:
        return self.get(block=False)

    def clear(self) -> bool:
        """Forget everything queued; True if an end of stream was among it."""
        with self._cond:
            eof = self._eof_lost or any(item is END_OF_STREAM for item in self._items)
            self._items.clear()
            self._size = self._lost = 0
            self._eof_lost = False
            return eof

    def drop_trailing_end(self) -> None:
        """Forget an end of stream that nothing followed (the console is back)."""
        with self._cond:
            while self._items and self._items[-1] is END_OF_STREAM:
                self._items.pop()
            if not self._items:
                self._eof_lost = False

    def qsize(self) -> int:
        with self._cond:
            return len(self._items) + bool(self._lost)

    def empty(self) -> bool:
        return self.qsize() == 0

    def _gap(self) -> bytes:
        """The line standing for the chunks dropped at the head (under the lock)."""
        lost, self._lost = self._lost, 0
        if self._eof_lost:
            self._eof_lost = False
            self._items.appendleft(END_OF_STREAM)
        return (f"\r\n[pytest-kdump: {lost} bytes of console output lost here: this reader "
                f"fell more than {self.limit >> 20} MiB behind; the console logs have them]"
                f"\r\n").encode()


class ConsoleCapture:
    """Reads a console in a background thread and keeps every byte.

    ``read(timeout)`` returns the bytes available (``b""`` if none within ``timeout``) and
    raises :class:`SourceGone` when the board's console has gone (QEMU exited). The capture
    then waits for :meth:`resume` or, with ``auto_resume``, keeps polling until the console
    answers again (someone else powered the board on), so one capture spans power cycles.

    Any other exception from ``read`` (or from writing the logs) stops the reader: it is kept
    in :attr:`failure`, the text logs say when capture stopped, and every subscriber's
    ``get`` raises :class:`~pytest_kdump.errors.CaptureError` once it has read what came
    before. ``listeners`` get every chunk's text in the reader thread (crash detection); one
    that raises (or the echo) is removed, the reader goes on, the logs say so and
    :attr:`listener_errors` keeps it: strict subscribers (:class:`~.spawn.ConsoleSpawn`) raise
    CaptureError while it is there, since what the listener did (detecting crashes) no longer
    happens. Clearing the list accepts the loss.
    """

    SUBSCRIBER_BYTES = 8 << 20  # what one subscriber may queue before it loses the oldest

    def __init__(self, read: Callable[[float], bytes], log_dir: Path, name: str = "console",
                 echo: Callable[[str], None] | None = None, auto_resume: bool = False) -> None:
        self._read = read
        self.auto_resume = auto_resume
        self.listeners: list[Callable[[str], None]] = []
        self.listener_errors: list[ListenerError] = []
        self.failure: BaseException | None = None  # what stopped the reader
        self.failed_at: float | None = None  # when, in seconds since the capture started
        self.name = name
        self.t0 = time.monotonic()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.raw_path = log_dir / f"{name}.raw"
        self.log_path = log_dir / f"{name}.log"
        self._raw: BinaryIO = open(self.raw_path, "wb")
        self._logs: list[_TextLog] = [_TextLog(self.log_path, self.t0, "w")]
        self._history: deque[bytes] = deque()
        self._history_size = 0
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._parked = threading.Event()  # set while the reader is not reading
        self._epoch = 0  # resume() calls: a read older than the last one reports nothing
        self._stop = threading.Event()
        self._gone = False
        self.total_bytes = 0
        self._echo = echo
        # one decoder for the whole stream: a character cut between two reads stays whole
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._thread = threading.Thread(target=self._loop, name=f"pytest-kdump-{name}",
                                        daemon=True)
        self._thread.start()

    # -- lifecycle -------------------------------------------------------------------------
    def resume(self) -> None:
        """Start (again) reading, e.g. after the board was powered on. An end of the console
        seen before (the last power-off, noticed late) and not followed by anything is
        forgotten, and so is one from a read that started before this call."""
        with self._lock:
            self._gone = False
            self._epoch += 1
            for sub in self._subscribers:
                sub.drop_trailing_end()
        self._running.set()

    def pause(self, wait: float = 2.0) -> None:
        """Stop reading (before powering the board off); bytes read so far are kept.

        Returns once the reader has finished the read under way (at most ``wait`` s): a board
        switched off after that is not reported gone, no end of the console is queued.
        """
        self._running.clear()
        if threading.current_thread() is not self._thread:
            self._parked.wait(wait)

    @property
    def gone(self) -> bool:
        """True when the source reported that the console went away."""
        return self._gone

    def close(self) -> None:
        self._stop.set()
        self._running.set()
        self._thread.join(timeout=5)
        with self._lock:
            for log in self._logs:
                log.close()
            self._logs.clear()
            self._raw.close()

    # -- errors ----------------------------------------------------------------------------
    def reader_error(self) -> CaptureError:
        """The error that stopped the reader, for a waiter (call only if :attr:`failure`)."""
        exc = self.failure
        error = CaptureError(
            f"the console reader of {self.name} stopped at {self.failed_at:.3f} s on {exc!r}: "
            "nothing more is read from the console",
            cause=exc,
            advice=f"reading the console ({_name(self._read)}) raised an error pytest-kdump "
                   "does not expect (its traceback is the cause below); check the board's "
                   "console connection, then restart the session")
        error.__cause__ = exc
        return error

    def listener_error(self) -> CaptureError:
        """The error for the first failed listener (call only if :attr:`listener_errors`)."""
        failed = self.listener_errors[0]
        error = CaptureError(
            f"the console listener {failed.name} of {self.name} failed at {failed.at:.3f} s "
            f"on {failed.error!r} and was removed: what it did (crash detection, echo) no "
            "longer happens",
            cause=failed.error,
            advice="a listener must not raise: this is a bug (its traceback is the cause "
                   "below); to go on without it, clear the capture's listener_errors")
        error.__cause__ = failed.error
        return error

    # -- per-test logs ---------------------------------------------------------------------
    def attach_log(self, path: Path) -> None:
        """Also write the timestamped log to ``path`` until :meth:`detach_log`."""
        with self._lock:
            self._logs.append(_TextLog(path, self.t0))

    def detach_log(self, path: Path) -> None:
        with self._lock:
            for log in [lg for lg in self._logs if lg.path == path]:
                log.close()
                self._logs.remove(log)

    # -- readers ---------------------------------------------------------------------------
    def subscribe(self, strict: bool = False) -> Subscription:
        """A queue receiving every chunk from now on (and an EOF sentinel when gone); with
        ``strict``, its ``get`` also raises while a listener has failed."""
        sub = Subscription(self, self.SUBSCRIBER_BYTES, strict)
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def unsubscribe(self, q: Subscription) -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines seen, decoded, with escape sequences dropped."""
        with self._lock:
            data = b"".join(self._history)
        text = data.decode("utf-8", "replace").replace("\r", "")
        text = text.replace("\x1b[6n", "")
        return "\n".join(text.splitlines()[-lines:])

    # -- the reader thread -----------------------------------------------------------------
    def _loop(self) -> None:
        try:
            self._read_until_stopped()
        except BaseException as exc:  # kept, logged and raised by every waiter
            self._fail(exc)

    def _read_until_stopped(self) -> None:
        while not self._stop.is_set():
            self._parked.clear()  # before the check: pause() waits for the next park
            if not self._running.is_set():
                self._parked.set()
                self._running.wait(0.2)
                continue
            epoch = self._epoch
            try:
                data = self._read(0.05)
            except SourceGone:
                with self._lock:
                    if epoch != self._epoch:  # the board went and came back meanwhile
                        continue
                    was_gone, self._gone = self._gone, True
                    subscribers = list(self._subscribers)
                if not was_gone:
                    for q in subscribers:
                        q.put(END_OF_STREAM)
                if self.auto_resume:
                    self._stop.wait(0.1)
                else:
                    self._running.clear()
                continue
            if data:
                self._gone = False
                self._store(data)

    def _fail(self, exc: BaseException) -> None:
        """The reader stopped on ``exc``: say so in the logs and to every waiter."""
        now = time.monotonic()
        with self._lock:
            self.failed_at = now - self.t0
            self.failure = exc
            self._note(f"console capture stopped at {self.failed_at:.3f} s: {exc!r}", now)
            subscribers = list(self._subscribers)
        for sub in subscribers:
            sub.wake()

    def _note(self, line: str, now: float) -> None:
        """Write ``line`` into the text logs (under the lock); a closed log is skipped."""
        for log in self._logs:
            try:
                log.note(line, now)
            except (OSError, ValueError):
                pass  # the log is closed or its disk full: the other logs still say it

    def _store(self, data: bytes) -> None:
        now = time.monotonic()
        text = self._decoder.decode(data)
        with self._lock:
            self.total_bytes += len(data)
            self._raw.write(data)
            self._raw.flush()
            for log in self._logs:
                log.write(text, now)
            self._history.append(data)
            self._history_size += len(data)
            while self._history_size > HISTORY_BYTES and len(self._history) > 1:
                self._history_size -= len(self._history.popleft())
            for q in self._subscribers:
                if q.put(data):
                    self._note(f"a console reader fell more than {q.limit >> 20} MiB behind at "
                               f"{now - self.t0:.3f} s: it loses its oldest unread output "
                               "(this log keeps everything)", now)
        if self._echo and not self._call(self._echo, text):
            self._echo = None
        for listener in list(self.listeners):
            if not self._call(listener, text) and listener in self.listeners:
                self.listeners.remove(listener)

    def _call(self, listener: Callable[[str], object], text: str) -> bool:
        """Give ``text`` to a listener; if it raises, record it and return False."""
        try:
            listener(text)
            return True
        except Exception as exc:  # recorded, logged and raised by the strict waiters
            now = time.monotonic()
            failed = ListenerError(listener, exc, now - self.t0)
            with self._lock:
                self.listener_errors.append(failed)
                self._note(f"console listener {failed.name} failed at {failed.at:.3f} s and "
                           f"was removed: {exc!r}", now)
                subscribers = list(self._subscribers)
            for sub in subscribers:
                sub.wake()
            return False

    def relocate(self, log_dir: Path) -> None:
        """Move the session logs (raw and timestamped) to ``log_dir`` and go on there."""
        log_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            main = self._logs[0]
            main.file.close()
            self._raw.close()
            new_raw, new_log = log_dir / self.raw_path.name, log_dir / self.log_path.name
            shutil.move(self.raw_path, new_raw)
            shutil.move(self.log_path, new_log)
            self.raw_path, self.log_path = new_raw, new_log
            self._raw = open(new_raw, "ab")
            at_line_start = main.at_line_start
            self._logs[0] = _TextLog(new_log, self.t0)
            self._logs[0].at_line_start = at_line_start

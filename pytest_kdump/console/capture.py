"""Console capture: a background reader keeps every byte; pexpect waits on top of that stream.

One :class:`ConsoleCapture` per console reads the board in a thread, whoever else waits or not,
and writes every byte to the session's raw log, to a timestamped text log and to the logs
attached for the current test; :class:`~.spawn.ConsoleSpawn` waits on a copy of that stream.
"""

from __future__ import annotations

import codecs
import queue
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TextIO

END_OF_STREAM = object()  # what a subscriber's queue gets when the console closed
HISTORY_BYTES = 1 << 20


class SourceGone(Exception):
    """Raised by a capture's read function when the console will give no more bytes."""


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

    def close(self) -> None:
        if not self.at_line_start:
            self.file.write("\n")
        self.file.close()


class ConsoleCapture:
    """Reads a console in a background thread and keeps every byte.

    ``read(timeout)`` returns the bytes available (``b""`` if none within ``timeout``) and
    raises :class:`SourceGone` when the board's console has gone (QEMU exited). The capture
    then waits for :meth:`resume` or, with ``auto_resume``, keeps polling until the console
    answers again (someone else powered the board on), so one capture spans power cycles.
    ``listeners`` get every chunk's text in the reader thread (crash detection).
    """

    def __init__(self, read: Callable[[float], bytes], log_dir: Path, name: str = "console",
                 echo: Callable[[str], None] | None = None, auto_resume: bool = False) -> None:
        self._read = read
        self.auto_resume = auto_resume
        self.listeners: list[Callable[[str], None]] = []
        self.name = name
        self.t0 = time.monotonic()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.raw_path = log_dir / f"{name}.raw"
        self.log_path = log_dir / f"{name}.log"
        self._raw: BinaryIO = open(self.raw_path, "wb")
        self._logs: list[_TextLog] = [_TextLog(self.log_path, self.t0, "w")]
        self._history: deque[bytes] = deque()
        self._history_size = 0
        self._subscribers: list[queue.SimpleQueue] = []
        self._lock = threading.Lock()
        self._running = threading.Event()
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
        """Start (again) reading, e.g. after the board was powered on."""
        with self._lock:
            self._gone = False
        self._running.set()

    def pause(self) -> None:
        """Stop reading (before powering the board off); bytes read so far are kept."""
        self._running.clear()

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
    def subscribe(self) -> queue.SimpleQueue:
        """A queue receiving every chunk from now on (and an EOF sentinel when gone)."""
        q: queue.SimpleQueue = queue.SimpleQueue()
        with self._lock:
            self._subscribers.append(q)
        return q

    def unsubscribe(self, q: queue.SimpleQueue) -> None:
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
        while not self._stop.is_set():
            if not self._running.wait(0.2):
                continue
            if self._stop.is_set():
                break
            try:
                data = self._read(0.05)
            except SourceGone:
                with self._lock:
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
                q.put(data)
        if self._echo:
            self._echo(text)
        for listener in self.listeners:
            listener(text)

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

"""The ``netcat`` transport: the crash kernel streams the dump over TCP to a listener here.

On the board, the crash kernel runs ``makedumpfile -F -c -d 31 /proc/vmcore | nc HOST PORT``
(or ``nc HOST PORT < /proc/vmcore``); ``HOST:PORT`` is :meth:`NetcatTransport.target`. The
protocol is one TCP connection carrying one stream, closed by the board when the stream ends.
A connection's bytes are spooled to ``spool/.stream-<n>.partial``; a later connection replaces
an earlier one (the board retried), and once :meth:`NetcatListener.wait` has handed a stream
out, no other connection is taken.

TCP's end of stream says nothing about the dump being whole (nc also ends when the crash
kernel's makedumpfile dies), so a stream is checked before it becomes ``vmcore``:

* flattened (``makedumpfile -F``): it must end with makedumpfile's end record; it is rebuilt
  into the kdump-compressed (or ELF) file with :func:`.flattened.unflatten`;
* a raw ``/proc/vmcore`` (ELF): it must hold every byte its program headers describe;
* anything else is refused.

A cut or unknown stream is kept in ``dest`` as ``vmcore.flat.incomplete``,
``vmcore.elf.incomplete`` or ``stream.unknown.incomplete`` (to look at, never as ``vmcore``).
Every wait is bounded: sockets poll every 0.5 s and the thread is joined with a bound.
"""

from __future__ import annotations

import shutil
import socket
import struct
import threading
import time
from pathlib import Path
from types import TracebackType

from pytest_kdump.errors import ConfigError, PhaseTimeout, VmcoreError
from pytest_kdump.transports import DEFAULT_FETCH_TIMEOUT, FetchedDump, flattened

POLL = 0.5  # seconds a socket call may block before the thread looks at its stop flag
_RECV = 1 << 20
_INCOMPLETE = {"flat": "vmcore.flat.incomplete", "elf": "vmcore.elf.incomplete",
               "unknown": "stream.unknown.incomplete"}
# files a fetch writes in dest: any left by an earlier fetch are removed first
_OURS = ("vmcore", "vmcore-dmesg.txt", *_INCOMPLETE.values())
_CUT_ADVICE = ("the crash kernel's upload was cut: see its console lines (makedumpfile's and "
               "nc's last messages); check the board's network, or whether the crash kernel "
               "ran out of memory (raise crashkernel=)")


IDLE_LIMIT = 120.0
"""Seconds without a byte after which a connection counts as ended (and so cut, unless its
stream is complete): makedumpfile never pauses that long."""


class NetcatListener:
    """A TCP listener that spools the bytes of the latest connection to a file."""

    def __init__(self, listen: str = "127.0.0.1", port: int = 0) -> None:
        self.listen = listen
        self.port = port
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._spool: Path | None = None
        self._stop = threading.Event()
        self._done = threading.Event()  # the latest connection reached EOF
        self._lock = threading.Lock()
        self._count = 0  # connections accepted
        self._path: Path | None = None  # the latest connection's file
        self._received = 0  # its bytes so far
        self._claimed = False  # wait() handed the stream out: take no other connection
        self._conn: socket.socket | None = None  # the connection being received

    def start(self, spool: Path) -> int:
        """Listen (in a daemon thread) and spool connections into ``spool``; return the port."""
        if self._thread is not None:
            raise RuntimeError("NetcatListener.start called twice")
        spool = Path(spool)
        spool.mkdir(parents=True, exist_ok=True)
        for old in spool.glob(".stream-*.partial"):  # an earlier listener's
            old.unlink(missing_ok=True)
        try:
            # create_server sets SO_REUSEADDR: a fixed port can be bound again at once
            server = socket.create_server((self.listen, self.port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {self.listen}:{self.port} for the vmcore "
                              f"stream: {exc.strerror or exc}", phase="prepare",
                              advice="choose a free port, and a listen address of this host "
                                     "(the netcat transport's listen and port)") from None
        server.settimeout(POLL)
        self.port = server.getsockname()[1]
        self._server, self._spool = server, spool
        self._thread = threading.Thread(target=self._serve, name=f"netcat-{self.port}",
                                        daemon=True)
        self._thread.start()
        return self.port

    def _serve(self) -> None:
        server, spool = self._server, self._spool
        assert server is not None and spool is not None
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = server.accept()
                except (TimeoutError, ConnectionAbortedError):
                    continue
                except OSError:  # close() shut the socket down
                    return
                with self._lock:
                    if self._stop.is_set() or self._claimed:
                        conn.close()
                        continue
                    old = self._path
                    self._count += 1
                    self._path = spool / f".stream-{self._count}.partial"
                    self._received = 0
                    self._done.clear()
                    path = self._path
                if old is not None:  # replaced by the later connection
                    old.unlink(missing_ok=True)
                self._receive(conn, path)
        finally:
            server.close()

    def _receive(self, conn: socket.socket, path: Path) -> None:
        """Copy one connection to ``path``; mark it done at EOF (or when the board reset it)."""
        with self._lock:
            self._conn = conn
        try:
            with open(path, "wb") as f:
                conn.settimeout(POLL)
                quiet_since = time.monotonic()
                while not self._stop.is_set():
                    try:
                        data = conn.recv(_RECV)
                    except TimeoutError:
                        # a board reset mid-stream sends no FIN: a silent peer is a cut stream
                        if time.monotonic() - quiet_since > IDLE_LIMIT:
                            break
                        continue
                    except OSError:  # reset: the stream ends here, cut or not
                        break
                    if not data:
                        break
                    quiet_since = time.monotonic()
                    f.write(data)
                    with self._lock:
                        self._received += len(data)
        finally:
            with self._lock:  # close() shuts the connection down under this lock
                self._conn = None
            conn.close()
        if not self._stop.is_set():  # closed by close(): the stream was not done
            self._done.set()

    def received(self) -> int:
        """Bytes of the latest connection so far."""
        with self._lock:
            return self._received

    @property
    def stream_path(self) -> Path | None:
        """The latest connection's spool file (None before the first connection)."""
        with self._lock:
            return self._path

    def wait(self, timeout: float) -> Path:
        """The spool file of the latest connection once it reached EOF; PhaseTimeout if no
        connection came, or the latest is still open, after ``timeout`` seconds."""
        if self._thread is None:
            raise RuntimeError("NetcatListener.wait before start")
        deadline = time.monotonic() + timeout
        while self._done.wait(max(0.0, deadline - time.monotonic())):
            with self._lock:
                if self._done.is_set() and self._path is not None:  # not replaced meanwhile
                    self._claimed = True
                    return self._path
        with self._lock:
            count, received = self._count, self._received
        where = f"{self.listen}:{self.port}"
        if count == 0:
            raise PhaseTimeout(
                f"no connection from the board within {timeout:g} s on {where}",
                phase="fetch",
                advice=f"check the board reaches this host's {where} (the crash kernel's "
                       f"'nc HOST PORT' line on its console, its network set-up, a firewall)")
        raise PhaseTimeout(
            f"the stream is still open after {timeout:g} s, {received} bytes so far",
            phase="fetch",
            advice="raise the fetch timeout if the dump is large or the link slow; a stream "
                   "that stopped growing means the crash kernel hung: see its console")

    def close(self) -> None:
        """Stop listening and receiving; join the thread (bounded). Spool files stay."""
        self._stop.set()
        with self._lock:  # wake the thread's accept or recv at once
            for sock in (self._server, self._conn):
                try:
                    if sock is not None:
                        sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(timeout=4 * POLL)
        if self._server is not None:
            self._server.close()

    def __enter__(self) -> NetcatListener:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def elf_needed(path: Path) -> tuple[int | None, str]:
    """(bytes an ELF core file needs, ``""``): the end of its headers and of its farthest
    program segment; (None, why) when it is no core file or its headers are cut. Reads ELF32
    and ELF64 of either byte order."""
    with open(path, "rb") as f:
        head = f.read(64)
        if len(head) < 52 or head[4] not in (1, 2) or head[5] not in (1, 2):
            return None, f"its ELF header is cut or not valid ({len(head)} bytes read)"
        wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
        if wide and len(head) < 64:
            return None, "its ELF header is cut"
        e_type, = struct.unpack_from(order + "H", head, 16)
        if e_type != 4:  # ET_CORE
            return None, f"it is an ELF file but no core file (e_type {e_type})"
        if wide:
            phoff, = struct.unpack_from(order + "Q", head, 32)
            phentsize, phnum = struct.unpack_from(order + "HH", head, 54)
            entry, at_offset, at_filesz, least = order + "IIQQQQ", 2, 5, 56
        else:
            phoff, = struct.unpack_from(order + "I", head, 28)
            phentsize, phnum = struct.unpack_from(order + "HH", head, 42)
            entry, at_offset, at_filesz, least = order + "IIIII", 1, 4, 32
        if phnum == 0 or phnum == 0xFFFF or phentsize < least:
            return None, f"its program header table is not one of a vmcore ({phnum} entries)"
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    end = phoff + phentsize * phnum
    if len(table) < phentsize * phnum:
        return None, (f"its program headers are cut: {len(table)} of {phentsize * phnum} "
                      f"bytes at byte {phoff}")
    for i in range(phnum):
        fields = struct.unpack_from(entry, table, i * phentsize)
        end = max(end, fields[at_offset] + fields[at_filesz])
    return end, ""


def _move(src: Path, final: Path) -> Path:
    """Move ``src`` to ``final`` through a hidden partial name (dest may be on another file
    system than the spool: then this is a copy)."""
    partial = final.parent / f".{final.name}.partial"
    try:
        shutil.move(src, partial)
        return partial.replace(final)
    finally:
        partial.unlink(missing_ok=True)


class NetcatTransport:
    """A TCP listener on this host that the crash kernel sends its dump to with ``nc``."""

    needs_board = False  # the dump arrives while the board is in its crash kernel

    def __init__(self, spool: Path, listen: str = "127.0.0.1", port: int = 0,
                 board_host: str = "10.0.2.2") -> None:
        self.spool = Path(spool)
        self.listen = listen
        self.port = port
        self.board_host = board_host  # the host's address as the board sees it
        self._listener: NetcatListener | None = None

    def prepare(self) -> None:
        """Open a listener unless one is running (a fetch closes it)."""
        if self._listener is None:
            listener = NetcatListener(self.listen, self.port)
            # the same port every time: the board was told it when its crash kernel was armed
            self.port = listener.start(self.spool)
            self._listener = listener

    def target(self) -> tuple[str, int]:
        """(host, port) the board must send the dump to; opens the listener if needed."""
        self.prepare()
        assert self._listener is not None
        return self.board_host, self._listener.port

    def kernel_args(self) -> str:
        """The crash kernel's argument naming where to send (the ``script`` saver's
        ``kdump_upload=HOST:PORT``); opens the listener if needed."""
        host, port = self.target()
        return f"kdump_upload={host}:{port}"

    def before_crash(self, run: object = None) -> None:
        """A fresh listener (same port) before each crash: nothing an earlier, failed cycle
        left open is mistaken for this crash's stream."""
        self.close()
        self.prepare()

    def close(self) -> None:
        """Close the listener, if one is open."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def fetch(self, dest: Path, timeout: float | None = None) -> FetchedDump:
        """Wait for the board's stream and turn it into ``dest/vmcore`` within ``timeout``
        seconds in all (:data:`~pytest_kdump.transports.DEFAULT_FETCH_TIMEOUT` if None)."""
        limit = DEFAULT_FETCH_TIMEOUT if timeout is None else float(timeout)
        deadline = time.monotonic() + limit
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        for name in _OURS:  # an earlier fetch's files are not this crash's
            (dest / name).unlink(missing_ok=True)
        listener, self._listener = self._listener, None  # the next prepare() opens a new one
        if listener is None:
            raise VmcoreError("no listener was open for the board's vmcore stream",
                              phase="fetch",
                              advice="call prepare() (or target()) before the crash, and send "
                                     "the stream to the address target() gives")
        stream: Path | None = None
        try:
            try:
                stream = listener.wait(limit)
            except PhaseTimeout as exc:
                listener.close()  # the spool file no longer grows
                exc.advice = (f"{exc.advice} (the board was told to send to "
                              f"{self.board_host}:{listener.port})")
                stream = listener.stream_path
                if stream is not None and stream.exists() and stream.stat().st_size:
                    kept = _move(stream, dest / _INCOMPLETE[self._kind(stream)])
                    exc.message += f"; the bytes received are kept in {kept}"
                raise
            listener.close()
            return self._accept(stream, dest, deadline)
        finally:
            listener.close()
            if stream is not None:
                stream.unlink(missing_ok=True)

    @staticmethod
    def _kind(stream: Path) -> str:
        if flattened.is_flattened(stream):
            return "flat"
        with open(stream, "rb") as f:
            return "elf" if f.read(4) == b"\x7fELF" else "unknown"

    def _accept(self, stream: Path, dest: Path, deadline: float) -> FetchedDump:
        """Check the received ``stream`` and make it ``dest/vmcore``; keep it as an incomplete
        file and raise VmcoreError when it is cut or unknown."""
        size = stream.stat().st_size
        if size == 0:
            raise VmcoreError("the board connected but sent no byte before closing",
                              phase="fetch", advice=_CUT_ADVICE)
        kind = self._kind(stream)
        if kind == "flat":
            found = flattened.check(stream)
            if found.problem is None:
                out = flattened.unflatten(stream, dest / "vmcore",
                                          timeout=max(0.0, deadline - time.monotonic()))
                return FetchedDump(vmcore=dest / "vmcore", dmesg=None,
                                   status={"size": str(out)})
            problem = f"the flattened vmcore stream ({size} bytes) is not usable: {found.problem}"
        elif kind == "elf":
            needed, why = elf_needed(stream)
            if needed is not None and size >= needed:
                vmcore = _move(stream, dest / "vmcore")
                return FetchedDump(vmcore=vmcore, dmesg=None, status={"size": str(size)})
            if needed is None:
                problem = f"the ELF vmcore stream ({size} bytes) is not usable: {why}"
            else:
                problem = (f"the ELF vmcore stream is cut: {size} bytes, its program headers "
                           f"describe {needed} ({needed - size} bytes missing)")
        else:
            with open(stream, "rb") as f:
                start = f.read(16)
            problem = (f"the stream ({size} bytes) is neither makedumpfile's flattened format "
                       f"nor an ELF vmcore (it starts with {start!r})")
        kept = _move(stream, dest / _INCOMPLETE[kind])
        raise VmcoreError(f"{problem}; the bytes received are kept in {kept}", phase="fetch",
                          advice=_CUT_ADVICE if kind != "unknown" else
                          "the board sent something else than a vmcore: check the crash "
                          "kernel's command (makedumpfile -F ... | nc HOST PORT)")


TRANSPORT = NetcatTransport

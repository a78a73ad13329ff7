"""The simulated rack's boards: QEMU guests behind a serial port and a power switch.

One process (``python -m pytest_kdump.rack.boardhost CONFIG``) holds, per board:

- a **serial relay**: a host pty, the board's "USB-serial cable", which the exporter's ser2net
  opens; and a loopback TCP port that the board's QEMU connects its serial port to. Bytes go
  both ways. While the reader is behind, QEMU's output waits (the relay stops reading it, and
  QEMU's serial port waits in turn); while nobody has the pty open, the board's output is
  dropped, as a UART with no reader drops it, and what the last reader left unread is
  flushed: the next reader starts with the board's next byte, never a stale prompt.
  (ser2net must sit on a tty: in front of a TCP endpoint it refuses RFC 2217's parameter
  changes.)
- an **outlet** of one HTTP power switch speaking labgrid's ``rest`` model
  (``GET``/``PUT /outlet/<index>/value``, body ``0`` or ``1``): on starts the board's QEMU,
  off kills it, as cutting power does. A QEMU that exited reads as off.

When the process ends (SIGTERM from ``pytest-kdump rack down``), every QEMU is killed; the
reaper kills them too if it dies otherwise. When ready it writes ``boards.json`` next to its
config: the power switch's URL and each board's pty and relay port.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import select
import signal
import socket
import subprocess
import sys
import termios
import threading
import tty
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pytest_kdump import reaper

logger = logging.getLogger("pytest_kdump.rack.boardhost")

OUTLET_PATH = re.compile(r"^/outlet/(\d+)/value$")
KILL_TIMEOUT = 10.0
START_CHECK = 0.5  # seconds a QEMU must run after power-on to count as started


class SerialRelay:
    """A pty for the board's serial port and a TCP port its QEMU connects to."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.tty = os.ttyname(slave)
        os.close(slave)  # only readers (ser2net) hold it: its hang-up tells us none is there
        os.set_blocking(self.master, False)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None
        self.dropped = 0  # bytes of board output nobody read
        self._pending = b""  # board output the reader has not taken yet
        self._had_reader = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"relay-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def _reader_present(self) -> bool:
        """Whether something (ser2net) has the pty open: without one the master hangs up."""
        p = select.poll()
        p.register(self.master, select.POLLIN)
        return not any(ev & select.POLLHUP for _, ev in p.poll(0))

    def _flush_unread(self) -> None:
        """Drop what the last reader left unread in the pty (it would reach the next)."""
        try:
            fd = os.open(self.tty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return
        try:
            termios.tcflush(fd, termios.TCIFLUSH)
        finally:
            os.close(fd)

    def _to_pty(self) -> None:
        """Write what is pending to the pty, as much as it takes now."""
        try:
            sent = os.write(self.master, self._pending)
        except OSError as exc:  # EAGAIN: the reader is behind; EIO: it just let go
            if exc.errno not in (errno.EAGAIN, errno.EIO):
                raise
            sent = 0
        self._pending = self._pending[sent:]

    def _run(self) -> None:
        while not self._stop.is_set():
            reader = self._reader_present()
            if self._had_reader and not reader:
                self._flush_unread()
                self.dropped += len(self._pending)
                self._pending = b""
            self._had_reader = reader
            # while the reader is behind, QEMU is not read either: its serial port waits
            waits: list = [self.listener]
            if self.conn is not None and not self._pending:
                waits.append(self.conn)
            if reader:
                waits.append(self.master)
            writable = [self.master] if reader and self._pending else []
            ready, can_write, _ = select.select(waits, writable, [], 0.1)
            if can_write:
                self._to_pty()
            if self.listener in ready:
                conn, _ = self.listener.accept()
                if self.conn is not None:
                    self.conn.close()
                self.conn = conn
                logger.info("%s: QEMU connected to the serial relay", self.name)
            elif self.conn is not None and self.conn in ready:
                try:
                    data = self.conn.recv(65536)
                except OSError:
                    data = b""
                if not data:  # QEMU exited (power off)
                    self.conn.close()
                    self.conn = None
                elif reader:
                    self._pending += data
                    self._to_pty()
                else:
                    self.dropped += len(data)
            if self.master in ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # EIO: the reader let go meanwhile
                    data = b""
                if data and self.conn is not None:
                    try:
                        self.conn.sendall(data)
                    except OSError:
                        pass  # QEMU is going away: keys typed at a board being switched off


class Outlet:
    """One power outlet: on starts the board's QEMU, off kills it."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    @property
    def is_on(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def on(self) -> None:
        with self._lock:
            if self.is_on:
                return
            self._reap()
            with open(self.log, "ab") as log:
                log.write(f"--- power on: {' '.join(self.argv)}\n".encode())
                log.flush()
                self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
            reaper.watch_popen(self.proc, f"QEMU of {self.name}")
            logger.info("%s: power on (QEMU pid %d)", self.name, self.proc.pid)
            try:  # a QEMU that cannot start (image, arguments) exits at once: say so
                code = self.proc.wait(START_CHECK)
            except subprocess.TimeoutExpired:
                return
            tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
            raise OSError(f"QEMU exited at once with status {code}: {' | '.join(tail)} "
                          f"(log: {self.log})")

    def off(self) -> None:
        with self._lock:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                logger.info("%s: power off (QEMU pid %d killed)", self.name, self.proc.pid)
            self._reap()

    def _reap(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(KILL_TIMEOUT)
        except subprocess.TimeoutExpired:  # SIGKILL cannot be refused: a stuck kernel task
            logger.error("%s: QEMU pid %d still there %.0f s after SIGKILL", self.name,
                         self.proc.pid, KILL_TIMEOUT)
            return
        reaper.unwatch(self.proc.pid)
        self.proc = None


def _handler(outlets: dict[int, Outlet]) -> type[BaseHTTPRequestHandler]:
    class PowerSwitch(BaseHTTPRequestHandler):
        """labgrid's ``rest`` power model: GET/PUT ``/outlet/<index>/value``."""

        def _outlet(self) -> Outlet | None:
            m = OUTLET_PATH.match(self.path)
            outlet = outlets.get(int(m.group(1))) if m else None
            if outlet is None:
                self._reply(404, f"no outlet at {self.path}\n")
            return outlet

        def _reply(self, code: int, text: str) -> None:
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            outlet = self._outlet()
            if outlet is not None:
                self._reply(200, "1" if outlet.is_on else "0")

        def do_PUT(self) -> None:  # noqa: N802
            outlet = self._outlet()
            if outlet is None:
                return
            length = int(self.headers.get("Content-Length") or 0)
            value = self.rfile.read(length).strip()
            if value not in (b"0", b"1"):
                self._reply(400, "the value is 0 or 1\n")
                return
            try:
                outlet.on() if value == b"1" else outlet.off()
            except OSError as exc:  # e.g. QEMU not installed
                self._reply(500, f"cannot switch {outlet.name}: {exc}\n")
                return
            self._reply(200, value.decode())

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            logger.info("power switch: " + format, *args)

    return PowerSwitch


def serve(config_path: Path) -> None:
    """Run the boards of ``config_path`` until SIGTERM."""
    config = json.loads(config_path.read_text())
    relays: dict[str, SerialRelay] = {}
    outlets: dict[int, Outlet] = {}
    ready: dict[str, dict] = {}
    for board in config["boards"]:
        relay = SerialRelay(board["name"])
        argv = [a.replace("{serial_port}", str(relay.port)) for a in board["argv"]]
        relays[board["name"]] = relay
        outlets[board["index"]] = Outlet(board["name"], argv, Path(board["log"]))
        ready[board["name"]] = {"tty": relay.tty, "serial_port": relay.port}
    server = ThreadingHTTPServer(("127.0.0.1", config.get("power_port", 0)),
                                 _handler(outlets))
    server.daemon_threads = True
    port = server.server_address[1]

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for relay in relays.values():
        relay.start()
    out = config_path.parent / "boards.json"
    tmp = out.with_name(".boards.json.partial")
    tmp.write_text(json.dumps({"power_url": f"http://127.0.0.1:{port}/outlet/{{index}}/value",
                               "pid": os.getpid(), "boards": ready}, indent=2) + "\n")
    tmp.replace(out)
    logger.info("board host ready: power switch on 127.0.0.1:%d, %d boards", port, len(relays))
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        for outlet in outlets.values():
            outlet.off()
        for relay in relays.values():
            relay.stop()
        server.server_close()
        logger.info("board host stopped")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m pytest_kdump.rack.boardhost CONFIG.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    serve(Path(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""labgrid drivers as the engine's :class:`~pytest_kdump.engine.board.Board`.

:class:`LabgridBoard` adapts a labgrid PowerProtocol driver (optional) and a ConsoleProtocol
driver (SerialDriver, ...) to the engine's Board; :class:`QemuBoard` does the same for a
QEMUDriver, which is both, and needs care that only it knows. :func:`make_board` picks one.

labgrid has no public API for some of what is needed here; every private attribute read is
listed in :data:`CONSOLE_INTERNALS` or :data:`QEMU_INTERNALS`, and
``tests/unit/drivers/test_labgrid_internals.py`` fails when a labgrid release drops one.
"""

from __future__ import annotations

import contextlib
import logging
import select
import shlex
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pexpect
from labgrid.driver import ManualPowerDriver, QEMUDriver, SerialDriver
from labgrid.protocol import ConsoleProtocol, PowerProtocol

from pytest_kdump import reaper
from pytest_kdump.console.capture import SourceGone
from pytest_kdump.errors import BoardDied, ConfigError, CycleError, KdumpError

logger = logging.getLogger(__name__)

# labgrid's console drivers (ConsoleExpectMixin) do their I/O in _read/_write; their public
# read()/write() are logged @steps, and labgrid's step stack is not thread-safe: the capture
# thread reads through _read, and writes go through _write outside the step log.
CONSOLE_INTERNALS = ("_read", "_write")
# SerialDriver's pyserial port, read directly (see LabgridBoard._serial_read); its
# on_activate (public driver API) is called again to reconnect a lost console
SERIAL_INTERNALS = ("serial",)

# QEMUDriver state that QemuBoard reads and resets (no public API: QEMU exiting by itself,
# e.g. after the crash kernel powers off, is not something labgrid expects):
#   _child         the QEMU process (poll() tells whether it exited)
#   _clientsocket  the accepted serial socket (closed and cleared when QEMU exited); read
#                  directly, as labgrid's _read sleeps 10 ms before each recv
#   _socket        the listening serial socket (labgrid accepts on it without a timeout)
#   status         1 while labgrid takes QEMU as running (reset to 0 when it exited)
#   qmp            the QMP monitor (labgrid's monitor_command is a @step: not from a thread)
#   _cmd           QEMU's command line (one power-on adds -incoming defer to restore a state)
QEMU_INTERNALS = ("_child", "_clientsocket", "_socket", "status", "qmp", "_cmd")

WEDGED_ADVICE = (
    "QEMU stopped answering its QMP monitor: check whether its process was stopped (SIGSTOP, "
    "a debugger, ps -o stat) or the host is overloaded (load, swap); pytest-kdump kills such a "
    "QEMU at the next power-off or power-on")

NO_POWER_ADVICE = (
    "bind a PowerProtocol driver to the target in the env YAML, before KdumpConsoleDriver: "
    "NetworkPowerDriver (a PDU), ExternalPowerDriver (your own on/off commands) or "
    "ManualPowerDriver (labgrid asks you to switch the board); or bring the board to a shell "
    "prompt on its console (auto-login, KdumpDriver's prompt matching it) before the tests")


class LabgridBoard:
    """A labgrid console driver and, optionally, a power driver.

    Without a power driver (``power_control`` False) nothing can switch the board: the engine
    uses it while it answers at a shell, :meth:`power_off` does nothing and :meth:`power_on`
    raises a ConfigError saying which driver to bind.
    """

    _power_advice = "check the power driver and its connection (see the error above)"
    power_timeout: float | None = 60.0  # seconds for the power driver to switch the board
    # seconds for a lost serial console to come back at the next power-on (an exporter
    # restarted: the coordinator gives the place its resources again within 15 s)
    reconnect_timeout = 45.0

    def __init__(self, power: PowerProtocol | None, console: ConsoleProtocol,
                 name: str = "board") -> None:
        self.power = power
        self.console = console
        self.name = name
        self._lock = threading.Lock()
        self._power_pending: threading.Thread | None = None  # a power request not answered
        # why the serial console's connection broke (ser2net or the exporter went away);
        # reconnected at the next power-on
        self.console_lost: str | None = None

    @property
    def power_control(self) -> bool:
        return self.power is not None

    def power_on(self) -> None:
        if self.power is None:
            raise ConfigError(
                f"cannot power on board {self.name!r}: no PowerProtocol driver is bound to "
                "KdumpConsoleDriver (without one, pytest-kdump uses the board only while it "
                "answers at a shell on its console)", phase="boot", advice=NO_POWER_ADVICE)
        with self._lock:
            self._before_power_on()
            if self.console_lost is not None:
                self._reconnect()
            try:
                self._switch(self.power.on, "on")
            except BoardDied:
                raise
            except Exception as exc:  # labgrid raises plain errors (IOError, timeouts...)
                raise BoardDied(f"power-on of board {self.name} failed: {_power_error(exc)}",
                                phase="boot", advice=self._power_advice) from exc

    def _before_power_on(self) -> None:
        """Hook for boards that need care before power-on (under the lock)."""

    def power_off(self) -> None:
        if self.power is None:
            return  # nothing can switch it off: the board keeps running
        with self._lock:
            try:
                self._switch(self.power.off, "off")
            except BoardDied:
                raise
            except Exception as exc:
                raise BoardDied(f"power-off of board {self.name} failed: {_power_error(exc)}",
                                advice=self._power_advice) from exc

    def _power_where(self) -> str:
        """The power switch as the env names it (a NetworkPowerPort's model, host, index)."""
        port = getattr(self.power, "port", None)
        if port is None or not hasattr(port, "host"):
            return type(self.power).__name__
        return f"{port.model} {port.host.replace('{index}', str(port.index))}"

    def _switch(self, switch: Any, what: str) -> None:
        """Run the power driver's ``on``/``off`` within :attr:`power_timeout` (labgrid's
        network power drivers wait for the switch's answer without a limit)."""
        if self.power_timeout is None or isinstance(self.power, ManualPowerDriver):
            switch()  # a person switches a manual board: no bound on them
            return
        if self._power_pending is not None and self._power_pending.is_alive():
            raise BoardDied(f"cannot switch board {self.name} {what}: the power switch has "
                            f"not answered the last request yet ({self._power_where()})",
                            phase="boot" if what == "on" else None,
                            advice="check that the power switch is on the network and "
                                   "answers; restart the run once it does")
        failed: list[BaseException] = []

        def run() -> None:
            try:
                switch()
            except BaseException as exc:  # handed to the caller's thread
                failed.append(exc)

        worker = threading.Thread(target=run, name=f"power-{what}", daemon=True)
        worker.start()
        worker.join(self.power_timeout)
        if worker.is_alive():  # no later request may overtake it (a late "on" after "off")
            self._power_pending = worker
            raise BoardDied(
                f"the power switch did not switch board {self.name} {what} within "
                f"{self.power_timeout:.0f} s ({self._power_where()})",
                phase="boot" if what == "on" else None,
                advice="check that the power switch is on the network and answers (its web "
                       "page or API); on a rack, the place's NetworkPowerPort in "
                       "`labgrid-client -p PLACE show`")
        if failed:
            raise failed[0]

    def read(self, timeout: float) -> bytes:
        with self._lock:
            self._check_readable()
            try:
                data = self._receive(timeout)
            except pexpect.TIMEOUT:
                return b""
            except (OSError, EOFError) as exc:  # pyserial's SerialException is an OSError
                if isinstance(self.console, SerialDriver) and self.console_lost is None:
                    self.console_lost = _short(exc)
                    logger.warning("the console of board %s (%s) was lost: %s", self.name,
                                   port_endpoint(self.console.port), self.console_lost)
                raise SourceGone() from exc
            if not data and not self.alive():
                raise SourceGone()
            return data

    def _check_readable(self) -> None:
        """Raise SourceGone when the console cannot be read now (under the lock)."""
        if self.console_lost is not None:
            raise SourceGone()  # until the next power-on reconnects it

    def _receive(self, timeout: float) -> bytes:
        """The console's bytes within ``timeout`` (under the lock; may raise pexpect.TIMEOUT,
        or return b"" when the console closed)."""
        if isinstance(self.console, SerialDriver):
            return self._serial_read(timeout)
        read = getattr(self.console, "_read", None) or self.console.read
        return read(size=4096, timeout=timeout)

    def _serial_read(self, timeout: float) -> bytes:
        """What arrived on a SerialDriver's port, up to 4096 bytes, read from its pyserial
        port: labgrid's _read sets the port's timeout on every call, and pyserial then
        reconfigures the port (over RFC 2217 a negotiation of at least 50 ms per read); it
        also waits for ``size`` bytes, not for the first ones."""
        port = self.console.serial
        if port.timeout != timeout:
            port.timeout = timeout
        data = port.read(min(max(1, port.in_waiting), 4096))
        if not data:
            raise pexpect.TIMEOUT(f"Timeout of {timeout:.2f} seconds exceeded")
        return data

    def write(self, data: bytes) -> None:
        if not self.alive() or self.console_lost is not None:
            raise BoardDied(f"cannot write to the console: {self.describe_death()}",
                            advice=self._console_advice() if self.console_lost else None)
        write = getattr(self.console, "_write", None) or self.console.write
        while data:
            try:
                sent = write(data)
            except OSError as exc:  # the connection broke (pyserial's SerialException)
                if isinstance(self.console, SerialDriver):
                    self.console_lost = self.console_lost or _short(exc)
                raise BoardDied(f"cannot write to the console: {self.describe_death()}",
                                advice=self._console_advice()) from exc
            data = data[sent:] if isinstance(sent, int) and sent > 0 else b""

    def alive(self) -> bool:
        return True

    def describe_death(self) -> str:
        if self.console_lost is not None:
            port = self.console.port
            gone = ("the exporter serving the place or its ser2net went away"
                    if hasattr(port, "host") else "the serial device went away")
            return (f"the console connection of board {self.name} ({port_endpoint(port)}) "
                    f"was lost: {self.console_lost}; {gone}")
        return "the console stopped answering"

    def death_advice(self) -> str | None:
        """What to check when the board went away, if this board knows better than the
        phase's generic advice (its console connection was lost)."""
        return self._console_advice() if self.console_lost is not None else None

    def _console_advice(self) -> str:
        return console_advice(place_of(getattr(self.console, "target", None)))

    def _reconnect(self) -> None:
        """Open the lost serial console again (under the lock), on the endpoint its resource
        names now (an exporter restarted gives it another ser2net port), retrying for
        :attr:`reconnect_timeout`; the board is switched off first, as its state is unknown
        (it may have run on while nobody read its console). BoardDied if it stays away."""
        console = self.console
        self._switch(self.power.off, "off")
        with contextlib.suppress(Exception):  # the broken connection: close what is left
            console.close()
        deadline = time.monotonic() + self.reconnect_timeout
        while True:
            with contextlib.suppress(Exception):  # a remote place: the coordinator's update
                console.port.poll()
            try:
                console.on_activate()  # labgrid's open, at the resource's current address
                break
            except (OSError, ValueError) as exc:
                last = _short(exc)
            if time.monotonic() > deadline:
                raise BoardDied(
                    f"the console of board {self.name} ({port_endpoint(console.port)}) was lost "
                    f"({self.console_lost}) and could not be opened again within "
                    f"{self.reconnect_timeout:g} s: {last}", phase="boot",
                    advice=self._console_advice())
            time.sleep(1.0)
        logger.warning("the console of board %s is connected again (%s) after it was lost: %s",
                       self.name, port_endpoint(console.port), self.console_lost)
        self.console_lost = None


class QemuBoard(LabgridBoard):
    """A QEMUDriver (power and console in one): copes with QEMU exiting by itself, bounds
    labgrid's wait for QEMU's serial connection, and sends NMIs through QEMU's monitor.

    Monitor commands and power-off are bounded: a QEMU that does not answer its monitor
    within :attr:`monitor_timeout`, or does not exit within :attr:`off_timeout` of ``quit``,
    is taken as wedged and killed (at power-off, or before the next power-on).
    """

    _power_advice = ("check the QEMU command line and its stderr above (image paths, memory, "
                     "-accel)")
    monitor_timeout = 10.0  # seconds for QEMU's monitor to answer a command
    power_timeout = None  # QEMUDriver's on/off: labgrid steps, bounded by QemuBoard itself
    off_timeout = 10.0  # seconds for QEMU to exit after "quit", before it is killed
    kill_timeout = 10.0  # seconds for a killed QEMU to be gone (it cannot refuse SIGKILL)

    def __init__(self, power: PowerProtocol | None, qemu: QEMUDriver,
                 name: str = "board") -> None:
        super().__init__(power or qemu, qemu, name)  # a QEMUDriver is its own power driver
        self.qemu = qemu
        self.exit_code: int | None = None
        self._killed: str | None = None  # why the last QEMU was killed, if it was
        self._wedged: str | None = None  # what the running QEMU did not answer, if anything
        # one QMP command at a time; held by a worker still waiting for QEMU's answer
        self._monitor_lock = threading.Lock()
        self.forwards: list[tuple[str, int, int]] = []  # (netdev, host port, guest port)

    def forward(self, netdev: str, host_port: int, guest_port: int) -> None:
        """Forward loopback ``host_port`` to the guest's ``guest_port`` over QEMU's user-mode
        network ``netdev`` (``-netdev user,id=NETDEV``), from the next power-on on."""
        self.forwards = [f for f in self.forwards if f[0] != netdev or f[2] != guest_port]
        self.forwards.append((netdev, host_port, guest_port))

    def power_on(self) -> None:
        if self._wedged:
            self.power_off()  # labgrid would take the wedged QEMU as on and do nothing
        try:
            super().power_on()
        finally:  # also when on() failed after starting QEMU
            child = self.qemu._child
            if child is not None:
                reaper.watch(child.pid, "qemu")  # killed even if pytest is (SIGKILL)
        for netdev, host, guest in self.forwards:  # each QEMU process starts without them
            rule = f"hostfwd_add {netdev} tcp:127.0.0.1:{host}-:{guest}"
            said = self._monitor("human-monitor-command", self.monitor_timeout,
                                 {"command-line": rule})
            if isinstance(said, str) and said.strip():
                self.power_off()  # not a board to go on with: its network is not reachable
                raise ConfigError(f"QEMU refused the port forward {rule!r}: {said.strip()}",
                                  advice="the env's QEMU needs '-netdev user,id=NETDEV' "
                                         "(KdumpDriver's ssh_netdev) and a free port")

    def _before_power_on(self) -> None:
        self._reap()
        self._killed = None
        # labgrid accepts QEMU's serial connection without a timeout: bound it
        if self.qemu._socket is not None:
            self.qemu._socket.settimeout(30)

    def power_off(self) -> None:
        """Quit QEMU through its monitor; kill it if it does not exit within
        :attr:`off_timeout`. The board lock is not held while waiting (the reader runs on)."""
        with self._lock:
            if self._reap() or not self.qemu.status:
                return
            child = self.qemu._child
        if not self._wedged:
            deadline = time.monotonic() + self.off_timeout
            try:
                self._monitor("quit", timeout=self.off_timeout)
            except BoardDied:
                pass  # it did not answer, or exited first: wait for it, then kill it
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        if child.poll() is None:
            self._kill(child, f"its monitor did not answer {self._wedged}" if self._wedged
                       else f"it did not exit within {self.off_timeout:g} s of 'quit'")
        with self._lock:
            self._reap()

    def _kill(self, child: subprocess.Popen, why: str) -> None:
        """SIGKILL a QEMU that would not quit, and wait for it (bounded)."""
        state = _process_state(child.pid)
        self._killed = f"QEMU (pid {child.pid}, {state}) was killed: {why}"
        logger.warning("%s", self._killed)
        child.kill()
        try:
            child.wait(timeout=self.kill_timeout)
        except subprocess.TimeoutExpired:
            raise BoardDied(f"QEMU (pid {child.pid}) is still there {self.kill_timeout:g} s "
                            f"after SIGKILL ({_process_state(child.pid)})",
                            advice="a process that survives SIGKILL is stuck in the kernel "
                                   "(state D: a hung disk or NFS); check dmesg on the host"
                            ) from None

    def _reap(self) -> bool:
        """Bring a QEMUDriver whose process exited back to 'off'; True if it had exited."""
        qemu = self.qemu
        child = qemu._child
        if child is None or child.poll() is None:
            return False
        self.exit_code = child.returncode
        if qemu._clientsocket is not None:
            qemu._clientsocket.close()
            qemu._clientsocket = None
        qemu._child = None
        qemu.status = 0
        self._wedged = None
        return True

    def _check_readable(self) -> None:
        if not self.qemu.status or self.qemu._clientsocket is None:
            raise SourceGone()  # QEMU is off (whoever switched it off)

    def _receive(self, timeout: float) -> bytes:
        # Not labgrid's _read: it sleeps 10 ms before each recv, while QEMU writes the serial
        # socket one byte per send() and the socket's send buffer, accounted per send, holds
        # only a few hundred of them: QEMU waited on a full socket (~25 KB/s). Take what is
        # there as soon as it is there.
        sock = self.qemu._clientsocket
        if not select.select([sock], [], [], timeout)[0]:
            return b""
        try:
            data = sock.recv(1 << 16)
        except BlockingIOError:
            return b""
        if not data and self.qemu._child is not None:  # QEMU closed its end: it is exiting
            try:
                self.qemu._child.wait(timeout)  # rather than spin on the closed socket
            except subprocess.TimeoutExpired:
                pass
        return data

    def alive(self) -> bool:
        child = self.qemu._child
        return child is not None and child.poll() is None

    def inject_nmi(self) -> None:
        """Send an NMI to the guest (QEMU monitor's inject-nmi); a BoardDied if QEMU is not
        running or does not answer within :attr:`monitor_timeout`."""
        self._monitor("inject-nmi", timeout=self.monitor_timeout)

    def _monitor(self, command: str, timeout: float,
                 arguments: dict[str, Any] | None = None) -> Any:
        """Run a QMP command in a worker thread, waiting at most ``timeout`` seconds for its
        answer (labgrid's own wait has no bound). BoardDied if QEMU is gone or does not
        answer (it is then wedged: killed at the next power-off or power-on), CycleError if
        it refuses the command."""
        if self._wedged:
            raise BoardDied(f"cannot send {command!r} to QEMU's monitor: it did not answer "
                            f"{self._wedged}", advice=WEDGED_ADVICE)
        child = self.qemu._child
        if not self.qemu.status or child is None or child.poll() is not None:
            raise BoardDied(f"cannot send {command!r} to QEMU's monitor: "
                            f"{self.describe_death()}")
        qmp = self.qemu.qmp
        deadline = time.monotonic() + timeout
        if not self._monitor_lock.acquire(timeout=timeout):
            raise BoardDied(f"QEMU's monitor is still busy with another command after "
                            f"{timeout:g} s; {command!r} was not sent", advice=WEDGED_ADVICE)
        answer: dict[str, Any] = {}

        def ask() -> None:
            try:
                answer["return"] = qmp.execute(command, arguments or {})
            except Exception as exc:  # labgrid's QMPError, or a broken pipe
                answer["error"] = exc
            finally:
                self._monitor_lock.release()

        worker = threading.Thread(target=ask, name=f"pytest-kdump-qmp-{command}", daemon=True)
        worker.start()
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():  # it stays blocked until QEMU answers or exits (EOF)
            self._wedged = f"{command!r} within {timeout:g} s"
            raise BoardDied(f"QEMU's monitor did not answer {command!r} within {timeout:g} s: "
                            f"QEMU (pid {child.pid}) is wedged ({_process_state(child.pid)})",
                            advice=WEDGED_ADVICE)
        if "error" in answer:
            exc = answer["error"]
            if isinstance(exc, OSError):  # the monitor's pipe closed: QEMU is exiting (a
                # guest that powered itself off); the process may not be gone yet
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=self.off_timeout)
            if child.poll() is not None:
                raise BoardDied(f"QEMU exited during the monitor's {command!r}: "
                                f"{self.describe_death()}") from exc
            raise CycleError(f"QEMU's monitor refused {command!r}: {exc!r}",
                             advice="check that this QEMU machine supports the command "
                                    "(QMP's error above)") from exc
        return answer["return"]

    def save_state(self, path: Path, timeout: float) -> None:
        """Save the running guest's state (RAM and devices, not disks) to ``path``: QEMU's
        migration to a file, written as ``.<name>.partial`` and renamed when complete. The
        guest pauses while the last pages are copied and runs on afterwards."""
        partial = path.with_name(f".{path.name}.partial")
        partial.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        deadline = time.monotonic() + timeout
        # cat may still be writing when QEMU says "completed": the shell renames after it
        writer = f"cat > {shlex.quote(str(partial))} && mv {shlex.quote(str(partial))} " \
                 f"{shlex.quote(str(path))}"
        self._monitor("migrate", timeout, {"uri": f"exec:{writer}"})
        done = False
        try:
            while not done:
                info = self._monitor("query-migrate", max(1.0, deadline - time.monotonic()))
                status = info.get("status")
                done = status == "completed"
                if status in ("failed", "cancelled") or time.monotonic() > deadline:
                    raise CycleError(f"QEMU could not save the guest's state to {path}: "
                                     f"migration {status}"
                                     + (f" ({info['error-desc']})" if "error-desc" in info
                                        else f" after {timeout:g} s"),
                                     advice="check the free space where the dump disk is")
                time.sleep(0 if done else 0.05)
            while not path.is_file():
                if time.monotonic() > deadline:
                    raise CycleError(f"the guest's state was not written to {path} within "
                                     f"{timeout:g} s", advice="check the free space where "
                                     "the dump disk is")
                time.sleep(0.02)
        finally:
            if not done:  # a migration still under way would pause the guest at its end
                with contextlib.suppress(KdumpError):
                    self._monitor("migrate_cancel", self.monitor_timeout)
                path.unlink(missing_ok=True)
            partial.unlink(missing_ok=True)
            self._monitor("cont", self.monitor_timeout)  # the source pauses at the end

    def power_on_restored(self, path: Path, timeout: float) -> None:
        """Power on into the guest state saved by :meth:`save_state`, instead of booting:
        QEMU starts with ``-incoming defer`` and reads ``path``; the guest runs when it is
        loaded (labgrid's ``cont`` at power-on only marks it to run)."""
        cmd = self.qemu._cmd
        self.qemu._cmd = [*cmd, "-incoming", "defer"]
        try:
            self.power_on()
        finally:
            self.qemu._cmd = cmd
        deadline = time.monotonic() + timeout
        self._monitor("migrate-incoming", timeout,
                      {"uri": f"exec:cat {shlex.quote(str(path))}"})
        while True:
            status = self._monitor("query-status",
                                   max(1.0, deadline - time.monotonic())).get("status")
            if status == "running":
                return
            if status != "inmigrate" or time.monotonic() > deadline:
                raise CycleError(f"QEMU could not restore the guest's state from {path}: "
                                 f"it is {status!r}" + ("" if status != "inmigrate"
                                                         else f" after {timeout:g} s"),
                                 advice="a state saved by another QEMU or image cannot be "
                                        "loaded; pytest-kdump boots instead and saves anew")
            time.sleep(0.02)

    def describe_death(self) -> str:
        child = self.qemu._child
        code = child.poll() if child is not None else self.exit_code
        if self._killed and child is None:
            return self._killed
        if code is None:
            return "QEMU is not running"
        return f"QEMU exited with code {code} (see its stderr above)"


def _process_state(pid: int) -> str:
    """A process's state as /proc shows it ("state T (stopped)"), or that it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "gone"
    for line in status.splitlines():
        if line.startswith("State:"):
            return "state " + line.split(":", 1)[1].strip()
    return "state unknown"


def _power_error(exc: BaseException) -> str:
    """A power driver's exception, with what an HTTP power switch answered (labgrid's
    network power drivers raise requests' HTTPError, whose text has only the status: the
    answer's body says why, e.g. a rack board's QEMU log tail)."""
    body = getattr(getattr(exc, "response", None), "text", None)
    text = repr(exc)
    if isinstance(body, str) and body.strip():
        text += f"; the switch answered: {' '.join(body.split())[:500]}"
    return text


def _short(exc: BaseException) -> str:
    """An exception as one line: labgrid and pyserial repeat the URL in each wrapper
    ("Could not open serial port URL: Could not open port URL: [Errno 111] ..."): the
    innermost reason, with the exception's type."""
    text = str(exc).rsplit(": ", 1)[-1].strip() or repr(exc)
    return f"{type(exc).__name__}: {text}"


def port_endpoint(port: Any) -> str:
    """Where a serial port resource is: ``ser2net at HOST:PORT (rfc2217)`` for a
    NetworkSerialPort, else the device."""
    if hasattr(port, "host"):
        return f"ser2net at {port.host}:{port.port} ({getattr(port, 'protocol', 'rfc2217')})"
    return f"serial port {getattr(port, 'port', port)}"


def console_advice(place: str | None) -> str:
    """What to check when a serial console cannot be reached."""
    if place is None:
        return ("check the serial cable and that nothing else holds the port (fuser, "
                "lsof); a USB adapter that re-enumerated may have another name now")
    return (f"check that the exporter serving place {place} runs and that its ser2net listens "
            f"on the port `labgrid-client -p {place} -v resources` shows (the exporter's log "
            "says when it starts or stops ser2net); an exporter restarted gives the place "
            "its resources again within 15 s, a ser2net that died comes back when the place "
            "is released and acquired again")


def console_open_error(target: Any, exc: OSError) -> KdumpError | None:
    """A clear error for a target's serial console that could not be opened when its
    drivers were activated (pyserial's SerialException: ser2net refusing the connection, a
    missing device), or None if ``target`` has no serial port to blame."""
    from labgrid.resource import NetworkSerialPort, SerialPort

    ports = [r for r in getattr(target, "resources", None) or []
             if isinstance(r, (NetworkSerialPort, SerialPort))]
    if not ports:
        return None
    place = place_of(target)
    where = ", ".join(port_endpoint(p) for p in ports)
    on = f" on place {place}" if place else ""
    return BoardDied(f"cannot open the console of target {target.name}{on}: {where} could "
                     f"not be opened ({_short(exc)})", phase="setup",
                     advice=console_advice(place))


def place_of(target: Any) -> str | None:
    """The labgrid place a target's ``RemotePlace`` names (a rack board), or None."""
    for resource in getattr(target, "resources", None) or []:
        if type(resource).__name__ == "RemotePlace":
            return resource.name
    return None


def make_board(power: PowerProtocol | None, console: ConsoleProtocol,
               name: str = "board") -> LabgridBoard:
    """The Board for a target's power driver (None if none is bound) and console driver."""
    if isinstance(console, QEMUDriver):
        return QemuBoard(power, console, name)
    return LabgridBoard(power, console, name)

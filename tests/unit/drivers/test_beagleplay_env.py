"""labgrid-envs/beagleplay.yaml, the real BeaglePlay's env, with only the hardware faked.

labgrid's own classes read and bind the file (resources, drivers, UBootStrategy) and our
KdumpDriver checks its keys. The hardware is faked at its edges: the serial cable is a pty
whose far end answers like the board's ttyS2 (U-Boot's autoboot and ``=> `` prompt, the
kernel's banner, getty, root's bash with bracketed paste), and the network power switch is
labgrid's power backend module (``power_set``/``power_get``) replaced by an outlet that powers
that fake board. Nothing reaches the network: SSHDriver is bound, never activated.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import threading
import time
import tty
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_kdump.drivers.environment import check_env_file
from pytest_kdump.engine.results import Timeouts, parse_size
from pytest_kdump.errors import ConfigError
from pytest_kdump.transports.ssh import SshTransport
from tests.helpers import LABGRID_LOGGER_WARNING, ROOT

ENV_FILE = ROOT / "labgrid-envs" / "beagleplay.yaml"
PASSWORD = "fake-root-password"
RELEASE = "6.6.58-ti-arm64-r21"  # the release the fake kernel says it is
# bash on BeagleBoard's Debian images: bracketed paste on, so ESC[?2004h starts each prompt
PROMPT = "\x1b[?2004hroot@BeaglePlay:~# "
# what the fake U-Boot's `run bootcmd` (the image's extlinux.conf) boots with
EXTLINUX_ARGS = ("console=ttyS2,115200n8 root=/dev/mmcblk0p3 ro rootfstype=ext4 rootwait "
                 "crashkernel=256M")
UBOOT_BANNER = ("\r\nU-Boot SPL 2021.01 (fake)\r\nTrying to boot from MMC2\r\n\r\n"
                "U-Boot 2021.01 (fake)\r\n\r\nModel: BeagleBoard.org BeaglePlay\r\n"
                "DRAM:  2 GiB\r\nPress SPACE to abort autoboot in 2 seconds")
LOGIN = "\r\n\r\nDebian GNU/Linux 12 BeaglePlay ttyS2\r\n\r\nBeaglePlay login: "
LAB = {  # the lab's values the env takes from the environment (besides the serial port)
    "LG_BEAGLEPLAY_IP": "192.0.2.10",  # TEST-NET-1: nothing answers, nothing here connects
    "LG_BEAGLEPLAY_PDU_MODEL": "gude",
    "LG_BEAGLEPLAY_PDU": "pdu.invalid",
    "LG_BEAGLEPLAY_PDU_INDEX": "3",
    "LG_BEAGLEPLAY_PASSWORD": PASSWORD,
}
DRIVERS = {"NetworkPowerDriver", "SerialDriver", "KdumpConsoleDriver", "UBootDriver",
           "ShellDriver", "SSHDriver", "UBootStrategy", "KdumpDriver"}
RESOURCES = {"RawSerialPort", "NetworkPowerPort", "NetworkService"}


class FakeBeaglePlay:
    """The far end of the serial cable: a pty that answers like a BeaglePlay's ttyS2.

    Powered on, it prints U-Boot's banner and ``Press SPACE to abort autoboot``; a space stops
    at the ``=> `` prompt, else it boots what ``run bootcmd`` boots (:data:`EXTLINUX_ARGS`).
    At the prompt it answers labgrid's markers, ``run bootcmd`` and a ``setenv bootargs
    "..."; ... booti`` line (booting with those arguments). Linux prints its banner, then
    getty's ``login:``; root logs in with :data:`PASSWORD` into a bash that runs what
    ShellDriver and pytest-kdump's armed check send. Times are shortened: U-Boot comes
    :attr:`UBOOT_DELAY` s after power-on, autoboot waits :attr:`AUTOBOOT` s, getty
    :attr:`SYSTEMD` s after the banner.
    """

    UBOOT_DELAY = 0.1
    AUTOBOOT = 0.2
    SYSTEMD = 0.2

    def __init__(self, password: str = PASSWORD) -> None:
        self.password = password
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self.master, False)
        self.port = os.ttyname(self._slave)
        self.state = "off"
        self.cmdline = ""
        self.interrupted = 0  # autoboots stopped with a space
        self.boots: list[str] = []  # the command line of each Linux boot
        self.logins = 0
        self.lines: list[str] = []  # lines typed at U-Boot's and bash's prompts
        self._line = b""
        self._user = ""
        self._out: list[tuple[float, bytes]] = []  # (when it is printed, bytes)
        self._autoboot_at: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fake-beagleplay", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self.master)
        os.close(self._slave)

    def power(self, on: bool) -> None:
        with self._lock:
            if not on:
                self.state, self._out, self._line, self._autoboot_at = "off", [], b"", None
            elif self.state == "off":
                self.state = "autoboot"
                self._say(UBOOT_BANNER, self.UBOOT_DELAY)
                self._autoboot_at = time.monotonic() + self.UBOOT_DELAY + self.AUTOBOOT

    # -- the wire --------------------------------------------------------------------------
    def _say(self, text: str, delay: float = 0.0) -> None:
        when = max([w for w, _ in self._out] + [time.monotonic()]) + delay
        self._out.append((when, text.encode()))

    def _loop(self) -> None:
        while not self._stop.is_set():
            if select.select([self.master], [], [], 0.01)[0]:
                try:
                    data = os.read(self.master, 4096)
                except (BlockingIOError, OSError):
                    data = b""
                with self._lock:
                    for byte in data:
                        self._typed(bytes([byte]))
            with self._lock:
                now = time.monotonic()
                if self.state == "autoboot" and self._autoboot_at and now >= self._autoboot_at:
                    self._boot_linux(EXTLINUX_ARGS)
                due = [data for when, data in self._out if when <= now]
                self._out = [(when, data) for when, data in self._out if when > now]
            for data in due:
                try:
                    os.write(self.master, data)
                except (BlockingIOError, OSError):
                    pass  # nobody reads the cable: the bytes are gone, as on a real line

    def _typed(self, byte: bytes) -> None:
        if self.state in ("off", "booting"):
            return
        if self.state == "autoboot":
            if byte == b" ":
                self.interrupted += 1
                self.state, self._autoboot_at = "uboot", None
                self._say("\b\b\b 0 \r\n=> ")
            return
        echo = self.state != "password"
        if byte == b"\r":
            return
        if byte != b"\n":
            self._line += byte
            if echo:
                self._say(byte.decode(errors="replace"))
            return
        line, self._line = self._line.decode(errors="replace"), b""
        self._say("\r\n" if echo else "")
        getattr(self, f"_{self.state}")(line)

    # -- what runs on the board ------------------------------------------------------------
    def _uboot(self, line: str) -> None:
        self.lines.append(line)
        if m := re.fullmatch(r"echo '(\w+)''(\w+)'", line):
            self._say(f"{m[1]}{m[2]}\r\n=> ")
        elif line == "run bootcmd":
            self._boot_linux(EXTLINUX_ARGS)
        elif "booti " in line:
            m = re.search(r'setenv bootargs "([^"]*)"', line)
            self._boot_linux(m[1] if m else "")
        elif not line.strip():
            self._say("=> ")
        else:
            self._say(f"Unknown command '{line.split()[0]}' - try 'help'\r\n=> ")

    def _boot_linux(self, args: str) -> None:
        self.cmdline = args
        self.boots.append(args)
        self.state, self._autoboot_at = "login", None
        reserved = ("[    0.000000] crashkernel reserved: 0x00000000dd000000 - "
                    "0x00000000ed000000 (256 MB)\r\n" if "crashkernel=256M" in args else "")
        self._say("Starting kernel ...\r\n\r\n"
                  "[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x410fd034]\r\n"
                  f"[    0.000000] Linux version {RELEASE} (builder@host) (aarch64-linux-gnu-gcc"
                  " (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT\r\n"
                  "[    0.000000] Machine model: BeagleBoard.org BeaglePlay\r\n"
                  f"{reserved}[    0.000000] Kernel command line: {args}\r\n", 0.02)
        self._say(LOGIN, self.SYSTEMD)

    def _login(self, line: str) -> None:
        if not line.strip():
            self._say(LOGIN)
            return
        self._user, self.state = line.strip(), "password"
        self._say("Password: ")

    def _password(self, line: str) -> None:
        if self._user == "root" and line == self.password:
            self.logins += 1
            self.state = "bash"
            self._say(f"\r\nLinux BeaglePlay {RELEASE} #1 SMP PREEMPT aarch64\r\n{PROMPT}")
        else:
            self.state = "login"
            self._say(f"\r\nLogin incorrect{LOGIN}")

    def _bash(self, line: str) -> None:
        self.lines.append(line)
        out = ""
        if m := re.fullmatch(r"MARKER='(\w+)''(\w+)' run (.*)", line):  # ShellDriver.run
            marker = m[1] + m[2]
            text, rc = self._command(shlex.split(m[3])[0])
            out = f"{marker}{text}{marker} {rc}\r\n"
        elif m := re.fullmatch(r"echo '(\w+)''(\w+)'", line):
            out = f"{m[1]}{m[2]}\r\n"
        elif line.startswith("run() {") or line == "dmesg -n 1" or not line.strip():
            pass
        else:
            out = self._command(line)[0]
        self._say(f"\x1b[?2004l\r{out}{PROMPT}")

    def _command(self, cmd: str) -> tuple[str, int]:
        if cmd == "true":
            return "", 0
        if cmd == "systemctl is-system-running --wait":
            return "running\r\n", 0
        if cmd == "cat /proc/cmdline":
            return f"{self.cmdline}\r\n", 0
        if cmd == "kdump-config status 2>&1":
            ready = "ready" if "crashkernel=256M" in self.cmdline else "Not ready"
            return f"current state   : {ready} to kdump\r\n", 0
        if cmd.startswith("echo loaded=$(cat /sys/kernel/kexec_crash_loaded)"):
            armed = "crashkernel=256M" in self.cmdline  # and kdump-tools loaded the kernel
            region = "  dd000000-ecffffff : Crash kernel\r\n" if armed else ""
            return (f"loaded={int(armed)} size={(256 << 20) if armed else 0} release={RELEASE}"
                    f"\r\ncmdline={self.cmdline}\r\n80000000-ffffffff : System RAM\r\n{region}", 0)
        return f"sh: 1: {cmd.split()[0] if cmd.split() else cmd}: not found\r\n", 127


class FakeOutlet:
    """The network power switch as labgrid's power backend module (``power_set``,
    ``power_get``): switching it powers the fake board."""

    PORT = 80  # like the gude backend's: NetworkPowerDriver asks its proxy manager for it

    def __init__(self, board: FakeBeaglePlay) -> None:
        self.board = board
        self.calls: list[tuple[str, int, str, bool]] = []

    def power_set(self, host: str, port: int, index: str, value: bool) -> None:
        self.calls.append((host, port, index, value))
        self.board.power(bool(value))

    def power_get(self, host: str, port: int, index: str) -> bool:
        return self.board.state != "off"


def load(path: Path) -> Any:
    """``path``'s target ``main``, read by labgrid; labgrid's warning for a key a driver does
    not have (it drops the key) is a failure here."""
    from labgrid import Environment

    import pytest_kdump.drivers  # noqa: F401  (registers pytest-kdump's drivers)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        target = Environment(str(path)).get_target("main")
    dropped = [str(w.message) for w in caught if "unsupported attribute" in str(w.message)]
    if dropped:
        target.cleanup()
    assert not dropped, dropped
    return target


@pytest.fixture
def board(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeBeaglePlay]:
    """The fake board on the cable, and the lab's values set as the env file expects them."""
    fake = FakeBeaglePlay()
    for name, value in LAB.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LG_BEAGLEPLAY_SERIAL", fake.port)
    monkeypatch.setenv("LG_BEAGLEPLAY_KDIR", str(tmp_path / "linux"))
    monkeypatch.setenv("LG_KDUMP_RUN", str(tmp_path / "run"))
    yield fake
    fake.close()


@pytest.fixture
def bp_target(board: FakeBeaglePlay) -> Iterator[Any]:
    target = load(ENV_FILE)
    yield target
    target.cleanup()


@pytest.fixture
def outlet(bp_target: Any, board: FakeBeaglePlay, monkeypatch: pytest.MonkeyPatch) -> FakeOutlet:
    """The PDU behind the real NetworkPowerDriver (its delay between off and on dropped)."""
    fake = FakeOutlet(board)
    power = bp_target.get_driver("NetworkPowerDriver", activate=False)
    monkeypatch.setattr(power, "backend", fake)
    monkeypatch.setattr(power, "delay", 0.0)
    return fake


def _drivers(target: Any) -> dict[str, Any]:
    return {type(d).__name__: d for d in target.drivers}


# -- the file, as labgrid and KdumpDriver read it ----------------------------------------------
def test_every_resource_and_driver_is_bound(bp_target: Any, board: FakeBeaglePlay) -> None:
    check_env_file(ENV_FILE)
    from labgrid.binding import BindingState

    drivers = _drivers(bp_target)
    assert set(drivers) == DRIVERS and len(bp_target.drivers) == len(DRIVERS)
    assert {type(r).__name__ for r in bp_target.resources} == RESOURCES
    assert {d.state for d in bp_target.drivers} == {BindingState.bound}  # nothing activated

    serial = bp_target.get_resource("RawSerialPort", wait_avail=False)
    assert (serial.port, serial.speed) == (board.port, 115200)
    pdu = bp_target.get_resource("NetworkPowerPort", wait_avail=False)
    assert (pdu.model, pdu.host, pdu.index) == ("gude", "pdu.invalid", "3")
    net = bp_target.get_resource("NetworkService", wait_avail=False)
    assert (net.address, net.username, net.port) == ("192.0.2.10", "root", 22)

    # who reads the console: KdumpConsoleDriver alone; U-Boot's and the shell's drivers,
    # the strategy and KdumpDriver read through it
    console, power = drivers["KdumpConsoleDriver"], drivers["NetworkPowerDriver"]
    assert drivers["SerialDriver"].port is serial and power.port is pdu
    assert (console.name, console.console, console.power) == (
        "kdump-console", drivers["SerialDriver"], power)
    for name in ("UBootDriver", "ShellDriver", "KdumpDriver"):
        assert drivers[name].console is console, name
    strategy = drivers["UBootStrategy"]
    assert (strategy.power, strategy.console, strategy.uboot, strategy.shell) == (
        power, console, drivers["UBootDriver"], drivers["ShellDriver"])
    assert bp_target.get_strategy() is strategy
    assert drivers["SSHDriver"].networkservice is net


def test_board_settings(bp_target: Any) -> None:
    drivers = _drivers(bp_target)
    uboot = drivers["UBootDriver"]
    assert (uboot.prompt, uboot.interrupt, uboot.boot_command) == ("=> ", " ", "run bootcmd")
    assert re.search(uboot.autoboot, "Press SPACE to abort autoboot in 2 seconds")
    manual = uboot.boot_commands["kdump-emmc"]
    assert re.search(r'setenv bootargs "console=ttyS2,115200n8 [^"]* crashkernel=256M"', manual)
    assert manual.endswith("booti ${kernel_addr_r} - ${fdt_addr_r}")

    shell = drivers["ShellDriver"]
    assert (shell.username, shell.password) == ("root", PASSWORD)
    for prompt in (PROMPT, "root@beagleplay-2:/var/crash# "):
        assert re.match(shell.prompt, prompt), prompt
    assert not re.match(shell.prompt, "\x1b[?2004hdebian@BeaglePlay:~$ ")
    assert re.search(shell.login_prompt, "BeaglePlay login: ")


def test_kdump_driver_keys(bp_target: Any, tmp_path: Path) -> None:
    kdump = bp_target.get_driver("KdumpDriver", activate=False)
    section = bp_target.env.config.data["targets"]["main"]["drivers"]["KdumpDriver"]
    # each key in the file is checked below: a new key needs its check here
    assert set(section) == {"crashkernel", "saver", "prompt", "commands", "file_transfer",
                            "vmlinux", "timeouts", "transport", "dump_dir", "remove_dumps",
                            "ssh"}
    assert (kdump.crashkernel, parse_size(kdump.crashkernel)) == ("256M", 256 << 20)
    assert (kdump.saver, kdump.chosen_saver().name) == ("kdump-tools", "Debian kdump-tools")
    assert (kdump.transport, kdump.dump_dir, kdump.remove_dumps, kdump.ssh) == (
        "ssh", "/var/crash", True, "SSHDriver")
    assert kdump.prompt == bp_target.get_driver("ShellDriver", activate=False).prompt
    assert (kdump.commands, kdump.file_transfer) == ("ShellDriver", "SSHDriver")
    assert kdump.vmlinux_path() == tmp_path / "linux" / "vmlinux"
    timeouts = Timeouts.from_dict(kdump.timeouts)
    assert (timeouts.boot, timeouts.shell, timeouts.dump_saved, timeouts.recover) == (
        60, 180, 600, 300)


# -- the drivers at work on the fake board -------------------------------------------------------
@LABGRID_LOGGER_WARNING
def test_kdump_driver_boots_logs_in_and_checks_armed(bp_target: Any, board: FakeBeaglePlay,
                                                     outlet: FakeOutlet, tmp_path: Path) -> None:
    """KdumpDriver activates with its console, power and named drivers; its engine boots the
    board through U-Boot's autoboot, logs in as root with ShellDriver and finds kdump armed
    with the 256 MiB the env expects."""
    from labgrid.binding import BindingState

    from pytest_kdump.drivers.protocol import LabgridCommands, LabgridFileTransfer

    kdump = bp_target.get_driver("KdumpDriver")  # activated
    drivers = _drivers(bp_target)
    for name in ("SerialDriver", "KdumpConsoleDriver", "NetworkPowerDriver", "KdumpDriver"):
        assert drivers[name].state is BindingState.active, name
    engine = kdump.engine(tmp_path / "logs")
    # kdump-tools' dumps stay in the board's /var/crash, fetched with the env's SSHDriver
    assert isinstance(engine.transport, SshTransport), engine.transport
    assert (engine.transport.ssh, engine.transport.folder) == (drivers["SSHDriver"], "/var/crash")
    assert isinstance(engine.commands, LabgridCommands)
    assert engine.commands.driver is drivers["ShellDriver"]
    assert isinstance(engine.copier, LabgridFileTransfer)
    assert engine.copier.driver is drivers["SSHDriver"]
    assert engine.power_control and engine.saver.name == "Debian kdump-tools"

    armed = engine.check_armed()
    assert (armed.loaded, armed.reserved_mib, armed.kernel_release) == (True, 256, RELEASE)
    assert "console=ttyS2,115200n8" in armed.cmdline and not engine.warnings
    assert armed.saver_status == "current state : ready to kdump", armed
    assert outlet.calls == [("pdu.invalid", 80, "3", True)]
    assert (board.interrupted, board.boots, board.logins) == (0, [EXTLINUX_ARGS], 1)
    assert drivers["ShellDriver"].state is BindingState.active
    assert drivers["SSHDriver"].state is BindingState.bound  # never connected
    assert "Press SPACE to abort autoboot" in engine.capture.tail(60)  # the session log has all


@LABGRID_LOGGER_WARNING
def test_uboot_strategy_boots_to_a_root_shell(bp_target: Any, board: FakeBeaglePlay,
                                              outlet: FakeOutlet) -> None:
    strategy = bp_target.get_strategy()
    strategy.transition("shell")  # off, cycle, stop autoboot, run bootcmd, log in, systemctl
    assert [value for *_, value in outlet.calls] == [False, False, True]
    assert (board.interrupted, board.boots, board.logins) == (1, [EXTLINUX_ARGS], 1)
    assert "systemctl is-system-running --wait" in board.lines[-1]
    shell = bp_target.get_driver("ShellDriver")
    assert shell.run_check("cat /proc/cmdline") == [EXTLINUX_ARGS]


@LABGRID_LOGGER_WARNING
def test_the_kdump_emmc_boot_command_gives_the_kernel_its_arguments(
        bp_target: Any, board: FakeBeaglePlay, outlet: FakeOutlet) -> None:
    bp_target.get_strategy().transition("uboot")
    uboot = bp_target.get_driver("UBootDriver")
    uboot.boot("kdump-emmc")
    uboot.await_boot()
    args = board.boots[-1]
    assert args.startswith("console=ttyS2,115200n8 ") and args.endswith(" crashkernel=256M")
    assert bp_target.get_driver("ShellDriver").run_check("cat /proc/cmdline") == [args]
    assert (board.interrupted, board.logins) == (1, 1)


# -- mistakes in the file fail ------------------------------------------------------------------
def _mutated(tmp_path: Path, old: str, new: str) -> Path:
    text = ENV_FILE.read_text()
    assert text.count(old) == 1, old  # the mutation changes exactly one place
    path = tmp_path / "beagleplay.yaml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.filterwarnings("ignore:unsupported attribute")
@pytest.mark.parametrize("old, new, error", [
    ("crashkernel: 256M", "crashkernal: 256M",
     r"has no key 'crashkernal' \(did you mean 'crashkernel'\?\)"),
    ("saver: kdump-tools", "saver: kdump-tool", r"saver: unknown saver 'kdump-tool'"),
    ("dump_saved: 600", "dump_save: 600", r"unknown phase timeout\(s\): dump_save"),
    ("shell: 180", "shell: -180", r"positive"),
    ("prompt: *root_prompt", "promt: *root_prompt",
     r"has no key 'promt' \(did you mean 'prompt'\?\)"),
], ids=["key", "saver", "timeout-phase", "timeout-value", "prompt-key"])
def test_a_wrong_kdump_key_fails(board: FakeBeaglePlay, tmp_path: Path, old: str, new: str,
                                 error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        load(_mutated(tmp_path, old, new))


@pytest.mark.parametrize("old, new, error", [
    ("commands: ShellDriver", "commands: ShelDriver",
     "commands: no CommandProtocol driver called 'ShelDriver'"),
    ("file_transfer: SSHDriver", "file_transfer: SCPDriver",
     "file_transfer: no FileTransferProtocol driver called 'SCPDriver'"),
])
def test_a_wrong_driver_name_fails_at_activation(board: FakeBeaglePlay, tmp_path: Path,
                                                 old: str, new: str, error: str) -> None:
    target = load(_mutated(tmp_path, old, new))
    try:
        with pytest.raises(ConfigError, match=error):
            target.get_driver("KdumpDriver")
    finally:
        target.cleanup()


def test_a_wrong_labgrid_key_is_caught(board: FakeBeaglePlay, tmp_path: Path) -> None:
    """labgrid drops a key its driver does not have with a warning, which :func:`load` (and
    so the tests above) turns into a failure; a wrong value type is labgrid's own error."""
    from labgrid.exceptions import InvalidConfigError

    with pytest.raises(AssertionError, match="unsupported attribute 'autobot'"):
        load(_mutated(tmp_path, 'autoboot: "Press', 'autobot: "Press'))
    with pytest.raises(InvalidConfigError, match="RawSerialPort"):
        load(_mutated(tmp_path, "        speed: 115200\n", "        speed: fast\n"))


def test_an_unset_lab_value_is_named(board: FakeBeaglePlay,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from labgrid.exceptions import InvalidConfigError

    check_env_file(ENV_FILE)  # what pytest-kdump checks before labgrid reads the file
    monkeypatch.delenv("LG_BEAGLEPLAY_IP")
    with pytest.raises(InvalidConfigError, match="unknown variable 'LG_BEAGLEPLAY_IP'"):
        load(ENV_FILE)

"""A scripted busybox board as labgrid drivers, for tests without QEMU.

:class:`FakeBusyboxConsole` (ConsoleProtocol) answers like the guest's busybox shell on a
serial console: it echoes what is typed, runs the commands pytest-kdump's shell and labgrid's
ShellDriver send (their marker wrappers, the armed check, the base64 file copy), and on
``echo c > /proc/sysrq-trigger`` prints a real panic report (from
``tests/data/sysrq-x86_64/console.raw``), boots the crash kernel, writes a small
kdump-compressed vmcore to ``dump_file``, says ``pytest-kdump: DUMP-OK size=N`` and reboots
(``after: reboot``) or powers off (``after: poweroff``). :class:`FakeBoardPower`
(PowerProtocol) switches it; :class:`FakeDumpDisk` is the vmcore transport that fetches
``dump_file``. Importing this module registers the drivers with labgrid's target_factory.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import shutil
import threading
import time
from pathlib import Path

import attr
import pexpect
from labgrid.driver import Driver
from labgrid.driver.consoleexpectmixin import ConsoleExpectMixin
from labgrid.factory import target_factory
from labgrid.protocol import ConsoleProtocol, PowerProtocol

from pytest_kdump.errors import VmcoreError
from pytest_kdump.transports import FetchedDump
from tests.helpers import DATA, PFNS, make_kdump

RELEASE = "6.1.0-56-cloud-amd64"  # the kernel of the recorded console
PROMPT = "kdump# "
_RAW = (DATA / "sysrq-x86_64" / "console.raw").read_bytes()


def _line_start(data: bytes, needle: bytes, start: int = 0) -> int:
    return data.rindex(b"\n", 0, data.index(needle, start)) + 1


_PANIC_AT = _line_start(_RAW, b"sysrq: Trigger a crash")
_CRASH_KERNEL_AT = _line_start(_RAW, b"Linux version", _PANIC_AT)
_SAVING_AT = _line_start(_RAW, b"pytest-kdump: crash kernel", _CRASH_KERNEL_AT)
# the recorded panic report, and the crash kernel's first two lines and makedumpfile run (its
# whole boot log is 45 KB: more than pexpect's search window if it all piles up unread)
PANIC = _RAW[_PANIC_AT:_CRASH_KERNEL_AT]
CRASH_KERNEL = (_RAW[_CRASH_KERNEL_AT:_line_start(_RAW, b"BIOS-provided", _CRASH_KERNEL_AT)]
                + _RAW[_SAVING_AT:_line_start(_RAW, b"pytest-kdump: DUMP-OK")])
PANIC_END = b"[    4.520000] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---\r\n"
ARMED = ("loaded={loaded} size=134217728 release={release}\n"
         "cmdline=console=ttyS0 crashkernel=128M\n"
         "00001000-0009fbff : System RAM\n"
         "00100000-1ffdcfff : System RAM\n"
         "  16000000-1dffffff : Crash kernel")
CRASH = "echo c > /proc/sysrq-trigger"


def boot_text(release: str = RELEASE) -> bytes:
    return (f"[    0.000000] Linux version {release} (fake@build) (gcc-12) #1 SMP\r\n"
            "[    0.000000] Command line: console=ttyS0 crashkernel=128M\r\n"
            f"pytest-kdump: init production kernel {release}\r\n"
            "pytest-kdump: kdump armed (kexec -p rc=0)\r\n"
            f"pytest-kdump: shell ready\r\n\r\n{PROMPT}").encode()


@target_factory.reg_driver
@attr.s(eq=False)
class FakeBusyboxConsole(ConsoleExpectMixin, Driver, ConsoleProtocol):
    """A busybox board's serial console (see the module's docstring)."""

    txdelay = attr.ib(default=0.0, validator=attr.validators.instance_of(float))
    txchunk = attr.ib(default=1, validator=attr.validators.instance_of(int))
    release = attr.ib(default=RELEASE, validator=attr.validators.instance_of(str))
    running = attr.ib(default=False, validator=attr.validators.instance_of(bool))
    kdump_loaded = attr.ib(default=True, validator=attr.validators.instance_of(bool))
    after = attr.ib(default="reboot", validator=attr.validators.in_(["reboot", "poweroff"]))
    dump_file = attr.ib(default="", validator=attr.validators.instance_of(str))
    arch = attr.ib(default="x86_64", validator=attr.validators.instance_of(str))
    # the armed check's kallsyms answer on arm64: 1 (has _text), supplied, 0
    kallsyms_text = attr.ib(default="", validator=attr.validators.instance_of(str))
    config = attr.ib(default="", validator=attr.validators.instance_of(str))  # the grep's line
    printk = attr.ib(default="", validator=attr.validators.instance_of(str))  # e.g. "1 4 1 7"
    # a kernel message the console prints in every command's output: on a line of its own
    # before it, and cut into its first line (after 3 characters)
    kmsg = attr.ib(default="", validator=attr.validators.instance_of(str))

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._cond = threading.Condition()
        self._rx: list[tuple[float, bytes]] = []  # (when it is readable, bytes)
        self._line = b""
        self.files: dict[str, bytes] = {}
        self.sysctls: dict[str, str] = {}
        self.lines: list[str] = []  # every line typed at the shell
        self.boots = 0
        self.armings: list[str] = []  # the arguments of each 'kexec -p' (the engine's arm)
        self.restores = 0
        self.reseeds: list[tuple[int, str]] = []  # fast mode: (clock set, random bytes mixed)
        self.mode = "shell" if self.running else "off"

    # -- labgrid -------------------------------------------------------------------------
    def on_activate(self) -> None:
        if self.running:  # booted before the test: a prompt shows a little later
            self._out(f"\r\n{PROMPT}".encode(), 0.3)

    def on_deactivate(self) -> None:
        pass

    def resolve_conflicts(self, client: object) -> None:
        """Its power driver and KdumpConsoleDriver both use it: nobody is deactivated."""

    def _read(self, size: int = 1, timeout: float = 0.0, max_size: int | None = None) -> bytes:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                ready = [data for when, data in self._rx if when <= now]
                if ready:
                    data = b"".join(ready)
                    self._rx = self._rx[len(ready):]
                    return data
                if now >= deadline:
                    raise pexpect.TIMEOUT(f"Timeout of {timeout:.2f} seconds exceeded")
                wake = min([when for when, _ in self._rx] + [deadline])
                self._cond.wait(max(0.001, wake - now))

    def _write(self, data: bytes) -> int:
        with self._cond:
            if self.mode != "shell":
                return len(data)  # nobody listens (off, booting, crashed)
            self._out(data.replace(b"\n", b"\r\n"))  # the terminal's echo
            self._line += data
            while b"\n" in self._line:
                line, self._line = self._line.split(b"\n", 1)
                if self.mode == "shell":
                    self._handle(line.decode().rstrip("\r"))
        return len(data)

    # -- the board -------------------------------------------------------------------------
    def _out(self, data: bytes, delay: float = 0.0) -> None:
        """Print ``data`` after what is already printed, ``delay`` seconds later, at about
        500 KB/s (like a fast serial line: a reader sees it in pieces, not all at once)."""
        with self._cond:
            when = max(self._rx[-1][0] if self._rx else 0.0, time.monotonic()) + delay
            for i in range(0, len(data), 1024):
                self._rx.append((when, data[i:i + 1024]))
                when += 0.002
            self._cond.notify_all()

    def power_on(self) -> None:
        with self._cond:
            if self.mode != "off":
                return
            self._boot()
            self.mode = "shell"  # typed input waits behind the boot messages
            self._out(boot_text(self.release), 0.05)

    def _boot(self) -> None:
        """A boot: /run (tmpfs) is empty; a crash kernel loaded by hand is gone."""
        self.boots += 1
        self.files = {k: v for k, v in self.files.items() if not k.startswith("/run/")}
        if self.armings:
            self.kdump_loaded = False

    def power_off(self) -> None:
        with self._cond:
            self._rx.clear()
            self._line = b""
            self.mode = "off"

    # QEMU's fast mode, the fake's way: its state as a dict, restored without a boot
    def saved_state(self) -> dict:
        with self._cond:
            return {"files": dict(self.files), "kdump_loaded": self.kdump_loaded,
                    "sysctls": dict(self.sysctls)}

    def restore_state(self, state: dict) -> None:
        with self._cond:
            self.files, self.sysctls = dict(state["files"]), dict(state["sysctls"])
            self.kdump_loaded = state["kdump_loaded"]
            self.restores += 1
            self.mode = "shell"  # at the prompt printed before the state was saved

    def _crash(self) -> None:
        self.mode = "crashed"
        self._out(PANIC)
        if not self.kdump_loaded:
            self._out(PANIC_END)
            return
        vmcore = make_kdump(PFNS, release=self.release)
        Path(self.dump_file).write_bytes(vmcore)
        self._out(CRASH_KERNEL, 0.2)  # kexec: the crash kernel starts after a while
        self._out(f"pytest-kdump: DUMP-OK size={len(vmcore)}\r\n".encode(), 0.05)
        if self.after == "poweroff":
            self._out(b"[    7.984539] reboot: Power down\r\n")
            self.mode = "off"
        else:
            self._boot()
            self._out(boot_text(self.release), 0.05)
            self.mode = "shell"

    def _handle(self, line: str) -> None:
        """Run one line typed at the shell: print its output and the next prompt."""
        self.lines.append(line)
        out = ""
        if m := re.fullmatch(r"echo KD-''BEGIN-(\d+); (.*); echo KD-''END-(\d+)-\$\?-", line):
            self._out(f"KD-BEGIN-{m[1]}\r\n".encode())  # pytest-kdump's Shell.run
            result = self._command(m[2])
            if result is None:
                return
            text = result[0]
            if self.kmsg:
                text = f"{self.kmsg}\n{text[:3]}{self.kmsg}\n{text[3:]}"
            out = _lines(text) + f"KD-END-{m[3]}-{result[1]}-\r\n"
        elif m := re.fullmatch(r"(.*); echo TRIGGER-''RETURNED-\$\?", line):
            result = self._command(m[1])  # a trigger typed by the engine
            if result is None:
                return
            out = _lines(result[0]) + f"TRIGGER-RETURNED-{result[1]}\r\n"
        elif m := re.fullmatch(r"MARKER='(\w*)''(\w*)' run (.*)", line):
            marker = m[1] + m[2]  # labgrid's ShellDriver.run
            self._out(marker.encode())
            result = self._command(shlex.split(m[3])[0])
            if result is None:
                return
            out = _lines(result[0]) + f"{marker} {result[1]}\r\n"
        elif line.startswith("run() {"):  # ShellDriver defines its run function
            pass
        elif line.strip():
            result = self._command(line)
            if result is None:
                return
            out = _lines(result[0])
        self._out(f"{out}{PROMPT}".encode())

    def _command(self, cmd: str) -> tuple[str, int] | None:
        """A command's output and exit code; None when it crashed the kernel."""
        if cmd.startswith("echo loaded=$(cat /sys/kernel/kexec_crash_loaded)"):
            printk = f"\nprintk={self.printk}" if self.printk else ""
            return (ARMED.format(loaded=int(self.kdump_loaded), release=self.release)
                    + f"{printk}\nconfig={self.config}\narch={self.arch} "
                    f"text={self.kallsyms_text}"), 0
        if m := re.fullmatch(r"kexec -p -u 2>/dev/null; kexec -p .* && printf '%s\\n' "
                             r"'([^']*)' > (/run/\S+)", cmd):  # the engine's Arming.command
            self.armings.append(m[1])
            self.files[m[2]] = m[1].encode() + b"\n"
            self.kdump_loaded = True
            return "", 0
        if m := re.fullmatch(r"cat (/run/\S+) 2>/dev/null", cmd):
            return self.files.get(m[1], b"").decode(), 0
        if m := re.fullmatch(r"echo (\d) > /proc/sys/kernel/printk", cmd):
            self.printk = f"{m[1]} {self.printk.split(' ', 1)[1]}"
            return "", 0
        if m := re.fullmatch(r"date -s @(\d+) >/dev/null && echo ([0-9a-f]{64}) > "
                             r"/dev/urandom && cut -d' ' -f1 /proc/uptime", cmd):
            self.reseeds.append((int(m[1]), m[2]))  # the engine after restoring a state
            return "12.34", 0
        if cmd == "cat /sys/kernel/kexec_crash_loaded 2>/dev/null || echo 0":
            return str(int(self.kdump_loaded)), 0
        if cmd == CRASH:
            self._crash()
            return None
        if cmd.startswith("sleep "):
            return None  # hangs: no output, no prompt
        if m := re.fullmatch(r"mount -t debugfs none /sys/kernel/debug 2>/dev/null; "
                             r"test -e (\S+)", cmd):
            return "", 0 if m[1] in self.files else 1
        simple = {"true": ("", 0), "false": ("", 1), "uname -r": (self.release, 0),
                  "uname -m": (self.arch, 0),
                  "dmesg -n 1": ("", 0)}
        if cmd in simple:
            return simple[cmd]
        if m := re.fullmatch(r"printf '%s\\n' (\S+) > /proc/sys/(\S+)", cmd):
            self.sysctls[m[2].replace("/", ".")] = m[1]
            return "", 0
        if m := re.fullmatch(r"rm -f (\S+)", cmd):
            self.files.pop(m[1], None)
            return "", 0
        if m := re.fullmatch(r"echo (\S+) >> (\S+)", cmd):
            self.files[m[2]] = self.files.get(m[2], b"") + m[1].encode() + b"\n"
            return "", 0
        if m := re.fullmatch(r"base64 -d (\S+) > (\S+) && rm (\S+)", cmd):
            self.files[m[2]] = base64.b64decode(self.files.pop(m[1]))
            return "", 0
        if m := re.fullmatch(r"md5sum (\S+)", cmd):
            if m[1] not in self.files:
                return f"md5sum: {m[1]}: No such file or directory", 1
            return f"{hashlib.md5(self.files[m[1]]).hexdigest()}  {m[1]}", 0
        if m := re.fullmatch(r"echo ?(.*)", cmd):
            text = re.sub(r"\$\(\((\d+)\+(\d+)\)\)", lambda n: str(int(n[1]) + int(n[2])), m[1])
            return text.replace("'", ""), 0
        return f"sh: {cmd.split()[0]}: not found", 127


def _lines(text: str) -> str:
    return "".join(f"{line}\r\n" for line in text.split("\n")) if text else ""


@target_factory.reg_driver
@attr.s(eq=False)
class FakeBoardPower(Driver, PowerProtocol):
    """The board's power switch (a PDU outlet)."""

    bindings = {"board": "FakeBusyboxConsole"}

    @Driver.check_active
    def on(self) -> None:
        self.board.power_on()

    @Driver.check_active
    def off(self) -> None:
        self.board.power_off()

    @Driver.check_active
    def cycle(self) -> None:
        self.off()
        self.on()


class FakeDumpDisk:
    """The vmcore transport of the fake board: the file its crash kernel writes."""

    def __init__(self, dump_file: Path) -> None:
        self.dump_file = Path(dump_file)
        self.fetched = 0

    def prepare(self) -> None:
        self.dump_file.unlink(missing_ok=True)

    def fetch(self, dest: Path, timeout: float | None = None) -> FetchedDump:
        if not self.dump_file.is_file():
            raise VmcoreError(f"no vmcore at {self.dump_file}", phase="fetch")
        dest.mkdir(parents=True, exist_ok=True)
        vmcore = dest / "vmcore"
        shutil.move(self.dump_file, vmcore)
        self.fetched += 1
        return FetchedDump(vmcore=vmcore, dmesg=None,
                           status={"size": str(vmcore.stat().st_size)})


# short phase timeouts: a broken test fails in seconds (the fake board answers at once)
TIMEOUTS = {"boot": 10, "shell": 10, "armed": 10, "crash_kernel": 10, "dump_saved": 10,
            "fetch": 10, "recover": 10}


def env_yaml(tmp_path: Path, *, power: bool = True, console: str = "", kdump: str = "",
             extra: str = "", timeouts: dict[str, float] | None = None) -> str:
    """An env YAML for the fake board: its console (``console``: more of its keys), its power
    driver unless ``power`` is False, KdumpConsoleDriver, KdumpDriver (``kdump``: more keys;
    ``timeouts``: phase timeouts over :data:`TIMEOUTS`) and ``extra`` drivers after them
    (each given as indented YAML)."""
    phases = ", ".join(f"{k}: {v}" for k, v in {**TIMEOUTS, **(timeouts or {})}.items())
    kdump = f"        timeouts: {{{phases}}}\n{kdump}"
    return (
        "targets:\n  main:\n    drivers:\n"
        "      FakeBusyboxConsole:\n"
        f"        dump_file: {tmp_path / 'board-dump'}\n{console}"
        + ("      FakeBoardPower: {}\n" if power else "")
        + "      KdumpConsoleDriver:\n        name: kdump-console\n"
        f"        log_dir: {tmp_path / 'console'}\n"
        "      KdumpDriver:\n        prompt: 'kdump# '\n        crashkernel: 128M\n"
        f"{kdump}{extra}"
    )

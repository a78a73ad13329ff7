"""The kdump cycle: boot → shell → armed → trigger → crash kernel → dump saved → fetch → recover.

Each phase has a timeout and is timed; a failure raises an error naming the phase, what to check,
the console tail and the console log's path. The engine needs only a :class:`~.board.Board`, a
:class:`~pytest_kdump.transports.VmcoreTransport` and a :class:`~pytest_kdump.savers.Saver`,
so QEMU, a serial board and a distribution's kdump scripts all fit. Board commands go through a
:class:`~.board.CommandRunner` and file copies through a :class:`~.board.FileCopier` (by
default the console's shell and a base64 copy over it).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pexpect

from pytest_kdump import detect
from pytest_kdump.console.capture import ConsoleCapture
from pytest_kdump.console.kernel_lines import without_kernel_messages
from pytest_kdump.console.shell import Shell, ShellAborted
from pytest_kdump.console.spawn import ConsoleSpawn
from pytest_kdump.console.transfer import ConsoleCopy
from pytest_kdump.detect import CrashRecord
from pytest_kdump.engine.advice import ADVICE, diagnose
from pytest_kdump.engine.board import Board, CommandRunner, FileCopier, NmiBoard
from pytest_kdump.engine.results import (
    ArmedState,
    BoardState,
    DumpResult,
    PhaseTiming,
    SeenCrash,
    Timeouts,
    parse_armed,
    parse_size,
)
from pytest_kdump.errors import (
    BoardDied,
    CycleError,
    KdumpError,
    PhaseTimeout,
    UnexpectedCrash,
)
from pytest_kdump.savers import Saver
from pytest_kdump.savers.guest_init import SAVER as GUEST_INIT
from pytest_kdump.transports import VmcoreTransport
from pytest_kdump.triggers import Trigger, get_trigger
from pytest_kdump.vmcore import check_vmcore

# A kernel timestamp ("[   12.345678]"): the kernel's clock, as printed on the console.
_KERNEL_TIME = re.compile(r"\[\s*(\d+\.\d+)\]")
# arm64: does kexec-tools find _text? (echoes "arch=aarch64 text=supplied|1|0"; our init's
# file first: without _text, grep reads all of kallsyms, ~0.5 s under TCG; with it, it stops
# at once, _text being near the start)
KALLSYMS_TEXT_CHECK = (
    "a=$(uname -m); echo arch=$a text=$(if [ $a != aarch64 ]; then echo; "
    "elif [ -f /etc/kallsyms-text-offset ]; then echo supplied; "
    "elif grep -qs ' _text$' /proc/kallsyms; then echo 1; else echo 0; fi)")
CONSOLE_LOGLEVEL = 7
"""The console log level set for a crash when a lower one was found (7: all but debug)."""
# the running kernel's kdump options, when its config can be read
CONFIG_CHECK = (
    "echo config=$( (zcat /proc/config.gz 2>/dev/null || cat /boot/config-$(uname -r) "
    "2>/dev/null) | grep -E '^CONFIG_(CRASH_DUMP|PROC_VMCORE|KEXEC|KEXEC_FILE|MAGIC_SYSRQ|"
    "KALLSYMS_ALL)=' | tr '\\n' ' '); grep MemAvailable /proc/meminfo; ")
# (what is missing, the fix) for each kdump need a kernel config shows
CONFIG_NEEDS = (
    (("CONFIG_CRASH_DUMP",), "CONFIG_CRASH_DUMP=y (the crash kernel side of kdump)"),
    (("CONFIG_PROC_VMCORE",), "CONFIG_PROC_VMCORE=y (/proc/vmcore, what makedumpfile reads)"),
    (("CONFIG_KEXEC", "CONFIG_KEXEC_FILE"), "CONFIG_KEXEC=y or CONFIG_KEXEC_FILE=y "
                                            "('kexec -p' loads the crash kernel)"),
)
NMI_PANIC_SYSCTL = "/proc/sys/kernel/unknown_nmi_panic"
"""What lets an NMI from the host panic the kernel (x86 only)."""
# After a crash headline during a command: the kernel is really going down (a command that
# finishes instead printed the headline: dmesg, a log file).
GOING_DOWN = [detect.KERNEL_BANNER_RE, detect.PANIC_END_RE, detect.PANIC_RE,
              re.compile(r"Starting crashdump kernel")]


@dataclass(frozen=True)
class Arming:
    """How to load the crash kernel the seed's way when it is not loaded as wanted:
    ``kexec -p KERNEL --initrd=INITRD --append="<the running command line without
    crashkernel=> APPEND <the transport's arguments>"``. Paths are on the board."""

    kernel: str
    initrd: str | None = None
    append: str = "irqpoll nr_cpus=1 reset_devices"

    def command(self, extra: str = "") -> str:
        """The board's shell command; it also records what it loaded in :data:`ARMED_FILE`
        (on tmpfs: gone at the next boot, when the crash kernel must be loaded again)."""
        args = " ".join(a for a in (self.append, extra) if a)
        initrd = f" --initrd={shlex.quote(self.initrd)}" if self.initrd else ""
        return (f"kexec -p -u 2>/dev/null; kexec -p {shlex.quote(self.kernel)}{initrd} "
                f"--append=\"$(sed -e 's/\\(^\\| \\)crashkernel=[^ ]*//g' /proc/cmdline) \""
                f"{shlex.quote(args)} && printf '%s\\n' {shlex.quote(args)} > {ARMED_FILE}")


ARMED_FILE = "/run/pytest-kdump-armed"
SNAPSHOT_TIMEOUT = 60.0  # seconds to save or restore the armed board's state (fast mode)


class CycleEngine:
    """Drives one board through kdump cycles.

    ``log_dir`` receives the session console log (None: where ``capture`` logs already);
    :meth:`attach_log` adds a per-test one. ``echo`` (e.g. ``sys.stderr.write``) shows the
    console live. ``commands`` and ``copier`` (also attributes, replaceable) run the board's
    commands and copy files to it; by default :attr:`shell`, the shell on the console, and a
    base64 copy over it. Triggers are typed at the console's shell whatever ``commands`` is.
    """

    def __init__(self, board: Board, transport: VmcoreTransport, log_dir: Path | None, *,
                 timeouts: Timeouts | None = None,
                 saver: Saver = GUEST_INIT,
                 prompt: str = r"[#$] ", expected_crashkernel: str | None = None,
                 echo: Callable[[str], None] | None = None,
                 capture: ConsoleCapture | None = None,
                 commands: CommandRunner | None = None,
                 copier: FileCopier | None = None) -> None:
        self.board = board
        self.transport = transport
        self.timeouts = timeouts or Timeouts()
        self.saver = saver
        self.expected_crashkernel = expected_crashkernel
        self._own_capture = capture is None
        if capture is None:
            if log_dir is None:
                raise ValueError("CycleEngine needs a log_dir or a capture")
            capture = ConsoleCapture(board.read, log_dir, echo=echo)
        else:
            if log_dir is not None:
                capture.relocate(log_dir)
            if echo:
                capture.listeners.append(echo)
        self.capture = capture
        self.detector = detect.StreamDetector()
        self.seen: list[SeenCrash] = []
        self._expecting = False
        self._last_ts: float | None = None  # the last kernel timestamp on the console
        self._replay_floor: float | None = None  # kernel time when the last command started
        self._boot_reports: set[tuple[str, float | None]] = set()  # (headline, time) this boot
        self._went_down: re.Match[str] | None = None  # what a command's shell saw after a crash
        capture.listeners.append(self._watch)
        self.spawn = ConsoleSpawn(self.capture, board.write)
        self.shell = Shell(self.spawn, prompt)
        self.commands: CommandRunner = commands or self.shell
        self.copier: FileCopier = copier or ConsoleCopy(self.run)
        self._state = BoardState.OFF if self.power_control else BoardState.UNKNOWN
        self._phase: str | None = None  # the phase under way, if any
        self.phases: list[PhaseTiming] = []
        self.log_path = self.capture.log_path
        self.warnings: list[str] = []
        self._armed: ArmedState | None = None  # valid until the next crash or power-on
        self.last_armed: ArmedState | None = None
        self.arming: Arming | None = None  # set: the engine loads the crash kernel itself
        # QEMU's fast mode: the armed board's state, saved after the first boot; every later
        # power-on restores it instead of booting (None: full boots)
        self.snapshot: Path | None = None

    # -- the board's state -------------------------------------------------------------------
    @property
    def state(self) -> BoardState:
        """What the engine knows of the board; changed by the engine, or :meth:`assume`."""
        return self._state

    @property
    def power_control(self) -> bool:
        """Whether the engine can switch the board on and off. Without (no power driver), the
        board starts in state ``unknown`` and is used while it answers at a shell."""
        return bool(getattr(self.board, "power_control", True))

    def assume(self, state: BoardState | str) -> None:
        """Take the board to be in ``state`` (something outside the engine changed it, e.g.
        a labgrid strategy's ``force``)."""
        self._state = BoardState(state)
        if self._state is not BoardState.SHELL:
            self._armed = None

    def forget_state(self) -> None:
        """The board may have changed behind the engine's back (a crash nobody followed): its
        next use checks for a shell first, then power-cycles it."""
        self.assume(BoardState.UNKNOWN)

    def move_logs(self, log_dir: Path) -> None:
        """Move the session console logs to ``log_dir`` and go on there."""
        following = self.log_path == self.capture.log_path
        self.capture.relocate(log_dir)
        if following:
            self.log_path = self.capture.log_path

    # -- crash detection ---------------------------------------------------------------------
    def _watch(self, text: str) -> None:
        """Capture listener (reader thread): feed the detector, keep what it recognises."""
        stamps = _KERNEL_TIME.findall(text)
        if stamps:
            self._last_ts = float(stamps[-1])
        self._keep(self.detector.feed(text))

    def _keep(self, records: list[CrashRecord]) -> None:
        for record in records:
            seen = SeenCrash(record, self._expecting,
                             round(time.monotonic() - self.capture.t0, 3),
                             in_output=self._is_output(record))
            if seen.in_output:
                self.warnings.append(f"crash text in a command's output, not a crash: "
                                     f"{record.headline}")
            self.seen.append(seen)

    def _is_output(self, record: CrashRecord) -> bool:
        """Whether ``record`` is text a command printed rather than the kernel crashing: a
        report seen before in this boot with the same headline and time (``dmesg``), or, with
        kernel timestamps on this boot's console, one without timestamp or older than the
        kernel's time when the last command started (1 s of leeway: CPUs' clocks)."""
        key = (record.headline, record.timestamp)
        again = record.timestamp is not None and key in self._boot_reports
        self._boot_reports.add(key)
        floor = self._replay_floor
        if self._expecting or (floor is None and not again):
            return False
        return again or record.timestamp is None or record.timestamp < floor - 1.0

    def _new_boot(self) -> None:
        """A kernel starts: its timestamps start again from 0."""
        self._last_ts = self._replay_floor = None
        self._boot_reports.clear()

    def settle_detection(self) -> None:
        """Complete a report whose end was seen but which waits for a possible follow-up
        (an oops may be followed by its panic); call when the console is quiet."""
        self._keep(self.detector.idle())

    def unexpected_since(self, mark: int) -> list[SeenCrash]:
        """Crashes recognised after ``len(self.seen) == mark`` that no trigger caused (text
        printed by a command is no crash)."""
        return [s for s in self.seen[mark:] if not s.expected and not s.in_output]

    def _wait_record(self, mark: int, timeout: float) -> list[SeenCrash]:
        """The reports seen since ``mark``, waiting up to ``timeout`` for one to complete (an
        open one is taken as it is)."""
        deadline = time.monotonic() + timeout
        while len(self.seen) <= mark and time.monotonic() < deadline:
            time.sleep(0.2)
            self.settle_detection()
        if len(self.seen) <= mark:  # still open: describe it as it is, it completes later
            now = round(time.monotonic() - self.capture.t0, 3)
            return [SeenCrash(r, self._expecting, now) for r in self.detector.pending()]
        return self.seen[mark:]

    # -- logs ------------------------------------------------------------------------------
    def attach_log(self, path: Path) -> None:
        self.log_path = path
        self.capture.attach_log(path)

    def detach_log(self, path: Path) -> None:
        self.capture.detach_log(path)
        self.log_path = self.capture.log_path

    # -- phases ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def phase(self, name: str, timeout: float) -> Iterator[None]:
        """Time a phase; turn whatever goes wrong into an error naming it."""
        outer, self._phase = self._phase, name
        try:
            with self._timed(name, timeout):
                yield
        finally:
            self._phase = outer

    @contextlib.contextmanager
    def _timed(self, name: str, timeout: float) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        except pexpect.TIMEOUT:
            self.phases.append(PhaseTiming(name, round(time.monotonic() - start, 2), False))
            self._state = BoardState.UNKNOWN
            raise self._error(PhaseTimeout, name,
                              f"{name} did not finish within {timeout:g} s") from None
        except pexpect.EOF:
            self.phases.append(PhaseTiming(name, round(time.monotonic() - start, 2), False))
            self._state = BoardState.OFF
            raise self._error(BoardDied, name, f"the board went away during {name}: "
                                               f"{self.board.describe_death()}") from None
        except KdumpError as exc:
            self.phases.append(PhaseTiming(name, round(time.monotonic() - start, 2), False))
            self._state = (BoardState.OFF if isinstance(exc, BoardDied)
                           else exc.board_state or BoardState.UNKNOWN)
            self._annotate(exc, name)
            raise
        self.phases.append(PhaseTiming(name, round(time.monotonic() - start, 2)))

    def _annotate(self, exc: KdumpError, phase: str) -> KdumpError:
        """``exc`` with the phase, advice, console tail and log path it does not have yet."""
        exc.phase = exc.phase or phase
        exc.advice = exc.advice or ADVICE.get(phase)
        exc.console_tail = exc.console_tail or self.capture.tail()
        exc.log_path = exc.log_path or self.log_path
        return exc

    def _error(self, cls: type[KdumpError], phase: str, message: str) -> KdumpError:
        tail = self.capture.tail()
        # a board that knows why it went away (a lost console connection) says what to check
        own = getattr(self.board, "death_advice", None) if cls is BoardDied else None
        advice = "; ".join(diagnose(tail) + [(own and own()) or ADVICE[phase]])
        return cls(message, phase=phase, advice=advice, console_tail=tail,
                   log_path=self.log_path)

    def _expect(self, patterns: list[re.Pattern[str] | str], timeout: float) -> int:
        return self.spawn.expect(patterns, timeout=timeout)

    # -- power and shell -------------------------------------------------------------------
    def power_on(self, restore: Callable[[], None] | None = None) -> None:
        """Switch the board on (``restore``: the board's own way on into a saved state)."""
        self._armed = None
        self._keep(self.detector.flush())  # what the last boot left open
        self.detector.reset()
        self._new_boot()
        self._went_down = None
        self.spawn.stop_recording()
        self.spawn.drain()
        self.spawn.reset_eof()
        (restore or self.board.power_on)()
        self.capture.resume()
        self._state = BoardState.BOOTING

    def power_off(self) -> None:
        """Switch the board off (without power control: only forget its state)."""
        if self.power_control:
            self.capture.pause()  # the reader stops first: no stale end of console after
        self.board.power_off()
        self._state = BoardState.OFF if self.power_control else BoardState.UNKNOWN
        self._armed = None

    def ensure_shell(self) -> None:
        """Bring the board to a shell: boot it if off, wait for it if rebooting.

        Without power control the board must come to a shell by itself: the engine waits up
        to the ``shell`` timeout for one, then fails saying that nothing can power it on.
        """
        if self.state is BoardState.SHELL:
            return
        if self.state is BoardState.REBOOTED:
            self.recover()
            return
        if self.state in (BoardState.CRASHED, BoardState.CRASHING):  # nobody followed it
            self.power_off()  # start afresh
        if self.state is BoardState.UNKNOWN:  # after a failure: a shell may still answer
            wait = min(10.0, self.timeouts.shell) if self.power_control else self.timeouts.shell
            try:
                self.commands.wait_ready(wait)
                self._state = BoardState.SHELL
                return
            except (pexpect.TIMEOUT, pexpect.EOF):
                self.power_off()
            except KdumpError as exc:  # e.g. the console reader failed
                self._annotate(exc, "shell")
                raise
        off = self.state is BoardState.OFF or not self.board.alive()
        if off and self.power_control and self._restore():
            return
        with self.phase("boot", self.timeouts.boot):
            if off or not self.power_control:  # the last raises: it says what to do
                self.power_on()
            self._expect([detect.KERNEL_BANNER_RE], self.timeouts.boot)
        with self.phase("shell", self.timeouts.shell):
            self.commands.wait_ready(self.timeouts.shell)
        self._state = BoardState.SHELL
        self._arm_if_needed()  # before anything else can crash this boot
        self._save_snapshot()

    def recover(self) -> None:
        """Bring the board back to a shell after a dump: wait for its reboot, or power it on
        if the crash kernel powered it off."""
        if not self.board.alive() and self._restore():
            return
        with self.phase("recover", self.timeouts.recover):
            if not self.board.alive():
                self.power_on()
            self._expect([detect.KERNEL_BANNER_RE], self.timeouts.recover)
            self.commands.wait_ready(self.timeouts.recover)
        self._state = BoardState.SHELL
        self._arm_if_needed()

    # -- fast mode: the armed board saved once, restored at each power-on --------------------
    def _save_snapshot(self) -> None:
        """Save the board's state once it is at an armed shell (fast mode, first boot)."""
        save = getattr(self.board, "save_state", None)
        if self.snapshot is None or save is None or self.snapshot.is_file():
            return
        loaded = self.run("cat /sys/kernel/kexec_crash_loaded 2>/dev/null || echo 0",
                          self.timeouts.armed)
        if without_kernel_messages(loaded).strip() != "1":
            return  # an unarmed board is not worth coming back to
        try:
            with self.phase("snapshot", SNAPSHOT_TIMEOUT):
                save(self.snapshot, SNAPSHOT_TIMEOUT)
        except KdumpError as exc:
            self._fast_mode_off(f"saving the armed board failed ({exc.message})")
            # the phase's failure left the state unknown: the board runs on, or boots again
            self._state = BoardState.SHELL if self.board.alive() else BoardState.OFF
            if self._state is BoardState.OFF:
                self.ensure_shell()

    def _restore(self) -> bool:
        """Power on into the saved armed board (fast mode): no boot, the same state every
        time; the clock is set to the host's and the random pool reseeded. False (and full
        boots from now on) if there is no saved board or it cannot be restored."""
        restore = getattr(self.board, "power_on_restored", None)
        if self.snapshot is None or restore is None or not self.snapshot.is_file():
            return False
        try:
            with self.phase("restore", self.timeouts.recover):
                if self.board.alive():
                    self.power_off()
                self.power_on(restore=lambda: restore(self.snapshot, SNAPSHOT_TIMEOUT))
                self.spawn.sendline("")  # the prompt was printed before the state was saved
                self.commands.wait_ready(self.timeouts.recover)
                self._state = BoardState.SHELL
                uptime = self.run(f"date -s @{int(time.time())} >/dev/null && "
                                  f"echo {secrets.token_hex(32)} > /dev/urandom && "
                                  "cut -d' ' -f1 /proc/uptime", self.timeouts.armed)
                # the kernel's clock, as its messages would have shown it on a boot: text
                # without a timestamp is then told from the kernel's own (see _is_output)
                found = re.findall(r"^\d+\.\d+$", without_kernel_messages(uptime), re.M)
                if not found:
                    raise CycleError(f"no uptime in the restored board's answer: {uptime!r}",
                                     phase="restore")
                self._last_ts = float(found[-1])
        except KdumpError as exc:
            self._fast_mode_off(f"restoring the saved armed board failed ({exc.message})")
            self.power_off()
            return False
        self._arm_if_needed()
        return True

    def _fast_mode_off(self, why: str) -> None:
        self.warnings.append(f"fast mode off: {why}; the board boots in full from now on")
        if self.snapshot is not None:
            self.snapshot.unlink(missing_ok=True)
        self.snapshot = None

    def run(self, command: str, timeout: float = 30) -> str:
        """Run a shell command on the board; a non-zero exit is a CycleError, a kernel crash
        an UnexpectedCrash (raised as soon as it shows, not at the timeout). The output is
        what the console showed: kernel messages printed meanwhile are in it (to parse it,
        take them out with :mod:`pytest_kdump.console.kernel_lines`)."""
        self.ensure_shell()
        mark = len(self.seen)
        if self._last_ts is not None:
            self._replay_floor = self._last_ts
        try:
            result = self.commands.run(command, timeout, abort=[detect.CRASH_RE],
                                       confirm=GOING_DOWN)
        except ShellAborted as exc:
            self._state = BoardState.CRASHED
            self._armed = None
            self._went_down = exc.confirmed
            seen = self._wait_record(mark, 10.0)
            what = "; ".join(str(s.record.signature) for s in seen) or exc.seen
            raise UnexpectedCrash(f"the kernel crashed while running {command!r}: {what}",
                                  records=[s.record for s in seen], phase="run",
                                  advice="a crash no test asked for: see the console tail, "
                                         "the dump and its analysis in the test's artifacts",
                                  console_tail=self.capture.tail(),
                                  log_path=self.log_path) from None
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            if self._phase is not None:
                raise  # the phase under way names it
            raise self._command_error(command, timeout, exc) from None
        if result.rc != 0:
            raise CycleError(f"command failed on the board: {result}",
                             console_tail=self.capture.tail(), log_path=self.log_path)
        return result.output

    def _command_error(self, command: str, timeout: float,
                       exc: pexpect.TIMEOUT | pexpect.EOF) -> KdumpError:
        """The error of a board command that timed out or lost the board outside a phase."""
        if isinstance(exc, pexpect.EOF):
            self._state = BoardState.OFF
            return self._error(BoardDied, "run", f"the board went away while running "
                                                 f"{command!r}: {self.board.describe_death()}")
        self._state = BoardState.UNKNOWN
        return self._error(PhaseTimeout, "run", f"the board's command {command!r} did not "
                                                f"finish within {timeout:g} s")

    # -- kdump -----------------------------------------------------------------------------
    def arm(self, arming: Arming | None = None) -> ArmedState:
        """Load the crash kernel with ``arming`` (which becomes :attr:`arming`: each boot is
        armed so from then on), then check it."""
        arming = self.arming = arming or self.arming
        if arming is None:
            raise CycleError("nothing says how to load the crash kernel", phase="armed",
                             advice="give KdumpDriver an 'arm:' section (kernel, initrd, "
                                    "append), or let the board's kdump service load it")
        self.ensure_shell()
        with self.phase("arm", self.timeouts.armed):
            self.run(arming.command(self._transport_args()), self.timeouts.armed)
        self._armed = None
        return self.check_armed()

    def _transport_args(self) -> str:
        """What the transport tells the crash kernel (netcat: ``kdump_upload=HOST:PORT``)."""
        args = getattr(self.transport, "kernel_args", None)
        return args() if args is not None else ""

    def _arm_if_needed(self) -> None:
        """With :attr:`arming`, load the crash kernel unless this boot already has it loaded
        with the same arguments."""
        if self.arming is None:
            return
        args = " ".join(a for a in (self.arming.append, self._transport_args()) if a)
        check = f"cat {ARMED_FILE} 2>/dev/null"
        try:
            loaded = without_kernel_messages(
                self.commands.run(check, self.timeouts.armed).output).strip()
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            raise self._command_error(check, self.timeouts.armed, exc) from None
        if loaded != args:  # a phase only when it loads: the phase list shows each load
            with self.phase("arm", self.timeouts.armed):
                self.run(self.arming.command(self._transport_args()), self.timeouts.armed)

    def check_armed(self) -> ArmedState:
        """Read the reservation and the crash kernel's load state; fail if not armed."""
        self.ensure_shell()
        self._arm_if_needed()
        with self.phase("armed", self.timeouts.armed):
            out = self.commands.run(
                "echo loaded=$(cat /sys/kernel/kexec_crash_loaded) "
                "size=$(cat /sys/kernel/kexec_crash_size) release=$(uname -r); "
                "echo cmdline=$(cat /proc/cmdline); "
                "grep -iE 'crash kernel|system ram' /proc/iomem; "
                "echo printk=$(cat /proc/sys/kernel/printk); " + CONFIG_CHECK
                + self._dump_dir_check() + KALLSYMS_TEXT_CHECK,
                self.timeouts.armed).output
            out = without_kernel_messages(out)
            state = parse_armed(out)
            self._check_config(state)
            if self.saver.status_command:
                status = self.commands.run(self.saver.status_command, self.timeouts.armed)
                state.saver_status = " ".join(
                    without_kernel_messages(status.output).split())[:300]
            if not state.loaded:
                reason = _not_armed_reason(state)
                if state.saver_status:
                    reason += f"; {self.saver.name} says: {state.saver_status}"
                raise CycleError(reason, phase="armed",
                                 advice=self.saver.arm_advice or ADVICE["armed"])
            if (self.saver.status_ready and state.saver_status
                    and not re.search(self.saver.status_ready, state.saver_status)):
                self.warnings.append(f"the crash kernel is loaded but {self.saver.name} is not "
                                     f"ready: {state.saver_status}")
            if state.kallsyms_text == "0":
                raise CycleError(
                    "the crash kernel is loaded, but /proc/kallsyms has no _text (an arm64 "
                    "kernel built without CONFIG_KALLSYMS_ALL): kexec-tools then writes a dump "
                    "header makedumpfile rejects (\"Can't get the address of system_utsname\")",
                    phase="armed", advice=ADVICE["kallsyms"])
            self._armed = self.last_armed = state
            if self.expected_crashkernel:
                want = parse_size(self.expected_crashkernel)
                if want and want != state.reserved_bytes:
                    self.warnings.append(
                        f"crashkernel reservation is {state.reserved_mib:.0f} MiB, "
                        f"expected {self.expected_crashkernel}")
        return state

    def _dump_dir_check(self) -> str:
        """The free space at the transport's dump folder on the board (``ssh``), if any."""
        folder = getattr(self.transport, "folder", None)
        if not isinstance(folder, str):
            return ""
        return (f"echo dumpfree=$(df -Pk {shlex.quote(folder)} 2>/dev/null | "
                f"awk 'NR==2 {{print $4}}'); ")

    def _check_config(self, state: ArmedState) -> None:
        """Fail on a kernel config without what kdump needs; warn on a dump folder with less
        free space than the memory a dump may hold."""
        config = state.kernel_config
        if config:
            missing = [fix for names, fix in CONFIG_NEEDS
                       if not any(config.get(n) == "y" for n in names)]
            if state.arch == "aarch64" and config.get("CONFIG_KALLSYMS_ALL") != "y" \
                    and state.kallsyms_text not in ("1", "supplied"):
                missing.append("CONFIG_KALLSYMS_ALL=y (arm64: kexec-tools needs _text)")
            if config.get("CONFIG_MAGIC_SYSRQ") != "y":  # only the sysrq trigger needs it
                self.warnings.append("the kernel has no CONFIG_MAGIC_SYSRQ: the sysrq trigger "
                                     "cannot crash it")
            if missing:
                raise CycleError(f"the running kernel ({state.kernel_release}) lacks what "
                                 f"kdump needs: {'; '.join(missing)}", phase="armed",
                                 advice="rebuild the kernel with these options (README, "
                                        "'The kernel') and boot it")
        free, need = state.dump_dir_free_bytes, state.mem_available_bytes
        if free is not None and state.ram_bytes and need is not None:
            used = max(0, state.ram_bytes - need)  # what -d 31 keeps at most, uncompressed
            if free < used:
                self.warnings.append(
                    f"{self.transport.folder} has {free >> 20} MiB free and the board uses "  # type: ignore[attr-defined]
                    f"{used >> 20} MiB of RAM: a dump may not fit (compressed, it usually "
                    f"takes a fraction of that)")

    def take_dump(self, trigger: str | Trigger, dest: Path) -> DumpResult:
        """Crash the kernel with ``trigger`` and fetch the dump into ``dest``."""
        trig = get_trigger(trigger)
        armed = self._armed or self.check_armed()
        self._armed = None
        mark = len(self.seen)
        self._expecting = True
        try:
            dump = self._crash(trig, armed, dest)
        finally:
            self._expecting = False
        dump.records = [s.record for s in self.seen[mark:] if s.expected]
        return dump

    def unsupported(self, trigger: Trigger) -> str | None:
        """Why the board cannot fire ``trigger`` (None if it can)."""
        for need in trigger.requires:
            if need == "nmi":
                if not isinstance(self.board, NmiBoard):
                    return ("NMI injection needs QEMU's monitor (inject-nmi); this board has no "
                            "way to receive an NMI from the host")
                if not self._exists(NMI_PANIC_SYSCTL):
                    return (f"the kernel has no {NMI_PANIC_SYSCTL} (only x86 kernels have "
                            "kernel.unknown_nmi_panic): an NMI from the host cannot panic it")
            if need.startswith("path:") and not self._exists(need[5:]):
                return f"{need[5:]} does not exist on the board (kernel feature not built in)"
        return None

    def _exists(self, path: str) -> bool:
        """Whether ``path`` exists on the board (debugfs mounted first)."""
        self.ensure_shell()
        check = (f"mount -t debugfs none /sys/kernel/debug 2>/dev/null; "
                 f"test -e {shlex.quote(path)}")
        try:
            return self.commands.run(check, self.timeouts.armed).rc == 0
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            raise self._command_error(check, self.timeouts.armed, exc) from None

    def put_file(self, local: Path, remote: str) -> None:
        """Copy a file to the board with :attr:`copier` (by default base64 over the console,
        checked with md5sum)."""
        self.ensure_shell()
        self.copier.put(Path(local), remote)

    def _crash(self, trig: Trigger, armed: ArmedState, dest: Path) -> DumpResult:
        patterns = [detect.CRASH_RE, detect.KERNEL_BANNER_RE,
                    re.compile("TRIGGER-RETURNED-(\\d+)")]
        with self.phase("trigger", trig.timeout):
            for remote, local in trig.files:
                self.put_file(local, remote)
            for cmd in trig.setup_commands():
                self.run(cmd, self.timeouts.armed)
            self._before_crash(armed)
            if trig.host_action == "nmi":
                if not isinstance(self.board, NmiBoard):
                    raise CycleError(f"trigger {trig.name} needs an NMI from the host and this "
                                     "board cannot receive one", phase="trigger")
                self.board.inject_nmi()
            else:
                self.spawn.sendline(f"{trig.command}; echo TRIGGER-''RETURNED-$?")
            self._state = BoardState.CRASHING
            deadline = time.monotonic() + trig.timeout
            returned = None
            while True:
                try:
                    idx = self._expect(patterns, max(0.1, deadline - time.monotonic()))
                except pexpect.TIMEOUT:
                    if returned is not None:
                        raise self._error(PhaseTimeout, "trigger", f"trigger {trig} returned "
                                          f"(exit {returned}) and no crash followed within "
                                          f"{trig.timeout:g} s") from None
                    raise
                if idx != 2:
                    break
                returned = self.spawn.match.group(1)
            headline = self.spawn.match.group(0).strip() if idx == 0 else None
        return self.follow_crash(dest, trig.name, armed, headline,
                                 crash_kernel_seen=idx == 1)

    def _before_crash(self, armed: ArmedState) -> None:
        """Last steps before a trigger: let every line of the crash reach the console (a
        log-in may have lowered the console log level: labgrid's ShellDriver runs
        ``dmesg -n 1``), and let the transport note the board's state (the dumps already
        there)."""
        level = armed.console_loglevel
        if level is not None and level < CONSOLE_LOGLEVEL:
            self.run(f"echo {CONSOLE_LOGLEVEL} > /proc/sys/kernel/printk", self.timeouts.armed)
            self.warnings.append(f"console log level was {level} (oops lines hidden): set to "
                                 f"{CONSOLE_LOGLEVEL} for the crash")
        before = getattr(self.transport, "before_crash", None)
        if before is not None:
            before(self.run)

    def follow_crash(self, dest: Path, trigger: str, armed: ArmedState | None,
                     headline: str | None, crash_kernel_seen: bool = False) -> DumpResult:
        """After a crash's first line: wait for the crash kernel and the saved dump, fetch it."""
        self._state = BoardState.CRASHING
        self._armed = None
        self._new_boot()
        take_console = getattr(self.transport, "take_console", None)
        if take_console is not None:  # ended by the fetch, or by the next power-on
            self.spawn.start_recording()
        crash_text = ""
        release = None
        went_down, self._went_down = self._went_down, None
        with self.phase("crash_kernel", self.timeouts.crash_kernel):
            if went_down is not None and went_down.re is detect.PANIC_END_RE:
                raise CycleError("the kernel panicked and stopped: it did not jump to the "
                                 "crash kernel", phase="crash_kernel")
            if went_down is not None and went_down.re is detect.KERNEL_BANNER_RE:
                release = went_down.group(1)  # the command's shell saw the crash kernel start
            elif not crash_kernel_seen:
                idx2 = self._expect([detect.KERNEL_BANNER_RE, detect.PANIC_END_RE],
                                    self.timeouts.crash_kernel)
                crash_text = (headline or "") + self.spawn.before
                if idx2 == 1:
                    raise CycleError("the kernel panicked and stopped: it did not jump to the "
                                     "crash kernel", phase="crash_kernel")
                release = self.spawn.match.group(1)
            else:
                release = self.spawn.match.group(1)
        with self.phase("dump_saved", self.timeouts.dump_saved):
            rec = self.saver.patterns()
            idx3 = self._expect(rec + [detect.KERNEL_BANNER_RE, detect.PANIC_RE],
                                self.timeouts.dump_saved)
            if idx3 >= len(rec):
                what = ("rebooted" if idx3 == len(rec) else
                        f"panicked ({self.spawn.match.group(0).strip()})")
                raise CycleError(f"the crash kernel {what} before reporting the dump saved",
                                 phase="dump_saved")
            if not self.saver.is_success(idx3):
                why = self.spawn.match.groupdict().get("why") or self.spawn.match.group(0)
                failed = CycleError(f"the crash kernel failed to save the dump: {why.strip()}",
                                    phase="dump_saved", advice=self.saver.failure_advice or None)
                failed.board_state = BoardState.REBOOTED  # the saver reboots or powers off
                raise failed
            saving_text = self.spawn.before  # the crash kernel's lines up to the saver's
            saved_in = self.spawn.match.groupdict().get("path")
            if saved_in and hasattr(self.transport, "saved_in"):
                self.transport.saved_in = saved_in.rstrip(".")
            self._state = BoardState.REBOOTED
        if getattr(self.transport, "needs_board", False):
            self.recover()  # the dump is on the board: fetched once it is back
        if take_console is not None:  # serial: the dmesg block is in the crash kernel's text
            take_console(self.spawn.stop_recording())
        with self.phase("fetch", self.timeouts.fetch):
            try:
                fetched = self.transport.fetch(dest, timeout=self.timeouts.fetch)
                info = (check_vmcore(fetched.vmcore, fetched.expected_size)
                        if fetched.vmcore is not None else None)
            except KdumpError as exc:  # the crash kernel's lines may say why (long gone
                found = diagnose(saving_text)  # from the console tail after a reboot)
                if found:
                    exc.advice = "; ".join([*found, exc.advice or ADVICE["fetch"]])
                raise
        return DumpResult(trigger=trigger, armed=armed, headline=headline,
                          crash_text=crash_text.replace("\r", ""), crash_kernel_release=release,
                          vmcore=info, dmesg=fetched.dmesg, phases=list(self.phases),
                          source=fetched.status.get("board_path"),
                          fetch_status=dict(fetched.status))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.power_off()
        close = getattr(self.transport, "close", None)  # netcat: its listener
        if close is not None:
            with contextlib.suppress(Exception):
                close()
        self.spawn.close()
        if self._own_capture:
            self.capture.close()


def _not_armed_reason(state: ArmedState) -> str:
    if "crashkernel=" not in state.cmdline:
        return ("crash kernel not loaded: no crashkernel= on the kernel command line "
                f"({state.cmdline!r})")
    if state.reserved_bytes == 0:
        return ("crash kernel not loaded: crashkernel= is on the command line but no memory "
                "was reserved (too large for this RAM, or a syntax error)")
    return (f"crash kernel not loaded although {state.reserved_mib:.0f} MiB are reserved: "
            "'kexec -p' failed or was not run (see the console)")

"""The test-facing API: crash the board, get the dump and its analysis, keep the artifacts.

Works without pytest: ``KdumpSession.from_driver(ready_driver(target), dir, crash_tool)`` then
``session.for_test(folder).trigger_crash("sysrq")`` (or :func:`pytest_kdump.open_session`).
"""

from __future__ import annotations

import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_kdump import analysis as analysis_mod
from pytest_kdump import symbols
from pytest_kdump.analysis import Analysis
from pytest_kdump.analysis.crash.process import CrashProcess
from pytest_kdump.analysis.crash.tool import CrashTool, crash_for_dump, known_problem
from pytest_kdump.console.kernel_lines import without_kernel_messages
from pytest_kdump.engine.results import ArmedState, BoardState, DumpResult, SeenCrash
from pytest_kdump.errors import AnalysisError, CrashMismatch, KdumpError, Unsupported
from pytest_kdump.report.record import build_record, write_record
from pytest_kdump.symbols import clean_function
from pytest_kdump.triggers import Trigger, get_trigger

if TYPE_CHECKING:  # the engine imports pexpect: not needed to import the test API
    from pytest_kdump.engine.cycle import CycleEngine


@dataclass
class Crash:
    """A crash and what came of it: the fetched dump and its analysis.

    ``process`` is the crash utility kept open on the dump (started on first use with the
    drgn backend) for any further question: ``crash.run("kmem -i")`` or typed
    ``crash.process.files(1)``. It is closed when the test ends.
    """

    dump: DumpResult
    analysis: Analysis
    artifacts: Path
    tool: CrashTool | None = None
    vmlinux: Path | None = None
    _process: CrashProcess | None = None

    @property
    def process(self) -> CrashProcess:
        if self._process is None or not self._process.alive:
            if self.dump is not None and self.dump.vmcore is None:
                raise AnalysisError("this crash has no vmcore: its transport fetched the "
                                    "kernel log only (serial), so crash cannot open it",
                                    phase="analysis",
                                    advice="assert on crash.analysis (read from the log), or "
                                           "give the board a transport that fetches the vmcore "
                                           "(disk-image, ssh, netcat)")
            if self.tool is None or self.vmlinux is None:
                raise AnalysisError("no crash tool or vmlinux for this dump", phase="analysis",
                                    advice="configure crash (setup-crash) and the vmlinux")
            # the crash for the dump's architecture (after a drgn analysis, none chose it yet)
            self.tool = crash_for_dump(self.tool, self.vmlinux, self.vmcore)
            self._process = CrashProcess(self.tool, self.vmlinux, self.vmcore,
                                         out_dir=self.artifacts)
        return self._process

    @property
    def started_process(self) -> CrashProcess | None:
        """The crash process started on this dump, open or closed (None: never started)."""
        return self._process

    @property
    def session(self) -> CrashProcess:
        """Deprecated name of :attr:`process` (until 0.3)."""
        warnings.warn("Crash.session is now Crash.process", DeprecationWarning, stacklevel=2)
        return self.process

    def run(self, command: str, timeout: float | None = None, *,
            allow_shell: bool | None = None) -> str:
        """Raw output of one crash command on this dump (same crash process each time).
        Commands that would run a host shell (``log | tail``, ``!cmd``, ``> file``) are
        refused unless ``allow_shell``: filter the output in Python instead."""
        return self.process.run(command, timeout, allow_shell=allow_shell)

    def close(self) -> None:
        if self._process is not None:
            self._process.close()

    @property
    def vmcore(self) -> Path | None:
        """The vmcore; None when the transport fetched the kernel log only (``serial``)."""
        return self.dump.vmcore.path if self.dump.vmcore else None

    @property
    def panic_message(self) -> str:
        return self.analysis.panic_message

    @property
    def functions(self) -> list[str]:
        """Function names of the crashing task's backtrace, innermost first, without the
        compiler's suffixes (``.cold``, ``.isra.0``...); frames in ``analysis.backtrace``."""
        return [clean_function(f) for f in self.analysis.functions]

    def __str__(self) -> str:
        got = (f"vmcore {self.dump.vmcore.size} bytes" if self.dump.vmcore
               else "kernel log only")
        return f"{self.dump.trigger} crash, {got}\n{self.analysis}"


def ready_driver(target: Any) -> Any:
    """The target's KdumpDriver, activated, once the guest image its ``image`` key names is
    built (if it is missing): builds happen here, before labgrid activates anything, never in
    a driver's activation."""
    from pytest_kdump.build.image import build_image, current_image

    driver = target.get_driver("KdumpDriver", activate=False)
    if driver.image and current_image(driver.image) is None:
        build_image(driver.image)
    target.activate(driver)
    return driver


class KdumpSession:
    """One board's engine, crash tool and debug vmlinux for a test session."""

    def __init__(self, engine: CycleEngine, crash_tool: CrashTool, vmlinux: Path | None,
                 artifacts_root: Path, target: Any = None, backend: str = "crash") -> None:
        self.backend = backend
        self.open_crashes: list[Crash] = []  # crash processes to close at the latest in close()
        self.analysis_timeout = 300.0  # crash's start-up and each command
        self.engine = engine
        self.target = target
        self.crash_tool = crash_tool
        self.vmlinux = vmlinux
        self.artifacts_root = artifacts_root
        artifacts_root.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_driver(cls, driver: Any, artifacts_root: Path, crash_tool: CrashTool,
                    echo: bool = False, backend: str = "crash",
                    log_folder: str = "session") -> KdumpSession:
        """From a labgrid KdumpDriver, activated (:func:`ready_driver`); the session's console
        logs go to ``artifacts_root/log_folder``."""
        engine = driver.engine(artifacts_root / log_folder, echo=echo)
        return cls(engine, crash_tool, driver.vmlinux_path(), artifacts_root, target=driver.target,
                   backend=backend)

    def module_trigger(self, mode: str) -> Trigger:
        """A trigger loading pytest-kdump's crash module (built for the board's kernel and
        architecture) with ``mode`` (:data:`pytest_kdump.triggers.module.MODES`: panic, bug,
        null, warn, divide, timer, softlockup, hung, undef, badaddr); a mode the architecture
        cannot fire is refused before anything is built."""
        from pytest_kdump.build import crashmod
        from pytest_kdump.triggers import module

        arch = without_kernel_messages(self.engine.run("uname -m")).strip()
        module.check_mode(mode, arch)
        ko = crashmod.build_module(self.kernel_release(), arch=arch)
        return module.module_trigger(mode, ko, arch)

    def kernel_release(self) -> str:
        """The running kernel's release (booting the board if needed)."""
        armed = self.engine.last_armed
        if armed is not None and armed.kernel_release:
            return armed.kernel_release
        return without_kernel_messages(self.engine.run("uname -r")).strip()

    def for_test(self, folder: Path, name: str = "") -> Kdump:
        return Kdump(self, folder, name)

    def reset_strategy(self) -> None:
        """After a crash nobody expected, a labgrid strategy's idea of the board is stale:
        make its next transition start over (KdumpStrategy: reset; a labgrid strategy with an
        ``off`` status: forced off; see :func:`pytest_kdump.drivers.strategy.restart_strategy`)."""
        if self.target is None:
            return
        from pytest_kdump.drivers.strategy import restart_strategy  # labgrid only with a target

        restart_strategy(self.target)

    def close(self) -> None:
        """Close the crash processes still open (scripts that never call ``finish``) and the
        board's engine."""
        for crash in self.open_crashes:
            crash.close()
        self.open_crashes.clear()
        self.engine.close()


class Kdump:
    """What a test holds: crash the board, look at the dump, run commands on the board.

    Every artifact of the test goes to ``artifacts``: ``console.log``, ``vmcore``,
    ``vmcore-dmesg.txt``, ``crash-*.txt`` and, when the test ends, ``kdump.json``.
    """

    def __init__(self, session: KdumpSession, artifacts: Path, name: str = "") -> None:
        self.session = session
        self.engine = session.engine
        self.artifacts = artifacts
        self.name = name
        shutil.rmtree(artifacts, ignore_errors=True)  # a fresh folder per run, like tmp_path
        artifacts.mkdir(parents=True)
        self.engine.phases = []
        self.engine.warnings = []  # each test's kdump.json holds its own warnings only
        self.console_log = artifacts / "console.log"
        self.engine.attach_log(self.console_log)
        self.crashes: list[Crash] = []
        self.unexpected: list[SeenCrash] = []
        self.mark = len(self.engine.seen)  # crashes seen before this test are not its own
        self.error: KdumpError | None = None
        self.last_armed: ArmedState | None = None
        self.last_dump: DumpResult | None = None
        self.backend: str | None = None  # this test's analysis backend (None: the session's)
        self._dumps = 0

    def trigger(self, spec: str | Trigger) -> Trigger:
        """Resolve a trigger: a name, ``"cmd:..."``, ``"lkdtm:TYPE"``, ``"module:<mode>"``."""
        if isinstance(spec, str) and spec.startswith("module:"):
            return self._guard(self.session.module_trigger, spec[7:])
        return get_trigger(spec)

    def supports(self, spec: str | Trigger) -> str | None:
        """None if the board can fire this trigger, else the precise reason it cannot (an
        architecture or kernel limit). Anything else that stops the trigger from being
        prepared (no compiler, a failed module build, an unknown name) raises: a crash test
        may skip for the first, never for the second."""
        try:
            trig = self.trigger(spec)
        except Unsupported as exc:
            return exc.message
        return self._guard(self.engine.unsupported, trig)

    def armed(self) -> ArmedState:
        """Check that kdump is armed (reservation made, crash kernel loaded)."""
        self.last_armed = self._guard(self.engine.check_armed)
        return self.last_armed

    def run(self, command: str, timeout: float = 30) -> str:
        """Run a shell command on the board; its output (non-zero exit raises), as the
        console showed it: kernel messages printed meanwhile may be in it
        (:func:`~pytest_kdump.console.kernel_lines.without_kernel_messages` takes them out)."""
        return self._guard(self.engine.run, command, timeout)

    def trigger_crash(self, trigger: str | Trigger = "sysrq", *, expect: str | None = None,
                      commands: list[str] | None = None, backend: str | None = None) -> Crash:
        """Crash the kernel, follow the crash kernel, fetch the vmcore and analyse it.

        ``trigger``: ``"sysrq"``, ``"init-exit"``, ``"cmd:<shell command>"`` or a
        :class:`Trigger`. ``expect``: a regular expression the crash's console signature must
        match (e.g. ``"in sysrq_handle_crash$"``); by default the trigger's culprit function
        must be the signature's guilty frame. ``commands``: crash commands to run besides
        ``sys, bt, ps, log, mod``; raw outputs in ``crash.analysis.outputs``. ``backend``:
        ``"crash"`` or ``"drgn"`` (default: the session's, ``--kdump-backend``). The board
        comes back (phase ``recover``) when it is next used. A second crash in the same test
        keeps its dump and outputs in ``crash-2/`` of the test's folder, and so on.
        """
        trig = self.trigger(trigger)
        self.last_dump = dump = self._guard(self.engine.take_dump, trig, self._next_folder())
        self._fix_frames(dump)
        crash = self._analyse(dump, commands, backend)
        self._check_expected(trig, dump, expect)
        return crash

    def _next_folder(self) -> Path:
        """The test's folder for its first dump, ``crash-N/`` in it for the N-th."""
        self._dumps += 1
        if self._dumps == 1:
            return self.artifacts
        folder = self.artifacts / f"crash-{self._dumps}"
        folder.mkdir()
        return folder

    def _analyse(self, dump: DumpResult, commands: list[str] | None = None,
                 backend: str | None = None) -> Crash:
        if dump.vmcore is None:
            return self._analyse_log(dump, commands)
        vmlinux = self.session.vmlinux
        if vmlinux is None:
            self.error = AnalysisError("no debug vmlinux configured", phase="analysis",
                                       advice="set KdumpDriver's vmlinux (or image) in the "
                                              "env file")
            raise self.error
        backend = backend or self.backend or self.session.backend
        folder = dump.vmcore.path.parent
        pending = self._guard(analysis_mod.start, self.session.crash_tool, vmlinux,
                              dump.vmcore.path, commands, folder,
                              self.session.analysis_timeout, backend)
        result = self._guard(pending.result)
        # the crash for the dump's architecture (an arm64 dump: the cross-built one)
        tool = pending.process.crash if pending.process else self.session.crash_tool
        if backend == "crash":
            problem = known_problem(tool.version, result.kernel_release)
            if problem:
                warnings.warn(f"crash {tool.version}: {problem}", stacklevel=3)
        return self._keep(Crash(dump=dump, analysis=result, artifacts=folder,
                                tool=tool, vmlinux=vmlinux, _process=pending.process))

    def _keep(self, crash: Crash) -> Crash:
        """The test's crash, closed when the test (or the session) ends."""
        self.crashes.append(crash)
        self.session.open_crashes.append(crash)
        return crash

    def _analyse_log(self, dump: DumpResult, commands: list[str] | None) -> Crash:
        """A dump that is the kernel log only (``serial``): the analysis is read from it."""
        from pytest_kdump.analysis.dmesg import analyze_dmesg

        if dump.dmesg is None:
            self.error = AnalysisError("the transport fetched neither a vmcore nor a kernel "
                                       "log", phase="analysis")
            raise self.error
        if commands:
            self.error = AnalysisError(
                f"crash commands {commands} need a vmcore, and this board's transport fetches "
                "the kernel log only (serial)", phase="analysis",
                advice="drop the commands, or use a transport that fetches the vmcore")
            raise self.error
        note = None
        sent, total = dump.dmesg.stat().st_size, int(dump.fetch_status.get("total") or 0)
        if total > sent:
            note = (f"the crash kernel sent the last {sent} of the log's {total} bytes (its "
                    "size limit)")
        result = self._guard(analyze_dmesg, dump.dmesg, note, self.session.vmlinux)
        return self._keep(Crash(dump=dump, analysis=result, artifacts=dump.dmesg.parent,
                                tool=self.session.crash_tool, vmlinux=self.session.vmlinux))

    def _fix_frames(self, dump: DumpResult) -> None:
        """Frames past noreturn calls named after their real caller (see
        :func:`~pytest_kdump.symbols.fix_noreturn_frames`), with the debug vmlinux."""
        needed = [r for r in dump.records if any(f.offset == 0 for f in r.frames[1:])]
        if not needed or self.session.vmlinux is None:
            return
        table = symbols.function_table(self.session.vmlinux)
        if table is None:  # an unreadable vmlinux: the console's names stay
            return
        for record in needed:
            symbols.fix_noreturn_frames(record, table)

    def _check_expected(self, trig: Trigger, dump: DumpResult, expect: str | None) -> None:
        record = dump.record
        actual = record.signature if record else None
        if expect is not None:
            ok = actual is not None and re.search(expect, actual) is not None
            wanted = f"a signature matching {expect!r}"
        elif trig.culprit and record is not None:
            ok = actual is not None and actual.endswith(f" in {trig.culprit}")
            wanted = f"a crash in {trig.culprit}"
        else:
            return
        if not ok:
            excerpt = "\n".join((record.raw if record else dump.crash_text).splitlines()[:25])
            self.error = CrashMismatch(
                f"trigger {trig.name}: expected {wanted}, got {actual!r}",
                phase="trigger", advice="the kernel crashed in another way than the test "
                "expects: read the crash report below and the analysis in the artifacts",
                console_tail=excerpt, log_path=self.console_log)
            raise self.error

    def collect_unexpected(self, seen: list[SeenCrash]) -> Crash | None:
        """After a crash no test asked for: follow the crash kernel, fetch and analyse the
        dump into this test's folder. None if kdump was not armed (the board is then power
        cycled at its next use) or if the kernel survived it (a non-fatal oops or WARNING
        while a command ran to its end: there is no dump to fetch)."""
        self.unexpected += seen
        armed = self.engine.last_armed
        if armed is None or not armed.loaded:
            self.engine.forget_state()
            return None
        if (self.engine.state is BoardState.SHELL
                and not any(s.record.fatal or s.record.crash_kernel for s in seen)):
            return None  # an oops the kernel survived (its shell answered since): no dump
        record = seen[0].record
        dump = self._guard(self.engine.follow_crash, self._next_folder(), "unexpected", armed,
                           record.headline)
        dump.records = [s.record for s in seen]
        self._fix_frames(dump)
        self.last_dump = dump
        return self._analyse(dump)

    def _guard(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except KdumpError as exc:
            self.error = exc
            raise

    def finish(self, outcome: str, seconds: float) -> dict:
        """Close the crash processes, write ``kdump.json`` and detach the test's console log;
        returns the record."""
        self.engine.detach_log(self.console_log)
        try:
            for crash in self.crashes:
                try:
                    crash.close()
                except Exception as exc:  # one crash process failing to close: close the rest
                    self.engine.warnings.append(f"closing crash on {crash.vmcore}: {exc!r}")
        finally:
            mine = {id(c) for c in self.crashes}
            self.session.open_crashes[:] = [c for c in self.session.open_crashes
                                            if id(c) not in mine]
            record = build_record(self, outcome, seconds)
            write_record(self.artifacts, record)
        return record

"""Crash analysis: run the ``crash`` utility on vmlinux + vmcore and parse what it says.

Commands are fed on crash's standard input (FACTS: ``-i FILE`` misplaces piped output), each
followed by an ``echo`` of a marker so the outputs can be split per command. :func:`start`
returns at once so the caller can do other work (the board reboots) while crash runs.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .crashtool import CrashTool, known_problem
from .errors import AnalysisError, VmcoreError
from .vmcore import check_vmcore

DEFAULT_COMMANDS = ("sys", "bt", "ps", "log", "mod")
_MARK = "@@PYTEST-KDUMP-{}@@"


@dataclass(frozen=True)
class Frame:
    """One backtrace frame, as crash's ``bt`` prints it."""

    level: int
    function: str
    address: str | None = None
    module: str | None = None
    exception: bool = False

    def __str__(self) -> str:
        mod = f" [{self.module}]" if self.module else ""
        return f"#{self.level} {self.function}{mod}"


@dataclass(frozen=True)
class Task:
    """A task as ``ps`` or a ``bt`` header shows it."""

    pid: int
    command: str
    cpu: int | None = None
    task: str | None = None
    state: str | None = None
    ppid: int | None = None
    active: bool = False


@dataclass
class Analysis:
    """What crash says about a dump: the panic, the crashing task, its backtrace.

    ``outputs`` holds each command's raw text; ``flags`` crash's remarks about the dump
    (e.g. ``PARTIAL DUMP`` for a filtered makedumpfile dump).
    """

    kernel_release: str
    panic_message: str
    crashing_task: Task | None
    backtrace: list[Frame]
    tasks: list[Task]
    crash_version: str
    seconds: float
    flags: list[str] = field(default_factory=list)
    sys: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def functions(self) -> list[str]:
        return [f.function for f in self.backtrace]

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("outputs")
        d.pop("tasks")
        d["task_count"] = len(self.tasks)
        d["backtrace"] = [str(f) for f in self.backtrace]
        return d

    def __str__(self) -> str:
        t = self.crashing_task
        who = f"PID {t.pid} {t.command!r} on CPU {t.cpu}" if t else "unknown task"
        frames = "\n".join(f"    {f}" for f in self.backtrace)
        return (f"kernel {self.kernel_release}: {self.panic_message!r}\n"
                f"crashing task: {who}\nbacktrace:\n{frames}")


# -- parsers -------------------------------------------------------------------------------
def parse_sys(text: str) -> dict[str, str]:
    """``sys`` output → {"KERNEL": ..., "PANIC": ..., ...} (quotes stripped)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^\s*([A-Z][A-Z ]*?):\s(.*)$", line)
        if m:
            fields[m.group(1).strip()] = m.group(2).strip().strip('"')
    return fields


_BT_HEADER = re.compile(r"PID:\s*(\d+)\s+TASK:\s*([0-9a-f]+)\s+CPU:\s*(\d+)\s+COMMAND:\s*\"(.*)\"")
_BT_FRAME = re.compile(
    r"^\s*#(\d+)\s+\[([0-9a-f]+)\]\s+(\S+?)(?:\s+\[(\S+)\])?\s+at\s+([0-9a-f]+)(?:\s+\[(\S+)\])?")
_BT_EXC = re.compile(r"\[exception RIP: ([^+\]\s]+)(?:\+\S+)?(?:\s+\[([^\]\s]+)\])?")


def parse_bt(text: str) -> tuple[Task | None, list[Frame]]:
    """``bt`` output → (task of the header, frames). Exception RIPs become frames too."""
    task = None
    frames: list[Frame] = []
    for line in text.splitlines():
        m = _BT_HEADER.search(line)
        if m and task is None:
            task = Task(pid=int(m.group(1)), task=m.group(2), cpu=int(m.group(3)),
                        command=m.group(4))
            continue
        m = _BT_FRAME.match(line)
        if m:
            frames.append(Frame(level=int(m.group(1)), function=m.group(3),
                                address=m.group(5), module=m.group(4) or m.group(6)))
            continue
        m = _BT_EXC.search(line)
        if m and m.group(1) != "unknown":  # "unknown or invalid address"
            level = frames[-1].level if frames else 0
            frames.append(Frame(level=level, function=m.group(1), module=m.group(2),
                                exception=True))
    return task, frames


_PS_LINE = re.compile(
    r"^(>?)\s*(\d+)\s+(\d+)\s+(\d+)\s+([0-9a-f]+)\s+(\S+)\s+\S+\s+\d+\s+\d+\s+(.*)$")


def parse_ps(text: str) -> list[Task]:
    """``ps`` output → tasks (``active`` marks crash's ``>`` column)."""
    tasks = []
    for line in text.splitlines():
        m = _PS_LINE.match(line)
        if m:
            tasks.append(Task(pid=int(m.group(2)), ppid=int(m.group(3)), cpu=int(m.group(4)),
                              task=m.group(5), state=m.group(6), command=m.group(7).strip(),
                              active=m.group(1) == ">"))
    return tasks


def split_outputs(stdout: str, commands: list[str]) -> dict[str, str]:
    """Cut crash's stdout at the echo markers that follow each command."""
    outputs: dict[str, str] = {}
    rest = stdout
    for i, cmd in enumerate(commands):
        mark = _MARK.format(i)
        head, sep, rest = rest.partition(mark + "\n")
        outputs[cmd] = head
        if not sep:
            break
    return outputs


# -- running crash -------------------------------------------------------------------------
MISMATCH = re.compile(r"kernel version inconsistency between vmlinux and dumpfile|"
                      r"vmlinux and \S+ do not match")
FATAL = [
    (re.compile(r"vmlinux and \S+ do not match|kernel version inconsistency|"
                r"cannot determine base kernel version|"
                r"WARNING: kernel relocated.*?\n.*?cannot"),
     "the vmlinux does not match the kernel that wrote the vmcore: use the debug vmlinux of "
     "exactly that kernel build (linux-image-<release>-dbg)"),
    (re.compile(r"no debugging data available|no .debug_info|cannot find debuginfo"),
     "the vmlinux has no debugging data: use the -dbg package's vmlinux, not the stripped "
     "kernel image"),
    (re.compile(r"not a supported file format|not a vmcore|invalid kdump header|"
                r"read error|seek error|truncated|cannot read"),
     "the vmcore is damaged or truncated: fetch it again, check that the crash kernel "
     "reported the dump complete"),
]


class CrashRun:
    """A running ``crash`` batch; :meth:`result` waits for it and parses the outputs."""

    def __init__(self, crash: CrashTool, vmlinux: Path, vmcore: Path,
                 commands: list[str], out_dir: Path | None, timeout: float) -> None:
        for path, what in ((vmlinux, "vmlinux"), (vmcore, "vmcore")):
            if not Path(path).is_file():
                raise AnalysisError(f"{what} not found: {path}", phase="analysis",
                                    advice=f"give the path of the {what}")
        try:
            check_vmcore(Path(vmcore))
        except VmcoreError as exc:
            exc.phase = "analysis"
            raise
        self.crash, self.vmlinux, self.vmcore = crash, Path(vmlinux), Path(vmcore)
        self.commands = list(commands)
        self.out_dir = out_dir
        self.timeout = timeout
        script = "".join(f"{c}\necho {_MARK.format(i)}\n" for i, c in enumerate(self.commands))
        self.started = time.monotonic()
        # crash's output goes through a pipe (not a file): piped commands stay in order
        self.proc = subprocess.Popen(
            [*crash.argv, "-s", str(vmlinux), str(vmcore)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
        self.script = script + "exit\n"

    def result(self, kernel_release_hint: str | None = None) -> Analysis:
        try:
            stdout, stderr = self.proc.communicate(self.script, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            stdout, stderr = self.proc.communicate()
            self._save(stdout, stderr)
            raise AnalysisError(f"crash did not finish within {self.timeout:g} s",
                                phase="analysis",
                                advice="a crash too old for this kernel can loop: check its "
                                       "version; raise the analysis timeout for huge dumps"
                                ) from None
        seconds = round(time.monotonic() - self.started, 2)
        self._save(stdout, stderr)
        outputs = split_outputs(stdout, self.commands)
        everything = stdout + stderr
        if MISMATCH.search(everything):
            raise AnalysisError(f"crash: {MISMATCH.search(everything).group(0)} "
                                f"({self.vmlinux} vs {self.vmcore})", phase="analysis",
                                advice=FATAL[0][1])
        if self.proc.returncode != 0 or "sys" in self.commands and not outputs.get("sys"):
            for pattern, advice in FATAL:
                if pattern.search(everything):
                    raise AnalysisError(f"crash failed on {self.vmcore.name}: "
                                        f"{_first_error(everything)}", phase="analysis",
                                        advice=advice)
            raise AnalysisError(f"crash exited with {self.proc.returncode}: "
                                f"{_first_error(everything)}", phase="analysis",
                                advice="see crash's output in the test's artifacts")
        return self._parse(outputs, stderr, seconds)

    def _parse(self, outputs: dict[str, str], stderr: str, seconds: float) -> Analysis:
        sysf = parse_sys(outputs.get("sys", ""))
        task, frames = parse_bt(outputs.get("bt", ""))
        tasks = parse_ps(outputs.get("ps", ""))
        flags = re.findall(r"\[([A-Z][A-Z ]+)\]", sysf.get("DUMPFILE", ""))
        release = sysf.get("RELEASE", "")
        warnings = [w.strip() for w in re.findall(r"^WARNING: .*$", stderr, re.M)]
        problem = known_problem(self.crash.version, release) if release else None
        if problem:
            warnings.append(problem)
        return Analysis(kernel_release=release, panic_message=_panic_message(sysf.get("PANIC", "")),
                        crashing_task=task, backtrace=frames, tasks=tasks,
                        crash_version=self.crash.version, seconds=seconds, flags=flags,
                        sys=sysf, warnings=warnings, outputs=outputs)

    def _save(self, stdout: str, stderr: str) -> None:
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "crash-commands.txt").write_text(self.script)
        (self.out_dir / "crash-output.txt").write_text(stdout)
        if stderr:
            (self.out_dir / "crash-stderr.txt").write_text(stderr)
        for i, (cmd, text) in enumerate(split_outputs(stdout, self.commands).items()):
            name = re.sub(r"[^A-Za-z0-9]+", "_", cmd).strip("_")
            (self.out_dir / f"crash-{i:02d}-{name}.txt").write_text(text)


def _panic_message(panic: str) -> str:
    return re.sub(r"^Kernel panic - not syncing:\s*", "", panic).strip()


def _first_error(text: str) -> str:
    for line in text.splitlines():
        if re.search(r"crash: |error|ERROR|WARNING|cannot|do not match", line):
            return line.strip()
    return text.strip().splitlines()[-1] if text.strip() else "(no output)"


def start(crash: CrashTool, vmlinux: Path, vmcore: Path, commands: list[str] | None = None,
          out_dir: Path | None = None, timeout: float = 300) -> CrashRun:
    """Start crash in the background; call ``.result()`` to wait and parse."""
    return CrashRun(crash, vmlinux, vmcore, list(commands or DEFAULT_COMMANDS), out_dir, timeout)


def analyze(crash: CrashTool, vmlinux: Path, vmcore: Path, commands: list[str] | None = None,
            out_dir: Path | None = None, timeout: float = 300) -> Analysis:
    """Run crash on the dump and return the parsed analysis."""
    return start(crash, vmlinux, vmcore, commands, out_dir, timeout).result()

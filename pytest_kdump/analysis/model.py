"""The result model every analysis backend (crash, drgn) fills: frames, tasks, modules, and
the :class:`Analysis` of one dump. Parsers of single crash commands have richer types of their
own in :mod:`pytest_kdump.analysis.crash.parse`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Frame:
    """One backtrace frame, innermost first.

    ``exception`` marks crash's ``[exception RIP: func+off]`` frame (where the CPU faulted);
    its registers are in ``registers``. ``address`` is the frame's code address (hex, no
    ``0x``); ``offset`` the ``+N`` part when the backend gives one; ``source`` is
    ``file:line`` when the backend knows it (drgn; crash with ``bt -l``).

    The backends differ in details: crash gives an exception frame the level of the frame
    before it and prints registers at their own width (``CS: 0010``); drgn numbers frames in
    sequence, prints 16 hex digits and its ``stack`` is the frame's stack pointer where crash
    shows the slot of the return address (8 bytes lower on x86_64).
    """

    level: int
    function: str
    address: str | None = None
    module: str | None = None
    exception: bool = False
    offset: int | None = None
    stack: str | None = None
    source: str | None = None
    registers: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __str__(self) -> str:
        mod = f" [{self.module}]" if self.module else ""
        exc = " (exception)" if self.exception else ""
        return f"#{self.level} {self.function}{mod}{exc}"


@dataclass(frozen=True)
class Task:
    """A task as ``ps`` (or a ``bt`` header, or drgn's task list) shows it.

    ``state`` is crash's two-letter state (RU, IN, UN, ID, ZO, ST, TR, DE, WA, PA, NE);
    ``active`` marks the task that was running on its CPU at the crash (crash's ``>``).
    ``vsz``/``rss`` are KiB; kernel threads have a ``[bracketed]`` command in ``ps``, kept
    without brackets here with ``kernel_thread`` set.
    """

    pid: int
    command: str
    cpu: int | None = None
    task: str | None = None
    state: str | None = None
    ppid: int | None = None
    active: bool = False
    mem_percent: float | None = None
    vsz: int | None = None
    rss: int | None = None
    kernel_thread: bool = False


@dataclass(frozen=True)
class Module:
    """A loaded kernel module (``mod``). ``object_file`` is None when crash has not loaded the
    module's debuginfo (``(not loaded)``)."""

    name: str
    size: int
    address: str | None = None
    base: str | None = None
    object_file: str | None = None
    debuginfo: str | None = None


@dataclass
class Analysis:
    """What a backend says about one dump: the panic, the crashing task and its backtrace, the
    task list, the modules and the kernel log.

    ``outputs`` holds each command's raw text (crash backend) or each query's text (drgn);
    ``flags`` the backend's remarks about the dump: crash's ``TAINTED`` and ``PARTIAL DUMP``
    (a filtered makedumpfile dump); drgn gives ``TAINTED`` only.
    """

    kernel_release: str
    panic_message: str
    crashing_task: Task | None
    backtrace: list[Frame]
    tasks: list[Task]
    tool_version: str
    seconds: float
    backend: str = "crash"
    modules: list[Module] = field(default_factory=list)
    log: str = ""
    flags: list[str] = field(default_factory=list)
    sys: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def functions(self) -> list[str]:
        """Function names of the crashing task's backtrace, innermost first."""
        return [f.function for f in self.backtrace]

    def task(self, key: int | str) -> Task | None:
        """The task with this PID (int) or command (str; the first one), or None."""
        for t in self.tasks:
            if (t.pid == key) if isinstance(key, int) else (t.command == key):
                return t
        return None

    def summary(self) -> dict:
        """A JSON-able digest: no raw outputs, no task list, no log."""
        d = asdict(self)
        for key in ("outputs", "tasks", "log"):
            d.pop(key)
        d["task_count"] = len(self.tasks)
        d["backtrace"] = [str(f) for f in self.backtrace]
        d["modules"] = [m.name for m in self.modules]
        return d

    def __str__(self) -> str:
        t = self.crashing_task
        who = f"PID {t.pid} {t.command!r} on CPU {t.cpu}" if t else "unknown task"
        frames = "\n".join(f"    {f}" for f in self.backtrace)
        return (f"kernel {self.kernel_release} ({self.backend}): {self.panic_message!r}\n"
                f"crashing task: {who}\nbacktrace:\n{frames}")

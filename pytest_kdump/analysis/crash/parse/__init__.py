"""Parsers of the outputs of the ``crash`` utility's commands, one pure function per command.

Each ``parse_*`` function takes the text crash printed and returns typed, frozen dataclasses
(or the shared :class:`~.model.Frame`, :class:`~.model.Task` and :class:`~.model.Module`).
They do no I/O, and empty, truncated or foreign text gives empty results rather than an
exception. Addresses are kept as crash prints them: lower-case hex without ``0x``.

:func:`command_error` tells crash's error messages (``bt: invalid task or pid value: 1``,
``symbol not found: foo``...) from normal outputs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from pytest_kdump.analysis.model import Frame, Module, Task

__all__ = [
    "Backtrace", "Files", "Frame", "Instruction", "LogLine", "MemInfo", "MemRow", "MemoryRow",
    "Module", "Mount", "NetDevice", "OpenFile", "PrintResult", "SysInfo", "Task", "TaintInfo",
    "TaskTime", "c_int", "c_string", "command_error", "log_text", "parse_bt", "parse_bt_one",
    "parse_dis", "parse_files", "parse_files_all", "parse_kmem_i", "parse_log", "parse_mod",
    "parse_mount", "parse_net", "parse_p", "parse_ps", "parse_ps_m", "parse_rd",
    "parse_struct", "parse_sys", "parse_sys_taint", "resolve_modules",
]

_HEX = re.compile(r"[0-9a-fA-F]+")
# The task header of bt, files, ps -m...: PID: 99  TASK: ffff...  CPU: 0  COMMAND: "sh"
_TASK_HEADER = re.compile(
    r'PID:\s*(\d+)\s+TASK:\s*([0-9a-f]+)\s+CPU:\s*(\S+)\s+COMMAND:\s*"(.*)"')


def _int(text: str | None) -> int | None:
    """``text`` as a decimal (or ``0x`` hex) int, or None."""
    if text is None:
        return None
    try:
        return int(text, 16) if text.lower().startswith(("0x", "-0x")) else int(text)
    except ValueError:
        return None


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _header_task(line: str) -> Task | None:
    """The :class:`Task` of a ``PID: .. TASK: .. CPU: .. COMMAND: ".."`` line, or None."""
    m = _TASK_HEADER.search(line)
    if not m:
        return None
    pid, task, cpu, command = m.groups()
    return Task(pid=int(pid), command=command, cpu=_int(cpu), task=task)


# --- sys ------------------------------------------------------------------------------------

_FIELD = re.compile(r"^\s*([A-Z][A-Z0-9_ ]*?):(?:\s+(.*?))?\s*$")
_FLAG = re.compile(r"\s+\[([^\]]+)\]$")
_PANIC_PREFIX = "Kernel panic - not syncing:"
_CHECK_LOG = "(check log for details)"


@dataclass(frozen=True)
class SysInfo:
    """``sys``: the dump's kernel and machine.

    ``fields`` maps every ``NAME: value`` line to its value as printed (flags included);
    ``kernel``/``dumpfile`` are the paths without their ``[FLAG]`` suffixes, which are in
    ``flags`` (``TAINTED``, ``PARTIAL DUMP``...). ``panic`` is crash's PANIC value as printed,
    ``panic_message`` the message alone (see :func:`panic_message`). ``warnings`` holds
    crash's ``WARNING:`` lines.
    """

    fields: dict[str, str] = field(default_factory=dict)
    kernel: str = ""
    dumpfile: str = ""
    cpus: int | None = None
    date: str = ""
    uptime: str = ""
    load_average: str = ""
    tasks: int | None = None
    nodename: str = ""
    release: str = ""
    version: str = ""
    machine: str = ""
    memory: str = ""
    panic: str = ""
    panic_message: str = ""
    flags: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def arch(self) -> str:
        """The machine type (``x86_64``, ``arm64``), without crash's clock speed."""
        return self.machine.split()[0] if self.machine else ""

    def __str__(self) -> str:
        flags = f" [{', '.join(self.flags)}]" if self.flags else ""
        return f"{self.release or '?'} {self.arch}{flags}: {self.panic_message!r}"


def panic_message(panic: str) -> str:
    """The message of crash's PANIC value: quotes, ``Kernel panic - not syncing:`` and crash's
    `` (check log for details)`` removed; an oops line such as ``Oops: 0002 [#1] SMP`` is
    kept whole."""
    text = panic.strip()
    if text.endswith(_CHECK_LOG):
        text = text[: -len(_CHECK_LOG)].rstrip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    text = text.strip()
    if text.startswith(_PANIC_PREFIX):
        text = text[len(_PANIC_PREFIX):].strip()
    return text


def parse_sys(text: str) -> SysInfo:
    """Parse ``sys`` into a :class:`SysInfo` (empty fields for foreign text)."""
    fields: dict[str, str] = {}
    flags: list[str] = []
    warnings: list[str] = []
    paths: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("WARNING:"):
            warnings.append(line.strip())
            continue
        m = _FIELD.match(line)
        if not m:
            continue
        name, value = m.group(1), m.group(2) or ""
        fields.setdefault(name, value)
        if name in ("KERNEL", "DUMPFILE"):
            found = []
            while fm := _FLAG.search(value):
                found.insert(0, fm.group(1))
                value = value[: fm.start()]
            flags += found
            paths[name] = value.strip()
    get = fields.get
    panic = get("PANIC", "")
    return SysInfo(
        fields=fields, kernel=paths.get("KERNEL", ""), dumpfile=paths.get("DUMPFILE", ""),
        cpus=_int(get("CPUS", "").split(" ")[0] or None), date=get("DATE", ""),
        uptime=get("UPTIME", ""), load_average=get("LOAD AVERAGE", ""),
        tasks=_int(get("TASKS")), nodename=get("NODENAME", ""), release=get("RELEASE", ""),
        version=get("VERSION", ""), machine=get("MACHINE", ""), memory=get("MEMORY", ""),
        panic=panic, panic_message=panic_message(panic), flags=flags, warnings=warnings)


@dataclass(frozen=True)
class TaintInfo:
    """``sys -t``: the kernel's taint mask (``mask``, from crash's hex), its letters
    (``OE``) and the ``TAINT_*`` names when crash lists them."""

    mask: int = 0
    letters: str = ""
    names: list[str] = field(default_factory=list)


_TAINT = re.compile(r"^\s*TAINTED_MASK:\s*([0-9a-fA-F]+)\s*(\S*)")
_TAINT_NAME = re.compile(r"^\s*\d+:\s*(TAINT_\w+)")


def parse_sys_taint(text: str) -> TaintInfo:
    """Parse ``sys -t`` (``TAINTED_MASK: 3000  OE``); a zero :class:`TaintInfo` if absent."""
    info = TaintInfo()
    names = []
    for line in text.splitlines():
        if m := _TAINT.match(line):
            info = TaintInfo(mask=int(m.group(1), 16), letters=m.group(2))
        elif m := _TAINT_NAME.match(line):
            names.append(m.group(1))
    return replace(info, names=names)


# --- bt -------------------------------------------------------------------------------------

_FRAME = re.compile(r"^\s*#(\d+)\s+\[([0-9a-f]+)\]\s+(?:\?\s*)?(\S+)"
                    r"(?:\s+at\s+([0-9a-f]+))?(?:\s+\[([^\]\s]+)\])?(?:\s+\(unreliable\))?\s*$")
_EXC_RIP = re.compile(r"^\s*\[exception RIP:\s*(.*?)\]\s*$")
_REGISTER = re.compile(r"([A-Z][A-Z0-9_]*):\s+([0-9a-fA-F]+)\b")
# arm64/riscv64 kernel-mode exception frame: "PC: ffff800008a1b2c0  [sysrq_handle_crash+32]"
_PC_SYMBOL = re.compile(r"^\s*PC:\s+([0-9a-f]+)\s+\[(.*)\]\s*$")
_SOURCE = re.compile(r"^\s+(\S+\.\w+):\s+(\d+)\s*$")


@dataclass(frozen=True)
class Backtrace:
    """One task's backtrace (``bt``): the task of its ``PID:`` header (None if the text had
    no header) and its frames, innermost first."""

    task: Task | None
    frames: list[Frame] = field(default_factory=list)

    @property
    def functions(self) -> list[str]:
        """The frames' function names, innermost first."""
        return [f.function for f in self.frames]

    @property
    def exception(self) -> Frame | None:
        """The first exception frame (where the CPU faulted), or None."""
        return next((f for f in self.frames if f.exception), None)

    def __str__(self) -> str:
        t = self.task
        head = f"PID {t.pid} {t.command!r} on CPU {t.cpu}" if t else "unknown task"
        return "\n".join([head, *(f"    {f}" for f in self.frames)])


def _symbol(text: str) -> tuple[str, int | None, str | None]:
    """``func+off [mod]`` (crash's ``+12`` or ``+0x12/0x30``) -> function, offset, module."""
    text = text.strip()
    module = None
    if m := re.search(r"\s+\[([^\]\s]+)\]$", text):
        module, text = m.group(1), text[: m.start()]
    m = re.match(r"^(\S+?)\+(0x[0-9a-fA-F]+|\d+)(?:/\S+)?$", text)
    if m:
        return m.group(1), _int(m.group(2)), module
    return text, None, module


class _BtBuilder:
    """Collects the frames of one ``bt`` block; register blocks make exception frames or
    go to the frame before them."""

    def __init__(self, task: Task | None) -> None:
        self.task = task
        self.frames: list[Frame] = []
        self.regs: dict[str, str] | None = None  # the register block being read
        self.exc: tuple[str, int | None, str | None] | None = None  # its exception symbol

    def frame(self, frame: Frame) -> None:
        self.flush()
        self.frames.append(frame)

    def exception(self, symbol: str) -> None:
        self.flush()
        self.exc = _symbol(symbol)
        self.regs = {}

    def registers(self, line: str) -> None:
        if self.regs is None:
            self.regs = {}
        if self.exc is None and (m := _PC_SYMBOL.match(line)):
            self.exc = _symbol(m.group(2))
        self.regs.update(_REGISTER.findall(line))

    def source(self, path: str, line: str) -> None:
        self.flush()  # after a register block: the source of its exception frame
        if self.frames:
            self.frames[-1] = replace(self.frames[-1], source=f"{path}:{line}")

    def flush(self) -> None:
        regs, exc = self.regs, self.exc
        self.regs = self.exc = None
        if regs is None:
            return
        if exc is not None:
            function, offset, module = exc
            address = regs.get("RIP") or regs.get("PC")
            level = self.frames[-1].level if self.frames else 0
            self.frames.append(Frame(level=level, function=function, address=address,
                                     module=module, exception=True, offset=offset,
                                     registers=regs))
        elif self.frames:
            last = self.frames[-1]
            self.frames[-1] = replace(last, registers={**last.registers, **regs})

    def build(self) -> Backtrace:
        self.flush()
        return Backtrace(task=self.task, frames=self.frames)


def parse_bt(text: str) -> list[Backtrace]:
    """Parse ``bt``, ``bt -a`` or ``foreach bt``: one :class:`Backtrace` per ``PID:`` header.

    Frames are ``#N [stack] function at address [module]``. An ``[exception RIP: f+off]``
    register block (x86_64), or a block whose ``PC:`` names a symbol (arm64), becomes an
    exception :class:`Frame` (level of the frame before it, ``address`` the RIP/PC value,
    every ``NAME: value`` register in ``registers``). Any other register block (user-space
    registers after the syscall entry) is attached to the frame before it. ``bt -l`` source
    lines become ``Frame.source``; a leading ``?`` on a function is dropped; other lines
    (``--- <IRQ stack> ---``, warnings) are skipped.
    """
    traces: list[Backtrace] = []
    cur: _BtBuilder | None = None
    for line in text.splitlines():
        if line.startswith("PID:") and (task := _header_task(line)):
            if cur is not None:
                traces.append(cur.build())
            cur = _BtBuilder(task)
            continue
        if m := _FRAME.match(line):
            level, stack, symbol, address, module = m.groups()
            function, offset, _ = _symbol(symbol)  # ``bt -s`` prints func+off
            cur = cur or _BtBuilder(None)
            cur.frame(Frame(level=int(level), function=function, address=address,
                            module=module, stack=stack, offset=offset))
        elif m := _EXC_RIP.match(line):
            cur = cur or _BtBuilder(None)
            cur.exception(m.group(1))
        elif cur is not None and (m := _SOURCE.match(line)):
            cur.source(m.group(1), m.group(2))
        elif cur is not None and line[:1].isspace() and _REGISTER.search(line):
            cur.registers(line)
        elif cur is not None and cur.regs is not None and not line.strip():
            cur.flush()
    if cur is not None:
        traces.append(cur.build())
    return traces


def parse_bt_one(text: str) -> Backtrace | None:
    """The first :class:`Backtrace` of a ``bt`` output, or None."""
    traces = parse_bt(text)
    return traces[0] if traces else None


def resolve_modules(frames: list[Frame], modules: list[Module]) -> list[Frame]:
    """``frames`` with ``module`` filled from ``mod``'s address ranges (``base`` to
    ``base + size``) where crash gave none, e.g. on an ``[exception RIP: ...]`` frame."""
    ranges = [(int(m.base, 16), int(m.base, 16) + m.size, m.name)
              for m in modules if m.base and _HEX.fullmatch(m.base)]
    out = []
    for f in frames:
        if f.module is None and f.address and _HEX.fullmatch(f.address):
            addr = int(f.address, 16)
            name = next((n for lo, hi, n in ranges if lo <= addr < hi), None)
            if name:
                f = replace(f, module=name)
        out.append(f)
    return out


# --- ps -------------------------------------------------------------------------------------

_PS_COLUMNS = ["PID", "PPID", "CPU", "TASK", "ST", "%MEM", "VSZ", "RSS", "COMM"]
_PS_ROW = re.compile(r"^([>*]?)\s*(\d+\s.*)$")


def parse_ps(text: str) -> list[Task]:
    """Parse ``ps`` into :class:`Task` s, by the columns its header names (the 8.0.x layout
    when there is no header). ``>`` marks the active task (``active``); a ``[bracketed]``
    command is a kernel thread (``kernel_thread``, command without brackets)."""
    columns = _PS_COLUMNS
    tasks = []
    for line in text.splitlines():
        words = line.split()
        if "PID" in words and words[-1] == "COMM":
            columns = words
            continue
        m = _PS_ROW.match(line)
        if not m:
            continue
        values = m.group(2).split(None, len(columns) - 1)
        if len(values) < len(columns):
            continue
        row = dict(zip(columns, values, strict=True))
        command = row.get("COMM", "").strip()
        kthread = len(command) > 2 and command[0] == "[" and command[-1] == "]"
        pid = _int(row.get("PID"))
        if pid is None:
            continue
        tasks.append(Task(
            pid=pid, command=command[1:-1] if kthread else command, cpu=_int(row.get("CPU")),
            task=row.get("TASK"), state=row.get("ST"), ppid=_int(row.get("PPID")),
            active=m.group(1) == ">", mem_percent=_float(row.get("%MEM")),
            vsz=_int(row.get("VSZ")), rss=_int(row.get("RSS")), kernel_thread=kthread))
    return tasks


@dataclass(frozen=True)
class TaskTime:
    """A ``ps -m`` line: time since the task last ran (``since_last_run`` seconds, from
    ``[days hh:mm:ss.mmm]``; ``stamp`` is the bracket as printed), its state and header."""

    pid: int
    task: str
    cpu: int | None
    command: str
    state: str
    since_last_run: float | None
    stamp: str


_PS_M = re.compile(r"^\[([^\]]*)\]\s+\[(\w+)\]\s+(PID:.*)$")
_DHMS = re.compile(r"^(\d+)\s+(\d+):(\d+):(\d+(?:\.\d+)?)$")


def parse_ps_m(text: str) -> list[TaskTime]:
    """Parse ``ps -m`` (``[0 00:00:01.271] [ID]  PID: 35  TASK: ...``) into :class:`TaskTime`
    s, in crash's order (most recently run first)."""
    out = []
    for line in text.splitlines():
        m = _PS_M.match(line.strip())
        task = _header_task(m.group(3)) if m else None
        if not m or task is None:
            continue
        stamp = m.group(1).strip()
        t = _DHMS.match(stamp)
        since = (int(t.group(1)) * 86400 + int(t.group(2)) * 3600 + int(t.group(3)) * 60
                 + float(t.group(4))) if t else None
        out.append(TaskTime(pid=task.pid, task=task.task or "", cpu=task.cpu,
                            command=task.command, state=m.group(2), since_last_run=since,
                            stamp=stamp))
    return out


# --- log ------------------------------------------------------------------------------------

_LOG_SECONDS = re.compile(r"^\[\s*(\d+\.\d+)\] ?")
_LOG_HUMAN = re.compile(r"^\[((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [^\]]*\d{4})\] ?")
_LOG_CALLER = re.compile(r"^\[\s*([TC]\d+)\] ?")
_LOG_LEVEL = re.compile(r"^<([0-9a-f])>")


@dataclass(frozen=True)
class LogLine:
    """A kernel log line (``log``). ``timestamp`` is seconds since boot (None for ``log -T``
    dates, ``log -t`` and continuation lines); ``stamp`` the bracket as printed; ``level``
    the ``log -m`` level; ``caller`` the ``log -c`` ``T123``/``C0`` id."""

    timestamp: float | None
    text: str
    stamp: str | None = None
    level: int | None = None
    caller: str | None = None


def parse_log(text: str) -> list[LogLine]:
    """Parse ``log`` (also ``log -T``, ``-t``, ``-m``, ``-c``) into :class:`LogLine` s.

    A line without a stamp is a continuation of a multi-line message; crash indents it to
    the previous prefix's width, and that indentation is removed from its text."""
    lines = []
    indent = 0
    for line in text.splitlines():
        rest, stamp, seconds, level, caller = line, None, None, None, None
        if m := _LOG_SECONDS.match(rest):
            stamp, seconds = m.group(0).strip()[1:-1].strip(), float(m.group(1))
        elif m := _LOG_HUMAN.match(rest):
            stamp = m.group(1)
        if m:
            rest = rest[m.end():]
            if c := _LOG_CALLER.match(rest):
                caller, rest = c.group(1), rest[c.end():]
            if lv := _LOG_LEVEL.match(rest):
                level, rest = int(lv.group(1), 16), rest[lv.end():]
            indent = len(line) - len(rest)
        elif indent and line[:indent].isspace():
            rest = line[indent:]
        lines.append(LogLine(timestamp=seconds, text=rest, stamp=stamp, level=level,
                             caller=caller))
    return lines


def log_text(lines: list[LogLine]) -> str:
    """The log's messages without their stamps, one per line."""
    return "\n".join(line.text for line in lines)


# --- mod ------------------------------------------------------------------------------------

_MOD_COLUMNS = ["MODULE", "NAME", "BASE", "SIZE", "OBJECT_FILE"]
_MOD_TAIL = re.compile(r"^(.*?)\s*(?:\[([^\]]+)\])?\s*$")


def parse_mod(text: str) -> list[Module]:
    """Parse ``mod`` into :class:`Module` s, by the columns its header names (crash before
    8.0 has no ``BASE``; newer ones may say ``TEXT_BASE``). ``(not loaded)`` gives
    ``object_file`` None; a trailing ``[CONFIG_KALLSYMS]`` is ``debuginfo``, unbracketed."""
    columns: list[str] | None = None
    modules = []
    for line in text.splitlines():
        if "MODULE" in line and "NAME" in line and "SIZE" in line:
            columns = line.replace("OBJECT FILE", "OBJECT_FILE").split()
            continue
        words = line.split()
        if len(words) < 3 or not _HEX.fullmatch(words[0]):
            continue
        cols = columns
        if cols is None:  # no header: BASE is there if the third word is an address
            with_base = len(words[2]) > 8 and _HEX.fullmatch(words[2]) is not None
            cols = _MOD_COLUMNS if with_base else [c for c in _MOD_COLUMNS if c != "BASE"]
        values = line.split(None, len(cols) - 1)
        if len(values) < len(cols) - 1:
            continue
        row = dict(zip(cols, values, strict=False))
        size = _int(row.get("SIZE"))
        if size is None or "NAME" not in row:
            continue
        obj, debuginfo = _MOD_TAIL.match(row.get("OBJECT_FILE", "")).groups()
        modules.append(Module(
            name=row["NAME"], size=size, address=row.get("MODULE"),
            base=row.get("BASE") or row.get("TEXT_BASE"),
            object_file=None if obj in ("", "(not loaded)") else obj, debuginfo=debuginfo))
    return modules


# --- kmem -i --------------------------------------------------------------------------------

_KMEM_ROW = re.compile(r"^\s*([A-Z][A-Z ]*[A-Z])\s+(\d+)\s+(\d+(?:\.\d+)?(?: [KMGTP]?B)?)"
                       r"\s+(?:(\d+)% of (.+?)|-+)\s*$")
_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50}


@dataclass(frozen=True)
class MemRow:
    """A ``kmem -i`` row: ``pages``, ``total`` as printed (``293.8 MB``), ``total_bytes``
    from it (rounded as crash rounded it), ``percent`` of ``of`` (``TOTAL MEM``), if given."""

    name: str
    pages: int
    total: str
    total_bytes: int
    percent: int | None = None
    of: str | None = None


@dataclass(frozen=True)
class MemInfo:
    """``kmem -i`` rows by name (``TOTAL MEM``, ``FREE``, ``USED``, ``SLAB``...).

    ``page_size`` is inferred from the ``TOTAL MEM`` row; byte counts from :meth:`bytes` and
    the properties are ``pages * page_size`` when it is known (exact), else ``total_bytes``.
    """

    rows: dict[str, MemRow] = field(default_factory=dict)

    @property
    def page_size(self) -> int | None:
        row = self.rows.get("TOTAL MEM")
        if not row or not row.pages or not row.total_bytes:
            return None
        shift = round(math.log2(row.total_bytes / row.pages))
        return 1 << shift if shift >= 0 else None

    def bytes(self, name: str) -> int | None:
        """The bytes of row ``name``, or None if there is no such row."""
        row = self.rows.get(name)
        if row is None:
            return None
        size = self.page_size
        return row.pages * size if size else row.total_bytes

    @property
    def total_mem_bytes(self) -> int | None:
        return self.bytes("TOTAL MEM")

    @property
    def free_bytes(self) -> int | None:
        return self.bytes("FREE")

    @property
    def used_bytes(self) -> int | None:
        return self.bytes("USED")

    @property
    def cached_bytes(self) -> int | None:
        return self.bytes("CACHED")

    @property
    def slab_bytes(self) -> int | None:
        return self.bytes("SLAB")


def _size_bytes(total: str) -> int:
    number, _, unit = total.partition(" ")
    return round(float(number) * _UNITS.get(unit or "B", 1))


def parse_kmem_i(text: str) -> MemInfo:
    """Parse ``kmem -i`` into a :class:`MemInfo`."""
    rows = {}
    for line in text.splitlines():
        if m := _KMEM_ROW.match(line):
            name, pages, total, percent, of = m.groups()
            rows[name] = MemRow(name=name, pages=int(pages), total=total,
                                total_bytes=_size_bytes(total), percent=_int(percent), of=of)
    return MemInfo(rows=rows)


# --- files, mount, net ----------------------------------------------------------------------

@dataclass(frozen=True)
class OpenFile:
    """An open file of ``files``: descriptor, kernel addresses, ``type`` (REG, CHR, SOCK...)
    and path."""

    fd: int
    file: str
    dentry: str
    inode: str
    type: str
    path: str


@dataclass(frozen=True)
class Files:
    """``files PID``: the task, its root and working directories and open files."""

    task: Task | None = None
    root: str | None = None
    cwd: str | None = None
    files: list[OpenFile] = field(default_factory=list)


_ROOT_CWD = re.compile(r"^\s*ROOT:\s*(.*?)\s+CWD:\s*(.*?)\s*$")
_FD_ROW = re.compile(r"^\s*(\d+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(\S+)\s*(.*?)\s*$")


def parse_files_all(text: str) -> list[Files]:
    """Parse ``files`` for one or more tasks (``foreach files``): one :class:`Files` per
    ``PID:`` header."""
    out: list[Files] = []
    for line in text.splitlines():
        if line.startswith("PID:") and (task := _header_task(line)):
            out.append(Files(task=task))
        elif not out:
            continue
        elif m := _ROOT_CWD.match(line):
            out[-1] = replace(out[-1], root=m.group(1), cwd=m.group(2))
        elif m := _FD_ROW.match(line):
            fd, file, dentry, inode, ftype, path = m.groups()
            out[-1].files.append(OpenFile(fd=int(fd), file=file, dentry=dentry, inode=inode,
                                          type=ftype, path=path))
    return out


def parse_files(text: str) -> Files:
    """Parse ``files PID``; an empty :class:`Files` when the text has no task header."""
    found = parse_files_all(text)
    return found[0] if found else Files()


@dataclass(frozen=True)
class Mount:
    """A ``mount`` row: vfsmount and superblock addresses, filesystem type, device, mount
    point."""

    mount: str
    superblock: str
    type: str
    devname: str
    dirname: str


def parse_mount(text: str) -> list[Mount]:
    """Parse ``mount`` into :class:`Mount` s (columns split on blanks, as crash widens them
    for long names)."""
    out = []
    for line in text.splitlines():
        words = line.split(None, 4)
        if len(words) == 5 and _HEX.fullmatch(words[0]) and _HEX.fullmatch(words[1]):
            out.append(Mount(mount=words[0], superblock=words[1], type=words[2],
                             devname=words[3], dirname=words[4].strip()))
    return out


@dataclass(frozen=True)
class NetDevice:
    """A ``net`` row: the net_device address, its name and IP addresses."""

    address: str
    name: str
    addresses: list[str] = field(default_factory=list)


_NET_ROW = re.compile(r"^([0-9a-f]{8,})\s+(\S+)\s*(.*)$")


def parse_net(text: str) -> list[NetDevice]:
    """Parse ``net`` into :class:`NetDevice` s."""
    out = []
    for line in text.splitlines():
        if m := _NET_ROW.match(line.strip()):
            addresses = [a for a in re.split(r"[,\s]+", m.group(3)) if a]
            out.append(NetDevice(address=m.group(1), name=m.group(2), addresses=addresses))
    return out


# --- dis ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Instruction:
    """A ``dis`` line: ``address`` (hex, no ``0x``), ``symbol`` and ``offset`` from
    ``<symbol+offset>``, the instruction ``text``; ``file``/``line`` under ``dis -l``."""

    address: str
    symbol: str
    offset: int
    text: str
    file: str | None = None
    line: int | None = None

    @property
    def source(self) -> str | None:
        """``file:line``, or None without ``dis -l``."""
        return f"{self.file}:{self.line}" if self.file else None


_DIS = re.compile(r"^0x([0-9a-f]+)\s+<([^>+]+)(?:\+(\d+|0x[0-9a-f]+))?>:\s*(.*?)\s*$")
_DIS_SOURCE = re.compile(r"^(\S.*?):\s+(\d+)\s*$")


def parse_dis(text: str) -> list[Instruction]:
    """Parse ``dis`` or ``dis -l`` into :class:`Instruction` s."""
    out = []
    file: str | None = None
    line_no: int | None = None
    for line in text.splitlines():
        if m := _DIS.match(line):
            address, symbol, offset, insn = m.groups()
            out.append(Instruction(address=address, symbol=symbol, offset=_int(offset) or 0,
                                   text=insn, file=file, line=line_no))
        elif m := _DIS_SOURCE.match(line):
            file, line_no = m.group(1), int(m.group(2))
    return out


# --- p, struct, rd --------------------------------------------------------------------------

@dataclass(frozen=True)
class PrintResult:
    """``p EXPR``: gdb's value history number, the value text (several lines for a struct)
    and, for ``p symbol``, the symbol crash names (``jiffies = $1 = ...``)."""

    history: int | None
    value: str
    symbol: str | None = None

    @property
    def as_int(self) -> int | None:
        """The value as an int (see :func:`c_int`)."""
        return c_int(self.value)

    @property
    def as_str(self) -> str | None:
        """The value as a C string (see :func:`c_string`)."""
        return c_string(self.value)


_P = re.compile(r"^(?:(\S.*?) = )?\$(\d+) = (.*)$")


def parse_p(text: str) -> PrintResult:
    """Parse ``p``: ``$N = value`` or ``sym = $N = value``; the value goes on to the end of the
    text. A :class:`PrintResult` with no history and an empty value if there is none."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if m := _P.match(line):
            value = "\n".join([m.group(3), *lines[i + 1:]]).rstrip()
            return PrintResult(history=int(m.group(2)), value=value, symbol=m.group(1))
    return PrintResult(history=None, value="")


_C_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
              "e": "\x1b", '"': '"', "'": "'", "\\": "\\"}
_C_PART = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)+)\' <repeats (\d+) times>)'
                     r"\s*(?:,|\.\.\.|$)")


def _unescape(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 == len(text):
            out.append(ch)
            i += 1
            continue
        octal = re.match(r"[0-7]{1,3}", text[i + 1:])
        if octal:
            out.append(chr(int(octal.group(0), 8)))
            i += 1 + len(octal.group(0))
        else:
            out.append(_C_ESCAPES.get(text[i + 1], text[i + 1]))
            i += 2
    return "".join(out)


def c_string(value: str) -> str | None:
    """gdb's display of a char array as a Python string, cut at the first NUL:
    ``"sh\\000\\000"`` -> ``"sh"``; also ``"ab", '\\000' <repeats 14 times>``. A trailing
    comma (``struct`` lines) is allowed. None if ``value`` is not a string display."""
    text = value.strip().rstrip(",").strip()
    text = re.sub(r"^0x[0-9a-f]+\s+", "", text)  # "0xffff... "text"" for char pointers
    if not text.startswith(('"', "'")):
        return None
    parts = []
    pos = 0
    while pos < len(text):
        m = _C_PART.match(text, pos)
        if not m or m.end() == pos:
            return None
        if m.group(1) is not None:
            parts.append(_unescape(m.group(1)))
        else:
            parts.append(_unescape(m.group(2)) * min(int(m.group(3)), 1 << 20))
        pos = m.end()
    return "".join(parts).split("\0", 1)[0]


def c_int(value: str) -> int | None:
    """gdb's display of an integer or pointer as an int: ``99``, ``-1``, ``0x0``,
    ``(struct task_struct *) 0xffff...``, ``99 'c'``. None otherwise."""
    # a cast, possibly with one level of nested parentheses: "(void (*)()) 0xffff..."
    text = re.sub(r"^\((?:[^()]|\([^()]*\))*\)\s*", "", value.strip().rstrip(",").strip())
    m = re.match(r"^(-?(?:0x[0-9a-fA-F]+|\d+))(?:\s|$)", text)
    return _int(m.group(1)) if m else None


_STRUCT_OPEN = re.compile(r"^(?:struct|union)\s+\S+\s*\{$")
_STRUCT_FIELD = re.compile(r"^([\w.\[\]]+) = (.*?),?$")  # "se.on_rq = 1," for asked members


def parse_struct(text: str) -> dict[str, str]:
    """Parse ``struct TYPE[.FIELD,...] ADDR`` into ``{field: value text}``.

    Nested blocks are flattened with dotted keys (``se.load.weight``); anonymous blocks
    (``{`` alone: anonymous unions, array elements) add no key part, so the elements of a
    multi-line array of structs overwrite each other. One-line arrays stay raw
    (``{1, 2, 3}``). Values are gdb's text without the trailing comma; see :func:`c_int`
    and :func:`c_string`.
    """
    out: dict[str, str] = {}
    stack: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if _STRUCT_OPEN.match(line) or line == "{":
            stack.append("")
        elif line.startswith("}"):
            if stack:
                stack.pop()
            if line.rstrip(",").endswith("{"):  # "}, {": next array element
                stack.append("")
        elif m := _STRUCT_FIELD.match(line):
            name, value = m.groups()
            if value == "{":
                stack.append(name)
            else:
                out[".".join([*(s for s in stack if s), name])] = value
    return out


@dataclass(frozen=True)
class MemoryRow:
    """An ``rd`` line: its address, the words (hex, or symbols under ``rd -s``) and the
    ASCII column when crash prints one."""

    address: str
    words: list[str] = field(default_factory=list)
    ascii: str | None = None


_RD = re.compile(r"^([0-9a-f]+):\s\s(.*)$")
_RD_ASCII = re.compile(r"^((?:[0-9a-f]+ )+)  (.*)$")


def parse_rd(text: str) -> list[MemoryRow]:
    """Parse ``rd`` (also ``rd -s``) into :class:`MemoryRow` s. The ASCII column is taken
    only after hex words of one width, and must fit their byte count."""
    out = []
    for line in text.splitlines():
        m = _RD.match(line)
        if not m:
            continue
        rest = m.group(2)
        a = _RD_ASCII.match(rest)
        if a:
            words = a.group(1).split()
            width = len(words[0])
            if (all(len(w) == width for w in words) and width % 2 == 0
                    and 0 < len(a.group(2)) <= width // 2 * len(words)):
                out.append(MemoryRow(address=m.group(1), words=words, ascii=a.group(2)))
                continue
        out.append(MemoryRow(address=m.group(1), words=rest.split()))
    return out


# --- errors ---------------------------------------------------------------------------------

_GDB_ERRORS = re.compile(r"^(?:symbol not found: |No symbol .* in current context|"
                         r"Cannot access memory at address |A syntax error in expression|"
                         r"There is no member named )")


def command_error(command: str, text: str) -> str | None:
    """crash's error message for ``command`` if ``text`` starts with one, else None.

    The first line that is neither blank nor a ``WARNING:`` decides: an error is
    ``<cmd>: ...`` (``bt: invalid task or pid value: 99999``, ``p: gdb request failed: ...``),
    ``crash: ...``, or gdb's ``symbol not found: X``, ``No symbol "x" in current context.``,
    ``Cannot access memory at address 0x...``. A ``<cmd>: WARNING: ...`` is no error; nor is
    an error after normal output (a partial result such as a bt cut short).
    """
    words = re.split(r"[\s/|]+", command.strip())
    names = {"crash", words[0]} if words and words[0] else {"crash"}
    if words[0] == "foreach":  # "foreach UN bt": the errors name the command, not the filter
        names.update(w for w in words[1:] if w.isalpha() and w.islower())
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("WARNING:"):
            continue
        name, sep, rest = stripped.partition(": ")
        if sep and name in names and rest and not rest.startswith("WARNING:"):
            return stripped
        if _GDB_ERRORS.match(stripped):
            return stripped
        return None
    return None

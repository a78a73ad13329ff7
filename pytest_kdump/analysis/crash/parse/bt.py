"""
Backtraces
----------

Parsers of crash's ``bt`` in its forms: ``bt``, ``bt -a`` and ``foreach bt`` (one block per
task: :func:`parse_bt`, or the first block: :func:`parse_bt_one`), ``bt -s`` (``func+off``)
and ``bt -l`` (source lines), on x86_64 and arm64. :func:`resolve_modules` names the module
of frames crash printed without one, from ``mod``'s address ranges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from pytest_kdump.analysis.crash.parse.common import _HEX, _header_task, _int
from pytest_kdump.analysis.model import Frame, Module, Task

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

    >>> (trace,) = parse_bt('PID: 99  TASK: ffff8a80deefe000  CPU: 0  COMMAND: "sh"\\n'
    ...                     ' #0 [ffffd2c7405b3b90] machine_kexec at ffffffff9086c62f\\n'
    ...                     ' #1 [ffffd2c7405b3be8] __crash_kexec at ffffffff909646b7')
    >>> trace.task.pid, trace.functions
    (99, ['machine_kexec', '__crash_kexec'])

    :return: the :class:`Backtrace` of each task, in crash's order (empty for foreign text)
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
    """The first :class:`Backtrace` of a ``bt`` output, or None.

    :return: the first backtrace, None if the text has none
    """
    traces = parse_bt(text)
    return traces[0] if traces else None


def resolve_modules(frames: list[Frame], modules: list[Module]) -> list[Frame]:
    """``frames`` with ``module`` filled from ``mod``'s address ranges (``base`` to
    ``base + size``) where crash gave none, e.g. on an ``[exception RIP: ...]`` frame.

    :param frames: frames of :func:`parse_bt`
    :param modules: the modules of ``mod`` (:func:`~.mod.parse_mod`)
    :return: a new list of frames, the same length as ``frames``
    """
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

"""
System Information
------------------

Parsers of crash's ``sys`` (the dump's kernel, machine and panic: :func:`parse_sys`) and
``sys -t`` (the kernel's taint flags: :func:`parse_sys_taint`). The module is not named
``sys`` so that it does not shadow the standard library's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from pytest_kdump.analysis.crash.parse.common import _int

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
    kept whole.

    >>> panic_message('"Kernel panic - not syncing: sysrq triggered crash"')
    'sysrq triggered crash'

    :return: the panic message, ``""`` if there is none
    """
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
    """Parse ``sys`` into a :class:`SysInfo` (empty fields for foreign text).

    >>> info = parse_sys("     RELEASE: 6.1.0-56-cloud-amd64\\n"
    ...                  '       PANIC: "Kernel panic - not syncing: sysrq triggered crash"')
    >>> info.release, info.panic_message
    ('6.1.0-56-cloud-amd64', 'sysrq triggered crash')

    :return: the :class:`SysInfo` of the dump
    """
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
    """Parse ``sys -t`` (``TAINTED_MASK: 3000  OE``); a zero :class:`TaintInfo` if absent.

    >>> parse_sys_taint("TAINTED_MASK: 3000  OE")
    TaintInfo(mask=12288, letters='OE', names=[])

    :return: the :class:`TaintInfo` of the kernel
    """
    info = TaintInfo()
    names = []
    for line in text.splitlines():
        if m := _TAINT.match(line):
            info = TaintInfo(mask=int(m.group(1), 16), letters=m.group(2))
        elif m := _TAINT_NAME.match(line):
            names.append(m.group(1))
    return replace(info, names=names)

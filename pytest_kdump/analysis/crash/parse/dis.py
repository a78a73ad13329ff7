"""
Disassembly
-----------

Parser of crash's ``dis`` (a function's or an address range's instructions) and ``dis -l``
(with their source lines): :func:`parse_dis`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pytest_kdump.analysis.crash.parse.common import _int


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
    """Parse ``dis`` or ``dis -l`` into :class:`Instruction` s.

    >>> (insn,) = parse_dis("0xffffffffc052f07c <kdump_crash_null+12>:\\tmovl   $0x6b,(%rax)")
    >>> insn.offset, insn.text
    (12, 'movl   $0x6b,(%rax)')

    :return: the instructions, in crash's order (empty for foreign text)
    """
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

"""
Values and Memory
-----------------

Parsers of the commands that read kernel data: crash's ``p`` (gdb's value of an expression:
:func:`parse_p`), ``struct`` (a structure's members: :func:`parse_struct`) and ``rd`` (raw
memory words: :func:`parse_rd`); and :func:`c_int` and :func:`c_string`, which read gdb's
display of an integer, pointer or char array in their values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pytest_kdump.analysis.crash.parse.common import _int


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
    text. A :class:`PrintResult` with no history and an empty value if there is none.

    >>> parse_p("jiffies = $1 = 4294893203")
    PrintResult(history=1, value='4294893203', symbol='jiffies')

    :return: the :class:`PrintResult` of the first ``$N = `` line
    """
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
    comma (``struct`` lines) is allowed. None if ``value`` is not a string display.

    >>> c_string('0xffffffff91b697b9 "sysrq triggered crash"')
    'sysrq triggered crash'

    :param value: a value of ``p`` or ``struct``
    :return: the string, or None
    """
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
    ``(struct task_struct *) 0xffff...``, ``99 'c'``. None otherwise.

    >>> hex(c_int("(struct task_struct *) 0xffff8a80deefe000"))
    '0xffff8a80deefe000'

    :param value: a value of ``p`` or ``struct``
    :return: the int, or None
    """
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

    >>> parse_struct("struct task_struct {\\n  pid = 99,\\n  se = {\\n    on_rq = 1\\n  }\\n}")
    {'pid': '99', 'se.on_rq': '1'}

    :return: the members' values by (dotted) name, in crash's order
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
    only after hex words of one width, and must fit their byte count.

    >>> (row,) = parse_rd("ffffffff922079c0:  00000000fffede93 0000000000000000   ........")
    >>> row.address, row.words, row.ascii
    ('ffffffff922079c0', ['00000000fffede93', '0000000000000000'], '........')

    :return: a :class:`MemoryRow` per line, in crash's order (empty for foreign text)
    """
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

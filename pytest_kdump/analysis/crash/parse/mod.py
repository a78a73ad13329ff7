"""
Kernel Modules
--------------

Parser of crash's ``mod`` (the loaded kernel modules): :func:`parse_mod`. See
:func:`~.bt.resolve_modules` to name the module of a backtrace's frames.
"""

from __future__ import annotations

import re

from pytest_kdump.analysis.crash.parse.common import _HEX, _int
from pytest_kdump.analysis.model import Module

_MOD_COLUMNS = ["MODULE", "NAME", "BASE", "SIZE", "OBJECT_FILE"]
_MOD_TAIL = re.compile(r"^(.*?)\s*(?:\[([^\]]+)\])?\s*$")


def parse_mod(text: str) -> list[Module]:
    """Parse ``mod`` into :class:`Module` s, by the columns its header names (crash before
    8.0 has no ``BASE``; newer ones may say ``TEXT_BASE``). ``(not loaded)`` gives
    ``object_file`` None; a trailing ``[CONFIG_KALLSYMS]`` is ``debuginfo``, unbracketed.

    >>> (m,) = parse_mod("     MODULE       NAME         TEXT_BASE         SIZE  OBJECT FILE\\n"
    ...                  "ffffffffc0531040  kdump_crash  ffffffffc052f000  16384  (not loaded)")
    >>> m.name, m.base, m.size, m.object_file
    ('kdump_crash', 'ffffffffc052f000', 16384, None)

    :return: the modules, in crash's order (empty for foreign text)
    """
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

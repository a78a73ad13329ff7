"""
Memory Usage
------------

Parser of crash's ``kmem -i`` (the kernel's memory usage summary: total, free, used, cached,
slab, swap... in pages and bytes): :func:`parse_kmem_i`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from pytest_kdump.analysis.crash.parse.common import _int

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
    """Parse ``kmem -i`` into a :class:`MemInfo`.

    >>> mem = parse_kmem_i("    TOTAL MEM    87553     342 MB         ----\\n"
    ...                    "         FREE    75219   293.8 MB   85% of TOTAL MEM")
    >>> mem.page_size, mem.free_bytes, mem.rows["FREE"].percent
    (4096, 308097024, 85)

    :return: the rows crash printed, by name (none for foreign text)
    """
    rows = {}
    for line in text.splitlines():
        if m := _KMEM_ROW.match(line):
            name, pages, total, percent, of = m.groups()
            rows[name] = MemRow(name=name, pages=int(pages), total=total,
                                total_bytes=_size_bytes(total), percent=_int(percent), of=of)
    return MemInfo(rows=rows)

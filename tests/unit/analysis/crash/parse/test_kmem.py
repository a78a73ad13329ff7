"""Tests of parse.kmem: ``kmem -i``."""

from __future__ import annotations

from pytest_kdump.analysis.crash import parse as cp
from tests.unit.analysis.crash.parse.recorded import read


def test_kmem_i() -> None:
    mem = cp.parse_kmem_i(read("sysrq-8.0.6", "kmem_i.txt"))
    assert len(mem.rows) == 14
    assert mem.rows["TOTAL MEM"] == cp.MemRow(name="TOTAL MEM", pages=87553, total="342 MB",
                                              total_bytes=342 << 20)
    assert mem.rows["FREE"] == cp.MemRow(name="FREE", pages=75219, total="293.8 MB",
                                         total_bytes=round(293.8 * (1 << 20)), percent=85,
                                         of="TOTAL MEM")
    assert mem.rows["BUFFERS"].total_bytes == 0
    assert mem.rows["COMMITTED"].of == "TOTAL LIMIT"
    assert mem.rows["SWAP FREE"].of == "TOTAL SWAP"
    assert mem.page_size == 4096
    assert mem.total_mem_bytes == 87553 * 4096
    assert mem.free_bytes == 75219 * 4096 and mem.used_bytes == 12334 * 4096
    assert mem.slab_bytes == 3831 * 4096 and mem.cached_bytes == 5905 * 4096
    assert mem.bytes("NO SUCH ROW") is None
    # crash 8.0.2 reads the same memory, but not the same slab
    old = cp.parse_kmem_i(read("sysrq-8.0.2", "kmem_i.txt"))
    assert old.rows["SLAB"].pages == 2263 and old.free_bytes == mem.free_bytes


def test_kmem_i_empty() -> None:
    mem = cp.parse_kmem_i("")
    assert (mem.rows, mem.page_size, mem.total_mem_bytes) == ({}, None, None)
    only_free = cp.parse_kmem_i("         FREE    75219     293.8 MB   85% of TOTAL MEM\n")
    assert only_free.free_bytes == round(293.8 * (1 << 20))  # no page size: crash's rounding


def test_kmem_garbage_page_size() -> None:
    info = cp.parse_kmem_i("    TOTAL MEM    87553       3 KB         ----\n")
    assert info.page_size is None and info.total_mem_bytes == 3 << 10

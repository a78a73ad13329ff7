"""Tests of parse.mod: ``mod``."""

from __future__ import annotations

from pytest_kdump.analysis.crash import parse as cp
from pytest_kdump.analysis.model import Module
from tests.unit.analysis.crash.parse.recorded import read


def test_mod_module_null() -> None:
    mods = cp.parse_mod(read("module-null-8.0.6", "mod.txt"))
    assert [m.name for m in mods] == [
        "virtio_ring", "kdump_crash", "virtio", "virtio_pci_modern_dev",
        "virtio_pci_legacy_dev", "virtio_pci", "virtio_blk"]
    assert mods[1] == Module(name="kdump_crash", size=16384, address="ffffffffc0531040",
                             base="ffffffffc052f000", object_file=None,
                             debuginfo="CONFIG_KALLSYMS")
    # the exception RIP lies in kdump_crash's text
    assert int(mods[1].base, 16) <= 0xffffffffc052f07c < int(mods[1].base, 16) + mods[1].size
    assert len(cp.parse_mod(read("sysrq-8.0.6", "mod.txt"))) == 6


def test_mod_header_variants() -> None:
    old = ("     MODULE       NAME                   SIZE  OBJECT FILE\n"
           "ffffffffa0002000  virtio_ring           24576  (not loaded)  [CONFIG_KALLSYMS]\n"
           "ffffffffa0010000  ext4                 589824  /lib/modules/ext4.ko \n")
    assert cp.parse_mod(old) == [
        Module(name="virtio_ring", size=24576, address="ffffffffa0002000",
               debuginfo="CONFIG_KALLSYMS"),
        Module(name="ext4", size=589824, address="ffffffffa0010000",
               object_file="/lib/modules/ext4.ko")]
    text_base = ("     MODULE       NAME         TEXT_BASE         SIZE  OBJECT FILE\n"
                 "ffffffffc0531040  kdump_crash  ffffffffc052f000  16384  (not loaded)\n")
    assert cp.parse_mod(text_base)[0].base == "ffffffffc052f000"
    # no header: BASE is recognised by its width
    headless = "ffffffffc0531040  kdump_crash  ffffffffc052f000  16384  (not loaded)\n"
    assert cp.parse_mod(headless)[0].size == 16384
    assert cp.parse_mod("") == []
    assert cp.parse_mod("ffffffffc0531040  kdump_crash  ffffffffc052f000\n") == []
    assert cp.parse_mod("mod: cannot access vmalloc'd module memory\n") == []

"""The console patterns of the cycle, on the real console of a sysrq run
(tests/data/sysrq-x86_64/console.raw)."""

from __future__ import annotations

import pytest

from pytest_kdump import detect

RELEASE = "6.1.0-56-cloud-amd64"


def test_crash_headline_real(console: str) -> None:
    assert detect.crash_headline(console) == "Kernel panic - not syncing: sysrq triggered crash"
    assert [m.group(1) for m in detect.PANIC_RE.finditer(console)] == ["sysrq triggered crash"]


def test_kernel_banners_real(console: str) -> None:
    banners = list(detect.KERNEL_BANNER_RE.finditer(console))
    # the production kernel at power-on, the crash kernel after the panic
    assert [m.group(1) for m in banners] == [RELEASE, RELEASE]
    assert all(m.group(0) == f"[    0.000000] Linux version {RELEASE} " for m in banners)
    panic = detect.PANIC_RE.search(console)
    assert panic is not None
    assert banners[0].start() < panic.start() < banners[1].start()


def test_kernel_banner_without_timestamp() -> None:
    m = detect.KERNEL_BANNER_RE.search("Linux version 6.12.0-rc1+ (user@host) #3 SMP\n")
    assert m is not None and m.group(1) == "6.12.0-rc1+"


def test_kdump_jumps_before_end_of_panic(console: str) -> None:
    # with kdump armed the kernel jumps to the crash kernel: no "end Kernel panic" line
    assert detect.PANIC_END_RE.search(console) is None
    assert detect.PANIC_END_RE.search("---[ end Kernel panic - not syncing: Fatal ]---")


@pytest.mark.parametrize("line, headline", [
    ("[   12.345678] BUG: kernel NULL pointer dereference, address: 0000000000000008\r\n",
     "BUG: kernel NULL pointer dereference, address: 0000000000000008"),
    ("[    3.1] Unable to handle kernel paging request at virtual address dead\r\n",
     "Unable to handle kernel paging request at virtual address dead"),
    ("Internal error: Oops: 96000045 [#1] SMP\n", "Internal error: Oops: 96000045 [#1] SMP"),
    ("kernel BUG at mm/slub.c:435!\n", "kernel BUG at mm/slub.c:435!"),
    ("general protection fault, probably for non-canonical address 0xdead: 0000 [#1]\n",
     "general protection fault, probably for non-canonical address 0xdead: 0000 [#1]"),
    ("sysrq: Trigger a crash\nKernel panic - not syncing: Fatal exception\n",
     "Kernel panic - not syncing: Fatal exception"),
])
def test_crash_headlines(line: str, headline: str) -> None:
    assert detect.crash_headline(line) == headline


def test_no_crash_headline() -> None:
    assert detect.crash_headline("[ 0.1] Linux version 6.1.0\nRun /init as init process\n") \
        is None

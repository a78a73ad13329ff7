"""Tests of the console patterns (pytest_kdump.detect) and of the armed-check parser
(cycle.parse_armed), on the real console of a sysrq run (tests/data/sysrq-x86_64/console.raw)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_kdump import detect
from pytest_kdump.cycle import ArmedState, parse_armed

RAW = Path(__file__).parent / "data" / "sysrq-x86_64" / "console.raw"
RELEASE = "6.1.0-56-cloud-amd64"


@pytest.fixture(scope="module")
def console() -> str:
    return RAW.read_bytes().decode("utf-8", errors="replace")


# --- crash headline, banners, dump recognizer on the real console ---------------------------

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


def test_pytest_kdump_init_recognizer_real(console: str) -> None:
    rec = detect.PYTEST_KDUMP_INIT
    hits = [(i, m) for i, p in enumerate(rec.patterns()) for m in p.finditer(console)]
    assert len(hits) == 1
    index, match = hits[0]
    assert rec.is_success(index)
    assert match.group("size") == "16042942"
    started = [m.group(0) for m in re.finditer(rec.started[0], console)]
    assert started == [f"pytest-kdump: crash kernel {RELEASE} saving vmcore to /dev/vda "
                       "(makedumpfile -c -d 31)"]
    # the crash kernel reports success after it booted
    banners = list(detect.KERNEL_BANNER_RE.finditer(console))
    assert banners[1].start() < match.start()


@pytest.mark.parametrize("name, line, success, group", [
    ("pytest-kdump", "pytest-kdump: DUMP-OK size=123\r\n", True, ("size", "123")),
    ("pytest-kdump", "pytest-kdump: DUMP-FAILED makedumpfile 1 no vmcore written\r\n", False,
     ("why", "makedumpfile 1 no vmcore written")),
    ("kdump-tools", "[  5.1] kdump-tools: saved vmcore in /var/crash/202611270715\n", True,
     ("path", "/var/crash/202611270715")),
    ("kdump-tools", "kdump-tools: failed to save vmcore in /var/crash\n", False,
     ("why", "failed to save vmcore in /var/crash")),
    ("kdump-utils", "kdump: saving vmcore complete\n", True, None),
    ("kdump-utils", "kdump: saving vmcore failed, _exitcode:1\n", False,
     ("why", "saving vmcore failed, _exitcode:1")),
])
def test_recognizers(name: str, line: str, success: bool,
                     group: tuple[str, str] | None) -> None:
    rec = detect.RECOGNIZERS[name]
    found = [(i, m) for i, p in enumerate(rec.patterns()) if (m := p.search(line))]
    assert len(found) == 1
    index, match = found[0]
    assert rec.is_success(index) is success
    if group:
        assert match.group(group[0]) == group[1]


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


# --- diagnose -------------------------------------------------------------------------------

def test_diagnose_real_log_is_clean(console: str) -> None:
    assert detect.diagnose(console) == []


def test_diagnose_out_of_memory() -> None:
    advice = detect.diagnose("[    1.2] Initramfs unpacking failed: write error\n"
                             "[    1.5] Kernel panic - not syncing: Out of memory and no "
                             "killable processes...\n")
    assert len(advice) == 1
    assert "ran out of memory" in advice[0] and "crashkernel=" in advice[0]
    assert detect.diagnose("[  2.0] sh invoked oom-killer: gfp_mask=0xcc0\n"
                           "Out of memory: Killed process 99 (makedumpfile)\n") == advice


def test_diagnose_disk_full() -> None:
    text = ("write_and_check_space: Can't write the dump file(/dump/vmcore.part). "
            "No space left on device\n")
    assert detect.diagnose(text) == [
        "the dump target is full: enlarge the dump disk or lower the dump level"]


def test_diagnose_several() -> None:
    text = ("kexec_file_load failed: Cannot assign requested address\n"
            "makedumpfile: No space left on device\n")
    advice = detect.diagnose(text)
    assert len(advice) == 2
    assert advice[0].startswith("the dump target is full")  # in the table's order
    assert advice[1].startswith("kexec -p failed")


# --- parse_armed on the real armed-check output ---------------------------------------------

def _armed_output(console: str) -> str:
    """The armed check's output as the console shows it: between the KD-BEGIN and KD-END
    markers printed by the shell (the command line's echo spells them KD-''BEGIN)."""
    m = re.search(r"KD-BEGIN-(\d+)\r?\n(.*?)KD-END-\1-(\d+)-", console, re.S)
    assert m is not None and m.group(3) == "0"
    return m.group(2)


EXPECTED_ARMED = ArmedState(
    loaded=True,
    reserved_bytes=128 << 20,
    ram_bytes=(0x9fbff - 0x1000 + 1) + (0x1ffdcfff - 0x100000 + 1),
    region="16000000-1dffffff",
    cmdline="console=ttyS0 crashkernel=128M pytest_kdump.after=poweroff",
    kernel_release=RELEASE,
)


def test_parse_armed_real(console: str) -> None:
    out = _armed_output(console)
    assert out.startswith("loaded=1 size=134217728 release=")
    # Shell.run drops the carriage returns; parse_armed copes with them either way
    state = parse_armed(out.replace("\r", ""))
    assert state == EXPECTED_ARMED
    assert parse_armed(out) == EXPECTED_ARMED
    # the reservation matches the Crash kernel region of /proc/iomem
    start, end = (int(x, 16) for x in state.region.split("-"))
    assert end - start + 1 == state.reserved_bytes
    assert str(state) == "crash kernel loaded; reserved 128 MiB of 511 MiB RAM (16000000-1dffffff)"


def test_parse_armed_not_loaded() -> None:
    out = ("loaded=0 size=0 release=6.1.0-56-cloud-amd64\n"
           "cmdline=console=ttyS0\n"
           "00001000-0009fbff : System RAM\n")
    state = parse_armed(out)
    assert not state.loaded
    assert state.reserved_bytes == 0 and state.region is None
    assert state.cmdline == "console=ttyS0"
    assert state.kernel_release == RELEASE
    assert "NOT loaded" in str(state)


def test_parse_armed_missing_sysfs() -> None:
    # a kernel without CONFIG_KEXEC: cat fails, the values are empty
    out = "loaded= size= release=5.10.0\ncmdline=root=/dev/sda1\n"
    state = parse_armed(out)
    assert (state.loaded, state.reserved_bytes, state.ram_bytes) == (False, 0, 0)
    assert state.kernel_release == "5.10.0"

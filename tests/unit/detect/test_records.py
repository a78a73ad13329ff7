"""Crash records from the real consoles of this project's QEMU runs (tests/data/README.md):
the sysrq run (tests/data/sysrq-x86_64/console.raw, the reference for what the guest prints),
the init-exit run and the crash matrix; and the record's API (str, JSON, excerpt).

Hand-built reports are data files: tests/data/reports (test_reports.py).
"""

from __future__ import annotations

import json
import re

import pytest

from pytest_kdump import detect
from pytest_kdump.detect import CrashRecord, ReportFrame, find_crashes
from tests.helpers import DATA
from tests.unit.detect import reports

RAW = DATA / "sysrq-x86_64" / "console.raw"
RELEASE = "6.1.0-56-cloud-amd64"
HW = "QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014"
# The crash kernel starting (x86 prints no "Starting crashdump kernel"): lines of the real log.
_NULL_DEREF = reports.body("x86_64/null-deref-kdump")
CRASH_KERNEL = _NULL_DEREF[_NULL_DEREF.index("[    0.000000] Linux version"):]


def only(text: str) -> CrashRecord:
    records = find_crashes(text)
    assert len(records) == 1, [str(r) for r in records]
    return records[0]


def names(record: CrashRecord) -> list[str]:
    return [f.name for f in record.frames]


# --- the real sysrq run ------------------------------------------------------------------------

def test_real_sysrq_record(console: str) -> None:
    rec = only(console)
    assert rec.kind == "panic"
    assert rec.headline == "Kernel panic - not syncing: sysrq triggered crash"
    assert rec.message == rec.panic_message == "sysrq triggered crash"
    assert (rec.cpu, rec.pid, rec.comm) == (0, 99, "sh")
    assert rec.taint == "Not tainted" and rec.taint_flags == ""
    assert rec.kdump_loaded and rec.fatal and rec.crash_kernel
    assert rec.end == "kernel-start"  # kdump jumped before "---[ end Kernel panic"
    assert rec.kernel_release == RELEASE
    assert rec.hardware == HW
    assert rec.rip is None  # the only RIP is user space's (RIP: 0033:0x47b7a0)
    assert names(rec)[:5] == ["dump_stack_lvl", "panic", "_printk", "sysrq_handle_crash",
                              "__handle_sysrq"]
    assert rec.frames[2] == ReportFrame("_printk", 0x68, None, reliable=False, size=0x83)
    assert rec.frames[3] == ReportFrame("sysrq_handle_crash", 0x16, None, True, 0x20)
    assert str(rec.frames[4]) == "__handle_sysrq.cold+0x44/0x11c"
    assert names(rec)[-1] == "entry_SYSCALL_64_after_hwframe" and len(rec.frames) == 32
    assert rec.guilty_frame == "sysrq_handle_crash"
    assert rec.signature == "Kernel panic: sysrq triggered crash in sysrq_handle_crash"
    assert rec.modules == []  # a panic prints no module list
    assert (rec.start_line, rec.end_line) == (370, 415)
    lines = console.split("\n")
    assert lines[369].startswith("[    4.414331] Kernel panic")
    assert lines[414].strip() == "[    4.513963]  </TASK>"
    assert lines[415].startswith("[    0.000000] Linux version")
    assert rec.raw.splitlines()[0] == ("[    4.414331] Kernel panic - not syncing: sysrq "
                                       "triggered crash")
    assert "\r" not in rec.raw and len(rec.raw.splitlines()) == 46
    assert rec.context.splitlines()[-2:] == [
        "kdump# echo c > /proc/sysrq-trigger; echo TRIGGER-''RETURNED-$?",
        "[    4.414039] sysrq: Trigger a crash"]  # the ESC[6n of the prompt is gone
    assert rec.timestamp == pytest.approx(4.414331)
    assert not rec.truncated and not rec.corrupted


def test_real_record_str_and_json(console: str) -> None:
    rec = only(console)
    text = str(rec)
    assert text.splitlines()[0] == ("panic (fatal, crash kernel started): Kernel panic: sysrq "
                                    "triggered crash in sysrq_handle_crash")
    assert "CPU 0, PID 99 (sh), Not tainted, 6.1.0-56-cloud-amd64, kdump loaded" in text
    assert "call trace: dump_stack_lvl < panic < sysrq_handle_crash < __handle_sysrq.cold" in text
    assert "console lines 370-415, ended by kernel-start" in text
    data = json.loads(json.dumps(rec.to_dict()))
    assert data["signature"] == rec.signature and data["kind"] == "panic"
    assert data["frames"][3] == {"function": "sysrq_handle_crash", "offset": 22, "module": None,
                                 "reliable": True, "size": 32}
    assert rec.excerpt(3).splitlines()[-1] == "... (43 more lines)"


def test_two_sessions_in_one_log(console: str) -> None:
    # a power cycle: the second production boot (no elfcorehdr=) is not a crash
    records = find_crashes(console + console)
    assert [r.signature for r in records] == [records[0].signature] * 2
    assert records[1].start_line == records[0].start_line + console.count("\n")


def test_nmi_crash_kernel_without_report(console: str) -> None:
    """Derived from the real log: its sysrq report removed, as an NMI panic leaves it (FACTS:
    an NMI panic prints nothing; the crash kernel's banner follows the shell prompt)."""
    lines = console.split("\n")
    nmi = "\n".join(lines[:368] + lines[415:])
    rec = only(nmi)
    assert rec.kind == "unknown"
    assert rec.message == detect.UNKNOWN_REASON
    assert rec.message == ("crash kernel started with no crash report on the console "
                           "(NMI or hard hang?)")
    assert rec.signature == "unknown: crash kernel started with no crash report"
    assert rec.fatal and rec.crash_kernel and rec.kdump_loaded
    assert rec.kernel_release == RELEASE and rec.end == "kernel-start"
    assert rec.headline.startswith(f"Linux version {RELEASE} (debian-kernel")
    assert (rec.start_line, rec.end_line) == (369, 370)
    assert "elfcorehdr=490868K" in rec.raw
    assert rec.context.splitlines()[-1].startswith("kdump# echo c > /proc/sysrq-trigger")
    # the first boot's banner alone is not a crash, nor a reboot into a production kernel
    assert find_crashes("\n".join(lines[:368])) == []



# --- console noise ---------------------------------------------------------------------------

def test_prefixes_escapes_and_interleaved_shell(console: str) -> None:
    rec = only(console)
    # caller ids ([T99]), no CR, escape sequences and shell output in the middle of the report
    noisy = []
    for i, line in enumerate(rec.raw.splitlines()):
        line = re.sub(r"^(\[\s*\d+\.\d+\])", r"\1[    T99]", line)
        noisy.append(line + "\r")
        if i == 5:
            noisy.append("kdump# \x1b[6nTRIGGER-RETURNED-0\r")
    text = "\n".join(noisy) + "\n" + CRASH_KERNEL
    got = only(text)
    assert got.signature == rec.signature and got.pid == 99 and got.frames == rec.frames
    # no timestamps at all (printk.time=0), a prompt before the panic line
    bare = "\n".join(re.sub(r"^\[\s*\d+\.\d+\] ", "", line) for line in rec.raw.splitlines())
    bare = "kdump# \x1b[6n" + bare + "\nLinux version 6.1.0 (x@y) #1\nCommand line: elfcorehdr=1K\n"
    got = only(bare)
    assert got.headline == rec.headline and got.signature == rec.signature
    assert got.timestamp is None and got.crash_kernel



# --- the other real runs ---------------------------------------------------------------------

def test_real_init_exit_log() -> None:
    """A second real crash kind from this project's QEMU runs (tests/data/README.md)."""
    raw = (DATA / "init-exit-x86_64" / "console.raw").read_bytes()
    records = find_crashes(raw.decode("utf-8", "replace"))
    assert len(records) == 1, records
    rec = records[0]
    assert rec.kind == "panic" and rec.fatal and rec.kdump_loaded
    assert rec.message.startswith("Attempted to kill init! exitcode=0x00000000")
    assert (rec.pid, rec.comm) == (1, "init")
    assert rec.guilty_frame == "do_exit"
    assert rec.signature == "Kernel panic: Attempted to kill init! exitcode=0x00000000 in do_exit"


def test_a_stale_fault_below_the_trace_names_nothing() -> None:
    """The same init exit from a CI run (tests/data/README.md): below the syscall entry the
    trace shows stale '?' words, among them ``asm_exc_page_fault`` and ``__put_user_nocheck_8``,
    a fault long returned from. It is not this report's fault: the guilty frame stays
    ``do_exit``. The file is the test's console.log, host stamps in front of every line."""
    log = (DATA / "init-exit-x86_64-stale-fault" / "console.log").read_text()
    stripped = "\n".join(line.partition("] ")[2] for line in log.splitlines())
    for text in (log, stripped):
        records = find_crashes(text)
        assert [(r.kind, r.guilty_frame) for r in records] == [("panic", "do_exit")], records
        frames = [f.function for f in records[0].frames if not f.reliable]
        assert frames[5:7] == ["asm_exc_page_fault", "__put_user_nocheck_8"], frames
    assert records[0].signature == (
        "Kernel panic: Attempted to kill init! exitcode=0x00000000 in do_exit")


def test_a_crash_kernel_is_known_by_its_second_command_line() -> None:
    """The NMI in the matrix is seen only as a crash kernel starting (elfcorehdr= on its
    command line). Bytes get lost early in a boot's first console burst (the recorded matrix
    itself reads "st_kdump.after" on line 11): with elfcorehdr cut out of the first command
    line, x86's second one, "Kernel command line:", still tells."""
    import gzip

    raw = gzip.decompress((RAW.parents[1] / "matrix-x86_64" / "console.raw.gz").read_bytes())
    text = raw.decode("utf-8", "replace")
    cut = re.sub(r"(\] Command line: .*?)elfcorehdr=\d+K", r"\1elfco", text)
    assert cut.count("elfcorehdr=") == text.count("elfcorehdr=") // 2
    assert ([r.signature for r in find_crashes(cut)]
            == [r.signature for r in find_crashes(text)])


def test_a_prompt_before_a_kernel_line_in_a_tests_console_log() -> None:
    """In a console.log a shell prompt may come before the kernel's line, host stamp first."""
    log = (DATA / "init-exit-x86_64-stale-fault" / "console.log").read_text()
    assert "\n[   46.939] [    5.443184] Kernel panic" in log
    log = log.replace("] [    5.443184] Kernel panic", "] kdump# [    5.443184] Kernel panic")
    records = find_crashes(log)
    assert [(r.kind, r.timestamp) for r in records] == [("panic", 5.443184)], records


def test_real_matrix_log() -> None:
    """Every crash kind the matrix produces, from one real session console (tests/data)."""
    import gzip

    raw = gzip.decompress((RAW.parents[1] / "matrix-x86_64" / "console.raw.gz").read_bytes())
    records = find_crashes(raw.decode("utf-8", "replace"))
    assert [(r.kind, r.signature) for r in records] == [
        ("panic", "Kernel panic: sysrq triggered crash in sysrq_handle_crash"),
        ("panic", "Kernel panic: Attempted to kill init! exitcode=0x00000000 in do_exit"),
        ("unknown", "unknown: crash kernel started with no crash report"),
        ("panic", "Kernel panic: kdump_crash: panic in kdump_crash_panic"),
        ("bug", "kernel BUG in kdump_crash_bug"),
        ("null-deref", "BUG: kernel NULL pointer dereference in kdump_crash_null"),
        ("warning", "WARNING in kdump_crash_warn"),
        ("divide-error", "divide error in kdump_crash_divide"),
        ("null-deref", "BUG: kernel NULL pointer dereference in kdump_crash_timer_fn"),
        ("soft-lockup", "soft lockup in kdump_crash_spin"),
        ("hung-task", "task hung in kdump_crash_hang"),
        ("panic", "Kernel panic: sysrq triggered crash in sysrq_handle_crash"),
    ]
    assert all(r.kdump_loaded and r.fatal for r in records)
    modules = [r for r in records if r.guilty_frame and r.guilty_frame.startswith("kdump_crash")]
    assert len(modules) == 8
    oopses = [r for r in modules if r.kind in ("bug", "null-deref", "divide-error", "warning")]
    assert len(oopses) == 5 and all("kdump_crash" in r.modules for r in oopses)

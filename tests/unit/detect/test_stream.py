"""The stream detector: chunking, completion (feed, idle, pending, flush), reset, limits and
speed. What it finds in each report is checked by test_reports.py."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pytest_kdump import detect
from pytest_kdump.detect import CrashRecord, StreamDetector, find_crashes
from tests.helpers import DATA
from tests.unit.detect import reports

RAW = DATA / "sysrq-x86_64" / "console.raw"
_NULL_DEREF = reports.body("x86_64/null-deref-kdump")
CRASH_KERNEL = _NULL_DEREF[_NULL_DEREF.index("[    0.000000] Linux version"):]


@pytest.fixture(scope="module")
def console() -> str:
    return RAW.read_bytes().decode("utf-8", errors="replace")


def stamp(body: str, t: float = 31.0, step: float = 0.000173) -> str:
    """``body``'s lines as the serial console shows them: kernel timestamps and CRLF."""
    out = []
    for line in body.strip("\n").split("\n"):
        out.append(f"[{t:12.6f}] {line}")
        t += step
    return "\r\n".join(out) + "\r\n"


def in_chunks(text: str, sizes: list[int], seed: int) -> list[CrashRecord]:
    """What a detector fed ``text`` in chunks of random ``sizes`` returns, flush included."""
    rng = random.Random(seed)
    detector = StreamDetector()
    got: list[CrashRecord] = []
    pos = 0
    while pos < len(text):
        size = rng.choice(sizes)
        got += detector.feed(text[pos:pos + size])
        pos += size
    return got + detector.flush()


# --- chunks ------------------------------------------------------------------------------------

def test_real_log_in_random_chunks(console: str) -> None:
    expected = find_crashes(console)
    for seed in range(5):
        assert in_chunks(console, [1, 2, 3, 7, 64, 500, 4096], seed) == expected


@pytest.mark.parametrize("path", reports.files(), ids=reports.name)
def test_report_files_in_random_chunks(path: Path) -> None:
    text = reports.read(path).body
    expected = find_crashes(text)
    for seed in range(3):
        assert in_chunks(text, [1, 2, 3, 7, 64, 500, 4096], seed) == expected


def test_everything_in_one_stream(console: str) -> None:
    names = ["x86_64/no-crash-two-production-boots", "x86_64/null-deref-kdump",
             "x86_64/kernel-bug-not-fatal", "x86_64/gpf-panic-on-oops", "x86_64/warning-not-fatal",
             "x86_64/kasan-not-fatal", "x86_64/ubsan-not-fatal", "x86_64/kfence-not-fatal",
             "x86_64/soft-lockup-panic-kdump", "x86_64/hard-lockup-panic",
             "x86_64/no-crash-two-production-boots", "x86_64/hung-task-panic-kdump",
             "x86_64/rcu-stall-panic-kdump", "x86_64/stack-protector-kdump",
             "arm64/null-deref-kdump"]
    # (shell lines after the UBSAN report: its closing ==== line is not KFENCE's opening one)
    text = console + "".join(reports.body(name) + ("y\r\n" * 12 if "ubsan" in name else "")
                             for name in names)
    expected = find_crashes(text)
    assert [r.kind for r in expected] == [
        "panic", "null-deref", "bug", "gpf", "warning", "kasan", "ubsan", "kfence",
        "soft-lockup", "hard-lockup", "hung-task", "rcu-stall", "stack-protector", "null-deref"]
    assert in_chunks(text, list(range(1, 3001)), 7) == expected


# --- when a record completes -------------------------------------------------------------------

def test_record_completes_at_the_crash_kernel_banner(console: str) -> None:
    """The cycle can leave the crash wait as soon as the crash kernel's first line arrives."""
    banner = console.index("[    0.000000] Linux version", console.index("sysrq triggered"))
    detector = StreamDetector()
    assert detector.feed(console[:banner]) == []
    assert detector.in_report
    snapshot = detector.pending()
    assert [r.signature for r in snapshot] == [
        "Kernel panic: sysrq triggered crash in sysrq_handle_crash"]
    assert snapshot[0].end == "eof"
    eol = console.index("\n", banner) + 1
    assert detector.feed(console[banner:eol - 1]) == []  # records complete at line ends
    done = detector.feed(console[eol - 1:eol])
    assert [r.end for r in done] == ["kernel-start"] and done[0].crash_kernel
    assert not detector.in_report and detector.pending() == []
    assert detector.feed(console[eol:]) == [] and detector.flush() == []


def test_console_stops_after_the_panic(console: str) -> None:
    cut = console.index("[    4.447517]")
    detector = StreamDetector()
    assert detector.feed(console[:cut]) == []
    (rec,) = detector.flush()
    assert rec.end == "eof" and rec.fatal and not rec.crash_kernel
    assert rec.signature == "Kernel panic: sysrq triggered crash in sysrq_handle_crash"


def test_arm64_record_completes_before_the_crash_kernel_banner() -> None:
    # arm64 says "Starting crashdump kernel..." before ~7 s of silence and the banner
    text = reports.body("arm64/unknown-starting-crashdump-kernel")
    detector = StreamDetector()
    first = detector.feed(text[:text.index("Bye!")])
    assert [r.kind for r in first] == ["unknown"] and first[0].end == "crashdump-start"
    assert detector.feed(text[text.index("Bye!"):]) + detector.flush() == []  # banner claimed


def test_a_crash_kernel_known_by_its_second_command_line() -> None:
    """A crash kernel that starts with no report before it (an NMI) is known by elfcorehdr=
    on its command line. x86 prints the line twice; when bytes were lost in the first, the
    second ("Kernel command line:") counts, and a "WARNING:" line in between that is no
    report (not under a ==== line) changes nothing. A normal boot's two lines make nothing."""
    cmdline = next(line for line in CRASH_KERNEL.splitlines() if "] Command line: " in line)
    second = cmdline.replace("[    0.000000] Command", "[    0.061234] Kernel command")
    cut = CRASH_KERNEL.replace("elfcorehdr=", "elfco", 1)
    warning = "[    0.050000] WARNING: the mand mount option is being deprecated\n"
    for text in (CRASH_KERNEL, cut + second, cut + warning + second):
        records = find_crashes(text)
        assert [(r.kind, r.end) for r in records] == [("unknown", "kernel-start")], text[-300:]
    assert find_crashes(cut) == []
    normal = cut.replace(" elfco", " ") + second.replace(" elfcorehdr=", " ")
    assert "elfco" not in normal and find_crashes(normal) == []


def test_idle_completes_an_ended_report() -> None:
    # an oops without panic_on_oops: after "end trace" a follow-up panic may still come; when
    # the console goes quiet, idle() completes the report at once
    kernel_bug = reports.body("x86_64/kernel-bug-not-fatal")
    text = kernel_bug[:kernel_bug.index("Segmentation fault")]
    detector = StreamDetector()
    assert detector.feed(text) == [] and detector.in_report
    assert [r.end for r in detector.pending()] == ["end-trace"]
    (rec,) = detector.idle()
    assert rec.signature == "kernel BUG in foo_check_state" and not rec.fatal
    assert detector.feed(kernel_bug[len(text):]) + detector.flush() == []
    # an open report (no end seen) is left alone
    detector = StreamDetector()
    soft_lockup = reports.body("x86_64/soft-lockup-panic-kdump")
    detector.feed(soft_lockup[:soft_lockup.index("Call Trace")])
    assert detector.idle() == [] and detector.in_report



# --- reset, limits, speed ----------------------------------------------------------------------

def test_reset(console: str) -> None:
    detector = StreamDetector()
    detector.feed(console[:console.index("  panic+0x118")])
    assert detector.in_report and detector.lines > 300
    detector.reset()
    assert not detector.in_report and detector.lines == 0 and detector.flush() == []


def test_raw_text_is_capped() -> None:
    frames = "\n".join(f" deep_recursion_{i}+0x1c/0x40 [loopmod]" for i in range(3000))
    text = stamp(f"Kernel panic - not syncing: too deep\nCall Trace:\n <TASK>\n{frames}\n </TASK>")
    (rec,) = find_crashes(text + CRASH_KERNEL)
    assert rec.truncated and len(rec.raw) <= detect.MAX_RAW
    assert rec.end_line == 3004 and rec.signature == "Kernel panic: too deep in deep_recursion_0"


def test_five_megabytes_of_boot_log_hold_no_crash(console: str) -> None:
    boot = "\n".join(console.split("\n")[8:360]) + "\n"  # the real production boot
    text = boot * (5_000_000 // len(boot) + 1)
    assert len(text) >= 5_000_000
    detector = StreamDetector()
    found = []
    for pos in range(0, len(text), 4096):
        found += detector.feed(text[pos:pos + 4096])
    found += detector.flush()
    assert found == []
    assert detector.lines == text.count("\n")  # (its speed is a bench figure, not a test)

"""The analysis of a dump that is the crashed kernel's log only (the ``serial`` transport): the
panic, the crashing task and the backtrace, read from the crash report in that log by the
console detector (:mod:`pytest_kdump.detect`).

The same :class:`~.model.Analysis` as crash and drgn fill, with ``backend`` ``"dmesg"``; what
only a vmcore holds (the task list, the modules, crash's other ``sys`` keys) stays empty, and
``flags`` has ``DMESG ONLY``. The crashing task's backtrace is the report's: its faulting
location (``RIP:``, arm64 ``pc :``) as the ``exception`` frame 0, as crash shows it, then the
call trace without the unwinder's unreliable (``?``) frames.
"""

from __future__ import annotations

import time
from pathlib import Path

from pytest_kdump import symbols
from pytest_kdump.analysis.model import Analysis, Frame, Task
from pytest_kdump.detect import KERNEL_BANNER_RE, PANIC_RE, CrashRecord, find_crashes
from pytest_kdump.errors import AnalysisError

BACKEND = "dmesg"
TOOL = "pytest-kdump console detector"


def chosen_record(records: list[CrashRecord]) -> CrashRecord | None:
    """The report that killed the kernel: the first fatal one, else the last one."""
    for record in records:
        if record.fatal or record.panic_message is not None:
            return record
    return records[-1] if records else None


def analyze_dmesg(path: Path, note: str | None = None,
                  vmlinux: Path | None = None) -> Analysis:
    """The analysis of the kernel log in ``path`` (``vmcore-dmesg.txt``); ``note`` goes into
    its warnings (e.g. that the crash kernel sent only the log's end). With the debug
    ``vmlinux``, frames printed past a noreturn call get their real caller's name
    (:func:`~pytest_kdump.symbols.fix_noreturn_frames`: arm64's sysrq panic). AnalysisError
    when the log holds no crash report."""
    started = time.monotonic()
    text = Path(path).read_text(errors="replace")
    records = find_crashes(text)
    record = chosen_record(records)
    if record is not None and vmlinux is not None:
        table = symbols.function_table(Path(vmlinux))
        if table is not None:
            symbols.fix_noreturn_frames(record, table)
    if record is None:
        tail = "\n".join(text.splitlines()[-15:])
        raise AnalysisError(f"the kernel log {path.name} ({len(text)} characters) holds no "
                            "crash report", phase="analysis",
                            advice="the log may have been cut to its size limit before the "
                                   "report (raise pytest_kdump.serial_limit=), or the crash "
                                   "left no report (an NMI or a hard hang)",
                            console_tail=tail, log_path=Path(path))
    panics = PANIC_RE.findall(text)
    banner = KERNEL_BANNER_RE.search(text)
    release = record.kernel_release or (banner.group(1) if banner else "")
    task = None
    if record.pid is not None and record.comm is not None:
        task = Task(pid=record.pid, command=record.comm, cpu=record.cpu, active=True)
    frames: list[Frame] = []
    if record.rip is not None:
        frames.append(Frame(level=0, function=record.rip.function, module=record.rip.module,
                            exception=True, offset=record.rip.offset))
    trace = [f for f in record.frames if f.reliable]
    if frames and trace and trace[0].function == frames[0].function:
        trace = trace[1:]  # arm64's call trace starts at the faulting function too
    frames += [Frame(level=len(frames) + i, function=f.function, module=f.module,
                     offset=f.offset) for i, f in enumerate(trace)]
    flags = ["DMESG ONLY"]
    if record.taint_flags:
        flags.append("TAINTED")
    warnings = [f"no vmcore: this analysis is read from the kernel log ({TOOL})"]
    if note:
        warnings.append(note)
    return Analysis(
        kernel_release=release,
        panic_message=record.panic_message or (panics[-1].strip() if panics else ""),
        crashing_task=task, backtrace=frames, tasks=[],
        tool_version=TOOL, seconds=round(time.monotonic() - started, 3), backend=BACKEND,
        modules=[], log=text, flags=flags,
        sys={"RELEASE": release, "PANIC": record.panic_message or "",
             "SIGNATURE": record.signature},
        warnings=warnings, outputs={"dmesg": text})

"""The drgn analysis backend: open vmlinux + vmcore with drgn and fill the same
:class:`~.model.Analysis` the crash backend fills, so that tests can use either and compare.

drgn reads the dump in-process (~0.3 s with the debug vmlinux, against crash's ~6 s). What it
gives differs from crash in places (see :func:`analyze_drgn`): the backtrace starts at the
registers the kernel saved for kdump, so a panic trace starts at ``__crash_kexec`` (crash:
``machine_kexec``) and an oops trace starts at the faulting instruction (crash also shows the
oops/page-fault frames above it).
"""

from __future__ import annotations

import gc
import mmap
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_kdump.analysis.model import Analysis, Frame, Module, Task
from pytest_kdump.errors import AnalysisError, ToolError
from pytest_kdump.vmcore import check_inputs

if TYPE_CHECKING:
    import drgn

__all__ = ["analyze_drgn", "available", "panic_from_log", "STATE_CODES"]

INSTALL_ADVICE = "pip install 'pytest-kdump[drgn]'"
DEBUG_ADVICE = ("give the debug vmlinux (with DWARF debug info) of exactly the kernel build "
                "that wrote the dump: linux-image-<release>-dbg's "
                "/usr/lib/debug/boot/vmlinux-<release>, not the compressed vmlinuz")
MISMATCH_ADVICE = ("the vmlinux does not match the kernel that wrote the vmcore: use the debug "
                   "vmlinux of exactly that kernel build (linux-image-<release>-dbg)")

# drgn's one-letter task states (task_state_to_char) -> crash's two-letter ps codes
STATE_CODES = {"R": "RU", "S": "IN", "D": "UN", "I": "ID", "Z": "ZO", "T": "ST", "t": "TR",
               "X": "DE", "P": "PA", "N": "NE", "W": "WA"}

# Functions of the kdump path: a trace starting there was saved by panic, not by a fault.
_KDUMP_PATH = {"crash_setup_regs", "__crash_kexec", "crash_kexec", "machine_kexec",
               "crash_save_cpu", "panic"}

_PANIC_RE = re.compile(r"Kernel panic - not syncing: ?(.*)")
# An oops header: "Oops: 0002 [#1] ...", "invalid opcode: 0000 [#1] ...", "general protection
# fault, ...: 0000 [#1] ...", arm64's "Internal error: Oops: 96000005 [#1] ..."
_OOPS_RE = re.compile(r"\S.*: [0-9a-f]{4,16} \[#\d+\].*")
_BUG_AT_RE = re.compile(r"kernel BUG at .*")


def available() -> str | None:
    """None if drgn can be imported, else why not (for ``supports`` checks and skips)."""
    try:
        import drgn  # noqa: F401
    except ImportError as exc:
        return f"drgn is not installed ({exc}): {INSTALL_ADVICE}"
    return None


def panic_from_log(lines: list[str]) -> tuple[str, str]:
    """(message, crash-style ``sys`` PANIC value) found in the kernel log lines (no timestamps).

    Like crash: the ``Kernel panic - not syncing:`` message (without that prefix) first; else
    the last oops header (``Oops: ...``, ``invalid opcode: ... [#1]``...), or the ``kernel BUG
    at`` line just before it; ``("", "")`` when there is neither.
    """
    for line in lines:
        if m := _PANIC_RE.search(line):
            return m.group(1).strip(), f'"{m.group(0).strip()}"'
    for i in range(len(lines) - 1, -1, -1):
        if m := _OOPS_RE.search(lines[i]):
            if i and (bug := _BUG_AT_RE.search(lines[i - 1])):
                return bug.group(0).strip(), f'"{bug.group(0).strip()}"'
            head = m.group(0).strip()
            return head, f'"{head}" (check log for details)'
    return "", ""


def _drgn_errors(drgn: Any) -> tuple[type[Exception], ...]:
    """drgn's own exception classes (they have no common base but Exception)."""
    return tuple(getattr(drgn, n) for n in ("FaultError", "BadDataError", "ObjectAbsentError",
                                             "OutOfBoundsError", "MissingDebugInfoError")
                 if hasattr(drgn, n))


def _hex(value: int) -> str:
    return f"{value:x}"


def _open(vmlinux: Path, vmcore: Path) -> drgn.Program:
    """A drgn Program on the dump with the vmlinux's debug info (AnalysisError if unusable)."""
    import drgn

    prog = drgn.Program()
    try:
        prog.set_core_dump(str(vmcore))
    except (ValueError, OSError, *_drgn_errors(drgn)) as exc:
        raise AnalysisError(f"drgn cannot open {vmcore}: {exc}", phase="analysis",
                            advice="check that the vmcore is a kernel dump (makedumpfile "
                                   "output) of a complete kdump cycle") from None
    try:
        prog.load_debug_info([str(vmlinux)])
    except drgn.MissingDebugInfoError:
        pass  # modules without debug info: expected; the kernel is checked below
    except (ValueError, OSError, *_drgn_errors(drgn)) as exc:
        raise AnalysisError(f"drgn cannot load {vmlinux}: {exc}", phase="analysis",
                            advice=DEBUG_ADVICE) from None
    try:
        main = prog.main_module()
    except LookupError:
        main = None
    if main is not None and main.debug_file_status != drgn.ModuleFileStatus.HAVE:
        # drgn skips a file whose build ID differs from the dump's: is that the reason?
        main.try_file(str(vmlinux), force=True)
        if main.debug_file_status == drgn.ModuleFileStatus.HAVE:
            want = main.build_id.hex() if main.build_id else "unknown"
            raise AnalysisError(f"vmlinux does not match the dump: the build ID of {vmlinux} "
                                f"is not the dump's ({want})", phase="analysis",
                                advice=MISMATCH_ADVICE)
    if main is None or main.debug_file_status != drgn.ModuleFileStatus.HAVE:
        raise AnalysisError(f"{vmlinux} has no debug info (not a debug vmlinux)",
                            phase="analysis", advice=DEBUG_ADVICE)
    _check_banner(prog, vmlinux)
    _cover_init_sections(prog)
    _add_module_kallsyms(prog)
    return prog


def _check_banner(prog: drgn.Program, vmlinux: Path) -> None:
    """AnalysisError unless the dump's linux_banner is in the vmlinux file.

    drgn checks the build ID only, which a rebuild with another date may keep; crash
    compares the banners too.
    """
    banner = prog["linux_banner"].string_()
    with open(vmlinux, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        found = mm.find(banner) >= 0
    if not found:
        raise AnalysisError(
            f"vmlinux does not match the dump: the dump's banner "
            f"{banner.decode(errors='replace').strip()!r} is not in {vmlinux}", phase="analysis",
            advice=MISMATCH_ADVICE)


def _cover_init_sections(prog: drgn.Program) -> None:
    """Give each drgn module all its memory regions, init sections included.

    drgn 0.3.0 maps a kernel module to its core region only, so a pc in a module's init
    code (an oops in ``module_init``) belongs to no module: no ORC, and the trace stops.
    """
    from drgn.helpers.linux.module import for_each_module, module_address_regions

    for mod in for_each_module(prog):
        name = mod.name.string_().decode()
        regions = sorted((start, start + size)
                         for start, size in module_address_regions(mod) if size)
        try:
            prog.module(name).address_ranges = regions
        except (LookupError, ValueError):
            pass  # no drgn module for it, or overlapping ranges: keep drgn's own


def _add_module_kallsyms(prog: drgn.Program) -> None:
    """Names for module code from the modules' kallsyms in the dump (no .ko needed)."""
    try:
        from drgn.helpers.linux.kallsyms import load_module_kallsyms

        prog.register_symbol_finder("module_kallsyms", load_module_kallsyms(prog),
                                    enable_index=-1)
    except (ImportError, LookupError, ValueError):
        pass  # older drgn or a kernel without module kallsyms: addresses only


def _frames(prog: drgn.Program, trace: drgn.StackTrace) -> list[Frame]:
    """One Frame per real stack frame, innermost first.

    drgn lists inlined calls as frames of their own (same pc); they are folded into the
    function they were inlined in, whose ELF symbol names the frame (``__handle_sysrq.cold``,
    as crash says). Frames in user space end the list. Where crash differs: it starts at
    ``machine_kexec``; on an NMI it skips ``nmi_panic.cold`` and names asm labels by the
    nearest preceding symbol (``end_repeat_nmi`` where drgn says ``asm_exc_nmi``).
    """
    frames: list[Frame] = []
    inline: list[str] = []
    for f in trace:
        if f.is_inline:
            inline.append(f.name or "")
            continue
        names, inline = [*inline, f.name or ""], []
        if f.pc < 1 << (prog.address_size() * 8 - 1):
            break  # user space (crash prints its registers, not a frame)
        try:
            sym = f.symbol()
            function, offset = sym.name, f.pc - sym.address
        except LookupError:
            function, offset = f.name or _hex(f.pc), None
        try:
            filename, line, _ = f.source()
            source: str | None = f"{filename}:{line}"
        except LookupError:
            source = None
        try:
            module = prog.module(f.pc).name
        except LookupError:
            module = None
        try:
            stack: str | None = _hex(f.sp)
        except LookupError:  # unwound through frame pointers (module code without CFI)
            stack = None
        exception = f.interrupted and not (not frames and _KDUMP_PATH & set(names))
        registers = ({k.upper(): f"{v:016x}" for k, v in f.registers().items()}
                     if exception else {})
        frames.append(Frame(level=len(frames), function=function, address=_hex(f.pc),
                            module=None if module in (None, "kernel") else module,
                            exception=exception, offset=offset,
                            stack=stack,
                            source=source, registers=registers))
    return frames


def _task(prog: drgn.Program, task: drgn.Object, active: bool = False) -> Task:
    from drgn.helpers.linux.sched import task_cpu, task_state_to_char

    letter = task_state_to_char(task)
    return Task(pid=task.pid.value_(), command=task.comm.string_().decode(errors="replace"),
                cpu=task_cpu(task), task=_hex(task.value_()),
                state=STATE_CODES.get(letter, letter), ppid=task.real_parent.pid.value_(),
                active=active, kernel_thread=not task.mm)


def _tasks(prog: drgn.Program) -> list[Task]:
    """Every task, as crash's ``ps``: the per-CPU idle tasks (PID 0), then by PID."""
    from drgn.helpers.linux.cpumask import for_each_online_cpu, for_each_possible_cpu
    from drgn.helpers.linux.pid import for_each_task
    from drgn.helpers.linux.sched import cpu_curr, idle_task

    current = {cpu_curr(prog, cpu).value_() for cpu in for_each_online_cpu(prog)}
    idle = [idle_task(prog, cpu) for cpu in for_each_possible_cpu(prog)]
    others = sorted(for_each_task(prog), key=lambda t: t.pid.value_())
    return [_task(prog, t, t.value_() in current)
            for t in [*idle, *(t for t in others if t.pid.value_())]]


def _modules(prog: drgn.Program) -> list[Module]:
    from drgn.helpers.linux.module import for_each_module

    modules = []
    for mod in for_each_module(prog):
        try:
            base, size = mod.core_layout.base.value_(), mod.core_layout.size.value_()
        except AttributeError:  # Linux >= 6.4: mem[MOD_TEXT..MOD_RO_AFTER_INIT]
            base = mod.mem[0].base.value_()
            size = sum(mod.mem[i].size.value_() for i in range(4))
        modules.append(Module(name=mod.name.string_().decode(), size=size,
                              address=_hex(mod.value_()), base=_hex(base)))
    return sorted(modules, key=lambda m: int(m.address or "0", 16))


def _ps_text(tasks: list[Task]) -> str:
    rows = ["      PID    PPID  CPU       TASK        ST  COMM"]
    for t in tasks:
        comm = f"[{t.command}]" if t.kernel_thread else t.command
        rows.append(f"{'>' if t.active else ' '}{t.pid:>8} {t.ppid:>7} {t.cpu:>3}  "
                    f"{t.task:>16}  {t.state}  {comm}")
    return "\n".join(rows)


def _mod_text(modules: list[Module]) -> str:
    rows = ["     MODULE       NAME                         BASE         SIZE"]
    rows += [f"{m.address:>16}  {m.name:<22} {m.base:>16} {m.size:>6}" for m in modules]
    return "\n".join(rows)


def analyze_drgn(vmlinux: Path, vmcore: Path, *, out_dir: Path | None = None) -> Analysis:
    """Analyse the dump with drgn: the same :class:`~.model.Analysis` as the crash backend.

    Raises ToolError when drgn is not installed, VmcoreError for a truncated or damaged
    vmcore, AnalysisError for missing inputs, a vmlinux without debug info or of another
    build, and whatever drgn itself cannot read.
    """
    started = time.monotonic()
    if (reason := available()) is not None:
        raise ToolError(reason, phase="analysis", advice=INSTALL_ADVICE)
    import drgn

    vmlinux, vmcore = Path(vmlinux), Path(vmcore)
    check_inputs(vmlinux, vmcore)
    try:
        return _analyze(drgn, vmlinux, vmcore, out_dir, started)
    except (LookupError, ValueError, OSError, *_drgn_errors(drgn)) as exc:
        raise AnalysisError(f"drgn failed on {vmcore.name}: {type(exc).__name__}: {exc}",
                            phase="analysis",
                            advice="check that the vmlinux and vmcore belong together; "
                                   "drgn's message says what it could not read") from None
    finally:
        # the Program and its module-kallsyms symbol finder form a reference cycle: without
        # a collection each analysis kept ~200 MB and the vmcore open (measured by bench/soak)
        gc.collect()


def _analyze(drgn: Any, vmlinux: Path, vmcore: Path, out_dir: Path | None,
             started: float) -> Analysis:
    from drgn.helpers.linux.cpumask import num_online_cpus
    from drgn.helpers.linux.panic import tainted
    from drgn.helpers.linux.printk import get_dmesg
    from drgn.helpers.linux.sched import loadavg

    prog = _open(vmlinux, vmcore)
    warnings: list[str] = []
    thread = prog.crashed_thread()
    stack = thread.stack_trace()
    backtrace = _frames(prog, stack)
    crashing = _task(prog, thread.object, active=True)
    tasks = _tasks(prog)
    modules = _modules(prog)
    log = get_dmesg(prog).decode(errors="replace")
    lines = [re.sub(r"^\[[^\]]*\] ?", "", line) for line in log.splitlines()]
    message, panic_field = panic_from_log(lines)
    if not message:
        from drgn.helpers.linux.panic import panic_message

        found = panic_message(prog)
        message = found.decode(errors="replace") if found else ""
        panic_field = f'"{message}"' if message else ""
        warnings.append("no panic or oops message in the kernel log")
    uts = prog["init_uts_ns"].name
    release = uts.release.string_().decode()
    sys_fields = {
        "KERNEL": str(vmlinux), "DUMPFILE": str(vmcore),
        "CPUS": str(num_online_cpus(prog)),
        "LOAD AVERAGE": ", ".join(f"{x:.2f}" for x in loadavg(prog)),
        "TASKS": str(len(tasks)), "NODENAME": uts.nodename.string_().decode(),
        "RELEASE": release, "VERSION": uts.version.string_().decode(),
        "MACHINE": uts.machine.string_().decode(), "PANIC": panic_field,
    }
    flags = ["TAINTED"] if tainted(prog) else []
    bt_text = str(stack)
    outputs = {"bt": bt_text, "ps": _ps_text(tasks), "mod": _mod_text(modules),
               "sys": "\n".join(f"{k:>12}: {v}" for k, v in sys_fields.items()),
               "dmesg": log}
    analysis = Analysis(
        kernel_release=release, panic_message=message, crashing_task=crashing,
        backtrace=backtrace, tasks=tasks, tool_version=drgn.__version__,
        seconds=round(time.monotonic() - started, 2), backend="drgn", modules=modules,
        log=log, flags=flags, sys=sys_fields, warnings=warnings, outputs=outputs)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "drgn-summary.txt").write_text(
            f"{outputs['sys']}\n\nPID: {crashing.pid}  TASK: {crashing.task}  "
            f"CPU: {crashing.cpu}  COMMAND: {crashing.command!r}\n{bt_text}\n\n"
            f"{outputs['ps']}\n\n{outputs['mod']}\n")
    return analysis

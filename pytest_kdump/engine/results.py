"""The engine's results: the board's state, phase timings, the armed state, crashes seen, a
fetched dump."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pytest_kdump.detect import CrashRecord
from pytest_kdump.errors import ConfigError
from pytest_kdump.vmcore import VmcoreInfo


class BoardState(StrEnum):
    """What the engine knows of the board (a StrEnum: ``state == "shell"`` works too)."""

    OFF = "off"  # switched off, or gone (QEMU exited)
    BOOTING = "booting"  # powered on, no shell yet
    SHELL = "shell"  # a shell answers on the console
    CRASHING = "crashing"  # a crash was triggered or seen; the crash kernel may be starting
    CRASHED = "crashed"  # crashed during a command; nobody followed the crash kernel yet
    REBOOTED = "rebooted"  # the crash kernel saved the dump; the board is coming back
    UNKNOWN = "unknown"  # after a failure, or changed behind the engine's back


@dataclass
class Timeouts:
    """Per-phase timeouts in seconds (defaults suit QEMU TCG; boards may need more)."""

    boot: float = 60
    shell: float = 120
    armed: float = 30
    trigger: float = 30
    crash_kernel: float = 120
    dump_saved: float = 600
    fetch: float = 120
    recover: float = 240

    @classmethod
    def from_dict(cls, values: dict[str, float] | None) -> Timeouts:
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown phase timeout(s): {', '.join(unknown)}",
                              advice=f"known phases: {', '.join(sorted(known))}")
        bad = [k for k, v in values.items()
               if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0]
        if bad:
            raise ConfigError(f"phase timeouts must be positive numbers of seconds: {bad}")
        return cls(**values)


@dataclass
class PhaseTiming:
    """How long a phase took and whether it succeeded."""

    name: str
    seconds: float
    ok: bool = True


@dataclass
class ArmedState:
    """What the running kernel says about kdump: reservation and crash kernel load."""

    loaded: bool
    reserved_bytes: int
    ram_bytes: int
    region: str | None
    cmdline: str
    kernel_release: str
    arch: str = ""
    kallsyms_text: str = ""
    """arm64 only: ``1`` if /proc/kallsyms lists ``_text`` (kexec-tools needs it for the dump
    header), ``supplied`` if pytest-kdump's guest init adds it for kexec, ``0`` if neither."""
    console_loglevel: int | None = None
    """The console log level found (``/proc/sys/kernel/printk``'s first field); below 7 the
    first lines of an oops do not reach the console (labgrid's ShellDriver sets 1)."""
    saver_status: str = ""
    """What the saver's own status command said (``kdump-config status``), if it has one."""
    kernel_config: dict[str, str] = field(default_factory=dict)
    """The kdump options of the running kernel's config (``/proc/config.gz`` or
    ``/boot/config-<release>``): ``{"CONFIG_CRASH_DUMP": "y", ...}``; empty if neither
    exists."""
    mem_available_bytes: int | None = None
    """MemAvailable: what a dump of the used memory can at most need (before compression)."""
    dump_dir_free_bytes: int | None = None
    """Free space at the transport's dump folder on the board (``ssh``), if it has one."""

    @property
    def reserved_percent(self) -> float:
        """The reservation's cost in % of the RAM."""
        return 100.0 * self.reserved_bytes / self.ram_bytes if self.ram_bytes else 0.0

    @property
    def reserved_mib(self) -> float:
        return self.reserved_bytes / (1 << 20)

    def __str__(self) -> str:
        state = "loaded" if self.loaded else "NOT loaded"
        return (f"crash kernel {state}; reserved {self.reserved_mib:.0f} MiB of "
                f"{self.ram_bytes / (1 << 20):.0f} MiB RAM ({self.region or 'no region'})")


@dataclass
class SeenCrash:
    """A crash report recognised on the console; ``expected`` if a trigger was fired;
    ``in_output`` if it was text a board command printed (``dmesg`` showing an earlier oops, a
    file holding a report), not a crash happening: such records are no test's crash."""

    record: CrashRecord
    expected: bool
    at: float
    in_output: bool = False

    def __str__(self) -> str:
        return f"[{self.at:9.3f}] {self.record}"


@dataclass
class DumpResult:
    """One crash and its dump: what was seen on the console and what was fetched."""

    trigger: str
    armed: ArmedState | None
    headline: str | None
    crash_text: str
    crash_kernel_release: str | None
    vmcore: VmcoreInfo | None
    """The checked vmcore; None when the transport fetches the dmesg only (``serial``)."""
    dmesg: Path | None
    phases: list[PhaseTiming] = field(default_factory=list)
    records: list[CrashRecord] = field(default_factory=list)
    source: str | None = None
    """Where the dump was fetched from, when the transport says (``ssh``: the board's file)."""
    fetch_status: dict[str, str] = field(default_factory=dict)
    """What the transport said of the fetch (``size``; ``serial``: ``total``, the log's size
    before the crash kernel's size limit)."""

    @property
    def record(self) -> CrashRecord | None:
        """The console's report of this crash (the first one seen)."""
        return self.records[0] if self.records else None


def parse_size(text: str) -> int | None:
    """``128M`` → bytes; None for forms like ``1G-2G:128M``."""
    m = re.fullmatch(r"(\d+)([KMG]?)", text.strip(), re.I)
    if not m:
        return None
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]


def parse_armed(out: str) -> ArmedState:
    """Parse the armed-check command's output (see :meth:`CycleEngine.check_armed`)."""
    def val(key: str) -> str:
        m = re.search(rf"{key}=([^\n]*?)(?: \w+=|$)", out, re.M)
        return m.group(1).strip() if m else ""

    region = re.search(r"^\s*([0-9a-f]+-[0-9a-f]+) : Crash kernel", out, re.M | re.I)
    ram = sum(int(b, 16) - int(a, 16) + 1
              for a, b in re.findall(r"^([0-9a-f]+)-([0-9a-f]+) : System RAM", out, re.M | re.I))
    cmd = re.search(r"^cmdline=(.*)$", out, re.M)
    printk = re.search(r"^printk=(\d+)", out, re.M)
    config = dict(re.findall(r"\b(CONFIG_[A-Z0-9_]+)=(\S+)", _line(out, "config")))
    mem = re.search(r"MemAvailable:\s+(\d+) kB", out)
    free = re.fullmatch(r"\d+", _line(out, "dumpfree"))
    return ArmedState(
        loaded=val("loaded") == "1",
        reserved_bytes=int(val("size") or 0),
        ram_bytes=ram,
        region=region.group(1) if region else None,
        cmdline=cmd.group(1).strip() if cmd else "",
        kernel_release=val("release"),
        arch=val("arch"),
        kallsyms_text=val("text"),
        console_loglevel=int(printk.group(1)) if printk else None,
        kernel_config=config,
        mem_available_bytes=int(mem.group(1)) << 10 if mem else None,
        dump_dir_free_bytes=int(free.group(0)) << 10 if free else None,
    )


def _line(out: str, key: str) -> str:
    m = re.search(rf"^{key}=(.*)$", out, re.M)
    return m.group(1).strip() if m else ""

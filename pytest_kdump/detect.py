"""Console patterns of a kernel crash and of a crash kernel saving its dump.

The patterns are regular expressions over console text (kernel timestamps allowed in front).
"How a dump is reported saved" differs between crash-kernel set-ups (this project's guest init,
Debian's kdump-tools, Fedora's kdump-utils): a :class:`DumpRecognizer` holds one set, so boards
with a distribution's kdump fit next to the QEMU guest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TS = r"(?:\[\s*\d+\.\d+\]\s*)?"

# The first line of a kernel crash report: what the kernel prints when it dies.
CRASH_HEADLINES = [
    r"Kernel panic - not syncing: [^\r\n]*",
    r"BUG: kernel NULL pointer dereference[^\r\n]*",
    r"BUG: unable to handle [^\r\n]*",
    r"Unable to handle kernel [^\r\n]*",
    r"Internal error: [^\r\n]*",
    r"kernel BUG at [^\r\n]*",
    r"general protection fault[^\r\n]*",
    r"invalid opcode: [^\r\n]*",
    r"divide error: [^\r\n]*",
    r"Oops: [^\r\n]*",
]
CRASH_RE = re.compile("|".join(f"(?:{p})" for p in CRASH_HEADLINES))
PANIC_RE = re.compile(r"Kernel panic - not syncing: ([^\r\n]*)")
# A kernel starting: the production kernel at power-on, the crash kernel after a panic.
KERNEL_BANNER_RE = re.compile(_TS + r"Linux version (\S+)")
PANIC_END_RE = re.compile(r"---\[ end Kernel panic")
ARM64_CRASH_START = "Starting crashdump kernel"


@dataclass(frozen=True)
class DumpRecognizer:
    """How a crash-kernel set-up reports success or failure of saving the vmcore.

    ``success``'s optional group ``size`` is the vmcore size in bytes; ``failure``'s group
    ``why`` its reason.
    """

    name: str
    success: list[str]
    failure: list[str]
    started: list[str] = field(default_factory=list)

    def patterns(self) -> list[re.Pattern[str]]:
        return [re.compile(p) for p in self.success + self.failure]

    def is_success(self, index: int) -> bool:
        return index < len(self.success)


PYTEST_KDUMP_INIT = DumpRecognizer(
    name="pytest-kdump guest init",
    success=[r"pytest-kdump: DUMP-OK size=(?P<size>\d+)"],
    failure=[r"pytest-kdump: DUMP-FAILED (?P<why>[^\r\n]*)"],
    started=[r"pytest-kdump: crash kernel \S+ saving vmcore[^\r\n]*"],
)
KDUMP_TOOLS = DumpRecognizer(
    name="Debian kdump-tools",
    success=[r"kdump-tools: saved vmcore in (?P<path>\S+)"],
    failure=[r"kdump-tools: (?P<why>failed to save vmcore[^\r\n]*)"],
    started=[r"kdump-tools: saving vmcore from kernel crash"],
)
KDUMP_UTILS = DumpRecognizer(
    name="Fedora/RHEL kdump-utils",
    success=[r"kdump: saving vmcore complete"],
    failure=[r"kdump: (?P<why>saving vmcore failed[^\r\n]*)"],
    started=[r"kdump: saving to [^\r\n]*"],
)
RECOGNIZERS = {"pytest-kdump": PYTEST_KDUMP_INIT, "kdump-tools": KDUMP_TOOLS,
               "kdump-utils": KDUMP_UTILS}

# Console lines that explain a failure, with what to do about them.
DIAGNOSES = [
    (re.compile(r"Initramfs unpacking failed|Out of memory|oom-kill|"
                r"Kernel panic - not syncing: (?:System is deadlocked on memory|Out of memory)"),
     "the crash kernel ran out of memory: increase crashkernel= (x86 cloud kernel: >= 96M)"),
    (re.compile(r"No space left on device"),
     "the dump target is full: enlarge the dump disk or lower the dump level"),
    (re.compile(r"Cannot open /proc/vmcore|/proc/vmcore: No such file"),
     "the crash kernel has no /proc/vmcore: it needs CONFIG_PROC_VMCORE and elfcorehdr="),
    (re.compile(r"KVM internal error"),
     "KVM cannot run this guest here: use TCG (-accel tcg)"),
    (re.compile(r"kexec_load failed|kexec_file_load failed|Cannot load|Memory for crashkernel "
                r"is not reserved"),
     "kexec -p failed: check that crashkernel= reserved memory and the kernel has "
     "CONFIG_KEXEC/CONFIG_KEXEC_FILE"),
]


def diagnose(text: str) -> list[str]:
    """Advice for the known failure lines found in ``text``."""
    return [advice for pattern, advice in DIAGNOSES if pattern.search(text)]


def crash_headline(text: str) -> str | None:
    """The first crash headline in ``text`` (e.g. ``Kernel panic - not syncing: ...``)."""
    m = CRASH_RE.search(text)
    return m.group(0).strip() if m else None

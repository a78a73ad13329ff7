"""What to check when a phase fails: advice per phase, and per known console line."""

from __future__ import annotations

import re

# What to check when a phase fails, by phase name.
ADVICE = {
    "boot": "no kernel banner on the console: check the kernel image path, console= on the "
            "kernel command line (ttyS0 for x86 QEMU), QEMU's stderr, and -accel tcg if KVM fails",
    "shell": "the kernel booted but no shell answered: check the init/rootfs and the prompt",
    "armed": "kdump is not armed: put crashkernel=SIZE on the kernel command line (128M for a "
             "512 MiB guest), use a kernel with CONFIG_KEXEC, CONFIG_CRASH_DUMP and "
             "CONFIG_PROC_VMCORE, and check that 'kexec -p' succeeded",
    "kallsyms": "rebuild the kernel with CONFIG_KALLSYMS_ALL=y; or, before 'kexec -p', bind a "
                "copy of /proc/kallsyms with a '_text' line over it (its address: _stext's minus "
                "the vmlinux's _stext - _text), as pytest-kdump's guest init does (supply_text "
                "in pytest_kdump/guest/init.sh)",
    "arm": "loading the crash kernel with 'kexec -p' failed: check the arm: section's kernel "
           "and initrd paths on the board, crashkernel= on the command line, and the "
           "console's kexec messages",
    "trigger": "the trigger did not crash the kernel in time: check its preconditions "
               "(sysctls, kernel features) and the console output after the command",
    "crash_kernel": "the kernel crashed but no crash kernel started: check that the crash "
                    "kernel was loaded (kexec -p), that crashkernel= is large enough, and that "
                    "the crash kernel supports this machine",
    "dump_saved": "the crash kernel started but did not report the vmcore saved: read its "
                  "console output (makedumpfile's messages), check the dump target's free "
                  "space and crashkernel= (out of memory while unpacking the initramfs)",
    "fetch": "the dump could not be fetched from the dump target",
    "run": "a command on the board did not finish: it may wait for input or hang; check the "
           "console tail, or give it a longer timeout",
    "recover": "the board did not come back to a shell after the dump: check the crash "
               "kernel's reboot and the board's power control",
}


# Console lines that explain a failure, with what to do about them.
DIAGNOSES = [
    (re.compile(r"Initramfs unpacking failed|Out of memory|oom-kill|"
                r"Kernel panic - not syncing: (?:System is deadlocked on memory|Out of memory)"),
     "the crash kernel ran out of memory: increase crashkernel= (x86 cloud kernel: >= 96M)"),
    (re.compile(r"No space left on device"),
     "the dump target is full: enlarge the dump disk or lower the dump level"),
    (re.compile(r"Cannot open /proc/vmcore|/proc/vmcore: No such file"),
     "the crash kernel has no /proc/vmcore: it needs CONFIG_PROC_VMCORE and elfcorehdr="),
    (re.compile(r"get_machdep_info_arm64: Can't determine platform config values"),
     "makedumpfile cannot read this arm64 kernel: 52-bit virtual addresses on 4 KiB pages "
     "(CONFIG_ARM64_VA_BITS_52, Debian 13's arm64 kernel) are read by no released "
     "makedumpfile up to 1.7.9; boot a kernel with CONFIG_ARM64_VA_BITS_48, or a makedumpfile "
     "with upstream commit b7587f1"),
    (re.compile(r"makedumpfile Failed\."),
     "makedumpfile failed in the crash kernel (its error is on the lines before 'makedumpfile "
     "Failed.'); kdump-tools still reports 'saved vmcore' then: it checks only the last "
     "command of its pipe"),
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

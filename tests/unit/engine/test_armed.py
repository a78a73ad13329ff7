"""The armed-check parser on the real armed-check output."""

from __future__ import annotations

import re

from pytest_kdump.engine.results import ArmedState, parse_armed

RELEASE = "6.1.0-56-cloud-amd64"


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


# The arm64 guest's armed check (6.1.0-50-arm64, no CONFIG_KALLSYMS_ALL), as the console showed it
ARM64_OUT = """loaded=1 size=134217728 release=6.1.0-50-arm64
cmdline=console=ttyAMA0 crashkernel=128M pytest_kdump.after=poweroff
40000000-5fffffff : System RAM
  53600000-5b5fffff : Crash kernel
arch=aarch64 text=supplied
"""


def test_parse_armed_arm64_kallsyms_text() -> None:
    state = parse_armed(ARM64_OUT)
    assert (state.arch, state.kallsyms_text, state.loaded) == ("aarch64", "supplied", True)
    assert state.region == "53600000-5b5fffff" and state.reserved_bytes == 128 << 20
    assert parse_armed(ARM64_OUT.replace("text=supplied", "text=0")).kallsyms_text == "0"
    x86 = parse_armed("loaded=1 size=1 release=6.1\ncmdline=\narch=x86_64 text=\n")
    assert (x86.arch, x86.kallsyms_text) == ("x86_64", "")


# The Debian guest's kdump options, as the armed check prints them: the grep of its
# /boot/config-6.12.117+deb13-cloud-amd64 (read from the built disk with debugfs)
DEBIAN_CONFIG = ("CONFIG_KALLSYMS_ALL=y CONFIG_KEXEC=y CONFIG_KEXEC_FILE=y CONFIG_CRASH_DUMP=y "
                 "CONFIG_PROC_VMCORE=y CONFIG_MAGIC_SYSRQ=y ")
DEBIAN_OUT = f"""loaded=1 size=268435456 release=6.12.117+deb13-cloud-amd64
cmdline=console=ttyS0 root=/dev/vda rw crashkernel=256M
00001000-0009fbff : System RAM
00100000-3ffdcfff : System RAM
  2f000000-3effffff : Crash kernel
printk=1 4 1 7
config={DEBIAN_CONFIG}
MemAvailable:     521784 kB
dumpfree=3404812
arch=x86_64 text=
"""


def test_parse_armed_config_memory_and_dump_folder() -> None:
    state = parse_armed(DEBIAN_OUT)
    assert state.kernel_config == {
        "CONFIG_KALLSYMS_ALL": "y", "CONFIG_KEXEC": "y", "CONFIG_KEXEC_FILE": "y",
        "CONFIG_CRASH_DUMP": "y", "CONFIG_PROC_VMCORE": "y", "CONFIG_MAGIC_SYSRQ": "y"}
    assert state.console_loglevel == 1
    assert state.mem_available_bytes == 521784 << 10
    assert state.dump_dir_free_bytes == 3404812 << 10
    assert round(state.reserved_percent, 1) == 25.0
    # no config readable (the busybox guest), no dump folder: nothing known, nothing guessed
    bare = parse_armed(DEBIAN_OUT.replace(f"config={DEBIAN_CONFIG}", "config=")
                       .replace("dumpfree=3404812", "dumpfree="))
    assert bare.kernel_config == {} and bare.dump_dir_free_bytes is None

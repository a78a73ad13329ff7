"""Advice from known console lines."""

from __future__ import annotations

from pytest_kdump.engine.advice import diagnose


def test_diagnose_real_log_is_clean(console: str) -> None:
    assert diagnose(console) == []


def test_diagnose_out_of_memory() -> None:
    advice = diagnose("[    1.2] Initramfs unpacking failed: write error\n"
                             "[    1.5] Kernel panic - not syncing: Out of memory and no "
                             "killable processes...\n")
    assert len(advice) == 1
    assert "ran out of memory" in advice[0] and "crashkernel=" in advice[0]
    assert diagnose("[  2.0] sh invoked oom-killer: gfp_mask=0xcc0\n"
                           "Out of memory: Killed process 99 (makedumpfile)\n") == advice


def test_diagnose_disk_full() -> None:
    text = ("write_and_check_space: Can't write the dump file(/dump/vmcore.part). "
            "No space left on device\n")
    assert diagnose(text) == [
        "the dump target is full: enlarge the dump disk or lower the dump level"]


def test_diagnose_several() -> None:
    text = ("kexec_file_load failed: Cannot assign requested address\n"
            "makedumpfile: No space left on device\n")
    advice = diagnose(text)
    assert len(advice) == 2
    assert advice[0].startswith("the dump target is full")  # in the table's order
    assert advice[1].startswith("kexec -p failed")


# The crash kernel's lines on the Debian 13 arm64 guest (kdump-tools 1.10.7, makedumpfile
# 1.7.6, kernel 6.12.117+deb13-arm64), from the console log of a real run of
# examples/test_distro_kdump.py with labgrid-envs/debian-arm64.yaml
ARM64_VA52 = """\
[   40.327853] kdump-tools[308]: running makedumpfile --dump-dmesg /proc/vmcore /var/crash/202612061710/dmesg.202612061710.
[   40.494889] kdump-tools[325]: calculate_plat_config: PAGE SIZE 0x1000 and VA Bits 52 not supported
[   40.515238] kdump-tools[325]: get_machdep_info_arm64: Can't determine platform config values
[   40.535444] kdump-tools[325]: makedumpfile Failed.
[   40.563621] kdump-tools[308]: kdump-tools: makedumpfile --dump-dmesg failed. dmesg content will be unavailable ... failed!
[   41.148981] kdump-tools[308]: kdump-tools: saved vmcore in /var/crash/202612061710.
"""  # noqa: E501


def test_diagnose_makedumpfile_on_arm64_52_bit_va() -> None:
    advice = diagnose(ARM64_VA52)
    assert len(advice) == 2
    assert "52-bit virtual addresses" in advice[0] and "VA_BITS_48" in advice[0]
    assert "kdump-tools still reports 'saved vmcore'" in advice[1]

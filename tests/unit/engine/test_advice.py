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

"""Kernel messages in a command's output, as the console shows them. The message is a real
one: ``random: crng init done`` lands 3.7-5.7 s after the x86_64 guest's boot, in the middle
of whatever the console shows then (kdump-artifacts of the crash matrix: inside the echo of
a copy command)."""

from __future__ import annotations

from pytest_kdump.console.kernel_lines import unsplice, without_kernel_messages

CRNG = "[    3.693546] random: crng init done\n"


def test_a_message_on_a_line_of_its_own_is_dropped() -> None:
    assert without_kernel_messages(f"{CRNG}x86_64") == "x86_64"
    assert without_kernel_messages(f"loaded=1 size=1\n{CRNG}cmdline=console=ttyS0\n") == (
        "loaded=1 size=1\ncmdline=console=ttyS0\n")
    assert without_kernel_messages(f"1\n{CRNG.rstrip()}") == "1\n"


def test_a_message_cut_into_a_line_is_taken_out_and_the_line_made_whole() -> None:
    md5 = "d41d8cd98f00b204e9800998ecf8427e  /tmp/kdump_crash.ko"
    assert without_kernel_messages(md5[:20] + CRNG + md5[20:]) == md5
    two = CRNG + "[    3.701234][    T1] virtio_net virtio0 enp0s3: renamed from eth0\n"
    assert without_kernel_messages("x86" + two + "_64\n") == "x86_64\n"


def test_unsplice_says_what_it_cut_and_where() -> None:
    whole, cuts = unsplice(f"ab{CRNG}cd\n{CRNG}ef\n")
    assert whole == f"abcd\n{CRNG}ef\n"  # a message on its own line is no splice
    assert cuts == [(2, CRNG)]


def test_output_without_kernel_messages_is_unchanged() -> None:
    for text in ("", "x86_64", "a [1.5] b\n", "6.1.0-57-cloud-amd64\n", "[pytest] no stamp"):
        assert without_kernel_messages(text) == text

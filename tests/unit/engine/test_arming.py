"""The engine's own crash-kernel loading (:class:`Arming`): its command line run in real shells
with a stub ``kexec``: kexec gets each value as one literal argument, the running command line
loses its crashkernel= and nothing else runs."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_kdump.engine.cycle import ARMED_FILE, Arming

# dash (Debian's sh), busybox ash (with busybox's own sed, as on a small board), bash
SHELLS = {name: argv for name, argv in (("sh", ["sh"]), ("busybox", ["/bin/busybox", "sh"]),
                                         ("bash", ["bash"]))
          if shutil.which(argv[0])}
CMDLINE = "BOOT_IMAGE=/vmlinuz root=/dev/vda1 crashkernel=256M console=ttyS0"
HOSTILE = [
    "a  b\tc",
    "it's \"quoted\"",
    "$(touch PWNED)",
    "`touch PWNED`",
    "; touch PWNED",
    "1 && touch PWNED &",
    "> PWNED",
    "$HOME ${IFS} !!",
    "* ?",
]


@pytest.fixture(params=list(SHELLS))
def shell(request: pytest.FixtureRequest) -> str:
    return request.param


def _arm(tmp_path: Path, shell: str, arming: Arming, extra: str = "",
         cmdline: str = CMDLINE) -> tuple[list[list[str]], str]:
    """Run ``arming.command(extra)`` in ``shell`` with a stub kexec; return kexec's calls (its
    arguments) and what the armed file holds."""
    board = tmp_path / "board"
    bin_dir = board / "bin"
    bin_dir.mkdir(parents=True)
    log = board / "kexec.log"
    kexec = bin_dir / "kexec"
    kexec.write_text(f"#!/bin/sh\n{{ printf '%s\\n' \"$@\"; echo '<end>'; }} >> {log}\n")
    kexec.chmod(0o755)
    if shell == "busybox":
        (bin_dir / "sed").symlink_to("/bin/busybox")
    proc_cmdline = board / "cmdline"
    proc_cmdline.write_text(cmdline + "\n")  # as the kernel writes it
    armed = board / "armed"
    command = arming.command(extra)
    assert command.count("/proc/cmdline") == 1 and command.count(ARMED_FILE) == 1
    # the command reads the running kernel's /proc/cmdline and writes ARMED_FILE (/run): here
    # they are temporary files, put in place of those paths in the command's text
    command = (command.replace("/proc/cmdline", shlex.quote(str(proc_cmdline)))
               .replace(ARMED_FILE, shlex.quote(str(armed))))
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([*SHELLS[shell], "-c", command], capture_output=True, text=True,
                          cwd=board, env=env, timeout=30)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), (command, proc)
    calls = [call.splitlines() for call in log.read_text().split("<end>\n")[:-1]]
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))
    return calls, armed.read_text()


def test_arming_command(tmp_path: Path, shell: str) -> None:
    arming = Arming("/boot/vmlinuz-6.1", "/boot/initrd.img-6.1", "irqpoll nr_cpus=1")
    calls, armed = _arm(tmp_path, shell, arming, "kdump_upload=10.0.2.2:5555")
    assert calls == [
        ["-p", "-u"],
        ["-p", "/boot/vmlinuz-6.1", "--initrd=/boot/initrd.img-6.1",
         "--append=BOOT_IMAGE=/vmlinuz root=/dev/vda1 console=ttyS0 irqpoll nr_cpus=1 "
         "kdump_upload=10.0.2.2:5555"],
    ]
    assert armed == "irqpoll nr_cpus=1 kdump_upload=10.0.2.2:5555\n"


@pytest.mark.parametrize(("cmdline", "kept"), [
    ("crashkernel=256M root=/dev/vda1 console=ttyS0", " root=/dev/vda1 console=ttyS0"),
    ("root=/dev/vda1 crashkernel=256M console=ttyS0", "root=/dev/vda1 console=ttyS0"),
    ("root=/dev/vda1 console=ttyS0 crashkernel=256M", "root=/dev/vda1 console=ttyS0"),
    ("crashkernel=1G-4G:192M,4G-:256M ro crashkernel=72M,low xcrashkernel=1 a=crashkernel=2",
     " ro xcrashkernel=1 a=crashkernel=2"),
], ids=["start", "middle", "end", "several"])
def test_arming_drops_crashkernel(tmp_path: Path, shell: str, cmdline: str, kept: str) -> None:
    """(At the start, the space after crashkernel= stays: the kernel ignores it.)"""
    calls, armed = _arm(tmp_path, shell, Arming("/k", None, "irqpoll"), cmdline=cmdline)
    assert calls[1] == ["-p", "/k", f"--append={kept} irqpoll"]  # no --initrd without one
    assert armed == "irqpoll\n"


@pytest.mark.parametrize("value", HOSTILE)
def test_arming_hostile_values(tmp_path: Path, shell: str, value: str) -> None:
    kernel, initrd = f"/boot/vmlinuz {value}", f"/boot/{value} initrd"
    append, extra = f"irqpoll {value}", f"{value} kdump_upload=h:1"
    cmdline = f"root=/dev/vda1 {value} crashkernel=256M"
    calls, armed = _arm(tmp_path, shell, Arming(kernel, initrd, append), extra, cmdline)
    assert calls == [["-p", "-u"],
                     ["-p", kernel, f"--initrd={initrd}",
                      f"--append=root=/dev/vda1 {value} {append} {extra}"]]
    assert armed == f"{append} {extra}\n"


@pytest.mark.parametrize("shell_name", ["sh", "busybox", "bash"])
def test_arming_backslash_in_armed_file(tmp_path: Path, shell_name: str) -> None:
    assert shell_name in SHELLS, f"{shell_name} is not installed (./setup installs busybox)"
    append = r"dyndbg=a\tb\\c\c"
    calls, armed = _arm(tmp_path, shell_name, Arming("/k", None, append))
    assert calls[1][-1].endswith(f" {append}")  # kexec gets it intact in every shell
    assert armed == f"{append}\n"

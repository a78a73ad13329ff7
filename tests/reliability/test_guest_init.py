"""The guest init's dump saving (issue 15, item 19), run in the host's busybox shell (the
guest's busybox-static: same package, same shell): its real ``save_vmcore`` with a stub
makedumpfile on PATH, the dump disk a folder, and shell functions standing in for mount,
umount, the module loading and the reboot (busybox runs its own applets before PATH)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from pytest_kdump.build import debian
from pytest_kdump.build.image import GUEST_DIR
from pytest_kdump.cachedir import cache_dir

INIT = GUEST_DIR / "init.sh"
GUARD = '[ -n "$PYTEST_KDUMP_INIT_LIB" ] || main'

# Sources init.sh without running it, points its paths at the test's folder, stubs what
# cannot run on a host, then saves the dump as the crash kernel would.
HARNESS = r"""
. "$INIT"
DUMP_DIR=$T/dump
VMCORE=$T/proc-vmcore
cmdline="pytest_kdump.dump=$BLOCK pytest_kdump.level=31"
mount() { echo "mount $*" >> "$T/calls"; }
umount() { echo "umount $*" >> "$T/calls"; }
load_modules() { :; }
uname() { echo 6.1.0-test; }
after_dump() { say "after_dump"; exit 0; }
save_vmcore
echo "save_vmcore returned"
"""

# makedumpfile: --dump-dmesg VMCORE OUT, or -c -d LEVEL VMCORE OUT. $MDF_WRITE bytes are
# written to OUT, then it exits with $MDF_RC.
MAKEDUMPFILE = r"""#!BUSYBOX sh
if [ "$1" = --dump-dmesg ]; then echo "[ 1.0] Kernel panic" > "$3"; exit 0; fi
for out; do :; done
head -c "$MDF_WRITE" /dev/zero | tr '\0' 'K' > "$out"
echo "Copying data                                      : [ 42.0 %] /"
echo "makedumpfile Failed? rc=$MDF_RC"
exit "$MDF_RC"
"""


@pytest.fixture(scope="module")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox-static binary the guest image is built with: the host's, else the one in
    pytest-kdump's package cache."""
    if Path("/bin/busybox").is_file() and os.access("/bin/busybox", os.X_OK):
        return Path("/bin/busybox")
    debs = sorted((cache_dir() / "debs").glob("busybox-static_*.deb"))
    if not debs:
        pytest.skip("no busybox-static: neither /bin/busybox nor a cached package")
    root = tmp_path_factory.mktemp("busybox")
    debian.extract(debs[-1], root, ["./bin/busybox"], timeout=60)
    return root / "bin" / "busybox"


def _block_device(tmp_path: Path) -> Path:
    """A path for which ``[ -b ]`` is true (the stubbed mount never opens it)."""
    node = tmp_path / "vda"
    if node.is_block_device():
        return node
    try:
        os.mknod(node, 0o600 | stat.S_IFBLK, os.makedev(7, 0))
        return node
    except PermissionError:
        pass
    for dev in sorted(Path("/dev").iterdir()):
        if stat.S_ISBLK(dev.stat().st_mode):
            return dev
    pytest.skip("no block device to point the init at")


def _save(tmp_path: Path, busybox: Path, write: int, rc: int) -> tuple[str, Path]:
    """Run save_vmcore with makedumpfile writing ``write`` bytes then exiting ``rc``; return
    the shell's output and the dump folder."""
    text = INIT.read_text()
    # sourcing an init that runs its main would mount /proc and install busybox on the host
    assert text.rstrip().endswith(GUARD), "init.sh must not run when sourced by tests"
    (tmp_path / "bin").mkdir()
    stub = tmp_path / "bin" / "makedumpfile"
    stub.write_text(MAKEDUMPFILE.replace("BUSYBOX", str(busybox)))
    stub.chmod(0o755)
    (tmp_path / "dump").mkdir()
    (tmp_path / "dump" / "vmcore").write_text("an earlier crash's dump")
    (tmp_path / "proc-vmcore").write_text("ELF")
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "T": str(tmp_path), "INIT": str(INIT),
           "BLOCK": str(_block_device(tmp_path)), "PYTEST_KDUMP_INIT_LIB": "1",
           "MDF_WRITE": str(write), "MDF_RC": str(rc)}
    proc = subprocess.run([str(busybox), "sh", "-c", HARNESS], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "save_vmcore returned" not in proc.stdout  # the crash kernel never goes on
    return proc.stdout, tmp_path / "dump"


@pytest.mark.parametrize("rc", [1, 2, 137])
def test_makedumpfile_fails_after_writing_part(tmp_path: Path, busybox: Path, rc: int) -> None:
    """makedumpfile writes part of the dump, then fails (a full disk, an out-of-memory
    kill): DUMP-FAILED with its own exit status, never DUMP-OK."""
    out, dump = _save(tmp_path, busybox, write=5000, rc=rc)
    assert f"pytest-kdump: DUMP-FAILED step=makedumpfile rc={rc} makedumpfile failed" in out
    assert "DUMP-OK" not in out
    assert "makedumpfile Failed?" in out  # its last lines are shown
    assert "pytest-kdump: after_dump" in out
    assert sorted(p.name for p in dump.iterdir()) == ["dmesg.txt", "vmcore.part"]
    assert (tmp_path / "calls").read_text().splitlines()[-1] == f"umount {dump}"


def test_makedumpfile_succeeds(tmp_path: Path, busybox: Path) -> None:
    out, dump = _save(tmp_path, busybox, write=5000, rc=0)
    assert "pytest-kdump: DUMP-OK size=5000" in out and "DUMP-FAILED" not in out
    assert (dump / "vmcore").read_bytes() == b"K" * 5000
    assert (dump / "status").read_text() == "rc=0 size=5000 kernel=6.1.0-test\n"
    assert (dump / "dmesg.txt").read_text() == "[ 1.0] Kernel panic\n"
    block = _block_device(tmp_path)
    assert (tmp_path / "calls").read_text().splitlines() == [
        f"mount -t ext4 {block} {dump}", f"umount {dump}"]


def test_makedumpfile_succeeds_without_writing(tmp_path: Path, busybox: Path) -> None:
    out, dump = _save(tmp_path, busybox, write=0, rc=0)
    assert "pytest-kdump: DUMP-FAILED step=makedumpfile rc=1 no vmcore written" in out
    assert "DUMP-OK" not in out and not (dump / "vmcore").exists()


# --- the _text kexec-tools needs (arm64 kernels without CONFIG_KALLSYMS_ALL) ----------------

TEXT_HARNESS = r"""
. "$INIT"
KALLSYMS=$T/kallsyms
TEXT_OFFSET=$T/offset
KALLSYMS_COPY=$T/kallsyms.copy
mount() { echo "mount $*" >> "$T/calls"; }
supply_text
"""

KALLSYMS_6_1_ARM64 = ("ffffba15e5010000 T _stext\nffffba15e5010000 t __do_softirq\n"
                      "ffffba15e6a30000 D _etext\n")


def _supply_text(tmp_path: Path, busybox: Path, kallsyms: str,
                 offset: str | None = "0x10000\n") -> str:
    (tmp_path / "kallsyms").write_text(kallsyms)
    if offset is not None:
        (tmp_path / "offset").write_text(offset)
    env = {"PATH": "/usr/bin:/bin", "T": str(tmp_path), "INIT": str(INIT),
           "PYTEST_KDUMP_INIT_LIB": "1"}
    proc = subprocess.run([str(busybox), "sh", "-c", TEXT_HARNESS], env=env,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_text_is_supplied_from_stext_and_the_offset(tmp_path: Path, busybox: Path) -> None:
    """Debian's 6.1 arm64 kernel lists _stext but not _text: the copy bound over kallsyms adds
    _text = _stext - offset (KASLR moves both alike)."""
    out = _supply_text(tmp_path, busybox, KALLSYMS_6_1_ARM64)
    assert out == ("pytest-kdump: kallsyms lacks _text (no CONFIG_KALLSYMS_ALL): supplied "
                   "_text=ffffba15e5000000 for kexec\n")
    assert (tmp_path / "kallsyms.copy").read_text() == (
        KALLSYMS_6_1_ARM64 + "ffffba15e5000000 T _text\n")
    assert (tmp_path / "calls").read_text() == (
        f"mount --bind {tmp_path}/kallsyms.copy {tmp_path}/kallsyms\n")


@pytest.mark.parametrize("kallsyms, offset", [
    ("ffffba15e5000000 T _text\n" + KALLSYMS_6_1_ARM64, "0x10000\n"),  # KALLSYMS_ALL
    (KALLSYMS_6_1_ARM64, None),  # an image for a kernel that lists _text
])
def test_text_left_alone(tmp_path: Path, busybox: Path, kallsyms: str,
                         offset: str | None) -> None:
    assert _supply_text(tmp_path, busybox, kallsyms, offset) == ""
    assert not (tmp_path / "calls").exists() and not (tmp_path / "kallsyms.copy").exists()


def test_no_stext_either_is_said(tmp_path: Path, busybox: Path) -> None:
    out = _supply_text(tmp_path, busybox, "ffffba15e6a30000 D _etext\n")
    assert out == "pytest-kdump: kallsyms lacks _text and _stext: kexec may fail\n"
    assert not (tmp_path / "calls").exists()

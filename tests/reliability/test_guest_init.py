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
# the test's options first: opt takes the first match
cmdline="pytest_kdump.dump=$BLOCK $OPTIONS pytest_kdump.level=31"
mount() { echo "mount $*" >> "$T/calls"; }
umount() { echo "umount $*" >> "$T/calls"; }
load_modules() { :; }
uname() { echo 6.1.0-test; }
after_dump() { say "after_dump"; exit 0; }
save_vmcore
echo "save_vmcore returned"
"""

# makedumpfile: -v, --dump-dmesg VMCORE OUT, or FLAG -d LEVEL VMCORE OUT; each call's arguments
# are appended to $T/argv. -v prints the version and $MDF_BUILT (its compressions, as 1.7.2
# lists them); a dump writes $MDF_WRITE bytes to OUT, then exits with $MDF_RC.
MAKEDUMPFILE = r"""#!BUSYBOX sh
echo "$*" >> "$T/argv"
if [ "$1" = -v ]; then
    echo "makedumpfile: version 1.7.2 (released on 20 Oct 2022)"; printf '%b' "$MDF_BUILT"
    exit 0
fi
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


# what `makedumpfile -v` lists: Debian 12's 1.7.2 (the guest's), and a build with every library
DEBIAN_12 = r"lzo\tenabled\nsnappy\tdisabled\nzstd\tdisabled\n"
ALL_BUILT = r"lzo\tenabled\nsnappy\tenabled\nzstd\tenabled\n"


def _save(tmp_path: Path, busybox: Path, write: int, rc: int, options: str = "",
          built: str = DEBIAN_12) -> tuple[str, Path]:
    """Run save_vmcore with makedumpfile writing ``write`` bytes then exiting ``rc``, the
    kernel command line holding ``options``, makedumpfile built with ``built``; return the
    shell's output and the dump folder."""
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
           "MDF_WRITE": str(write), "MDF_RC": str(rc), "MDF_BUILT": built,
           "OPTIONS": options}
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


def _makedumpfile_calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "argv").read_text().splitlines()


def _dump_call(tmp_path: Path, flag: str, level: int = 31) -> str:
    return f"{flag} -d {level} {tmp_path}/proc-vmcore {tmp_path}/dump/vmcore.part"


def _dmesg_call(tmp_path: Path) -> str:
    return f"--dump-dmesg {tmp_path}/proc-vmcore {tmp_path}/dump/dmesg.txt"


@pytest.mark.parametrize("options, flag", [
    ("", "-l"),  # the default: lzo
    ("pytest_kdump.compress=lzo", "-l"),
    ("pytest_kdump.compress=zlib", "-c"),
    ("pytest_kdump.compress=snappy", "-p"),
    ("pytest_kdump.compress=zstd", "-z"),
])
def test_compression_option_picks_the_flag(tmp_path: Path, busybox: Path, options: str,
                                           flag: str) -> None:
    out, dump = _save(tmp_path, busybox, write=5000, rc=0, options=options, built=ALL_BUILT)
    assert "pytest-kdump: DUMP-OK size=5000" in out
    assert (f"saving vmcore to {_block_device(tmp_path)} (makedumpfile {flag} -d 31)\n"
            in out)
    assert "unknown" not in out and "built without" not in out
    # zlib is always built in: makedumpfile is asked what it supports for the others only
    asked = [] if flag == "-c" else ["-v"]
    assert _makedumpfile_calls(tmp_path) == [
        *asked, _dmesg_call(tmp_path), _dump_call(tmp_path, flag)]


def test_level_option_reaches_makedumpfile(tmp_path: Path, busybox: Path) -> None:
    out, _ = _save(tmp_path, busybox, write=5000, rc=0,
                   options="pytest_kdump.level=1 pytest_kdump.compress=zlib")
    assert "(makedumpfile -c -d 1)" in out and "DUMP-OK" in out
    assert _makedumpfile_calls(tmp_path)[-1] == _dump_call(tmp_path, "-c", level=1)


@pytest.mark.parametrize("value", ["gzip", "LZO", "", "-c"])
def test_unknown_compression_falls_back_to_the_default(tmp_path: Path, busybox: Path,
                                                       value: str) -> None:
    out, _ = _save(tmp_path, busybox, write=5000, rc=0,
                   options=f"pytest_kdump.compress={value}")
    assert (f"pytest-kdump: unknown pytest_kdump.compress={value} "
            "(not zlib|lzo|snappy|zstd): using lzo\n") in out
    assert "(makedumpfile -l -d 31)" in out and "DUMP-OK size=5000" in out
    assert _makedumpfile_calls(tmp_path)[-1] == _dump_call(tmp_path, "-l")


@pytest.mark.parametrize("value", ["snappy", "zstd"])
def test_compression_the_guest_lacks_falls_back(tmp_path: Path, busybox: Path,
                                                value: str) -> None:
    """Debian 12's makedumpfile 1.7.2 has no snappy nor zstd: given -p or -z it would write
    the pages uncompressed (measured: 3.6 times zlib's size). The default is used instead."""
    out, _ = _save(tmp_path, busybox, write=5000, rc=0,
                   options=f"pytest_kdump.compress={value}")
    assert (f"pytest-kdump: makedumpfile is built without {value} (it would not compress): "
            "using lzo\n") in out
    assert "(makedumpfile -l -d 31)" in out and "DUMP-OK size=5000" in out
    assert _makedumpfile_calls(tmp_path)[-1] == _dump_call(tmp_path, "-l")


@pytest.mark.parametrize("options, lacking", [("", "lzo"), ("pytest_kdump.compress=zstd", "zstd")])
def test_without_lzo_zlib_is_used(tmp_path: Path, busybox: Path, options: str,
                                  lacking: str) -> None:
    """A makedumpfile built with zlib only (or one whose -v lists nothing) still compresses."""
    out, _ = _save(tmp_path, busybox, write=5000, rc=0, options=options, built="")
    assert (f"pytest-kdump: makedumpfile is built without {lacking} (it would not compress): "
            "using zlib\n") in out
    assert "(makedumpfile -c -d 31)" in out and "DUMP-OK size=5000" in out
    assert _makedumpfile_calls(tmp_path)[-1] == _dump_call(tmp_path, "-c")


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


# pytest_kdump.dump=serial: the log goes over the console (pytest_kdump/transports/serial.py)
SERIAL_HARNESS = r"""
. "$INIT"
VMCORE=$T/proc-vmcore
PRINTK=$T/printk
TMP=$T
cmdline="pytest_kdump.dump=serial $OPTIONS"
uname() { echo 6.1.0-test; }
after_dump() { say "after_dump"; exit 0; }
save_vmcore
echo "save_vmcore returned"
"""
RECORDED_LOG = Path(__file__).resolve().parents[1] / "data" / "serial-x86_64" / "vmcore-dmesg.txt"


def _send(tmp_path: Path, busybox: Path, options: str = "", rc: int = 0) -> str:
    """Run save_vmcore with pytest_kdump.dump=serial, makedumpfile's --dump-dmesg writing the
    recorded log (or exiting ``rc``); the shell's output."""
    (tmp_path / "bin").mkdir()
    stub = tmp_path / "bin" / "makedumpfile"
    stub.write_text(f"#!{busybox} sh\n"
                    f'[ "$MDF_RC" = 0 ] || {{ echo "dmesg: bad page"; exit "$MDF_RC"; }}\n'
                    f'cat "{RECORDED_LOG}" > "$3"\n')
    stub.chmod(0o755)
    (tmp_path / "printk").write_text("7\t4\t1\t7\n")
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "T": str(tmp_path), "INIT": str(INIT),
           "PYTEST_KDUMP_INIT_LIB": "1", "OPTIONS": options, "MDF_RC": str(rc)}
    proc = subprocess.run([str(busybox), "sh", "-c", SERIAL_HARNESS], env=env,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "save_vmcore returned" not in proc.stdout
    return proc.stdout


@pytest.mark.parametrize("options, sent", [("", 24705), ("pytest_kdump.serial_limit=3000", 3000),
                                           ("pytest_kdump.serial_limit=x1", 24705)])
def test_serial_dump_sends_the_log_the_transport_reads(tmp_path: Path, busybox: Path,
                                                       options: str, sent: int) -> None:
    from pytest_kdump.transports.serial import find_block

    out = _send(tmp_path, busybox, options)
    log = RECORDED_LOG.read_bytes()
    block = find_block(out)
    assert block is not None and block.problem is None, out[-500:]
    assert (block.sent, block.total, block.text) == (sent, len(log), log[-sent:])
    assert f"pytest-kdump: DUMP-OK size={sent} dmesg only\npytest-kdump: after_dump" in out
    # the level stays 1 up to the crash kernel's reboot: the block may still be going out
    assert (tmp_path / "printk").read_text() == "1\n"
    assert ("is no byte count: using 65536" in out) == ("x1" in options)


def test_serial_dump_sets_the_level_back_for_a_crash_kernel_that_stays(tmp_path: Path,
                                                                      busybox: Path) -> None:
    out = _send(tmp_path, busybox, "pytest_kdump.after=shell")
    assert "DUMP-OK size=24705 dmesg only" in out
    assert (tmp_path / "printk").read_text() == "7\n"  # the level found


def test_serial_dump_reports_a_failed_log_extraction(tmp_path: Path, busybox: Path) -> None:
    out = _send(tmp_path, busybox, rc=3)
    assert ("pytest-kdump: DUMP-FAILED step=dump-dmesg rc=3 makedumpfile --dump-dmesg "
            "failed: dmesg: bad page") in out
    assert "kdump-dmesg: begin" not in out and "DUMP-OK" not in out

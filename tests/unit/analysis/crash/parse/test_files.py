"""Tests of parse.files: ``files``, ``foreach files`` and ``mount``."""

from __future__ import annotations

from pytest_kdump.analysis.crash import parse as cp
from pytest_kdump.analysis.model import Task
from tests.unit.analysis.crash.parse.recorded import read


def test_files() -> None:
    f = cp.parse_files(read("sysrq-8.0.6", "files_1.txt"))
    assert f.task == Task(pid=1, command="init", cpu=0, task="ffff8a80c11f3000")
    assert (f.root, f.cwd) == ("/", "/")
    assert [(o.fd, o.type, o.path) for o in f.files] == [
        (0, "CHR", "/dev/console"), (1, "CHR", "/dev/console"), (2, "CHR", "/dev/console"),
        (10, "REG", "/init")]
    assert f.files[3] == cp.OpenFile(fd=10, file="ffff8a80c24fbf00", dentry="ffff8a80c1c95300",
                                     inode="ffff8a80c244f2f0", type="REG", path="/init")
    # crash 8.0.2 cannot find PID 1 on this kernel
    assert cp.parse_files(read("sysrq-8.0.2", "files_1.txt")) == cp.Files()


def test_files_several_tasks_and_odd_paths() -> None:
    text = ('PID: 1  TASK: ffff01  CPU: 0  COMMAND: "init"\n'
            "ROOT: /my root    CWD: /tmp/a b\n"
            " FD       FILE            DENTRY           INODE       TYPE PATH\n"
            "  3 ffff0003 ffff1003 ffff2003 UNKN [eventpoll]\n"
            "  4 ffff0004 ffff1004 ffff2004 REG  /tmp/with space\n\n"
            'PID: 2  TASK: ffff02  CPU: 0  COMMAND: "kthreadd"\n'
            "ROOT: /    CWD: /\n"
            "No open files\n")
    first, second = cp.parse_files_all(text)
    assert (first.root, first.cwd) == ("/my root", "/tmp/a b")
    assert [(o.type, o.path) for o in first.files] == [("UNKN", "[eventpoll]"),
                                                      ("REG", "/tmp/with space")]
    assert second.task is not None and second.task.pid == 2 and second.files == []
    assert cp.parse_files(text) == first
    assert cp.parse_files("") == cp.Files()


def test_mount() -> None:
    mounts = cp.parse_mount(read("module-null-8.0.6", "mount.txt"))
    assert [(m.type, m.devname, m.dirname) for m in mounts] == [
        ("rootfs", "rootfs", "/"), ("proc", "proc", "/proc"), ("sysfs", "sysfs", "/sys"),
        ("devtmpfs", "devtmpfs", "/dev")]  # devtmpfs overflows crash's columns
    assert mounts[0] == cp.Mount(mount="ffff8ef7411baa00", superblock="ffff8ef741052800",
                                 type="rootfs", devname="rootfs", dirname="/")
    assert cp.parse_mount("") == [] and cp.parse_mount("ffff 1 2\n") == []

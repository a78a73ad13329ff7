"""
Files and Mounts
----------------

Parsers of crash's ``files`` (a task's root, working directory and open files:
:func:`parse_files`; ``foreach files``: :func:`parse_files_all`) and ``mount`` (the mounted
filesystems: :func:`parse_mount`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from pytest_kdump.analysis.crash.parse.common import _HEX, _header_task
from pytest_kdump.analysis.model import Task


@dataclass(frozen=True)
class OpenFile:
    """An open file of ``files``: descriptor, kernel addresses, ``type`` (REG, CHR, SOCK...)
    and path."""

    fd: int
    file: str
    dentry: str
    inode: str
    type: str
    path: str


@dataclass(frozen=True)
class Files:
    """``files PID``: the task, its root and working directories and open files."""

    task: Task | None = None
    root: str | None = None
    cwd: str | None = None
    files: list[OpenFile] = field(default_factory=list)


_ROOT_CWD = re.compile(r"^\s*ROOT:\s*(.*?)\s+CWD:\s*(.*?)\s*$")
_FD_ROW = re.compile(r"^\s*(\d+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(\S+)\s*(.*?)\s*$")


def parse_files_all(text: str) -> list[Files]:
    """Parse ``files`` for one or more tasks (``foreach files``): one :class:`Files` per
    ``PID:`` header.

    :return: the :class:`Files` of each task, in crash's order (empty for foreign text)
    """
    out: list[Files] = []
    for line in text.splitlines():
        if line.startswith("PID:") and (task := _header_task(line)):
            out.append(Files(task=task))
        elif not out:
            continue
        elif m := _ROOT_CWD.match(line):
            out[-1] = replace(out[-1], root=m.group(1), cwd=m.group(2))
        elif m := _FD_ROW.match(line):
            fd, file, dentry, inode, ftype, path = m.groups()
            out[-1].files.append(OpenFile(fd=int(fd), file=file, dentry=dentry, inode=inode,
                                          type=ftype, path=path))
    return out


def parse_files(text: str) -> Files:
    """Parse ``files PID``; an empty :class:`Files` when the text has no task header.

    >>> f = parse_files('PID: 1  TASK: ffff8a80c11f3000  CPU: 0  COMMAND: "init"\\n'
    ...                 "ROOT: /    CWD: /\\n"
    ...                 " FD       FILE            DENTRY           INODE       TYPE PATH\\n"
    ...                 " 10 ffff8a80c24fbf00 ffff8a80c1c95300 ffff8a80c244f2f0 REG  /init")
    >>> f.task.command, [(o.fd, o.type, o.path) for o in f.files]
    ('init', [(10, 'REG', '/init')])

    :return: the first task's :class:`Files`
    """
    found = parse_files_all(text)
    return found[0] if found else Files()


@dataclass(frozen=True)
class Mount:
    """A ``mount`` row: vfsmount and superblock addresses, filesystem type, device, mount
    point."""

    mount: str
    superblock: str
    type: str
    devname: str
    dirname: str


def parse_mount(text: str) -> list[Mount]:
    """Parse ``mount`` into :class:`Mount` s (columns split on blanks, as crash widens them
    for long names).

    >>> (m,) = parse_mount("ffff8ef7411baa00 ffff8ef741052800 proc   proc      /proc")
    >>> m.type, m.dirname
    ('proc', '/proc')

    :return: the mounts, in crash's order (empty for foreign text)
    """
    out = []
    for line in text.splitlines():
        words = line.split(None, 4)
        if len(words) == 5 and _HEX.fullmatch(words[0]) and _HEX.fullmatch(words[1]):
            out.append(Mount(mount=words[0], superblock=words[1], type=words[2],
                             devname=words[3], dirname=words[4].strip()))
    return out

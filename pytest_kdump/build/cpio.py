"""A minimal writer of "newc" cpio archives (the initramfs format), no root needed.

Files are stored owned by root whoever builds them, and device nodes such as ``/dev/console``
can be added without ``mknod``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


class NewcWriter:
    """Write entries of a newc archive to a binary stream; call :meth:`close` at the end."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"",
               rdev: tuple[int, int] = (0, 0)) -> None:
        name_b = name.encode() + b"\0"
        fields = [
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0,
        ]
        self.ino += 1
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.out.write(header + name_b)
        self.out.write(b"\0" * (-(len(header) + len(name_b)) % 4))
        self.out.write(data)
        self.out.write(b"\0" * (-len(data) % 4))

    def add_dir(self, name: str, mode: int = 0o755) -> None:
        self._entry(name, stat.S_IFDIR | mode)

    def add_file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def add_symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def add_chardev(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def add_tree(self, root: Path) -> None:
        """Add everything under ``root`` (paths relative to it), keeping modes and symlinks."""
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = Path(dirpath).relative_to(root)
            for name in sorted(dirnames) + sorted(filenames):
                path = Path(dirpath) / name
                rel = str(rel_dir / name)
                st = path.lstat()
                if stat.S_ISLNK(st.st_mode):
                    self.add_symlink(rel, os.readlink(path))
                elif stat.S_ISDIR(st.st_mode):
                    self.add_dir(rel, stat.S_IMODE(st.st_mode))
                elif stat.S_ISREG(st.st_mode):
                    self.add_file(rel, path.read_bytes(), stat.S_IMODE(st.st_mode))

    def close(self) -> None:
        self._entry("TRAILER!!!", 0)

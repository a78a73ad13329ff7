"""The cpio (newc) writer of the guest image, checked with the host's cpio."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

from pytest_kdump.build.cpio import NewcWriter


def test_cpio_round_trip(tmp_path: Path) -> None:
    assert shutil.which("cpio"), "the host's cpio is missing: run ./setup"
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "etc").mkdir(mode=0o700)
    (tree / "etc").chmod(0o700)
    hello = tree / "bin" / "hello"
    hello.write_bytes(b"#!/bin/sh\necho hello\n")  # 21 bytes: exercises the padding
    hello.chmod(0o755)
    (tree / "empty").write_bytes(b"")
    (tree / "empty").chmod(0o600)
    (tree / "link").symlink_to("bin/hello")
    (tree / "libx").symlink_to("bin")  # a symlink to a directory is kept as a link

    buf = io.BytesIO()
    w = NewcWriter(buf)
    w.add_tree(tree)
    w.add_dir("dev")
    w.add_chardev("dev/console", 5, 1)
    w.close()
    archive = buf.getvalue()
    assert len(archive) % 4 == 0

    proc = subprocess.run(["cpio", "-itv"], input=archive, capture_output=True, check=True)
    listing = [line.split() for line in proc.stdout.decode().splitlines()]
    entries = {f[-3] if "->" in f else f[-1]: f for f in listing}
    assert list(entries) == ["bin", "etc", "libx", "empty", "link", "bin/hello", "dev",
                             "dev/console"]
    modes = {name: f[0] for name, f in entries.items()}
    assert modes == {"bin": "drwxr-xr-x", "etc": "drwx------", "libx": "lrwxrwxrwx",
                     "empty": "-rw-------", "link": "lrwxrwxrwx", "bin/hello": "-rwxr-xr-x",
                     "dev": "drwxr-xr-x", "dev/console": "crw-------"}
    assert all(f[2:4] == ["root", "root"] for f in listing)
    assert entries["link"][-2:] == ["->", "bin/hello"]
    assert entries["libx"][-2:] == ["->", "bin"]
    assert entries["dev/console"][4:6] == ["5,", "1"]
    assert entries["bin/hello"][4] == "21"
    assert b"TRAILER" not in proc.stdout  # the trailer ends the archive, it is no entry

    out = subprocess.run(["cpio", "-i", "--to-stdout", "bin/hello"], input=archive,
                         capture_output=True, check=True)
    assert out.stdout == hello.read_bytes()

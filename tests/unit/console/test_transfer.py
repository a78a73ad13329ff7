"""ConsoleCopy: a file to the board through shell commands, checked with md5sum."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path

import pytest

from pytest_kdump.console.transfer import ConsoleCopy
from pytest_kdump.errors import CycleError


def test_console_copy_checks_the_md5(tmp_path: Path) -> None:
    files: dict[str, bytes] = {}
    typed: list[str] = []

    def run(command: str) -> str:
        typed.append(command)
        words = command.split()
        if words[0] == "echo":
            files[words[3]] = files.get(words[3], b"") + words[1].encode()
        elif words[0] == "base64":
            files[words[4]] = base64.b64decode(files.pop(words[2]))
        elif words[0] == "md5sum":
            return f"{hashlib.md5(files[words[1]][:-1]).hexdigest()}  {words[1]}"  # lost a byte
        return ""

    local = tmp_path / "f.bin"
    local.write_bytes(bytes(range(200)))
    with pytest.raises(CycleError, match="corrupted it"):
        ConsoleCopy(run, chunk=100).put(local, "/tmp/f.bin")
    assert files["/tmp/f.bin"] == local.read_bytes()
    assert sum(c.startswith("echo ") for c in typed) == 3  # 268 base64 characters



def test_console_copy_quotes_the_path(tmp_path: Path) -> None:
    """The commands run in a real sh: a remote path with a space, a quote and a semicolon
    arrives whole, and nothing else is created."""
    def run(command: str) -> str:
        proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, (command, proc.stderr)
        return proc.stdout

    local = tmp_path / "module.ko"
    local.write_bytes(bytes(range(256)) * 9)
    board = tmp_path / "board"
    board.mkdir()
    remote = str(board / "it's a; crash.ko")
    ConsoleCopy(run, chunk=300).put(local, remote)
    assert Path(remote).read_bytes() == local.read_bytes()
    assert [p.name for p in board.iterdir()] == ["it's a; crash.ko"]

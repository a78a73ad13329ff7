"""The ``disk-image`` transport (QEMU): the crash kernel writes an ext4 virtio disk whose image
file is on the host; the host reads it with ``debugfs`` (no mounting, no root)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from pytest_kdump.errors import ToolError, VmcoreError
from pytest_kdump.transports import FetchedDump


def _tool(name: str) -> str:
    for candidate in (shutil.which(name), f"/sbin/{name}", f"/usr/sbin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    raise ToolError(f"{name} not found", phase="fetch",
                    advice="install e2fsprogs (the set-up script does)")


class DiskImageTransport:
    """An ext4 disk image the crash kernel writes ``/vmcore``, ``/dmesg.txt``, ``/status`` to."""

    def __init__(self, image: Path, size_mb: int = 1024) -> None:
        self.image = Path(image)
        self.size_mb = size_mb

    def prepare(self) -> None:
        """Create the (sparse) ext4 image if it is missing or not ext4."""
        if self.image.is_file() and self._is_ext4():
            return
        self.image.parent.mkdir(parents=True, exist_ok=True)
        with open(self.image, "wb") as f:
            f.truncate(self.size_mb << 20)
        proc = subprocess.run([_tool("mkfs.ext4"), "-q", "-F", "-L", "kdump", str(self.image)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise ToolError(f"mkfs.ext4 {self.image} failed: {proc.stderr.strip()}",
                            phase="prepare", advice="check the dump disk's folder and free space")

    def _is_ext4(self) -> bool:
        with open(self.image, "rb") as f:
            f.seek(1024 + 0x38)
            return f.read(2) == b"\x53\xef"

    def _debugfs(self, request: str, cwd: Path | None = None,
                 timeout: float = 600) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([_tool("debugfs"), "-R", request, str(self.image)],
                                  capture_output=True, text=True, timeout=timeout, cwd=cwd)
        except subprocess.TimeoutExpired:
            raise VmcoreError(f"debugfs {request!r} on {self.image} did not finish within "
                              f"{timeout:g} s", phase="fetch",
                              advice="check the host's disk (a slow or full file system)") from None

    def fetch(self, dest: Path) -> FetchedDump:
        if not self.image.is_file():
            raise VmcoreError(f"the dump disk {self.image} does not exist", phase="fetch",
                              advice="the dump disk is created when KdumpDriver activates: "
                                     "check dump_disk and that nothing deleted it")
        dest.mkdir(parents=True, exist_ok=True)
        listing = self._debugfs("ls -l /").stdout
        names = set(re.findall(r"\s(\S+)\s*$", listing, re.M))
        status: dict[str, str] = {}
        if "status" in names:
            text = self._debugfs("cat /status").stdout
            status = dict(re.findall(r"(\w+)=(\S+)", text))
        if "vmcore" not in names:
            raise VmcoreError(f"no vmcore on the dump disk {self.image} (files: "
                              f"{', '.join(sorted(names - {'.', '..', 'lost+found'})) or 'none'})",
                              phase="fetch",
                              advice="the crash kernel did not save a dump: read its console "
                                     "output above")
        out = {}
        for name, local in (("vmcore", "vmcore"), ("dmesg.txt", "vmcore-dmesg.txt")):
            if name in names:
                # debugfs writes into dest under a name of ours (no user path in its request),
                # and only a complete copy gets the final name
                partial = dest / f".{local}.partial"
                partial.unlink(missing_ok=True)
                proc = self._debugfs(f"dump /{name} {partial.name}", cwd=dest)
                if proc.returncode != 0 or not partial.exists():
                    raise VmcoreError(f"debugfs could not read /{name} from {self.image}: "
                                      f"{proc.stderr.strip()}", phase="fetch")
                out[name] = partial.replace(dest / local)
        return FetchedDump(vmcore=out["vmcore"], dmesg=out.get("dmesg.txt"), status=status)


TRANSPORT = DiskImageTransport

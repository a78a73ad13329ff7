"""The ``disk-image`` transport (QEMU): the crash kernel writes an ext4 virtio disk whose image
file is on the host; the host reads it with ``debugfs`` (no mounting, no root).

A fetch is bounded as a whole: every debugfs call gets what is left of one deadline and is
killed when it runs out. Files are copied under a hidden ``.<name>.partial`` name and renamed
when complete (size checked against the dump disk); a failed or timed-out copy is deleted, as
are the files an earlier fetch left in ``dest``, so no file under a final name is ever
incomplete or stale. (The dump disk keeps the whole dump: nothing is lost by deleting a
partial copy, and the next fetch starts again.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from pytest_kdump import reaper
from pytest_kdump.errors import PhaseTimeout, ToolError, VmcoreError
from pytest_kdump.transports import DEFAULT_FETCH_TIMEOUT, FetchedDump

# (file on the dump disk, file in dest)
_FILES = (("vmcore", "vmcore"), ("dmesg.txt", "vmcore-dmesg.txt"))
# one line of ``ls -p``: /inode/mode/uid/gid/name/size/
_LS_P = re.compile(r"^/\d+/\d+/\d+/\d+/(?P<name>[^/]*)/(?P<size>\d*)/$", re.M)


def _tool(name: str) -> str:
    for candidate in (shutil.which(name), f"/sbin/{name}", f"/usr/sbin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    raise ToolError(f"{name} not found", phase="fetch",
                    advice="install e2fsprogs (the set-up script does)")


def _stderr(text: str) -> str:
    """debugfs's error output, short: no version banner, each line once (a full disk gives
    one line per block), at most 500 characters."""
    lines = dict.fromkeys(line.strip() for line in text.splitlines()
                          if line.strip() and not line.startswith("debugfs 1."))
    return "; ".join(lines)[-500:] or "no error output"


class DiskImageTransport:
    """An ext4 disk image the crash kernel writes ``/vmcore``, ``/dmesg.txt``, ``/status`` to."""

    needs_board = False  # read on the host while the board is down

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

    def _debugfs(self, request: str, deadline: float, limit: float,
                 cwd: Path | None = None) -> tuple[str, str]:
        """Run one debugfs request within what is left of the fetch's ``deadline``; return
        its (stdout, stderr). debugfs exits 0 even when a request fails: callers check."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._timeout(request, limit)
        image = os.path.abspath(self.image)  # debugfs may run in dest
        # its own process group: on timeout it is killed with anything it started
        with reaper.own_group([_tool("debugfs"), "-R", request, image], name="debugfs",
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd) as proc:
            try:
                out, err = proc.communicate(timeout=remaining)
            except subprocess.TimeoutExpired:
                raise self._timeout(request, limit) from None
        return out.decode(errors="replace"), err.decode(errors="replace")

    def _timeout(self, request: str, limit: float) -> PhaseTimeout:
        return PhaseTimeout(
            f"fetching the dump from {self.image} did not finish within {limit:g} s "
            f"(debugfs {request!r} was still running and was killed)", phase="fetch",
            advice="raise the fetch timeout (KdumpDriver's 'timeouts: {fetch: <seconds>}' in "
                   "the environment YAML), or check the host's disk (a slow or full file "
                   "system)")

    def fetch(self, dest: Path, timeout: float | None = None) -> FetchedDump:
        """Copy the dump disk's vmcore, dmesg and status into ``dest`` within ``timeout``
        seconds in all (:data:`~pytest_kdump.transports.DEFAULT_FETCH_TIMEOUT` if None)."""
        limit = DEFAULT_FETCH_TIMEOUT if timeout is None else float(timeout)
        deadline = time.monotonic() + limit
        dest = Path(dest)
        for _, local in _FILES:  # an earlier fetch's files are not this crash's
            (dest / local).unlink(missing_ok=True)
        if not self.image.is_file():
            raise VmcoreError(f"the dump disk {self.image} does not exist", phase="fetch",
                              advice="the dump disk is created when KdumpDriver activates: "
                                     "check dump_disk and that nothing deleted it")
        dest.mkdir(parents=True, exist_ok=True)
        listing, err = self._debugfs("ls -p /", deadline, limit)
        if "while trying to open" in err:
            raise VmcoreError(f"debugfs cannot open the dump disk {self.image}: {_stderr(err)}",
                              phase="fetch",
                              advice="the dump disk is damaged or not an ext4 image: delete it "
                                     "(KdumpDriver creates a new one) and run again")
        sizes = {m["name"]: int(m["size"] or 0) for m in _LS_P.finditer(listing)}
        status: dict[str, str] = {}
        if "status" in sizes:
            text, _ = self._debugfs("cat /status", deadline, limit)
            status = dict(re.findall(r"(\w+)=(\S+)", text))
        if "vmcore" not in sizes:
            files = ", ".join(sorted(set(sizes) - {".", "..", "lost+found"})) or "none"
            raise VmcoreError(f"no vmcore on the dump disk {self.image} (files: {files})",
                              phase="fetch",
                              advice="the crash kernel did not save a dump: read its console "
                                     "output above")
        out = {}
        for name, local in _FILES:
            if name in sizes:
                out[name] = self._copy(name, sizes[name], dest, local, deadline, limit)
        return FetchedDump(vmcore=out["vmcore"], dmesg=out.get("dmesg.txt"), status=status)

    def _copy(self, name: str, size: int, dest: Path, local: str, deadline: float,
              limit: float) -> Path:
        """Copy the dump disk's ``/name`` (``size`` bytes) to ``dest/local``, via a partial
        file deleted unless the copy is complete."""
        # debugfs writes into dest (its cwd) under a fixed name of ours: no user path is
        # ever part of its request, whatever characters dest holds
        partial = dest / f".{local}.partial"
        partial.unlink(missing_ok=True)
        try:
            _, err = self._debugfs(f"dump /{name} {partial.name}", deadline, limit, cwd=dest)
            got = partial.stat().st_size if partial.exists() else None
            if got != size:
                copied = "nothing" if got is None else f"{got} of {size} bytes"
                raise VmcoreError(
                    f"debugfs copied {copied} of /{name} from the dump disk {self.image} to "
                    f"{dest}: {_stderr(err)}", phase="fetch",
                    advice=f"check that {dest} is writable and its file system has room for "
                           f"{size} bytes, and that the dump disk is intact")
            return partial.replace(dest / local)
        finally:
            partial.unlink(missing_ok=True)


TRANSPORT = DiskImageTransport

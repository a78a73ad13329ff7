"""The ``ssh`` transport: the dump stays on the board's disk (kdump-tools' ``/var/crash``) and
is fetched over SSH once the board is back, through labgrid's SSHDriver.

Before a crash, :meth:`SshTransport.before_crash` lists the dumps already on the board (path,
time, size); after it, only a dump not in that list is this crash's, so an older dump left in
the folder is never taken for it. The copy goes through the SSHDriver's own connection
(``scp`` with its options) but with a bound: labgrid's ``get`` has none. Files are copied under
a hidden ``.partial`` name and renamed when complete; a flattened dump (kdump-tools always
passes ``-F``) is rebuilt by :mod:`.flattened`, which checks its end record. With ``remove``,
the dump's folder is deleted on the board after a good fetch, so a night of crashes does not
fill its disk.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_kdump import reaper
from pytest_kdump.console.kernel_lines import without_kernel_messages
from pytest_kdump.errors import KdumpError, PhaseTimeout, ToolError, VmcoreError
from pytest_kdump.transports import DEFAULT_FETCH_TIMEOUT, FetchedDump, flattened

# dump files a saver leaves in its folder: kdump-tools' dump.<stamp> (flattened) or, when
# makedumpfile failed, vmcore.<stamp> (a copy of /proc/vmcore); kdump-utils' vmcore(.flat)
_DUMP_GLOBS = ("*/dump.*", "*/vmcore", "*/vmcore.*")
_DMESG_GLOBS = ("dmesg.*", "vmcore-dmesg.txt")
_STAT = re.compile(r"^(?P<mtime>\d+) (?P<size>\d+) (?P<path>/.*\S)$", re.M)
# what scp copies as it is (in SFTP mode, the default since OpenSSH 9, no shell quoting helps)
_PLAIN_PATH = re.compile(r"[\w./:+@%,=-]+")

Run = Callable[[str, float], str]
"""Runs a board command, returns its output (the engine's ``run``)."""


def list_dumps_command(folder: str) -> str:
    """A shell command printing ``<mtime> <size> <path>`` for each dump file under ``folder``
    (POSIX sh and busybox: ``stat -c``)."""
    q = shlex.quote(folder.rstrip("/") or "/")
    globs = " ".join(f"{q}/{g}" for g in _DUMP_GLOBS)
    return (f"for f in {globs}; do case $f in *-incomplete|*.incomplete) continue;; esac; "
            f"[ -f \"$f\" ] && stat -c '%Y %s %n' \"$f\"; done; true")


def parse_dumps(text: str) -> dict[str, tuple[int, int]]:
    """``{path: (mtime, size)}`` from :func:`list_dumps_command`'s output (over SSH, or on
    the console before a crash: kernel messages printed meanwhile are left out)."""
    text = without_kernel_messages(text)
    return {m["path"]: (int(m["mtime"]), int(m["size"])) for m in _STAT.finditer(text)}


def newest_new_dump(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]],
                    folder: str, saved_in: str | None = None) -> str:
    """The dump file that is this crash's: in ``after`` and not in ``before`` (a file that
    changed counts as new), preferring one in ``saved_in`` (the folder the saver named),
    else the newest. A VmcoreError says what was there when none is new."""
    new = {p: st for p, st in after.items() if before.get(p) != st}
    if saved_in:
        named = {p: st for p, st in new.items()
                 if posixpath.dirname(p).rstrip("/") == saved_in.rstrip("/")}
        new = named or new
    if not new:
        older = ", ".join(sorted(after)) or "none"
        raise VmcoreError(f"no new dump under {folder} on the board (dumps there before the "
                          f"crash and still: {older})", phase="fetch",
                          advice="the saver reported success but wrote no new dump file: see "
                                 "its lines on the console (dump folder, KDUMP_COREDIR)")
    return max(new, key=lambda p: (new[p][0], p))


class SshTransport:
    """Dumps on the board's disk under ``folder``, fetched with labgrid's ``ssh`` driver."""

    needs_board = True  # the board must be back at a shell (and on the network)

    def __init__(self, ssh: Any, folder: str = "/var/crash", remove: bool = True) -> None:
        self.ssh = ssh
        self.folder = folder
        self.remove = remove
        self.saved_in: str | None = None  # the folder the saver named, set by the engine
        self._before: dict[str, tuple[int, int]] = {}

    def prepare(self) -> None:
        """Nothing to prepare on the host."""

    def before_crash(self, run: Run) -> None:
        """Remember the dumps already on the board."""
        self._before = parse_dumps(run(list_dumps_command(self.folder), 30))
        self.saved_in = None

    def fetch(self, dest: Path, timeout: float | None = None) -> FetchedDump:
        """Find this crash's dump on the board, copy it and its dmesg into ``dest``, rebuild a
        flattened dump; all within ``timeout`` seconds."""
        limit = DEFAULT_FETCH_TIMEOUT if timeout is None else float(timeout)
        deadline = time.monotonic() + limit
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("vmcore", "vmcore-dmesg.txt"):
            (dest / name).unlink(missing_ok=True)
        self._connect(deadline)
        try:
            return self._fetch(dest, deadline)
        finally:  # no SSH master or keepalive left to outlive the board (the next crash)
            with contextlib.suppress(Exception):
                self.ssh.target.deactivate(self.ssh)

    def _fetch(self, dest: Path, deadline: float) -> FetchedDump:
        after = parse_dumps(self._run(list_dumps_command(self.folder), deadline))
        remote = newest_new_dump(self._before, after, self.folder, self.saved_in)
        folder = posixpath.dirname(remote)
        kept = dest / f"{posixpath.basename(remote)}.incomplete"  # a refused dump's bytes
        # hidden until the end: no file of a failed fetch under a final name
        got = self._copy(remote, dest / f".board-{posixpath.basename(remote)}", deadline)
        dmesg_part = dest / ".vmcore-dmesg.txt"
        try:
            names = self._run(f"cd {shlex.quote(folder)} && ls -1", deadline).split()
            dmesg_name = next((n for n in names
                               if any(Path(n).match(g) for g in _DMESG_GLOBS)), None)
            if dmesg_name is not None:
                self._copy(posixpath.join(folder, dmesg_name), dmesg_part, deadline)
            if got.stat().st_size == 0:
                raise VmcoreError(f"the dump on the board, {remote}, is empty: the saver "
                                  "reported it saved, yet nothing was written", phase="fetch",
                                  advice="read the crash kernel's lines before the saver's: "
                                         "makedumpfile's error")
            if flattened.is_flattened(got):
                size = flattened.unflatten(got, dest / "vmcore",
                                           timeout=max(1.0, deadline - time.monotonic()))
                got.unlink()
            else:
                size = got.stat().st_size
                got.rename(dest / "vmcore")
        except BaseException:
            if got.exists():
                got.rename(kept)
            dmesg_part.unlink(missing_ok=True)
            raise
        dmesg = None
        if dmesg_part.exists():
            dmesg = dmesg_part.replace(dest / "vmcore-dmesg.txt")
        status = {"size": str(size), "board_path": remote}
        if self.remove:  # best effort: the dump is here already
            try:
                self._run(f"rm -rf {shlex.quote(folder)}",
                          time.monotonic() + 30)  # its own bound, past the fetch's
                after = {p: st for p, st in after.items() if not p.startswith(folder + "/")}
            except KdumpError as exc:
                status["remove_failed"] = exc.message
        self._before = after  # a later crash's dump is new against these
        return FetchedDump(dest / "vmcore", dmesg, status)

    # -- the SSH connection ----------------------------------------------------------------
    def _left(self, deadline: float, what: str) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise PhaseTimeout(f"fetching the dump over SSH did not finish in time ({what})",
                               phase="fetch", advice="the board's network after its reboot, "
                               "or a larger fetch timeout for big dumps")
        return left

    def _connect(self, deadline: float) -> None:
        """(Re)connect: the board rebooted since any earlier connection."""
        target = self.ssh.target
        last = ""
        while True:
            try:
                target.deactivate(self.ssh)
                self.ssh.connection_timeout = float(max(1, min(30, int(
                    self._left(deadline, "connecting")))))
                target.activate(self.ssh)
                _, _, rc = self.ssh.run("true", timeout=self._left(deadline, "connecting"))
                if rc == 0:
                    return
                last = f"'true' exited with {rc}"
            except KdumpError:
                raise
            except Exception as exc:  # whatever labgrid raises while sshd is not up
                last = str(exc) or type(exc).__name__
            if deadline - time.monotonic() <= 1:
                ns = self.ssh.networkservice
                raise PhaseTimeout(f"the board's SSH ({ns.username}@{ns.address}:{ns.port}) did "
                                   f"not answer after its reboot: {last}", phase="fetch",
                                   advice="check the board is on the network after the reboot "
                                          "(address, sshd, root's authorized_keys)")
            time.sleep(1.0)

    def _run(self, command: str, deadline: float) -> str:
        try:
            out, err, rc = self.ssh.run(command, timeout=self._left(deadline, command))
        except subprocess.TimeoutExpired:
            raise PhaseTimeout(f"board command {command!r} over SSH did not finish in time",
                               phase="fetch", advice="the board's network, or a larger fetch "
                                                     "timeout") from None
        except KdumpError:
            raise
        except Exception as exc:  # labgrid's ExecutionError: the connection went away
            raise VmcoreError(f"board command {command!r} over SSH failed: {exc}",
                              phase="fetch", advice="check the board's network and sshd") \
                from None
        if rc != 0:
            raise VmcoreError(f"board command {command!r} failed (exit {rc}): "
                              f"{' '.join(err or out)[-300:]}", phase="fetch")
        return "\n".join(out)

    def _copy(self, remote: str, local: Path, deadline: float) -> Path:
        """``scp`` through the driver's connection into a ``.partial`` file, then renamed."""
        if not _PLAIN_PATH.fullmatch(remote):
            raise VmcoreError(f"cannot copy {remote!r} with scp: spaces or quotes in the path",
                              phase="fetch", advice="give the saver a dump folder whose path "
                                                    "has letters, digits and ./_-:+@%,= only")
        partial = local.with_name(f".{local.name}.partial")
        ns = self.ssh.networkservice
        argv = ["scp", "-q", "-S", "ssh", *self.ssh.ssh_prefix, "-P", str(ns.port),
                f"{ns.username}@{ns.address}:{remote}", str(partial)]
        try:
            with reaper.own_group(argv, name="scp", stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) as proc:
                try:
                    _, err = proc.communicate(timeout=self._left(deadline, f"copying {remote}"))
                except subprocess.TimeoutExpired:
                    raise PhaseTimeout(f"copying {remote} from the board did not finish in "
                                       "time", phase="fetch",
                                       advice="a larger fetch timeout for big dumps, or a "
                                              "faster link") from None
            if proc.returncode != 0:
                raise ToolError(f"scp of {remote} failed (exit {proc.returncode}): "
                                f"{err.decode(errors='replace').strip()[-300:]}", phase="fetch")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(local)
        return local


TRANSPORT = SshTransport

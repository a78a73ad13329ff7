"""Kill the processes this Python process started when it dies, however it dies.

QEMU, crash and debugfs run as children of pytest; a pytest killed by SIGKILL (or SIGTERM,
which Python does not turn into an exception) runs no cleanup, and they would run on.
:func:`watch` hands a process to a *watcher*: one small process per Python process, started
on the first :func:`watch` (nothing runs until then)::

    proc = reaper.watch_popen(subprocess.Popen(argv), "crash")
    ...
    proc.wait(); reaper.unwatch(proc.pid)

How it works. The watcher (``python -I pytest_kdump/reaper.py``, or ``python -m
pytest_kdump.reaper``) runs in a session of its own, so a Ctrl-C or a signal to pytest's
process group does not reach it, and it ignores SIGINT, SIGTERM and SIGHUP. Its stdin is one
end of a unix SOCK_SEQPACKET socket pair; the other end exists only in this process (it is
non-inheritable, and a ``fork()`` child closes its copy at once), so the watcher reads EOF
exactly when this process exits or dies. :func:`watch` opens a pidfd of the process here,
synchronously, and passes it over the socket: the watcher holds the process itself, not a
pid number that could be reused. At EOF the watcher sends SIGTERM to every watched process
still alive, SIGKILL to those alive :data:`GRACE` seconds later, reports each on its stderr
(the stderr this process had when the watcher started) and exits.

A normal exit kills too: whatever is still watched when Python exits is an orphan by
definition (a QEMU that nobody switched off). An ``atexit`` hook closes the socket and waits
for the watcher, so when this process has exited the orphans are gone. :func:`unwatch` a
process that must outlive this one.

Nothing here may break a test: without pidfds (Linux < 5.3), or when the watcher cannot start,
died or does not read its socket, :func:`watch` warns once (:class:`ReaperWarning`) and does
nothing from then on (the socket stays open: a watcher that is only slow still kills, at the
end, what it was given).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator

GRACE = 3.0  # seconds between SIGTERM and SIGKILL
_SEND_TIMEOUT = 10.0  # a watcher that does not read for this long is taken as hung
_NAME_MAX = 200  # bytes of a name sent to the watcher


# -- the parent side (everything imported and started lazily) ---------------------------------
class ReaperWarning(RuntimeWarning):
    """Processes cannot be watched: they may outlive this process if it is killed."""


_P = TypeVar("_P", bound="subprocess.Popen[Any]")

_lock = threading.Lock()  # one thread at a time talks to the watcher
_sock: socket.socket | None = None  # our end of the watcher's socket
_proc = None  # the watcher's subprocess.Popen
_watched: set[int] = set()
_disabled = False  # watching failed once (warned): do nothing any more
_hooks_installed = False


def watch(pid: int, name: str = "") -> None:
    """Kill process ``pid`` (SIGTERM, then SIGKILL) when this process exits or dies.

    ``pid`` must be alive or not yet reaped (a child of this process before its ``wait()``):
    its pidfd is opened here, so a later reuse of the number is harmless. A process already
    gone is ignored. ``name`` (e.g. "qemu") appears in the watcher's report. Never raises:
    a failure warns once and turns watching off.
    """
    if _disabled:
        return
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # already gone: nothing to kill
    except (AttributeError, OSError) as exc:  # no os.pidfd_open, ENOSYS (< 5.3), EINVAL...
        _with_lock(_disable, f"cannot open a pidfd of process {pid} ({exc!r})")
        return
    try:
        _with_lock(_send_watch, pid, name, pidfd)
    finally:
        os.close(pidfd)


def watch_popen(proc: _P, name: str = "") -> _P:
    """:func:`watch` a ``subprocess.Popen``; returns it."""
    watch(proc.pid, name)
    return proc


def unwatch(pid: int) -> None:
    """Let process ``pid`` live on after this process: the watcher forgets it.

    Unwatching a pid that is not watched does nothing.
    """
    if pid in _watched:
        _with_lock(_send_unwatch, pid)


@contextlib.contextmanager
def own_group(*popenargs: Any, name: str = "",
              **kwargs: Any) -> Iterator[subprocess.Popen[Any]]:
    """``subprocess.Popen`` in a session (process group) of its own, watched (``name`` as in
    :func:`watch`): Ctrl-C does not reach it, only this code and the watcher stop it. On the
    way out, however the block ends, the group is SIGKILLed (children the process started
    included) and the process reaped (at most 10 s), then unwatched."""
    import subprocess

    proc = subprocess.Popen(*popenargs, start_new_session=True, **kwargs)
    watch(proc.pid, name)
    try:
        yield proc
    finally:
        # a finished leader's group is empty, and its id is not reused while it has members
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        unwatch(proc.pid)


def watcher_pid() -> int | None:
    """The watcher's pid; None while no watcher runs (nothing watched yet, or watching failed)."""
    return _proc.pid if _proc is not None and not _disabled else None


def _with_lock(func: Any, *args: Any) -> None:
    with _lock:
        if not _disabled:
            func(*args)


def _send_watch(pid: int, name: str, pidfd: int) -> None:
    if _sock is None and not _start():
        return
    text = f"w {pid} {name}".encode(errors="replace")[:_NAME_MAX]
    if _send(text, pidfd):
        _watched.add(pid)


def _send_unwatch(pid: int) -> None:
    if _sock is not None and _send(f"u {pid}".encode()):
        _watched.discard(pid)


def _send(message: bytes, pidfd: int | None = None) -> bool:
    try:
        fds = [pidfd] if pidfd is not None else []
        socket.send_fds(_sock, [message], fds, socket.MSG_NOSIGNAL)
        return True
    except OSError as exc:  # BrokenPipeError: the watcher died; TimeoutError: it hangs
        _disable(f"the watcher process ({watcher_pid()}) does not answer ({exc!r})")
        return False


def _start() -> bool:
    """Start the watcher (under the lock); False when it cannot run (warned)."""
    global _sock, _proc, _hooks_installed
    import subprocess

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        # -I: neither PYTHON* variables nor the working directory change what the watcher runs
        _proc = subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__)],
                                 stdin=theirs.fileno(), stdout=subprocess.DEVNULL,
                                 close_fds=True, start_new_session=True, cwd="/")
    except OSError as exc:
        ours.close()
        _disable(f"cannot start the watcher process ({exc!r})")
        return False
    finally:
        theirs.close()
    ours.settimeout(_SEND_TIMEOUT)
    _sock = ours
    if not _hooks_installed:
        import atexit

        os.register_at_fork(after_in_child=_forget_in_child)
        atexit.register(_at_exit)
        _hooks_installed = True
    return True


def _forget_in_child() -> None:
    """After fork(): the child must not keep the watcher's socket open (the watcher would
    wait for the child too), nor use it; a child that calls watch() starts its own watcher."""
    global _sock, _proc, _lock, _disabled
    if _sock is not None:
        _sock.close()
    _sock, _proc, _lock, _disabled = None, None, threading.Lock(), False
    _watched.clear()


def _at_exit() -> None:
    """Normal exit: the watcher kills what is still watched; wait until it has."""
    global _sock, _proc
    sock, proc, _sock, _proc = _sock, _proc, None, None
    if sock is None or proc is None:
        return
    sock.close()
    try:
        proc.wait(timeout=2 * GRACE + 1)  # its SIGTERM wait, its SIGKILL wait
    except Exception:  # TimeoutExpired: the watcher finishes (or not) on its own
        pass


def _disable(reason: str) -> None:
    global _disabled
    if _disabled:
        return
    # the socket stays open: a watcher that is only slow must not take it for our death
    _disabled = True
    _watched.clear()
    import warnings

    message = (f"pytest-kdump: {reason}: the processes it starts (QEMU, crash) are no longer "
               "watched and may outlive this process if it is killed")
    try:
        warnings.warn(message, ReaperWarning, stacklevel=2)
    except Exception:  # -W error: a warning must not fail the test
        print(message, file=sys.stderr)


# -- the watcher ------------------------------------------------------------------------------
def main() -> int:
    """The watcher: stdin is the socket; at EOF kill what is watched, then exit."""
    import select

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    try:
        sock = socket.socket(fileno=0)
    except OSError:
        print("pytest-kdump reaper: stdin must be the socket of pytest_kdump.reaper.watch()",
              file=sys.stderr)
        return 2
    parent = os.getppid()
    watched: dict[int, tuple[int, str]] = {}  # pidfd -> (pid, name)
    by_pid: dict[int, int] = {}  # pid -> pidfd
    poller = select.poll()
    poller.register(sock, select.POLLIN)

    def forget(pidfd: int) -> None:
        pid, _ = watched.pop(pidfd)
        if by_pid.get(pid) == pidfd:
            del by_pid[pid]
        poller.unregister(pidfd)
        os.close(pidfd)

    while True:
        for fd, _ in poller.poll():
            if fd != sock.fileno():
                if fd in watched:  # the process exited: nothing to kill any more
                    forget(fd)
                continue
            try:
                data, fds, _, _ = socket.recv_fds(sock, 4096, 4)
            except OSError:
                data, fds = b"", []
            if not data:  # EOF: the parent exited or died
                _kill_all(watched, parent)
                return 0
            kind, _, rest = data.decode(errors="replace").partition(" ")
            pid_text, _, name = rest.partition(" ")
            if kind == "w" and fds and pid_text.isdigit():
                pid, pidfd = int(pid_text), fds.pop(0)
                if pid in by_pid:
                    forget(by_pid[pid])  # the number was reused: this is the live one
                watched[pidfd] = (pid, name)
                by_pid[pid] = pidfd
                poller.register(pidfd, select.POLLIN)
            elif kind == "u" and pid_text.isdigit() and int(pid_text) in by_pid:
                forget(by_pid[int(pid_text)])
            for extra in fds:
                os.close(extra)


def _kill_all(watched: dict[int, tuple[int, str]], parent: int) -> None:
    """SIGTERM every watched process still alive, SIGKILL those alive GRACE seconds later."""
    alive = [fd for fd in watched if _signal(fd, signal.SIGTERM)]
    for fd in alive:
        pid, name = watched[fd]
        print(f"pytest-kdump reaper: process {parent} is gone: stopping its "
              f"{name or 'process'} (pid {pid})", file=sys.stderr, flush=True)
    alive = _wait_exit(alive, GRACE)
    for fd in alive:
        pid, name = watched[fd]
        print(f"pytest-kdump reaper: {name or 'process'} (pid {pid}) is still running "
              f"{GRACE:g} s after SIGTERM: SIGKILL", file=sys.stderr, flush=True)
        _signal(fd, signal.SIGKILL)
    _wait_exit(alive, GRACE)


def _wait_exit(pidfds: list[int], timeout: float) -> list[int]:
    """Wait until the processes of ``pidfds`` exited, at most ``timeout`` s; those alive."""
    import select
    import time

    poller = select.poll()
    for fd in pidfds:
        poller.register(fd, select.POLLIN)  # a pidfd is readable once its process exited
    alive = set(pidfds)
    deadline = time.monotonic() + timeout
    while alive:
        for fd, _ in poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
            alive.discard(fd)
            poller.unregister(fd)
        if time.monotonic() >= deadline:
            break
    return [fd for fd in pidfds if fd in alive]


def _signal(pidfd: int, sig: int) -> bool:
    """Send ``sig`` unless the process has exited; True if it was still running."""
    if not _wait_exit([pidfd], 0):
        return False
    try:
        signal.pidfd_send_signal(pidfd, sig)
    except OSError:  # ProcessLookupError: gone meanwhile
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())

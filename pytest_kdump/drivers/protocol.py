"""labgrid protocols as the engine's: commands and file copies through labgrid drivers.

By default the engine runs board commands with its own shell on the console and copies files
as base64 over it. An env can hand those jobs to labgrid drivers instead, naming them in
KdumpDriver's section (a driver's ``name``, or its class when it has none)::

    KdumpDriver:
      commands: ShellDriver        # a CommandProtocol driver: ShellDriver, SSHDriver...
      file_transfer: SSHDriver     # a FileTransferProtocol driver: SSHDriver, ShellDriver...

They are named, not bound: labgrid activates a driver's bound suppliers together with it, and
ShellDriver (log-in) or SSHDriver (connection) can only activate once the board is up, which
is KdumpDriver's job. :class:`LabgridCommands` (re)activates its driver whenever the engine
waits for the board's shell. A driver merely present in the env (e.g. a ShellDriver sharing
KdumpConsoleDriver) is not used by the engine.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pexpect
from labgrid.driver.exception import ExecutionError
from labgrid.protocol import CommandProtocol, FileTransferProtocol

from pytest_kdump.console.shell import CommandResult, ShellAborted
from pytest_kdump.console.spawn import ConsoleSpawn
from pytest_kdump.errors import ConfigError, CycleError


def _label(driver: Any) -> str:
    return driver.name or type(driver).__name__


def find_driver(target: Any, protocol: type, spec: str, key: str) -> Any:
    """The one driver of ``target`` implementing ``protocol`` whose name or class name is
    ``spec``; a ConfigError naming the candidates otherwise (``key``: the YAML key)."""
    able = [d for d in target.drivers if isinstance(d, protocol)]
    found = [d for d in able if spec in (d.name, type(d).__name__)]
    if len(found) == 1:
        return found[0]
    what = "no" if not found else "more than one"
    names = ", ".join(sorted({_label(d) for d in able})) or "none"
    raise ConfigError(f"KdumpDriver: {key}: {what} {protocol.__name__} driver called {spec!r} "
                      f"in target {target.name!r}",
                      advice=f"name one of this target's {protocol.__name__} drivers: {names}"
                      + (" (give them distinct names)" if found else ""))


class LabgridCommands:
    """A labgrid CommandProtocol driver (ShellDriver, SSHDriver...) as the engine's
    :class:`~pytest_kdump.engine.board.CommandRunner`.

    ``watch`` is the engine's console spawn: the console output of each command is searched
    for the ``abort`` patterns (a kernel crash) and then dropped from it, as the engine's own
    shell consumes what it reads. labgrid's ``run()`` cannot be interrupted, so a crash is
    reported when the command returns or times out, not at once.
    """

    def __init__(self, driver: CommandProtocol, watch: ConsoleSpawn | None = None,
                 retry: float = 2.0) -> None:
        self.driver = driver
        self.watch = watch
        self.retry = retry

    def wait_ready(self, timeout: float) -> None:
        """(Re)activate the driver until it runs ``true`` (the board may have rebooted since
        it logged in or connected); pexpect.TIMEOUT if it does not within ``timeout``.
        labgrid's own waits (ShellDriver's login_timeout...) can make it last longer."""
        target = self.driver.target
        deadline = time.monotonic() + timeout
        while True:
            try:
                target.deactivate(self.driver)
                target.activate(self.driver)
                _, _, rc = self.driver.run("true", timeout=max(1.0, deadline - time.monotonic()))
                if rc == 0:
                    break
                last = f"'true' exited with {rc}"
            except Exception as exc:  # whatever labgrid raises while the board is not up
                last = repr(exc)
            left = deadline - time.monotonic()
            if left <= 0:
                raise pexpect.TIMEOUT(f"{_label(self.driver)} not ready within {timeout:g} s: "
                                      f"{last}")
            time.sleep(min(self.retry, left))
        if self.watch is not None:
            self.watch.drain()

    def run(self, command: str, timeout: float = 30,
            abort: Sequence[re.Pattern[str]] | None = None,
            confirm: Sequence[re.Pattern[str]] | None = None) -> CommandResult:
        """Run ``command`` with the driver's ``run(cmd, timeout=...)``; stdout then stderr.
        With ``confirm`` given, a command that returns is not aborted by crash text on the
        console (it printed it, or the kernel survived it): only one that times out is."""
        self.driver.target.activate(self.driver)  # nothing to do if it is active
        stream = None
        if self.watch is not None:
            self.watch.drain()
            stream = self.watch.capture.subscribe()
        try:
            try:
                stdout, stderr, rc = self.driver.run(command, timeout=timeout)
            except ExecutionError as exc:  # labgrid could not run it (e.g. SSH gone)
                raise CycleError(f"{_label(self.driver)} could not run {command!r}: {exc}",
                                 advice="check the board's connection (network, log-in) and "
                                        "the driver's settings in the env") from None
            except (pexpect.TIMEOUT, subprocess.TimeoutExpired) as exc:
                time.sleep(0.2)  # what the console printed last reaches the capture
                self._check_abort(command, abort, stream)
                raise pexpect.TIMEOUT(f"{command!r} did not finish within {timeout:g} s "
                                      f"({_label(self.driver)})") from exc
            self._check_abort(command, None if confirm is not None else abort, stream)
        finally:
            if stream is not None:
                self.watch.capture.unsubscribe(stream)
        return CommandResult(command, "\n".join([*stdout, *(stderr or [])]), rc)

    def _check_abort(self, command: str, abort: Sequence[re.Pattern[str]] | None,
                     stream: Any) -> None:
        """Raise ShellAborted if the console showed an abort pattern while ``command`` ran,
        leaving the watch just after it (where the engine's shell would have stopped);
        otherwise drop the command's console output from the watch."""
        if self.watch is None or stream is None:
            return
        chunks = []
        while not stream.empty():
            item = stream.get_nowait()
            if isinstance(item, bytes):
                chunks.append(item)
        text = b"".join(chunks).decode("utf-8", "replace")
        for pattern in abort or []:
            if pattern.search(text):
                self.watch.expect(list(abort or []), timeout=5)
                raise ShellAborted(command, self.watch.match.group(0))
        self.watch.drain()


class LabgridFileTransfer:
    """A labgrid FileTransferProtocol driver (SSHDriver, ShellDriver's xmodem...) as the
    engine's :class:`~pytest_kdump.engine.board.FileCopier`."""

    def __init__(self, driver: FileTransferProtocol) -> None:
        self.driver = driver

    def put(self, local: Path, remote: str) -> None:
        """Copy ``local`` to the board's ``remote`` (activating the driver first)."""
        self.driver.target.activate(self.driver)
        try:
            self.driver.put(str(local), remote)
        except ExecutionError as exc:
            raise CycleError(f"{_label(self.driver)} could not copy {local} to the board's "
                             f"{remote}: {exc}",
                             advice="check the driver's connection to the board, or drop "
                                    "KdumpDriver's file_transfer to copy over the console"
                             ) from exc

"""Commands at a shell on the board's console, with their output and exit code."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pexpect

from pytest_kdump.console.spawn import ConsoleSpawn

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_counter = itertools.count(1)


class ShellAborted(Exception):
    """An abort pattern (such as a kernel crash) appeared while a command ran."""

    def __init__(self, command: str, seen: str) -> None:
        super().__init__(f"{command!r} interrupted by: {seen.strip()}")
        self.command = command
        self.seen = seen.strip()


@dataclass
class CommandResult:
    """What a command printed and its exit code."""

    command: str
    output: str
    rc: int

    def __str__(self) -> str:
        return f"$ {self.command}  (exit {self.rc})\n{self.output}"


class Shell:
    """Runs commands at a shell prompt on a console, through pexpect (the engine's default
    :class:`~pytest_kdump.engine.board.CommandRunner`).

    Each command is followed by an ``echo`` of a marker holding its exit code; the marker is
    written so that the terminal's echo of the command line cannot match it.
    """

    def __init__(self, spawn: ConsoleSpawn, prompt: str = r"[#$] ") -> None:
        self.spawn = spawn
        self.prompt = prompt

    def wait_ready(self, timeout: float) -> None:
        """Wait until the shell answers a command; raises pexpect.TIMEOUT/EOF.

        Waits for a prompt first (typing into a booting kernel is lost or delayed), then
        confirms with an echo; with no prompt for a while, a newline asks for one.
        """
        deadline = time.monotonic() + timeout
        wait = 5.0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise pexpect.TIMEOUT(f"no shell prompt within {timeout:g} s")
            try:
                self.spawn.expect(self.prompt, timeout=min(wait, left))
            except pexpect.TIMEOUT:
                self.spawn.sendline("")
                wait = 3.0
                continue
            n = next(_counter)
            self.spawn.sendline(f"echo READY-$(({n}+1))-KD")
            try:
                self.spawn.expect_exact(f"READY-{n + 1}-KD", timeout=max(0.1, min(5.0, left)))
            except pexpect.TIMEOUT:
                continue
            self._settle(5)
            return

    def _settle(self, timeout: float) -> None:
        """Consume the prompt that follows a command: input typed before it can be lost."""
        try:
            self.spawn.expect(self.prompt, timeout=timeout)
        except pexpect.TIMEOUT:
            pass

    def run(self, command: str, timeout: float = 30,
            abort: Sequence[re.Pattern[str]] | None = None) -> CommandResult:
        """Run ``command`` and return its output (terminal echo removed) and exit code.

        If one of the ``abort`` patterns shows up first (e.g. a kernel crash), raise
        :class:`ShellAborted` at once instead of waiting for the timeout.
        """
        n = next(_counter)
        begin, end = f"KD-BEGIN-{n}", f"KD-END-{n}"
        abort = abort or []
        self.spawn.sendline(f"echo {begin[:3]}''{begin[3:]}; {command}; echo {end[:3]}''"
                            f"{end[3:]}-$?-")
        for marker in (re.compile(re.escape(begin)), re.compile(re.escape(end) + r"-(\d+)-")):
            if self.spawn.expect([marker, *abort], timeout=timeout) > 0:
                raise ShellAborted(command, self.spawn.match.group(0))
        output = _ANSI.sub("", self.spawn.before).replace("\r", "")
        rc = int(self.spawn.match.group(1))
        self._settle(min(timeout, 5))
        return CommandResult(command, output.strip("\n"), rc)

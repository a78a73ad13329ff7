"""Commands at a shell on the board's console, with their output and exit code."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pexpect

from pytest_kdump.console.spawn import ConsoleSpawn
from pytest_kdump.errors import ConfigError

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_counter = itertools.count(1)
MAX_COMMAND = 960  # characters; with the markers around it, within busybox's 1024


class ShellAborted(Exception):
    """An abort pattern (such as a kernel crash) appeared while a command ran; ``confirmed``
    is the match of the confirm pattern that followed it, if one did (it is consumed)."""

    def __init__(self, command: str, seen: str, confirmed: re.Match[str] | None = None) -> None:
        super().__init__(f"{command!r} interrupted by: {seen.strip()}")
        self.command = command
        self.seen = seen.strip()
        self.confirmed = confirmed


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
            abort: Sequence[re.Pattern[str]] | None = None,
            confirm: Sequence[re.Pattern[str]] | None = None) -> CommandResult:
        """Run ``command`` and return its output (terminal echo removed) and exit code.

        If one of the ``abort`` patterns shows up (e.g. a kernel crash headline), raise
        :class:`ShellAborted` at once; or, given ``confirm`` patterns (e.g. the crash kernel
        starting), only once one of them follows or the timeout passes: a command that still
        finishes only printed such text (``dmesg`` after an oops) and gets its result.
        """
        if len(command) > MAX_COMMAND:
            raise ConfigError(
                f"a board command of {len(command)} characters: the shell's line editor "
                f"takes about 1000 (busybox: 1024) and cuts the rest, so it would never end",
                advice="copy a script to the board (kdump.engine.put_file) and run it, or "
                       "split the command")
        n = next(_counter)
        begin = re.compile(re.escape(f"KD-BEGIN-{n}"))
        end = re.compile(re.escape(f"KD-END-{n}") + r"-(\d+)-")
        abort, confirm = list(abort or []), list(confirm or [])
        self.spawn.sendline(f"echo KD-''BEGIN-{n}; {command}; echo KD-''END-{n}-$?-")
        deadline = time.monotonic() + timeout
        started = False  # the begin marker was seen: what follows is the command's output
        seen: str | None = None  # abort text seen, waiting for a confirm or the end
        output = []
        while True:
            marker = end if started else begin
            watch = confirm if seen is not None else abort
            try:
                idx = self.spawn.expect([marker, *watch],
                                        timeout=max(0.1, deadline - time.monotonic()))
            except pexpect.TIMEOUT:
                if seen is not None:  # the crash text came and the command never finished
                    raise ShellAborted(command, seen) from None
                raise
            if started:
                output.append(self.spawn.before)
            if idx == 0 and started:
                break
            if idx == 0:
                started = True
            elif seen is None and confirm:
                seen = self.spawn.match.group(0)
                if started:
                    output.append(seen)
            elif seen is None:
                raise ShellAborted(command, self.spawn.match.group(0))
            else:
                raise ShellAborted(command, seen, confirmed=self.spawn.match)
        text = _ANSI.sub("", "".join(output)).replace("\r", "")
        rc = int(self.spawn.match.group(1))
        self._settle(min(timeout, 5))
        return CommandResult(command, text.strip("\n"), rc)

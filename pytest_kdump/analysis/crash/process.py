"""One ``crash`` process per dump, kept at its prompt: any number of commands, one start-up.

crash reads commands on a pipe (FACTS: ``-i FILE`` misplaces piped output) and prints no prompt
there, so each command is followed by ``echo`` and ``echo <marker>``; the output ends at the
line that is the marker (the bare ``echo`` starts that line even after output without a final
newline). The marker holds a random token per process: a dump's kernel log cannot forge it.
Every wait is bounded; a command that does not finish kills the process. The transcript of the
whole process goes to ``crash-session.txt`` and each command's output to
``crash-NN-<command>.txt`` in the artifact folder.

crash runs in a controlled place: no ``.crashrc`` (``--no_crashrc``), a private empty folder as
working directory, HOME and TMPDIR (no ``.gdbinit`` either), and an environment of PATH and a C
locale only (plus what the caller passes in ``env``). Commands that would run something outside
crash (``!cmd``, ``| cmd``, ``> file``, ``echo``...: see :func:`shell_escape`) are refused
unless the caller allows them (``allow_shell``).

    with CrashProcess(tool, vmlinux, vmcore, out_dir=folder) as s:
        s.sys().panic_message, s.bt().frames, s.run("kmem -i")
"""

from __future__ import annotations

import os
import re
import secrets
import select
import shlex
import shutil
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pytest_kdump import reaper
from pytest_kdump.analysis.crash import parse as cp
from pytest_kdump.analysis.crash.tool import CrashTool
from pytest_kdump.errors import AnalysisError, CrashCommandError, ToolError
from pytest_kdump.vmcore import check_inputs

_MARK = "@@PYTEST-KDUMP-{token}-{index}@@"
_MAX_OUTPUT = 256 << 20  # a command printing more than this is stopped
# crash reads a line of at most 1498 characters (fgets into BUFSIZE-1): the rest of a longer
# line would run as a command of its own, unchecked
MAX_COMMAND = 1497

# Commands crash does not know and hands to /bin/sh with their arguments (main.c,
# is_external_command): `echo $(...)` runs anything.
_EXTERNAL = frozenset({"vi", "pwd", "grep", "cat", "more", "less", "echo", "ls", "clear"})
# gdb commands (``gdb CMD``) that run shell commands, scripts or other commands; gdb also
# takes any unique prefix of three letters or more, and these aliases
_GDB_RUNNERS = ("shell", "pipe", "make", "python", "python-interactive", "guile", "guile-repl",
                "source", "eval", "with", "alias", "faas", "taas", "tfaas")
_GDB_RUNNER_ALIASES = frozenset({"!", "|", "sh", "py", "pi", "gu", "gr", "w"})
# crash's built-in aliases that name another command (cmdline.c, alias_init)
_BUILTIN_ALIASES = {"g": "gdb", "for": "foreach", "quit": "q"}
SHELL_ADVICE = ("if the test means it, allow it: run(command, allow_shell=True) or "
                "CrashProcess(..., allow_shell=True); filter output in Python instead of a "
                "pipe (run('log').splitlines()[-40:]); a comparison goes in parentheses: "
                "p (jiffies > 0)")

MISMATCH_ADVICE = ("the vmlinux does not match the kernel that wrote the vmcore: use the debug "
                   "vmlinux of exactly that kernel build (linux-image-<release>-dbg)")
DEBUGINFO_ADVICE = ("use the debug vmlinux of the dump's kernel (linux-image-<release>-dbg: "
                    "usr/lib/debug/boot/vmlinux-<release>), not the compressed kernel image")
VMCORE_ADVICE = ("the vmcore is damaged or truncated: fetch it again and check that the crash "
                 "kernel reported the dump complete (DUMP-OK)")
ARCH_ADVICE = ("this crash reads dumps of its own architecture only: drop --crash/--kdump-crash "
               "and pytest-kdump picks the crash for the dump's architecture (`pytest-kdump "
               "setup-crash --arch aarch64` builds one for arm64 dumps), or use the drgn backend")
# crash warns about this and goes on; its answers would be wrong, so it is an error here
_MISMATCH_WARNING = re.compile(r"kernel version inconsistency between vmlinux and dumpfile")
# "crash: PATH: not a supported file format": crash names the file it cannot read
_BAD_FILE = re.compile(r"crash: (.+?): not a supported file format")
# a crash built for another architecture warns so first, then finds the dump "not supported"
_OTHER_ARCH = re.compile(r"machine type mismatch:\s*crash utility: (\S+)\s*(\S+): (\S+)")
# crash's start-up complaints → what to do. The first that matches wins.
STARTUP_PROBLEMS = [
    (re.compile(rf"vmlinux and \S+ do not match|{_MISMATCH_WARNING.pattern}|cannot determine "
                r"base kernel version|invalid kernel virtual address: \w+\s+type: "
                r"\"(?:possible|cpu_possible)"),
     MISMATCH_ADVICE),
    (re.compile(r"no debugging data available|no \.debug_info|cannot find debuginfo"),
     f"the vmlinux has no debugging data: {DEBUGINFO_ADVICE}"),
    (re.compile(r"not a supported dumpfile|invalid kdump header|read error|seek error|"
                r"truncated|cannot read|page excluded|incomplete"),
     VMCORE_ADVICE),
    (re.compile(r"machine type mismatch"), ARCH_ADVICE),
]


class ShellEscapeRefused(CrashCommandError):
    """A crash command that would run something outside crash, refused (``allow_shell``)."""


def shell_escape(command: str, aliases: Mapping[str, str] | None = None) -> str | None:
    """Why the crash command line ``command`` runs something outside crash, or None.

    Follows crash's own parsing: ``!`` and ``|`` outside parentheses and quotes hand the line
    to /bin/sh, ``>`` (not ``->``) opens a file; commands crash does not know (``echo``,
    ``ls``, ``cat``...) run through /bin/sh; ``< FILE`` runs the crash commands of a file,
    ``extend`` loads a library; ``gdb`` passes commands such as ``shell``, ``pipe``, ``python``
    or ``eval`` to gdb. An alias is checked as what it expands to (``aliases``: those the
    caller defined, name -> text), and so is the text of a new ``alias``.
    """
    known = {**_BUILTIN_ALIASES, **(aliases or {})}
    line = command.strip()
    for _ in range(8):  # crash substitutes the first word; follow a few levels
        first, _, rest = line.partition(" ")
        if first not in known:
            break
        line = f"{known[first]} {rest}".strip()
    if not line:
        return None
    if line.startswith("<"):
        return "'<' runs the crash commands of a file, unchecked"
    words = line.split()
    if words[0] in _EXTERNAL:
        return f"crash runs {words[0]!r} through /bin/sh"
    if words[0] == "extend":
        return "'extend' loads a shared library into crash"
    if why := _redirection(line):
        return why
    if words[0] == "alias" and len(words) > 2:
        try:
            body = " ".join(shlex.split(line)[2:])
        except ValueError:
            return "the alias's quotes do not pair up, so its text cannot be checked"
        if why := shell_escape(body, aliases):
            return f"the alias runs {body!r}: {why}"
    if words[0] == "gdb" and len(words) > 1:
        sub = words[1]
        if (sub in _GDB_RUNNER_ALIASES or (len(sub) >= 3 and any(n.startswith(sub)
                                                                  for n in _GDB_RUNNERS))
                or (sub in ("frame", "f", "thread", "t") and words[2:3] == ["apply"])):
            return f"gdb's {sub!r} runs shell commands, scripts or other commands"
    return None


def _redirection(line: str) -> str | None:
    """crash's setup_redirect(): the first ``|``, ``!`` or ``>`` it acts on, as a reason."""
    depth, quote = 0, ""
    for i, ch in enumerate(line):
        depth += (ch == "(") - (ch == ")")
        if ch == "'" and quote != '"':
            quote = "" if quote else "'"
        elif ch == '"' and quote != "'":
            quote = "" if quote else '"'
        if depth or quote:
            continue
        if ch == "|":
            return "'|' pipes the output into a shell command"
        if ch == "!":
            return "'!' runs a shell command"
        if ch == ">" and not (i and line[i - 1] == "-"):
            return "'>' writes the output to a file"
    return None


def clean_environment(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """crash's environment: PATH (for allowed pipes), a C locale, ``home`` as HOME and TMPDIR;
    nothing else of the caller's (no CRASHPAGER, CRASH_EXTENSIONS, EDITOR, LD_PRELOAD...)
    unless ``extra`` names it."""
    env = {"PATH": os.environ.get("PATH") or os.defpath, "HOME": str(home),
           "TMPDIR": str(home), "LC_ALL": "C", "LANG": "C", "TERM": "dumb"}
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class CommandOutput:
    """One command of a script and what crash printed for it."""

    command: str
    output: str
    error: str | None = None
    seconds: float = 0.0
    fatal: bool = False  # the error ended the process (timeout, crash died)


class CrashProcess:
    """A crash process on ``vmlinux`` + ``vmcore``, driven at its prompt.

    The process starts at once (crash loads the vmlinux while the caller does other work);
    the first command, or :meth:`wait_ready`, waits for it. ``startup`` holds what crash
    printed before its first prompt, ``warnings`` its ``WARNING:`` lines.

    ``allow_shell`` lets every command run things outside crash (:func:`shell_escape`); each
    call can also allow it alone. ``env`` adds variables to crash's clean environment (e.g.
    ``CRASH_MODULE_PATH``).
    """

    def __init__(self, crash: CrashTool, vmlinux: Path | str, vmcore: Path | str, *,
                 out_dir: Path | None = None, start_timeout: float = 300.0,
                 command_timeout: float = 120.0, allow_shell: bool = False,
                 env: Mapping[str, str] | None = None) -> None:
        self.crash, self.vmlinux, self.vmcore = crash, Path(vmlinux), Path(vmcore)
        self.vmcore_info = check_inputs(self.vmlinux, self.vmcore)
        self.out_dir = out_dir
        self.start_timeout = start_timeout
        self.command_timeout = command_timeout
        self.allow_shell = allow_shell
        self._aliases: dict[str, str] = {}  # the aliases this process's commands defined
        self.startup = ""
        self.warnings: list[str] = []
        self.start_seconds = 0.0
        self.commands_run = 0
        self._count = 0
        self._ready = False
        self._closed = False
        self._buf = bytearray()
        self._token = _new_token()
        self.started_at = time.monotonic()
        # an empty folder of its own: working directory, HOME and TMPDIR (no start-up files)
        self.workdir = Path(tempfile.mkdtemp(prefix="pytest-kdump-crash-"))
        try:
            self.proc = subprocess.Popen(crash.command(self.vmlinux, self.vmcore),
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, bufsize=0, cwd=self.workdir,
                                         env=clean_environment(self.workdir, env))
            reaper.watch_popen(self.proc, "crash")  # killed even if pytest is
        except OSError as exc:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise ToolError(f"cannot run {crash}: {exc}", phase="analysis",
                            advice="run `pytest-kdump setup-crash`, or give --kdump-crash the "
                                   "path of a runnable crash") from None
        # a process nobody closes must not leave crash (~400 MB) running until Python exits
        self._finalizer = weakref.finalize(self, _kill_process, self.proc, self.workdir)
        self._write(f"echo\necho {self._mark()}\n")

    # -- lifecycle -------------------------------------------------------------------------
    def wait_ready(self) -> CrashProcess:
        """Wait until crash has loaded the dump and sits at its prompt."""
        if self._ready:
            return self
        self._check_open()
        text, ok = self._read_until(self._mark(), self.start_timeout, "start")
        self.startup = text
        self.start_seconds = round(time.monotonic() - self.started_at, 2)
        self._count += 1
        self.warnings = [w.strip() for w in re.findall(r"^WARNING: .*$", text, re.M)]
        self._transcript(f"# crash start-up ({self.start_seconds} s)\n{text}")
        if not ok:
            error = self._startup_error(text)
            self._kill()
            raise error
        if _MISMATCH_WARNING.search(text):  # crash goes on, but its answers would be wrong
            self._kill()
            raise AnalysisError(f"crash: {_MISMATCH_WARNING.search(text).group(0)} "
                                f"({self.vmlinux} vs {self.vmcore})", phase="analysis",
                                advice=MISMATCH_ADVICE)
        self._ready = True
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Ask crash to exit; kill it if it does not within ``timeout``. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.proc.poll() is None:
                self._write("exit\n")
                self.proc.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            self._finalizer()  # kills crash if it is still there, closes the pipes

    def __enter__(self) -> CrashProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return not self._closed and self.proc.poll() is None

    def _check_open(self) -> None:
        if self._closed:
            raise AnalysisError(f"the crash process on {self.vmcore.name} is closed",
                                phase="analysis", advice="start a new CrashProcess (a process "
                                "ends with close() or when a command times out)")

    # -- commands --------------------------------------------------------------------------
    def run(self, command: str, timeout: float | None = None, *,
            allow_shell: bool | None = None) -> str:
        """Run one crash command and return its raw output (errors included as text).

        A command that would run something outside crash raises :class:`ShellEscapeRefused`
        unless ``allow_shell`` (default: the process's ``allow_shell``) is true."""
        command = command.strip()
        if not command or "\n" in command:
            raise ValueError(f"one crash command per call, got {command!r}")
        if len(command.encode()) > MAX_COMMAND:
            raise ValueError(f"crash reads at most {MAX_COMMAND} characters per command line, "
                             f"got {len(command.encode())}: the rest would run as a command "
                             "of its own")
        if _is_exit(command):
            raise ValueError("use close() to end the crash process")
        self._refuse(command, allow_shell, self._aliases)
        self.wait_ready()
        self._check_open()
        index = self._count
        self._count += 1
        self._write(f"{command}\necho\necho {self._mark(index)}\n")
        text, ok = self._read_until(self._mark(index), timeout or self.command_timeout,
                                    command)
        self._transcript(f"crash> {command}\n{text}")
        self._save(self.commands_run, command, text)
        self.commands_run += 1
        if not ok:
            raise AnalysisError(f"crash exited during {command!r}: {_last_line(text)}",
                                phase="analysis",
                                advice="crash itself failed on this dump: see "
                                       "crash-session.txt; try a newer crash")
        return text

    def check(self, command: str, timeout: float | None = None, *,
              allow_shell: bool | None = None) -> str:
        """Like :meth:`run`, but a crash error message raises :class:`CrashCommandError`."""
        text = self.run(command, timeout, allow_shell=allow_shell)
        error = cp.command_error(command, text)
        if error:
            raise CrashCommandError(f"crash {command!r}: {error}", command=command,
                                    output=text, phase="analysis",
                                    advice="check the command's arguments (symbol, PID, "
                                           "address) against this kernel")
        return text

    def check_commands(self, commands: Iterable[str], *,
                       allow_shell: bool | None = None) -> None:
        """Refuse, before any runs, the first of ``commands`` that :meth:`run` would refuse
        (:class:`ShellEscapeRefused`)."""
        aliases = dict(self._aliases)
        for command in commands:
            self._refuse(command.strip(), allow_shell, aliases)

    def run_script(self, script: Path | str, *,
                   allow_shell: bool | None = None) -> list[CommandOutput]:
        """Run a crash command file (one command per line; ``#`` comments, blank lines and a
        final ``exit``/``q`` are skipped) and return each command's output.

        A command crash reports an error for has it in ``error``, and so has one refused as a
        shell escape (``allow_shell`` as in :meth:`run`); one that ends the process (timeout,
        crash died) is the last result, with ``fatal`` set."""
        path = Path(script)
        if not path.is_file():
            raise AnalysisError(f"crash script not found: {path}", phase="analysis",
                                advice="give the path of a file of crash commands")
        results = []
        for line in path.read_text().splitlines():
            command = line.strip()
            if not command or command.startswith("#"):
                continue
            if _is_exit(command):
                break
            started = time.monotonic()
            try:
                text = self.run(command, allow_shell=allow_shell)
            except ShellEscapeRefused as exc:  # not sent to crash: the process goes on
                results.append(CommandOutput(command, "", exc.message))
                continue
            except ValueError as exc:  # a line too long for crash: not sent either
                results.append(CommandOutput(command, "", str(exc)))
                continue
            except AnalysisError as exc:
                results.append(CommandOutput(command, "", exc.message,
                                             round(time.monotonic() - started, 3), fatal=True))
                break
            results.append(CommandOutput(command, text, cp.command_error(command, text),
                                         round(time.monotonic() - started, 3)))
        return results

    # -- typed commands --------------------------------------------------------------------
    def sys(self) -> cp.SysInfo:
        """``sys``: kernel, dump file and its flags, panic string."""
        return cp.parse_sys(self.check("sys"))

    def bt(self, target: int | str | None = None) -> cp.Backtrace:
        """``bt`` of the crashing task, or of a PID / task address; frames in modules carry
        the module's name (the exception frame's too, from ``mod``)."""
        text = self.check("bt" if target is None else f"bt {target}")
        traces = cp.parse_bt(text)
        if not traces:
            raise CrashCommandError("crash 'bt' printed no backtrace", command="bt",
                                    output=text, phase="analysis")
        trace = traces[0]
        if any(f.exception and f.module is None for f in trace.frames):
            trace = replace(trace, frames=cp.resolve_modules(list(trace.frames), self.mod()))
        return trace

    def bt_all(self) -> list[cp.Backtrace]:
        """``bt -a``: the active task of every CPU."""
        return cp.parse_bt(self.check("bt -a"))

    def foreach_bt(self) -> list[cp.Backtrace]:
        """``foreach bt``: every task's backtrace."""
        return cp.parse_bt(self.check("foreach bt", timeout=max(self.command_timeout, 300)))

    def ps(self) -> list[cp.Task]:
        return cp.parse_ps(self.check("ps"))

    def ps_m(self) -> list[cp.TaskTime]:
        return cp.parse_ps_m(self.check("ps -m"))

    def log(self) -> list[cp.LogLine]:
        return cp.parse_log(self.check("log"))

    def mod(self) -> list[cp.Module]:
        return cp.parse_mod(self.check("mod"))

    def kmem_info(self) -> cp.MemInfo:
        return cp.parse_kmem_i(self.check("kmem -i"))

    def files(self, pid: int | str) -> cp.Files:
        return cp.parse_files(self.check(f"files {pid}"))

    def mount(self) -> list[cp.Mount]:
        return cp.parse_mount(self.check("mount"))

    def net(self) -> list[cp.NetDevice]:
        return cp.parse_net(self.check("net"))

    def dis(self, function: str, *, lines: bool = False) -> list[cp.Instruction]:
        return cp.parse_dis(self.check(f"dis {'-l ' if lines else ''}{function}"))

    def p(self, expression: str) -> cp.PrintResult:
        return cp.parse_p(self.check(f"p {expression}"))

    def struct(self, type_fields: str, address: str | int) -> dict[str, Any]:
        return cp.parse_struct(self.check(f"struct {type_fields} {_addr(address)}"))

    def rd(self, address: str | int, count: int = 1) -> list[cp.MemoryRow]:
        return cp.parse_rd(self.check(f"rd {_addr(address)} {count}"))

    # -- internals -------------------------------------------------------------------------
    def _mark(self, index: int | None = None) -> str:
        return _MARK.format(token=self._token, index=self._count if index is None else index)

    def _refuse(self, command: str, allow_shell: bool | None, aliases: dict[str, str]) -> None:
        """Raise :class:`ShellEscapeRefused` if ``command`` runs something outside crash and
        that is not allowed; add the alias it defines to ``aliases``."""
        why = shell_escape(command, aliases)
        if why and not (self.allow_shell if allow_shell is None else allow_shell):
            self._transcript(f"# REFUSED: {command} ({why})")
            raise ShellEscapeRefused(f"crash command {command!r} refused: {why}",
                                     command=command, phase="analysis", advice=SHELL_ADVICE)
        words = command.split(None, 2)
        if words and words[0] == "alias" and len(words) == 3:
            try:
                aliases[words[1]] = " ".join(shlex.split(words[2]))
            except ValueError:  # refused above unless allowed: crash's own reading applies
                aliases[words[1]] = words[2]

    def _write(self, text: str) -> None:
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # crash has exited: the read that follows sees EOF and says why

    def _read_until(self, mark: str, timeout: float, what: str) -> tuple[str, bool]:
        """Read crash's output up to the line ``mark``, which the bare ``echo`` before it
        starts with a newline (not part of the text); (text, False) if crash exited first."""
        needle = ("\n" + mark + "\n").encode()
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        searched = 0  # the buffer before this offset holds no marker
        phase = "start-up" if what == "start" else f"command {what!r}"
        while True:
            pos = self._buf.find(needle, searched)
            if pos >= 0:
                text = bytes(self._buf[:pos])
                del self._buf[:pos + len(needle)]
                return text.decode(errors="replace"), True
            searched = max(0, len(self._buf) - len(needle))
            left = deadline - time.monotonic()
            if left <= 0 or len(self._buf) > _MAX_OUTPUT:
                self._kill()
                tail = bytes(self._buf[-4096:]).decode(errors="replace")
                if left > 0:
                    why = (f"crash {phase} printed more than {_MAX_OUTPUT >> 20} MB",
                           "narrow the command (a PID, a count; '| tail' with "
                           "allow_shell=True); is this binary really crash?")
                elif what == "start":
                    why = (f"crash start-up did not finish within {timeout:g} s",
                           "a crash too old for this kernel can loop; a huge dump on a slow "
                           "disk needs a longer start_timeout")
                else:
                    why = (f"crash {phase} did not finish within {timeout:g} s",
                           "the command is slow on this dump (foreach, search, kmem -s): "
                           "give it a longer timeout")
                self._transcript(f"crash> {what}\n...{tail}\n# STOPPED: {why[0]}")
                raise AnalysisError(f"{why[0]} on {self.vmcore.name}", phase="analysis",
                                    advice=why[1])
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    self.proc.wait()
                    text = bytes(self._buf).decode(errors="replace")
                    self._buf.clear()
                    return text, False
                self._buf += chunk

    def _kill(self) -> None:
        self._closed = True
        self._finalizer()

    def _startup_error(self, text: str) -> AnalysisError:
        found = None
        # one warning for the vmlinux, one for the vmcore: the vmcore's says most
        if others := sorted(_OTHER_ARCH.finditer(text),
                            key=lambda m: Path(m[2]).name != self.vmcore.name):
            m = others[0]
            found = (f"this crash reads {m[1]} dumps, {Path(m[2]).name} is {m[3]}",
                     ARCH_ADVICE)
        elif m := _BAD_FILE.search(text):
            named = Path(m.group(1))
            if named in (self.vmcore, Path(os.path.abspath(self.vmcore))):
                found = (m.group(0), "crash cannot read this vmcore: " + VMCORE_ADVICE)
            else:
                found = (m.group(0), f"{named} is not a vmlinux crash can read: "
                                     + DEBUGINFO_ADVICE)
        for pattern, advice in STARTUP_PROBLEMS:
            if found is None and (m := pattern.search(text)):
                found = (_line_of(text, m.start()), advice)
        if found:
            return AnalysisError(f"crash cannot open {self.vmcore.name} with "
                                 f"{self.vmlinux.name}: {found[0]}", phase="analysis",
                                 advice=found[1])
        return AnalysisError(f"crash exited with {self.proc.returncode} before its prompt: "
                             f"{_last_line(text)}", phase="analysis",
                             advice="see crash-session.txt in the artifacts; run the same "
                                    f"crash by hand: {' '.join(self.crash.argv)} "
                                    f"{self.vmlinux} {self.vmcore}")

    def _transcript(self, text: str) -> None:
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / "crash-session.txt", "a") as f:
            f.write(text if text.endswith("\n") else text + "\n")

    def _save(self, index: int, command: str, text: str) -> None:
        if self.out_dir is None:
            return
        name = re.sub(r"[^A-Za-z0-9]+", "_", command).strip("_")[:60]
        (self.out_dir / f"crash-{index:02d}-{name}.txt").write_text(text)


def _kill_process(proc: subprocess.Popen, workdir: Path) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for f in (proc.stdin, proc.stdout):
        if f:
            f.close()
    shutil.rmtree(workdir, ignore_errors=True)


def _new_token() -> str:
    """The secret part of a process's end-of-command markers."""
    return secrets.token_hex(16)


def _is_exit(command: str) -> bool:
    return command.split()[0] in ("q", "quit", "exit")


def _addr(address: str | int) -> str:
    return f"{address:x}" if isinstance(address, int) else address


def _line_of(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start:end if end >= 0 else None].strip()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if re.search(r"crash: |error|cannot|do not match|invalid", line, re.I):
            return line
    return lines[-1] if lines else "(no output)"

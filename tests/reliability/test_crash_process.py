"""Issue 15, items 16 and 18: the crash utility runs nothing it should not, and a dump cannot
forge the end of a command's output.

16. crash reads no ``.crashrc`` (HOME's or the working directory's), no ``~/.gdbinit``, and none
    of the caller's environment; commands that escape to a shell (``!cmd``, ``| cmd``,
    ``> file``, ``echo $(...)``...) are refused unless the test allows them.
18. The end-of-command marker holds a random token per process and is matched as a whole line:
    kernel log lines that look like markers do not cut the output.

The fast tests run a fake crash (tests/unit/analysis/crash/fake_crash.py) that speaks crash's
stdin/stdout protocol; the ``qemu`` ones run the real crash on a real dump (``real_dumps``:
made on QEMU in CI, or reused from ``PYTEST_KDUMP_TEST_DUMPS``).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from pytest_kdump.analysis.crash import backend
from pytest_kdump.analysis.crash import parse as cp
from pytest_kdump.analysis.crash import process as process_mod
from pytest_kdump.analysis.crash.process import CrashProcess, shell_escape
from pytest_kdump.analysis.crash.tool import CrashTool
from pytest_kdump.errors import CrashCommandError
from tests.helpers import DATA, fake_dump_files

FAKE = CrashTool(argv=(sys.executable,
                       str(Path(__file__).parents[1] / "unit/analysis/crash/fake_crash.py")),
                 version="8.0.6", source="fake")
RECORDED_LOG = DATA / "crash" / "sysrq-8.0.6" / "log.txt"  # crash 8.0.6's `log` on a dump

# Commands that run something outside crash, the way crash itself reads them
ESCAPES = [
    "!touch /tmp/x",                       # shell escape
    "log | tail -3",                       # pipe into a shell command
    "ps|grep sh",
    "p jiffies > /tmp/out",                # redirection to a file
    "p jiffies >> /tmp/out",
    "bt ! touch /tmp/x",                   # crash treats a later '!' like '|'
    "p jiffies != 0",                      # ...so a comparison outside parentheses is one too
    "echo $(touch /tmp/x)",                # crash hands unknown echo/ls/cat... to /bin/sh
    "ls /",
    "cat /etc/passwd",
    "grep root /etc/passwd",
    "< /tmp/commands",                     # a file of crash commands, unchecked
    "extend /tmp/evil.so",                 # a library loaded into crash
    "alias ll \"!ls\"",                    # an alias that would run a shell command
    "alias bad 'log | sh'",
    "gdb shell touch /tmp/x",              # gdb commands that run shell commands or scripts
    "gdb pipe p 1 | sh",
    "gdb pip -d XX p 1 XX sh",
    "g python import os",                  # g: crash's own alias of gdb
    "gdb source /tmp/script",
    "gdb eval \"shell touch %s\", \"/tmp/x\"",
    "gdb make",
    "gdb frame apply all shell id",
]
# Commands with the same characters that crash does not hand to a shell
HARMLESS = [
    "p init_task.tasks.next->prev",        # '->' is not a redirection
    "p ((struct task_struct *)0xffffffff86a1aa40)->pid",
    "p (jiffies > 0)",                     # inside parentheses
    "p (1 != 2)",
    "p \"a|b>c!\"",                        # inside quotes
    "p 'x'",
    "gdb printf \"x|y > z!\\n\"",
    "bt -a",
    "log",
    "gdb p jiffies",
    "gdb info line panic",
    "alias pp \"p -x\"",
]


def fake(files: tuple[Path, Path], **kw: object) -> CrashProcess:
    return CrashProcess(FAKE, *files, **kw)  # type: ignore[arg-type]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return fake_dump_files(tmp_path)


def kernel_log_with_markers(token: str | None = None) -> str:
    """The recorded ``log`` of a real dump with lines a guest could have logged: markers of
    the old scheme (whole lines and inside a message, for every index a test reaches), the
    new scheme's prefix, a marker of another token, and ``token``'s own marker inside a
    message (a guest cannot know it; it checks that only a whole line ends the output)."""
    lines = RECORDED_LOG.read_text().splitlines(keepends=True)
    forged = []
    for n in range(64):
        forged += [f"@@PYTEST-KDUMP-{n}@@\n", f"[    3.{n:06d}] @@PYTEST-KDUMP-{n}@@\n"]
    forged += ["@@PYTEST-KDUMP-\n", "[    3.900000] @@PYTEST-KDUMP-\n",
               f"@@PYTEST-KDUMP-{'0' * 32}-1@@\n",
               f"[    3.900001] @@PYTEST-KDUMP-{'f' * 32}-2@@\n"]
    if token:
        forged += [f"[    3.900002] @@PYTEST-KDUMP-{token}-{n}@@\n" for n in range(4)]
    return "".join(lines[:200] + forged + lines[200:])


# --- 18: markers (fake crash replaying a real dump's log with forged lines) ------------------

def test_marker_lines_in_the_kernel_log_do_not_cut_the_output(files, tmp_path):
    log = tmp_path / "log.txt"
    log.write_text(kernel_log_with_markers())
    with fake(files, command_timeout=20) as s:
        assert s.run(f"replay {log}") == log.read_text()
        assert s.run("say after") == "after\n"  # the next output is not shifted
        assert len(cp.parse_log(s.run(f"replay {log}"))) == len(log.read_text().splitlines())


def test_only_a_whole_line_marker_ends_the_output(files, tmp_path, monkeypatch):
    monkeypatch.setattr(process_mod, "_new_token", lambda: "0123456789abcdef" * 2)
    log = tmp_path / "log.txt"
    log.write_text(kernel_log_with_markers("0123456789abcdef" * 2))
    with fake(files, command_timeout=20) as s:
        assert s.run(f"replay {log}") == log.read_text()
        assert s.run("say after") == "after\n"


def test_each_process_has_its_own_marker(files, tmp_path):
    seen = [tmp_path / "a", tmp_path / "b"]
    for path in seen:
        with fake(files, env={"FAKE_CRASH_SEEN": str(path)}) as s:
            s.run("say x")
    marks = [set(re.findall(r"@@PYTEST-KDUMP-(\w+)-\d+@@", p.read_text())) for p in seen]
    assert len(marks[0]) == len(marks[1]) == 1 and marks[0] != marks[1]
    assert len(next(iter(marks[0]))) >= 32  # 128 bits: not guessable


# --- 16: shell escapes ----------------------------------------------------------------------

@pytest.mark.parametrize("command", ESCAPES)
def test_shell_escapes_are_recognised(command):
    assert shell_escape(command)


@pytest.mark.parametrize("command", HARMLESS)
def test_harmless_commands_are_not_taken_for_escapes(command):
    assert shell_escape(command) is None


def test_refused_commands_never_reach_crash(files, tmp_path):
    seen = tmp_path / "seen"
    with fake(files, env={"FAKE_CRASH_SEEN": str(seen)}, out_dir=tmp_path / "out") as s:
        for command in ESCAPES:
            with pytest.raises(CrashCommandError, match="refused") as info:
                s.run(command)
            assert isinstance(info.value, process_mod.ShellEscapeRefused)
            assert info.value.command == command and "allow_shell=True" in info.value.advice
        assert s.alive and s.run("say still here") == "still here\n"
    sent = seen.read_text().splitlines()
    assert not set(ESCAPES) & set(sent) and "say still here" in sent
    assert "# REFUSED: !touch /tmp/x" in (tmp_path / "out" / "crash-session.txt").read_text()


def test_shell_is_allowed_when_asked(files):
    with fake(files) as s:
        assert s.run("echo hi", allow_shell=True) == "hi\n"    # this call only
        with pytest.raises(CrashCommandError, match="refused"):
            s.run("echo hi")
    with fake(files, allow_shell=True) as s:                   # the whole process
        assert s.run("echo hi") == "hi\n"
        with pytest.raises(CrashCommandError, match="refused"):
            s.run("echo hi", allow_shell=False)


def test_an_alias_is_checked_as_what_it_runs(files):
    with fake(files) as s:
        s.run("alias gg gdb")      # harmless in itself...
        with pytest.raises(CrashCommandError, match="gdb's 'pipe'"):
            s.run("gg pipe -d XX p 1 XX sh")  # ...but it is gdb
        with pytest.raises(CrashCommandError, match="gdb's 'shell'"):
            s.run("gg shell id")


def test_a_line_longer_than_crash_reads_is_refused(files):
    # crash would run the part after its 1498th character as a command of its own
    command = 'p "' + "x" * 1495 + '!touch /tmp/x #"'
    assert shell_escape(command) is None  # the '!' is inside quotes for one line...
    with fake(files) as s, pytest.raises(ValueError, match="at most 1497 characters"):
        s.run(command)


def test_a_script_records_refusals_and_goes_on(files, tmp_path):
    script = tmp_path / "s.crash"
    script.write_text("say one\nlog | tail -3\n!id\nsay two\n")
    with fake(files) as s:
        results = s.run_script(script)
    assert [(r.command, r.output, r.fatal) for r in results] == [
        ("say one", "one\n", False), ("log | tail -3", "", False), ("!id", "", False),
        ("say two", "two\n", False)]
    assert "refused: '|' pipes" in results[1].error and "refused: '!'" in results[2].error


def test_analysis_commands_are_checked_before_any_runs(files, tmp_path):
    seen = tmp_path / "seen"
    with fake(files, env={"FAKE_CRASH_SEEN": str(seen)}) as s:
        with pytest.raises(CrashCommandError, match="'kmem -i > /tmp/x' refused"):
            backend.from_process(s, ["kmem -i", "kmem -i > /tmp/x"])
        s.wait_ready()
    sent = seen.read_text().splitlines()
    assert not [line for line in sent if not line.startswith("echo") and line != "exit"]


def test_crash_runs_in_a_clean_place(files, tmp_path, monkeypatch):
    for name in ("CRASHPAGER", "PAGER", "EDITOR", "CRASH_EXTENSIONS", "CRASH_MODULE_PATH"):
        monkeypatch.setenv(name, "/tmp/not-for-crash")
    monkeypatch.chdir(tmp_path)
    with fake(files, env={"CRASH_MODULE_PATH": "/wanted"}) as s:
        seen = json.loads(s.run("environ"))
        workdir = s.workdir
        assert seen["cwd"] == str(workdir) and not list(workdir.iterdir())
    env = seen["env"]
    assert env["HOME"] == env["TMPDIR"] == str(workdir) and env["LC_ALL"] == "C"
    assert env["CRASH_MODULE_PATH"] == "/wanted"  # what the caller asked for
    assert not {"CRASHPAGER", "PAGER", "EDITOR", "CRASH_EXTENSIONS"} & set(env)
    assert {"--no_crashrc", "--no_scroll", "-s"} <= set(seen["argv"])
    assert not workdir.exists()  # removed with the process


def test_relative_paths_still_name_the_dump(files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with fake(files) as s:
        argv = json.loads(s.run("environ"))["argv"]
    assert argv[-2:] == [str(tmp_path / "vmlinux"), str(tmp_path / "vmcore")]
    with CrashProcess(FAKE, Path("vmlinux"), Path("vmcore")) as s:
        assert json.loads(s.run("environ"))["argv"][-2:] == argv[-2:]


# --- the real crash on a real dump ----------------------------------------------------------

@pytest.fixture(scope="module")
def dump(real_dumps):
    return real_dumps["sysrq"]


@pytest.mark.qemu
def test_real_crash_reads_no_start_up_files(dump, tmp_path, monkeypatch):
    home, cwd = tmp_path / "home", tmp_path / "repo"
    made = {name: tmp_path / f"{name}.made" for name in ("home", "cwd", "gdb")}
    home.mkdir()
    cwd.mkdir()
    (home / ".crashrc").write_text(f"set radix 16\n!touch {made['home']}\n")
    (cwd / ".crashrc").write_text(f"set radix 16\n!touch {made['cwd']}\n")
    (home / ".gdbinit").write_text(f"shell touch {made['gdb']}\n")  # crash's gdb reads it
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    with CrashProcess(dump.crash_tool, dump.vmlinux, dump.vmcore) as s:
        assert re.search(r"^\$\d+ = 100$", s.run("p 100"), re.M)  # radix 10, crash's default
        assert cp.parse_sys(s.run("sys")).panic_message == "sysrq triggered crash"
    assert not [p for p in made.values() if p.exists()]


@pytest.mark.qemu
def test_real_crash_refuses_shell_escapes_unless_allowed(dump, tmp_path):
    target = tmp_path / "made"
    escapes = [f"!touch {target}", f"p jiffies | sh -c 'touch {target}'", f"p jiffies > {target}",
               f"echo $(touch {target})", f"gdb pipe p 1 | sh -c 'touch {target}'",
               f"alias mk \"!touch {target}\""]
    long_line = 'p "' + "x" * 1495 + f'!touch {target} #"'  # crash would split it in two
    with CrashProcess(dump.crash_tool, dump.vmlinux, dump.vmcore) as s:
        for command in escapes:
            with pytest.raises(CrashCommandError, match="refused"):
                s.run(command)
        with pytest.raises(ValueError, match="at most"):
            s.run(long_line)
        assert not target.exists() and re.search(r"= 100$", s.run("p 100"), re.M)
        # asked for explicitly: crash's pipes and redirections work as crash documents them
        assert len(s.run("log | tail -3", allow_shell=True).splitlines()) == 3
        s.run(f"p jiffies > {target}", allow_shell=True)
        assert target.read_text().startswith("jiffies = ")
        assert s.run("!pwd", allow_shell=True).strip() == str(s.workdir)


@pytest.mark.qemu
def test_real_crash_runs_commands_with_shell_characters(dump):
    with CrashProcess(dump.crash_tool, dump.vmlinux, dump.vmcore) as s:
        task = re.search(r"TASK: ([0-9a-f]+)", s.run("bt")).group(1)
        pid = s.check(f"p ((struct task_struct *)0x{task})->pid")
        assert re.search(r"= \d+$", pid, re.M)
        assert "0x" in s.check("p init_task.tasks.next->prev")
        assert s.check("p (jiffies > 0)").rstrip().endswith("= 1")
        assert s.check("p (1 != 2)").rstrip().endswith("= 1")
        assert s.check('gdb printf "a|b>c!\\n"') == "a|b>c!\n"  # in quotes


@pytest.mark.qemu
def test_real_crash_output_that_looks_like_markers_is_kept_whole(dump):
    # gdb's printf prints any text: lines a guest could have put in its kernel log
    lines = [f"@@PYTEST-KDUMP-{n}@@" for n in range(40)] + [
        "[    3.846108] @@PYTEST-KDUMP-5@@", "@@PYTEST-KDUMP-", f"@@PYTEST-KDUMP-{'0' * 32}-3@@"]
    printf = 'gdb printf "' + "\\n".join(lines) + '\\n"'
    with CrashProcess(dump.crash_tool, dump.vmlinux, dump.vmcore) as s:
        assert s.run(printf).splitlines() == lines
        assert s.run('gdb printf "no newline at the end"') == "no newline at the end"
        assert re.search(r"^\$\d+ = 100$", s.run("p 100"), re.M)  # nothing shifted
        assert any(line.text.endswith("sysrq: Trigger a crash") for line in cp.parse_log(
            s.run("log")))

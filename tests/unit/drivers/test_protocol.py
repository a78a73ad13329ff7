"""labgrid's CommandProtocol and FileTransferProtocol drivers serving the engine."""

from __future__ import annotations

import queue
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from labgrid import Target
from labgrid.driver.exception import ExecutionError
from labgrid.driver.fake import FakeCommandDriver, FakeFileTransferDriver

from pytest_kdump.console.capture import ConsoleCapture
from pytest_kdump.console.shell import ShellAborted
from pytest_kdump.console.spawn import ConsoleSpawn
from pytest_kdump.detect import CRASH_RE
from pytest_kdump.drivers.protocol import LabgridCommands, LabgridFileTransfer, find_driver
from pytest_kdump.errors import ConfigError, CycleError
from tests.helpers import LABGRID_LOGGER_WARNING
from tests.unit.drivers.fakeboard import PANIC, RELEASE, FakeDumpDisk

# labgrid's serial logger fails (KeyError in SerialLoggingReporter.flush) on a console whose
# first logged step is a write: ShellDriver's log-in does that; labgrid turns it into a warning
SHELL_DRIVER = """      ShellDriver:
        bindings: {console: kdump-console}
        prompt: 'kdump# '
        login_prompt: 'login: '
        username: root
        await_login_timeout: 1
"""


class Source:
    """A console the test writes to (``feed``)."""

    def __init__(self) -> None:
        self.q: queue.SimpleQueue[bytes] = queue.SimpleQueue()

    def feed(self, data: bytes) -> None:
        self.q.put(data)

    def read(self, timeout: float) -> bytes:
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            return b""


@pytest.fixture
def watch(tmp_path: Path) -> Iterator[tuple[ConsoleSpawn, Source]]:
    source = Source()
    capture = ConsoleCapture(source.read, tmp_path / "logs")
    spawn = ConsoleSpawn(capture, lambda data: None, timeout=5)
    capture.resume()
    yield spawn, source
    spawn.close()
    capture.close()


@pytest.fixture
def command_driver() -> FakeCommandDriver:
    return FakeCommandDriver(Target("fake"), None)


def test_commands_run_and_wait_ready(command_driver: FakeCommandDriver) -> None:
    calls = []

    def run(cmd: str, *, timeout: float | None = None) -> tuple[list[str], list[str], int]:
        calls.append((cmd, timeout))
        if cmd == "boom":
            raise subprocess.TimeoutExpired(cmd, timeout or 0)
        return ["out 1", "out 2"], ["err"], 3

    command_driver.run = run
    commands = LabgridCommands(command_driver)
    result = commands.run("ls", timeout=7)
    assert (result.command, result.output, result.rc) == ("ls", "out 1\nout 2\nerr", 3)
    assert calls == [("ls", 7)]
    assert command_driver.state.name == "active"  # activated on first use
    with pytest.raises(pexpect.TIMEOUT, match="'boom' did not finish within 2 s"):
        commands.run("boom", timeout=2)


def test_wait_ready_reactivates_until_the_driver_answers(command_driver: FakeCommandDriver
                                                         ) -> None:
    answers = iter([ExecutionError("no shell yet"), 1, 0])
    activations = []
    command_driver.on_activate = lambda: activations.append(1)

    def run(cmd: str, *, timeout: float | None = None) -> tuple[list[str], list[str], int]:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return [], [], answer

    command_driver.run = run
    LabgridCommands(command_driver, retry=0.01).wait_ready(5)
    assert len(activations) == 3  # a fresh login/connection each try: the board may reboot
    command_driver.run = lambda cmd, *, timeout=None: ([], [], 1)
    with pytest.raises(pexpect.TIMEOUT, match="not ready within 0.05 s: 'true' exited with 1"):
        LabgridCommands(command_driver, retry=0.01).wait_ready(0.05)


def test_commands_report_a_crash_on_the_console(command_driver: FakeCommandDriver,
                                                watch: tuple[ConsoleSpawn, Source]) -> None:
    spawn, source = watch
    source.feed(b"stale output before the command\r\n")

    def crashing(cmd: str, *, timeout: float | None = None) -> tuple[list[str], list[str], int]:
        source.feed(b"$ " + cmd.encode() + b"\r\n" + PANIC)
        raise pexpect.TIMEOUT("ShellDriver gave up")  # the shell died with the kernel

    command_driver.run = crashing
    commands = LabgridCommands(command_driver, watch=spawn)
    time.sleep(0.2)  # the stale output reached the spawn
    with pytest.raises(ShellAborted) as exc:
        commands.run("echo c > /proc/sysrq-trigger", abort=[CRASH_RE])
    assert exc.value.seen == "Kernel panic - not syncing: sysrq triggered crash"
    # the engine's spawn is left just after the crash's headline, as with its own shell
    assert spawn.expect([re.compile(r"CPU: 0 PID: 99")], timeout=1) == 0
    assert "stale output" not in spawn.before

    def fine(cmd: str, *, timeout: float | None = None) -> tuple[list[str], list[str], int]:
        source.feed(b"Linux version 9.9 (from dmesg) \r\n")
        time.sleep(0.1)
        return ["ok"], [], 0

    command_driver.run = fine
    assert commands.run("dmesg", abort=[CRASH_RE]).output == "ok"
    # the command's console output is dropped: no later expect mistakes it for a boot banner
    with pytest.raises(pexpect.TIMEOUT):
        spawn.expect([re.compile("Linux version")], timeout=0.2)


def test_file_transfer(tmp_path: Path) -> None:
    driver = FakeFileTransferDriver(Target("fake"), None)
    puts = []
    driver.put = lambda filename, remotepath: puts.append((filename, remotepath))
    local = tmp_path / "m.ko"
    local.write_bytes(b"module")
    LabgridFileTransfer(driver).put(local, "/tmp/m.ko")
    assert puts == [(str(local), "/tmp/m.ko")] and driver.state.name == "active"

    def refuse(filename: str, remotepath: str) -> None:
        raise ExecutionError("scp failed")

    driver.put = refuse
    with pytest.raises(CycleError, match="could not copy .*m.ko to the board's /tmp/m.ko"):
        LabgridFileTransfer(driver).put(local, "/tmp/m.ko")


def test_find_driver_names_the_candidates() -> None:
    from labgrid.protocol import CommandProtocol

    target = Target("fake")
    FakeCommandDriver(target, "ssh")
    FakeCommandDriver(target, "serial")
    assert find_driver(target, CommandProtocol, "ssh", "commands").name == "ssh"
    with pytest.raises(ConfigError, match="more than one CommandProtocol driver called "
                                          "'FakeCommandDriver'") as exc:
        find_driver(target, CommandProtocol, "FakeCommandDriver", "commands")
    assert "serial, ssh" in exc.value.advice
    with pytest.raises(ConfigError, match="commands: no CommandProtocol driver called 'x'"):
        find_driver(target, CommandProtocol, "x", "commands")


@LABGRID_LOGGER_WARNING
def test_shelldriver_sharing_the_console_is_not_used_by_the_engine(make_target,
                                                                   tmp_path: Path) -> None:
    target = make_target(extra=SHELL_DRIVER)
    engine = target.get_driver("KdumpDriver").engine(
        tmp_path / "s", transport=FakeDumpDisk(tmp_path / "board-dump"))
    assert engine.commands is engine.shell
    assert engine.check_armed().loaded
    shell = target.get_driver("ShellDriver")
    assert shell.run_check("echo from-labgrid-$((6+1))") == ["from-labgrid-7"]
    assert engine.run("echo from-kdump") == "from-kdump"
    assert shell.run_check("uname -r") == [RELEASE]


@LABGRID_LOGGER_WARNING
def test_engine_through_shelldriver(make_target, tmp_path: Path) -> None:
    """``commands: ShellDriver``: the engine's commands go through labgrid's ShellDriver; the
    trigger is still typed at the console, where the crash shows."""
    target = make_target(extra=SHELL_DRIVER, kdump="        commands: ShellDriver\n")
    board = target.get_driver("FakeBusyboxConsole")
    engine = target.get_driver("KdumpDriver").engine(
        tmp_path / "s", transport=FakeDumpDisk(tmp_path / "board-dump"))
    assert isinstance(engine.commands, LabgridCommands)
    armed = engine.check_armed()
    assert (armed.loaded, armed.kernel_release) == (True, RELEASE)
    assert any(line.startswith("MARKER=") and "kexec_crash_loaded" in line
               for line in board.lines)
    dump = engine.take_dump("sysrq", tmp_path / "dump")
    assert dump.vmcore.size > 0 and dump.crash_kernel_release == RELEASE
    assert engine.run("echo back-$((1+1))") == "back-2"  # ShellDriver logged in again


def test_kdump_driver_names_unknown_command_driver(make_target) -> None:
    target = make_target(extra=SHELL_DRIVER, kdump="        commands: SSHDriver\n")
    with pytest.raises(ConfigError, match="commands: no CommandProtocol driver called "
                                          "'SSHDriver'") as exc:
        target.get_driver("KdumpDriver")
    assert "ShellDriver" in exc.value.advice


def test_kdump_driver_file_transfer(make_target, tmp_path: Path) -> None:
    target = make_target(extra="      FakeFileTransferDriver: {}\n",
                         kdump="        file_transfer: FakeFileTransferDriver\n")
    engine = target.get_driver("KdumpDriver").engine(
        tmp_path / "s", transport=FakeDumpDisk(tmp_path / "board-dump"))
    assert isinstance(engine.copier, LabgridFileTransfer)
    assert engine.commands is engine.shell

"""The kdump cycle through labgrid and KdumpDriver on a scripted busybox board (no QEMU)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pytest_kdump.console.kernel_lines import without_kernel_messages
from pytest_kdump.drivers.board import LabgridBoard, QemuBoard
from pytest_kdump.engine.board import NmiBoard
from pytest_kdump.engine.results import BoardState
from pytest_kdump.errors import ConfigError, CycleError, PhaseTimeout, UnexpectedCrash
from pytest_kdump.triggers import NMI, Trigger
from tests.helpers import LABGRID_LOGGER_WARNING, PFNS, make_kdump
from tests.unit.drivers.fakeboard import PROMPT, RELEASE, FakeDumpDisk


def _engine(target, tmp_path: Path):
    driver = target.get_driver("KdumpDriver")
    return driver.engine(tmp_path / "session", transport=FakeDumpDisk(tmp_path / "board-dump"))


def test_arm_and_dump(make_target, tmp_path: Path) -> None:
    target = make_target()
    board = target.get_driver("FakeBusyboxConsole")
    engine = _engine(target, tmp_path)
    assert type(engine.board) is LabgridBoard and engine.power_control
    assert not isinstance(engine.board, NmiBoard)
    assert engine.state is BoardState.OFF

    armed = engine.check_armed()  # boots the board through the power driver
    assert (armed.loaded, armed.reserved_mib, armed.kernel_release) == (True, 128, RELEASE)
    assert armed.region == "16000000-1dffffff" and "crashkernel=128M" in armed.cmdline
    assert engine.state == "shell" and board.boots == 1
    assert engine.run("echo hello-$((6+1))") == "hello-7"

    dump = engine.take_dump("sysrq", tmp_path / "dump")
    assert dump.headline == "Kernel panic - not syncing: sysrq triggered crash"
    assert dump.crash_kernel_release == RELEASE
    assert dump.vmcore.size == len(make_kdump(PFNS, release=RELEASE))
    assert dump.vmcore.path == tmp_path / "dump" / "vmcore"
    assert [p.name for p in dump.phases][-4:] == ["trigger", "crash_kernel", "dump_saved", "fetch"]
    assert engine.state is BoardState.REBOOTED
    assert [r.signature for r in dump.records] == [
        "Kernel panic: sysrq triggered crash in sysrq_handle_crash"]

    # the board rebooted by itself (no power-on: a serial board's crash kernel reboots it)
    assert engine.run("uname -r") == RELEASE
    assert engine.phases[-1].name == "recover" and board.boots == 2
    assert engine.state is BoardState.SHELL
    log = (tmp_path / "session" / "console.raw").read_bytes()
    assert b"pytest-kdump: DUMP-OK" in log and log.count(b"Linux version") == 3


def test_trigger_files_copied_over_the_console(make_target, tmp_path: Path) -> None:
    target = make_target()
    board = target.get_driver("FakeBusyboxConsole")
    engine = _engine(target, tmp_path)
    module = tmp_path / "crash.ko"
    module.write_bytes(bytes(range(256)) * 9)  # several base64 lines
    engine.put_file(module, "/tmp/crash.ko")
    assert board.files == {"/tmp/crash.ko": module.read_bytes()}
    trig = Trigger(name="file-then-sysrq", command="echo c > /proc/sysrq-trigger",
                   sysctls={"kernel.panic_on_oops": "1"}, files=(("/tmp/m.ko", module),))
    dump = engine.take_dump(trig, tmp_path / "dump")
    assert board.files["/tmp/m.ko"] == module.read_bytes()
    assert board.sysctls == {"kernel.panic_on_oops": "1"}
    assert dump.vmcore.size > 0


def test_unexpected_crash_while_running_a_command(make_target, tmp_path: Path) -> None:
    target = make_target()
    engine = _engine(target, tmp_path)
    with pytest.raises(UnexpectedCrash, match="crashed while running") as exc:
        engine.run("echo c > /proc/sysrq-trigger")
    assert exc.value.records[0].signature.endswith(" in sysrq_handle_crash")
    assert engine.state is BoardState.CRASHED
    dump = engine.follow_crash(tmp_path / "dump", "unexpected", engine.last_armed,
                               exc.value.records[0].headline)
    assert dump.vmcore.size > 0 and engine.state is BoardState.REBOOTED


def test_crash_kernel_powers_off_and_the_power_driver_boots_it(make_target,
                                                               tmp_path: Path) -> None:
    target = make_target(console="        after: poweroff\n")
    board = target.get_driver("FakeBusyboxConsole")
    engine = _engine(target, tmp_path)
    engine.take_dump("sysrq", tmp_path / "dump")
    assert board.mode == "off"
    # a serial board's alive() cannot tell that the crash kernel switched it off (the engine
    # would wait for it to reboot until the recover timeout): a power cycle brings it back
    engine.power_off()
    assert engine.state is BoardState.OFF
    assert engine.run("true") == "" and board.boots == 2


def test_nmi_needs_an_nmi_board(make_target, tmp_path: Path) -> None:
    engine = _engine(make_target(), tmp_path)
    assert "NMI injection needs QEMU's monitor" in engine.unsupported(NMI)
    assert not isinstance(engine.board, QemuBoard)


def test_no_power_driver_board_at_a_shell(make_target, tmp_path: Path) -> None:
    """A board without a PDU, already at a shell: used as it is, never switched off."""
    target = make_target(power=False, console="        running: true\n")
    board = target.get_driver("FakeBusyboxConsole")
    engine = _engine(target, tmp_path)
    assert not engine.power_control and engine.state is BoardState.UNKNOWN
    assert engine.check_armed().loaded
    engine.take_dump("sysrq", tmp_path / "dump")
    assert engine.run("uname -r") == RELEASE  # it rebooted by itself
    assert board.boots == 1  # the reboot after the dump; nobody powered it
    engine.power_off()  # nothing to switch: the board keeps running, its state is unknown
    assert engine.state is BoardState.UNKNOWN and board.mode == "shell"


def test_no_power_driver_board_off_says_what_to_bind(make_target, tmp_path: Path) -> None:
    target = make_target(power=False, timeouts={"shell": 0.5})
    engine = _engine(target, tmp_path)
    with pytest.raises(ConfigError, match="no PowerProtocol driver is bound") as exc:
        engine.ensure_shell()
    assert "power-on failed" not in str(exc.value)
    assert exc.value.phase == "boot"
    for name in ("NetworkPowerDriver", "ExternalPowerDriver", "ManualPowerDriver"):
        assert name in exc.value.advice
    assert engine.state is BoardState.UNKNOWN


@LABGRID_LOGGER_WARNING
def test_kdump_console_driver_linesep_and_prompt(make_target, tmp_path: Path) -> None:
    target = make_target()
    console = target.get_driver("KdumpConsoleDriver")
    assert console.linesep == "\n"
    engine = _engine(target, tmp_path)
    engine.ensure_shell()
    # labgrid clients (expect, sendline) read the same stream as the engine
    console.sendline("echo from-$((1+1))-labgrid")
    index, _, match, _ = console.expect([r"from-(\d)-labgrid\r\n" + PROMPT], timeout=5)
    assert (index, match.group(1)) == (0, b"2")
    assert engine.run("echo after") == "after"


def test_a_hanging_command_outside_a_phase_is_a_clear_error(make_target, tmp_path: Path) -> None:
    engine = _engine(make_target(), tmp_path)
    engine.check_armed()
    with pytest.raises(PhaseTimeout) as info:
        engine.run("sleep 1000", timeout=0.5)
    err = info.value
    assert err.phase == "run" and err.message == (
        "the board's command 'sleep 1000' did not finish within 0.5 s")
    assert "may wait for input or hang" in err.advice and err.log_path is not None
    assert engine.state is BoardState.UNKNOWN


def test_the_guest_image_is_built_before_activation_not_in_it(make_target, monkeypatch,
                                                              tmp_path: Path) -> None:
    """KdumpDriver's image key: session.ready_driver builds a missing image, then activates
    the driver (whose activation builds nothing)."""
    from pytest_kdump.build import image
    from pytest_kdump.session import ready_driver

    target = make_target(kdump="        image: x86_64\n")
    built = []

    def build(arch: str) -> None:
        built.append((arch, target.get_driver("KdumpDriver", activate=False).state.name))

    monkeypatch.setattr(image, "current_image", lambda arch: None)
    monkeypatch.setattr(image, "build_image", build)
    driver = ready_driver(target)
    assert built == [("x86_64", "bound")] and driver.state.name == "active"
    target.deactivate(driver)
    target.activate(driver)  # a second activation builds nothing
    assert len(built) == 1


def test_a_trigger_that_cannot_be_prepared_fails_it_does_not_skip(
        make_target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """supports() gives a reason only for what the board cannot do (here: an NMI from the
    host); a module that cannot be built raises, so a crash matrix fails instead of skipping."""
    from pytest_kdump.build import crashmod
    from pytest_kdump.errors import ToolError
    from pytest_kdump.session import KdumpSession

    def no_compiler(*args: object, **kwargs: object) -> None:
        raise ToolError("gcc not found", phase="trigger", advice="run ./setup")

    monkeypatch.setattr(crashmod, "build_module", no_compiler)
    session = KdumpSession(_engine(make_target(), tmp_path), None, None, tmp_path / "art")
    try:
        kdump = session.for_test(tmp_path / "art" / "t")
        assert "NMI injection needs QEMU's monitor" in kdump.supports("nmi")
        assert kdump.supports("sysrq") is None
        with pytest.raises(ToolError, match="gcc not found"):
            kdump.supports("module:panic")
        with pytest.raises(ConfigError, match="unknown trigger 'nosuch'"):
            kdump.supports("nosuch")
    finally:
        session.close()


def test_teardown_writes_the_record_whatever_collecting_raises(
        make_target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    """A non-KdumpError while the dump of an unexpected crash is collected (here the
    TimeoutExpired a fetch used to let escape): kdump.json is still written with the error,
    and the test's console log is detached (later console output does not go into it)."""
    import json
    import subprocess

    from pytest_kdump import plugin
    from pytest_kdump.analysis.crash.tool import CrashTool
    from pytest_kdump.session import KdumpSession

    tool = CrashTool(("crash",), "8.0.6", "not run")
    session = KdumpSession(_engine(make_target(), tmp_path), tool, None, tmp_path / "art")
    try:
        kdump = session.for_test(tmp_path / "art" / "t", "t")
        assert kdump.armed().loaded  # armed: the dump of the crash will be collected
        with pytest.raises(UnexpectedCrash):
            kdump.run("echo c > /proc/sysrq-trigger")

        def fetch_hangs(*args: object, **kwargs: object) -> None:
            raise subprocess.TimeoutExpired("debugfs", 120)

        monkeypatch.setattr(session.engine, "follow_crash", fetch_hangs)
        deadline = time.monotonic() + 10
        while not session.engine.unexpected_since(0) and time.monotonic() < deadline:
            time.sleep(0.1)  # the report completes when the console goes quiet
            session.engine.settle_detection()
        record = plugin._finish(kdump, request.node, 0.0)
        assert record["error"]["type"] == "UnexpectedCrash", record  # the test's own error
        assert any("TimeoutExpired" in w for w in record["warnings"]), record["warnings"]
        saved = json.loads((kdump.artifacts / "kdump.json").read_text())
        assert saved["error"] == record["error"]
        assert session.engine.log_path != kdump.console_log
        size = kdump.console_log.stat().st_size
        session.engine.run("echo after-the-test")
        assert kdump.console_log.stat().st_size == size
    finally:
        session.close()


def test_arm64_kernel_without_text_in_kallsyms_fails_before_the_crash(make_target,
                                                                      tmp_path: Path) -> None:
    """kexec -p loads, yet the dump will fail: the armed check says why before any crash."""
    target = make_target(console="        arch: aarch64\n        kallsyms_text: '0'\n")
    engine = _engine(target, tmp_path)
    with pytest.raises(CycleError) as info:
        engine.check_armed()
    assert info.value.phase == "armed"
    assert "/proc/kallsyms has no _text" in info.value.message
    assert "CONFIG_KALLSYMS_ALL=y" in info.value.advice and "supply_text" in info.value.advice


@pytest.mark.parametrize("text", ["1", "supplied"])
def test_arm64_kernel_with_text_is_armed(make_target, tmp_path: Path, text: str) -> None:
    target = make_target(console=f"        arch: aarch64\n        kallsyms_text: '{text}'\n")
    armed = _engine(target, tmp_path).check_armed()
    assert (armed.loaded, armed.arch, armed.kallsyms_text) == (True, "aarch64", text)


def test_a_kernel_config_without_crash_dump_fails_before_the_crash(make_target,
                                                                    tmp_path: Path) -> None:
    """The running kernel's config is read when it can be: what kdump needs and lacks is
    named, with its fix, before any crash."""
    target = make_target(console="        config: 'CONFIG_KEXEC=y CONFIG_MAGIC_SYSRQ=y "
                                  "# CONFIG_CRASH_DUMP is not set'\n")
    with pytest.raises(CycleError) as info:
        _engine(target, tmp_path).check_armed()
    assert info.value.phase == "armed"
    assert "CONFIG_CRASH_DUMP=y" in info.value.message
    assert "CONFIG_PROC_VMCORE=y" in info.value.message
    assert "CONFIG_KEXEC" not in info.value.message.split("lacks")[1]  # it has that one


def test_a_kernel_config_with_kexec_file_only_is_armed(make_target, tmp_path: Path) -> None:
    target = make_target(console="        config: 'CONFIG_KEXEC_FILE=y CONFIG_CRASH_DUMP=y "
                                  "CONFIG_PROC_VMCORE=y CONFIG_MAGIC_SYSRQ=y'\n")
    armed = _engine(target, tmp_path).check_armed()
    assert armed.kernel_config["CONFIG_KEXEC_FILE"] == "y" and armed.loaded


ARM = ("        arm: {kernel: /boot/vmlinuz, initrd: /boot/initrd-crash.img, "
       "append: 'irqpoll nr_cpus=1'}\n")


def test_arm_loads_the_crash_kernel_once_per_boot(make_target, tmp_path: Path) -> None:
    """With arm:, the engine loads the crash kernel itself after each boot (before anything
    could crash), and not again while this boot has it loaded with the same arguments."""
    target = make_target(console="        kdump_loaded: false\n", kdump=ARM)
    board = target.get_driver("FakeBusyboxConsole")
    engine = _engine(target, tmp_path)
    armed = engine.check_armed()
    assert armed.loaded and board.armings == ["irqpoll nr_cpus=1"], board.armings
    assert engine.check_armed().loaded and len(board.armings) == 1, board.armings
    assert "arm" in [p.name for p in engine.phases], engine.phases
    engine.take_dump("sysrq", tmp_path / "dump")  # the board reboots: its kexec is gone
    engine.ensure_shell()
    assert (board.boots, len(board.armings)) == (2, 2), (board.boots, board.armings)
    assert not any(s.expected is False for s in engine.seen), engine.seen


def test_the_console_log_level_is_restored_before_a_crash(make_target,
                                                           tmp_path: Path) -> None:
    """A log-in that lowered the console log level (ShellDriver: dmesg -n 1): set to 7
    before the trigger, and the test told."""
    target = make_target(console="        printk: '1 4 1 7'\n")
    board = target.get_driver("FakeBusyboxConsole")
    engine = _engine(target, tmp_path)
    assert engine.check_armed().console_loglevel == 1
    engine.take_dump("sysrq", tmp_path / "dump")
    restore = board.lines.index(next(x for x in board.lines if "> /proc/sys/kernel/printk" in x))
    trigger = board.lines.index(next(x for x in board.lines if "sysrq-trigger" in x))
    assert restore < trigger, board.lines
    assert any("console log level was 1" in w for w in engine.warnings), engine.warnings


def test_kernel_messages_in_command_output_do_not_change_what_the_engine_reads(
        make_target, tmp_path: Path) -> None:
    """The console prints the kernel's messages in the middle of a command's output (on the
    x86_64 guest, ``random: crng init done`` 3.7-5.7 s after boot): on a line of their own and
    cut into a line. The engine reads through them: the arming file (not loaded again), the
    armed check, the md5 of a copy, uname."""
    target = make_target(console="        kdump_loaded: false\n        kmsg: "
                                  "'[    3.693546] random: crng init done'\n", kdump=ARM)
    board = target.get_driver("FakeBusyboxConsole")
    engine = _engine(target, tmp_path)
    out = engine.run("uname -m")  # what the console showed
    assert out.count("crng init done") == 2 and without_kernel_messages(out) == "x86_64", out
    armed = engine.check_armed()
    assert armed.loaded and armed.reserved_bytes > 0 and armed.kernel_release, armed
    assert engine.check_armed().loaded and len(board.armings) == 1, board.armings
    module = tmp_path / "crash.ko"
    module.write_bytes(bytes(range(256)) * 9)
    engine.put_file(module, "/tmp/crash.ko")  # its md5sum line is cut by the message
    assert board.files["/tmp/crash.ko"] == module.read_bytes()
    assert not engine.seen and not engine.warnings

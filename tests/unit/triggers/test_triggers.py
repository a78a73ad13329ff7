"""Triggers: resolution by name, the built-in ones and the crash module's, per architecture."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_kdump import detect
from pytest_kdump.arch import ARCHES
from pytest_kdump.errors import ConfigError
from pytest_kdump.triggers import (
    INIT_EXIT,
    LKDTM_DIRECT,
    NMI,
    SYSRQ,
    Trigger,
    get_trigger,
    lkdtm,
)
from pytest_kdump.triggers.module import (
    MODES,
    check_mode,
    module_trigger,
    supported_modes,
)


def test_get_trigger() -> None:
    assert get_trigger("sysrq") is SYSRQ
    assert SYSRQ.command == "echo c > /proc/sysrq-trigger"
    assert SYSRQ.culprit == "sysrq_handle_crash"
    custom = Trigger(name="oops", command="insmod /oops.ko",
                     sysctls={"kernel.panic_on_oops": "1"})
    assert get_trigger(custom) is custom
    assert custom.setup_commands() == ["printf '%s\\n' 1 > /proc/sys/kernel/panic_on_oops"]
    cmd = get_trigger("cmd:echo 1 > /proc/sys/kernel/panic; echo c > /proc/sysrq-trigger")
    assert cmd.name == "command"
    assert cmd.command == "echo 1 > /proc/sys/kernel/panic; echo c > /proc/sysrq-trigger"
    assert cmd.setup_commands() == []
    assert str(SYSRQ) == "sysrq ('echo c > /proc/sysrq-trigger')"


@pytest.mark.parametrize("spec", ["sysrqq", "", "SYSRQ", "cmd"])
def test_get_trigger_unknown(spec: str) -> None:
    with pytest.raises(ValueError, match="unknown trigger .*known: sysrq, init-exit, nmi"):
        get_trigger(spec)


def test_builtin_triggers_are_reexported() -> None:
    from pytest_kdump import triggers
    from pytest_kdump.triggers import builtin

    for name in ("SYSRQ", "INIT_EXIT", "NMI", "lkdtm", "BUILTIN", "LKDTM_DIRECT"):
        assert getattr(triggers, name) is getattr(builtin, name), name
    assert builtin.BUILTIN == {"sysrq": SYSRQ, "init-exit": INIT_EXIT, "nmi": NMI}
    assert not hasattr(SYSRQ, "expect_headline")


def test_lkdtm() -> None:
    trig = get_trigger("lkdtm:PANIC")
    assert trig == lkdtm("PANIC") and trig.name == "lkdtm:PANIC"
    assert trig.command.endswith(f"echo PANIC > {LKDTM_DIRECT}")
    assert trig.requires == (f"path:{LKDTM_DIRECT}",)
    assert (NMI.host_action, NMI.requires, NMI.backtrace_culprit) == ("nmi", ("nmi",),
                                                                     "unknown_nmi_error")
    assert (INIT_EXIT.culprit, INIT_EXIT.backtrace_culprit) == ("do_exit", "panic")


@pytest.mark.parametrize("spec", ["module:panic", "module:"])
def test_module_specs_need_the_board(spec: str) -> None:
    with pytest.raises(ValueError, match="unknown trigger .*'module:<mode>'"):
        get_trigger(spec)


# --- crash module triggers ------------------------------------------------------------------

def test_modes_table_is_complete() -> None:
    assert set(MODES) == {"panic", "bug", "null", "warn", "divide", "timer", "softlockup",
                          "hung", "undef", "badaddr"}
    for name, spec in MODES.items():
        assert spec.name == name
        assert spec.kind in detect.KINDS, name
        assert spec.culprit.startswith("kdump_crash_"), name
        assert spec.timeout > 0 and isinstance(spec.returns, bool), name
        assert all(isinstance(v, str) for v in spec.sysctls.values()), name
        assert spec.arches and set(spec.arches) <= set(ARCHES), name
        assert bool(spec.limit) == (set(spec.arches) != set(ARCHES)), name
        re.compile(spec.headline)
    assert {m for m, s in MODES.items() if s.returns} == {"timer", "softlockup", "hung"}
    assert MODES["warn"].sysctls == {"kernel.panic_on_warn": "1"}
    assert MODES["hung"].sysctls["kernel.hung_task_panic"] == "1"
    assert MODES["softlockup"].sysctls["kernel.softlockup_panic"] == "1"
    assert MODES["panic"].sysctls == {}
    assert MODES["bug"].sysctls is not MODES["null"].sysctls


def test_supported_modes() -> None:
    assert supported_modes("x86_64") == list(MODES)
    assert supported_modes("aarch64") == ["panic", "bug", "null", "warn", "timer", "softlockup",
                                          "hung", "undef", "badaddr"]
    assert supported_modes("riscv64") == []


@pytest.mark.parametrize("arch", list(ARCHES))
@pytest.mark.parametrize("mode", list(MODES))
def test_module_trigger(mode: str, arch: str, tmp_path: Path) -> None:
    spec = MODES[mode]
    ko = tmp_path / "kdump_crash.ko"
    if arch not in spec.arches:
        with pytest.raises(ConfigError):
            module_trigger(mode, ko, arch)
        return
    assert check_mode(mode, arch) is spec
    trig = module_trigger(mode, ko, arch)
    assert trig == Trigger(
        name=f"module:{mode}", command=f"insmod /tmp/kdump_crash.ko mode={mode}",
        sysctls=spec.sysctls, culprit=spec.culprit, timeout=spec.timeout, kind=spec.kind,
        files=(("/tmp/kdump_crash.ko", ko),), analysis_culprit=spec.analysis_culprit)
    assert isinstance(trig.timeout, float) and trig.host_action is None and not trig.requires
    assert trig.sysctls is not spec.sysctls  # a test may not change the table
    assert trig.setup_commands() == [f"printf '%s\\n' {v} > /proc/sys/{k.replace('.', '/')}"
                                     for k, v in spec.sysctls.items()]


def test_hung_mode_trigger_fields(tmp_path: Path) -> None:
    trig = module_trigger("hung", tmp_path / "k.ko", "x86_64")
    assert (trig.kind, trig.culprit, trig.backtrace_culprit, trig.timeout) == (
        "hung-task", "kdump_crash_hang", "watchdog", 60.0)
    assert trig.sysctls == {"kernel.hung_task_panic": "1", "kernel.hung_task_timeout_secs": "5"}


def test_divide_is_refused_on_aarch64(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        module_trigger("divide", tmp_path / "kdump_crash.ko", "aarch64")
    message = info.value.message
    assert message.startswith("module:divide cannot crash an aarch64 kernel: integer division "
                              "by zero does not trap on arm64")
    assert message.endswith("; modes for aarch64: panic, bug, null, warn, timer, softlockup, "
                            "hung, undef, badaddr")
    assert info.value.phase == "trigger" and "x86_64" in info.value.advice
    with pytest.raises(ConfigError, match="module:divide cannot crash an aarch64 kernel"):
        check_mode("divide", "aarch64")  # before any build


def test_unknown_mode_and_arch(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown crash module mode 'nosuch'; known: panic, "):
        check_mode("nosuch", "x86_64")
    with pytest.raises(ValueError, match="unknown crash module mode"):
        module_trigger("nosuch", tmp_path / "k.ko", "x86_64")
    with pytest.raises(ConfigError, match="unknown architecture 'riscv64'"):
        check_mode("panic", "riscv64")


def test_remote_path_is_quoted(tmp_path: Path) -> None:
    trig = module_trigger("panic", tmp_path / "k.ko", "x86_64", remote="/tmp/my dir/k.ko")
    assert trig.command == "insmod '/tmp/my dir/k.ko' mode=panic"
    assert trig.files == (("/tmp/my dir/k.ko", tmp_path / "k.ko"),)


def test_user_values_reaching_the_shell_are_quoted() -> None:
    """(Each command is run in real shells by tests/reliability/test_quoting.py.)"""
    trig = Trigger(name="t", command="true", sysctls={"kernel.panic": "1; reboot -f",
                                                      "kernel.panic_on_oops": "1"})
    assert trig.setup_commands() == ["printf '%s\\n' '1; reboot -f' > /proc/sys/kernel/panic",
                                     "printf '%s\\n' 1 > /proc/sys/kernel/panic_on_oops"]
    with pytest.raises(ConfigError, match="'EXCEPTION; reboot' is not an LKDTM crash type"):
        get_trigger("lkdtm:EXCEPTION; reboot")

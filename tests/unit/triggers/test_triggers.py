"""Trigger resolution by name."""

from __future__ import annotations

import pytest

from pytest_kdump.triggers import SYSRQ, Trigger, get_trigger


def test_get_trigger() -> None:
    assert get_trigger("sysrq") is SYSRQ
    assert SYSRQ.command == "echo c > /proc/sysrq-trigger"
    assert SYSRQ.culprit == "sysrq_handle_crash"
    custom = Trigger(name="oops", command="insmod /oops.ko",
                     sysctls={"kernel.panic_on_oops": "1"})
    assert get_trigger(custom) is custom
    assert custom.setup_commands() == ["echo 1 > /proc/sys/kernel/panic_on_oops"]
    cmd = get_trigger("cmd:echo 1 > /proc/sys/kernel/panic; echo c > /proc/sysrq-trigger")
    assert cmd.name == "command"
    assert cmd.command == "echo 1 > /proc/sys/kernel/panic; echo c > /proc/sysrq-trigger"
    assert cmd.setup_commands() == []
    assert str(SYSRQ) == "sysrq ('echo c > /proc/sysrq-trigger')"


@pytest.mark.parametrize("spec", ["sysrqq", "", "SYSRQ", "cmd"])
def test_get_trigger_unknown(spec: str) -> None:
    with pytest.raises(ValueError, match="unknown trigger .*known: sysrq, init-exit, nmi"):
        get_trigger(spec)

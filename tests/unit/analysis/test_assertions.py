"""The readable assertions, on analyses built from crash's real outputs (tests/data/crash):
they pass on the truth and fail with expected vs actual and the lines that matter."""

from __future__ import annotations

import pytest

from pytest_kdump.analysis.assertions import (
    assert_in_backtrace,
    assert_log_contains,
    assert_module_loaded,
    assert_not_in_backtrace,
    assert_panic_message,
    assert_task_state,
)
from pytest_kdump.analysis.crash import parse as cp
from pytest_kdump.analysis.model import Analysis
from tests.helpers import DATA as TEST_DATA

DATA = TEST_DATA / "crash"


def recorded(name: str) -> Analysis:
    def read(cmd: str) -> str:
        return (DATA / name / f"{cmd}.txt").read_text()

    info = cp.parse_sys(read("sys"))
    trace = cp.parse_bt(read("bt"))[0]
    return Analysis(kernel_release=info.release, panic_message=info.panic_message,
                    crashing_task=trace.task, backtrace=list(trace.frames),
                    tasks=cp.parse_ps(read("ps")), tool_version="8.0.6", seconds=0.0,
                    modules=cp.parse_mod(read("mod")), log=read("log"), sys=info.fields)


@pytest.fixture(scope="module")
def sysrq() -> Analysis:
    return recorded("sysrq-8.0.6")


@pytest.fixture(scope="module")
def oops() -> Analysis:
    return recorded("module-null-8.0.6")


def test_true_statements_pass(sysrq, oops):
    assert_panic_message(sysrq, "sysrq triggered crash")
    assert_panic_message(oops, r"^Oops: 0002", regex=True)
    assert_in_backtrace(sysrq, "sysrq_handle_crash")
    assert_in_backtrace(sysrq, "__handle_sysrq")  # crash prints __handle_sysrq.cold
    assert_in_backtrace(oops, "_MODULE_INIT_START_kdump_crash", module="kdump_crash")
    assert_not_in_backtrace(sysrq, "kdump_crash_null")
    assert_task_state(sysrq, "sh", "RU")
    assert_task_state(sysrq, 1, "IN")
    assert_module_loaded(oops, "kdump_crash")
    assert_module_loaded(sysrq, "virtio-blk")  # as modprobe spells it
    assert_log_contains(sysrq, "sysrq: Trigger a crash")
    assert_log_contains(oops, r"CR2: 0+$", regex=True)


def test_wrong_panic_message_shows_both_and_the_log(sysrq):
    with pytest.raises(AssertionError) as info:
        assert_panic_message(sysrq, "Attempted to kill init!")
    text = str(info.value)
    assert "expected equal to 'Attempted to kill init!'" in text
    assert "actual: 'sysrq triggered crash'" in text
    assert "Kernel panic - not syncing: sysrq triggered crash" in text


def test_missing_function_lists_the_frames(sysrq):
    with pytest.raises(AssertionError) as info:
        assert_in_backtrace(sysrq, "sysrq_handle_crsh")
    text = str(info.value)
    assert "backtrace of PID 99 'sh': expected 'sysrq_handle_crsh'" in text
    assert "#3 sysrq_handle_crash" in text and "similar: sysrq_handle_crash" in text


def test_function_in_wrong_module(oops):
    with pytest.raises(AssertionError, match="found, but in module 'kdump_crash'"):
        assert_in_backtrace(oops, "_MODULE_INIT_START_kdump_crash", module="virtio_blk")


def test_wrong_state_shows_the_ps_line(sysrq):
    with pytest.raises(AssertionError) as info:
        assert_task_state(sysrq, "sh", "UN")
    assert "expected state UN" in str(info.value)
    assert "> PID 99" in str(info.value) and " RU  sh" in str(info.value)


def test_unknown_task_suggests_names(sysrq):
    with pytest.raises(AssertionError, match="similar commands: kthreadd"):
        assert_task_state(sysrq, "kthread", "IN")


def test_module_not_loaded_lists_modules(sysrq):
    with pytest.raises(AssertionError) as info:
        assert_module_loaded(sysrq, "kdump_crash")
    assert "loaded (6): virtio, virtio_blk" in str(info.value)


def test_log_miss_shows_the_closest_lines(sysrq):
    with pytest.raises(AssertionError) as info:
        assert_log_contains(sysrq, "sysrq: Trigger a crash!")
    assert "closest lines" in str(info.value) and "sysrq: Trigger a crash" in str(info.value)


def test_rejects_other_objects():
    with pytest.raises(TypeError, match="expected an Analysis or a Crash"):
        assert_panic_message("not an analysis", "x")

"""Questions a lab asks of a dump, as assertions: where it crashed, in which module, what the
tasks were doing, what the log says. One crash process answers them all.

Run: pytest examples/test_dump_analysis.py
"""

import pytest

from pytest_kdump.analysis.assertions import (
    assert_in_backtrace,
    assert_log_contains,
    assert_module_loaded,
    assert_panic_message,
    assert_task_state,
)

# What each architecture's kernel says about a NULL write (the rest of the test is the same)
NULL_WRITE = {
    "x86_64": {"panic": r"^Oops: 0002 \[#1\]",
               "log": "BUG: kernel NULL pointer dereference, address: 0000000000000000"},
    "aarch64": {"panic": r"^Unable to handle kernel NULL pointer dereference at virtual "
                         r"address 0+$",
                "log": "Internal error: Oops: "},
}


def test_oops_in_a_module(kdump):
    arch = kdump.run("uname -m").strip()
    crash = kdump.trigger_crash("module:null")  # NULL dereference in our crash module's init

    assert_panic_message(crash, NULL_WRITE[arch]["panic"], regex=True)
    assert_in_backtrace(crash, "kdump_crash_null", module="kdump_crash")
    assert_module_loaded(crash, "kdump_crash")
    assert_task_state(crash, "insmod", "RU")
    assert_log_contains(crash, NULL_WRITE[arch]["log"])

    # more questions go to the same crash process, typed
    if arch == "x86_64":  # crash shows the kernel's exception frame on x86 (not on arm64)
        fault = crash.process.bt().exception
        assert fault is not None and fault.function == "kdump_crash_null", fault
        assert fault.module == "kdump_crash" and fault.offset == 12, fault
        assert fault.registers["RAX"] == "0000000000000000", fault.registers  # the NULL pointer
    init = crash.process.files(1)
    assert "/dev/console" in [f.path for f in init.files], init
    assert crash.process.kmem_info().free_bytes > 100 << 20
    assert crash.run("p panic_on_oops").strip().endswith("= 1")


@pytest.mark.kdump_backend("drgn")
def test_sysrq_with_drgn(kdump):
    crash = kdump.trigger_crash("sysrq")

    assert crash.analysis.backend == "drgn"
    assert_panic_message(crash, "sysrq triggered crash")
    assert_in_backtrace(crash, "sysrq_handle_crash")
    assert_task_state(crash, "sh", "RU")
    # the crash utility is still at hand on the same dump
    assert crash.process.sys().panic_message == crash.panic_message

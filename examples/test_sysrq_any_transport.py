"""A crash test that runs on every transport, also on a board with no network and no dump
disk: there the crash kernel sends the crashed kernel's log over the serial console (the
``serial`` transport), and the analysis is read from that log (``crash.vmcore`` is None).
The assertions use only what the log holds: the panic, the backtrace, the crashing task.

Run: pytest examples/test_sysrq_any_transport.py --lg-env labgrid-envs/qemu-x86_64-serial.yaml
(or with any other env: the test is the same).
"""


def test_sysrq_crash_on_any_transport(kdump):
    armed = kdump.armed()
    assert armed.loaded, armed

    crash = kdump.trigger_crash("sysrq")

    assert crash.panic_message == "sysrq triggered crash", crash.analysis
    assert "sysrq_handle_crash" in crash.functions, crash.analysis
    assert crash.analysis.crashing_task.command == "sh", crash.analysis
    assert "sysrq: Trigger a crash" in crash.analysis.log, crash.dump.dmesg

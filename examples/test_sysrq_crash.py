"""The first crash test: sysrq 'c' on a kdump-armed kernel, then assertions on crash's analysis.

Run: pytest examples/test_sysrq_crash.py   (the env file comes from pyproject.toml's addopts)
"""


def test_sysrq_crash(kdump):
    armed = kdump.armed()
    assert armed.loaded, armed
    assert armed.reserved_mib >= 64, armed

    crash = kdump.trigger_crash("sysrq")

    assert crash.panic_message == "sysrq triggered crash", crash.analysis.outputs["sys"]
    assert "sysrq_handle_crash" in crash.functions, crash.analysis
    assert crash.analysis.crashing_task.command == "sh", crash.analysis
    # crash must read the task list (bookworm's crash 8.0.2 saw only 2 tasks)
    assert len(crash.analysis.tasks) > 20, crash.analysis.outputs["ps"]

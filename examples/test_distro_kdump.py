"""kdump the distribution's way: a board whose own kdump service loads the crash kernel and
saves the dump, fetched over the network after the board comes back.

Runs unchanged on the Debian guest (kdump-tools, dump fetched over SSH), on the same guest
with the seed lab's netcat upload, and on a real board (e.g. a BeaglePlay with Debian's
kdump-tools): only ``--lg-env`` changes.

    pytest examples/test_distro_kdump.py --lg-env labgrid-envs/debian-x86_64.yaml
    pytest examples/test_distro_kdump.py --lg-env labgrid-envs/debian-x86_64-netcat.yaml
"""


def test_distro_sysrq(kdump):
    armed = kdump.armed()
    assert armed.loaded, armed
    # the distribution's own view, when its saver has one ("current state : ready to kdump")
    if armed.saver_status:
        assert "ready to kdump" in armed.saver_status, armed.saver_status

    crash = kdump.trigger_crash("sysrq")

    assert crash.panic_message == "sysrq triggered crash", crash.analysis.outputs["sys"]
    assert "sysrq_handle_crash" in crash.functions, crash.analysis
    # the trigger was typed at root's log-in shell on the serial console
    assert crash.analysis.crashing_task.command in ("bash", "sh"), crash.analysis
    # a whole distribution was running: systemd, journald, sshd...
    commands = {t.command for t in crash.analysis.tasks}
    assert {"systemd", "systemd-journal", "sshd"} <= commands, sorted(commands)

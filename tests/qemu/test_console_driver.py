"""labgrid's own ShellDriver and pytest-kdump share one console through KdumpConsoleDriver:
both work, and the session log keeps what each of them saw (real QEMU)."""

from __future__ import annotations

from pytest_kdump.drivers.environment import open_session
from tests.helpers import ENV, LABGRID_LOGGER_WARNING

SHELL = """      ShellDriver:
        bindings: {console: kdump-console}
        prompt: 'kdump# '
        login_prompt: 'login: '
        username: root
        login_timeout: 60
"""


@LABGRID_LOGGER_WARNING
def test_shelldriver_and_kdump_share_the_console(tmp_path, monkeypatch):
    monkeypatch.setenv("LG_KDUMP_RUN", str(tmp_path))
    text = ENV.read_text().replace("images:\n", SHELL + "images:\n", 1)
    env_file = tmp_path / "env.yaml"
    env_file.write_text(text)
    env, session = open_session(env_file, tmp_path / "artifacts")
    try:
        kdump = session.for_test(tmp_path / "artifacts" / "t")
        assert kdump.armed().loaded  # boots the board through pytest-kdump
        shell = env.get_target().get_driver("ShellDriver")
        out = shell.run_check("echo from-labgrid-$((6*7))")
        assert out == ["from-labgrid-42"]
        # pytest-kdump's own shell still works after labgrid's, on the same console
        assert kdump.run("echo from-kdump-$((6*7))") == "from-kdump-42"
        assert shell.run_check("uname -r") == [kdump.armed().kernel_release]
        # a flood at full speed through QEMU's serial, labgrid and the capture (the 5 MB flood
        # is in test_console.py: QEMU's socket serial gives only ~25 KB/s here); kernel
        # messages are silenced so that nothing interleaves with it
        kdump.run("dmesg -n 1")
        kdump.run("seq 1 100000; echo FLOOD-''DONE", timeout=120)
    finally:
        session.close()
        env.cleanup()
    log = (tmp_path / "artifacts" / "session" / "console.raw").read_bytes()
    assert b"from-labgrid-42" in log and b"from-kdump-42" in log
    start = log.index(b"\r\n1\r\n2\r\n3\r\n") + 2
    flood = log[start:log.index(b"FLOOD-DONE", start)]
    expected = "".join(f"{i}\r\n" for i in range(1, 100001)).encode()  # the tty adds \r
    assert flood == expected, "console bytes lost or changed in the flood"

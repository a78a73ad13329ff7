"""Board command lines built from user values (issue 15, item 17), run in real shells: each
value arrives intact as one word and nothing else runs; values no command line can carry are
refused with a ConfigError. (``cmd:`` triggers are the user's own command, run as written.)"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_kdump.console.transfer import ConsoleCopy, check_remote_path
from pytest_kdump.errors import ConfigError
from pytest_kdump.triggers import LKDTM_DIRECT, Trigger, get_trigger, lkdtm
from pytest_kdump.triggers.module import module_trigger

# dash (Debian's sh), the guest's busybox ash, bash: the shells a board may have
SHELLS = {name: argv for name, argv in (("sh", ["sh"]), ("busybox", ["/bin/busybox", "sh"]),
                                         ("bash", ["bash"]))
          if shutil.which(argv[0])}

HOSTILE = [
    "|/usr/lib/x %p",  # a core_pattern pipe
    "a  b\tc ",
    "; touch PWNED",
    "$(touch PWNED)",
    "`touch PWNED`",
    "1 | touch PWNED",
    "1 && touch PWNED &",
    "> PWNED",
    "it's \"quoted\"",
    "-n",
    "-e \\t\\c",
    "\\\\n %s %d %%",
    "* ?",
    "$HOME ${IFS} !!",
    "ünïcödé ☃",
    "",
]


def _shell(name: str, cwd: Path) -> Callable[[str], str]:
    """Runs one command line in a real shell (like the board's) in ``cwd``: its output, or
    an AssertionError on a non-zero exit."""
    def run(command: str) -> str:
        proc = subprocess.run([*SHELLS[name], "-c", command], capture_output=True, text=True,
                              cwd=cwd, timeout=30)
        assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
        return proc.stdout
    return run


def _nothing_ran(*folders: Path) -> None:
    for folder in folders:
        assert not list(folder.rglob("PWNED*")), f"a value ran as a command in {folder}"


@pytest.fixture(params=list(SHELLS))
def shell(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.parametrize("value", HOSTILE)
def test_sysctl_value_arrives_intact(tmp_path: Path, shell: str, value: str) -> None:
    """``kernel.core_pattern="|/usr/lib/x %p"`` and worse: the sysctl file gets the value and
    a newline, as ``sysctl -w`` writes it. (echo lost ``-n`` and, in dash, backslashes.)"""
    root = tmp_path / "proc sys"
    (root / "kernel").mkdir(parents=True)
    trig = Trigger(name="t", command="true",
                   sysctls={"kernel.core_pattern": value, "kernel.panic": "1"})
    run = _shell(shell, tmp_path)
    for command in trig.setup_commands(root=str(root)):
        assert run(command) == ""
    assert (root / "kernel" / "core_pattern").read_text() == value + "\n"
    assert (root / "kernel" / "panic").read_text() == "1\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["core_pattern", "kernel", "panic",
                                                          "proc sys"]
    _nothing_ran(tmp_path, Path.cwd())


@pytest.mark.parametrize(("sysctls", "match"), [
    ({"kernel.panic; reboot": "1"}, r"'kernel.panic; reboot' is not a sysctl name"),
    ({"../../etc/passwd": "x"}, "is not a sysctl name"),
    ({"kernel..panic": "1"}, "is not a sysctl name"),
    ({"": "1"}, "is not a sysctl name"),
    ({"kernel.panic": "1\nreboot -f"}, r"value of sysctl kernel.panic \('1\\nreboot -f'\) "
                                       "holds a line break"),
    ({"kernel.panic": "1\r"}, "holds a line break"),
    ({"kernel.panic": "a\0b"}, "control character"),
])
def test_sysctls_that_no_command_line_carries(sysctls: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as exc:
        Trigger(name="t", command="true", sysctls=sysctls)
    assert exc.value.phase == "trigger" and exc.value.advice


def test_sysctl_values_of_other_types() -> None:
    trig = Trigger(name="t", command="true", sysctls={"kernel.panic": 10})  # type: ignore[dict-item]
    assert trig.setup_commands() == ["printf '%s\\n' 10 > /proc/sys/kernel/panic"]
    assert Trigger(name="t", command="", sysctls={"kernel.printk": "4\t4\t1\t7"})


@pytest.mark.parametrize("crashtype", ["panic", "PANIC; reboot -f", "$(reboot)", "`reboot`",
                                       "", "PANIC\n", "A B", "_X", "ÉCHEC", "../PANIC"])
def test_lkdtm_type_is_checked(crashtype: str) -> None:
    with pytest.raises(ConfigError, match="is not an LKDTM crash type") as exc:
        get_trigger(f"lkdtm:{crashtype}")
    assert exc.value.phase == "trigger" and "lkdtm:PANIC" in (exc.value.advice or "")
    with pytest.raises(ConfigError):
        lkdtm(crashtype)


@pytest.mark.parametrize("crashtype", ["PANIC", "CORRUPT_STACK", "WRITE_RO_AFTER_INIT",
                                       "SLAB_FREE_CROSS", "REFCOUNT_INC_OVERFLOW"])
def test_lkdtm_types(crashtype: str) -> None:
    # (never run: on a host with LKDTM it would crash the host)
    assert get_trigger(f"lkdtm:{crashtype}").command.endswith(
        f"; echo {crashtype} > {LKDTM_DIRECT}")


@pytest.mark.parametrize("name", ["k.ko", "it's a; crash.ko", "$(touch PWNED).ko",
                                  "`touch PWNED`.ko", "a | b & c > d.ko", "ünï cödé.ko",
                                  "\"dq\" *.ko"])
def test_module_trigger_command(tmp_path: Path, shell: str, name: str) -> None:
    """insmod gets the remote path as one argument, whatever it holds."""
    remote = f"/tmp/my dir/{name}"
    trig = module_trigger("panic", tmp_path / "k.ko", "x86_64", remote=remote)
    assert trig.files == ((remote, tmp_path / "k.ko"),)
    out = _shell(shell, tmp_path)(f"insmod() {{ printf '<%s>' \"$@\"; }}; {trig.command}")
    assert out == f"<{remote}><mode=panic>"
    _nothing_ran(tmp_path, Path.cwd())


@pytest.mark.parametrize("name", ["it's a; crash.ko", "$(touch PWNED).ko", "`touch PWNED`.ko",
                                  "a | b & c > d.ko", "back\\slash.ko", "ünï cödé.ko",
                                  "\"dq\" *.ko", "-rf"])
def test_console_copy_to_hostile_paths(tmp_path: Path, shell: str, name: str) -> None:
    """The base64 copy's commands in a real shell: the file arrives whole under its name,
    nothing else is created. (coreutils' md5sum marks a name with a backslash by starting
    its line with one: the copy was reported corrupted.)"""
    local = tmp_path / "module.ko"
    local.write_bytes(bytes(range(256)) * 9)
    board = tmp_path / "board dir"
    board.mkdir()
    remote = str(board / name)
    ConsoleCopy(_shell(shell, tmp_path), chunk=300).put(local, remote)
    assert Path(remote).read_bytes() == local.read_bytes()
    assert [p.name for p in board.iterdir()] == [name]
    _nothing_ran(tmp_path, Path.cwd())


@pytest.mark.parametrize("remote", ["relative/k.ko", "-rf", "", "/tmp/a\nb.ko", "/tmp/a\0b",
                                    "/tmp/a\rb"])
def test_remote_paths_that_no_command_line_carries(tmp_path: Path, remote: str) -> None:
    typed: list[str] = []
    with pytest.raises(ConfigError, match="cannot be used on the board"):
        ConsoleCopy(typed.append).put(tmp_path / "k.ko", remote)  # type: ignore[arg-type]
    assert typed == []  # refused before anything is typed
    with pytest.raises(ConfigError, match="the file destination"):
        Trigger(name="t", command="", files=((remote, tmp_path / "k.ko"),))
    with pytest.raises(ConfigError) as exc:
        module_trigger("panic", tmp_path / "k.ko", "x86_64", remote=remote)
    assert exc.value.phase == "trigger"
    assert check_remote_path("/tmp/ok dir/k.ko") == "/tmp/ok dir/k.ko"

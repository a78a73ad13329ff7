"""Tests of parse.common (command_error) on every recorded crash output and on snippets."""

from __future__ import annotations

import re

import pytest

from pytest_kdump.analysis.crash import parse as cp
from tests.unit.analysis.crash.parse.recorded import DUMPS, read


def _commands(dump: str) -> dict[str, str]:
    """File name -> crash command, by record.py's naming rule."""
    out = {}
    for cmd in read(dump, "commands.txt").splitlines():
        name = re.sub(r"[^A-Za-z0-9]+", "_", re.sub(r"\b[0-9a-f]{16}\b", "TASK", cmd))
        out[name.strip("_") + ".txt"] = cmd
    return out


ERRORS = {
    "bt_99999.txt": "bt: invalid task or pid value: 99999",
    "p_no_such_symbol.txt": "p: gdb request failed: p no_such_symbol",
    "dis_no_such_fn.txt": "symbol not found: no_such_fn",
    "struct_task_struct_no_such_field_TASK.txt":
        "struct: invalid data structure reference: task_struct.no_such_field",
}


@pytest.mark.parametrize("dump", DUMPS)
def test_command_error_on_every_recorded_output(dump: str) -> None:
    commands = _commands(dump)
    assert len(commands) == 25
    expected = dict(ERRORS)
    if dump == "sysrq-8.0.2":
        expected["files_1.txt"] = "files: invalid task or pid value: 1"
    for name, command in commands.items():
        assert cp.command_error(command, read(dump, name)) == expected.get(name), name


@pytest.mark.parametrize("command, text, error", [
    ("rd 0 4", 'rd: invalid kernel virtual address: 0  type: "64-bit KVADDR"\n',
     'rd: invalid kernel virtual address: 0  type: "64-bit KVADDR"'),
    ("p/x foo", "p: gdb request failed: p/x foo\n", "p: gdb request failed: p/x foo"),
    ("sys", "crash: cannot open dump\n", "crash: cannot open dump"),
    ("bt 1", "\nWARNING: x\nbt: cannot resolve stack trace\n", "bt: cannot resolve stack trace"),
    ("foreach bt", "bt: cannot transition\n", "bt: cannot transition"),
    ("p foo", 'No symbol "foo" in current context.\n', 'No symbol "foo" in current context.'),
    ("log -T | tail -3", "log: invalid option\n", "log: invalid option"),
    ("bt", "bt: WARNING: possibly bogus exception frame\n", None),
    ("bt", 'PID: 1  TASK: f  CPU: 0  COMMAND: "x"\nbt: cannot transition\n', None),
    ("sys", "", None),
    ("", "", None),
    ("mod", "kmem: invalid\n", None),  # another command's name
])
def test_command_error_forms(command: str, text: str, error: str | None) -> None:
    assert cp.command_error(command, text) == error


def test_foreach_filter_errors_name_the_command() -> None:
    assert cp.command_error("foreach UN bt", "bt: invalid task\n") == "bt: invalid task"
    assert cp.command_error("foreach UN bt", "UN: x\n") is None
    text = read("module-bug-8.0.6", "foreach_UN_bt.txt")
    assert cp.command_error("foreach UN bt", text) is None

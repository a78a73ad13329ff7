"""Parsers of the outputs of the ``crash`` utility's commands, one pure function per command.

Each ``parse_*`` function takes the text crash printed and returns typed, frozen dataclasses
(or the shared :class:`~.model.Frame`, :class:`~.model.Task` and :class:`~.model.Module`).
They do no I/O, and empty, truncated or foreign text gives empty results rather than an
exception. Addresses are kept as crash prints them: lower-case hex without ``0x``.

One module per command family, all re-exported here (``from ...crash import parse as cp``,
then ``cp.parse_sys(text)``):

- :mod:`.common`: :func:`command_error`, which tells crash's error messages
  (``bt: invalid task or pid value: 1``, ``symbol not found: foo``...) from normal outputs
- :mod:`.sysinfo`: ``sys``, ``sys -t``
- :mod:`.bt`: ``bt``, ``bt -a``, ``foreach bt``, ``bt -s``, ``bt -l``; :func:`resolve_modules`
- :mod:`.ps`: ``ps``, ``ps -m``
- :mod:`.log`: ``log`` (``-T``, ``-t``, ``-m``, ``-c``)
- :mod:`.mod`: ``mod``
- :mod:`.kmem`: ``kmem -i``
- :mod:`.files`: ``files``, ``foreach files``, ``mount``
- :mod:`.net`: ``net``
- :mod:`.dis`: ``dis``, ``dis -l``
- :mod:`.memory`: ``p``, ``struct``, ``rd``; :func:`c_int`, :func:`c_string`
"""

from __future__ import annotations

from pytest_kdump.analysis.crash.parse.bt import (
    Backtrace,
    parse_bt,
    parse_bt_one,
    resolve_modules,
)
from pytest_kdump.analysis.crash.parse.common import command_error
from pytest_kdump.analysis.crash.parse.dis import Instruction, parse_dis
from pytest_kdump.analysis.crash.parse.files import (
    Files,
    Mount,
    OpenFile,
    parse_files,
    parse_files_all,
    parse_mount,
)
from pytest_kdump.analysis.crash.parse.kmem import MemInfo, MemRow, parse_kmem_i
from pytest_kdump.analysis.crash.parse.log import LogLine, log_text, parse_log
from pytest_kdump.analysis.crash.parse.memory import (
    MemoryRow,
    PrintResult,
    c_int,
    c_string,
    parse_p,
    parse_rd,
    parse_struct,
)
from pytest_kdump.analysis.crash.parse.mod import parse_mod
from pytest_kdump.analysis.crash.parse.net import NetDevice, parse_net
from pytest_kdump.analysis.crash.parse.ps import TaskTime, parse_ps, parse_ps_m
from pytest_kdump.analysis.crash.parse.sysinfo import (
    SysInfo,
    TaintInfo,
    panic_message,
    parse_sys,
    parse_sys_taint,
)
from pytest_kdump.analysis.model import Frame, Module, Task

__all__ = [
    "Backtrace", "Files", "Frame", "Instruction", "LogLine", "MemInfo", "MemRow", "MemoryRow",
    "Module", "Mount", "NetDevice", "OpenFile", "PrintResult", "SysInfo", "TaintInfo", "Task",
    "TaskTime", "c_int", "c_string", "command_error", "log_text", "panic_message", "parse_bt",
    "parse_bt_one", "parse_dis", "parse_files", "parse_files_all", "parse_kmem_i", "parse_log",
    "parse_mod", "parse_mount", "parse_net", "parse_p", "parse_ps", "parse_ps_m", "parse_rd",
    "parse_struct", "parse_sys", "parse_sys_taint", "resolve_modules",
]

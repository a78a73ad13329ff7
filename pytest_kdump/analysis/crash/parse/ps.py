"""
Processes
---------

Parsers of crash's ``ps`` (the task list: :func:`parse_ps`) and ``ps -m`` (how long ago each
task last ran: :func:`parse_ps_m`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pytest_kdump.analysis.crash.parse.common import _float, _header_task, _int
from pytest_kdump.analysis.model import Task

_PS_COLUMNS = ["PID", "PPID", "CPU", "TASK", "ST", "%MEM", "VSZ", "RSS", "COMM"]
_PS_ROW = re.compile(r"^([>*]?)\s*(\d+\s.*)$")


def parse_ps(text: str) -> list[Task]:
    """Parse ``ps`` into :class:`Task` s, by the columns its header names (the 8.0.x layout
    when there is no header). ``>`` marks the active task (``active``); a ``[bracketed]``
    command is a kernel thread (``kernel_thread``, command without brackets).

    >>> (sh,) = parse_ps("   PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM\\n"
    ...                  ">   99      1   0  ffff8a80deefe000  RU   0.3     2260     1676  sh")
    >>> sh.pid, sh.command, sh.active, sh.rss
    (99, 'sh', True, 1676)

    :return: the tasks, in crash's order (empty for foreign text)
    """
    columns = _PS_COLUMNS
    tasks = []
    for line in text.splitlines():
        words = line.split()
        if "PID" in words and words[-1] == "COMM":
            columns = words
            continue
        m = _PS_ROW.match(line)
        if not m:
            continue
        values = m.group(2).split(None, len(columns) - 1)
        if len(values) < len(columns):
            continue
        row = dict(zip(columns, values, strict=True))
        command = row.get("COMM", "").strip()
        kthread = len(command) > 2 and command[0] == "[" and command[-1] == "]"
        pid = _int(row.get("PID"))
        if pid is None:
            continue
        tasks.append(Task(
            pid=pid, command=command[1:-1] if kthread else command, cpu=_int(row.get("CPU")),
            task=row.get("TASK"), state=row.get("ST"), ppid=_int(row.get("PPID")),
            active=m.group(1) == ">", mem_percent=_float(row.get("%MEM")),
            vsz=_int(row.get("VSZ")), rss=_int(row.get("RSS")), kernel_thread=kthread))
    return tasks


@dataclass(frozen=True)
class TaskTime:
    """A ``ps -m`` line: time since the task last ran (``since_last_run`` seconds, from
    ``[days hh:mm:ss.mmm]``; ``stamp`` is the bracket as printed), its state and header."""

    pid: int
    task: str
    cpu: int | None
    command: str
    state: str
    since_last_run: float | None
    stamp: str


_PS_M = re.compile(r"^\[([^\]]*)\]\s+\[(\w+)\]\s+(PID:.*)$")
_DHMS = re.compile(r"^(\d+)\s+(\d+):(\d+):(\d+(?:\.\d+)?)$")


def parse_ps_m(text: str) -> list[TaskTime]:
    """Parse ``ps -m`` (``[0 00:00:01.271] [ID]  PID: 35  TASK: ...``) into :class:`TaskTime`
    s, in crash's order (most recently run first).

    >>> (t,) = parse_ps_m('[0 00:00:01.271] [ID]  PID: 35  TASK: ffff8a80c1c20000  CPU: 0'
    ...                   '  COMMAND: "kworker/0:1H"')
    >>> t.command, t.state, t.since_last_run
    ('kworker/0:1H', 'ID', 1.271)

    :return: a :class:`TaskTime` per task line (empty for foreign text)
    """
    out = []
    for line in text.splitlines():
        m = _PS_M.match(line.strip())
        task = _header_task(m.group(3)) if m else None
        if not m or task is None:
            continue
        stamp = m.group(1).strip()
        t = _DHMS.match(stamp)
        since = (int(t.group(1)) * 86400 + int(t.group(2)) * 3600 + int(t.group(3)) * 60
                 + float(t.group(4))) if t else None
        out.append(TaskTime(pid=task.pid, task=task.task or "", cpu=task.cpu,
                            command=task.command, state=m.group(2), since_last_run=since,
                            stamp=stamp))
    return out

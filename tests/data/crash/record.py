"""Record crash's outputs for the parser tests.

    python tests/data/crash/record.py VMLINUX DUMPDIR NAME [CRASH]

Opens one crash process (pytest-kdump's CrashProcess; default crash: the one pytest-kdump
installed in its cache) on DUMPDIR/vmcore, runs the commands below and writes one file per
command to tests/data/crash/NAME/. The crashing task's address (for ``struct``) and the culprit
function (for ``dis``) are read from this dump's own ``bt``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pytest_kdump.analysis.crash.process import CrashProcess
from pytest_kdump.analysis.crash.tool import find_crash
from pytest_kdump.cachedir import cache_dir

COMMANDS = ["sys", "bt", "bt -a", "foreach bt", "ps", "ps -m", "log", "mod", "kmem -i",
            "files 1", "mount", "net", "p jiffies", "p init_task.comm", "p/x init_task.pid",
            "rd jiffies 4", "rd -s init_task 6", "bt 99999", "p no_such_symbol", "dis no_such_fn",
            "struct task_struct.pid,comm {task}", "struct task_struct.no_such_field {task}",
            "dis -l {culprit}", "log -T | tail -3", "sys -t"]


def main() -> None:
    vmlinux, dump, name = sys.argv[1:4]
    tool = find_crash(sys.argv[4] if len(sys.argv) > 4 else None, cache_dir())
    out = Path(__file__).parent / name
    out.mkdir(parents=True, exist_ok=True)
    # allow_shell: the list records a piped command ("log -T | tail -3") on purpose
    with CrashProcess(tool, vmlinux, Path(dump) / "vmcore", allow_shell=True) as session:
        bt = session.run("bt")
        task = re.search(r"TASK: ([0-9a-f]+)", bt).group(1)
        exc = re.search(r"\[exception RIP: (\w+)", bt)
        culprit = exc.group(1) if exc else "sysrq_handle_crash"
        commands = [c.format(task=task, culprit=culprit) for c in COMMANDS]
        startup = session.startup  # crash's start-up warnings open the first file, as on stdin
        for cmd in commands:
            fname = re.sub(r"[^A-Za-z0-9]+", "_", cmd.replace(task, "TASK")).strip("_")
            (out / f"{fname}.txt").write_text(startup + session.run(cmd))
            startup = ""
    (out / "commands.txt").write_text("\n".join(commands) + "\n")


if __name__ == "__main__":
    main()

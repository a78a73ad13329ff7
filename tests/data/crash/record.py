"""Record crash's outputs for the parser tests.

    python tests/data/crash/record.py VMLINUX DUMPDIR NAME [CRASH]


Runs crash (default: the one pytest-kdump installed in its cache) once on DUMPDIR/vmcore, feeds
the commands below on stdin with an echo marker after each, and writes one file per command to
tests/data/crash/NAME/. The crashing task's address (for ``struct``) and the culprit function
(for ``dis``) are read from this dump's own ``bt``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from pytest_kdump.crashtool import installed_crash
from pytest_kdump.image import cache_dir

COMMANDS = ["sys", "bt", "bt -a", "foreach bt", "ps", "ps -m", "log", "mod", "kmem -i",
            "files 1", "mount", "net", "p jiffies", "p init_task.comm", "p/x init_task.pid",
            "rd jiffies 4", "rd -s init_task 6", "bt 99999", "p no_such_symbol", "dis no_such_fn",
            "struct task_struct.pid,comm {task}", "struct task_struct.no_such_field {task}",
            "dis -l {culprit}", "log -T | tail -3", "sys -t"]
MARK = "@@RECORD-{}@@"


def run(argv: list[str], vmlinux: str, vmcore: str, commands: list[str]) -> list[str]:
    script = "".join(f"{c}\necho {MARK.format(i)}\n" for i, c in enumerate(commands)) + "exit\n"
    out = subprocess.run([*argv, "-s", vmlinux, vmcore], input=script, capture_output=True,
                         text=True, timeout=300).stdout
    parts = []
    for i in range(len(commands)):
        head, _, out = out.partition(MARK.format(i) + "\n")
        parts.append(head)
    return parts


def main() -> None:
    vmlinux, dump, name = sys.argv[1:4]
    argv = [sys.argv[4]] if len(sys.argv) > 4 else list(installed_crash(cache_dir()).argv)
    vmcore = str(Path(dump) / "vmcore")
    (bt,) = run(argv, vmlinux, vmcore, ["bt"])
    task = re.search(r"TASK: ([0-9a-f]+)", bt).group(1)
    exc = re.search(r"\[exception RIP: (\w+)", bt)
    culprit = exc.group(1) if exc else "sysrq_handle_crash"
    commands = [c.format(task=task, culprit=culprit) for c in COMMANDS]
    out = Path(__file__).parent / name
    out.mkdir(parents=True, exist_ok=True)
    for cmd, text in zip(commands, run(argv, vmlinux, vmcore, commands), strict=True):
        fname = re.sub(r"[^A-Za-z0-9]+", "_", cmd.replace(task, "TASK")).strip("_") + ".txt"
        (out / fname).write_text(text)
    (out / "commands.txt").write_text("\n".join(commands) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A stand-in for the crash utility, for fast tests of CrashProcess's plumbing (pipes, markers,
timeouts, errors). It answers on stdin like ``crash -s VMLINUX VMCORE`` does, with canned text.

FAKE_CRASH selects the start-up: ok (default), mismatch (crash's version warning, then goes
on), bad-vmlinux / bad-vmcore ("not a supported file format" naming that file, exit 1),
garbage (an unknown complaint, exit 3), slow (never reaches the prompt).
Commands: echo TEXT (CrashProcess's markers; crash runs echo through /bin/sh), say TEXT,
replay FILE (prints the file as it is), environ (its argv, working directory and
environment as JSON), sys, p no_such_symbol, flood MB (MB of text), sleep S,
die, exit. ``FAKE_CRASH_SEEN=FILE`` appends every line read on stdin to FILE.
"""

import json
import os
import sys
import time

vmlinux, vmcore = sys.argv[-2], sys.argv[-1]
mode = os.environ.get("FAKE_CRASH", "ok")
out = sys.stdout
if mode == "mismatch":
    out.write("WARNING: kernel version inconsistency between vmlinux and dumpfile\n\n")
elif mode in ("bad-vmlinux", "bad-vmcore"):
    out.write(f"crash: {vmlinux if mode == 'bad-vmlinux' else vmcore}: not a supported file "
              "format\n\nUsage:\n  crash [OPTION]... NAMELIST MEMORY-IMAGE\n")
    sys.exit(1)
elif mode == "other-arch":  # Debian's amd64 crash 8.0.6 on an arm64 dump, as it answers
    out.write(f"WARNING: machine type mismatch:\n         crash utility: X86_64\n         "
              f"{vmcore}: ARM64\n\ncrash: {vmcore}: not a supported file format\n")
    sys.exit(1)
elif mode == "garbage":
    out.write("crash: something nobody has seen before\n")
    sys.exit(3)
elif mode == "slow":
    time.sleep(60)
out.flush()
seen = os.environ.get("FAKE_CRASH_SEEN")
for line in sys.stdin:
    if seen:
        with open(seen, "a") as f:
            f.write(line)
    cmd, _, arg = line.strip().partition(" ")
    if cmd in ("echo", "say"):
        out.write(arg + "\n")
    elif cmd == "replay":
        with open(arg) as f:
            out.write(f.read())
    elif cmd == "environ":
        out.write(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ)})
                  + "\n")
    elif cmd == "sys":
        out.write("     RELEASE: 6.1.0-fake\n       PANIC: \"Kernel panic - not syncing: fake\"\n")
    elif cmd == "p":
        out.write(f"p: gdb request failed: p {arg}\n")
    elif cmd == "flood":
        row = "f" * 1023 + "\n"
        for _ in range(int(arg) * 1024):
            out.write(row)
    elif cmd == "sleep":
        out.flush()
        time.sleep(float(arg))
    elif cmd == "die":
        out.write("crash: fatal error: the fake died\n")
        out.flush()
        sys.exit(1)
    elif cmd == "exit":
        break
    out.flush()

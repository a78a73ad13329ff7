"""The per-test ``kdump.json`` record: a versioned schema, written atomically.

Schema 1 (every key is present unless marked optional):

- ``schema``: 1; ``test``: the pytest node id; ``outcome``: passed, failed, skipped, xfailed
  (a crash nobody asked for that the baseline knows as a bug) or interrupted (Ctrl-C or
  SIGTERM during the test);
  ``total_seconds``; ``console_log``: the test's console log;
- ``crash_version``, ``crash_source``: the crash utility; ``vmlinux``: the debug vmlinux;
- ``warnings``: the engine's and the analysis' warnings;
- ``phases``: ``[{name, seconds, ok}]`` in order (``analysis`` last when a dump was analysed);
- ``armed``: the reservation and load state seen (null if never checked);
- optional, after a dump: ``trigger``, ``headline``, ``crash_kernel_release``, ``vmcore``,
  ``vmcore_size``, ``vmcore_format``, ``dmesg``, ``vmcore_source`` (where the transport
  fetched it from, e.g. the board's ``/var/crash/<stamp>/dump.<stamp>``; null if unknown);
  the three ``vmcore`` keys are null when the transport fetched the kernel log only
  (``serial``: ``dmesg`` is then the whole dump);
- optional, after an analysis: ``analysis`` (the backend's summary), ``panic_message``,
  ``crash_process`` (``{start_seconds, commands_run}``; also as ``crash_session``, its name
  before 0.2, until 0.3), ``crashes`` (one entry per dump when a
  test made several);
- optional: ``console_records`` (the console's crash reports), ``unexpected_crashes``
  (``[{at, kind, signature}]``), ``error`` (``{type, phase, message, advice}``), ``board``
  (``{target, env}``: the labgrid target's name and environment file; since 0.2).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_kdump.session import Kdump

SCHEMA = 1
FILE_NAME = "kdump.json"


def build_record(handle: Kdump, outcome: str, seconds: float) -> dict[str, Any]:
    """The record of one test from its handle (see the module docstring for the keys)."""
    session, engine = handle.session, handle.engine
    crashes = handle.crashes
    # the crash that read the test's last dump (an arm64 dump: the one built for it)
    tool = (crashes[-1].tool if crashes else None) or session.crash_tool
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "test": handle.name,
        "outcome": outcome,
        "total_seconds": round(seconds, 2),
        "console_log": str(handle.console_log),
        "crash_version": tool.version,
        "crash_source": tool.source,
        "vmlinux": str(session.vmlinux) if session.vmlinux else None,
        "warnings": list(engine.warnings),
    }
    dump = crashes[-1].dump if crashes else handle.last_dump
    target = getattr(session, "target", None)
    if target is not None:
        from pytest_kdump.drivers.board import place_of  # labgrid only with a target

        env = getattr(target, "env", None)
        record["board"] = {"target": target.name,
                           "env": Path(env.config_file).name if env else None,
                           "place": place_of(target)}
    record["phases"] = [asdict(p) for p in engine.phases]
    armed = dump.armed if dump else (handle.last_armed or engine.last_armed)
    record["armed"] = asdict(armed) if armed else None
    if dump:
        record.update(
            trigger=dump.trigger, headline=dump.headline,
            crash_kernel_release=dump.crash_kernel_release,
            vmcore=str(dump.vmcore.path) if dump.vmcore else None,
            vmcore_size=dump.vmcore.size if dump.vmcore else None,
            vmcore_format=dump.vmcore.format if dump.vmcore else None,
            dmesg=str(dump.dmesg) if dump.dmesg else None,
            vmcore_source=dump.source,
        )
    if crashes:
        analysis = crashes[-1].analysis
        record["analysis"] = analysis.summary()
        record["panic_message"] = analysis.panic_message
        record["phases"].append({"name": "analysis", "seconds": analysis.seconds, "ok": True})
        if len(crashes) > 1:
            record["crashes"] = [{"trigger": c.dump.trigger, "artifacts": str(c.artifacts),
                                  "panic_message": c.analysis.panic_message} for c in crashes]
        process = crashes[-1].started_process
        if process is not None:
            record["crash_process"] = {"start_seconds": process.start_seconds,
                                       "commands_run": process.commands_run}
            record["crash_session"] = record["crash_process"]  # its name before 0.2
        record["warnings"] += analysis.warnings
    if dump and dump.records:
        record["console_records"] = [r.to_dict() for r in dump.records]
    if handle.unexpected:
        record["unexpected_crashes"] = [
            {"at": s.at, "kind": s.record.kind, "signature": s.record.signature}
            for s in handle.unexpected]
    error = handle.error
    if error is not None:
        record["error"] = {"type": type(error).__name__, "phase": error.phase,
                           "message": error.message, "advice": error.advice}
    return record


def write_record(folder: Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as ``folder/kdump.json``; a reader never sees a half-written file."""
    path = folder / FILE_NAME
    partial = folder / f".{FILE_NAME}.partial"
    partial.write_text(json.dumps(record, indent=2, default=str) + "\n")
    os.replace(partial, path)
    return path

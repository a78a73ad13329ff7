"""bench/soak's crash test, one per entry of ``$SOAK_PLAN`` (JSON ``[[id, trigger, backend],
...]``): crash the kernel, then check the console's report and the backend's analysis.

bench/soak copies this file into its run folder as ``test_soak.py``.
"""

from __future__ import annotations

import json
import os

import pytest

PLAN = json.loads(os.environ.get("SOAK_PLAN", "[]"))


@pytest.mark.kdump
@pytest.mark.parametrize("spec,backend", [
    pytest.param(spec, backend, id=test_id, marks=pytest.mark.kdump_backend(backend))
    for test_id, spec, backend in PLAN])
def test_soak(kdump, spec: str, backend: str) -> None:
    reason = kdump.supports(spec)
    if reason:
        pytest.skip(f"{spec}: {reason}")
    trigger = kdump.trigger(spec)

    crash = kdump.trigger_crash(trigger)  # also checks the console's culprit, if any

    record = crash.dump.record
    assert record is not None, f"no crash report recognised on the console for {spec}"
    assert record.kind == trigger.kind, f"console kind {record.kind!r}\n{record.excerpt()}"
    assert crash.dump.vmcore.size > 1 << 20, crash.dump.vmcore
    analysis = crash.analysis
    assert analysis.backend == backend, analysis.backend
    assert crash.dump.armed is not None
    assert analysis.kernel_release == crash.dump.armed.kernel_release, analysis.kernel_release
    assert analysis.panic_message, analysis
    assert analysis.crashing_task is not None, analysis
    assert len(analysis.tasks) > 20, analysis
    if trigger.backtrace_culprit:
        assert trigger.backtrace_culprit in crash.functions, analysis

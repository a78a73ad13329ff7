"""The crash matrix: every way the kernel can die that the target supports, each checked on
the console (kind and guilty function of the crash report) and in crash's analysis of the dump
(the culprit function in the crashing task's backtrace).

Triggers the target cannot fire are skipped with the reason (e.g. NMI on a board without a
host-side NMI); a trigger that cannot be prepared (no compiler, a failed module build) fails
the test, it is not skipped. LKDTM is not in Debian's kernels, so it is left out of this list (add
"lkdtm:PANIC" for a kernel with CONFIG_LKDTM).
"""

import pytest

TRIGGERS = [
    "sysrq",
    "init-exit",
    "nmi",
    "module:panic",
    "module:bug",
    "module:null",
    "module:warn",
    "module:divide",
    "module:timer",
    "module:softlockup",
    "module:hung",
    "module:undef",
    "module:badaddr",
]


@pytest.mark.kdump
@pytest.mark.parametrize("spec", TRIGGERS)
def test_crash_matrix(kdump, spec):
    reason = kdump.supports(spec)
    if reason:
        pytest.skip(f"{spec}: {reason}")
    trigger = kdump.trigger(spec)

    crash = kdump.trigger_crash(trigger)  # also checks the console culprit, if the trigger has one

    record = crash.dump.record
    assert record is not None, f"no crash report recognised on the console for {spec}"
    assert record.kind == trigger.kind, (
        f"{spec}: console kind {record.kind!r}, expected {trigger.kind!r}\n{record.excerpt()}")
    if trigger.culprit:
        assert record.guilty_frame == trigger.culprit, (
            f"{spec}: console guilty frame {record.guilty_frame!r}, expected "
            f"{trigger.culprit!r}\n{record.excerpt()}")
    assert crash.dump.vmcore.size > 1 << 20
    if trigger.backtrace_culprit:
        assert trigger.backtrace_culprit in crash.functions, (
            f"{spec}: {trigger.backtrace_culprit} not in the crashing task's backtrace\n"
            f"{crash.analysis}")

"""``--kdump-baseline`` in a child pytest (no board is booted): a wrong file is a usage error;
a crash nobody asked for is judged by the baseline through the plugin's real report hook.

The crash is a recorded one: night a's arm64 hung-task report (its kdump.json
``console_records``), handed to the hook by a stand-in session whose engine says it was seen
during the test. Everything after that (verdict, xfail, failure text, JUnit properties) is the
plugin's own code."""

from __future__ import annotations

from tests.helpers import child_pytest
from tests.unit.report.conftest import HUNG, NIGHT_A, TICKET

RECORD = next((NIGHT_A / "arm64").glob("*module_hung/kdump.json"))

CONFTEST = f"""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_kdump import plugin

RECORD = json.loads(Path({str(RECORD)!r}).read_text())["console_records"][0]
CONFIG = []


class Engine:
    \"\"\"A board's engine that saw the recorded report during the test.\"\"\"

    log_path = Path("console.log")

    def settle_detection(self):
        pass

    def unexpected_since(self, mark):
        record = SimpleNamespace(kind=RECORD["kind"], signature=RECORD["signature"],
                                 raw=RECORD["raw"])
        return [SimpleNamespace(record=record, at=12.5)]


def pytest_configure(config):
    CONFIG.append(config)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    if item.name == "test_the_kernel_crashes":
        item.config.stash[plugin._SESSION] = SimpleNamespace(engine=Engine(),
                                                             artifacts_root=Path("art"))
    yield


def pytest_runtest_logreport(report):
    if report.when == "call" and plugin._SESSION in CONFIG[0].stash:
        del CONFIG[0].stash[plugin._SESSION]  # the call's report is made: the board goes
"""

TESTS = """
def test_the_kernel_crashes():
    pass

def test_nothing_happens():
    pass
"""


def _run(pytester, baseline: str | None, *args: str):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_x=TESTS)
    extra = []
    if baseline is not None:
        path = pytester.path / "baseline.yaml"
        path.write_text(baseline)
        extra = ["--kdump-baseline", str(path)]
    return child_pytest(pytester, "-rxf", *extra, *args)


def test_a_wrong_baseline_stops_the_run(pytester) -> None:
    pytester.makepyfile(test_x=TESTS)
    (pytester.path / "bad.yaml").write_text("- signature: x\n  status: open\n")
    result = child_pytest(pytester, "--kdump-baseline", "bad.yaml")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*bad.yaml: entry 1 ('x'): unknown status 'open', choose one "
                                 "of expected, known-bug, fixed, new*"])
    result = child_pytest(pytester, "-o", "kdump_baseline=missing.yaml")  # ini: from rootdir
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*cannot read the baseline */missing.yaml*"])


def test_without_a_baseline_the_crash_fails_the_test(pytester) -> None:
    result = _run(pytester, None)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*UnexpectedCrash: the kernel crashed during this test*",
                                 f"*signature: {HUNG}*"])


def test_a_known_bug_xfails_with_its_ticket(pytester) -> None:
    baseline = f'- {{signature: "{HUNG}", status: known-bug, ticket: "{TICKET}"}}\n'
    result = _run(pytester, baseline, "--junitxml=junit.xml")
    result.assert_outcomes(passed=1, xfailed=1)
    result.stdout.fnmatch_lines([f"XFAIL*test_the_kernel_crashes*known bug {TICKET}: {HUNG}*"])
    junit = (pytester.path / "junit.xml").read_text()
    assert f'name="kdump_signature" value="{HUNG}"' in junit
    assert f'name="kdump_baseline" value="known: {HUNG}"' in junit


def test_a_returning_signature_fails(pytester) -> None:
    result = _run(pytester, f'- {{signature: "{HUNG}", status: fixed, ticket: KDUMP-3}}\n')
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*UnexpectedCrash: the kernel crashed during this test*",
                                 f"*Baseline: new crash signature '{HUNG}': marked fixed "
                                 "(KDUMP-3) but seen again: a regression*"])


def test_an_expected_crash_leaves_the_test_its_outcome(pytester) -> None:
    result = _run(pytester, f'- {{signature: "{HUNG}", status: expected}}\n', "-rA")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*kdump: baseline*", f"expected crash: {HUNG}"])

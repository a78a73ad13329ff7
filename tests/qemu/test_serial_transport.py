"""The ``serial`` transport end to end on the busybox guest with no dump disk: the crash kernel
sends the crashed kernel's log over the console, the host decodes it, and the analysis comes
from the log. The example that runs on every transport runs here unchanged."""

from __future__ import annotations

import json

from pytest_kdump.cachedir import cache_dir
from tests.helpers import ROOT, child_pytest

SERIAL_ENV = ROOT / "labgrid-envs" / "qemu-x86_64-serial.yaml"
ARM64_SERIAL_ENV = ROOT / "labgrid-envs" / "qemu-arm64-serial.yaml"
EXAMPLE = ROOT / "examples" / "test_sysrq_any_transport.py"
CACHE = cache_dir()  # read at import: pytester's fixture gives each test another HOME


def _run(pytester, monkeypatch, tmp_path, env, *tests):
    monkeypatch.setenv("PYTEST_KDUMP_CACHE", str(CACHE))
    monkeypatch.setenv("LG_KDUMP_RUN", str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    artifacts = tmp_path / "artifacts"
    result = child_pytest(pytester, *map(str, tests), "--lg-env", str(env),
                          "--kdump-artifacts", str(artifacts), timeout=300)
    records = {p.parent.name: json.loads(p.read_text()) for p in artifacts.glob("*/kdump.json")}
    return result, records


def test_the_log_comes_over_the_console_and_is_analysed(pytester, monkeypatch, tmp_path):
    pytester.makepyfile(test_no_vmcore="""
        import pytest
        from pytest_kdump.errors import AnalysisError

        def test_log_only(kdump):
            crash = kdump.trigger_crash("sysrq")
            assert crash.vmcore is None
            assert crash.dump.dmesg.name == "vmcore-dmesg.txt"
            assert crash.analysis.backend == "dmesg"
            assert crash.analysis.kernel_release == kdump.session.kernel_release()
            assert crash.analysis.backtrace[0].function in ("dump_stack_lvl", "sysrq_handle_crash")
            with pytest.raises(AnalysisError, match="no vmcore"):
                crash.run("bt")
    """)
    result, records = _run(pytester, monkeypatch, tmp_path, SERIAL_ENV, EXAMPLE,
                           pytester.path / "test_no_vmcore.py")
    result.assert_outcomes(passed=2)
    (example,) = [r for name, r in records.items() if "on_any_transport" in name]
    assert example["vmcore"] is None and example["vmcore_size"] is None, example
    assert example["analysis"]["backend"] == "dmesg"
    assert example["analysis"]["flags"] == ["DMESG ONLY"]
    names = [p["name"] for p in example["phases"]]
    assert names[-4:] == ["crash_kernel", "dump_saved", "fetch", "analysis"], names
    log = open(example["dmesg"]).read()
    assert "Kernel panic - not syncing: sysrq triggered crash" in log
    assert "kdump-dmesg" not in log  # the decoded log, not the console's block


def test_a_size_limit_sends_the_end_of_the_log_and_says_so(pytester, monkeypatch, tmp_path):
    env = tmp_path / "env.yaml"
    text = SERIAL_ENV.read_text()
    assert "pytest_kdump.serial_limit=65536" in text
    env.write_text(text.replace("pytest_kdump.serial_limit=65536",
                                "pytest_kdump.serial_limit=3000"))
    result, records = _run(pytester, monkeypatch, tmp_path, env, EXAMPLE)
    result.assert_outcomes(passed=1)
    (record,) = records.values()
    assert any("sent the last 3000 of the log's" in w for w in record["warnings"]), record
    assert len(open(record["dmesg"], "rb").read()) == 3000
    assert record["panic_message"] == "sysrq triggered crash"


def test_the_example_on_an_arm64_board_over_the_console(pytester, monkeypatch, tmp_path):
    """The BeaglePlay stand-in with no network: its 6.1 kernel prints the frame past panic()
    as the next function; the debug vmlinux names it, as crash would."""
    result, records = _run(pytester, monkeypatch, tmp_path, ARM64_SERIAL_ENV, EXAMPLE)
    result.assert_outcomes(passed=1)
    (record,) = records.values()
    assert record["vmcore"] is None and record["analysis"]["backend"] == "dmesg"
    assert record["analysis"]["kernel_release"].endswith("-arm64")
    backtrace = record["analysis"]["backtrace"]
    assert any(f.endswith(" sysrq_handle_crash") for f in backtrace), backtrace
    assert not any("sysrq_reset_seq_param_set" in f for f in backtrace), backtrace

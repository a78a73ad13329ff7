"""`pytest-kdump analyze`: the batch analysis of several dumps, on real dumps of this project."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import ROOT


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest_kdump.cli", *args],
                          capture_output=True, text=True, timeout=600)


def test_batch_reports_a_bad_dump_and_analyses_the_rest(real_dumps, tmp_path):
    sysrq, oops = real_dumps["sysrq"], real_dumps["module-null"]
    bad = tmp_path / "bad" / "vmcore"
    bad.parent.mkdir()
    bad.write_bytes(sysrq.vmcore.read_bytes()[:4096])
    out = tmp_path / "reports"
    proc = cli("analyze", str(sysrq.vmlinux), str(sysrq.vmcore), str(bad), str(oops.vmcore),
               "--script", str(ROOT / "examples" / "analyze.crash"), "--out", str(out), "--json")
    assert proc.returncode == 1, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["ok"] for r in records] == [True, False, True], proc.stdout
    assert records[0]["panic_message"] == "sysrq triggered crash"
    assert records[1]["phase"] == "analysis" and "truncated" in records[1]["error"]
    assert records[1]["advice"]
    assert records[2]["crashing_task"]["command"] == "insmod"
    assert "#6 kdump_crash_null [kdump_crash] (exception)" in records[2]["backtrace"]
    script = {c["command"]: c for c in records[2]["script"]}
    assert "kdump_crash_null" in script["bt"]["output"] and script["kmem -i"]["error"] is None
    assert "[3/3]" in proc.stderr  # progress
    assert len(list(out.glob("*/crash-session.txt"))) == 2


def test_text_summary_and_script_errors(real_dumps, tmp_path):
    sysrq = real_dumps["sysrq"]
    script = tmp_path / "cmds.crash"
    script.write_text("p jiffies\np no_such_symbol\n")
    proc = cli("analyze", str(sysrq.vmlinux), str(sysrq.vmcore), "--script", str(script))
    assert proc.returncode == 0, proc.stderr
    assert "'sysrq triggered crash'" in proc.stdout
    assert "crash> p no_such_symbol" in proc.stdout and "gdb request failed" in proc.stdout
    assert "1 dump(s): 1 analysed, 0 failed" in proc.stdout


def test_missing_script_and_bad_backend_are_clear(real_dumps, tmp_path):
    sysrq = real_dumps["sysrq"]
    proc = cli("analyze", str(sysrq.vmlinux), str(sysrq.vmcore), "--script",
               str(tmp_path / "nope"))
    assert proc.returncode == 2 and "crash script not found" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = cli("analyze", str(sysrq.vmlinux), str(sysrq.vmcore), "--backend", "gdb")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_drgn_backend_from_the_cli(real_dumps):
    oops = real_dumps["module-null"]
    proc = cli("analyze", str(oops.vmlinux), str(oops.vmcore), "--backend", "drgn", "--json")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["backend"] == "drgn" and record["crashing_task"]["command"] == "insmod"


def test_extra_commands_come_with_the_summary(real_dumps):
    sysrq = real_dumps["sysrq"]
    proc = cli("analyze", str(sysrq.vmlinux), str(sysrq.vmcore), "--commands", "kmem -i,p jiffies",
               "--json")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["panic_message"] == "sysrq triggered crash"  # the summary is still there
    assert "TOTAL MEM" in record["outputs"]["kmem -i"]
    assert record["outputs"]["p jiffies"].startswith("jiffies = ")
    proc = cli("analyze", str(sysrq.vmlinux), str(sysrq.vmcore), "--commands", "kmem -i",
               "--backend", "drgn")
    assert proc.returncode == 2 and "use it with --backend crash" in proc.stderr


def test_script_pipes_are_refused_unless_allowed(real_dumps, tmp_path):
    sysrq = real_dumps["sysrq"]
    script = tmp_path / "pipe.crash"
    script.write_text("log | grep -c sysrq\n")
    refused = cli("analyze", str(sysrq.vmlinux), str(sysrq.vmcore), "--script", str(script),
                  "--json")
    (record,) = [json.loads(line) for line in refused.stdout.splitlines()]
    (line,) = record["script"]
    assert line["error"] and "shell" in line["error"] and not line["output"], line
    allowed = cli("analyze", str(sysrq.vmlinux), str(sysrq.vmcore), "--script", str(script),
                  "--json", "--allow-shell")
    (record,) = [json.loads(line) for line in allowed.stdout.splitlines()]
    (line,) = record["script"]
    assert line["error"] is None and int(line["output"]) >= 1, line

"""The examples on the arm64 guest (a BeaglePlay stand-in: Cortex-A53 on QEMU's virt machine),
unchanged but for ``--lg-env``: each in a child pytest, since a pytest session drives one board.
Their artifacts are kept under ``<artifacts>/arm64/``."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_kdump.cachedir import cache_dir
from tests.helpers import ROOT, child_pytest

ARM64_ENV = ROOT / "labgrid-envs" / "qemu-arm64.yaml"
EXAMPLES = ROOT / "examples"
CACHE = cache_dir()  # read at import: pytester's fixture gives each test another HOME


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
         tmp_path: Path, *examples: str) -> tuple[pytest.RunResult, dict[str, str]]:
    """The examples on the arm64 env; the result and each test's outcome by parameter id."""
    # pytester gives the child its own HOME: keep the real image and crash cache; a dump disk
    # of its own (this worker's board keeps its own)
    monkeypatch.setenv("PYTEST_KDUMP_CACHE", str(CACHE))
    monkeypatch.setenv("LG_KDUMP_RUN", str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    root = request.config.rootpath / request.config.getini("kdump_artifacts")
    junit = tmp_path / "junit.xml"
    result = child_pytest(pytester, *[str(EXAMPLES / e) for e in examples], "--lg-env",
                          str(ARM64_ENV), "--kdump-artifacts", str(root / "arm64"), "-rs",
                          "--junitxml", str(junit), timeout=2400)
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[re.sub(r"^[^\[]*\[?|\]$", "", name) or name] = kinds[0] if kinds else "passed"
    return result, outcomes


def test_examples_on_arm64(pytester, monkeypatch, request, tmp_path):
    """The first crash test and the dump questions (crash, then drgn and crash on one dump)."""
    result, outcomes = _run(pytester, monkeypatch, request, tmp_path, "test_sysrq_crash.py",
                            "test_dump_analysis.py")
    assert outcomes == {"test_sysrq_crash": "passed", "test_oops_in_a_module": "passed",
                        "test_sysrq_with_drgn": "passed"}, result.stdout.str()[-6000:]
    # the record names the crash that read the dump: the one built for arm64 dumps
    root = request.config.rootpath / request.config.getini("kdump_artifacts") / "arm64"
    record = json.loads(next(root.glob("*test_sysrq_crash-*/kdump.json")).read_text())
    assert "for aarch64 dumps" in record["crash_source"], record["crash_source"]


def test_crash_matrix_on_arm64(pytester, monkeypatch, request, tmp_path):
    """Every kind the arm64 kernel can crash in passes; only the two it cannot fire skip, with
    their reasons."""
    result, outcomes = _run(pytester, monkeypatch, request, tmp_path, "test_crash_matrix.py")
    skipped = sorted(k for k, v in outcomes.items() if v == "skipped")
    bad = {k: v for k, v in outcomes.items() if v not in ("passed", "skipped")}
    assert not bad and skipped == ["module:divide", "nmi"], (bad, result.stdout.str()[-8000:])
    assert len(outcomes) - len(skipped) >= 8
    result.stdout.fnmatch_lines_random([
        "SKIPPED*nmi: the kernel has no /proc/sys/kernel/unknown_nmi_panic (only x86 kernels*",
        "SKIPPED*module:divide cannot crash an aarch64 kernel: integer division by zero does "
        "not trap on arm64*"])

"""Env file checks before labgrid reads it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_kdump.drivers.environment import check_env_file
from pytest_kdump.errors import ConfigError
from tests.helpers import ROOT


def test_check_env_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment file not found") as exc:
        check_env_file(tmp_path / "missing.yaml")
    assert "--lg-env" in exc.value.advice
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets:\n  main:\n    drivers: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        check_env_file(bad)
    for text in ("imports: [x]\n", "- a list\n", ""):
        bad.write_text(text)
        with pytest.raises(ConfigError, match="has no 'targets:' section"):
            check_env_file(bad)
    good = tmp_path / "good.yaml"
    good.write_text('targets:\n  main:\n    drivers:\n      KdumpDriver:\n'
                    '        dump_disk: !template "$LG_KDUMP_RUN/dump.img"\n')
    check_env_file(good)
    check_env_file(ROOT / "labgrid-envs" / "qemu-x86_64.yaml")


def test_each_xdist_worker_gets_its_own_run_folder(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    from pytest_kdump.drivers.environment import set_env_defaults

    monkeypatch.setenv("LG_KDUMP_RUN", str(tmp_path))  # as the xdist controller set it
    assert set_env_defaults("gw1") == tmp_path / "gw1"
    assert os.environ["LG_KDUMP_RUN"] == str(tmp_path / "gw1") and (tmp_path / "gw1").is_dir()
    monkeypatch.delenv("LG_KDUMP_RUN")
    made = set_env_defaults(None)
    try:
        assert made is not None and os.environ["LG_KDUMP_RUN"] == str(made)
    finally:
        made.rmdir()

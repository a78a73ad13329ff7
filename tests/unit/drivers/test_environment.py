"""Env file checks before labgrid reads it."""

from __future__ import annotations

import os
import re
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


@pytest.mark.parametrize("drivers, error", [
    ("      KdumpDriver:\n        transprot: ssh\n",
     "target main: KdumpDriver has no key 'transprot' (did you mean 'transport'?)"),
    ("      - KdumpConsoleDriver: {frobnicate: 1}\n",
     "target main: KdumpConsoleDriver has no key 'frobnicate'"),
    ("      KdumpStrategy:\n        boot_timeot: 60\n", "has no key 'boot_timeot'"),
    # labgrid's cls: a driver under a name of its own
    ("      kd:\n        cls: KdumpDriver\n        transprot: ssh\n",
     "KdumpDriver has no key 'transprot'"),
])
def test_a_key_our_drivers_lack_is_named(tmp_path: Path, drivers: str, error: str) -> None:
    env = tmp_path / "env.yaml"
    env.write_text("targets:\n  main:\n    drivers:\n" + drivers)
    with pytest.raises(ConfigError, match=re.escape(error)) as exc:
        check_env_file(env)
    assert "keys: " in exc.value.advice


def test_labgrid_keys_and_other_drivers_are_left_to_labgrid(tmp_path: Path) -> None:
    env = tmp_path / "env.yaml"
    env.write_text("targets:\n  main:\n    drivers:\n      SerialDriver: {whatever: 1}\n"
                   "      KdumpDriver:\n        bindings: {console: kdump-console}\n"
                   "        name: kdump\n        transport: ssh\n")
    check_env_file(env)
    env.write_text("targets:\n  main:\n    drivers:\n"
                   "      - KdumpDriver: {cls: KdumpDriver, image: x86_64}\n")
    check_env_file(env)


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

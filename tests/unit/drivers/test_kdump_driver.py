"""KdumpDriver's configuration from an env YAML (labgrid, no QEMU)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_kdump.drivers.environment import check_env_file
from pytest_kdump.errors import ConfigError

ENV = """\
targets:
  main:
    drivers:
      FakeConsoleDriver: {{}}
      FakePowerDriver: {{}}
      KdumpConsoleDriver: {{}}
      KdumpDriver:
{driver}
imports:
  - labgrid.driver.fake
  - pytest_kdump.labgrid_driver
"""


def _load_target(tmp_path: Path, driver_yaml: str):
    from labgrid import Environment

    path = tmp_path / "env.yaml"
    path.write_text(ENV.format(driver=driver_yaml))
    check_env_file(path)
    return Environment(str(path)).get_target("main")


def test_kdump_driver_config(tmp_path: Path) -> None:
    target = _load_target(tmp_path, "        crashkernel: 128M\n"
                                    "        dump_disk: /tmp/kdump-test.img\n"
                                    "        prompt: 'kdump# '\n"
                                    "        saver: kdump-tools\n"
                                    "        timeouts: {boot: 30, dump_saved: 300}\n")
    driver = target.get_driver("KdumpDriver", activate=False)
    assert (driver.crashkernel, driver.dump_disk, driver.prompt, driver.saver) == (
        "128M", "/tmp/kdump-test.img", "kdump# ", "kdump-tools")
    assert driver.timeouts == {"boot": 30, "dump_saved": 300}
    assert driver.dump_disk_size == 1024


def test_kdump_driver_saver_and_transport_by_name(tmp_path: Path) -> None:
    driver = _load_target(tmp_path, "        dump_disk: /tmp/kdump-test.img\n"
                                    ).get_driver("KdumpDriver", activate=False)
    assert (driver.saver, driver.transport) == ("guest-init", "disk-image")
    assert driver.chosen_saver().name == "pytest-kdump guest init"
    # the key's name before 0.2, with its old value, still works (and says so)
    with pytest.warns(DeprecationWarning, match="the key recognizer is now saver"):
        old = _load_target(tmp_path, "        recognizer: pytest-kdump\n"
                           ).get_driver("KdumpDriver", activate=False)
    assert old.chosen_saver() is driver.chosen_saver()
    with pytest.raises(ConfigError, match="both saver and recognizer are set"):
        _load_target(tmp_path, "        recognizer: pytest-kdump\n        saver: kdump-tools\n")
    with pytest.raises(ConfigError, match="unknown vmcore transport 'nfs'") as exc:
        _load_target(tmp_path, "        transport: nfs\n")
    assert exc.value.advice == "use one of: disk-image, ssh, netcat, serial"
    serial = _load_target(tmp_path, "        transport: serial\n").get_driver("KdumpDriver",
                                                                       activate=False)
    assert type(serial._transport()).__name__ == "SerialTransport"


@pytest.mark.filterwarnings("ignore:unsupported attribute")
def test_kdump_driver_typo_key(tmp_path: Path) -> None:
    typo = "        crashkernal: 128M\n        dump_disk: /tmp/kdump-test.img\n"
    message = "target main: KdumpDriver has no key 'crashkernal' (did you mean 'crashkernel'?)"
    with pytest.raises(ConfigError, match=re.escape(message)) as exc:
        _load_target(tmp_path, typo)  # the env file's check, before labgrid reads it
    assert str(tmp_path / "env.yaml") in exc.value.message
    assert "crashkernel" in exc.value.advice
    # the driver's own check, for an env labgrid reads unchecked (labgrid-client, scripts)
    from labgrid import Environment

    with pytest.raises(ConfigError, match=re.escape(message)):
        Environment(str(tmp_path / "env.yaml")).get_target("main")


def test_kdump_driver_bad_saver(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="saver: unknown saver .systemd."):
        _load_target(tmp_path, "        saver: systemd\n")


def test_kdump_driver_bad_timeouts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown phase timeout.*: boto"):
        _load_target(tmp_path, "        timeouts: {boto: 30}\n")
    with pytest.raises(ConfigError, match="positive"):
        _load_target(tmp_path, "        timeouts: {boot: 0}\n")

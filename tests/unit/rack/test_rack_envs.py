"""The rack's env and exporter files, read by labgrid's own loaders: the remote envs drive the
same drivers as their local twins, and the exporter files export what those drivers bind."""

from __future__ import annotations

import pytest
import yaml
from labgrid.remote.config import ResourceConfig

from pytest_kdump.drivers.environment import check_env_file
from pytest_kdump.rack.control import exporter_yaml
from pytest_kdump.rack.spec import make_boards
from tests.helpers import ROOT

ENVS = ROOT / "labgrid-envs"


def _load(path):
    loader = type("L", (yaml.SafeLoader,), {})
    loader.add_constructor("!template", lambda ld, node: "!template " + ld.construct_scalar(node))
    return yaml.load(path.read_text(), Loader=loader)["targets"]["main"]


def test_the_rack_beagleplay_env_is_the_desk_one_with_a_remote_place() -> None:
    check_env_file(ENVS / "rack" / "beagleplay.yaml")
    rack, desk = _load(ENVS / "rack" / "beagleplay.yaml"), _load(ENVS / "beagleplay.yaml")
    assert rack["resources"] == {"RemotePlace": {"name": "!template $LG_PLACE"}}
    assert rack["drivers"] == desk["drivers"]


@pytest.mark.parametrize("name", ["qemu-x86_64.yaml", "qemu-arm64.yaml"])
def test_the_rack_qemu_env_drives_the_local_boards_kdump_settings(name: str) -> None:
    check_env_file(ENVS / "rack" / name)
    rack, local = _load(ENVS / "rack" / name), _load(ENVS / name)
    assert rack["resources"] == {"RemotePlace": {"name": "!template $LG_PLACE"}}
    assert "QEMUDriver" not in rack["drivers"]  # power and console come from the place
    assert {"NetworkPowerDriver", "SerialDriver"} <= set(rack["drivers"])
    remote, here = rack["drivers"]["KdumpDriver"], local["drivers"]["KdumpDriver"]
    assert remote.pop("dump_disk") == "!template $LG_KDUMP_RACK/$LG_PLACE/dump.img"
    here.pop("dump_disk")
    assert remote == here


def test_exporter_files_export_what_the_envs_bind(tmp_path) -> None:
    desk = _load(ENVS / "beagleplay.yaml")["resources"]
    config = ResourceConfig(str(ENVS / "rack" / "exporter-beagleplay.yaml"))
    assert list(config.data) == ["beagleplay-1", "beagleplay-2"]
    for group in config.data.values():
        # the cable by its serial number instead of a path; the rest as on the desk
        assert set(group) - {"location"} == (set(desk) - {"RawSerialPort"}) | {"USBSerialPort"}
        assert group["NetworkService"]["username"] == desk["NetworkService"]["username"]
    generated = tmp_path / "exporter.yaml"
    generated.write_text(exporter_yaml(make_boards(2), {"board-1": {"tty": "/dev/pts/3"},
                                                        "board-2": {"tty": "/dev/pts/4"}},
                                       "http://127.0.0.1:9/outlet/{index}/value"))
    data = ResourceConfig(str(generated)).data
    assert data["board-1"]["RawSerialPort"]["port"] == "/dev/pts/3"
    assert data["board-2"]["NetworkPowerPort"]["index"] == 2

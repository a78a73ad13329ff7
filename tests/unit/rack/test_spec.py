"""The rack's description: QEMU command lines in step with the local envs, the exporter's
resources, the state file, the places of a run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from pytest_kdump.errors import ConfigError
from pytest_kdump.rack import places
from pytest_kdump.rack.control import exporter_yaml
from pytest_kdump.rack.spec import QEMU_MACHINE, BoardSpec, RackState, make_boards
from tests.helpers import ROOT


def _env_qemu(arch_file: str) -> dict:
    loader = type("L", (yaml.SafeLoader,), {})
    loader.add_constructor("!template", lambda ld, node: ld.construct_scalar(node))
    env = yaml.load((ROOT / "labgrid-envs" / arch_file).read_text(), Loader=loader)
    return env["targets"]["main"]["drivers"]["QEMUDriver"]


@pytest.mark.parametrize(("arch", "env_file"), [("x86_64", "qemu-x86_64.yaml"),
                                                ("aarch64", "qemu-arm64.yaml")])
def test_rack_boards_run_qemu_as_the_local_envs_do(arch: str, env_file: str) -> None:
    qemu = _env_qemu(env_file)
    board = BoardSpec("board-1", 1, arch)
    argv = board.qemu_argv("vmlinuz", "initrd.img", "dump.img", serial_port=4321)
    for key, flag in (("machine", "-machine"), ("cpu", "-cpu"), ("memory", "-m")):
        assert argv[argv.index(flag) + 1] == qemu[key] == QEMU_MACHINE[arch][key]
    local = dict(a.split("=", 1) for a in qemu["boot_args"].split())
    rack = dict(a.split("=", 1) for a in argv[argv.index("-append") + 1].split())
    # the same console and reservation; a rack board reboots after the dump, as boards do
    assert {k: v for k, v in rack.items() if k != "pytest_kdump.after"} == \
        {k: v for k, v in local.items() if k != "pytest_kdump.after"}
    assert rack["pytest_kdump.after"] == "reboot"
    assert "socket,id=console,host=127.0.0.1,port=4321,server=off" in argv
    assert "-no-user-config" in argv  # no stray QEMU config is read
    odd = board.qemu_argv("vmlinuz", "initrd.img", "/racks/a,b/dump.img", serial_port=1)
    assert "if=virtio,format=raw,file=/racks/a,,b/dump.img" in odd  # QEMU's comma escape


def test_boards_are_named_for_their_outlets() -> None:
    assert [(b.name, b.index) for b in make_boards(3)] == \
        [("board-1", 1), ("board-2", 2), ("board-3", 3)]
    assert make_boards(1, "amd64")[0].arch == "x86_64"
    assert make_boards(1, "arm64")[0].arch == "aarch64"


@pytest.mark.parametrize(("count", "arch", "says"), [(0, "x86_64", "1 to 8 boards"),
                                                     (9, "x86_64", "1 to 8 boards"),
                                                     (2, "riscv64", "unknown architecture")])
def test_a_rack_that_cannot_be_is_refused(count: int, arch: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        make_boards(count, arch)


def test_exporter_yaml_exports_each_boards_pty_and_outlet() -> None:
    text = exporter_yaml(make_boards(2), {"board-1": {"tty": "/dev/pts/3"},
                                          "board-2": {"tty": "/dev/pts/7"}},
                         "http://127.0.0.1:9/outlet/{index}/value")
    # the exporter reads it as a Jinja2 template: a line starting with '#' is a statement,
    # one with '##' a comment
    assert not [ln for ln in text.splitlines()
                if ln.lstrip().startswith("#") and not ln.lstrip().startswith("##")]
    assert "{{" not in text and "{%" not in text
    groups = yaml.safe_load(text)
    assert groups["board-2"]["RawSerialPort"] == {"port": "/dev/pts/7", "speed": 115200}
    assert groups["board-2"]["NetworkPowerPort"] == {
        "model": "rest", "host": "http://127.0.0.1:9/outlet/{index}/value", "index": 2}


def test_rack_state_round_trips_and_a_bad_file_is_a_clear_error(tmp_path) -> None:
    state = RackState(dir=tmp_path, coordinator="127.0.0.1:20408", exporter="rack",
                      boards=make_boards(2), pids={"boardhost": 10, "coordinator": 11},
                      started={"boardhost": 1234, "coordinator": 1240},
                      power_url="http://127.0.0.1:9/outlet/{index}/value")
    state.save()
    assert RackState.load(tmp_path) == state
    assert state.places == ["board-1", "board-2"]
    assert not list(tmp_path.glob(".*partial"))
    assert RackState.load(tmp_path / "nothing") is None
    (tmp_path / "rack.json").write_text('{"dir": 1}')
    with pytest.raises(ConfigError, match="not a rack state file"):
        RackState.load(tmp_path)


def test_a_rack_program_is_known_by_its_pid_and_start_time() -> None:
    """A pid in rack.json may be another process's after a reboot: down leaves it alone."""
    from pytest_kdump.rack import control

    me = os.getpid()
    assert control._alive(me, control.started_at(me))
    assert not control._alive(me, control.started_at(me) + 1)
    state = RackState(dir=Path("/nonexistent"), coordinator="", exporter="",
                      boards=[], pids={"boardhost": me},
                      started={"boardhost": control.started_at(me) + 1})
    assert control.running(state) == {"boardhost": False}
    assert control.down(Path("/nonexistent"), state=state, progress=print) == []
    assert control._alive(me)  # still here: down did not signal a stranger


def test_places_parse_from_the_option_and_the_ini() -> None:
    assert places.parse_places("bp1,bp2") == ["bp1", "bp2"]
    assert places.parse_places(["bp1", "bp2,bp3"]) == ["bp1", "bp2", "bp3"]
    assert places.parse_places(None) == [] == places.parse_places([])


@pytest.mark.parametrize(("value", "says"), [("bp1,bp1", "twice"),
                                             ("bp1,$(reboot)", "not a place name")])
def test_bad_places_are_refused(value: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        places.parse_places(value)


def test_the_controller_hands_out_free_places_and_knows_who_holds_one() -> None:
    book = places.PlaceBook(["p1", "p2"])
    try:
        assert (book.take(), book.take(), book.take()) == ("p1", "p2", None)
        places.mark_held(book.marks, "p1")  # gw0 acquired p1; gw1 failed to acquire p2
        assert book.held("p1") and not book.held("p2")
        book.unmark("p1")
        book.give_back("p1")  # gw0 died: its replacement gets p1
        book.give_back("p1")
        assert book.free == ["p1"] and not book.held("p1")
    finally:
        book.close()
    assert not book.marks.exists()


def test_a_worker_without_a_place_is_told_how_many_to_run() -> None:
    err = places.no_free_place(["p1", "p2"], "gw2")
    assert "xdist worker gw2 has no place" in err.message and "-n 2" in err.advice


def test_coordinator_address_comes_from_option_then_environment(monkeypatch) -> None:
    monkeypatch.setenv("LG_COORDINATOR", "10.0.0.5:20408")
    assert places.coordinator_address("lab:1") == "lab:1"
    assert places.coordinator_address(None) == "10.0.0.5:20408"
    monkeypatch.delenv("LG_COORDINATOR")
    assert places.coordinator_address(None) == "127.0.0.1:20408"


@pytest.mark.parametrize("arch", ["x86_64", "amd64", "aarch64", "arm64"])
def test_each_rack_architecture_names_an_env_that_exists(arch: str) -> None:
    from pytest_kdump.rack.spec import RACK_ARCHES, rack_env

    assert (ROOT / rack_env(arch)).is_file(), rack_env(arch)
    assert {rack_env(a) for a in RACK_ARCHES} == {"labgrid-envs/rack/qemu-x86_64.yaml",
                                                  "labgrid-envs/rack/qemu-arm64.yaml"}

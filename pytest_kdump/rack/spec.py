"""What a simulated rack is made of: its boards, their QEMU command lines, its state file.

A rack lives in one folder (default ``<cache>/rack``)::

    rack.json              the running rack (:class:`RackState`): ports, processes, places
    exporter-board-1.yaml  board-1's labgrid-exporter (rack-1): the board's resource group
    coordinator/           labgrid-coordinator's working folder (places.yaml, resources.yaml)
    boards.json            written by the board host when its outlets and ptys are ready
    image/                 the boards' kernel and initrd (linked from the image cache at
                           ``up``: a later image build does not pull them from under the rack)
    board-1/dump.img       board-1's dump disk (the ``disk-image`` transport reads it)
    board-1/qemu.log       board-1's QEMU stderr, one power-on after another
    *.log                  each program's output
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pytest_kdump.arch import get_arch
from pytest_kdump.cachedir import cache_dir
from pytest_kdump.errors import ConfigError

DEFAULT_PORT = 20408  # labgrid's coordinator port
CRASHKERNEL = "128M"
# The boards a rack env exists for, and its file in labgrid-envs/rack/.
RACK_ENVS = {"x86_64": "qemu-x86_64.yaml", "aarch64": "qemu-arm64.yaml"}
RACK_ARCHES = tuple(RACK_ENVS)

# What the local QEMU envs (labgrid-envs/qemu-*.yaml) give QEMUDriver, per architecture;
# tests/unit/rack/test_spec.py keeps the two in step.
QEMU_MACHINE = {
    "x86_64": {"machine": "pc", "cpu": "qemu64", "memory": "512M"},
    "aarch64": {"machine": "virt", "cpu": "cortex-a53", "memory": "512M"},
}


def rack_env(arch: str) -> str:
    """The env file for a simulated rack's boards of ``arch``."""
    return f"labgrid-envs/rack/{RACK_ENVS[get_arch(arch).name]}"


def default_dir() -> Path:
    """The rack's folder: ``$LG_KDUMP_RACK`` if set, else ``<cache>/rack``."""
    return Path(os.environ.get("LG_KDUMP_RACK") or cache_dir() / "rack")


@dataclass
class BoardSpec:
    """One board of the rack: exporter group ``name`` (also its place), power outlet
    ``index``, guest architecture ``arch``."""

    name: str
    index: int
    arch: str = "x86_64"

    def folder(self, rack_dir: Path) -> Path:
        return rack_dir / self.name

    def dump_disk(self, rack_dir: Path) -> Path:
        return self.folder(rack_dir) / "dump.img"

    def boot_args(self) -> str:
        """The kernel command line: the guest reboots after the dump, as a board does."""
        console = get_arch(self.arch).console
        return f"console={console} crashkernel={CRASHKERNEL} pytest_kdump.after=reboot"

    def qemu_argv(self, kernel: Path, initrd: Path, dump_disk: Path,
                  serial_port: int | str) -> list[str]:
        """QEMU for this board, its serial port a TCP client of the board host's relay on
        ``serial_port`` (the board host fills in ``"{serial_port}"``). Like QEMUDriver's,
        without a monitor and with no user config read."""
        arch = get_arch(self.arch)
        m = QEMU_MACHINE[arch.name]
        return [arch.qemu, "-no-user-config", "-nodefaults", "-nographic",
                "-machine", m["machine"], "-cpu", m["cpu"], "-m", m["memory"],
                "-accel", "tcg", "-smp", "1",
                "-kernel", str(kernel), "-initrd", str(initrd), "-append", self.boot_args(),
                "-drive", f"if=virtio,format=raw,file={str(dump_disk).replace(',', ',,')}",
                "-chardev", f"socket,id=console,host=127.0.0.1,port={serial_port},server=off",
                "-serial", "chardev:console", "-monitor", "none"]


def make_boards(count: int, arch: str = "x86_64") -> list[BoardSpec]:
    """``count`` boards named ``board-1``... on outlets 1..."""
    if not 1 <= count <= 8:
        raise ConfigError(f"a simulated rack has 1 to 8 boards, not {count}",
                          advice="each board is a 512 MiB QEMU guest under TCG: two per "
                                 "two cores is what this machine runs well")
    name = get_arch(arch).name
    if name not in RACK_ARCHES:
        raise ConfigError(f"no rack board for architecture {arch!r} yet",
                          advice=f"use one of: {', '.join(RACK_ARCHES)} (the rack envs in "
                                 "labgrid-envs/rack/ are for those)")
    return [BoardSpec(name=f"board-{i}", index=i, arch=name) for i in range(1, count + 1)]


@dataclass
class RackState:
    """A running rack, as ``rack.json`` keeps it: the coordinator's address, each program's
    process (``pids``: name -> pid, each the leader of its own process group, and when it
    started, ``started``), the board host's power switch URL and the boards."""

    dir: Path
    coordinator: str
    exporter: str
    boards: list[BoardSpec]
    pids: dict[str, int] = field(default_factory=dict)
    started: dict[str, int] = field(default_factory=dict)  # name -> start time (clock ticks)
    power_url: str = ""

    @property
    def places(self) -> list[str]:
        return [b.name for b in self.boards]

    def save(self) -> None:
        data = asdict(self)
        data["dir"] = str(self.dir)
        tmp = self.dir / ".rack.json.partial"
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.dir / "rack.json")

    @classmethod
    def load(cls, rack_dir: Path) -> RackState | None:
        """The rack kept in ``rack_dir``, or None if none was brought up there."""
        path = rack_dir / "rack.json"
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            data["dir"] = Path(data["dir"])
            data["boards"] = [BoardSpec(**b) for b in data["boards"]]
            return cls(**data)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is not a rack state file: {exc!r}",
                              advice=f"remove {path} (and stop the rack's programs by hand "
                                     "if any still run: pgrep -a labgrid)") from None

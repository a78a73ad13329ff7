"""labgrid integration: the ``KdumpDriver``, configured in the environment YAML.

Load it with ``imports: [pytest_kdump.labgrid_driver]`` in the env file. It binds to a
:class:`~.labgrid_console.KdumpConsoleDriver` (which holds the real console and the power
driver) and gives a :class:`KdumpCycle`.
Unlike labgrid's own drivers, an unknown key in its section is an error, not a warning.

    KdumpDriver:
      crashkernel: 128M                 # the reservation expected (checked, not set)
      dump_disk: !template "$LG_KDUMP_RUN/dump.img"   # QEMU: the dump disk image on the host
      image: x86_64                     # QEMU: build this guest image if it is missing
      vmlinux: !template "$LG_KDUMP_IMAGES/x86_64-current/vmlinux"
      crash: null                       # crash binary (default: the one pytest-kdump installs)
      recognizer: pytest-kdump          # or kdump-tools, kdump-utils
      timeouts: {dump_saved: 300}
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import attr
from labgrid.driver import Driver
from labgrid.factory import TargetFactory, target_factory

from . import detect
from .cycle import KdumpCycle, Timeouts
from .errors import ConfigError
from .image import build_image, current_image
from .labgrid_console import KdumpConsoleDriver  # noqa: F401  (registers it with labgrid)
from .transport import DiskImageTransport

_opt_str = attr.validators.optional(attr.validators.instance_of(str))


def _check_recognizer(_inst: object, _attr: object, value: str) -> None:
    if value not in detect.RECOGNIZERS:
        raise ConfigError(f"KdumpDriver: unknown recognizer {value!r}",
                          advice=f"use one of: {', '.join(detect.RECOGNIZERS)}")


def _check_timeouts(_inst: object, _attr: object, value: dict) -> None:
    Timeouts.from_dict(value)


@target_factory.reg_driver
@attr.s(eq=False)
class KdumpDriver(Driver):
    """Kdump cycles on a labgrid target: arm check, trigger, crash kernel, dump, fetch."""

    bindings = {"console": "KdumpConsoleDriver"}

    crashkernel = attr.ib(default=None, validator=_opt_str)
    dump_disk = attr.ib(default=None, validator=_opt_str)
    dump_disk_size = attr.ib(default=1024, validator=attr.validators.instance_of(int))
    image = attr.ib(default=None, validator=_opt_str)
    vmlinux = attr.ib(default=None, validator=_opt_str)
    crash = attr.ib(default=None, validator=_opt_str)
    recognizer = attr.ib(default="pytest-kdump", validator=_check_recognizer)
    prompt = attr.ib(default=r"[#$] ", validator=attr.validators.instance_of(str))
    timeouts = attr.ib(default=attr.Factory(dict), validator=_check_timeouts)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._cycle: KdumpCycle | None = None
        self._check_keys()

    def _check_keys(self) -> None:
        """labgrid drops unknown keys with a warning; for this driver they are errors."""
        env = getattr(self.target, "env", None)
        if env is None:
            return
        target_conf = env.config.data.get("targets", {}).get(self.target.name, {})
        drivers = TargetFactory._convert_to_named_list(
            copy.deepcopy(target_conf.get("drivers", {})))
        known = {a.name for a in attr.fields(type(self))} - {"target", "state"}
        for item in drivers:
            if item.get("cls") != "KdumpDriver" or item.get("name") != self.name:
                continue
            unknown = sorted(set(item) - known - {"cls", "name", "bindings"})
            if unknown:
                raise ConfigError(f"KdumpDriver: unknown key(s) {', '.join(unknown)} in "
                                  f"{env.config_file}",
                                  advice=f"known keys: {', '.join(sorted(known - {'name'}))}")

    def on_activate(self) -> None:
        if self.image:
            if current_image(self.image) is None:
                build_image(self.image)
        raw = self.console.console
        qemu = raw if type(raw).__name__ == "QEMUDriver" else None
        if qemu is not None and self.dump_disk is None:
            raise ConfigError("KdumpDriver: dump_disk is required with QEMUDriver",
                              advice="add dump_disk and pass the same file to QEMU with "
                                     "extra_args '-drive if=virtio,format=raw,file=...'")
        if qemu is not None and self.dump_disk not in (qemu.extra_args or ""):
            raise ConfigError(f"KdumpDriver: dump_disk {self.dump_disk} is not given to QEMU",
                              advice="add '-drive if=virtio,format=raw,file=<dump_disk>' to "
                                     "QEMUDriver's extra_args")
        if self.dump_disk:
            DiskImageTransport(Path(self.dump_disk), self.dump_disk_size).prepare()

    def on_deactivate(self) -> None:
        if self._cycle is not None:
            self._cycle.close()
            self._cycle = None

    @Driver.check_active
    def cycle(self, log_dir: Path, echo: bool = False) -> KdumpCycle:
        """The engine for this target (one per activation), logging the console to log_dir."""
        if self._cycle is None:
            if not self.dump_disk:
                raise ConfigError("KdumpDriver: no vmcore transport configured",
                                  advice="set dump_disk (QEMU); board transports come later")
            self._cycle = KdumpCycle(
                self.console.board,
                DiskImageTransport(Path(self.dump_disk), self.dump_disk_size), log_dir,
                timeouts=Timeouts.from_dict(self.timeouts),
                recognizer=detect.RECOGNIZERS[self.recognizer], prompt=self.prompt,
                expected_crashkernel=self.crashkernel,
                echo=sys.stderr.write if echo else None, capture=self.console.capture)
        return self._cycle

    def vmlinux_path(self) -> Path | None:
        """The debug vmlinux: the configured one, else the guest image's."""
        if self.vmlinux:
            return Path(self.vmlinux)
        if self.image:
            image = current_image(self.image)
            return image.vmlinux if image else None
        return None

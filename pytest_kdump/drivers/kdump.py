"""labgrid integration: the ``KdumpDriver``, configured in the environment YAML.

Load it with ``imports: [pytest_kdump.labgrid_driver]`` in the env file. It binds to a
:class:`~.console.KdumpConsoleDriver` (which holds the real console and the power driver) and
gives a :class:`CycleEngine`.
Unlike labgrid's own drivers, an unknown key in its section is an error, not a warning.

    KdumpDriver:
      crashkernel: 128M                 # the reservation expected (checked, not set)
      dump_disk: !template "$LG_KDUMP_RUN/dump.img"   # QEMU: the dump disk image on the host
      image: x86_64                     # QEMU: the guest image (built, if missing, before
                                        # activation: see session.ready_driver)
      vmlinux: !template "$LG_KDUMP_IMAGES/x86_64-current/vmlinux"
      crash: null                       # crash binary (default: the one pytest-kdump installs)
      saver: guest-init                 # how the crash kernel saves: or kdump-tools,
                                        # kdump-utils, script
      transport: disk-image             # how the dump reaches the host: or ssh, netcat,
                                        # serial (no network: the dmesg over the console)
      dump_dir: /var/crash              # ssh: where the saver leaves dumps on the board
      remove_dumps: true                # ssh: delete a fetched dump's folder on the board
      ssh: SSHDriver                    # ssh: the SSHDriver (its name, or class) to fetch with
      ssh_netdev: null                  # QEMU: forward a free loopback port to the guest's
                                        # sshd over '-netdev user,id=THIS' (the target's
                                        # NetworkService gets that port)
      netcat_listen: 127.0.0.1          # netcat: where this host listens (0.0.0.0: a board)
      netcat_host: 10.0.2.2             # netcat: this host's address as the board sees it
      netcat_port: 0                    # netcat: 0 picks a free port, kept for the session
      snapshot: true                    # QEMU busybox guest: boot once, save the armed
                                        # board, restore it at every later power-on (fast
                                        # mode; pytest --kdump-full-boots turns it off)
      arm: null                         # load the crash kernel the seed's way (else the
                                        # board's kdump service does): {kernel: PATH,
                                        # initrd: PATH, append: ARGS}
      timeouts: {dump_saved: 300}
      commands: null                    # a CommandProtocol driver (name or class) to run the
                                        # board's commands (default: a shell on the console)
      file_transfer: null               # a FileTransferProtocol driver to copy trigger files
                                        # (default: base64 over the console)

``commands`` and ``file_transfer`` are explained in :mod:`pytest_kdump.drivers.protocol`.
"""

from __future__ import annotations

import copy
import os
import socket
import sys
import tempfile
import warnings
from pathlib import Path

import attr
from labgrid.driver import Driver
from labgrid.factory import TargetFactory, target_factory
from labgrid.protocol import CommandProtocol, FileTransferProtocol

from pytest_kdump import savers, transports
from pytest_kdump.build.image import current_image
from pytest_kdump.drivers.board import QemuBoard
from pytest_kdump.drivers.console import KdumpConsoleDriver  # noqa: F401  (registers it with labgrid)
from pytest_kdump.drivers.keys import check_keys
from pytest_kdump.drivers.protocol import LabgridCommands, LabgridFileTransfer, find_driver
from pytest_kdump.engine.cycle import Arming, CycleEngine
from pytest_kdump.engine.results import Timeouts
from pytest_kdump.errors import ConfigError
from pytest_kdump.transports import VmcoreTransport

_opt_str = attr.validators.optional(attr.validators.instance_of(str))


def _check_saver(_inst: object, attribute: attr.Attribute, value: str | None) -> None:
    if value is not None:
        try:
            savers.by_name(value)
        except ConfigError as exc:
            raise ConfigError(f"KdumpDriver: {attribute.name}: {exc.message}",
                              advice=exc.advice) from None


def _check_transport(_inst: object, _attr: object, value: str) -> None:
    try:
        transports.by_name(value)
    except ConfigError as exc:
        raise ConfigError(f"KdumpDriver: {exc.message}", advice=exc.advice) from None


def _check_arm(_inst: object, _attr: object, value: dict | None) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or not isinstance(value.get("kernel"), str):
        raise ConfigError("KdumpDriver: arm needs at least 'kernel: PATH' (on the board)",
                          advice="e.g. arm: {kernel: /var/lib/kdump/vmlinuz, initrd: "
                                 "/var/lib/kdump/initrd.img, append: 'irqpoll nr_cpus=1 "
                                 "reset_devices'}")
    unknown = sorted(set(value) - {"kernel", "initrd", "append"})
    if unknown:
        raise ConfigError(f"KdumpDriver: arm: unknown key(s) {', '.join(unknown)}",
                          advice="known keys: kernel, initrd, append")


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
    saver = attr.ib(default="guest-init", validator=_check_saver)
    recognizer = attr.ib(default=None, validator=_check_saver)  # the name of saver before 0.2
    transport = attr.ib(default="disk-image", validator=_check_transport)
    prompt = attr.ib(default=r"[#$] ", validator=attr.validators.instance_of(str))
    timeouts = attr.ib(default=attr.Factory(dict), validator=_check_timeouts)
    commands = attr.ib(default=None, validator=_opt_str)
    file_transfer = attr.ib(default=None, validator=_opt_str)
    dump_dir = attr.ib(default="/var/crash", validator=attr.validators.instance_of(str))
    remove_dumps = attr.ib(default=True, validator=attr.validators.instance_of(bool))
    ssh = attr.ib(default="SSHDriver", validator=attr.validators.instance_of(str))
    ssh_netdev = attr.ib(default=None, validator=_opt_str)
    netcat_listen = attr.ib(default="127.0.0.1", validator=attr.validators.instance_of(str))
    netcat_host = attr.ib(default="10.0.2.2", validator=attr.validators.instance_of(str))
    netcat_port = attr.ib(default=0, validator=attr.validators.instance_of(int))
    arm = attr.ib(default=None, validator=_check_arm)
    snapshot = attr.ib(default=True, validator=attr.validators.instance_of(bool))

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._engine: CycleEngine | None = None
        self._commands: CommandProtocol | None = None
        self._file_transfer: FileTransferProtocol | None = None
        self._check_keys()
        if self.recognizer is not None:
            if self.saver != "guest-init":
                raise ConfigError("KdumpDriver: both saver and recognizer are set",
                                  advice="keep saver (recognizer is its old name)")
            warnings.warn("KdumpDriver: the key recognizer is now saver (guest-init, "
                          "kdump-tools, kdump-utils)", DeprecationWarning, stacklevel=2)

    def _check_keys(self) -> None:
        """labgrid drops unknown keys with a warning; for this driver they are errors (also
        when the env was not checked before labgrid read it: :mod:`.keys`)."""
        env = getattr(self.target, "env", None)
        if env is None:
            return
        target_conf = env.config.data.get("targets", {}).get(self.target.name, {})
        _, drivers = TargetFactory.normalize_config(copy.deepcopy(target_conf))
        mine = drivers.get(type(self).__name__, {}).get(self.name)
        if mine is not None:
            check_keys(f"{env.config_file}: target {self.target.name}", type(self), mine[0])

    def on_activate(self) -> None:
        board = self.console.board
        qemu = board.qemu if isinstance(board, QemuBoard) else None
        disk = self.transport == "disk-image"
        if qemu is not None and disk and self.dump_disk is None:
            raise ConfigError("KdumpDriver: dump_disk is required with QEMUDriver and "
                              "transport disk-image",
                              advice="add dump_disk and pass the same file to QEMU with "
                                     "extra_args '-drive if=virtio,format=raw,file=...'")
        if qemu is not None and disk and self.dump_disk not in (qemu.extra_args or ""):
            raise ConfigError(f"KdumpDriver: dump_disk {self.dump_disk} is not given to QEMU",
                              advice="add '-drive if=virtio,format=raw,file=<dump_disk>' to "
                                     "QEMUDriver's extra_args")
        if self.transport == "disk-image" and self.dump_disk:
            self._transport().prepare()
        if self.ssh_netdev:
            self._forward_ssh(qemu)
        # named, not bound: labgrid would activate them now, before the board is up
        if self.commands:
            self._commands = find_driver(self.target, CommandProtocol, self.commands,
                                         "commands")
        if self.file_transfer:
            self._file_transfer = find_driver(self.target, FileTransferProtocol,
                                              self.file_transfer, "file_transfer")

    def on_deactivate(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    @Driver.check_active
    def engine(self, log_dir: Path | None = None, echo: bool = False,
               transport: VmcoreTransport | None = None) -> CycleEngine:
        """The engine for this target (one per activation).

        ``log_dir``: where the session console logs go (None: KdumpConsoleDriver's folder;
        given again later, the logs move there). ``echo``: copy the console to stderr.
        ``transport``: fetch dumps with this instead of the configured one (scripts, tests).
        """
        if self._engine is not None:
            if log_dir is not None and self._engine.capture.log_path.parent != Path(log_dir):
                self._engine.move_logs(Path(log_dir))
            if echo and sys.stderr.write not in self._engine.capture.listeners:
                self._engine.capture.listeners.append(sys.stderr.write)
            return self._engine
        if transport is None:
            transport = self._transport()
        engine = CycleEngine(
            self.console.board, transport, log_dir,
            timeouts=Timeouts.from_dict(self.timeouts),
            saver=self.chosen_saver(), prompt=self.prompt,
            expected_crashkernel=self.crashkernel,
            echo=sys.stderr.write if echo else None, capture=self.console.capture)
        if self._commands is not None:
            engine.commands = LabgridCommands(self._commands, watch=engine.spawn)
        if self._file_transfer is not None:
            engine.copier = LabgridFileTransfer(self._file_transfer)
        if self.arm is not None:
            engine.arming = Arming(**self.arm)
        engine.snapshot = self._snapshot_path()
        self._engine = engine
        return engine

    def _snapshot_path(self) -> Path | None:
        """Fast mode's saved board, where it is safe: a QEMU guest whose root file system is
        its initramfs and whose dump disk only the crash kernel mounts (guest-init saver,
        disk-image transport), so that the disk needs no saving with the RAM. A state left
        by an earlier session (another image, other arguments) is removed."""
        safe = (self.snapshot and isinstance(self.console.board, QemuBoard)
                and self.chosen_saver() is savers.by_name("guest-init")
                and self.transport == "disk-image" and self.dump_disk
                and self.arm is None and not self.ssh_netdev)
        if not safe:
            return None
        path = Path(self.dump_disk).with_name("armed-board.qemu-state")
        path.unlink(missing_ok=True)
        return path

    def chosen_saver(self) -> savers.Saver:
        """The saver named by ``saver`` (or by its old name, ``recognizer``)."""
        return savers.by_name(self.recognizer or self.saver)

    def _transport(self) -> VmcoreTransport:
        """The configured vmcore transport."""
        cls = transports.by_name(self.transport)
        if self.transport == "disk-image":
            if not self.dump_disk:
                raise ConfigError("KdumpDriver: transport disk-image needs dump_disk",
                                  advice="set dump_disk (QEMU), or choose transport ssh or "
                                         "netcat for a board")
            return cls(Path(self.dump_disk), self.dump_disk_size)
        if self.transport == "ssh":
            from labgrid.driver import SSHDriver
            ssh = find_driver(self.target, SSHDriver, self.ssh, "ssh")
            return cls(ssh, self.dump_dir, remove=self.remove_dumps)
        if self.transport == "serial":
            return cls()
        spool = Path(tempfile.mkdtemp(prefix="netcat-", dir=os.environ.get("LG_KDUMP_RUN")))
        return cls(spool, listen=self.netcat_listen, port=self.netcat_port,
                   board_host=self.netcat_host)

    def _forward_ssh(self, qemu: object | None) -> None:
        """QEMU: a free loopback port forwarded to the guest's port 22, given to the target's
        NetworkService (whose YAML ``port`` is then 0): each xdist worker gets its own."""
        from labgrid.resource import NetworkService
        if qemu is None:
            raise ConfigError("KdumpDriver: ssh_netdev is for QEMU targets only",
                              advice="remove ssh_netdev; give the board's NetworkService its "
                                     "address and port")
        services = [r for r in self.target.resources if isinstance(r, NetworkService)]
        if len(services) != 1:
            raise ConfigError(f"KdumpDriver: ssh_netdev needs one NetworkService in the target "
                              f"(found {len(services)})",
                              advice="add NetworkService: {address: 127.0.0.1, username: root, "
                                     "port: 0}")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        services[0].port = port
        self.console.board.forward(self.ssh_netdev, port, 22)

    def vmlinux_path(self) -> Path | None:
        """The debug vmlinux: the configured one, else the guest image's."""
        if self.vmlinux:
            return Path(self.vmlinux)
        if self.image:
            image = current_image(self.image)
            return image.vmlinux if image else None
        return None

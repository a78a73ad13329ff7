"""Bring the simulated rack up and down: ``pytest-kdump rack up|down|status``.

``up`` starts, each in a process group of its own and logging into the rack's folder: the
board host (:mod:`.boardhost`), ``labgrid-coordinator`` on loopback, and one
``labgrid-exporter`` per board, as if each board hung off an exporter host of its own (its
resource group: a ``RawSerialPort`` on the board's pty, a ``NetworkPowerPort`` on its outlet),
so that an exporter restarted touches one board only; then it makes one place per board with
``labgrid-client`` and waits until the coordinator lists the boards' resources. ``down``
stops them in the reverse order (SIGTERM to each group, SIGKILL after a grace time): an
exporter takes its ser2net with it, the board host its QEMUs. Every wait is bounded; a rack
that fails to come up is taken down again and the error names the program and its log.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pytest_kdump.build.image import build_image, current_image
from pytest_kdump.errors import ConfigError, KdumpError, ToolError
from pytest_kdump.rack.spec import DEFAULT_PORT, BoardSpec, RackState, make_boards, rack_env
from pytest_kdump.transports.disk_image import DiskImageTransport

EXPORTER_NAME = "rack"  # board N's exporter is rack-N (labgrid-exporter -n)
START_TIMEOUT = 30.0  # seconds for each program to be ready
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL
CLIENT_TIMEOUT = 30.0  # seconds for one labgrid-client command
ORDER = ("boardhost", "coordinator", "exporter")  # started in this order (one exporter per
# board: exporter-board-1...), stopped in the reverse order
# labgrid-client reads these (an env file, a place, a token, a strategy state, an SSH proxy):
# a user's shell may have them set for their own work
STRAY_SETTINGS = frozenset({"LG_PLACE", "LG_TOKEN", "LG_ENV", "LG_STATE", "LG_INITIAL_STATE",
                            "LG_PROXY", "PLACE", "STATE"})


class RackError(KdumpError):
    """The simulated rack could not be brought up, used or taken down."""

    def __init__(self, message: str, **kwargs: object) -> None:
        kwargs.setdefault("phase", "rack")
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


def tool(name: str) -> str:
    """A program's path: labgrid's next to this Python (its venv), else on PATH or sbin."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/sbin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    advice = ("install labgrid (pip install labgrid)" if name.startswith("labgrid")
              else f"install {name} (the set-up script does: apt-get install {name})")
    raise ToolError(f"{name} not found", phase="rack", advice=advice)


def client_env(coordinator: str) -> dict[str, str]:
    """The environment of a labgrid program we start: the coordinator given, none of the
    caller's labgrid settings (:data:`STRAY_SETTINGS`), and sbin on PATH (the exporter runs
    ser2net from there)."""
    env = {k: v for k, v in os.environ.items() if k not in STRAY_SETTINGS}
    env["LG_COORDINATOR"] = coordinator
    path = env.get("PATH", "/usr/bin:/bin")
    env["PATH"] = ":".join([str(Path(sys.executable).parent), path, "/usr/sbin", "/sbin"])
    return env


def client(coordinator: str, *args: str, timeout: float = CLIENT_TIMEOUT,
           check: bool = True) -> subprocess.CompletedProcess:
    """Run ``labgrid-client -x COORDINATOR ARGS``, bounded; a failure is a RackError with
    what labgrid-client said."""
    argv = [tool("labgrid-client"), "-x", coordinator, *args]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=client_env(coordinator))
    except subprocess.TimeoutExpired:
        raise RackError(f"labgrid-client {' '.join(args)} did not finish within {timeout:.0f} s",
                        advice=f"check that the coordinator at {coordinator} runs and answers "
                               "(pytest-kdump rack status)") from None
    if check and proc.returncode != 0:
        said = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise RackError(f"labgrid-client {' '.join(args)} failed: "
                        f"{said[-1] if said else f'exit status {proc.returncode}'}",
                        advice=f"check the coordinator at {coordinator} "
                               "(pytest-kdump rack status)")
    return proc


def exporter_yaml(boards: list[BoardSpec], ttys: dict[str, dict], power_url: str) -> str:
    """labgrid-exporter's resources: per board its pty as a RawSerialPort (the exporter
    serves it with ser2net, RFC 2217) and its outlet as a NetworkPowerPort. The file is a
    Jinja2 template for the exporter: nothing here may start with '#' or hold '{{'."""
    lines = ["## pytest-kdump simulated rack (written by pytest-kdump rack up)"]
    for b in boards:
        lines += [f"{b.name}:",
                  f"  location: 'pytest-kdump simulated rack, outlet {b.index}'",
                  "  RawSerialPort:",
                  f"    port: {ttys[b.name]['tty']}",
                  "    speed: 115200",
                  "  NetworkPowerPort:",
                  "    model: rest",
                  f"    host: '{power_url}'",
                  f"    index: {b.index}"]
    return "\n".join(lines) + "\n"


def _stat(pid: int) -> list[str] | None:
    """``/proc/PID/stat``'s fields after the command name (state first), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def started_at(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot): with the pid, it names the
    process; a pid alone may have been reused since (a reboot, a long time)."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def _alive(pid: int, started: int | None = None) -> bool:
    """Whether process ``pid`` runs (a zombie child is reaped and counts as gone), and is
    the one that started at ``started`` if given."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    fields = _stat(pid)
    if fields is None or fields[0] == "Z":
        return False
    return started is None or int(fields[19]) == started


def _start(name: str, argv: list[str], rack_dir: Path, env: dict[str, str],
           cwd: Path | None = None) -> int:
    with open(rack_dir / f"{name}.log", "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=cwd or rack_dir, env=env)
    return proc.pid


def _wait(what: str, ready, pid: int, log: Path, timeout: float = START_TIMEOUT) -> None:
    """Wait until ``ready()`` is true, failing if process ``pid`` exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while not ready():
        if not _alive(pid):
            raise RackError(f"{what} exited while starting: {_tail(log)}",
                            advice=f"see {log}")
        if time.monotonic() > deadline:
            raise RackError(f"{what} was not ready within {timeout:.0f} s: {_tail(log)}",
                            advice=f"see {log}")
        time.sleep(0.2)


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def running(state: RackState) -> dict[str, bool]:
    """Each program of the rack: whether it still runs (the same process, not its pid
    reused)."""
    return {name: _alive(pid, state.started.get(name)) for name, pid in state.pids.items()}


def _record(state: RackState, name: str, pid: int) -> None:
    state.pids[name] = pid
    state.started[name] = started_at(pid) or 0
    state.save()


def up(rack_dir: Path, boards: int = 2, arch: str = "x86_64",
       port: int = DEFAULT_PORT, progress=print) -> RackState:
    """Start a rack of ``boards`` QEMU boards in ``rack_dir``; return its state."""
    rack_dir.mkdir(parents=True, exist_ok=True)
    old = RackState.load(rack_dir)
    if old is not None and any(running(old).values()):
        raise RackError(f"a rack is already up in {rack_dir} (coordinator {old.coordinator})",
                        advice="use it, or take it down first: pytest-kdump rack down")
    if old is not None:  # its programs are gone, what they started may not be (ser2net)
        down(rack_dir, state=old, progress=lambda _: None)
    specs = make_boards(boards, arch)
    tools = {n: tool(n) for n in ("labgrid-coordinator", "labgrid-exporter", "ser2net")}
    if _port_open(port):
        raise RackError(f"port {port} on 127.0.0.1 is in use: another coordinator?",
                        advice="take that one down, or give another port: "
                               "pytest-kdump rack up --port N")
    image = current_image(arch)
    if image is None:
        progress(f"rack: building the {arch} guest image")
        image = build_image(arch)
    coordinator = f"127.0.0.1:{port}"
    state = RackState(dir=rack_dir, coordinator=coordinator, exporter=EXPORTER_NAME,
                      boards=specs)
    try:
        _start_all(state, image, tools, progress)
    except BaseException:
        down(rack_dir, state=state)
        raise
    return state


def _start_all(state: RackState, image, tools: dict[str, str], progress) -> None:
    rack_dir, env = state.dir, client_env(state.coordinator)
    kernel, initrd = _keep_image(image, rack_dir / "image")
    config = {"boards": []}
    for b in state.boards:
        b.folder(rack_dir).mkdir(exist_ok=True)
        disk = b.dump_disk(rack_dir)
        DiskImageTransport(disk).prepare()
        argv = b.qemu_argv(kernel, initrd, disk, serial_port="{serial_port}")
        config["boards"].append({"name": b.name, "index": b.index, "argv": argv,
                                 "log": str(b.folder(rack_dir) / "qemu.log")})
    (rack_dir / "boardhost-config.json").write_text(json.dumps(config, indent=2) + "\n")
    ready_file = rack_dir / "boards.json"
    ready_file.unlink(missing_ok=True)
    progress(f"rack: starting {len(state.boards)} boards (QEMU {state.boards[0].arch}, "
             "serial ptys, power switch)")
    _record(state, "boardhost", _start(
        "boardhost", [sys.executable, "-m", "pytest_kdump.rack.boardhost",
                      str(rack_dir / "boardhost-config.json")], rack_dir, env))
    _wait("the board host", ready_file.is_file, state.pids["boardhost"],
          rack_dir / "boardhost.log")
    ready = json.loads(ready_file.read_text())
    state.power_url = ready["power_url"]
    progress(f"rack: starting labgrid-coordinator on {state.coordinator}")
    coord_dir = rack_dir / "coordinator"
    coord_dir.mkdir(exist_ok=True)
    _record(state, "coordinator", _start(
        "coordinator", [tools["labgrid-coordinator"], "-l", state.coordinator], rack_dir,
        env, cwd=coord_dir))
    port = int(state.coordinator.rsplit(":", 1)[1])
    _wait("labgrid-coordinator", lambda: _port_open(port), state.pids["coordinator"],
          rack_dir / "coordinator.log")
    progress(f"rack: starting {len(state.boards)} labgrid-exporter(s), one per board")
    for b in state.boards:
        (rack_dir / f"{exporter_process(b)}.yaml").write_text(
            exporter_yaml([b], ready["boards"], state.power_url))
        _start_exporter(state, b, tools["labgrid-exporter"])
    known = set(client(state.coordinator, "places", check=False).stdout.split())
    for b in state.boards:
        if b.name not in known:  # the coordinator keeps places across restarts
            client(state.coordinator, "-p", b.name, "create")
        # a place kept from an older rack may match another exporter name: add ours
        client(state.coordinator, "-p", b.name, "add-match",
               f"{exporter_name(state, b)}/{b.name}/*", check=b.name not in known)
    state.save()
    progress(f"rack: up, places {', '.join(state.places)}")


def _keep_image(image, folder: Path) -> tuple[Path, Path]:
    """The boards' kernel and initrd, linked (or copied) into the rack's folder: a later
    image build replaces the cache's folder, and the rack's boards boot on meanwhile."""
    folder.mkdir(exist_ok=True)
    kept = []
    for src in (Path(image.kernel), Path(image.initrd)):
        dest = folder / src.name
        partial = folder / f".{src.name}.partial"
        partial.unlink(missing_ok=True)
        try:
            os.link(src, partial)
        except OSError:  # another file system
            shutil.copy2(src, partial)
        partial.replace(dest)
        kept.append(dest)
    return kept[0], kept[1]


def exporter_process(board: BoardSpec) -> str:
    """The name under which the rack keeps ``board``'s exporter (its pid in ``rack.json``,
    its ``.yaml`` and ``.log`` in the rack's folder): ``exporter-board-1``."""
    return f"exporter-{board.name}"


def exporter_name(state: RackState, board: BoardSpec) -> str:
    """``board``'s exporter as labgrid names it (``-n``; the first part of its resources'
    names and of its place's match): ``rack-1``."""
    return f"{state.exporter}-{board.index}"


def _start_exporter(state: RackState, board: BoardSpec, exporter: str) -> None:
    """Start ``board``'s labgrid-exporter and wait until the coordinator lists its serial
    port."""
    name = exporter_process(board)
    _record(state, name, _start(
        name, [exporter, "-c", state.coordinator, "-n", exporter_name(state, board),
               "--hostname", "127.0.0.1", str(state.dir / f"{name}.yaml")], state.dir,
        client_env(state.coordinator)))
    wanted = f"{exporter_name(state, board)}/{board.name}/NetworkSerialPort"

    def exported() -> bool:
        return wanted in client(state.coordinator, "resources", check=False).stdout.split()

    _wait(f"labgrid-exporter of {board.name}", exported, state.pids[name],
          state.dir / f"{name}.log")


def restart_exporter(state: RackState, board: str,
                     progress: Callable[[str], None] = print) -> int:
    """Stop board ``board``'s labgrid-exporter (its process group, ser2net included) if it
    still runs, start it again and wait for its resources (as an exporter restarted by
    systemd); return its new pid. ``state`` and ``rack.json`` get the new process."""
    spec = next((b for b in state.boards if b.name == board), None)
    if spec is None:
        raise RackError(f"no board {board!r} in the rack", advice=f"boards: "
                        f"{', '.join(state.places)}")
    name = exporter_process(spec)
    pid, started = state.pids.get(name), state.started.get(name)
    if pid is not None and not _reused(pid, started):
        _stop_group(pid)  # also when its leader is gone: its ser2net may be left
    progress(f"rack: starting the labgrid-exporter of {board} again")
    _start_exporter(state, spec, tool("labgrid-exporter"))
    return state.pids[name]


def down(rack_dir: Path, state: RackState | None = None, progress=print) -> list[str]:
    """Stop the rack's programs (exporter, coordinator, board host); return what was
    stopped. Places stay in the coordinator's folder for the next ``up``."""
    state = state or RackState.load(rack_dir)
    if state is None:
        return []
    stopped = []
    for name in sorted(state.pids, key=lambda n: -ORDER.index(n.split("-", 1)[0])):
        pid = state.pids[name]
        started = state.started.get(name)
        if _reused(pid, started):
            continue  # the pid is another process's now: not ours to stop
        was_running = _alive(pid, started)
        _stop_group(pid)  # also when its leader is gone: the exporter's ser2net may be left
        if was_running:
            stopped.append(name)
            progress(f"rack: stopped {name} (pid {pid})")
    (rack_dir / "rack.json").unlink(missing_ok=True)
    return stopped


def _reused(pid: int, started: int | None) -> bool:
    """Whether ``pid`` now names another process than the one that started at ``started``
    (a program of ours that is gone leaves its pid free for reuse)."""
    fields = _stat(pid)
    return bool(fields and fields[0] != "Z" and started and int(fields[19]) != started)


def _stop_group(pid: int) -> None:
    """SIGTERM to process group ``pid``, SIGKILL after :data:`STOP_GRACE` if its leader
    is still there; the group's other members get the SIGKILL as well."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return  # nobody left in the group
        deadline = time.monotonic() + STOP_GRACE
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)


def status(rack_dir: Path) -> str:
    """What runs of the rack in ``rack_dir``, and its places."""
    state = RackState.load(rack_dir)
    if state is None:
        return f"no rack in {rack_dir} (pytest-kdump rack up starts one)"
    lines = [f"rack in {rack_dir}: coordinator {state.coordinator}, power switch "
             f"{state.power_url}"]
    for name, alive in running(state).items():
        lines.append(f"  {name:<12} pid {state.pids[name]:<8} "
                     f"{'running' if alive else 'NOT RUNNING'}")
    if running(state).get("coordinator"):
        try:
            places = client(state.coordinator, "-v", "places", check=False).stdout
            lines += ["places:", *("  " + ln for ln in places.strip().splitlines())]
        except RackError as exc:
            lines.append(f"places: {exc.message}")
    lines.append(f"use: LG_KDUMP_RACK={rack_dir} pytest --lg-coordinator {state.coordinator} "
                 "--kdump-places "
                 f"{','.join(state.places)} --lg-env {rack_env(state.boards[0].arch)}")
    return "\n".join(lines)


def check_rack_dir(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{p} is not a folder", advice="give --dir a folder for the rack")
    return p

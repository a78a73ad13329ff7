"""Opening a labgrid environment file for pytest-kdump, with clear errors.

The environment YAML refers to ``$LG_KDUMP_IMAGES`` (the image cache) and ``$LG_KDUMP_RUN``
(a per-session scratch folder for the dump disk) through labgrid's ``!template``;
:func:`set_env_defaults` gives them values when the user did not.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from pytest_kdump.analysis.crash.tool import CrashTool, find_crash, install_crash
from pytest_kdump.cachedir import cache_dir
from pytest_kdump.errors import ConfigError
from pytest_kdump.progress import show_progress
from pytest_kdump.session import KdumpSession, ready_driver


def set_env_defaults(worker: str | None = None) -> Path | None:
    """Set LG_KDUMP_IMAGES, LG_KDUMP_RACK and LG_KDUMP_RUN unless the user set them; returns
    the scratch folder it made (the caller removes it at the end), if any. An xdist
    ``worker`` (``gw0``...) gets a folder of its own in the run folder: each worker has its
    own board and dump disk."""
    os.environ.setdefault("LG_KDUMP_IMAGES", str(cache_dir() / "images"))
    os.environ.setdefault("LG_KDUMP_RACK", str(cache_dir() / "rack"))  # pytest-kdump rack
    made = None
    if "LG_KDUMP_RUN" not in os.environ:
        made = Path(tempfile.mkdtemp(prefix="pytest-kdump-run-"))
        os.environ["LG_KDUMP_RUN"] = str(made)
    if worker:
        own = Path(os.environ["LG_KDUMP_RUN"]) / worker
        own.mkdir(exist_ok=True)
        os.environ["LG_KDUMP_RUN"] = str(own)
        return made or own
    return made


def check_env_file(path: str | Path) -> None:
    """Fail with a clear ConfigError if ``path`` is missing or not valid YAML."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"labgrid environment file not found: {path}",
                          advice="give --lg-env the path of an env YAML, e.g. "
                                 "labgrid-envs/qemu-x86_64.yaml")
    try:
        # labgrid's loader knows !template; a plain SafeLoader with it ignored is enough here
        loader = type("L", (yaml.SafeLoader,), {})
        loader.add_constructor("!template", lambda ld, node: ld.construct_scalar(node))
        data = yaml.load(path.read_text(), Loader=loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}",
                          advice="fix the YAML syntax (indentation, quotes)") from None
    if not isinstance(data, dict) or "targets" not in data:
        raise ConfigError(f"{path} has no 'targets:' section",
                          advice="see labgrid-envs/qemu-x86_64.yaml for an example")
    _check_our_keys(path, data["targets"])


def _check_our_keys(path: Path, targets: Any) -> None:
    """pytest-kdump's drivers in the env have only keys they know (:mod:`.keys`)."""
    from pytest_kdump.drivers import KdumpConsoleDriver, KdumpDriver, KdumpStrategy
    from pytest_kdump.drivers.keys import check_keys

    ours = {cls.__name__: cls for cls in (KdumpConsoleDriver, KdumpDriver, KdumpStrategy)}
    for target_name, target in (targets or {}).items() if isinstance(targets, dict) else ():
        drivers = target.get("drivers") if isinstance(target, dict) else None
        entries = drivers if isinstance(drivers, list) else [drivers or {}]
        for entry in entries:
            for name, keys in (entry.items() if isinstance(entry, dict) else ()):
                cls = keys.get("cls", name) if isinstance(keys, dict) else None  # labgrid's cls:
                if cls in ours:
                    check_keys(f"{path}: target {target_name}", ours[cls], keys)


def open_session(env_file: str | Path, artifacts: Path, *, crash: str | CrashTool | None = None,
                 echo: bool = False, target: str = "main", backend: str = "crash"
                 ) -> tuple[Any, KdumpSession]:
    """Open ``env_file`` with labgrid and return (environment, session) for ``target``.

    For scripts: ``env, s = open_session("labgrid-envs/qemu-x86_64.yaml", Path("out"))``,
    ``crash = s.for_test(Path("out/run1")).trigger_crash("sysrq")``, then ``s.close()``.
    """
    from labgrid import Environment
    from labgrid.exceptions import InvalidConfigError, NoDriverFoundError

    show_progress()  # downloads and builds can take minutes: say what is going on
    set_env_defaults()
    check_env_file(env_file)
    try:
        env = Environment(str(env_file))
        driver = ready_driver(env.get_target(target))
    except (InvalidConfigError, NoDriverFoundError) as exc:
        raise ConfigError(f"labgrid environment {env_file}: {exc}") from None
    if not isinstance(crash, CrashTool):
        crash = crash or driver.crash  # the argument, else KdumpDriver's crash key
        crash = find_crash(crash, cache_dir()) if crash else install_crash(cache_dir())
    return env, KdumpSession.from_driver(driver, artifacts, crash, echo=echo, backend=backend)

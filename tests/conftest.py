"""Shared fixtures of the test suite: real dumps made once per session on QEMU."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_kdump.analysis.crash.tool import CrashTool, install_crash
from pytest_kdump.build.image import current_image
from pytest_kdump.cachedir import cache_dir
from tests.helpers import own_session

# (name, trigger): a sysrq panic and an oops inside a module (exception RIP frame)
DUMPS = (("sysrq", "sysrq"), ("module-null", "module:null"))


@dataclass(frozen=True)
class RealDump:
    """A vmcore written by this project's crash kernel, with the vmlinux that matches it."""

    name: str
    vmlinux: Path
    vmcore: Path
    crash_tool: CrashTool
    release: str  # the guest kernel's release, as built today (Debian moves it)


@pytest.fixture
def own_run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dump disk of this test's own (another QEMU of the session may hold the default)."""
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setenv("LG_KDUMP_RUN", str(run))
    return run


@pytest.fixture(scope="session")
def real_dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RealDump]:
    """A sysrq dump and a module NULL-dereference dump, made on one QEMU board.

    ``PYTEST_KDUMP_TEST_DUMPS=DIR`` reuses dumps made earlier (``DIR/sysrq/vmcore``,
    ``DIR/module-null/vmcore``) to save the ~45 s of QEMU while developing; CI makes them.
    """
    crash = install_crash(cache_dir())
    reuse = os.environ.get("PYTEST_KDUMP_TEST_DUMPS")
    if reuse:
        image = current_image()
        return {name: RealDump(name, image.vmlinux, Path(reuse) / name / "vmcore", crash,
                               image.kernel_release)
                for name, _ in DUMPS}
    base = tmp_path_factory.mktemp("real-dumps")
    env, session = own_session(base, crash=crash)
    dumps = {}
    try:
        for name, trigger in DUMPS:
            kdump = session.for_test(base / "artifacts" / name)
            result = kdump.trigger_crash(trigger)
            dumps[name] = RealDump(name, session.vmlinux, result.vmcore, crash,
                                   session.kernel_release())
    finally:
        session.close()
        env.cleanup()
    return dumps


@pytest.fixture(scope="session")
def other_build_vmlinux(real_dumps, tmp_path_factory) -> Path:
    """The dump's debug vmlinux with another build date in its linux_banner, as a rebuild of
    the same release would have (same build ID: only the banner tells them apart)."""
    vmlinux = real_dumps["sysrq"].vmlinux
    data = bytearray(vmlinux.read_bytes())
    start = 0
    while (start := data.find(b"Linux version ", start)) >= 0:
        end = data.find(b"\0", start)
        if b"(" in data[start:end]:  # the banner, not a format string
            data[end - 2:end - 1] = b"9" if data[end - 2:end - 1] != b"9" else b"8"
        start = end
    other = tmp_path_factory.mktemp("other-build") / "vmlinux-other-build"
    other.write_bytes(data)
    return other

"""The tree's promises: tests mirror the package, the package imports lazily, old paths work."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "pytest_kdump"
SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py")
                     if p.parent.name != "guest")


def test_every_subpackage_has_collected_tests(pytestconfig: pytest.Config) -> None:
    assert SUBPACKAGES == ["analysis", "build", "console", "detect", "drivers", "engine",
                           "rack", "report", "savers", "transports", "triggers"]
    for name in SUBPACKAGES:
        assert list((ROOT / "tests" / "unit" / name).rglob("test_*.py")), name
    # pytest skips folders matching norecursedirs (its default has "build")
    skipped = [d for d in pytestconfig.getini("norecursedirs") if d in SUBPACKAGES]
    assert skipped == []


def test_importing_the_package_loads_neither_labgrid_nor_pexpect() -> None:
    code = ("import sys, pytest_kdump\n"
            "from pytest_kdump import (assert_in_backtrace, Trigger, Crash, Kdump, KdumpSession,"
            " CrashRecord, Analysis, DumpResult, KdumpError)\n"
            "print(sorted(m for m in ('labgrid', 'pexpect') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_every_public_name_resolves() -> None:
    import pytest_kdump

    for name in pytest_kdump.__all__:
        assert getattr(pytest_kdump, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        pytest_kdump.nothing  # noqa: B018


@pytest.mark.parametrize("module, names", [
    ("crashsession", ["CrashSession", "CrashProcess"]),
    ("crashtool", ["CrashTool", "find_crash", "install_crash", "installed_crash"]),
    ("crashparse", ["parse_sys", "parse_bt", "SysInfo"]),
    ("image", ["cache_dir", "build_image", "current_image", "GuestImage"]),
    ("environment", ["open_session"]),
    ("crashmod", ["build_module", "module_from_build_dir"]),
])
def test_old_module_paths_still_work_and_warn(module: str, names: list[str]) -> None:
    sys.modules.pop(f"pytest_kdump.{module}", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mod = __import__(f"pytest_kdump.{module}", fromlist=names)
    assert [str(w.message) for w in caught if w.category is DeprecationWarning][0].startswith(
        f"pytest_kdump.{module} moved to pytest_kdump.")
    for name in names:
        assert getattr(mod, name) is not None


def test_the_env_yaml_import_registers_the_drivers() -> None:
    from labgrid.factory import target_factory

    import pytest_kdump.labgrid_driver  # noqa: F401

    for name in ("KdumpConsoleDriver", "KdumpDriver", "KdumpStrategy"):
        assert name in target_factory.drivers

"""Tests of the parse package itself: its re-exports, the deprecated pytest_kdump.crashparse
shim and the examples in the family modules' docstrings."""

from __future__ import annotations

import doctest
import importlib
import inspect
import sys

import pytest

from pytest_kdump.analysis.crash import parse as cp

FAMILIES = ("common", "sysinfo", "bt", "ps", "log", "mod", "kmem", "files", "net", "dis",
            "memory")


def _family(name: str):
    return importlib.import_module(f"{cp.__name__}.{name}")


def test_model_types_are_reexported() -> None:
    from pytest_kdump.analysis import model
    assert (cp.Frame, cp.Task, cp.Module) == (model.Frame, model.Task, model.Module)


def test_every_public_name_is_reexported() -> None:
    public = {"Frame", "Module", "Task"}
    for name in FAMILIES:
        module = _family(name)
        for attr, value in vars(module).items():
            if (not attr.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value))
                    and value.__module__ == module.__name__):
                public.add(attr)
                assert getattr(cp, attr) is value, attr
    assert cp.__all__ == sorted(public)


def test_deprecated_shim_star_imports_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "pytest_kdump.crashparse", raising=False)
    with pytest.warns(DeprecationWarning, match="moved to pytest_kdump.analysis.crash.parse"):
        shim = importlib.import_module("pytest_kdump.crashparse")
    assert all(getattr(shim, name) is getattr(cp, name) for name in cp.__all__)


@pytest.mark.parametrize("name", FAMILIES)
def test_docstring_examples(name: str) -> None:
    failed, attempted = doctest.testmod(_family(name))
    assert failed == 0 and attempted > 0

"""Kernel symbol names, as both the console detector and the dump analysis read them."""

from __future__ import annotations

__all__ = ["clean_function"]


def clean_function(name: str) -> str:
    """``name`` without compiler suffixes: ``__handle_sysrq.cold`` -> ``__handle_sysrq``
    (also ``.isra.0``, ``.constprop.0``, ``.part.0``)."""
    return name.split(".", 1)[0] or name

"""The module an env YAML imports (``imports: [pytest_kdump.labgrid_driver]``): it registers
pytest-kdump's labgrid drivers and strategy. They live in :mod:`pytest_kdump.drivers`."""

from pytest_kdump.drivers import KdumpConsoleDriver, KdumpDriver, KdumpStrategy

__all__ = ["KdumpConsoleDriver", "KdumpDriver", "KdumpStrategy"]

"""The module an env YAML imports (``imports: [pytest_kdump.labgrid_driver]``): it registers
pytest-kdump's labgrid drivers. The drivers live in :mod:`pytest_kdump.drivers`."""

from pytest_kdump.drivers import KdumpConsoleDriver, KdumpDriver

__all__ = ["KdumpConsoleDriver", "KdumpDriver"]

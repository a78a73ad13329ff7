"""labgrid drivers of pytest-kdump: the only package that imports labgrid.

Importing it registers :class:`~.console.KdumpConsoleDriver`, :class:`~.kdump.KdumpDriver`
and :class:`~.strategy.KdumpStrategy` with labgrid's ``target_factory`` (an env YAML does it
with ``imports: [pytest_kdump.labgrid_driver]``).
"""

from pytest_kdump.drivers.console import KdumpConsoleDriver
from pytest_kdump.drivers.kdump import KdumpDriver
from pytest_kdump.drivers.strategy import KdumpStrategy

__all__ = ["KdumpConsoleDriver", "KdumpDriver", "KdumpStrategy"]

"""Progress of long steps (downloads, image and module builds) for people at a terminal.

The modules log through ``logging.getLogger(__name__)``; :func:`show_progress` prints those
records as ``pytest-kdump: MESSAGE`` lines on stderr. The command line and
:func:`~pytest_kdump.drivers.environment.open_session` call it; under pytest the records go to
pytest's log capture instead.
"""

from __future__ import annotations

import logging
import sys


class _StderrHandler(logging.Handler):
    """Prints ``pytest-kdump: MESSAGE`` on the current ``sys.stderr``; a warning or an error
    says so (``pytest-kdump: warning: MESSAGE``)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
            print(f"pytest-kdump: {level}{self.format(record)}", file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)


def show_progress() -> None:
    """Show the ``pytest_kdump`` loggers' progress (INFO and above) on stderr, once however
    often it is called."""
    logger = logging.getLogger("pytest_kdump")
    logger.setLevel(logging.INFO)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())

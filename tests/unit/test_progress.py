"""Progress lines of long steps on stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_progress_lines_on_stderr(tmp_path: Path) -> None:
    """Long steps show their progress on stderr as ``pytest-kdump: MESSAGE``."""
    code = (
        "import logging, sys\n"
        "from pytest_kdump.progress import show_progress\n"
        "from pytest_kdump.build import image\n"
        "show_progress(); show_progress()\n"
        "image.logger.info('image up to date: %s', 'x86_64 guest')\n"
        "logging.getLogger('pytest_kdump.analysis.crash.tool').warning('crash pulls %d', 21)\n"
        "image.logger.debug('not shown')\n"
        "logging.getLogger('other').warning('not ours')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=tmp_path)
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == ["pytest-kdump: image up to date: x86_64 guest",
                                        "pytest-kdump: warning: crash pulls 21",
                                        "not ours"]

"""The test API's pieces that need no board."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_kdump.errors import AnalysisError
from pytest_kdump.session import Crash


def test_crash_session_is_the_deprecated_name_of_process(tmp_path: Path) -> None:
    crash = Crash(dump=None, analysis=None, artifacts=tmp_path)  # no tool, no vmlinux
    assert crash.started_process is None
    with pytest.raises(AnalysisError, match="no crash tool or vmlinux for this dump"):
        crash.process  # noqa: B018
    with pytest.warns(DeprecationWarning, match="Crash.session is now Crash.process"), \
            pytest.raises(AnalysisError, match="no crash tool or vmlinux"):
        crash.session  # noqa: B018

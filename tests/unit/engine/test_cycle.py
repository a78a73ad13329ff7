"""The cycle engine without QEMU."""

from __future__ import annotations

from pathlib import Path

from pytest_kdump.transports.disk_image import DiskImageTransport
from pytest_kdump.triggers import get_trigger


def test_unsupported_triggers_say_why(tmp_path: Path) -> None:
    """A board that cannot receive an NMI: the trigger is refused with the precise reason."""
    from pytest_kdump.console.capture import SourceGone
    from pytest_kdump.engine.cycle import CycleEngine
    from pytest_kdump.triggers import NMI

    class SerialOnlyBoard:
        name = "serial-board"

        def read(self, timeout: float) -> bytes:
            raise SourceGone()

        def write(self, data: bytes) -> None:
            raise AssertionError("nothing is typed to check a trigger's support")

    engine = CycleEngine(SerialOnlyBoard(), DiskImageTransport(tmp_path / "d.img"), tmp_path)
    try:
        assert "NMI injection needs QEMU's monitor" in engine.unsupported(NMI)
        assert engine.unsupported(get_trigger("sysrq")) is None
    finally:
        engine.capture.close()

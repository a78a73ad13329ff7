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


class QuietBoard:
    """A board that prints nothing; ``power_control`` as given."""

    name = "quiet"

    def __init__(self, power_control: bool = True) -> None:
        self.power_control = power_control
        self.switched: list[str] = []

    def read(self, timeout: float) -> bytes:
        import time

        time.sleep(timeout)
        return b""

    def write(self, data: bytes) -> None:
        pass

    def power_on(self) -> None:
        self.switched.append("on")

    def power_off(self) -> None:
        self.switched.append("off")

    def alive(self) -> bool:
        return True

    def describe_death(self) -> str:
        return "never"


def test_state_is_an_enum_changed_through_the_engine(tmp_path: Path) -> None:
    import pytest

    from pytest_kdump.engine.cycle import CycleEngine
    from pytest_kdump.engine.results import BoardState

    board = QuietBoard()
    engine = CycleEngine(board, DiskImageTransport(tmp_path / "d.img"), tmp_path)
    try:
        assert engine.state is BoardState.OFF and engine.state == "off"
        with pytest.raises(AttributeError):
            engine.state = "unknown"  # type: ignore[misc]
        engine.forget_state()
        assert engine.state is BoardState.UNKNOWN
        engine.assume("shell")
        assert engine.state is BoardState.SHELL
        with pytest.raises(ValueError):
            engine.assume("dancing")
        engine.power_off()
        assert engine.state is BoardState.OFF and board.switched == ["off"]
    finally:
        engine.close()


def test_board_without_power_control_starts_unknown(tmp_path: Path) -> None:
    from pytest_kdump.engine.cycle import CycleEngine
    from pytest_kdump.engine.results import BoardState

    board = QuietBoard(power_control=False)
    engine = CycleEngine(board, DiskImageTransport(tmp_path / "d.img"), tmp_path)
    try:
        assert not engine.power_control and engine.state is BoardState.UNKNOWN
        engine.power_off()  # the board's own power_off does nothing without control
        assert engine.state is BoardState.UNKNOWN
    finally:
        engine.capture.close()


def test_a_board_that_knows_why_it_went_away_gives_the_advice(tmp_path: Path) -> None:
    """BoardDied in a phase takes the board's own advice (a lost console connection names
    the place to check) over the phase's generic one; other errors keep the phase's."""
    from pytest_kdump.engine.advice import ADVICE
    from pytest_kdump.engine.cycle import CycleEngine
    from pytest_kdump.errors import BoardDied, PhaseTimeout

    class LostConsoleBoard(QuietBoard):
        def death_advice(self) -> str | None:
            return "check the exporter of place p1"

    engine = CycleEngine(LostConsoleBoard(), DiskImageTransport(tmp_path / "d.img"), tmp_path)
    try:
        died = engine._error(BoardDied, "shell", "the board went away during shell")
        assert died.advice.endswith("check the exporter of place p1")
        assert ADVICE["shell"] not in died.advice
        timed_out = engine._error(PhaseTimeout, "shell", "shell did not finish")
        assert timed_out.advice.endswith(ADVICE["shell"])
    finally:
        engine.capture.close()

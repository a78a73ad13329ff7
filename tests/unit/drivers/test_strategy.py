"""KdumpStrategy on the fake board, and restarting strategies after an unexpected crash."""

from __future__ import annotations

import enum
from pathlib import Path
from types import SimpleNamespace

import attr
import pytest
from labgrid import Target
from labgrid.driver.fake import FakeConsoleDriver, FakePowerDriver
from labgrid.driver.shelldriver import ShellDriver
from labgrid.strategy import ShellStrategy, Strategy, StrategyError
from labgrid.strategy.shellstrategy import Status as ShellStatus

from pytest_kdump.drivers.strategy import KdumpStrategy, Status, restart_strategy
from pytest_kdump.engine.results import BoardState
from pytest_kdump.session import KdumpSession
from tests.unit.drivers.fakeboard import FakeDumpDisk


def _strategy(make_target, tmp_path: Path, **kwargs) -> tuple[KdumpStrategy, object, object]:
    target = make_target(extra="      KdumpStrategy: {}\n", **kwargs)
    engine = target.get_driver("KdumpDriver").engine(
        tmp_path / "s", transport=FakeDumpDisk(tmp_path / "board-dump"))
    strategy = target.get_strategy()
    assert isinstance(strategy, KdumpStrategy)
    return strategy, engine, target.get_driver("FakeBusyboxConsole")


def test_transitions(make_target, tmp_path: Path) -> None:
    strategy, engine, board = _strategy(make_target, tmp_path)
    assert strategy.status is Status.unknown
    strategy.transition("shell")
    assert (strategy.status, engine.state, board.boots) == (Status.shell, BoardState.SHELL, 1)
    strategy.transition(Status.armed)
    assert strategy.status is Status.armed and engine.last_armed.loaded
    typed = len(board.lines)
    strategy.transition("armed")  # nothing to do
    assert len(board.lines) == typed
    strategy.transition("off")
    assert (engine.state, board.mode) == (BoardState.OFF, "off")
    strategy.transition("armed")
    assert board.boots == 2 and strategy.status is Status.armed

    # a dump: the engine knows the board is rebooting; "armed" checks again after recovery
    engine.take_dump("sysrq", tmp_path / "dump")
    assert engine.state is BoardState.REBOOTED
    strategy.transition("armed")
    assert engine.state is BoardState.SHELL and engine.phases[-1].name == "armed"

    strategy.force("off")
    assert (strategy.status, engine.state) == (Status.off, BoardState.OFF)
    strategy.force("shell")
    assert engine.state is BoardState.SHELL
    with pytest.raises(StrategyError, match="broken"):
        strategy.transition("unknown")
    assert isinstance(strategy.broken, StrategyError)
    with pytest.raises(StrategyError, match="broken"):
        strategy.transition("shell")


def test_restart_after_an_unexpected_crash(make_target, tmp_path: Path) -> None:
    strategy, engine, _ = _strategy(make_target, tmp_path)
    strategy.transition("armed")
    with pytest.raises(StrategyError):
        strategy.force("unknown")
    assert strategy.broken is not None
    KdumpSession.reset_strategy(SimpleNamespace(target=strategy.target))
    assert strategy.broken is None and strategy.status is Status.unknown
    assert engine.state is BoardState.SHELL  # the engine's own knowledge is kept
    strategy.transition("armed")
    assert strategy.status is Status.armed


def test_no_power_driver(make_target, tmp_path: Path) -> None:
    strategy, engine, _ = _strategy(make_target, tmp_path, power=False,
                                    console="        running: true\n")
    strategy.transition("shell")
    assert engine.state is BoardState.SHELL
    with pytest.raises(StrategyError) as exc:
        strategy.transition("off")
    assert "no PowerProtocol driver" in exc.value.__cause__.msg


@pytest.fixture
def shell_strategy() -> ShellStrategy:
    """labgrid's ShellStrategy on labgrid's fake drivers (never activated: no board)."""
    target = Target("shell-strategy")
    FakeConsoleDriver(target, "console")
    FakePowerDriver(target, "power")
    ShellDriver(target, "shell", prompt="# ", login_prompt="login: ", username="root")
    strategy = ShellStrategy(target, "strategy")
    yield strategy
    target.cleanup()


def _reset(target: Target) -> None:
    KdumpSession.reset_strategy(SimpleNamespace(target=target))


def test_reset_strategy_forces_a_shellstrategy_off(shell_strategy: ShellStrategy) -> None:
    shell_strategy.status = ShellStatus.shell  # where it left the board, it believes
    _reset(shell_strategy.target)
    assert shell_strategy.status is ShellStatus.off  # its next transition power-cycles
    assert shell_strategy.broken is None
    assert shell_strategy.power.state.name == "active"


def test_reset_strategy_mends_a_broken_shellstrategy(shell_strategy: ShellStrategy) -> None:
    with pytest.raises(StrategyError):
        shell_strategy.transition("unknown")
    assert shell_strategy.broken is not None
    _reset(shell_strategy.target)
    assert shell_strategy.broken is None and shell_strategy.status is ShellStatus.off


class UpStatus(enum.Enum):
    unknown = 0
    up = 1


@attr.s(eq=False)
class UpStrategy(Strategy):
    """A strategy without an ``off`` status."""

    status = attr.ib(default=UpStatus.up)

    def force(self, status: object) -> None:
        raise AssertionError("not forced")


def test_strategies_without_off_and_targets_without_strategy_are_left_alone() -> None:
    target = Target("up")
    strategy = UpStrategy(target, "up")
    strategy.broken = RuntimeError("earlier")
    assert restart_strategy(target) is None
    assert strategy.status is UpStatus.up and isinstance(strategy.broken, RuntimeError)
    assert restart_strategy(Target("none")) is None
    _reset(None)  # a session without labgrid target

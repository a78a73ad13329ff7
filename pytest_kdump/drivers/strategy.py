"""A labgrid strategy for kdump boards, and how pytest-kdump restarts a target's strategy.

:class:`KdumpStrategy` brings the board to ``off``, ``shell`` or ``armed`` (at a shell, kdump
checked armed) through KdumpDriver's engine, as labgrid's ShellStrategy does with its
drivers::

    KdumpStrategy: {}            # binds the target's KdumpDriver

    strategy = target.get_strategy()
    strategy.transition("armed")

:func:`restart_strategy` is what a session does after a crash nobody expected: whatever the
target's strategy, its next transition starts over.
"""

from __future__ import annotations

import enum
from typing import Any

import attr
from labgrid.exceptions import NoStrategyFoundError
from labgrid.factory import target_factory
from labgrid.step import step
from labgrid.strategy import Strategy, StrategyError, never_retry

from pytest_kdump.engine.cycle import CycleEngine
from pytest_kdump.engine.results import BoardState


class Status(enum.Enum):
    unknown = 0
    off = 1
    shell = 2
    armed = 3


# the engine's state that each status means
_ENGINE_STATE = {Status.off: BoardState.OFF, Status.shell: BoardState.SHELL,
                 Status.armed: BoardState.SHELL}


@target_factory.reg_driver
@attr.s(eq=False)
class KdumpStrategy(Strategy):
    """Drives the board through KdumpDriver's engine: off → shell → armed."""

    bindings = {"kdump": "KdumpDriver"}

    status = attr.ib(default=Status.unknown)

    def engine(self) -> CycleEngine:
        """KdumpDriver's engine (activating the driver)."""
        self.target.activate(self.kdump)
        return self.kdump.engine()

    @never_retry
    @step(args=["status"])
    def transition(self, status: Status | str, *, step: Any) -> None:
        """Bring the board to ``status`` (``off`` needs a power driver)."""
        status = _status(status)
        if status is Status.unknown:
            raise StrategyError(f"can not transition to {status}")
        engine = self.engine()
        if status == self.status and engine.state is _ENGINE_STATE[status]:
            step.skip("nothing to do")
            return
        if status is Status.off:
            if not engine.power_control:
                raise StrategyError("can not switch the board off: no PowerProtocol driver is "
                                    "bound to KdumpConsoleDriver")
            engine.power_off()
        elif status is Status.shell:
            engine.ensure_shell()
        elif status is Status.armed:
            engine.check_armed()
        self.status = status

    @never_retry
    @step(args=["status"])
    def force(self, status: Status | str, *, step: Any) -> None:
        """Take the board to be in ``status`` without doing anything to it."""
        status = _status(status)
        if status is Status.unknown:
            raise StrategyError(f"can not force state {status}")
        self.engine().assume(_ENGINE_STATE[status])
        self.status = status

    def reset(self) -> None:
        """Forget the status, even a broken one: the next transition starts from what the
        engine knows of the board (after a crash nobody expected)."""
        if self.broken:
            clear_broken(self)
        self.status = Status.unknown


def _status(status: Status | str) -> Status:
    return status if isinstance(status, Status) else Status[status]


def clear_broken(strategy: Strategy) -> None:
    """Let a strategy that labgrid's ``never_retry`` marked broken run again.

    labgrid has no public way to do this: ``never_retry`` (labgrid/strategy/common.py) keeps
    the exception that broke a strategy in ``strategy.broken`` and refuses every call while it
    is set. This is the one place pytest-kdump writes it (test_strategy.py checks the name).
    """
    strategy.broken = None


def restart_strategy(target: Any) -> str | None:
    """Make the target's strategy start over at its next transition, after a crash nobody
    expected; returns what was done (None: no strategy, or one without an ``off`` status,
    left as it is).

    KdumpStrategy is :meth:`~KdumpStrategy.reset`; a labgrid strategy with an ``off`` status
    (ShellStrategy, UBootStrategy...) is forced ``off``, so its next transition power-cycles
    the board.
    """
    try:
        strategy = target.get_strategy()
    except NoStrategyFoundError:
        return None
    if isinstance(strategy, KdumpStrategy):
        strategy.reset()
        return "reset"
    status = getattr(strategy, "status", None)
    if not isinstance(status, enum.Enum) or "off" not in type(status).__members__:
        return None
    if strategy.broken:
        clear_broken(strategy)
    strategy.force("off")
    return "forced off"

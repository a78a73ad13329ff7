"""Saver: this project's guest init (``pytest_kdump/guest/init.sh``): QEMU guests."""

from pytest_kdump.savers import Saver

SAVER = Saver(
    name="pytest-kdump guest init",
    success=[r"pytest-kdump: DUMP-OK size=(?P<size>\d+)"],
    failure=[r"pytest-kdump: DUMP-FAILED (?P<why>[^\r\n]*)"],
    started=[r"pytest-kdump: crash kernel \S+ saving vmcore[^\r\n]*"],
)

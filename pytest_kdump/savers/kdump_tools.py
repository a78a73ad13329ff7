"""Saver: Debian's kdump-tools: ``kdump-tools: saved vmcore in /var/crash/<stamp>``."""

from pytest_kdump.savers import Saver

SAVER = Saver(
    name="Debian kdump-tools",
    success=[r"kdump-tools: saved vmcore in (?P<path>\S+)"],
    failure=[r"kdump-tools: (?P<why>failed to save vmcore[^\r\n]*)"],
    started=[r"kdump-tools: saving vmcore from kernel crash"],
)

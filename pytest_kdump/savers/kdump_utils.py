"""Saver: Fedora/RHEL kdump-utils: ``kdump: saving vmcore complete``."""

from pytest_kdump.savers import Saver

SAVER = Saver(
    name="Fedora/RHEL kdump-utils",
    success=[r"kdump: saving vmcore complete"],
    failure=[r"kdump: (?P<why>saving vmcore failed[^\r\n]*)"],
    started=[r"kdump: saving to [^\r\n]*"],
)

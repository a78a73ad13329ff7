"""Saver: Fedora/RHEL kdump-utils: ``kdump: saving vmcore complete``.

kdump.sh prints ``kdump: MSG`` on stderr and ``kdump[PID]: MSG`` through /dev/kmsg (what a
console shows, e.g. ``kdump[513]: saving vmcore failed, exitcode:1``): both are matched.
Not run here (no Debian package): the lines come from its source and a bug report's console.
"""

from pytest_kdump.savers import Saver

SAVER = Saver(
    name="Fedora/RHEL kdump-utils",
    success=[r"kdump(?:\[\d+\])?: saving vmcore complete"],
    failure=[r"kdump(?:\[\d+\])?: (?P<why>saving vmcore failed[^\r\n]*)"],
    started=[r"kdump(?:\[\d+\])?: saving to [^\r\n]*"],
    status_command="kdumpctl status 2>&1",
    status_ready=r"Kdump is operational",
    arm_advice="kdump-utils did not load the crash kernel: 'kdumpctl status', 'systemctl "
               "status kdump' and 'kdumpctl restart' on the board; check crashkernel= "
               "('kdumpctl reset-crashkernel') and /etc/kdump.conf",
    failure_advice="read kdump's lines above it: the target in /etc/kdump.conf (path, ssh, "
                   "nfs), its free space, core_collector's (makedumpfile's) error",
)

"""Saver: Debian's kdump-tools: ``kdump-tools: saved vmcore in /var/crash/<stamp>``.

Lines from kdump-tools 1.10.7 (Debian trixie) on a real crash kernel's console, where systemd
prefixes them (``kdump-tools[333]: kdump-tools: saved vmcore in /var/crash/202612061631.``);
the folder ends with a full stop, which the engine drops. After either line kdump-tools runs
``reboot -f``.
"""

from pytest_kdump.savers import Saver

SAVER = Saver(
    name="Debian kdump-tools",
    success=[r"kdump-tools: saved vmcore in (?P<path>\S+)"],
    failure=[r"kdump-tools: (?P<why>failed to save vmcore[^\r\n]*)"],
    started=[r"kdump-tools: saving vmcore from kernel crash",
             r"running makedumpfile [^\r\n]*/proc/vmcore[^\r\n]*"],
    status_command="kdump-config status 2>&1",
    status_ready=r"ready to kdump",
    arm_advice="kdump-tools did not load the crash kernel: 'systemctl status kdump-tools', "
               "'kdump-config show' and 'kdump-config load' on the board; check crashkernel= "
               "on the kernel command line and USE_KDUMP=1 in /etc/default/kdump-tools",
    failure_advice="read kdump-tools' lines above it on the console: free space in "
                   "KDUMP_COREDIR (/var/crash), makedumpfile's error, the SSH/NFS target",
)

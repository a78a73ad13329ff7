"""Saver: a user's own script in the crash kernel, the seed lab's way.

The crash kernel runs a script that streams ``makedumpfile -F -c -d 31 /proc/vmcore`` to the
host with ``nc`` (transport ``netcat``). pytest-kdump ships one
(``pytest_kdump/guest/debian/kdump-upload``, with its systemd unit); a board's own script
reports with the same three lines:

    kdump-upload: saving vmcore to HOST:PORT
    kdump-upload: saved vmcore (N bytes sent)
    kdump-upload: failed to save vmcore: WHY
"""

from pytest_kdump.savers import Saver

SAVER = Saver(
    name="kdump-upload script",
    success=[r"kdump-upload: saved vmcore \((?P<sent>\d+) bytes sent\)"],
    failure=[r"kdump-upload: (?P<why>failed to save vmcore[^\r\n]*)"],
    started=[r"kdump-upload: saving vmcore to \S+"],
    arm_advice="load the crash kernel with the upload script's unit: KdumpDriver's arm: "
               "section does it at each boot (kexec -p ... systemd.unit=kdump-upload.service "
               "kdump_upload=HOST:PORT)",
    failure_advice="the crash kernel could not stream the dump: its network (DHCP, the "
                   "host's address and port), makedumpfile's error above, nc's exit status",
)

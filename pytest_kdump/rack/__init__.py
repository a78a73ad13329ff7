"""A lab rack simulated on this machine with labgrid's own programs (``pytest-kdump rack``).

The rack is what a lab runs, on loopback: ``labgrid-coordinator``; ``labgrid-exporter``
exporting each board's serial port (the exporter starts ser2net with RFC 2217 while the place
is acquired) and power switch; places made with ``labgrid-client``. Each board is a QEMU guest
(:mod:`.boardhost`): its serial console is a host pty, as a USB-serial cable would be, and its
power is an outlet of a small HTTP power switch (labgrid's ``rest`` model) that starts and
kills that QEMU. Tests reach a board only through labgrid's RemotePlace, NetworkPowerDriver
and SerialDriver (``labgrid-envs/rack/``), as on a real rack.

:mod:`.spec` describes a rack, :mod:`.boardhost` runs its boards, :mod:`.control` brings it up
and down, :mod:`.places` acquires and releases places for a test run.
"""

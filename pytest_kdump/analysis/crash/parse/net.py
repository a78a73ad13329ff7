"""
Network Devices
---------------

Parser of crash's ``net`` (the network devices and their IP addresses): :func:`parse_net`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class NetDevice:
    """A ``net`` row: the net_device address, its name and IP addresses."""

    address: str
    name: str
    addresses: list[str] = field(default_factory=list)


_NET_ROW = re.compile(r"^([0-9a-f]{8,})\s+(\S+)\s*(.*)$")


def parse_net(text: str) -> list[NetDevice]:
    """Parse ``net`` into :class:`NetDevice` s.

    >>> parse_net("   NET_DEVICE     NAME   IP ADDRESS(ES)\\n"
    ...           "ffff8a80dcb70000  lo")
    [NetDevice(address='ffff8a80dcb70000', name='lo', addresses=[])]

    :return: the devices, in crash's order (empty for foreign text)
    """
    out = []
    for line in text.splitlines():
        if m := _NET_ROW.match(line.strip()):
            addresses = [a for a in re.split(r"[,\s]+", m.group(3)) if a]
            out.append(NetDevice(address=m.group(1), name=m.group(2), addresses=addresses))
    return out

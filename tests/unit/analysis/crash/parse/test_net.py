"""Tests of parse.net: ``net``."""

from __future__ import annotations

from pytest_kdump.analysis.crash import parse as cp
from tests.unit.analysis.crash.parse.recorded import read


def test_net() -> None:
    for dump in ("sysrq-8.0.6", "sysrq-8.0.2"):  # 8.0.2's header is narrower
        assert cp.parse_net(read(dump, "net.txt")) == [
            cp.NetDevice(address="ffff8a80dcb70000", name="lo", addresses=[])]
    text = ("   NET_DEVICE     NAME   IP ADDRESS(ES)\n"
            "ffff88003a1a4000  eth0   192.168.122.13, fe80::5054:ff:fe12:3456\n")
    assert cp.parse_net(text)[0].addresses == ["192.168.122.13", "fe80::5054:ff:fe12:3456"]
    assert cp.parse_net("net: invalid\n") == []

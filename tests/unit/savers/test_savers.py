"""Savers: how each crash-kernel set-up reports a dump saved."""

from __future__ import annotations

import re

import pytest

from pytest_kdump import detect, savers
from pytest_kdump.errors import ConfigError

RELEASE = "6.1.0-56-cloud-amd64"


def test_guest_init_saver_on_real_console(console: str) -> None:
    rec = savers.by_name("guest-init")
    hits = [(i, m) for i, p in enumerate(rec.patterns()) for m in p.finditer(console)]
    assert len(hits) == 1
    index, match = hits[0]
    assert rec.is_success(index)
    assert match.group("size") == "16042942"
    started = [m.group(0) for m in re.finditer(rec.started[0], console)]
    assert started == [f"pytest-kdump: crash kernel {RELEASE} saving vmcore to /dev/vda "
                       "(makedumpfile -c -d 31)"]
    # the crash kernel reports success after it booted
    banners = list(detect.KERNEL_BANNER_RE.finditer(console))
    assert banners[1].start() < match.start()


@pytest.mark.parametrize("name, line, success, group", [
    ("guest-init", "pytest-kdump: DUMP-OK size=123\r\n", True, ("size", "123")),
    ("guest-init", "pytest-kdump: DUMP-FAILED makedumpfile 1 no vmcore written\r\n", False,
     ("why", "makedumpfile 1 no vmcore written")),
    ("kdump-tools", "[  5.1] kdump-tools: saved vmcore in /var/crash/202611270715\n", True,
     ("path", "/var/crash/202611270715")),
    ("kdump-tools", "kdump-tools: failed to save vmcore in /var/crash\n", False,
     ("why", "failed to save vmcore in /var/crash")),
    # the Debian guest's console (kdump-tools 1.10.7, systemd's prefix; tests/qemu/test_debian.py)
    ("kdump-tools", "[   34.537856] kdump-tools[330]: kdump-tools: saved vmcore in "
                    "/var/crash/202612061641.\r\n", True, ("path", "/var/crash/202612061641.")),
    ("kdump-tools", "[   12.1] kdump-tools[333]: kdump-tools: failed to save vmcore in "
                    "/var/crash/202612061700.\r\n", False,
     ("why", "failed to save vmcore in /var/crash/202612061700.")),
    # kdump-utils' kdump.sh: "kdump: %s" on stderr (dinfo/derror)...
    ("kdump-utils", "kdump: saving vmcore complete\n", True, None),
    ("kdump-utils", "kdump: saving vmcore failed, _exitcode:1\n", False,
     ("why", "saving vmcore failed, _exitcode:1")),
    # ... and "kdump[PID]: msg" through /dev/kmsg: a Fedora CoreOS console
    # (coreos/fedora-coreos-tracker#1698)
    ("kdump-utils", "[    5.912345] kdump[513]: saving vmcore complete\r\n", True, None),
    ("kdump-utils", "[    4.812345] kdump[513]: saving vmcore failed, exitcode:1\r\n", False,
     ("why", "saving vmcore failed, exitcode:1")),
    # the script saver's upload (pytest_kdump/guest/debian/kdump-upload), a real run
    ("script", "[   41.292711] kdump-upload[317]: kdump-upload: saved vmcore (97281356 bytes "
               "sent)\r\n", True, ("sent", "97281356")),
    ("script", "kdump-upload[317]: kdump-upload: failed to save vmcore: makedumpfile | nc "
               "exited 1: \r\n", False,
     ("why", "failed to save vmcore: makedumpfile | nc exited 1: ")),
])
def test_savers(name: str, line: str, success: bool,
                     group: tuple[str, str] | None) -> None:
    rec = savers.by_name(name)
    found = [(i, m) for i, p in enumerate(rec.patterns()) if (m := p.search(line))]
    assert len(found) == 1
    index, match = found[0]
    assert rec.is_success(index) is success
    if group:
        assert match.group(group[0]) == group[1]


def test_saver_names() -> None:
    assert savers.by_name("pytest-kdump") is savers.by_name("guest-init")  # the old name
    assert [savers.by_name(n).name for n in savers.NAMES] == [
        "pytest-kdump guest init", "Debian kdump-tools", "Fedora/RHEL kdump-utils",
        "kdump-upload script"]
    with pytest.raises(ConfigError, match="unknown saver 'systemd'") as exc:
        savers.by_name("systemd")
    assert "guest-init, kdump-tools, kdump-utils, script" in exc.value.advice

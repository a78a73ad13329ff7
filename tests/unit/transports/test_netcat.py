"""The netcat transport: a host listener the crash kernel streams the dump to (real sockets on
127.0.0.1; the board's ``nc`` is played by a socket here)."""

from __future__ import annotations

import random
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_kdump import vmcore
from pytest_kdump.errors import ConfigError, PhaseTimeout, VmcoreError
from pytest_kdump.transports import FetchedDump
from pytest_kdump.transports.netcat import NetcatListener, NetcatTransport, elf_needed
from tests.helpers import PFNS, make_kdump
from tests.unit.transports.test_flattened import flat, scattered


def send(port: int, data: bytes) -> None:
    """What ``nc 127.0.0.1 PORT`` does with ``data`` on its stdin: connect, send, close."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)


def elf_core(data: bytes, *, wide: bool = True, order: str = "<") -> bytes:
    """A minimal ELF core file: the ELF header, one PT_LOAD holding ``data`` at byte 4096."""
    ident = b"\x7fELF" + bytes([2 if wide else 1, 1 if order == "<" else 2, 1]) + bytes(9)
    if wide:
        head = ident + struct.pack(order + "HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, 1,
                                   0, 0, 0)
        phdr = struct.pack(order + "IIQQQQQQ", 1, 7, 4096, 0, 0, len(data), len(data), 0)
    else:
        head = ident + struct.pack(order + "HHIIIIIHHHHHH", 4, 3, 1, 0, 52, 0, 0, 52, 32, 1,
                                   0, 0, 0)
        phdr = struct.pack(order + "IIIIIIII", 1, 4096, 0, 0, len(data), len(data), 7, 0)
    out = head + phdr
    return out + bytes(4096 - len(out)) + data


@pytest.fixture
def transport(tmp_path: Path) -> Iterator[NetcatTransport]:
    t = NetcatTransport(tmp_path / "spool")
    yield t
    t.close()


def _port(t: NetcatTransport) -> int:
    host, port = t.target()
    assert host == "10.0.2.2"  # QEMU's user network: the host as the guest sees it
    return port


def test_netcat_flattened_stream(transport: NetcatTransport, tmp_path: Path) -> None:
    dump = make_kdump(PFNS)
    port = _port(transport)
    assert transport.target()[1] == port  # prepare() is idempotent: the same listener
    send(port, flat(scattered(dump)))
    dest = tmp_path / "dest"
    fetched = transport.fetch(dest, timeout=5)
    assert fetched == FetchedDump(vmcore=dest / "vmcore", dmesg=None,
                                  status={"size": str(len(dump))})
    assert fetched.vmcore.read_bytes() == dump
    assert vmcore.check_vmcore(fetched.vmcore, fetched.expected_size).format == \
        "kdump-compressed"
    assert [p.name for p in dest.iterdir()] == ["vmcore"]
    assert list((tmp_path / "spool").iterdir()) == []  # the spooled stream is gone


def test_netcat_large_stream(transport: NetcatTransport, tmp_path: Path) -> None:
    """Megabytes, more than the socket buffers hold: sendall blocks until the listener reads."""
    big = random.Random(7).randbytes(9 << 20)
    send(_port(transport), flat([(4 << 20, big[4 << 20:]), (0, big[:4 << 20])]))
    fetched = transport.fetch(tmp_path / "dest", timeout=10)
    assert fetched.vmcore.read_bytes() == big and fetched.expected_size == len(big)


def test_netcat_cut_flattened_stream(transport: NetcatTransport, tmp_path: Path) -> None:
    stream = flat(scattered(make_kdump(PFNS)))
    cut = stream[:len(stream) - 16 - 500]  # the connection closed mid-record
    send(_port(transport), cut)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "vmcore").write_bytes(b"an earlier crash's dump")
    with pytest.raises(VmcoreError, match="end record") as exc:
        transport.fetch(dest, timeout=5)
    kept = dest / "vmcore.flat.incomplete"
    assert exc.value.phase == "fetch" and "upload was cut" in (exc.value.advice or "")
    assert str(kept) in exc.value.message and "is cut" in exc.value.message
    assert kept.read_bytes() == cut
    assert [p.name for p in dest.iterdir()] == ["vmcore.flat.incomplete"]


def test_netcat_raw_elf(transport: NetcatTransport, tmp_path: Path) -> None:
    core = elf_core(bytes(range(256)) * 40)
    send(_port(transport), core)
    fetched = transport.fetch(tmp_path / "dest", timeout=5)
    assert fetched.vmcore.read_bytes() == core
    assert fetched.status == {"size": str(len(core))} and fetched.dmesg is None
    assert vmcore.check_vmcore(fetched.vmcore, fetched.expected_size).format == "elf"


def test_netcat_cut_elf(transport: NetcatTransport, tmp_path: Path) -> None:
    core = elf_core(b"p" * 10_000)
    send(_port(transport), core[:-1000])
    dest = tmp_path / "dest"
    with pytest.raises(VmcoreError, match=r"ELF vmcore stream is cut: 13096 bytes, its program "
                                          r"headers describe 14096 \(1000 bytes missing\)"):
        transport.fetch(dest, timeout=5)
    assert (dest / "vmcore.elf.incomplete").read_bytes() == core[:-1000]
    assert not (dest / "vmcore").exists()


def test_netcat_unknown_stream(transport: NetcatTransport, tmp_path: Path) -> None:
    send(_port(transport), b"sh: makedumpfile: not found\n")
    dest = tmp_path / "dest"
    with pytest.raises(VmcoreError, match="neither makedumpfile's flattened format nor an ELF"):
        transport.fetch(dest, timeout=5)
    assert (dest / "stream.unknown.incomplete").read_bytes() == b"sh: makedumpfile: not found\n"


def test_netcat_empty_stream(transport: NetcatTransport, tmp_path: Path) -> None:
    send(_port(transport), b"")
    with pytest.raises(VmcoreError, match="sent no byte"):
        transport.fetch(tmp_path / "dest", timeout=5)
    assert list((tmp_path / "dest").iterdir()) == []


def test_netcat_no_connection(transport: NetcatTransport, tmp_path: Path) -> None:
    port = _port(transport)
    with pytest.raises(PhaseTimeout, match=f"no connection from the board within 0.3 s on "
                                           f"127.0.0.1:{port}") as exc:
        transport.fetch(tmp_path / "dest", timeout=0.3)
    assert exc.value.phase == "fetch"
    assert f"10.0.2.2:{port}" in (exc.value.advice or "")
    assert list((tmp_path / "dest").iterdir()) == []
    # the listener is closed: the board can no longer connect to it
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_netcat_stream_still_open(transport: NetcatTransport, tmp_path: Path) -> None:
    stream = flat(scattered(make_kdump(PFNS)))
    with socket.create_connection(("127.0.0.1", _port(transport)), timeout=5) as sock:
        sock.sendall(stream[:5000])
        _until(lambda: transport._listener is not None and
               transport._listener.received() == 5000)
        with pytest.raises(PhaseTimeout, match="the stream is still open after 0.3 s, 5000 "
                                               "bytes so far") as exc:
            transport.fetch(tmp_path / "dest", timeout=0.3)
    assert str(tmp_path / "dest" / "vmcore.flat.incomplete") in exc.value.message
    assert (tmp_path / "dest" / "vmcore.flat.incomplete").read_bytes() == stream[:5000]


def test_netcat_fetches_in_a_row(transport: NetcatTransport, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    for stale in ("vmcore-dmesg.txt", "vmcore.elf.incomplete"):  # an earlier fetch's
        (dest / stale).write_text("stale")
    for seed in (1, 2, 3):
        dump = make_kdump(PFNS, seed=seed)
        send(_port(transport), flat(scattered(dump)))  # target() opens a new listener
        assert transport.fetch(dest, timeout=5).vmcore.read_bytes() == dump
        assert [p.name for p in dest.iterdir()] == ["vmcore"]
    with pytest.raises(VmcoreError, match="no listener"):  # fetch closed it; no prepare()
        transport.fetch(dest, timeout=5)
    assert list(dest.iterdir()) == []


def _until(condition: Callable[[], bool], bound: float = 5.0) -> None:
    """Poll until ``condition()`` holds (fail after ``bound`` seconds)."""
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.01)


def test_listener_latest_connection_wins(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with NetcatListener() as listener:
        port = listener.start(spool)
        send(port, b"first stream")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"second")
            _until(lambda: listener.received() == 6)
            assert listener.stream_path == spool / ".stream-2.partial"
            with pytest.raises(PhaseTimeout, match="still open"):
                listener.wait(0.2)  # the first stream was replaced by the open one
            sock.sendall(b" stream")
        path = listener.wait(5)
        assert path == spool / ".stream-2.partial" and path.read_bytes() == b"second stream"
        assert listener.received() == 13
        assert [p.name for p in spool.iterdir()] == [".stream-2.partial"]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_listener_port_in_use(tmp_path: Path) -> None:
    with NetcatListener() as first:
        port = first.start(tmp_path)
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}") as exc:
            NetcatListener(port=port).start(tmp_path)
        assert exc.value.phase == "prepare"


@pytest.mark.parametrize("wide, order", [(True, "<"), (True, ">"), (False, "<"),
                                         (False, ">")])
def test_elf_needed(tmp_path: Path, wide: bool, order: str) -> None:
    path = tmp_path / "core"
    path.write_bytes(elf_core(b"d" * 1000, wide=wide, order=order))
    assert elf_needed(path) == (5096, "")
    if wide and order == "<":
        assert vmcore.elf_layout(path) == 5096  # what the vmcore checks say too
    path.write_bytes(elf_core(b"d" * 1000, wide=wide, order=order)[:60])
    needed, why = elf_needed(path)
    assert needed is None and "cut" in why
    path.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<H", 2) + bytes(100))
    assert elf_needed(path) == (None, "it is an ELF file but no core file (e_type 2)")


def test_netcat_silent_peer_is_a_cut_stream(transport: NetcatTransport, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A board reset mid-stream sends no FIN: after IDLE_LIMIT without a byte the stream ends
    there, and is judged (cut: its end record is missing) instead of waiting for ever."""
    from pytest_kdump.transports import netcat

    monkeypatch.setattr(netcat, "IDLE_LIMIT", 0.5)
    stream = flat(scattered(make_kdump(PFNS)))
    with socket.create_connection(("127.0.0.1", _port(transport)), timeout=5) as sock:
        sock.sendall(stream[:5000])  # and then nothing, the connection left open
        with pytest.raises(VmcoreError, match="end record") as exc:
            transport.fetch(tmp_path / "dest", timeout=10)
    assert exc.value.phase == "fetch"
    assert (tmp_path / "dest" / "vmcore.flat.incomplete").read_bytes() == stream[:5000]


def test_netcat_each_crash_gets_a_fresh_listener_on_the_same_port(
        transport: NetcatTransport, tmp_path: Path) -> None:
    """What an earlier, failed cycle left in the listener is not this crash's stream."""
    port = _port(transport)
    send(port, b"makedumpfile\0 an old, cut stream")
    transport.before_crash()
    assert _port(transport) == port  # the board was told this port when it was armed
    dump = make_kdump(PFNS, seed=7)
    send(port, flat(scattered(dump)))
    assert transport.fetch(tmp_path / "dest", timeout=5).vmcore.read_bytes() == dump

"""makedumpfile's flattened format (-F): checked and rebuilt as ``makedumpfile -R`` does."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from pytest_kdump import vmcore
from pytest_kdump.errors import PhaseTimeout, VmcoreError
from pytest_kdump.transports import flattened
from tests.helpers import PFNS, make_kdump


def flat(records: list[tuple[int, bytes]], *, end: bool = True, signature: bytes = b"makedumpfile",
         kind: int = 1, version: int = 1) -> bytes:
    """A flattened stream: the 4096-byte header, (offset, size, data) records, the end record."""
    head = bytearray(4096)
    head[:len(signature)] = signature
    struct.pack_into(">qq", head, 16, kind, version)
    out = bytes(head) + b"".join(struct.pack(">qq", offset, len(data)) + data
                                 for offset, data in records)
    return out + (struct.pack(">qq", -1, -1) if end else b"")


def scattered(dump: bytes) -> list[tuple[int, bytes]]:
    """``dump`` as records out of order: the tail first, the offset-0 block in the middle."""
    return [(5000, dump[5000:]), (0, dump[:4096]), (4096, dump[4096:5000])]


def _makedumpfile() -> str:
    for candidate in (shutil.which("makedumpfile"), "/usr/sbin/makedumpfile",
                      "/usr/bin/makedumpfile"):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("makedumpfile not found: install the Debian package makedumpfile", pytrace=False)


def _rearrange(stream: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """``makedumpfile -R out < stream`` (only for streams with an end record: on a cut stream
    makedumpfile -R spins until its 10-minute stdin timeout)."""
    with open(stream, "rb") as f:
        return subprocess.run([_makedumpfile(), "-R", str(out)], stdin=f, capture_output=True,
                              text=True, timeout=60)


def test_flat_unflatten_matches_makedumpfile(tmp_path: Path) -> None:
    rng = random.Random(1)
    big = rng.randbytes((4 << 20) + 12345)  # more than one copy chunk
    records = [(8 << 20, big), (0, b"KDUMP   " + rng.randbytes(4088)),
               (5000, rng.randbytes(777)),  # bytes 4096..5000 are a hole
               (30 << 20, rng.randbytes(100)),  # a 17 MiB hole before it
               (4096, rng.randbytes(10))]
    stream = tmp_path / "vmcore.flat"
    stream.write_bytes(flat(records))
    assert flattened.is_flattened(stream)

    theirs = tmp_path / "theirs"
    proc = _rearrange(stream, theirs)
    assert proc.returncode == 0 and "makedumpfile Completed." in proc.stdout + proc.stderr, proc
    ours = tmp_path / "out" / "vmcore"
    ours.parent.mkdir()
    size = flattened.unflatten(stream, ours)
    assert size == ours.stat().st_size == theirs.stat().st_size == (30 << 20) + 100
    assert ours.read_bytes() == theirs.read_bytes()
    # as sparse as makedumpfile's (same file system): the holes take no blocks
    assert ours.stat().st_blocks * 512 <= theirs.stat().st_blocks * 512 + (1 << 20)
    assert sorted(p.name for p in ours.parent.iterdir()) == ["vmcore"]  # no partial left

    found = flattened.check(stream)
    assert found == flattened.FlatCheck(
        records=5, data_bytes=sum(len(d) for _, d in records), output_size=size,
        complete=True, stream_bytes=stream.stat().st_size, problem=None)
    assert "complete" in str(found)


def test_flat_unflatten_kdump(tmp_path: Path) -> None:
    """A kdump-compressed dump sent out of order comes back whole, and passes the checks."""
    dump = make_kdump(PFNS)
    stream = tmp_path / "stream"
    stream.write_bytes(flat(scattered(dump)))
    dest = tmp_path / "vmcore"
    dest.write_bytes(b"stale" * 100_000)  # an earlier run's, larger: replaced
    assert flattened.unflatten(stream, dest, timeout=30) == len(dump)
    assert dest.read_bytes() == dump
    assert vmcore.check_vmcore(dest, len(dump)).format == "kdump-compressed"
    assert vmcore.vmcore_arch(stream) == vmcore.vmcore_arch(dest)


def test_flat_small_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flattened, "CHUNK", 7)
    dump = make_kdump(PFNS, seed=3)
    stream = tmp_path / "stream"
    stream.write_bytes(flat(scattered(dump)))
    flattened.unflatten(stream, tmp_path / "vmcore")
    assert (tmp_path / "vmcore").read_bytes() == dump


def _cut_cases() -> list[tuple[str, int, str]]:
    """(case, bytes kept of the stream below, what the problem says)."""
    # the stream below: header, record (0, 6000 bytes) at 4096, record (6000, 100) at 10112,
    # end record at 10228
    return [
        ("inside the header", 100, "inside makedumpfile's 4096-byte header"),
        ("before the first record", 4096, "ends after 4096 bytes without makedumpfile's end"),
        ("inside a record header", 4096 + 9, "a record header cut after 9 bytes"),
        ("mid-record", 4096 + 16 + 4000, "record at byte 4096 is cut: 4000 of 6000 bytes"),
        ("before the end record", 10228, "ends after 10228 bytes without makedumpfile's end"),
        ("inside the end record", 10228 + 15, "ends after 10243 bytes without makedumpfile's"),
    ]


@pytest.mark.parametrize("case, keep, says", _cut_cases(), ids=[c[0] for c in _cut_cases()])
def test_flat_cut_stream(tmp_path: Path, case: str, keep: int, says: str) -> None:
    whole = flat([(0, bytes(range(256)) * 23 + bytes(112)), (6000, b"x" * 100)])
    assert len(whole) == 10228 + 16
    stream = tmp_path / "stream"
    stream.write_bytes(whole[:keep])
    found = flattened.check(stream)
    assert not found.complete and found.problem and says in found.problem, found
    assert found.stream_bytes == keep
    assert "end record" in found.problem

    dest = tmp_path / "out" / "vmcore"
    dest.parent.mkdir()
    dest.write_bytes(b"an earlier dump")
    with pytest.raises(VmcoreError, match="end record") as exc:
        flattened.unflatten(stream, dest)
    assert exc.value.phase == "fetch" and exc.value.advice
    assert says in exc.value.message and str(stream) in exc.value.message
    assert list(dest.parent.iterdir()) == []  # neither the dump nor its partial


def test_flat_cut_figures(tmp_path: Path) -> None:
    stream = tmp_path / "stream"
    stream.write_bytes(flat([(8192, b"b" * 300), (0, b"a" * 4096)], end=False))
    found = flattened.check(stream)
    assert (found.records, found.data_bytes, found.output_size, found.complete) == (
        2, 4396, 8492, False)
    assert found.stream_bytes == 4096 + 16 + 300 + 16 + 4096
    assert "not usable" in str(found)


@pytest.mark.parametrize("start, says", [
    (b"", "the stream is empty"),
    (b"KDUMP   " + bytes(5000), "no flattened header (the stream starts with b'KDUMP"),
    (flat([(0, b"a")], signature=b"makedumpfileX"), "the signature field is b'makedumpfileX"),
    (flat([(0, b"a")], kind=2), "the flattened header has type 2, not 1"),
])
def test_flat_bad_header(tmp_path: Path, start: bytes, says: str) -> None:
    stream = tmp_path / "stream"
    stream.write_bytes(start)
    assert says in (flattened.check(stream).problem or "")
    with pytest.raises(VmcoreError, match="cannot rebuild") as exc:
        flattened.unflatten(stream, tmp_path / "vmcore")
    assert says in exc.value.message
    assert not (tmp_path / "vmcore").exists() and not (tmp_path / ".vmcore.partial").exists()


def test_flat_is_flattened(tmp_path: Path) -> None:
    path = tmp_path / "f"
    for data, expected in ((flat([(0, b"a")]), True), (make_kdump(PFNS), False),
                           (b"makedump", False), (b"", False)):
        path.write_bytes(data)
        assert flattened.is_flattened(path) is expected, data[:16]


@pytest.mark.parametrize("records, says", [
    ([(0, b"a"), (1 << 40, b"b")], "record at byte 4113 puts 1 bytes at offset 1099511627776, "
                                   "beyond 1 TiB"),
    ([((1 << 40) - 2, b"abc")], "beyond 1 TiB"),
    ([(-5, b"abc")], "record at byte 4096 is not valid (offset -5, size 3)"),
    ([(0, b"a"), (0, b"")], "record at byte 4113 is not valid (offset 0, size 0)"),
    ([], "end record but no data"),
])
def test_flat_bad_records(tmp_path: Path, records: list[tuple[int, bytes]], says: str) -> None:
    stream = tmp_path / "stream"
    stream.write_bytes(flat(records))
    with pytest.raises(VmcoreError) as exc:
        flattened.unflatten(stream, tmp_path / "vmcore")
    assert says in exc.value.message, exc.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stream"]


def test_flat_rules_are_makedumpfiles(tmp_path: Path) -> None:
    """What makedumpfile -R accepts or refuses, unflatten does too: the version is not
    checked, bytes after the end record are ignored, a zero-size record is refused."""
    stream, theirs, ours = tmp_path / "stream", tmp_path / "theirs", tmp_path / "ours"
    stream.write_bytes(flat([(0, b"abc")], version=7) + b"trailing bytes")
    assert _rearrange(stream, theirs).returncode == 0
    assert flattened.unflatten(stream, ours) == 3
    assert ours.read_bytes() == theirs.read_bytes() == b"abc"

    stream.write_bytes(flat([(0, b"abc"), (10, b"")]))
    proc = _rearrange(stream, tmp_path / "theirs2")  # makedumpfile -R keeps existing files
    assert proc.returncode != 0 and "valid end header" in proc.stdout + proc.stderr
    with pytest.raises(VmcoreError, match="not valid"):
        flattened.unflatten(stream, ours)
    assert not ours.exists()


def test_flat_timeout(tmp_path: Path) -> None:
    stream = tmp_path / "stream"
    stream.write_bytes(flat([(0, b"a" * 100)]))
    with pytest.raises(PhaseTimeout, match="did not finish within 0 s") as exc:
        flattened.unflatten(stream, tmp_path / "vmcore", timeout=0)
    assert exc.value.phase == "fetch"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stream"]

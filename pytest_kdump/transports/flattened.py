"""makedumpfile's flattened format (``makedumpfile -F``): a dump written as a stream, for pipes
such as ``nc`` or ``ssh``, and rebuilt into the dump file on the host.

The stream (makedumpfile.h/.c, all integers big-endian):

* a 4096-byte header: the 16-byte signature field ``makedumpfile`` (NUL padded), int64 type
  (1, TYPE_FLAT_HEADER), int64 version (1), zeros to 4096 bytes;
* records: a 16-byte data header {int64 offset; int64 buf_size}, then ``buf_size`` bytes that
  belong at ``offset`` of the dump file; offsets come in any order and may leave holes;
* an end record, offset = buf_size = -1 (END_FLAG_FLAT_HEADER).

The end record is the stream's only completeness mark: a stream without it was cut. The rules
are makedumpfile -R's: the signature must be NUL-terminated, the type must be 1 (the version
is not checked), a record of size 0 or a negative offset other than the end record is an
error, and bytes after the end record are ignored. Unlike ``makedumpfile -R``, which spins on
a cut stream until its 10-minute stdin timeout, :func:`unflatten` fails at once.
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pytest_kdump.errors import PhaseTimeout, VmcoreError

SIGNATURE = b"makedumpfile"
HEADER_SIZE = 4096  # MAX_SIZE_MDF_HEADER
TYPE_FLAT_HEADER = 1
END_FLAG = -1  # END_FLAG_FLAT_HEADER: the end record's offset and size
MAX_OUTPUT = 1 << 40  # no record may reach past 1 TiB of dump file
CHUNK = 4 << 20  # bytes copied at a time
_RECORD = struct.Struct(">qq")  # makedumpfile_data_header: offset, buf_size


def is_flattened(path: Path) -> bool:
    """Whether ``path`` starts with makedumpfile's flattened-format signature."""
    with open(path, "rb") as f:
        return f.read(16).startswith(SIGNATURE)


@dataclass
class FlatCheck:
    """What a walk over a flattened stream found."""

    records: int = 0  # data records (the end record not counted)
    data_bytes: int = 0  # their bytes
    output_size: int = 0  # the rebuilt file's size: the max offset + size
    complete: bool = False  # the end record was seen
    stream_bytes: int = 0  # bytes of the stream walked (through the end record when complete)
    problem: str | None = None  # what is wrong, in words; None for a good stream

    def __str__(self) -> str:
        state = "complete" if self.complete else f"not usable: {self.problem}"
        return (f"flattened stream of {self.stream_bytes} bytes, {self.records} records, "
                f"{self.data_bytes} data bytes, rebuilds {self.output_size} bytes; {state}")


def _header_problem(head: bytes) -> str | None:
    if not head:
        return "the stream is empty: no flattened header"
    if not head.startswith(SIGNATURE):
        return f"no flattened header (the stream starts with {head[:16]!r})"
    if len(head) < HEADER_SIZE:
        return (f"the stream ends after {len(head)} bytes, inside makedumpfile's "
                f"{HEADER_SIZE}-byte header, without makedumpfile's end record (cut off?)")
    if head[len(SIGNATURE)] != 0:
        return f"no flattened header (the signature field is {head[:16]!r})"
    kind, = struct.unpack_from(">q", head, 16)
    if kind != TYPE_FLAT_HEADER:
        return f"the flattened header has type {kind}, not {TYPE_FLAT_HEADER}"
    return None


def _walk(f: BinaryIO, total: int, out: BinaryIO | None = None,
          deadline: float | None = None, limit: float = 0.0) -> FlatCheck:
    """Walk the stream in ``f`` (``total`` bytes long): seek past the data, or copy it to
    ``out`` at its offsets when given. Stops at the first problem and says it."""
    res = FlatCheck()
    head = f.read(HEADER_SIZE)
    res.stream_bytes = len(head)
    res.problem = _header_problem(head)
    if res.problem:
        return res
    pos = HEADER_SIZE  # where the next record header starts
    while True:
        raw = f.read(_RECORD.size)
        if len(raw) < _RECORD.size:
            res.stream_bytes = pos + len(raw)
            cut = f" (a record header cut after {len(raw)} bytes)" if raw else ""
            res.problem = (f"the stream ends after {res.stream_bytes} bytes without "
                           f"makedumpfile's end record (cut off?){cut}")
            return res
        offset, size = _RECORD.unpack(raw)
        res.stream_bytes = pos + _RECORD.size
        if offset == END_FLAG and size == END_FLAG:
            res.complete = True
            if not res.records:
                res.problem = "the stream has makedumpfile's end record but no data"
            return res
        if offset < 0 or size <= 0:
            res.problem = (f"the record at byte {pos} is not valid (offset {offset}, size "
                           f"{size}) and is not makedumpfile's end record")
            return res
        if offset + size > MAX_OUTPUT:
            res.problem = (f"the record at byte {pos} puts {size} bytes at offset {offset}, "
                           f"beyond 1 TiB: the stream is damaged")
            return res
        have = total - res.stream_bytes
        if have < size:
            res.stream_bytes = total
            res.problem = (f"the record at byte {pos} is cut: {have} of {size} bytes, and the "
                           f"stream has no makedumpfile's end record (cut off?)")
            return res
        if out is None:
            f.seek(size, os.SEEK_CUR)
        else:
            out.seek(offset)  # holes stay sparse
            left = size
            while left:
                if deadline is not None and time.monotonic() > deadline:
                    raise PhaseTimeout(
                        f"rebuilding the dump from its flattened stream did not finish within "
                        f"{limit:g} s ({res.stream_bytes + size - left} of {total} bytes read)",
                        phase="fetch", advice="raise the fetch timeout, or check the host's "
                                              "disk (a slow or full file system)")
                data = f.read(min(left, CHUNK))
                if not data:  # the file shrank under us
                    res.problem = (f"the record at byte {pos} is cut: {size - left} of {size} "
                                   f"bytes, and the stream has no makedumpfile's end record")
                    return res
                out.write(data)
                left -= len(data)
        res.records += 1
        res.data_bytes += size
        res.output_size = max(res.output_size, offset + size)
        pos = res.stream_bytes + size


def check(path: Path) -> FlatCheck:
    """Walk the flattened stream at ``path`` without writing anything and say what it holds."""
    with open(path, "rb") as f:
        return _walk(f, os.fstat(f.fileno()).st_size)


def unflatten(src: Path, dest: Path, timeout: float | None = None) -> int:
    """Rebuild the dump file (kdump-compressed or ELF) of the flattened stream ``src`` into
    ``dest``, as ``makedumpfile -R dest < src`` does; return its size.

    The file is written as ``.<name>.partial`` in dest's folder and renamed when the end
    record was seen. On a bad or cut stream raise VmcoreError (PhaseTimeout past ``timeout``
    seconds); no file is left under dest's name, nor the partial one.
    """
    src, dest = Path(src), Path(dest)
    deadline = None if timeout is None else time.monotonic() + timeout
    partial = dest.parent / f".{dest.name}.partial"
    dest.unlink(missing_ok=True)  # a stale dump is not this stream's
    try:
        with open(src, "rb") as f, open(partial, "wb") as out:
            res = _walk(f, os.fstat(f.fileno()).st_size, out, deadline, timeout or 0.0)
        if res.problem:
            raise VmcoreError(
                f"cannot rebuild the dump from the flattened stream {src}: {res.problem}",
                phase="fetch",
                advice="the crash kernel's makedumpfile -F upload was cut or damaged: read its "
                       "console lines (makedumpfile's last messages) and check the link the "
                       "stream came over")
        partial.replace(dest)
        return res.output_size
    except OSError as exc:
        raise VmcoreError(f"cannot rebuild the dump from {src} into {dest}: "
                          f"{exc.strerror or exc}", phase="fetch",
                          advice=f"check that {dest.parent} is writable and has room for the "
                                 f"dump") from None
    finally:
        partial.unlink(missing_ok=True)

"""The ``serial`` transport: for a board with no network, the crash kernel prints the crashed
kernel's log (its dmesg) on the console and the host takes it from the console text.

No vmcore reaches the host: the result is the dmesg only (``vmcore-dmesg.txt``), and the
analysis is read from it (:mod:`pytest_kdump.analysis.dmesg`). The crash kernel sends it as
one block, gzip-compressed and base64-encoded, between two marker lines::

    kdump-dmesg: begin bytes=N total=T gzip base64
    H4sIAAAAAAAAA+1c... (base64 lines)
    kdump-dmesg: end

``bytes`` is the size of the text sent, ``total`` that of the whole log (the crash kernel
sends only the last ``bytes`` of it when it is larger than its size limit: the crash report
is at the end). Encoded, no line of the old kernel's log can be taken for a live crash or a
kernel banner, and gzip's length and CRC tell a cut or garbled block. A kernel message
printed while the block is sent is left out, whether it fills lines of its own or lands in
the middle of a base64 or marker line (the kernel writes to the UART while the shell's line
is still going out: ``...0dHV[    2.276167] tsc: Refined TSC ...``, the line's rest on the
next line). The crash kernel lowers the console log level while it sends, yet such
messages were seen in CI. The shell of a board's own crash-kernel script::

    makedumpfile --dump-dmesg /proc/vmcore /tmp/dmesg.txt
    total=$(wc -c < /tmp/dmesg.txt)
    tail -c 65536 /tmp/dmesg.txt > /tmp/dmesg.tail
    echo "kdump-dmesg: begin bytes=$(wc -c < /tmp/dmesg.tail) total=$total gzip base64"
    gzip -c /tmp/dmesg.tail | base64
    echo "kdump-dmesg: end"

This project's guest init does this with ``pytest_kdump.dump=serial`` on the kernel command
line (``pytest_kdump.serial_limit=BYTES``, default 65536: at 115200 baud the block of a
64 KiB log takes ~2 s).
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from pytest_kdump.console.kernel_lines import unsplice
from pytest_kdump.errors import VmcoreError
from pytest_kdump.transports import FetchedDump

BEGIN_RE = re.compile(r"kdump-dmesg: begin bytes=(?P<bytes>\d+)(?: total=(?P<total>\d+))?")
END_RE = re.compile(r"kdump-dmesg: end\b")
_B64_LINE = re.compile(r"[A-Za-z0-9+/]+={0,2}")
MAX_BLOCK = 16 << 20
"""Characters of encoded block the host takes at most (a 64 KiB log is ~25 000)."""
INCOMPLETE = "vmcore-dmesg.txt.incomplete"
_ADVICE = ("the crash kernel's block of the dmesg on the console was cut or garbled: see the "
           "console log around 'kdump-dmesg: begin'; lower the size limit "
           "(pytest_kdump.serial_limit=) on a slow or lossy serial line")


@dataclass
class DmesgBlock:
    """The dmesg block found in a console text, decoded.

    ``text`` is the decoded log (None when it could not be decoded: ``problem`` says why);
    ``sent`` and ``total`` the sizes the begin line gave; ``skipped`` the lines inside the
    block that were not base64 (kernel messages printed in between).
    """

    text: bytes | None
    sent: int
    total: int | None
    problem: str | None = None
    skipped: list[str] = field(default_factory=list)
    encoded_chars: int = 0
    start: int = 0
    """Where the begin line starts in the console text."""

    @property
    def truncated(self) -> bool:
        """Whether the crash kernel sent only the end of a larger log (its size limit)."""
        return self.total is not None and self.total > self.sent


def find_block(console: str) -> DmesgBlock | None:
    """Decode the last dmesg block in ``console`` (the crash kernel's console text); None when
    there is no begin line. A block without its end line, or whose bytes do not decode to
    the size the begin line gave, has ``problem`` set."""
    whole, cuts = unsplice(console)
    starts = list(BEGIN_RE.finditer(whole))
    if not starts:
        return None
    begin = starts[-1]
    sent = int(begin["bytes"])
    total = int(begin["total"]) if begin["total"] else None
    rest = whole[begin.end():]
    end = END_RE.search(rest)
    body = rest[:end.start()] if end else rest
    stop = begin.end() + (end.end() if end else len(rest))
    skipped = [line.strip() for at, cut in cuts if begin.start() < at < stop
               for line in cut.splitlines()]
    start = begin.start() + sum(len(cut) for at, cut in cuts if at <= begin.start())
    data: list[str] = []
    size = 0
    for raw in body.splitlines()[1:]:  # the first is the begin line's own end
        line = raw.strip()
        if not line:
            continue
        if not _B64_LINE.fullmatch(line):  # a kernel message on lines of its own
            skipped.append(line)
            continue
        data.append(line)
        size += len(line)
        if size > MAX_BLOCK:
            return DmesgBlock(None, sent, total, f"the block is larger than {MAX_BLOCK} "
                              "characters, far more than a dmesg", skipped, size, start)
    block = DmesgBlock(None, sent, total, None, skipped, size, start)
    if end is None:
        block.problem = (f"the block has no 'kdump-dmesg: end' line ({size} characters of "
                         "base64 received): the console output stopped in the middle")
        return block
    try:
        packed = base64.b64decode("".join(data), validate=True)
        text = zlib.decompress(packed, wbits=31)  # 31: a gzip stream, its CRC and length
    except (binascii.Error, zlib.error, ValueError) as exc:
        block.problem = f"the block ({size} characters) does not decode: {exc}"
        if skipped:
            block.problem += f" ({len(skipped)} non-base64 line(s) inside it)"
        return block
    if len(text) != sent:
        block.problem = f"the block decodes to {len(text)} bytes, its begin line says {sent}"
        return block
    block.text = text
    return block


class SerialTransport:
    """The crashed kernel's dmesg, read from the crash kernel's console output."""

    needs_board = False  # the block is on the console before the crash kernel reboots

    def __init__(self) -> None:
        self._console = ""

    def prepare(self) -> None:
        """Nothing to prepare: the console is the only path."""

    def before_crash(self, run: object = None) -> None:
        """Forget an earlier crash's console text."""
        self._console = ""

    def take_console(self, text: str) -> None:
        """The crash kernel's console text up to the saver's success line (the engine)."""
        self._console = text

    def fetch(self, dest: Path, timeout: float | None = None) -> FetchedDump:
        """Decode the block into ``dest/vmcore-dmesg.txt``; VmcoreError naming phase ``fetch``
        when there is none or it is cut (what was received is kept as
        ``vmcore-dmesg.txt.incomplete``). ``timeout`` is unused: the text is already here."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        final = dest / "vmcore-dmesg.txt"
        for stale in (final, dest / INCOMPLETE):
            stale.unlink(missing_ok=True)
        block = find_block(self._console)
        if block is None:
            raise VmcoreError(
                "the crash kernel printed no dmesg block ('kdump-dmesg: begin ...') on the "
                "console", phase="fetch",
                advice="the serial transport needs a crash kernel that prints the dmesg: "
                       "pytest_kdump.dump=serial on the guest's kernel command line, or the "
                       "lines in pytest_kdump/transports/serial.py in the board's own script")
        if block.problem is not None:
            kept = dest / INCOMPLETE
            partial = dest / f".{INCOMPLETE}.partial"
            partial.write_text(self._console[block.start:], errors="replace")
            partial.replace(kept)
            raise VmcoreError(f"{block.problem}; the received text is kept in {kept}",
                              phase="fetch", advice=_ADVICE)
        assert block.text is not None
        partial = dest / ".vmcore-dmesg.txt.partial"
        partial.write_bytes(block.text)
        partial.replace(final)
        status = {"size": str(block.sent), "dmesg_only": "1"}
        if block.total is not None:
            status["total"] = str(block.total)
        if block.skipped:
            status["skipped_lines"] = str(len(block.skipped))
        return FetchedDump(vmcore=None, dmesg=final, status=status)


TRANSPORT = SerialTransport

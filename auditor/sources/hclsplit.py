"""Reading a large Terraform configuration in forked processes, cut where blocks begin.

NOTE: a Terraform source is parsed whole before it is split by API (every API's resources refer
to the service, its products and loggers), so the parse of a large configuration ran on one core
while the others waited: a third of a second of a two-second scan of 1,000 APIs in one 6 MB
``main.tf``. Here the files are cut into pieces of about equal size, at lines where a block seems
to begin; the processes take pieces from a queue, read them and send the blocks back. A cut is
trusted only when the range before it ends exactly there: the reader keeps nothing between
top-level blocks, so the blocks are then those a read of the whole file gives. A file with any
range that does not end where it should (a cut inside a heredoc, a file the quick reader does not
read) is left to the caller, which reads it whole as before.
"""

from __future__ import annotations

import marshal
import os
import pickle
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from auditor import parallel

T = TypeVar("T")

#: Below this many characters in all, a fork costs more than it saves.
MIN_CHARS = 1 << 20
#: Pieces per process: the smaller they are, the closer the processes end (a piece of a 6 MB
#: file read in two processes takes about 20 ms); one byte in the queue names each.
_PIECES_PER_WORKER = 12
_MAX_PIECES = 255
_MAX_WORKERS = 32
#: The end of a block (a closing brace alone on its line), blank lines, and a line that looks like
#: the header of the next block (``resource "type" "name" {``): the cut is at that line.
_CUT = re.compile(
    r"\n\}[ \t]*\n(?:[ \t]*\n)*(?=[A-Za-z_][A-Za-z0-9_-]*(?:[ \t]+\"[^\"\n]*\")*[ \t]*\{[ \t]*\n)"
)

#: A text (by index), and the start and end of a range of it.
Range = tuple[int, int, int]


def plan(texts: Sequence[str], pieces: int) -> list[list[Range]]:
    """``pieces`` lists of consecutive ranges of about equal size, covering every text in
    order; a text is cut only where a block seems to begin (a piece may be empty)."""
    total = sum(len(t) for t in texts)
    bounds = [total * k // pieces for k in range(1, pieces)]
    groups: list[list[Range]] = [[] for _ in range(pieces)]
    g = offset = 0
    for i, text in enumerate(texts):
        pos = 0
        while g < len(bounds) and bounds[g] < offset + len(text):
            want = bounds[g] - offset
            if want <= pos:  # this piece is full already: it ends where the last one did
                cut = pos
            else:
                m = _CUT.search(text, want)
                cut = m.end() if m else len(text)
            if cut > pos:
                groups[g].append((i, pos, cut))
                pos = cut
            g += 1
        if pos < len(text):
            groups[g].append((i, pos, len(text)))
        offset += len(text)
    return groups


def parse(
    texts: Sequence[str],
    workers: int,
    read: Callable[[str, int, int, int], list[T] | None],
    meanwhile: Callable[[], object] | None = None,
) -> list[list[T] | None]:
    """For each text, its blocks read in up to ``workers`` processes by ``read(text, start,
    stop, lines)`` (the blocks from ``start`` that end exactly at ``stop``, ``lines`` being the
    number of lines before ``start``; or None); None for a text to be read whole by the caller
    (all of them when a split does not pay off). ``meanwhile()`` is called once, here, before
    this process reads its share: work of the caller's that the other processes need not wait
    for.

    NOTE: the texts are cut into pieces handed out from a queue (a pipe holding one byte per
    piece: a read of one byte from a pipe takes it from every other reader), so a process that
    starts late (this one, after ``meanwhile``: 0.1 s of imports) or runs slowly reads fewer.
    The other processes send each piece's blocks as soon as they are read, and this one takes
    them in between its own pieces: sent at the end, the blocks of half a 6 MB file took 0.07 s
    to write and read while every process waited.
    """
    if workers <= 1 or sum(len(t) for t in texts) < MIN_CHARS or not parallel.can_fork():
        if meanwhile is not None:
            meanwhile()
        return [None] * len(texts)
    groups = plan(texts, min(_MAX_PIECES, workers * _PIECES_PER_WORKER))
    # Three pipes a process: no more processes than pieces, nor than file descriptors allow.
    workers = min(workers, len(groups), _MAX_WORKERS)
    before: dict[Range, int] = {}
    text_of = lines = pos = -1
    for r in (r for group in groups for r in group):  # in the order of the texts
        if r[0] != text_of:
            text_of, lines, pos = r[0], 0, 0
        lines += texts[text_of].count("\n", pos, r[1])
        pos = r[1]
        before[r] = lines

    def attempt(r: Range) -> list[T] | None:
        try:
            return read(texts[r[0]], r[1], r[2], before[r])
        except Exception:  # noqa: BLE001 - the file is read whole by the caller, which reports it
            return None

    def pieces() -> Iterator[tuple[int, list[list[T] | None]]]:
        while piece := os.read(queue, 1):
            yield piece[0], [attempt(r) for r in groups[piece[0]]]

    def there(w: int) -> None:
        for i, (inlet, outlet) in enumerate(channels):
            os.close(inlet)
            if i != w:
                os.close(outlet)
        out = channels[w][1]
        for piece, blocks in pieces():
            _send(out, piece, blocks)
        os.close(out)

    def here() -> dict[int, list[list[T] | None]]:
        for _, outlet in channels:  # the senders' ends: each sender's end closes with it
            os.close(outlet)
            held.remove(outlet)
        inbox = _Inbox([inlet for inlet, _ in channels])
        if meanwhile is not None:
            meanwhile()
        for piece, blocks in pieces():
            inbox.read_by[piece] = blocks
            inbox.take(wait=False)
        inbox.take(wait=True)
        return inbox.read_by

    queue, fill = os.pipe()
    held = [queue]  # what this process closes when done
    channels: list[tuple[int, int]] = []
    try:
        try:
            os.write(fill, bytes(range(len(groups))))
        finally:
            os.close(fill)
        for _ in range(workers - 1):
            channels.append(_channel())
            held += channels[-1]
        _, read_by = parallel.fork_map(there, workers - 1, meanwhile=here)
    except parallel.WorkerError:
        # A process ended without sending its pieces (killed, out of memory): the caller
        # reads every text whole, as a scan in one process would.
        return [None] * len(texts)
    finally:
        for fd in held:
            os.close(fd)
    out: list[list[T] | None] = [[] for _ in texts]
    for g, group in enumerate(groups):
        # NOTE: a piece no process sent means a worker failed, which fork_map raised.
        for (i, _, _), blocks in zip(group, (read_by or {})[g], strict=True):
            done = out[i]
            if blocks is None or done is None:
                out[i] = None
            else:
                done.extend(blocks)
    return out


#: What precedes a piece's blocks in a channel: how they are written (marshal or pickle), the
#: piece, and their length in bytes.
_HEADER = struct.Struct("<BII")
_MARSHAL, _PICKLE = 0, 1


def _channel() -> tuple[int, int]:
    """A pipe for one process's pieces, as large as the system allows an unprivileged process
    (1 MiB on Linux: a few pieces), so the sender rarely waits for this one to take them."""
    inlet, outlet = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(outlet, fcntl.F_SETPIPE_SZ, 1 << 20)
    except (ImportError, AttributeError, OSError):
        pass  # the default size works, with more waiting
    return inlet, outlet


def _send(fd: int, piece: int, blocks: Any) -> None:
    # NOTE: blocks are plain data, which marshal writes and reads in half the time pickle takes;
    # anything else is pickled.
    try:
        kind, data = _MARSHAL, marshal.dumps(blocks)
    except ValueError:
        kind, data = _PICKLE, pickle.dumps(blocks, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(kind, piece, len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


class _Inbox:
    """The pieces other processes send, taken as they come."""

    def __init__(self, fds: list[int]) -> None:
        self.read_by: dict[int, Any] = {}
        self.open = {fd: bytearray() for fd in fds}
        for fd in fds:
            os.set_blocking(fd, False)

    def take(self, *, wait: bool) -> None:
        """Take what has come (with ``wait``: everything, until every sender is done)."""
        for fd in list(self.open):
            if wait:
                os.set_blocking(fd, True)
            buffer = self.open[fd]
            while True:
                try:
                    chunk = os.read(fd, 1 << 20)
                except BlockingIOError:
                    break
                if not chunk:
                    del self.open[fd]
                    break
                buffer += chunk
                self._unpack(buffer)

    def _unpack(self, buffer: bytearray) -> None:
        while len(buffer) >= _HEADER.size:
            kind, piece, size = _HEADER.unpack_from(buffer)
            end = _HEADER.size + size
            if len(buffer) < end:
                return
            data = bytes(buffer[_HEADER.size : end])
            del buffer[:end]
            self.read_by[piece] = marshal.loads(data) if kind == _MARSHAL else pickle.loads(data)

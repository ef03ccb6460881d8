"""Reading a large Terraform configuration in forked processes, cut where blocks begin.

NOTE: a Terraform source is parsed whole before it is split by API (every API's resources refer
to the service, its products and loggers), so the parse of a large configuration ran on one core
while the others waited: a third of a second of a two-second scan of 1,000 APIs in one 6 MB
``main.tf``. Here the files are cut into ranges of about equal size, at lines where a block seems
to begin; each process reads its ranges and sends the blocks back. A cut is trusted only when the
range before it ends exactly there: the reader keeps nothing between top-level blocks, so the
blocks are then those a read of the whole file gives. A file with any range that does not end
where it should (a cut inside a heredoc, a file the quick reader does not read) is left to the
caller, which reads it whole as before.
"""

from __future__ import annotations

import marshal
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from auditor import parallel

T = TypeVar("T")

#: Below this many characters in all, a fork costs more than it saves.
MIN_CHARS = 1 << 20
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
    read: Callable[[str, int, int], list[T] | None],
) -> list[list[T] | None]:
    """For each text, its blocks read in up to ``workers`` processes by ``read(text, start,
    stop)`` (the blocks from ``start`` that end exactly at ``stop``, or None); None for a text to
    be read whole by the caller (all of them when a split does not pay off)."""
    if workers <= 1 or sum(len(t) for t in texts) < MIN_CHARS or not parallel.can_fork():
        return [None] * len(texts)
    groups = plan(texts, workers)

    def attempt(text: str, start: int, stop: int) -> list[T] | None:
        try:
            return read(text, start, stop)
        except Exception:  # noqa: BLE001 - the file is read whole by the caller, which reports it
            return None

    def run(group: list[Range]) -> list[list[T] | None]:
        return [attempt(texts[i], start, stop) for i, start, stop in group]

    def there(w: int) -> bytes | list[list[T] | None]:
        blocks = run(groups[w + 1])
        # NOTE: blocks are plain data, which marshal writes and reads in half the time pickle
        # takes (a tenth of the parse at 1,000 APIs); anything else is pickled as usual.
        try:
            return marshal.dumps(blocks)
        except ValueError:
            return blocks

    rest, first = parallel.fork_map(there, workers - 1, meanwhile=lambda: run(groups[0]))
    sent = [marshal.loads(r) if isinstance(r, bytes) else r for r in rest]
    out: list[list[T] | None] = [[] for _ in texts]
    for group, results in zip(groups, [first or [], *sent], strict=True):
        for (i, _, _), blocks in zip(group, results, strict=True):
            done = out[i]
            if blocks is None or done is None:
                out[i] = None
            else:
                done.extend(blocks)
    return out

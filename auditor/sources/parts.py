"""Loading a source in parts, one per process, and the sources that can be loaded that way.

NOTE: a large scan spends a third of its time reading and parsing, and parsed lxml trees cannot
be sent between processes, so :mod:`auditor.partition` gives every process a :class:`Part`: the
service level (global policy, products, fragments, backends, diagnostics: few documents) plus
its share of the APIs. An APIOps tree is split by API folder before anything is read; an IaC
source is read once (the parse is shared by the forked processes) and split before its policies
are parsed.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from auditor.model import Estate

#: Slots per worker in the cycle that shares APIs out; part 0 takes one slot more than the rest.
_SLOTS = 20


#: An API as parts name it: its workspace (None outside one) and its name.
ApiKey = tuple[str | None, str]


@dataclass(frozen=True)
class Part:
    """Which APIs a partial load keeps: a share of ``count``, numbered ``index``.

    APIOps folders are numbered in reading order, which is sorted. IaC resources are shared out
    by their API's rank in the ``roster`` (every API the source declares, sorted): each process
    evaluates the source's API resources first and so computes the same roster (the build
    checks it). An API missing from the roster (a policy for an API nobody declares) goes by a
    checksum of its name. Either way every process agrees on the split.

    NOTE: part 0 is loaded by the process that merges. The others still have to send their
    results when done (writing them takes about a twelfth of the time their audit took, and the
    merging process meanwhile frees its own documents), so it takes a twentieth more APIs than
    each of them: measured at 1,000 APIs, the results were then ready when it was. A checksum
    alone would share APIs out unevenly (by 489 to 511 of 1,000 in the benchmark, a twentieth
    of a process's audit time).
    """

    index: int
    count: int
    roster: Mapping[ApiKey, int] | None = field(default=None, compare=False)

    def has(self, folder_number: int) -> bool:
        """True when this part reads the API folder with that number."""
        return self._owner(folder_number) == self.index

    def has_api(self, workspace: str | None, api: str) -> bool:
        """True when this part keeps the API ``api`` (of ``workspace``, if any)."""
        rank = None if self.roster is None else self.roster.get((workspace, api))
        if rank is None:
            rank = zlib.crc32(f"{workspace or ''}/{api}".encode())
        return self._owner(rank) == self.index

    def _owner(self, number: int) -> int:
        # Every part in turn, then part 0 once more: a cycle of _SLOTS * count + 1 numbers.
        slot = number % (_SLOTS * self.count + 1)
        return slot % self.count if slot < _SLOTS * self.count else 0


def roster(apis: Iterable[ApiKey]) -> dict[ApiKey, int]:
    """The rank of each API in the sorted list of ``apis`` (see :class:`Part`)."""
    keys = sorted(set(apis), key=lambda k: (k[0] or "", k[0] is not None, k[1]))
    return {key: rank for rank, key in enumerate(keys)}


class WholeOnly(Exception):
    """A part that cannot be loaded as the whole source would be (a limit met only by the
    process that evaluates one API's resources): the source is to be loaded whole."""


class Splittable(Protocol):
    """A source read as far as it can be before splitting (see the module note)."""

    def api_count(self) -> int:
        """How many APIs (revisions included) the source declares: is a split worth it?"""
        ...

    def estate(self, part: Part | None = None) -> Estate:
        """The estate, or for a ``part`` the service level and that share of the APIs (raises
        :class:`WholeOnly` when that share cannot be told apart from the rest)."""
        ...

"""The effective policy of one operation on one route: the statements that actually run.

The chain is global -> workspace -> product -> API -> operation. In each section a document
includes its parent's statements only where it has ``<base />``; a section without ``<base />``
drops them, and a missing section in a present document drops them too (APIM keeps only what the
child declares). A missing document at a scope is transparent (as if every section were
``<base />``). Fragments are inlined where ``<include-fragment>`` stands, also inside ``choose``.
Statements inside ``choose`` branches are conditional; statements after an unconditional
``return-response`` never run. Every statement keeps its origin (scope, file, line).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, cast

from lxml import etree

from auditor.model import Location
from auditor.policy import SECTIONS, PolicyDoc, local_name

#: Policies whose children run unconditionally as part of the parent flow.
CONTAINERS = frozenset({"retry", "limit-concurrency", "wait"})


@dataclass(eq=False)
class Stmt:
    """One effective statement, with its origin and the conditions it runs under."""

    el: etree._Element
    section: str
    scope: str
    doc: PolicyDoc
    conditions: tuple[str, ...]
    reachable: bool = True
    branches: tuple[Branch, ...] = ()
    children: tuple[Stmt, ...] = ()
    fragment: str | None = None
    """The fragment id when the statement was inlined from a fragment."""
    via: Location | None = None
    """For an inlined statement, where its ``<include-fragment>`` stands."""

    @property
    def origin(self) -> Location:
        """Where the statement enters this scope: the include for fragments, else itself."""
        return self.via or self.location

    tag: str = field(init=False)
    """The policy name (element tag)."""

    def __post_init__(self) -> None:
        self.tag = local_name(self.el)

    @property
    def location(self) -> Location:
        """File and line of the statement."""
        return self.doc.location(self.el)

    @property
    def conditional(self) -> bool:
        """True when the statement runs only on some branch."""
        return bool(self.conditions)


@dataclass(eq=False)
class Branch:
    """One ``when`` (with its condition) or the ``otherwise`` (condition ``None``) of a choose."""

    condition: str | None
    stmts: tuple[Stmt, ...]
    location: Location


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that makes the effective policy uncertain (unreadable document, lost fragment)."""

    message: str
    location: Location
    blocking: bool = False
    """A defect of the estate (a missing fragment, an invalid document), reported as an error.
    Unreadable documents are reported by the engine already; limits of the source are not."""


@dataclass(frozen=True, slots=True)
class Drop:
    """Parent statements of a section dropped because a child document has no ``<base />``."""

    section: str
    dropped_by: Location
    dropped: tuple[tuple[str, str], ...]
    """(tag, scope) of the dropped parent statements, branches included."""


T = TypeVar("T")


def memoized(memo: MutableMapping[Any, Any], key: Hashable, compute: Callable[[], T]) -> T:
    """``memo[key]``, computed by ``compute()`` the first time (a route's or an operation's
    memo: the policy does not change during a run)."""
    if key in memo:
        return cast(T, memo[key])
    memo[key] = value = compute()
    return value


@dataclass(eq=False)
class Effective:
    """The effective policy of one (operation, route)."""

    sections: dict[str, tuple[Stmt, ...]]
    problems: tuple[Problem, ...] = ()
    drops: tuple[Drop, ...] = ()
    docs: tuple[PolicyDoc, ...] = ()
    dead: list[Stmt] = field(default_factory=list)
    memo: dict[tuple[object, ...], object] = field(default_factory=dict)
    """Per-route cache for checks (traced payloads); the policy does not change during a run."""
    shared: dict[tuple[object, ...], object] | None = None
    """Cache shared by the routes of one API (the ``shared`` of :func:`build_effective`), for
    results that depend on the statements themselves, not on the route."""
    _flat: dict[tuple[str | None, bool], list[Stmt]] = field(default_factory=dict)

    def walk(self, section: str | None = None, *, reachable_only: bool = True) -> Iterator[Stmt]:
        """Every statement (branches and containers included), in document order."""
        key = (section, reachable_only)
        flat = self._flat.get(key)
        if flat is None:
            flat = []
            if section is None:
                for name in SECTIONS:
                    flat += self.walk(name, reachable_only=reachable_only)
            else:
                _flatten(self.sections.get(section, ()), reachable_only, flat)
            self._flat[key] = flat
        return iter(flat)

    def find(self, *tags: str, section: str | None = None) -> list[Stmt]:
        """Reachable statements with one of the given tags."""
        wanted = set(tags)
        return [s for s in self.walk(section) if s.tag in wanted]


def _flatten(stmts: Sequence[Stmt], reachable_only: bool, out: list[Stmt]) -> None:
    for stmt in stmts:
        if reachable_only and not stmt.reachable:
            continue
        out.append(stmt)
        if stmt.branches:
            for branch in stmt.branches:
                _flatten(branch.stmts, reachable_only, out)
        if stmt.children:
            _flatten(stmt.children, reachable_only, out)


class _Builder:
    def __init__(
        self,
        chain: Sequence[PolicyDoc | None],
        fragments: Mapping[str, PolicyDoc],
        fragments_known: bool,
        shared: dict[tuple[object, ...], object] | None = None,
        outer: dict[tuple[object, ...], object] | None = None,
        outer_levels: int = 0,
    ) -> None:
        self.chain = chain
        self.fragments = fragments
        self.fragments_known = fragments_known
        self.problems: list[Problem] = []
        self.drops: list[Drop] = []
        self.docs: list[PolicyDoc] = []
        self.shared = shared
        self.outer = outer
        self.outer_levels = outer_levels
        ids = [id(d) for d in chain]
        self._prefixes = [tuple(ids[: i + 1]) for i in range(len(ids))]

    def section(self, name: str, level: int) -> list[Stmt]:
        """Resolved statements of a section at chain position ``level`` (including parents)."""
        if level < 0:
            return []
        if self.shared is None or level == len(self.chain) - 1:
            return self._section(name, level)
        store = self.outer if self.outer is not None and level < self.outer_levels else self.shared
        # NOTE: the parents of every operation of an API resolve to the same statements; they
        # are expanded once and shared. Shared statements are never changed: reachability is
        # marked on copies, and only where a statement does not run (see _marked).
        key = (name, self.fragments_known, id(self.fragments), *self._prefixes[level])
        hit = store.get(key)
        if not isinstance(hit, _Resolved):
            problems, drops, docs = len(self.problems), len(self.drops), len(self.docs)
            stmts = self._section(name, level)
            hit = _Resolved(stmts, self.problems[problems:], self.drops[drops:], self.docs[docs:])
            store[key] = hit
            return list(stmts)
        self.problems.extend(hit.problems)
        self.drops.extend(hit.drops)
        self.docs.extend(d for d in hit.docs if d not in self.docs)
        return list(hit.stmts)

    def _section(self, name: str, level: int) -> list[Stmt]:
        doc = self.chain[level]
        if doc is None:
            return self.section(name, level - 1)
        if doc not in self.docs:
            self.docs.append(doc)
        if not doc.ok or doc.root is None:
            verb = "is not visible" if doc.unseen else "cannot be read"
            self.problems.append(Problem(f"{doc.scope} policy {verb}: {doc.error}", doc.location()))
            return []
        if doc.root.tag != "policies":
            self._problem(
                f"{doc.scope} policy has a <{doc.root.tag!s}> root, not <policies>", doc, doc.root
            )
            return []
        sec = doc.section(name)
        if sec is None:
            self._record_drop(name, level, doc.location())
            return []
        if not doc.has_base(name):
            self._record_drop(name, level, doc.location(sec))
        return self.expand(sec, _At(name, doc, level, doc.scope))

    def _record_drop(self, name: str, level: int, where: Location) -> None:
        """Note which parent statements a section without <base /> drops.

        The dropped statements never run, so what goes wrong while resolving them (a missing
        fragment, an unreadable parent) must not make the effective policy uncertain.
        """
        problems, drops = len(self.problems), len(self.drops)
        parent = self.section(name, level - 1)
        del self.problems[problems:]
        del self.drops[drops:]
        if parent:
            self.drops.append(Drop(name, where, _tags(parent)))

    def expand(self, parent: etree._Element, at: _At) -> list[Stmt]:
        """The statements under ``parent`` (a section, branch, container or fragment root)."""
        out: list[Stmt] = []
        for el in parent:
            tag = local_name(el)
            if not tag:
                continue
            if tag == "base":
                if at.doc.scope == "fragment" or at.fragment is not None:
                    self._problem("<base /> inside a fragment is not allowed", at.doc, el)
                else:
                    parent_stmts = self.section(at.section, at.level - 1)
                    out.extend(_with_conditions(parent_stmts, at.conditions))
                continue
            if tag == "include-fragment":
                out.extend(self.include(el, at))
                continue
            stmt = Stmt(
                el, at.section, at.scope, at.doc, at.conditions, fragment=at.fragment, via=at.via
            )
            if tag == "choose":
                stmt.branches = tuple(self.branches(el, at))
            elif tag in CONTAINERS:
                stmt.children = tuple(self.expand(el, at))
            out.append(stmt)
        return out

    def _problem(self, message: str, doc: PolicyDoc, el: etree._Element) -> None:
        self.problems.append(Problem(message, doc.location(el), blocking=True))

    def include(self, el: etree._Element, at: _At) -> list[Stmt]:
        """A fragment's statements in place of its ``<include-fragment>``."""
        fid = el.get("fragment-id") or ""
        frag = self.fragments.get(fid)
        if frag is None:
            why = (
                "is not in this source"
                if self.fragments_known
                else "cannot be resolved: this source does not show fragments"
            )
            self.problems.append(
                Problem(f"fragment '{fid}' {why}", at.doc.location(el), self.fragments_known)
            )
            return []
        if frag not in self.docs:
            self.docs.append(frag)
        if not frag.ok or frag.root is None:
            verb = "is not visible" if frag.unseen else "cannot be read"
            self.problems.append(Problem(f"fragment '{fid}' {verb}: {frag.error}", frag.location()))
            return []
        if frag.root.tag != "fragment":
            self._problem(
                f"fragment '{fid}' has a <{frag.root.tag!s}> root, not <fragment>", frag, frag.root
            )
            return []
        if at.fragment is not None:
            # NOTE: APIM does not allow a fragment to include another fragment; nothing runs.
            self._problem(
                f"fragment '{fid}' is included from inside a fragment (APIM does not allow it)",
                at.doc,
                el,
            )
            return []
        # NOTE: _At is built, not dataclasses.replace()d (which reads the fields each time):
        # every fragment include and choose branch of every API makes one.
        via = at.doc.location(el)
        return self.expand(
            frag.root, _At(at.section, frag, at.level, at.scope, at.conditions, fid, via)
        )

    def branches(self, el: etree._Element, at: _At) -> Iterator[Branch]:
        """The when/otherwise branches of a choose, each with the conditions it runs under."""
        previous: list[str] = []
        for child in el:
            tag = local_name(child)
            if tag not in ("when", "otherwise"):
                continue
            negated = tuple(f"not ({p})" for p in previous)
            if tag == "when":
                cond: str | None = child.get("condition") or ""
                inner = (*at.conditions, *negated, cond or "")
                previous.append(cond or "")
            else:
                cond = None
                inner = (*at.conditions, *negated) if previous else (*at.conditions, "otherwise")
            within = _At(at.section, at.doc, at.level, at.scope, inner, at.fragment, at.via)
            stmts = self.expand(child, within)
            yield Branch(cond, tuple(stmts), at.doc.location(child))


@dataclass(slots=True, eq=False)
class _At:
    """Where the builder stands: the section, document, branch conditions and scope level.
    Not changed once made (not frozen: see :class:`auditor.engine.Finding`; 30,000 are made
    for 500 APIs)."""

    section: str
    doc: PolicyDoc
    level: int
    scope: str
    conditions: tuple[str, ...] = ()
    fragment: str | None = None
    via: Location | None = None


@dataclass(frozen=True, slots=True)
class _Resolved:
    stmts: list[Stmt]
    problems: list[Problem]
    drops: list[Drop]
    docs: list[PolicyDoc]


def _with_conditions(stmts: list[Stmt], conditions: tuple[str, ...]) -> list[Stmt]:
    if not conditions:
        return stmts
    return [_recondition(s, conditions) for s in stmts]


def _recondition(stmt: Stmt, conditions: tuple[str, ...]) -> Stmt:
    return Stmt(
        stmt.el,
        stmt.section,
        stmt.scope,
        stmt.doc,
        (*conditions, *stmt.conditions),
        stmt.reachable,
        tuple(
            Branch(b.condition, tuple(_recondition(s, conditions) for s in b.stmts), b.location)
            for b in stmt.branches
        ),
        tuple(_recondition(s, conditions) for s in stmt.children),
        stmt.fragment,
        stmt.via,
    )


def _tags(stmts: Sequence[Stmt]) -> tuple[tuple[str, str], ...]:
    every: list[Stmt] = []
    _flatten(stmts, False, every)
    return tuple(dict.fromkeys((s.tag, s.scope) for s in every))


def terminates(stmts: Sequence[Stmt]) -> bool:
    """True when the sequence always ends the request (an unconditional ``return-response``)."""
    for stmt in stmts:
        if stmt.tag == "return-response":
            return True
        if (
            stmt.branches
            and any(b.condition is None for b in stmt.branches)
            and all(terminates(b.stmts) for b in stmt.branches)
        ):
            return True
    return False


def _marked(stmts: Sequence[Stmt], dead: list[Stmt], alive: bool = True) -> tuple[list[Stmt], bool]:
    """The statements with those after a terminating statement marked unreachable, and whether
    flow continues. Statements whose reachability does not change are returned as they are."""
    out: list[Stmt] = []
    for stmt in stmts:
        if not alive:
            out.append(_dead_copy(stmt, dead))
            continue
        branches = stmt.branches
        children = stmt.children
        changed = not stmt.reachable
        if branches:
            marked = [(b, _marked(b.stmts, dead)[0]) for b in branches]
            if any(not _same(b.stmts, new) for b, new in marked):
                changed = True
                branches = tuple(Branch(b.condition, tuple(new), b.location) for b, new in marked)
        if children:
            new_children = _marked(children, dead)[0]
            if not _same(children, new_children):
                changed = True
                children = tuple(new_children)
        if changed:
            stmt = replace(stmt, reachable=True, branches=branches, children=children)
        out.append(stmt)
        if stmt.tag == "return-response" or (stmt.branches and terminates([stmt])):
            alive = False
    return out, alive


def _same(old: Sequence[Stmt], new: Sequence[Stmt]) -> bool:
    return all(a is b for a, b in zip(old, new, strict=True))


def _dead_copy(stmt: Stmt, dead: list[Stmt]) -> Stmt:
    """A copy of the statement (and everything under it) marked unreachable, listed in order."""
    copy = replace(stmt, reachable=False, branches=(), children=())
    dead.append(copy)
    copy.branches = tuple(
        Branch(b.condition, tuple(_dead_copy(s, dead) for s in b.stmts), b.location)
        for b in stmt.branches
    )
    copy.children = tuple(_dead_copy(s, dead) for s in stmt.children)
    return copy


def build_effective(
    chain: Sequence[PolicyDoc | None],
    fragments: Mapping[str, PolicyDoc],
    *,
    fragments_known: bool = True,
    shared: dict[tuple[object, ...], object] | None = None,
    outer: dict[tuple[object, ...], object] | None = None,
    outer_levels: int = 0,
) -> Effective:
    """Compute the effective policy for a scope chain ordered from global to operation.

    ``shared`` (one dict per API, say) lets chains with common parents reuse their resolution.
    ``outer`` (one dict per service, say) does the same for the first ``outer_levels`` levels of
    the chain (global, workspace, product): those resolve alike for every API. Both hold ids of
    the chain's documents, so they must not outlive them.
    """
    builder = _Builder(chain, fragments, fragments_known, shared, outer, outer_levels)
    sections = {name: builder.section(name, len(chain) - 1) for name in SECTIONS}
    dead: list[Stmt] = []
    sections["inbound"], alive = _marked(sections["inbound"], dead)
    # NOTE: a return-response in inbound ends the pipeline: backend and outbound never run.
    for name in ("backend", "outbound"):
        sections[name], alive = _marked(sections[name], dead, alive)
    sections["on-error"] = _marked(sections["on-error"], dead)[0]
    problems = tuple(dict.fromkeys(builder.problems))
    return Effective(
        {k: tuple(v) for k, v in sections.items()},
        problems,
        tuple(builder.drops),
        tuple(builder.docs),
        dead,
        shared=shared,
    )

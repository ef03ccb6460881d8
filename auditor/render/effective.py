"""The effective policy of one operation, one line per statement with its origin.

Like the portal's "calculate effective policy", but every line says which scope and file:line it
comes from, which branch it runs under, and whether it can run at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from lxml import etree

from auditor.effective import Effective, Stmt
from auditor.policy import SECTIONS

_SHOWN_ATTRS = 3
_MAX_VALUE = 60


@dataclass(frozen=True, slots=True)
class Line:
    """One rendered line of the effective policy."""

    depth: int
    origin: str
    """``scope`` or ``scope/fragment`` the statement comes from; empty for structure lines."""
    location: str
    text: str
    reachable: bool = True


def _short(value: str) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= _MAX_VALUE else flat[: _MAX_VALUE - 3] + "..."


def _tag(el: etree._Element) -> str:
    attrs = [f'{k}="{_short(str(v))}"' for k, v in list(el.attrib.items())[:_SHOWN_ATTRS]]
    more = " ..." if len(el.attrib) > _SHOWN_ATTRS else ""
    return "<" + " ".join([str(el.tag), *attrs]) + more + ">"


def _lines(stmts: Sequence[Stmt], depth: int) -> Iterator[Line]:
    for stmt in stmts:
        origin = stmt.scope + (f"/{stmt.fragment}" if stmt.fragment else "")
        text = _tag(stmt.el) + ("" if stmt.reachable else "   (never runs)")
        yield Line(depth, origin, str(stmt.location), text, stmt.reachable)
        for branch in stmt.branches:
            head = (
                f"when {_short(branch.condition)}" if branch.condition is not None else "otherwise"
            )
            yield Line(depth + 1, "", str(branch.location), head, stmt.reachable)
            yield from _lines(branch.stmts, depth + 2)
        yield from _lines(stmt.children, depth + 1)


def lines(eff: Effective) -> list[Line]:
    """Every section's statements, in run order, with structure lines for sections and branches."""
    out: list[Line] = []
    for section in SECTIONS:
        out.append(Line(0, "", "", f"<{section}>"))
        out.extend(_lines(eff.sections.get(section, ()), 1))
    return out


def render(eff: Effective, title: str) -> str:
    """Plain text: origin and file:line columns, then the indented statement."""
    rows = lines(eff)
    width_origin = max([len(r.origin) for r in rows] + [6])
    width_loc = max([len(r.location) for r in rows] + [8])
    out = [title, ""]
    out.extend(
        f"  {r.origin:<{width_origin}}  {r.location:<{width_loc}}  "
        f"{'  ' * r.depth}{r.text}".rstrip()
        for r in rows
    )
    if eff.drops:
        out += ["", "Dropped parent statements (a section without <base />):"]
        out += [
            f"  <{d.section}> at {d.dropped_by} drops "
            + ", ".join(f"{tag} ({scope})" for tag, scope in d.dropped)
            for d in eff.drops
        ]
    if eff.problems:
        out += ["", "Not resolved (verdicts that depend on these are unknown):"]
        out += [f"  {p.location}: {p.message}" for p in eff.problems]
    return "\n".join(out) + "\n"

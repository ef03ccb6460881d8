"""Policy documents: one parsed APIM policy or fragment, with where it came from.

Parsing is delegated to :mod:`auditor.xmlread` (the rawxml-tolerant reader). A document that cannot
be read keeps its error and line instead of a tree, so the engine can report it and turn every
verdict that depends on it into ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from auditor.bounded import PolicyReadError, decode_policy_bytes, read_bounded
from auditor.model import Location
from auditor.xmlread import parse_policy

SECTIONS = ("inbound", "backend", "outbound", "on-error")


@dataclass(frozen=True, slots=True, eq=False)
class PolicyDoc:
    """A policy document at one scope (or a fragment)."""

    scope: str
    """``global``, ``workspace``, ``product``, ``api``, ``operation`` or ``fragment``."""
    path: str | None
    """Path shown to users (relative to the source root), or ``None``."""
    root: etree._Element | None
    error: str | None = None
    error_line: int | None = None
    line_offset: int = 0
    """Added to lxml line numbers when the XML is embedded in a larger file."""
    unseen: bool = False
    """The source does not hold the content (a linked policy, an unresolved expression): the
    document is unknown, not broken, so dependent verdicts are unknown without an error."""
    text: str | None = None
    """The source text, kept for snapshots."""
    pinned: bool = False
    """The XML sits inside one string of a larger file (a JSON value): every element is reported
    at the line where that string starts, since the XML's own lines are not the file's."""
    condition: str | None = None
    """The condition the document is deployed under, quoted, when the source cannot decide it."""
    unknown_parts: str | None = None
    """Why some values in the text are unknown (they read ``${...}``): an IaC template filled
    in at deployment with values not known offline."""
    texts: dict[etree._Element, str] = field(default_factory=dict, repr=False, compare=False)
    """:func:`full_text` of this document's elements (the tree never changes). Keyed by the
    element itself, not its id: holding it keeps lxml from handing out a new proxy object."""

    sections: dict[str, etree._Element | None] = field(
        default_factory=dict, repr=False, compare=False
    )
    """Sections found by :meth:`section` (looked up for every operation and route)."""
    bases: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    def text_of(self, el: etree._Element) -> str:
        """:func:`full_text` of one of this document's elements, computed once."""
        text = self.texts.get(el)
        if text is None:
            self.texts[el] = text = full_text(el)
        return text

    @property
    def ok(self) -> bool:
        """True when the document was read."""
        return self.root is not None

    @property
    def is_fragment(self) -> bool:
        """True for a ``<fragment>`` document."""
        return self.root is not None and self.root.tag == "fragment"

    def location(self, el: etree._Element | None = None) -> Location:
        """Location of an element of this document (or of the document itself)."""
        if el is None:
            if self.error:
                line = self.error_line + self.line_offset if self.error_line else None
                return Location(self.path, line)
            return Location(self.path, 1 + self.line_offset)
        if self.pinned:
            return Location(self.path, self.line_offset + 1)
        line = el.sourceline
        return Location(self.path, line + self.line_offset if line else None)

    def section(self, name: str) -> etree._Element | None:
        """The ``<inbound>`` (etc.) element, or ``None`` when absent."""
        if self.root is None:
            return None
        if name not in self.sections:
            self.sections[name] = next((c for c in self.root if c.tag == name), None)
        return self.sections[name]

    def has_base(self, name: str) -> bool:
        """The section exists and holds a ``<base />`` (at any depth)."""
        found = self.bases.get(name)
        if found is None:
            sec = self.section(name)
            found = sec is not None and next(sec.iter("base"), None) is not None
            self.bases[name] = found
        return found


def read_policy_text(text: str, *, scope: str, path: str | None, line_offset: int = 0) -> PolicyDoc:
    """Parse policy text; never raises for bad content (the error is kept on the document)."""
    try:
        root = parse_policy(text)
    except PolicyReadError as exc:
        return PolicyDoc(scope, path, None, exc.message, exc.line, line_offset, text=text)
    if root.tag not in ("policies", "fragment"):
        return PolicyDoc(
            scope,
            path,
            None,
            f"root element is <{root.tag!s}>, not <policies> or <fragment>",
            root.sourceline,
            line_offset,
            text=text,
        )
    return PolicyDoc(scope, path, root, None, None, line_offset, text=text)


def read_policy_file(file: Path, *, scope: str, shown_as: str) -> PolicyDoc:
    """Read and parse a policy file; unreadable files give a document with an error."""
    try:
        data = read_bounded(file)
        text = decode_policy_bytes(data)
    except PolicyReadError as exc:
        return PolicyDoc(scope, shown_as, None, exc.message, exc.line)
    except OSError as exc:
        return PolicyDoc(scope, shown_as, None, f"cannot read file: {exc.strerror or exc}", None)
    return read_policy_text(text, scope=scope, path=shown_as)


def local_name(el: etree._Element) -> str:
    """Tag name of an element, or '' for comments and processing instructions."""
    tag = el.tag
    return tag if isinstance(tag, str) else ""


def full_text(el: etree._Element) -> str:
    """All attribute values and text of an element and its descendants (comments excluded)."""
    parts: list[str] = []
    for node in el.iter():
        if not isinstance(node.tag, str):
            continue
        parts.extend(str(v) for v in node.attrib.values())
        if node.text:
            parts.append(node.text)
        for child in node:
            if not isinstance(child.tag, str) and child.tail:
                parts.append(child.tail)
    return "\n".join(parts)

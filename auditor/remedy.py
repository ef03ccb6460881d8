"""Patches that fit a finding: the lines to add or change, at their place, in the finding's own
policy file (an APIOps policy, an XML file IaC loads, or a multi-line policy inside Bicep or
Terraform whose lines are the file's).

Only what can be computed exactly is a patch: a missing ``<base />``, a token metric or a
correlation header added to an ``<inbound>``, a ``Subscription ID`` dimension added to a token
metric, ``exists-action`` set to ``override``. Anything else keeps the rule's generic fix, which
reports label as an example and never draw as a diff of the file. A patch checks the lines it
changes against the file before it applies (a file that moved on is refused, never corrupted).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from auditor.engine import Audit, Finding
from auditor.policy import PolicyDoc, local_name, read_policy_text

#: Rules that can offer an exact patch.
PATCHABLE = ("COV001", "COR001", "COR002", "IDN001")
_INDENT = re.compile(r"^[ \t]*")
_EXISTS = re.compile(r"""exists-action\s*=\s*(["'])(skip|append)\1""")

#: Blocks a patch adds; a leading tab is one level of the file's own indentation.
METRIC = (
    '<llm-emit-token-metric namespace="llm-usage">',
    '\t<dimension name="Subscription ID" />',
    '\t<dimension name="API ID" />',
    "</llm-emit-token-metric>",
)
HEADER = (
    '<set-header name="x-attribution-id" exists-action="override">',
    "\t<value>@(context.Subscription?.Id ?? context.RequestId.ToString())</value>",
    "</set-header>",
)


@dataclass(frozen=True, slots=True)
class Edit:
    """Lines to put after line ``line`` of a file (``replace``: instead of it)."""

    line: int
    old: str
    """The line as it is now (checked before the edit applies)."""
    new: tuple[str, ...]
    replace: bool = False


@dataclass(frozen=True, slots=True)
class Patch:
    """Edits to one file that resolve a finding."""

    path: str
    """Relative to the scanned source, as the finding's location."""
    edits: tuple[Edit, ...]
    description: str

    def apply(self, text: str) -> str:
        """``text`` with the edits made; raises ValueError when a line is not what it was."""
        lines = text.splitlines(keepends=True)
        newline = "\r\n" if text.count("\r\n") > text.count("\n") // 2 else "\n"
        for edit in sorted(self.edits, key=lambda e: (e.line, e.replace), reverse=True):
            if not 1 <= edit.line <= len(lines):
                raise ValueError(f"{self.path}: line {edit.line} is not in the file")
            current = lines[edit.line - 1]
            if current.rstrip("\r\n") != edit.old:
                raise ValueError(f"{self.path}:{edit.line} changed since the scan")
            eol = current[len(current.rstrip("\r\n")) :] or newline
            added = [line + eol for line in edit.new]
            if edit.replace:
                lines[edit.line - 1 : edit.line] = added
            else:
                if not current.endswith(("\n", "\r")):
                    lines[edit.line - 1] = current + newline
                lines[edit.line : edit.line] = added
        return "".join(lines)

    def diff(self, text: str) -> str:
        """The patch as a unified diff of the file."""
        after = self.apply(text)
        return "".join(
            difflib.unified_diff(
                text.splitlines(keepends=True),
                after.splitlines(keepends=True),
                f"a/{self.path}",
                f"b/{self.path}",
                n=2,
            )
        )


def patches(audit: Audit, root: Path) -> dict[str, Patch]:
    """Exact patches by finding fingerprint, for the failing findings that can have one."""
    docs = _docs(audit)
    out: dict[str, Patch] = {}
    texts: dict[str, str | None] = {}
    for f in audit.findings:
        if f.status != "fail" or f.rule not in PATCHABLE or f.location is None:
            continue
        path, line = f.location.path, f.location.line
        if path is None or line is None:
            continue
        if path not in texts:
            texts[path] = _read(root, path)
        text = texts[path]
        if text is None:
            continue
        if path not in docs and path.lower().endswith(".xml"):
            # NOTE: a scan in parts keeps no API's documents; a policy file reads alike.
            docs[path] = [read_policy_text(text, scope="api", path=path)]
        for doc in docs.get(path, ()):
            if doc.root is None:
                continue
            patch = _patch(f, doc, text.splitlines(), line)
            if patch is not None:
                try:
                    patch.apply(text)
                except ValueError:
                    continue
                out[f.fingerprint] = patch
                break
    return out


def _docs(audit: Audit) -> dict[str, list[PolicyDoc]]:
    """The documents whose lines are their file's lines, by path (pinned ones are not)."""
    found: dict[str, list[PolicyDoc]] = {}
    for service in audit.estate.services:
        for doc in service.all_policy_docs():
            if doc.root is not None and doc.path and not doc.pinned:
                found.setdefault(doc.path, []).append(doc)
    return found


def _read(root: Path, path: str) -> str | None:
    base = root if root.is_dir() else root.parent
    file = (base / path).resolve()
    if not file.is_file():
        return None
    try:
        return file.read_bytes().decode("utf-8")  # line endings as they are
    except (OSError, UnicodeDecodeError):
        return None


def _element_at(doc: PolicyDoc, line: int, tags: tuple[str, ...]) -> etree._Element | None:
    assert doc.root is not None
    for el in doc.root.iter():
        if local_name(el) in tags and el.sourceline and el.sourceline + doc.line_offset == line:
            return el
    return None


def _file_line(doc: PolicyDoc, el: etree._Element) -> int:
    return int(el.sourceline or 0) + doc.line_offset


def _indent(lines: list[str], line: int) -> str:
    m = _INDENT.match(lines[line - 1])
    return m.group(0) if m else ""


def _step(lines: list[str], parent: int) -> str:
    """One level of indentation, as the file writes it under line ``parent``."""
    base = _indent(lines, parent)
    for text in lines[parent:]:
        if text.strip():
            inner = _INDENT.match(text)
            deeper = inner.group(0) if inner else ""
            if len(deeper) > len(base) and deeper.startswith(base):
                return deeper[len(base) :]
            break
    return "\t" if base.startswith("\t") else "    "


def _into_inbound(
    doc: PolicyDoc, lines: list[str], line: int, block: tuple[str, ...], what: str, path: str
) -> Patch | None:
    """``block`` added to the ``<inbound>`` at ``line``, after its ``<base />``."""
    inbound = _element_at(doc, line, ("inbound",))
    if inbound is None:
        return None
    at = _file_line(doc, inbound)
    if lines[at - 1].rstrip().endswith("/>"):
        return None  # <inbound /> written empty: not a place to add lines to
    base = next((c for c in inbound if local_name(c) == "base"), None)
    if base is None and doc.scope != "global":
        return None  # the parent scopes are dropped: <base /> (COV001's patch) is the fix
    after = _file_line(doc, base) if base is not None and base.sourceline else at
    if base is not None and lines[after - 1].count("<") > 1:
        return None  # <base /> shares its line with more: no clean line to add after
    step = _step(lines, at)
    indent = _indent(lines, at) + step
    added = tuple(indent + b.replace("\t", step, 1) if b.startswith("\t") else indent + b
                  for b in block)  # fmt: skip
    edit = Edit(after, lines[after - 1].rstrip("\r\n"), added)
    return Patch(path, (edit,), what)


def _patch(f: Finding, doc: PolicyDoc, lines: list[str], line: int) -> Patch | None:
    path = str(doc.path)
    if f.rule == "COV001":
        if "has no <base /> in <inbound>" in f.message:
            inbound = _element_at(doc, line, ("inbound",))
            if inbound is None or lines[line - 1].rstrip().endswith("/>"):
                return None
            indent = _indent(lines, line) + _step(lines, line)
            edit = Edit(line, lines[line - 1].rstrip("\r\n"), (indent + "<base />",))
            return Patch(path, (edit,), "add <base /> to <inbound>, so the parent scopes run")
        if "no token-metric policy" in f.message:
            return _into_inbound(doc, lines, line, METRIC, "meter the call in <inbound>", path)
        return None
    if f.rule == "COR001":
        return _into_inbound(doc, lines, line, HEADER, "set a caller id in <inbound>", path)
    if f.rule == "COR002":
        el = _element_at(doc, line, ("set-header",))
        if el is None:
            return None
        for n in range(line, min(line + 3, len(lines)) + 1):
            text = lines[n - 1].rstrip("\r\n")
            if _EXISTS.search(text):
                new = _EXISTS.sub(lambda m: f"exists-action={m[1]}override{m[1]}", text)
                return Patch(path, (Edit(n, text, (new,), replace=True),),
                             'set exists-action="override"')  # fmt: skip
        return None
    if f.rule == "IDN001":
        el = _element_at(doc, line, ("llm-emit-token-metric", "azure-openai-emit-token-metric"))
        if el is None or lines[line - 1].rstrip().endswith("/>") or ">" not in lines[line - 1]:
            return None
        indent = _indent(lines, line) + _step(lines, line)
        edit = Edit(line, lines[line - 1].rstrip("\r\n"),
                    (indent + '<dimension name="Subscription ID" />',))  # fmt: skip
        return Patch(path, (edit,), "name the subscription as the payer")
    return None


def combine(found: list[Patch]) -> list[Patch]:
    """One patch per file: the edits of ``found`` together, each line's once."""
    by_path: dict[str, dict[tuple[int, bool], Edit]] = {}
    described: dict[str, list[str]] = {}
    for patch in found:
        edits = by_path.setdefault(patch.path, {})
        for edit in patch.edits:
            key = (edit.line, edit.replace)
            if key in edits and edits[key] != edit and not edit.replace:
                first = edits[key]
                merged = first.new + tuple(n for n in edit.new if n not in first.new)
                edits[key] = Edit(edit.line, edit.old, merged)
            else:
                edits.setdefault(key, edit)
        described.setdefault(patch.path, [])
        if patch.description not in described[patch.path]:
            described[patch.path].append(patch.description)
    return [
        Patch(
            path,
            tuple(sorted(edits.values(), key=lambda e: (e.line, e.replace))),
            "; ".join(described[path]),
        )  # fmt: skip
        for path, edits in sorted(by_path.items())
    ]


def as_json(patch: Patch, text: str) -> dict[str, object]:
    """A patch as the report carries it: the file, what it does, its diff and its edits."""
    return {
        "path": patch.path,
        "description": patch.description,
        "diff": patch.diff(text),
        "edits": [
            {"line": e.line, "old": e.old, "new": list(e.new), "replace": e.replace}
            for e in patch.edits
        ],
    }


def attach(report: dict[str, object], audit: Audit, root: Path) -> None:
    """Put each finding's exact patch (when it has one) into the JSON report's findings."""
    found = patches(audit, root)
    if not found:
        return
    texts: dict[str, str | None] = {}
    findings = report["findings"]
    assert isinstance(findings, list)
    for f in findings:
        patch = found.get(str(f.get("fingerprint")))
        if patch is None:
            continue
        if patch.path not in texts:
            texts[patch.path] = _read(root, patch.path)
        text = texts[patch.path]
        if text is not None:
            f["patch"] = as_json(patch, text)

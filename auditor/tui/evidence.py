"""The evidence behind one finding: effective policy, file excerpt and remediation snippet.

Plain data, no Textual: the detail screen computes these in a worker thread and ``PolicyView``
draws them. The effective policy needs the estate, so it is only offered when the TUI was opened
on a source (a saved report has no estate); a file excerpt needs the file, so it is offered when
the finding's path exists under the report's source folder.
"""

from __future__ import annotations

import difflib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.files import saved_report
from auditor.tui.model import Finding, Report, location_text

EXCERPT_CONTEXT = 6
MAX_FILE_BYTES = 2_000_000
MAX_ROUTES = 3


@dataclass(frozen=True, slots=True)
class EvidenceLine:
    gutter: str
    """A line number (excerpt) or ``file:line`` (effective policy)."""
    text: str
    origin: str = ""
    """The scope a statement of the effective policy comes from."""
    hit: bool = False
    """The finding points at this line."""
    dim: bool = False
    """Structure, or a statement that never runs."""


@dataclass(frozen=True, slots=True)
class EvidenceBlock:
    title: str
    lines: tuple[EvidenceLine, ...] = ()
    note: str = ""

    @property
    def hit_index(self) -> int | None:
        return next((i for i, line in enumerate(self.lines) if line.hit), None)


def is_saved_report(path: Path) -> bool:
    """A JSON file the TUI opens as a saved report instead of a source."""
    return path.is_file() and path.suffix.lower() == ".json" and saved_report(path) is not None


def _root(report: Report, label: str, label_is_report: bool) -> Path | None:
    """The folder the findings' paths are relative to, when it is on this machine."""
    location = str(report.get("source", {}).get("location", ""))
    for candidate in (location, label):
        if not candidate:
            continue
        path = Path(candidate)
        if path.is_dir():
            return path
        if path.is_file():
            saved = label_is_report if candidate == label else is_saved_report(path)
            if not saved:
                return path.parent
    return None


def excerpt(
    root: Path, path: str, line: int | None, context: int = EXCERPT_CONTEXT
) -> EvidenceBlock:
    """Lines of ``root/path`` around ``line``, with that line marked as the hit."""
    base = root.resolve()
    file = (base / path).resolve()
    # NOTE: a saved report is untrusted input; never read outside the source folder.
    if base != file and base not in file.parents:
        return EvidenceBlock(path, note="outside the source folder; not shown")
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            return EvidenceBlock(path, note="file too large to show")
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return EvidenceBlock(path, note=f"cannot read: {exc.strerror or exc}")
    rows = text.splitlines()
    if line is None:
        first, last = 1, min(len(rows), 2 * context + 1)
    else:
        first, last = max(1, line - context), min(len(rows), line + context)
    width = len(str(last))
    lines = tuple(
        EvidenceLine(str(n).rjust(width), rows[n - 1].expandtabs(4), hit=n == line)
        for n in range(first, last + 1)
    )
    where = f"{path}:{line}" if line else path
    return EvidenceBlock(f"{where} (lines {first}-{last} of {len(rows)})", lines)


class EvidenceSource:
    """Evidence for the findings of one report; thread-safe, caches the estate and the catalog.

    ``label`` is what the TUI was opened on: a source path, a saved report, or ``Azure (live)``.
    """

    def __init__(self, report: Report, label: str) -> None:
        self.label = label
        path = Path(label)
        label_is_report = is_saved_report(path)
        self.source_mode = path.exists() and not label_is_report
        self.root = _root(report, label, label_is_report)
        self._lock = threading.Lock()
        self._estate: Any = None
        self._estate_error: str | None = None
        self._cache: dict[tuple[object, ...], Any] = {}

    def blocks(self, finding: Finding) -> list[EvidenceBlock]:
        """The effective policy (source mode) and the file excerpt of a finding."""
        out: list[EvidenceBlock] = []
        if self.source_mode and finding.get("api"):
            out.extend(self.effective(finding))
        where = finding.get("location")
        if where and where.get("path"):
            if self.root is not None:
                out.append(excerpt(self.root, str(where["path"]), where.get("line")))
            else:
                out.append(
                    EvidenceBlock(
                        location_text(finding),
                        note="the source files are not on this machine; open the TUI on the "
                        "source to see them",
                    )
                )
        return out

    def _load_estate(self) -> Any:
        with self._lock:
            if self._estate is None and self._estate_error is None:
                from auditor import sources
                from auditor.errors import AuditorError

                try:
                    self._estate = sources.load(Path(self.label))
                except (AuditorError, OSError) as exc:
                    self._estate_error = str(exc)
            return self._estate

    def effective(self, finding: Finding) -> list[EvidenceBlock]:
        """The effective policy of the finding's operation, each route, the hit line marked."""
        from auditor.engine import routes_for
        from auditor.model import Operation

        estate = self._load_estate()
        if estate is None:
            return [EvidenceBlock("Effective policy", note=f"unavailable: {self._estate_error}")]
        found = [
            (s, a)
            for s in estate.services
            if s.name == finding.get("service")
            for a in s.apis
            if a.name == finding.get("api")
        ]
        if not found:
            return []
        service, api = found[0]
        target = str(finding.get("target", ""))
        op_name = target.split("/", 1)[1] if "/" in target else None
        ops = list(api.operations) or [Operation("*", None, None, None)]
        if op_name is not None:
            ops = [op for op in ops if op.name == op_name] or ops[:1]
        hit = location_text(finding)
        blocks: list[EvidenceBlock] = []
        with self._lock:
            for op in ops:
                routes = routes_for(service, api, op, estate, self._cache)
                blocks.extend(self._route_blocks(f"{api.name}/{op.name}", routes, hit))
        if op_name is None:
            # NOTE: an API-level finding names no operation; prefer one whose policy it points at.
            with_hit = [b for b in blocks if b.hit_index is not None]
            blocks = with_hit[:1] or blocks[:1]
        return blocks

    @staticmethod
    def _route_blocks(name: str, routes: list[Any], hit: str) -> list[EvidenceBlock]:
        """One block per distinct effective policy; routes with the same policy share a block."""
        from auditor.render.effective import lines as effective_lines

        grouped: dict[tuple[EvidenceLine, ...], tuple[list[str], str]] = {}
        for route in routes:
            rows = tuple(
                EvidenceLine(
                    line.location,
                    "  " * line.depth + line.text,
                    origin=line.origin,
                    hit=bool(line.location) and line.location == hit,
                    dim=not line.origin or not line.reachable,
                )
                for line in effective_lines(route.eff)
            )
            notes = [
                f"<{d.section}> at {d.dropped_by} drops "
                + ", ".join(f"{tag} ({scope})" for tag, scope in d.dropped)
                for d in route.eff.drops
            ] + [f"not resolved: {p.location}: {p.message}" for p in route.eff.problems]
            labels, _ = grouped.setdefault(rows, ([], "\n".join(notes)))
            labels.append(str(route.label))
        blocks = []
        for rows, (labels, note) in list(grouped.items())[:MAX_ROUTES]:
            title = f"Effective policy of {name}: " + "; ".join(labels)
            blocks.append(EvidenceBlock(title, rows, note))
        return blocks


_catalog_lock = threading.Lock()
_catalog: dict[str, Any] | None = None


def remediation(finding: dict[str, Any]) -> tuple[str, str | None]:
    """What the fix changes: (title, text). The finding's exact patch (a diff of its own file)
    when it has one; otherwise the rule's documented example, labelled as an example (a diff of
    two snippets, never of the finding's file), or nothing.

    The report carries no examples, so they come from the bundled catalog (none for a rule it
    does not have, such as one from a custom ``--rules`` file).
    """
    patch = finding.get("patch")
    if patch:
        return (
            f"Patch for {patch['path']}  ({patch['description']}; auditor fix applies it)",
            str(patch["diff"]),
        )
    global _catalog
    with _catalog_lock:
        if _catalog is None:
            from auditor import rules

            _catalog = {r.id: r for r in rules.load().rules}
        rule = _catalog.get(str(finding["rule"]))
    title = "Example (the rule's documentation, not a change to your file)"
    if rule is None or not rule.fail_example or not rule.pass_example:
        return title, None
    out = _diff(rule.fail_example, rule.pass_example, "example")
    return title, "\n".join(out) or None


def _diff(before: str, after: str, name: str) -> list[str]:
    if before.strip() == after.strip():
        return []
    diff = difflib.unified_diff(
        before.splitlines(),
        after.splitlines(),
        f"{name} (fails)",
        f"{name} (passes)",
        n=2,
        lineterm="",
    )
    return list(diff)

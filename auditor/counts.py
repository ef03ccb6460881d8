"""One set of counts for every report, the TUI and the gate, with the words that say what they
count.

- an open gap: a failing finding of severity medium or higher that nobody accepted (these are
  what change a verdict);
- a note: a failing finding of severity low or info (never changes a verdict);
- unreadable input: an ``error`` finding (a document or file that could not be read);
- suppressed: waived, ignored inline or in the baseline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from auditor.rules import severity_rank

Finding = dict[str, Any]
#: The lowest severity of a finding that changes a verdict.
GAP_FLOOR = "medium"
GAP_WORDS = "failing findings of severity medium or higher"


def suppressed(f: Finding) -> bool:
    """Accepted: waived, ignored inline, or in the baseline."""
    return bool(f.get("suppression"))


def is_gap(f: Finding) -> bool:
    """A failing finding of severity medium or higher that nobody accepted."""
    return (
        f["status"] == "fail"
        and severity_rank(f["severity"]) >= severity_rank(GAP_FLOOR)
        and not suppressed(f)
    )


def is_note(f: Finding) -> bool:
    """A failing finding of severity low or info that nobody accepted."""
    return (
        f["status"] == "fail"
        and severity_rank(f["severity"]) < severity_rank(GAP_FLOOR)
        and not suppressed(f)
    )


def is_unreadable(f: Finding) -> bool:
    """Input that could not be read (the gate fails closed on it)."""
    return f["status"] == "error" and not suppressed(f)


def gaps(findings: Iterable[Finding]) -> list[Finding]:
    """The open gaps, worst first (stable otherwise)."""
    return sorted((f for f in findings if is_gap(f)), key=lambda f: -severity_rank(f["severity"]))


@dataclass(frozen=True, slots=True)
class Counts:
    """The counts every view shows."""

    gaps: int
    notes: int
    unreadable: int
    suppressed: int
    unknown: int
    """Rule outcomes that could not be evaluated (skips)."""

    def words(self) -> str:
        """The counts as a line: what each number counts is said."""
        parts = [
            f"{self.gaps} open gap(s) ({GAP_WORDS})",
            f"{self.notes} note(s) (low, info)",
        ]
        if self.unreadable:
            parts.append(f"{self.unreadable} unreadable input(s)")
        if self.suppressed:
            parts.append(f"{self.suppressed} accepted")
        return ", ".join(parts)


def counts(findings: Iterable[Finding]) -> Counts:
    """The counts of a report's findings."""
    found = list(findings)
    return Counts(
        gaps=sum(1 for f in found if is_gap(f)),
        notes=sum(1 for f in found if is_note(f)),
        unreadable=sum(1 for f in found if is_unreadable(f)),
        suppressed=sum(1 for f in found if suppressed(f)),
        unknown=sum(1 for f in found if f["status"] == "skip"),
    )


def signal_score(signal: dict[str, Any]) -> str:
    """A signal's score as shown: ``n/a`` when no API passed or failed it (a score over nothing
    but unknowns would read as 0 %, a verdict nobody reached)."""
    return f"{signal['score']}%" if signal["passed"] + signal["failed"] else "n/a"


def signal_status(signal: dict[str, Any]) -> str:
    """A signal's status as shown: ``n/a`` when no API was judged on it at all."""
    return (
        str(signal["status"]) if signal["passed"] + signal["failed"] + signal["unknown"] else "n/a"
    )


def score_words(report: dict[str, Any]) -> str:
    """The attribution score as shown, ``n/a`` with the reason when nothing was judged."""
    if not any(a["llm"] or a.get("scope") == "undecided" for a in report["apis"]):
        return "n/a (no API fronts an LLM)"
    if not any(s["passed"] + s["failed"] for s in report["signals"]):
        return "n/a (every verdict is unknown)"
    return f"{report['score']}/100"

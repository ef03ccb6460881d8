"""What limits a scan's verdicts: the source's notes grouped by kind, and the APIs not fully
judged, as every report states them.

A note is ``path:line: text`` (or plain text). Notes that say part of the source was not seen
(a loop not expanded, a registry module, a file outside the scanned folder, a policy only known
at deployment) limit the verdicts; the others (which parameter file was used) only inform.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from auditor.model import note_order

#: (kind, pattern, limits the verdicts) in the order reports list them.
_KINDS: tuple[tuple[str, re.Pattern[str], bool], ...] = tuple(
    (kind, re.compile(pattern), limits)
    for kind, pattern, limits in (
        ("loops over items only known at deployment, not expanded",
         r"loop .*(is not expanded|not expanded)", True),
        ("modules from a registry, not read", r"from a registry|module '[^']*' from .* is not read",
         True),
        ("files or modules outside the scanned folder, not read", r"outside the scanned folder",
         True),
        ("modules, files or linked templates not found", r"is not a file|not followed|could not be "
         r"read|not read again", True),
        ("policies whose text is only known at deployment", r"policy text is not known offline",
         True),
        ("policies with values only known at deployment (they read ${...})",
         r"parts of the policy text are not known", True),
        ("syntax not understood (the rest of the file was read)",
         r"not understood here|missing here", True),
        ("resources whose scope is only known at deployment", r"the scope of .* is not known",
         True),
        ("evaluation stopped", r"evaluation stopped|nested too deeply", True),
        ("resources only Terraform or a script knows (not evaluated)", r"provisioner|terraform_data"
         r"|null_resource", True),
        ("parameter values read from a file", r"parameter values from", False),
        ("registry modules of API Management read from their inputs (Azure Verified Modules)",
         r"is an Azure Verified Module of API Management", False),
        ("templates compiled from Bicep, read from the Bicep", r"compiled from", False),
        ("sources combined", r"^used \w+:", False),
        ("replayed from a snapshot", r"replayed from snapshot", False),
    )
)  # fmt: skip
_OTHER = "other notes"
_WHERE = re.compile(r"^([^:\n]+:\d+|[^:\n]+\.(?:bicep|json|tf|xml|bicepparam|tfvars)): ")
#: Places shown per kind (the report file has them all).
SHOWN = 3


def kind_of(note: str) -> tuple[str, bool]:
    """The kind of a note, and whether it limits the verdicts."""
    for kind, pattern, limits in _KINDS:
        if pattern.search(note):
            return kind, limits
    return _OTHER, True


def group(notes: Iterable[str]) -> list[dict[str, Any]]:
    """Notes grouped by kind, each once: ``{"kind", "limits", "count", "where", "notes"}`` in a
    stable order (limiting kinds first, then by how many)."""
    groups: dict[str, dict[str, Any]] = {}
    for note in sorted(set(notes), key=note_order):
        kind, limits = kind_of(note)
        entry = groups.setdefault(
            kind, {"kind": kind, "limits": limits, "count": 0, "where": [], "notes": []}
        )
        entry["count"] += 1
        entry["notes"].append(note)
        m = _WHERE.match(note)
        if m and m.group(1) not in entry["where"]:
            entry["where"].append(m.group(1))
    order = {kind: i for i, (kind, _, _) in enumerate(_KINDS)}
    return sorted(
        groups.values(), key=lambda g: (not g["limits"], -g["count"], order.get(g["kind"], 99))
    )


def not_fully_judged(report: dict[str, Any]) -> list[str]:
    """The ids of the APIs with an unknown verdict: LLM APIs, and undecided ones."""
    return [
        a["id"]
        for a in report["apis"]
        if a.get("scope") in ("llm", "undecided") and "unknown" in a["signals"].values()
    ]


def summary_line(report: dict[str, Any]) -> str:
    """What the verdicts stand on, in one line (the last a scan prints)."""
    apis = report["apis"]
    judged = [a for a in apis if a.get("scope") in ("llm", "undecided")]
    unsure = not_fully_judged(report)
    limiting = sum(g["count"] for g in report.get("limits", []) if g["limits"])
    if not apis:
        return "nothing could be judged: the source declares no API" + (
            f" ({limiting} note(s) say what it does not show)" if limiting else ""
        )
    if not judged:
        return f"nothing could be judged: none of the {len(apis)} API(s) fronts an LLM"
    if not unsure:
        return f"all {len(judged)} LLM API(s) fully judged"
    if all(set(a["signals"].values()) <= {"unknown"} for a in judged):
        return (
            f"nothing could be judged: every verdict of the {len(judged)} LLM or undecided "
            "API(s) is unknown, so the score says nothing (--fail-on-unknown fails on them)"
        )
    return (
        f"{len(unsure)} of {len(judged)} LLM or undecided API(s) not fully judged: unknown "
        "verdicts (--fail-on-unknown fails on them)"
    )

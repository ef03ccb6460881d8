"""SARIF 2.1.0 for GitHub code scanning (and any other SARIF viewer).

One run; one ``reportingDescriptor`` per rule of the report; one result per ``fail`` finding
(``info`` ones as level ``note``) and per ``error`` finding (level ``error``: the gate fails closed
on them, so they must show). Passes and skips are not results.

GitHub rejects a whole SARIF file when one result lacks a physical location, so every result has
one:

- a finding with a file: ``artifactLocation.uri`` is its path (relative, posix, percent-encoded,
  ``uriBaseId`` ``%SRCROOT%``), ``region.startLine`` its line, or 1 when the line is unknown;
- a finding without a file (an estate-level gap, or one found in live mode): the synthetic,
  stable artifact ``auditor/estate/<service>/<api>`` (``auditor/estate/<service>`` or
  ``auditor/estate`` when the API or service is unknown), line 1, without ``uriBaseId``; its
  ``artifactLocation.description`` says it is synthetic, and a ``logicalLocation`` names the
  service and API. The path never exists in a repository, so GitHub shows the alert without a
  code snippet; being stable, the alert is tracked across runs like any other.

Report paths are relative to the scanned source, GitHub's to the repository: ``render(report,
root="apim/artifacts")`` puts the source's folder in front of every relative path (absolute paths
become ``file://`` URIs and are left alone).

Suppressed findings (waiver, baseline, inline ignore) stay as results with ``suppressions``, so
alerts close instead of flapping. ``partialFingerprints`` carries the report's fingerprint.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from auditor.render.text import loc

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/attribution-auditor/attribution-auditor"
FINGERPRINT_KEY = "attributionAuditor/v1"
SRCROOT = "%SRCROOT%"
SYNTHETIC_ROOT = "auditor/estate"

LEVEL = {
    "critical": "error",
    "high": "error",
    "medium": "warning",
    "low": "warning",
    "info": "note",
}
"""SARIF ``level`` of a failing finding, by severity."""
PROBLEM_SEVERITY = {
    "critical": "error",
    "high": "error",
    "medium": "warning",
    "low": "warning",
    "info": "recommendation",
}
"""GitHub's ``problem.severity`` rule property, by severity."""
SECURITY_SEVERITY = {"critical": 9.5, "high": 8.0, "medium": 5.5, "low": 3.0, "info": 1.0}
"""GitHub's ``security-severity`` (a CVSS-like score, written as a string), by severity."""
_SUPPRESSION_KIND = {"waiver": "external", "baseline": "external", "inline": "inSource"}
_DRIVE = re.compile(r"^[A-Za-z]:/")


def level(finding: dict[str, Any]) -> str:
    """The SARIF level of a result: ``error`` for error findings, else by severity."""
    if finding["status"] == "error":
        return "error"
    return LEVEL.get(finding["severity"], "warning")


def artifact_location(path: str, root: str = "") -> dict[str, str]:
    """An ``artifactLocation`` for a source path: relative to ``%SRCROOT%``, or a file URI.

    Report paths are relative to the scanned source; ``root`` (the source's folder relative to
    the repository, e.g. ``apim/artifacts``) is put in front of them so GitHub finds the files.
    """
    posix = path.replace("\\", "/")
    if _DRIVE.match(posix):
        return {"uri": "file:///" + quote(posix, safe="/:")}
    if posix.startswith("/"):
        return {"uri": "file://" + quote(posix, safe="/")}
    while posix.startswith("./"):
        posix = posix[2:]
    prefix = root.replace("\\", "/").strip("/")
    if prefix and prefix != ".":
        posix = f"{prefix}/{posix}"
    return {"uri": quote(posix, safe="/"), "uriBaseId": SRCROOT}


def synthetic_uri(finding: dict[str, Any]) -> str:
    """The stable stand-in artifact of a finding that has no file."""
    parts = [SYNTHETIC_ROOT]
    if finding.get("service"):
        parts.append(quote(str(finding["service"]), safe=""))
        if finding.get("api"):
            parts.append(quote(str(finding["api"]), safe=""))
    return "/".join(parts)


def _region(line: object) -> dict[str, int]:
    return {"startLine": line if isinstance(line, int) and line >= 1 else 1}


def physical_location(finding: dict[str, Any], root: str = "") -> dict[str, Any]:
    """Where a result is: its file and line, or the synthetic estate artifact at line 1."""
    where = finding.get("location")
    if where and where.get("path"):
        return {
            "artifactLocation": artifact_location(where["path"], root),
            "region": _region(where.get("line")),
        }
    return {
        "artifactLocation": {
            "uri": synthetic_uri(finding),
            "description": {
                "text": "Synthetic location: the finding is about the estate, not a file "
                f"({finding['target']})."
            },
        },
        "region": _region(None),
    }


def _location(finding: dict[str, Any], root: str) -> dict[str, Any]:
    out: dict[str, Any] = {"physicalLocation": physical_location(finding, root)}
    if finding.get("service") or finding.get("api"):
        name = "/".join(str(p) for p in (finding.get("service"), finding.get("api")) if p)
        out["logicalLocations"] = [
            {
                "name": str(finding.get("api") or name),
                "fullyQualifiedName": name,
                "kind": "resource",
            }
        ]
    return out


def _related(finding: dict[str, Any], root: str) -> list[dict[str, Any]]:
    related: list[dict[str, Any]] = []
    for e in finding.get("evidence") or []:
        if not e.get("path"):
            continue
        related.append(
            {
                "id": len(related) + 1,
                "physicalLocation": {
                    "artifactLocation": artifact_location(e["path"], root),
                    "region": _region(e.get("line")),
                },
                "message": {"text": "evidence"},
            }
        )
    return related


def suppressions(finding: dict[str, Any]) -> list[dict[str, Any]]:
    """The SARIF ``suppressions`` of an accepted finding (empty when it is not suppressed)."""
    s = finding.get("suppression")
    if not s:
        return []
    out: dict[str, Any] = {
        "kind": _SUPPRESSION_KIND.get(str(s.get("kind")), "external"),
        "status": "accepted",
    }
    if s.get("reason"):
        out["justification"] = str(s["reason"])
    props = {k: s[k] for k in ("kind", "owner", "expires") if s.get(k)}
    if props:
        out["properties"] = props
    return [out]


def _descriptor(rule: dict[str, Any]) -> dict[str, Any]:
    severity = rule.get("severity", "medium")
    why, fix = rule.get("why", ""), rule.get("fix", "")
    return {
        "id": rule["id"],
        "name": rule.get("name") or rule["id"],
        "shortDescription": {"text": rule.get("title") or rule["id"]},
        "fullDescription": {"text": why or rule.get("title") or rule["id"]},
        "help": {
            "text": f"{why}\n\nFix: {fix}".strip(),
            "markdown": f"{_md(why)}\n\n**Fix:** {_md(fix)}".strip(),
        },
        "defaultConfiguration": {"level": LEVEL.get(severity, "warning")},
        "properties": {
            "tags": [rule.get("signal") or "source", "llm-cost-attribution", "security"],
            "problem.severity": PROBLEM_SEVERITY.get(severity, "warning"),
            "security-severity": f"{SECURITY_SEVERITY.get(severity, 5.5):.1f}",
        },
    }


def _md(text: str) -> str:
    """Plain text made safe for GitHub Markdown: policy snippets such as ``<base />`` stay text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def rules_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's rules, plus a stand-in for any rule a result names that the report lacks."""
    rules = list(report.get("rules", []))
    known = {r["id"] for r in rules}
    for f in report["findings"]:
        if f["rule"] not in known:
            known.add(f["rule"])
            rules.append(
                {
                    "id": f["rule"],
                    "name": f["rule"],
                    "signal": f["signal"],
                    "severity": f["severity"],
                    "title": f["rule"],
                    "why": "",
                    "fix": f["fix"],
                }
            )
    return rules


def fix_of(patch: dict[str, Any], root: str = "") -> dict[str, Any]:
    """A finding's exact patch as a SARIF fix: each edit a replacement of its region (an
    insertion is an empty region at the start of the line after the one it follows)."""
    replacements = []
    for edit in patch["edits"]:
        text = "".join(line + "\n" for line in edit["new"])
        if edit["replace"]:
            region = {"startLine": edit["line"], "startColumn": 1, "endLine": edit["line"],
                      "endColumn": len(edit["old"]) + 1}  # fmt: skip
            text = text[:-1]
        else:
            after = edit["line"] + 1
            region = {"startLine": after, "startColumn": 1, "endLine": after, "endColumn": 1}
        replacements.append({"deletedRegion": region, "insertedContent": {"text": text}})
    return {
        "description": {"text": patch["description"]},
        "artifactChanges": [
            {
                "artifactLocation": artifact_location(patch["path"], root),
                "replacements": replacements,
            }  # fmt: skip
        ],
    }


def result(
    finding: dict[str, Any], rule_index: int, baselined: bool, root: str = ""
) -> dict[str, Any]:
    """One SARIF result of a fail or error finding."""
    out: dict[str, Any] = {
        "ruleId": finding["rule"],
        "ruleIndex": rule_index,
        "level": level(finding),
        "message": {"text": finding["message"] or finding["rule"]},
        "locations": [_location(finding, root)],
    }
    related = _related(finding, root)
    if related:
        out["relatedLocations"] = related
    out["partialFingerprints"] = {FINGERPRINT_KEY: finding["fingerprint"]}
    if finding.get("patch"):
        out["fixes"] = [fix_of(finding["patch"], root)]
    marks = suppressions(finding)
    if marks:
        out["suppressions"] = marks
    if baselined:
        kind = (finding.get("suppression") or {}).get("kind")
        out["baselineState"] = "unchanged" if kind == "baseline" else "new"
    out["properties"] = {
        "status": finding["status"],
        "severity": finding["severity"],
        "signal": finding["signal"] or "source",
        "target": finding["target"],
        "where": loc(finding),
        "fix": finding["fix"],
    }
    return out


def render(report: dict[str, Any], *, root: str = "") -> str:
    """The report as a SARIF 2.1.0 log (deterministic: report order, indent 2, LF).

    ``root``: the scanned source's folder relative to the repository root, put in front of every
    file path (report paths are relative to the source). Empty when the scan ran at its root.
    Without it, the report's ``source.root`` (the source relative to the folder the scan ran in)
    is used, so GitHub finds the files when the scan runs at the repository root.
    """
    root = root or str(report.get("source", {}).get("root") or "")
    rules = rules_of(report)
    index = {r["id"]: i for i, r in enumerate(rules)}
    shown = [f for f in report["findings"] if f["status"] in ("fail", "error")]
    # baselineState only means something when a baseline was applied; the report says so only
    # through baselined findings.
    baselined = any((f.get("suppression") or {}).get("kind") == "baseline" for f in shown)
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "attribution-auditor",
                        "version": str(report["tool"]["version"]),
                        "informationUri": INFORMATION_URI,
                        "rules": [_descriptor(r) for r in rules],
                    }
                },
                "results": [result(f, index[f["rule"]], baselined, root) for f in shown],
                "properties": {
                    "reportSchemaVersion": report["schema_version"],
                    "source": report["source"],
                    "attributionScore": report["score"],
                },
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"

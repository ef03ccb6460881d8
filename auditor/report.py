"""The report model: per-API verdicts, signal scores and findings, as every renderer sees them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auditor import __version__
from auditor.engine import ApiResult, Audit, Finding
from auditor.limits import group
from auditor.rules import SIGNALS, severity_rank

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class SignalScore:
    """One signal's standing across the LLM APIs."""

    id: str
    status: str
    """``intact`` (all pass), ``partial``, ``broken`` (none pass, some fail) or ``unknown``."""
    score: int
    """Share of LLM APIs that pass, 0-100."""
    passed: int
    failed: int
    unknown: int


def signal_score(signal: str, verdicts: list[str]) -> SignalScore:
    """Score one signal from the verdicts of the LLM APIs."""
    passed = verdicts.count("pass")
    failed = verdicts.count("fail")
    unknown = verdicts.count("unknown")
    total = len(verdicts)
    score = round(100 * passed / total) if total else 0
    if not total:
        status = "unknown"
    elif failed:
        status = "broken" if passed == 0 else "partial"
    else:
        status = "intact" if passed == total else "unknown"
    return SignalScore(signal, status, score, passed, failed, unknown)


def to_dict(audit: Audit) -> dict[str, Any]:
    """The JSON report, schema_version 1."""
    # NOTE: an undecided API may be an LLM API: its unknown verdicts count, so no signal reads
    # "intact" while one is left (a wrong all-clear is the worst thing a report can say).
    llm = [a for a in audit.apis if a.judged]
    scores = [signal_score(s, [a.verdicts[s] for a in llm]) for s in SIGNALS]
    pairs = [v for a in llm for v in a.verdicts.values()]
    overall = round(100 * pairs.count("pass") / len(pairs)) if pairs else 0
    used = {f.rule for f in audit.findings}
    unverified: dict[tuple[str | None, str | None], list[Finding]] = {}
    for f in audit.findings:
        if f.status in ("skip", "error"):
            unverified.setdefault((f.service, f.api), []).append(f)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "attribution-auditor", "version": __version__},
        "source": {"kind": audit.estate.source_kind, "location": audit.estate.location},
        "score": overall,
        "signals": [
            {
                "id": s.id,
                "status": s.status,
                "score": s.score,
                "passed": s.passed,
                "failed": s.failed,
                "unknown": s.unknown,
            }
            for s in scores
        ],
        "services": [
            {"name": s.name, "deployment": s.deployment, "elsewhere": list(s.elsewhere)}
            for s in audit.estate.services
        ],
        "apis": [
            {
                "id": a.id,
                "name": a.api.name,
                "display_name": a.api.display_name,
                "service": a.service,
                "llm": a.llm,
                "scope": a.scope,
                "declared_at": str(a.api.location) if a.api.location.path else None,
                "llm_evidence": a.evidence,
                "operations": [op.name for op in a.api.operations],
                "signals": dict(a.verdicts) if a.judged else {},
                "unknown_because": _unknown_because(a, unverified.get((a.service, a.api.name), [])),
            }
            for a in sorted(audit.apis, key=lambda r: r.id)
        ],
        "findings": [finding_dict(f) for f in audit.findings],
        "rules": [
            {
                "id": r.id,
                "name": r.name,
                "signal": r.signal,
                "severity": r.severity,
                "title": r.title,
                "why": r.why,
                "fix": r.fix,
            }
            for r in audit.catalog.rules
            if r.id in used
        ],
        "notes": list(audit.estate.notes),
        "limits": [
            {k: g[k] for k in ("kind", "limits", "count", "where")}
            for g in group(audit.estate.notes)
        ],
    }


def _unknown_because(api: ApiResult, mine: list[Finding]) -> dict[str, list[str]]:
    """For each unknown verdict, the rules that could not be evaluated, with one reason each."""
    out: dict[str, list[str]] = {}
    for signal, verdict in api.verdicts.items():
        if verdict != "unknown":
            continue
        reasons: dict[str, str] = {}
        for f in mine:
            if f.signal in (signal, None) and f.rule not in reasons:
                reasons[f.rule] = f.message.split(": ", 1)[-1]
        out[signal] = [f"{rule}: {why}" for rule, why in sorted(reasons.items())]
    return out


def finding_dict(f: Finding) -> dict[str, Any]:
    """One finding as JSON."""
    return {
        "rule": f.rule,
        "signal": f.signal,
        "severity": f.severity,
        "status": f.status,
        "target": f.target,
        "api": f.api,
        "service": f.service,
        "message": f.message,
        "location": {"path": f.location.path, "line": f.location.line}
        if f.location and f.location.path
        else None,
        "evidence": [{"path": e.path, "line": e.line} for e in f.evidence],
        "fix": f.fix,
        "fingerprint": f.fingerprint,
        "suppression": dict(f.suppression) if f.suppression else None,
    }


def gate_failures(report: dict[str, Any], fail_on: str) -> list[dict[str, Any]]:
    """Findings that fail the gate: fails at or above ``fail_on``, and every error (fail closed)."""
    if fail_on == "never":
        return []
    floor = severity_rank(fail_on)
    return [
        f
        for f in report["findings"]
        if not f.get("suppression")
        and (
            f["status"] == "error"
            or (f["status"] == "fail" and severity_rank(f["severity"]) >= floor)
        )
    ]

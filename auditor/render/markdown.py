"""The Markdown gap report: what a platform engineer hands to an auditor."""

from __future__ import annotations

from typing import Any

from auditor.counts import GAP_WORDS, is_note, score_words, signal_score, signal_status
from auditor.provenance import describe
from auditor.render.text import failing, loc, reason
from auditor.rules import SIGNALS

_ICON = {"pass": "pass", "fail": "**FAIL**", "unknown": "unknown"}


def cell(text: object) -> str:
    """Escape a value for a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def unverified(report: dict[str, Any]) -> dict[tuple[str, str, str], list[str]]:
    """Skips and errors grouped by (rule, status, reason), with their targets (and places)."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for f in report["findings"]:
        if f["status"] not in ("skip", "error"):
            continue
        target = f["target"] + (f" ({loc(f)})" if f.get("location") else "")
        groups.setdefault((f["rule"], f["status"], reason(f)), []).append(target)
    return groups


def render(report: dict[str, Any]) -> str:
    """The whole report as Markdown (deterministic: stable order; the only clock is the scan
    time the report carries)."""
    src = report["source"]
    llm = [a for a in report["apis"] if a["llm"]]
    other = [a for a in report["apis"] if a.get("scope", "llm" if a["llm"] else "other") == "other"]
    rules = {r["id"]: r for r in report.get("rules", [])}
    md: list[str] = [
        "# LLM cost-attribution gap report",
        "",
        f"- Source: {src['kind']} `{src['location']}`",
        *([f"- Provenance: {'; '.join(describe(src))}"] if describe(src) else []),
        f"- Tool: attribution-auditor {report['tool']['version']} (report schema "
        f"{report['schema_version']})",
        f"- APIs: {len(report['apis'])}, of which {len(llm)} judged as LLM APIs",
        f"- **Attribution score: {score_words(report)}**"
        + (
            " (share of API x signal verdicts that pass)"
            if "n/a" not in score_words(report)
            else ""
        ),
        "",
    ]
    if report.get("usage"):
        from auditor.render.money import markdown_section

        md += markdown_section(report["usage"])
    md += [
        "## Signals",
        "",
        "| Signal | Status | Score | Pass | Fail | Unknown |",
        "|---|---|---:|---:|---:|---:|",
    ]
    md += [
        f"| {s['id']} | {signal_status(s)} | {signal_score(s)} | {s['passed']} | {s['failed']} | "
        f"{s['unknown']} |"
        for s in report["signals"]
    ]
    md += [
        "",
        "## LLM APIs",
        "",
        "| API | " + " | ".join(SIGNALS) + " |",
        "|---|" + "---|" * len(SIGNALS),
    ]
    md += [
        f"| `{cell(a['id'])}` | " + " | ".join(_ICON[a["signals"][s]] for s in SIGNALS) + " |"
        for a in llm
    ]
    gaps = failing(report)
    md += ["", f"## Gaps ({len(gaps)} open: {GAP_WORDS})", ""]
    if not gaps:
        md.append("No failing finding of medium severity or higher.")
    for signal in SIGNALS:
        mine = [f for f in gaps if f["signal"] == signal]
        if not mine:
            continue
        md += [f"### {signal}", ""]
        for f in mine:
            title = rules.get(f["rule"], {}).get("title", f["rule"])
            md += [
                f"- **{f['severity'].upper()} {f['rule']}** {cell(title)}: `{cell(f['target'])}`",
                f"  - where: `{loc(f)}`",
                f"  - finding: {f['message']}",
                f"  - fix: {f['fix']}",
            ]
            if patch := f.get("patch"):
                md += [
                    f"  - patch for `{patch['path']}` ({patch['description']}; `auditor fix` "
                    "applies it):",
                    "",
                    "    ```diff",
                    *("    " + line for line in patch["diff"].rstrip("\n").splitlines()),
                    "    ```",
                ]
        md.append("")
    unknown = unverified(report)
    limits = [g for g in report.get("limits", []) if g["limits"]]
    undecided = [a for a in report["apis"] if a.get("scope") == "undecided"]
    md += ["## Could not be verified", ""]
    if not unknown and not limits and not undecided:
        md.append("Everything the rules need was visible and readable.")
    elif not unknown:
        md.append("No verdict rests on what could not be seen; what the source does not show is "
                  "listed below.")  # fmt: skip
    else:
        md += [
            "Verdicts that depend on these stay `unknown`, never `pass`.",
            "",
            "| Rule | Status | Reason | Targets |",
            "|---|---|---|---|",
        ]
        md += [
            f"| {rule} | {status} | {cell(reason)} | "
            + ", ".join(f"`{cell(t)}`" for t in targets)
            + " |"
            for (rule, status, reason), targets in unknown.items()
        ]
    if undecided:
        md += ["", f"## Undecided APIs ({len(undecided)})", ""]
        md.append(
            "Whether these front an LLM depends on values this source does not hold; every "
            "verdict is `unknown`."
        )
        md.append("")
        md += [f"- `{cell(a['id'])}`: " + cell("; ".join(a["llm_evidence"][:3])) for a in undecided]
    if limits:
        md += ["", "## What the source does not show", ""]
        md += ["| Count | What | Where |", "|---:|---|---|"]
        md += [
            f"| {g['count']} | {cell(g['kind'])} | "
            + ", ".join(f"`{cell(w)}`" for w in g["where"][:10])
            + (f" (+{len(g['where']) - 10} more)" if len(g["where"]) > 10 else "")
            + " |"
            for g in limits
        ]
    notes = [f for f in report["findings"] if is_note(f)]
    if notes:
        md += ["", "## Notes (low and info: no effect on verdicts)", ""]
        md += [
            f"- {f['severity']} {f['rule']} `{cell(f['target'])}` at `{loc(f)}`: {f['message']}"
            for f in notes
        ]
    if other:
        md += ["", "## APIs not judged (no LLM evidence)", ""]
        md += [f"- `{cell(a['id'])}`" for a in other]
    md += ["", "## Evidence that an API fronts an LLM", ""]
    for a in llm:
        md.append(f"- `{cell(a['id'])}`: " + "; ".join(a["llm_evidence"]))
    if rules:
        md += ["", "## Rules referenced", ""]
        for r in rules.values():
            md += [
                f"### {r['id']} {r['name']} ({r['signal'] or 'source'}, {r['severity']})",
                "",
                r["title"] + ".",
                "",
                f"Why: {r['why']}",
                "",
                f"Fix: {r['fix']}",
                "",
            ]
    return "\n".join(md).rstrip() + "\n"

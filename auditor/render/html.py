"""A self-contained HTML gap report: one file, no external assets, no JavaScript.

Sections: header (source, tool, score), the four signal gauges (inline SVG arcs with the score,
status and counts in text), the LLM API x signal matrix (colour plus a mark and a word, never
colour alone), the gaps grouped by signal, low and info notes, accepted (suppressed) findings,
what could not be verified, APIs not judged, the evidence that an API fronts an LLM, and the rules
referenced. Inline CSS only, light colours, and print styles (no dark backgrounds, no page breaks
inside a finding). Every value from the report is escaped with ``html.escape``: messages quote
policy XML such as ``<base />``. Deterministic: no clock, report order.
"""

from __future__ import annotations

import html
from typing import Any

from auditor.counts import GAP_WORDS, is_note, score_words, signal_score, signal_status
from auditor.provenance import describe
from auditor.render.markdown import unverified
from auditor.render.text import failing, loc, suppression_label
from auditor.rules import SIGNALS

_MARK = {"pass": ("\u2713", "pass"), "fail": ("\u2717", "FAIL"), "unknown": ("?", "unknown")}

CSS = """
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #ffffff; --soft: #f6f8fa;
  --pass: #1a7f37; --pass-bg: #dafbe1; --fail: #b42318; --fail-bg: #ffe4e1;
  --warn: #8a5a00; --warn-bg: #fff4d6; --unknown: #57606a; --unknown-bg: #eaeef2; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 24px; color: var(--fg); background: var(--bg);
  font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
h1 { font-size: 26px; margin: 0 0 8px; }
h2 { font-size: 20px; margin: 32px 0 12px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 17px; margin: 20px 0 8px; }
code { font: 13px/1.4 ui-monospace, SFMono-Regular, Consolas, monospace; background: var(--soft);
  padding: 1px 4px; border-radius: 4px; overflow-wrap: anywhere; }
pre.diff { font: 12px/1.4 ui-monospace, SFMono-Regular, Consolas, monospace; white-space: pre-wrap;
  background: var(--soft); padding: 6px 8px; border-radius: 4px; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { border: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); }
header { border-bottom: 2px solid var(--fg); padding-bottom: 12px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; }
.score { font-size: 18px; margin-top: 8px; }
.score strong { font-size: 34px; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 16px; }
.gauges { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; }
.gauge { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 12px;
  text-align: center; break-inside: avoid; }
.gauge svg { width: 160px; height: 92px; }
.gauge .track { stroke: var(--unknown-bg); }
.gauge text { font: bold 22px sans-serif; fill: var(--fg); }
.gauge figcaption { margin-top: 4px; }
.gauge .name { font-weight: bold; font-size: 16px; display: block; }
.gauge .counts { color: var(--muted); font-size: 13px; }
.st-intact { color: var(--pass); stroke: var(--pass); }
.st-partial { color: var(--warn); stroke: #d4a72c; }
.st-broken { color: var(--fail); stroke: var(--fail); }
.st-unknown { color: var(--unknown); stroke: #8c959f; }
.status { font-weight: bold; text-transform: uppercase; font-size: 13px; }
td.v { white-space: nowrap; font-weight: bold; }
.v-pass { background: var(--pass-bg); color: var(--pass); }
.v-fail { background: var(--fail-bg); color: var(--fail); }
.v-unknown { background: var(--unknown-bg); color: var(--unknown); }
.finding { border: 1px solid var(--line); border-left: 6px solid var(--line); border-radius: 6px;
  padding: 8px 12px; margin: 10px 0; break-inside: avoid; }
.finding h4 { margin: 0 0 6px; font-size: 15px; }
.finding dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
.finding dt { color: var(--muted); }
.finding dd { margin: 0; overflow-wrap: anywhere; }
.finding ul { margin: 0; padding-left: 18px; }
.finding.sev-critical, .finding.sev-high { border-left-color: var(--fail); }
.finding.sev-medium { border-left-color: #d4a72c; }
.finding.sev-low, .finding.sev-info { border-left-color: #8c959f; }
.finding.suppressed { border-style: dashed; opacity: 0.85; }
.badge { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 12px;
  font-weight: bold; border: 1px solid currentColor; }
.badge.sev-critical, .badge.sev-high { background: var(--fail-bg); color: var(--fail); }
.badge.sev-medium { background: var(--warn-bg); color: var(--warn); }
.badge.sev-low, .badge.sev-info { background: var(--unknown-bg); color: var(--unknown); }
.badge.accepted { background: var(--soft); color: var(--muted); border-style: dashed; }
.muted { color: var(--muted); }
.rule-card { break-inside: avoid; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; background: #ffffff; color: #000000; }
  nav { display: none; }
  a { color: inherit; text-decoration: none; }
  h2 { break-after: avoid; }
  table, .gauge, .finding, .badge, td.v { -webkit-print-color-adjust: exact;
    print-color-adjust: exact; }
  .finding.suppressed { opacity: 1; }
  code { background: none; padding: 0; }
}
"""


def e(value: object) -> str:
    """``value`` as escaped HTML text (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def _section(anchor: str, title: str, body: list[str]) -> list[str]:
    return [f'<section id="{anchor}">', f"<h2>{e(title)}</h2>", *body, "</section>"]


def gauge(signal: dict[str, Any]) -> str:
    """One signal as a semicircular SVG gauge with its score, status and counts in text."""
    shown = signal_score(signal)
    decided = shown != "n/a"
    score = max(0, min(100, int(signal["score"]))) if decided else 0
    status = e(signal_status(signal))
    arc = "M 10 80 A 70 70 0 0 1 150 80"
    if decided:
        label = f"{signal['id']}: {score}% of LLM APIs pass ({signal['status']})"
    elif signal["unknown"]:
        label = f"{signal['id']}: no verdict (every one is unknown)"
    else:
        label = f"{signal['id']}: no verdict (no LLM API was judged)"
    return "\n".join(
        [
            '<figure class="gauge">',
            f'<svg viewBox="0 0 160 92" role="img" aria-label="{e(label)}">',
            f'<path class="track" d="{arc}" pathLength="100" fill="none" stroke-width="14"/>',
            f'<path class="arc st-{status}" d="{arc}" pathLength="100" fill="none" '
            f'stroke-width="14" stroke-dasharray="{score} 100"/>',
            f'<text x="80" y="78" text-anchor="middle">{e(shown)}</text>',
            "</svg>",
            "<figcaption>",
            f'<span class="name">{e(signal["id"])}</span>',
            f'<span class="status st-{status}">{status}</span><br>',
            f'<span class="counts">pass {e(signal["passed"])} &middot; fail '
            f"{e(signal['failed'])} &middot; unknown {e(signal['unknown'])}</span>",
            "</figcaption>",
            "</figure>",
        ]
    )


def verdict_cell(verdict: str) -> str:
    """A matrix cell: colour class, a mark and a word."""
    mark, word = _MARK.get(verdict, ("?", verdict))
    return f'<td class="v v-{e(verdict)}">{mark} {e(word)}</td>'


def suppression_text(s: dict[str, Any]) -> str:
    """``waived: reason (owner x, expires y)`` as plain text."""
    extra = []
    if s.get("owner"):
        extra.append(f"owner {s['owner']}")
    if s.get("expires"):
        extra.append(f"expires {s['expires']}")
    tail = f" ({', '.join(extra)})" if extra else ""
    return f"{suppression_label(s)}: {s.get('reason') or 'no reason given'}{tail}"


def finding_card(f: dict[str, Any], rules: dict[str, dict[str, Any]]) -> str:
    """One failing finding: severity badge, rule, where, message, evidence, fix, suppression."""
    sev = e(f["severity"])
    s = f.get("suppression")
    title = rules.get(f["rule"], {}).get("title", "")
    rule_ref = (
        f'<a href="#rule-{e(f["rule"])}">{e(f["rule"])}</a>' if f["rule"] in rules else e(f["rule"])
    )
    mark = f' <span class="badge accepted">{e(suppression_label(s).upper())}</span>' if s else ""
    out = [
        f'<article class="finding sev-{sev}{" suppressed" if s else ""}" '
        f'id="f-{e(f["fingerprint"])}">',
        f'<h4><span class="badge sev-{sev}">{sev.upper()}</span> {rule_ref} {e(title)}{mark}</h4>',
        "<dl>",
        f"<dt>Target</dt><dd><code>{e(f['target'])}</code></dd>",
        f"<dt>Where</dt><dd><code>{e(loc(f))}</code></dd>",
        f"<dt>Finding</dt><dd>{e(f['message'])}</dd>",
    ]
    evidence = [x for x in f.get("evidence") or [] if x.get("path")]
    if evidence:
        items = "".join(
            f"<li><code>{e(x['path'])}{':' + e(x['line']) if x.get('line') else ''}</code></li>"
            for x in evidence
        )
        out.append(f"<dt>Evidence</dt><dd><ul>{items}</ul></dd>")
    out.append(f"<dt>Fix</dt><dd>{e(f['fix'])}</dd>")
    if patch := f.get("patch"):
        out.append(
            f"<dt>Patch</dt><dd>{e(patch['description'])} (<code>auditor fix</code> applies it "
            f'to <code>{e(patch["path"])}</code>)<pre class="diff">{e(patch["diff"])}</pre></dd>'
        )
    if s:
        out.append(f"<dt>Accepted</dt><dd>{e(suppression_text(s))}</dd>")
    out += ["</dl>", "</article>"]
    return "\n".join(out)


def _header(report: dict[str, Any], llm: list[dict[str, Any]]) -> list[str]:
    src = report["source"]
    words = score_words(report)
    score = (
        f"<strong>{e(report['score'])}</strong>/100"
        if not words.startswith("n/a")
        else f"<strong>n/a</strong> {e(words[4:])}"
    )
    out = [
        "<header>",
        "<h1>LLM cost-attribution gap report</h1>",
        '<dl class="meta">',
        f"<dt>Source</dt><dd>{e(src['kind'])} <code>{e(src['location'])}</code></dd>",
        *([f"<dt>Provenance</dt><dd>{e('; '.join(describe(src)))}</dd>"] if describe(src) else []),
        f"<dt>Tool</dt><dd>attribution-auditor {e(report['tool']['version'])} "
        f"(report schema {e(report['schema_version'])})</dd>",
        f"<dt>APIs</dt><dd>{len(report['apis'])}, of which {len(llm)} judged as LLM APIs</dd>",
        "</dl>",
        f'<p class="score">Attribution score: {score}'
        + (
            ""
            if words.startswith("n/a")
            else ' <span class="muted">(share of API x signal verdicts that pass)</span>'
        )
        + "</p>",
    ]
    if report.get("notes"):
        out.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in report["notes"]) + "</ul>")
    return [*out, "</header>"]


def _matrix(llm: list[dict[str, Any]]) -> list[str]:
    if not llm:
        return ["<p>No API fronts an LLM.</p>"]
    out = [
        "<table>",
        "<thead><tr><th>API</th>" + "".join(f"<th>{e(s)}</th>" for s in SIGNALS) + "</tr></thead>",
        "<tbody>",
    ]
    out += [
        f"<tr><th><code>{e(a['id'])}</code></th>"
        + "".join(verdict_cell(a["signals"].get(s, "unknown")) for s in SIGNALS)
        + "</tr>"
        for a in llm
    ]
    out += [
        "</tbody>",
        "</table>",
        '<p class="muted">\u2713 pass: every check of the signal passes; \u2717 FAIL: a finding of '
        "medium severity or higher; ? unknown: something the signal needs could not be seen or "
        "read.</p>",
    ]
    return out


def _gaps(report: dict[str, Any], rules: dict[str, dict[str, Any]]) -> list[str]:
    gaps = failing(report)
    out = ['<section id="gaps">', f"<h2>Gaps ({len(gaps)} open: {e(GAP_WORDS)})</h2>"]
    if not gaps:
        out.append("<p>No failing finding of medium severity or higher.</p>")
    for group in [*SIGNALS, None]:
        mine = [f for f in gaps if f["signal"] == group]
        if mine:
            out.append(f"<h3>{e(group or 'source')} ({len(mine)})</h3>")
            out += [finding_card(f, rules) for f in mine]
    return [*out, "</section>"]


def _notes(report: dict[str, Any], rules: dict[str, dict[str, Any]]) -> list[str]:
    notes = [f for f in report["findings"] if is_note(f)]
    if not notes:
        return []
    return _section(
        "notes",
        f"Notes: low and info ({len(notes)})",
        ['<p class="muted">These do not change a verdict.</p>']
        + [finding_card(f, rules) for f in notes],
    )


def _accepted(report: dict[str, Any], rules: dict[str, dict[str, Any]]) -> list[str]:
    found = [f for f in report["findings"] if f.get("suppression")]
    if not found:
        return []
    rows = [
        "<tr>"
        f"<td>{e(f['rule'])}</td><td><code>{e(f['target'])}</code></td>"
        f"<td>{e(f['status'])} ({e(f['severity'])})</td>"
        f"<td>{e(suppression_label(f['suppression']))}</td>"
        f"<td>{e(f['suppression'].get('reason') or '')}</td>"
        f"<td>{e(f['suppression'].get('owner') or '')}</td>"
        f"<td>{e(f['suppression'].get('expires') or '')}</td>"
        "</tr>"
        for f in found
    ]
    return _section(
        "accepted",
        f"Accepted findings ({len(found)})",
        [
            '<p class="muted">Waived, baselined or ignored inline: still reported, with why. '
            "Waived and ignored findings no longer count against verdicts; baselined ones do, "
            "but do not fail the gate.</p>",
            "<table>",
            "<thead><tr><th>Rule</th><th>Target</th><th>Status</th><th>How</th><th>Reason</th>"
            "<th>Owner</th><th>Expires</th></tr></thead>",
            "<tbody>",
            *rows,
            "</tbody>",
            "</table>",
            *(finding_card(f, rules) for f in found if f["status"] == "fail"),
        ],
    )


def _unverified(report: dict[str, Any]) -> list[str]:
    groups = unverified(report)
    limits = [g for g in report.get("limits", []) if g["limits"]]
    undecided = [a for a in report["apis"] if a.get("scope") == "undecided"]
    if not groups and not limits and not undecided:
        return _section(
            "unverified",
            "Could not be verified",
            ["<p>Everything the rules need was visible and readable.</p>"],
        )
    if not groups:
        return _section(
            "unverified",
            "Could not be verified",
            ["<p>No verdict rests on what could not be seen; what the source does not show "
             "is listed below.</p>"],
        )  # fmt: skip
    rows = [
        f"<tr><td>{e(rule)}</td><td>{e(status)}</td><td>{e(reason)}</td><td>"
        + ", ".join(f"<code>{e(t)}</code>" for t in targets)
        + "</td></tr>"
        for (rule, status, reason), targets in groups.items()
    ]
    return _section(
        "unverified",
        "Could not be verified",
        [
            '<p class="muted">Verdicts that depend on these stay unknown, never pass.</p>',
            "<table>",
            "<thead><tr><th>Rule</th><th>Status</th><th>Reason</th><th>Targets</th></tr></thead>",
            "<tbody>",
            *rows,
            "</tbody>",
            "</table>",
        ],
    )


def _undecided(report: dict[str, Any]) -> list[str]:
    undecided = [a for a in report["apis"] if a.get("scope") == "undecided"]
    if not undecided:
        return []
    items = [
        f"<li><code>{e(a['id'])}</code><ul>"
        + "".join(f"<li>{e(x)}</li>" for x in a["llm_evidence"][:3])
        + "</ul></li>"
        for a in undecided
    ]
    return _section(
        "undecided",
        f"Undecided APIs ({len(undecided)})",
        [
            '<p class="muted">Whether these front an LLM depends on values this source does not '
            "hold; every verdict is unknown.</p>",
            "<ul>",
            *items,
            "</ul>",
        ],
    )


def _limits(report: dict[str, Any]) -> list[str]:
    limits = [g for g in report.get("limits", []) if g["limits"]]
    if not limits:
        return []
    rows = [
        f"<tr><td>{g['count']}</td><td>{e(g['kind'])}</td><td>"
        + ", ".join(f"<code>{e(w)}</code>" for w in g["where"][:10])
        + (f" (+{len(g['where']) - 10} more)" if len(g["where"]) > 10 else "")
        + "</td></tr>"
        for g in limits
    ]
    return _section(
        "limits",
        "What the source does not show",
        [
            '<p class="muted">These limit the verdicts: what they hide is unknown, never '
            "assumed.</p>",
            "<table>",
            "<thead><tr><th>Count</th><th>What</th><th>Where</th></tr></thead>",
            "<tbody>",
            *rows,
            "</tbody>",
            "</table>",
        ],
    )


def _rules(rules: dict[str, dict[str, Any]]) -> list[str]:
    if not rules:
        return []
    body = []
    for r in rules.values():
        body += [
            f'<div class="rule-card" id="rule-{e(r["id"])}">',
            f"<h3>{e(r['id'])} {e(r['name'])} "
            f'<span class="muted">({e(r["signal"] or "source")}, {e(r["severity"])})</span></h3>',
            f"<p>{e(r['title'])}.</p>",
            f"<p><strong>Why:</strong> {e(r['why'])}</p>",
            f"<p><strong>Fix:</strong> {e(r['fix'])}</p>",
            "</div>",
        ]
    return _section("rules", "Rules referenced", body)


def _money_css(report: dict[str, Any]) -> str:
    if not report.get("usage"):
        return ""
    from auditor.render.money_html import CSS as MONEY_CSS

    return MONEY_CSS


def render(report: dict[str, Any]) -> str:
    """The whole report as one HTML document."""
    llm = [a for a in report["apis"] if a["llm"]]
    other = [a for a in report["apis"] if a.get("scope", "llm" if a["llm"] else "other") == "other"]
    rules = {r["id"]: r for r in report.get("rules", [])}
    title = f"LLM cost-attribution gap report: {report['source']['location']}"
    evidence = [
        f"<li><code>{e(a['id'])}</code><ul>"
        + "".join(f"<li>{e(x)}</li>" for x in a["llm_evidence"])
        + "</ul></li>"
        for a in llm
    ]
    money: list[str] = []
    if report.get("usage"):
        from auditor.render import money_html

        money = money_html.section(report["usage"], e)
    sections: list[tuple[str, str, list[str]]] = [
        ("money", "Money", money),
        (
            "signals",
            "Signals",
            _section(
                "signals",
                "Signals",
                ['<div class="gauges">', *(gauge(s) for s in report["signals"]), "</div>"],
            ),
        ),
        ("matrix", "LLM APIs", _section("matrix", "LLM APIs x signals", _matrix(llm))),
        ("gaps", "Gaps", _gaps(report, rules)),
        ("notes", "Notes", _notes(report, rules)),
        ("accepted", "Accepted", _accepted(report, rules)),
        ("unverified", "Could not be verified", _unverified(report)),
        ("undecided", "Undecided APIs", _undecided(report)),
        ("limits", "Not shown", _limits(report)),
        (
            "not-judged",
            "APIs not judged",
            _section(
                "not-judged",
                f"APIs not judged: no LLM evidence ({len(other)})",
                ["<ul>", *(f"<li><code>{e(a['id'])}</code></li>" for a in other), "</ul>"],
            )
            if other
            else [],
        ),
        (
            "evidence",
            "LLM evidence",
            _section(
                "evidence", "Evidence that an API fronts an LLM", ["<ul>", *evidence, "</ul>"]
            ),
        ),
        ("rules", "Rules", _rules(rules)),
    ]
    present = [(anchor, label, body) for anchor, label, body in sections if body]
    nav = "".join(f'<li><a href="#{a}">{e(label)}</a></li>' for a, label, _ in present)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>",
        f"<style>{CSS}{_money_css(report)}</style>",
        "</head>",
        "<body>",
        *_header(report, llm),
        f"<nav><ul>{nav}</ul></nav>",
        "<main>",
        *(line for _, _, body in present for line in body),
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(out) + "\n"

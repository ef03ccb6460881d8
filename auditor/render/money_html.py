"""The HTML report's "Money" section: the headline, a chart and the tables.

The chart is inline SVG (no script, no external asset): one horizontal bar per deployment,
split into attributed, unattributed through the gateway, bypass and idle PTU capacity, each
part with its colour, a pattern-free legend in text and the figures as a table below, so the
chart is never the only carrier of a number.
"""

from __future__ import annotations

from typing import Any

from auditor.render.money import (
    amount,
    deployment_label,
    detail_lines,
    leaking_apis,
    money_line,
    payer_rows,
    percent,
    tokens,
)

PARTS = (
    ("attributed", "Attributed", "#1a7f37"),
    ("unattributed", "Unattributed (through the gateway)", "#d4a72c"),
    ("bypass", "Bypass (around the gateway)", "#b42318"),
    ("idle", "Idle PTU capacity", "#8c959f"),
)
CSS = """
.money .headline { font-size: 18px; font-weight: bold; margin: 8px 0; }
.money svg.chart { width: 100%; max-width: 1000px; height: auto; }
.money svg.chart text { font: 12px sans-serif; fill: #1b1f24; }
.money .legend span { display: inline-block; margin-right: 16px; }
.money .legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
  vertical-align: middle; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.money td.num { text-align: right; white-space: nowrap; }
"""


def _parts(d: dict[str, Any]) -> dict[str, float]:
    """Money per part of a deployment (tokens where it is unpriced)."""
    if d["cost"] is None:
        return {}
    bypass = d["bypass_cost"] or 0.0
    unattributed = (d["unattributed_cost"] or 0.0) - bypass
    return {
        "attributed": d["attributed_cost"] or 0.0,
        "unattributed": max(0.0, unattributed),
        "bypass": bypass,
        "idle": d["idle_cost"] or 0.0,
    }


def chart(usage: dict[str, Any], e: Any) -> str:
    """One bar per priced deployment, its parts proportional to money."""
    deps = [(d, _parts(d)) for d in usage.get("deployments", [])]
    deps = [(d, p) for d, p in deps if p and sum(p.values()) > 0]
    if not deps:
        return '<p class="muted">No deployment could be priced: no chart.</p>'
    top = max(sum(p.values()) for _, p in deps)
    label_w, bar_w, row_h = 260, 560, 26
    height = row_h * len(deps) + 10
    cur = usage["currency"]
    out = [
        f'<svg class="chart" viewBox="0 0 {label_w + bar_w + 160} {height}" role="img" '
        f'aria-label="{e("Cost per deployment: attributed, unattributed, bypass, idle")}">'
    ]
    for n, (d, parts) in enumerate(deps):
        y = 5 + n * row_h
        out.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">'
            f"{e(deployment_label(d))}</text>"
        )
        x = float(label_w)
        for key, name, colour in PARTS:
            value = parts.get(key, 0.0)
            if value <= 0:
                continue
            w = bar_w * value / top
            out.append(
                f'<rect x="{x:.2f}" y="{y + 3}" width="{max(w, 0.5):.2f}" height="{row_h - 8}" '
                f'fill="{colour}"><title>{e(f"{name}: {amount(value, cur)}")}</title></rect>'
            )
            x += w
        out.append(f'<text x="{x + 6:.2f}" y="{y + 16}">{e(amount(d["cost"], cur))}</text>')
    out.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{e(name)}</span>' for _, name, colour in PARTS
    )
    return "\n".join([*out, f'<p class="legend">{legend}</p>'])


def section(usage: dict[str, Any], e: Any) -> list[str]:
    """The section's HTML lines."""
    cur = usage["currency"]
    out = [
        '<section id="money" class="money">',
        "<h2>Money</h2>",
        f'<p class="headline">{e(money_line(usage))}</p>',
        "<ul>" + "".join(f"<li>{e(line.strip())}</li>" for line in detail_lines(usage)) + "</ul>",
        "<h3>Cost per deployment</h3>",
        chart(usage, e),
        "<table>",
        "<thead><tr><th>Deployment</th><th>Model</th><th>Type</th><th>Tokens</th>"
        "<th>Attributed</th><th>Unattributed</th><th>Bypass</th><th>Cost</th>"
        "<th>Unattributed cost</th><th>Idle PTU</th><th>Basis</th></tr></thead>",
        "<tbody>",
    ]
    for d in usage.get("deployments", []):
        cells = [
            tokens(d["tokens"]),
            tokens(d["attributed_tokens"]),
            tokens(d["unattributed_tokens"]),
            tokens(d["bypass_tokens"]),
            _cost(d["cost"], cur),
            _cost(d["unattributed_cost"], cur),
            _cost(d["idle_cost"], cur),
        ]
        out.append(
            f"<tr><th><code>{e(deployment_label(d))}</code></th><td>{e(d['model'] or '?')}</td>"
            f"<td>{e(d['sku'] or '?')}</td>"
            + "".join(f'<td class="num">{e(c)}</td>' for c in cells)
            + f"<td>{e(d['cost_basis'])}</td></tr>"
        )
    out += ["</tbody>", "</table>", "<h3>By payer</h3>"]
    rows = payer_rows(usage, limit=len(usage.get("payers", [])))
    if rows:
        out += [
            "<table><thead><tr><th>Payer</th><th>Tokens</th><th>Cost</th>"
            "<th>Share of attributed</th></tr></thead><tbody>",
            *(
                f'<tr><td><code>{e(r[0])}</code></td><td class="num">{e(r[1])}</td>'
                f'<td class="num">{e(r[2])}</td><td class="num">{e(r[3])}</td></tr>'
                for r in rows
            ),
            "</tbody></table>",
        ]
    else:
        out.append("<p>No payer could be measured.</p>")
    leaks = leaking_apis(usage, limit=len(usage.get("apis", [])))
    out.append("<h3>APIs with unattributed tokens</h3>")
    if leaks:
        out += [
            "<table><thead><tr><th>API</th><th>Tokens</th><th>Unattributed</th><th>Share</th>"
            "<th>Unattributed cost</th><th>Payer dimension</th></tr></thead><tbody>",
            *(
                f"<tr><td><code>{e(a['id'])}</code></td>"
                f'<td class="num">{e(tokens(a["tokens"]))}</td>'
                f'<td class="num">{e(tokens(a["unattributed_tokens"]))}</td>'
                f'<td class="num">{e(percent(a["unattributed_share"]))}</td>'
                f'<td class="num">{e(_cost(a["unattributed_cost"], cur))}</td>'
                f"<td>{e(a['payer_dimension'] or 'none')} ({e(a['payer_trust'])})</td></tr>"
                for a in leaks
            ),
            "</tbody></table>",
        ]
    else:
        out.append("<p>Every measured gateway token names a payer.</p>")
    notes = [*usage.get("notes", []), *usage.get("tolerances", [])]
    out += [
        "<h3>Notes and tolerances</h3>",
        "<ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>",
        "</section>",
    ]
    return out


def _cost(value: float | None, currency: str) -> str:
    return "–" if value is None else amount(value, currency)

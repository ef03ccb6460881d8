"""The money figures in words and tables, shared by the text, Markdown, HTML and TUI views.

Everything reads the report's ``usage`` object only. Unknown figures are said to be unknown
(with the reason the report gives), never shown as 0; every money figure says its basis.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

TOP_PAYERS = 10
TOP_APIS = 5
_SYMBOL = {"USD": "$", "EUR": "€", "GBP": "£"}


def amount(value: float | None, currency: str, *, cents: bool = True) -> str:
    """``$3,870.25`` (or ``EUR 3,870.25``); ``unknown`` for None."""
    if value is None:
        return "unknown"
    symbol = _SYMBOL.get(currency.upper())
    # NOTE: through Decimal, so 441.045 shows as 441.05 (a binary float would show 441.04).
    step = Decimal("0.01") if cents else Decimal(1)
    number = f"{Decimal(str(value)).quantize(step, rounding=ROUND_HALF_UP):,}"
    return f"{symbol}{number}" if symbol else f"{currency} {number}"


def tokens(value: int | None) -> str:
    """``1,234,567`` or ``unknown``."""
    return "unknown" if value is None else f"{value:,}"


def percent(value: float | None) -> str:
    """A share as ``14.2 %``."""
    return "unknown" if value is None else f"{100 * value:.1f} %"


def money_line(usage: dict[str, Any]) -> str:
    """The headline: how much cannot be charged to a team, and how much of it bypasses."""
    t = usage["totals"]
    cur = usage["currency"]
    if usage.get("attribution") == "unknown" or t["unattributed_share"] is None:
        why = "; ".join(u["reason"] for u in usage.get("unknown", [])[:2]) or "not measured"
        return (
            f"Attribution unknown ({why}); the period's usage costs "
            f"≈ {amount(t['monthly_run_rate'], cur, cents=False)} a month ({usage['cost_basis']})"
        )
    line = (
        f"{percent(t['unattributed_share'])} of tokens "
        f"(≈ {amount(t['unattributed_monthly'], cur, cents=False)} a month) "
        "cannot be charged to a team"
    )
    if t["bypass_monthly"] is not None and t["bypass_tokens"]:
        up_to = "up to " if t.get("bypass_is_upper_bound") else ""
        line += (
            f"; {up_to}{amount(t['bypass_monthly'], cur, cents=False)} of it bypasses the gateway"
        )
    elif t["bypass_tokens"] is None:
        line += "; how much bypasses the gateway is unknown"
    return line


def detail_lines(usage: dict[str, Any]) -> list[str]:
    """What the headline rests on: period, totals, basis, idle capacity, unpriced tokens."""
    t = usage["totals"]
    cur = usage["currency"]
    p = usage["period"]
    out = [
        f"Usage {p['start']}..{p['end']} (end excluded): {tokens(t['tokens'])} tokens, "
        f"{amount(t['cost'], cur)} ({usage['cost_basis']}; monthly run-rate "
        f"{amount(t['monthly_run_rate'], cur)})",
        f"  attributed {amount(t['attributed_cost'], cur)} · unattributed "
        f"{amount(t['unattributed_cost'], cur)} (of which bypass {amount(t['bypass_cost'], cur)})"
        f" · idle PTU capacity {amount(t['idle_cost'], cur)}",
        f"  basis: {usage['cost_basis_reason']}",
    ]
    if t.get("unpriced_tokens"):
        out.append(
            f"  {tokens(t['unpriced_tokens'])} tokens unpriced (no published price for their "
            "model and deployment type): counted in tokens, not in money"
        )
    if t.get("bypass_is_upper_bound"):
        out.append(
            "  no readable LLM log for some accounts: their bypass is an upper bound (it may "
            "include calls through unmetered APIs)"
        )
    for u in usage.get("unknown", []):
        out.append(f"  not measured: {u['what']}: {u['reason']}")
    return out


def payer_rows(usage: dict[str, Any], limit: int = TOP_PAYERS) -> list[tuple[str, str, str, str]]:
    """(payer, tokens, cost, share of the attributed cost) for the top payers."""
    cur = usage["currency"]
    whole = usage["totals"]["attributed_cost"] or 0
    rows = []
    for p in usage.get("payers", [])[:limit]:
        cost = p["cost"]
        share = percent(cost / whole) if cost is not None and whole else "n/a"
        rows.append(
            (f"{p['dimension']}={p['value']}", tokens(p["tokens"]), amount(cost, cur), share)
        )
    return rows


def leaking_apis(usage: dict[str, Any], limit: int = TOP_APIS) -> list[dict[str, Any]]:
    """APIs with unattributed tokens, the costliest first."""
    apis = [a for a in usage.get("apis", []) if a.get("unattributed_tokens")]
    apis.sort(
        key=lambda a: (
            -(a["unattributed_cost"] or 0),
            -(a["unattributed_tokens"] or 0),
            a["id"],
        )
    )
    return apis[:limit]


def api_line(a: dict[str, Any], currency: str) -> str:
    """One leaking API: unattributed tokens, share and money."""
    cost = a["unattributed_cost"]
    money = amount(cost, currency) if cost is not None else "unpriced"
    return (
        f"{a['id']}: {tokens(a['unattributed_tokens'])} of {tokens(a['tokens'])} tokens "
        f"({percent(a['unattributed_share'])}) unattributed, {money}"
    )


def text_block(usage: dict[str, Any]) -> list[str]:
    """The money part of the terminal summary (after the headline)."""
    cur = usage["currency"]
    out = detail_lines(usage)
    rows = payer_rows(usage)
    if rows:
        width = max(len(r[0]) for r in rows)
        out += ["", f"  {'payer'.ljust(width)}  {'tokens':>15}  {'cost':>14}  share"]
        out += [f"  {r[0].ljust(width)}  {r[1]:>15}  {r[2]:>14}  {r[3]}" for r in rows]
        more = len(usage.get("payers", [])) - len(rows)
        if more > 0:
            out.append(f"  ... {more} more payers (in the report file)")
    leaks = leaking_apis(usage)
    if leaks:
        out += ["", "Top leaking APIs:"]
        out += [f"  {api_line(a, cur)}" for a in leaks]
    return out


def deployment_label(d: dict[str, Any]) -> str:
    """``account/deployment``."""
    return f"{d['account']}/{d['deployment']}"


def markdown_section(usage: dict[str, Any]) -> list[str]:
    """The Markdown "Money" section."""
    from auditor.render.markdown import cell

    cur = usage["currency"]
    md = ["## Money", "", f"**{cell(money_line(usage))}**", ""]
    md += [f"- {cell(line.strip())}" for line in detail_lines(usage)]
    rows = payer_rows(usage, limit=len(usage.get("payers", [])))
    md += ["", "### By payer", ""]
    if rows:
        md += ["| Payer | Tokens | Cost | Share of attributed |", "|---|---:|---:|---:|"]
        md += [f"| `{cell(r[0])}` | {r[1]} | {r[2]} | {r[3]} |" for r in rows]
    else:
        md.append("No payer could be measured.")
    md += [
        "",
        "### By deployment",
        "",
        "| Deployment | Model | Type | Tokens | Attributed | Unattributed | Bypass | Cost | "
        "Unattributed cost | Idle PTU | Basis |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for d in usage.get("deployments", []):
        md.append(
            f"| `{cell(deployment_label(d))}` | {cell(d['model'] or '?')} | "
            f"{cell(d['sku'] or '?')} | {tokens(d['tokens'])} | {tokens(d['attributed_tokens'])}"
            f" | {tokens(d['unattributed_tokens'])} | {tokens(d['bypass_tokens'])} | "
            f"{_cost(d['cost'], cur)} | {_cost(d['unattributed_cost'], cur)} | "
            f"{_cost(d['idle_cost'], cur)} | {cell(d['cost_basis'])} |"
        )
    leaks = leaking_apis(usage, limit=len(usage.get("apis", [])))
    md += ["", "### APIs with unattributed tokens", ""]
    if leaks:
        md += [
            "| API | Tokens | Unattributed | Share | Unattributed cost | Payer dimension |",
            "|---|---:|---:|---:|---:|---|",
        ]
        md += [
            f"| `{cell(a['id'])}` | {tokens(a['tokens'])} | {tokens(a['unattributed_tokens'])} | "
            f"{percent(a['unattributed_share'])} | {_cost(a['unattributed_cost'], cur)} | "
            f"{cell(a['payer_dimension'] or 'none')} ({cell(a['payer_trust'])}) |"
            for a in leaks
        ]
    else:
        md.append("Every measured gateway token names a payer.")
    notes = [*usage.get("notes", []), *_deployment_notes(usage)]
    md += ["", "### Notes and tolerances", ""]
    md += [f"- {cell(n)}" for n in notes]
    md += [f"- {cell(t)}" for t in usage.get("tolerances", [])]
    md += [
        f"- Gateway and platform counts are compared with a tolerance of "
        f"{percent(usage.get('tolerance'))}.",
        "",
    ]
    return md


def _cost(value: float | None, currency: str) -> str:
    return "–" if value is None else amount(value, currency)


def _deployment_notes(usage: dict[str, Any]) -> list[str]:
    return [f"{deployment_label(d)}: {n}" for d in usage.get("deployments", []) for n in d["notes"]]

"""The report's ``usage`` object: totals, deployments, payers and APIs, from the gap's rows.

Every total is a sum of allocation rows (also written out under ``allocation`` for the FOCUS
export), so the figures agree with each other to the micro-unit. A figure that could not be
measured is ``null`` and ``unknown`` says why; it is never 0.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from auditor.usage.allocate import quantize

if TYPE_CHECKING:
    from auditor.usage.gap import Gap, Row

ALLOCATION_COLUMNS = (
    "day",
    "account",
    "deployment",
    "status",
    "api",
    "dimension",
    "payer",
    "input",
    "output",
    "cost",
    "list_cost",
    "basis",
    "estimate",
    "ptu_hours",
    "reason",
    "token_class",
)


def money(value: Decimal | None) -> float | None:
    """A money figure for JSON: micro-units, as a number (None stays None)."""
    return None if value is None else float(quantize(value))


def share(part: int | None, whole: int | None) -> float | None:
    """``part / whole`` to six places; None when either is unknown or the whole is 0."""
    if part is None or whole is None or whole == 0:
        return None
    return round(part / whole, 6)


def _sum(rows: list[Row], *statuses: str) -> tuple[int, Decimal]:
    tokens = sum(r.tokens for r in rows if r.status in statuses)
    cost = sum((r.cost for r in rows if r.status in statuses and r.cost is not None), Decimal(0))
    return tokens, cost


def usage_report(gap: Gap) -> dict[str, Any]:
    """The ``usage`` object of the JSON report (keys in the schema's order, extras after)."""
    rows = gap.rows
    period = gap.usage.period
    known = gap.attribution_known
    bypass_known = all(f.bypass is not None for f in gap.deployments.values() if f.read)
    tokens = sum(r.tokens for r in rows if r.status != "idle")
    attributed, attributed_cost = _sum(rows, "attributed")
    through, through_cost = _sum(rows, "unattributed")
    bypass, bypass_cost = _sum(rows, "bypass")
    _, idle_cost = _sum(rows, "idle")
    unknown_tokens, _ = _sum(rows, "unknown")
    cost = sum((r.cost for r in rows if r.cost is not None), Decimal(0))
    unpriced = sum(r.tokens for r in rows if r.cost is None and r.status != "idle")
    factor = Decimal(str(period.month_factor()))
    unattributed = through + bypass if known else None
    unattributed_cost = through_cost + bypass_cost if known else None
    basis, why = _basis(gap)
    totals = {
        "tokens": tokens,
        "attributed_tokens": attributed if known else None,
        "unattributed_tokens": unattributed,
        "bypass_tokens": bypass if bypass_known else None,
        "cost": money(cost),
        "attributed_cost": money(attributed_cost) if known else None,
        "unattributed_cost": money(unattributed_cost),
        "bypass_cost": money(bypass_cost) if bypass_known else None,
        "idle_cost": None
        if any(f.idle_unknown for f in gap.deployments.values())
        else money(idle_cost),
        "unattributed_share": share(unattributed, tokens),
        "monthly_run_rate": money(cost * factor),
        "unattributed_monthly": money(unattributed_cost * factor)
        if unattributed_cost is not None
        else None,
        "bypass_monthly": money(bypass_cost * factor) if bypass_known else None,
        "gateway_unattributed_tokens": through if known else None,
        "unknown_tokens": unknown_tokens,
        "unpriced_tokens": unpriced,
        "audio_tokens": gap.audio.get("tokens"),
        "bypass_share": share(bypass, tokens) if bypass_known else None,
        "bypass_is_upper_bound": any(f.bypass_upper_bound for f in gap.deployments.values()),
        "month_factor": round(float(factor), 6),
    }
    return {
        "period": period.to_json(),
        "currency": gap.currency,
        "cost_basis": basis,
        "price_source": _price_source(gap),
        "totals": totals,
        "deployments": _deployments(gap),
        "payers": _payers(gap) if known else [],
        "apis": _apis(gap),
        "cost_basis_reason": why,
        "attribution": "measured" if known else "unknown",
        "unknown": gap.unknown,
        "notes": gap.notes,
        "tolerance": float(gap.tolerance),
        "tolerances": list(_tolerances(gap)),
        "audio": _audio(gap),
        "allocation": {
            "columns": list(ALLOCATION_COLUMNS),
            "rows": [_row(r) for r in sorted(rows, key=_row_order)],
        },
    }


def _tolerances(gap: Gap) -> tuple[str, ...]:
    from auditor.usage.gap import AUDIO_TOLERANCE, TOLERANCES

    # NOTE: the audio assumption is stated only where audio was measured and found: elsewhere
    # it moves no figure.
    return (*TOLERANCES, AUDIO_TOLERANCE) if gap.audio.get("tokens") else TOLERANCES


def _audio(gap: Gap) -> dict[str, Any]:
    """How the audio tokens were counted: ``tokens`` (null when some account's audio was not
    measured), the assumption, the tokens counted on top where the data contradicts it, and
    what counting them apart everywhere would add."""
    a = gap.audio
    return {
        "tokens": a.get("tokens"),
        "measured": a.get("measured", False),
        "assumed": "inside ProcessedPromptTokens and GeneratedTokens",
        "on_top_tokens": a.get("on_top_tokens", 0),
        "if_counted_apart": {
            "extra_tokens": a.get("if_apart_tokens", 0),
            "extra_cost": money(a.get("if_apart_cost")),
        },
    }


def _basis(gap: Gap) -> tuple[str, str]:
    bases = {r.basis for r in gap.rows if r.basis != "unpriced"}
    table = gap.table
    if table.kind == "file":
        prices = f"prices from {table.location} where it gives one, else the bundled list prices"
    else:
        prices = f"list prices ({table.kind} table, as of {table.as_of or 'unknown'})"
    costs = [n for n in gap.notes if n.startswith("Cost Management")]
    if bases == {"actual"}:
        return "actual", "amortized cost from Cost Management, shared by measured token shares"
    if bases == {"list"} or not bases:
        return "list", prices + (f"; {costs[0]}" if costs else "")
    return (
        "estimate",
        f"Cost Management's amortized cost where it had rows, {prices} for the rest",
    )


def _price_source(gap: Gap) -> dict[str, Any]:
    out = gap.table.describe()
    out["cost_management"] = [
        {"scope": p.key, "status": p.status, "reason": p.reason}
        for p in gap.usage.parts_of("costs")
    ]
    return out


def _deployments(gap: Gap) -> list[dict[str, Any]]:
    out = []
    for f in gap.deployments.values():
        d = f.deployment
        if f.read and not f.tokens and not f.cost:
            continue
        bases = f.bases - {"unpriced"}
        basis = "unpriced" if not bases else next(iter(bases)) if len(bases) == 1 else "estimate"
        reasons = list(f.reasons)
        text_unpriced = f.unpriced - f.unpriced_audio
        if text_unpriced:
            reasons.append(
                f"{text_unpriced:,} tokens unpriced: no price for {d.model or 'an unknown model'} "
                f"{d.sku or ''} in the price table".replace("  ", " ")
            )
        if f.unpriced_audio:
            reasons.append(
                f"{f.unpriced_audio:,} audio tokens unpriced: no audio price for "
                f"{d.model or 'an unknown model'} {d.sku or ''} in the price table (never "
                "priced as text)".replace("  ", " ")
            )
        if f.bypass_upper_bound and f.read:
            reasons.append("no readable LLM log in front of the account: bypass is an upper bound")
        if f.idle_unknown:
            reasons.append("PTU utilization not read on some days: idle capacity unknown there")
        out.append(
            {
                "account": d.account,
                "deployment": d.name,
                "model": d.model,
                "sku": d.sku,
                "tokens": f.tokens,
                "attributed_tokens": f.attributed,
                "unattributed_tokens": f.unattributed,
                "bypass_tokens": f.bypass,
                "cost": money(f.cost),
                "unattributed_cost": money(f.unattributed_cost),
                "version": d.version,
                "capacity": d.capacity,
                "region": d.region,
                "account_id": d.account_id,
                "attributed_cost": money(f.attributed_cost),
                "bypass_cost": money(f.bypass_cost),
                "idle_cost": money(f.idle_cost),
                "gateway_tokens": f.gateway,
                "unpriced_tokens": f.unpriced,
                "audio_tokens": f.audio if f.read else None,
                "bypass_share": share(f.bypass, f.tokens),
                "cost_basis": basis,
                "notes": reasons,
            }
        )
    return out


def _payers(gap: Gap) -> list[dict[str, Any]]:
    tokens: dict[tuple[str, str], int] = defaultdict(int)
    cost: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    unpriced: dict[tuple[str, str], int] = defaultdict(int)
    apis: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in gap.rows:
        if r.status != "attributed":
            continue
        key = (r.dimension, r.payer)
        tokens[key] += r.tokens
        apis[key].add(r.api)
        if r.cost is None:
            unpriced[key] += r.tokens
        else:
            cost[key] += r.cost
    order = sorted(tokens, key=lambda k: (-cost[k], -tokens[k], k))
    return [
        {
            "dimension": k[0],
            "value": k[1],
            "tokens": tokens[k],
            "cost": money(cost[k]) if unpriced[k] < tokens[k] else None,
            "unpriced_tokens": unpriced[k],
            "apis": sorted(apis[k]),
        }
        for k in order
    ]


def _apis(gap: Gap) -> list[dict[str, Any]]:
    out = []
    for api_id in sorted(gap.apis):
        a = gap.apis[api_id]
        m = a.meter
        out.append(
            {
                "id": api_id,
                "tokens": a.tokens,
                "attributed_tokens": a.attributed,
                "unattributed_tokens": a.unattributed,
                "cost": money(a.cost),
                "unattributed_cost": money(a.unattributed_cost),
                "unattributed_share": share(a.unattributed, a.tokens),
                "unpriced_tokens": a.unpriced,
                "payer_dimension": m.payer if m else None,
                "payer_trust": m.payer_kind if m else "unknown",
                "deployment_dimension": (m.deployment_dimension or m.model_dimension)
                if m
                else None,
                "deployments": [f"{acct}/{dep}" for acct, dep in sorted(a.deployments)],
                "deployment_mix_estimated": a.mix_borrowed,
            }
        )
    return out


_STATUS_ORDER = {"attributed": 0, "unattributed": 1, "bypass": 2, "idle": 3, "unknown": 4}


def _row_order(r: Row) -> tuple[Any, ...]:
    return (
        r.day,
        r.account.lower(),
        r.deployment.lower(),
        _STATUS_ORDER[r.status],
        r.api,
        r.dimension,
        r.payer,
        r.reason,
        r.token_class,
    )


def _row(r: Row) -> list[Any]:
    return [
        r.day,
        r.account,
        r.deployment,
        r.status,
        r.api,
        r.dimension,
        r.payer,
        r.input,
        r.output,
        money(r.cost),
        money(r.list_cost),
        r.basis,
        r.estimate,
        money(r.ptu_hours),
        r.reason,
        r.token_class,
    ]

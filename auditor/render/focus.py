"""FOCUS 1.2 allocation export (``--format focus``): one row per day, account, deployment, API and
payer, plus the unallocated rows (unattributed, bypass, idle PTU capacity).

The FOCUS 1.2 mandatory columns come first, then the conditional ones this data can fill, then
the ``x_`` columns (payer, API, attribution status and basis), as the spec's column-handling
rules ask. EffectiveCost sums to ``usage.totals.cost`` exactly (both come from the same
allocation rows). Rows whose price is unknown carry 0 in the cost columns (FOCUS forbids null
there) and ``x_CostBasis`` ``unpriced``; they are left out of every money total.

Mappings that are this tool's choices, not the spec's: BillingAccountId is the subscription (the
billing account is not read; facts doc §6.5); BilledCost equals EffectiveCost (Cost Management's
amortized cost, else the price table's figure); ContractedCost equals ListCost unless
``--prices`` gave other prices; Tags carries the payer (``{"<dimension>": "<value>"}``) on
attributed rows, ``{}`` elsewhere. Audio tokens have rows of their own (``x_TokenClass`` ``audio``,
"audio tokens" in ChargeDescription): they are priced on their own meters, so their ListCost and
EffectiveCost are not the text rows' (``x_TokenClass`` is ``text`` elsewhere, also for a saved
report from before audio was measured).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

from auditor.errors import AuditorError

FOCUS_COLUMNS = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "EffectiveCost",
    "HostProviderName",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceProviderName",
    "ServiceSubcategory",
    "SubAccountId",
    "SubAccountName",
    "Tags",
)
X_COLUMNS = (
    "x_PayerDimension",
    "x_Payer",
    "x_ApiId",
    "x_AttributionStatus",
    "x_AttributionReason",
    "x_AttributionSource",
    "x_DeploymentType",
    "x_ModelName",
    "x_ModelVersion",
    "x_InputTokens",
    "x_OutputTokens",
    "x_PtuHours",
    "x_CostBasis",
    "x_PriceSource",
    "x_IsEstimate",
    "x_TokenClass",
)
COLUMNS = (*FOCUS_COLUMNS, *X_COLUMNS)
_MICROSOFT = "Microsoft"


def _cost(value: Any) -> str:
    return "0" if value is None else f"{value:.6f}"


def _quantity(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def _month(day: date) -> tuple[str, str]:
    start = day.replace(day=1)
    end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return f"{start.isoformat()}T00:00:00Z", f"{end.isoformat()}T00:00:00Z"


def _subscription(account_id: str) -> str:
    parts = account_id.split("/")
    return parts[2] if len(parts) > 2 and parts[1].lower() == "subscriptions" else ""


def _source(row: dict[str, Any], usage: dict[str, Any]) -> str:
    if row["status"] == "idle":
        return "platform-metric"
    if row["status"] == "bypass":
        return "platform-metric"
    if row["reason"].startswith("through the gateway"):
        return "llm-log"
    return "apim-metric"


def render(report: dict[str, Any]) -> str:
    """The allocation as FOCUS CSV (LF line ends)."""
    usage = report.get("usage")
    if not usage:
        raise AuditorError(
            "--format focus needs measured usage: scan with --azure --usage PERIOD, or a "
            "snapshot or saved report that holds it"
        )
    deployments = {(d["account"].lower(), d["deployment"].lower()): d for d in usage["deployments"]}
    columns = usage["allocation"]["columns"]
    price = usage["price_source"]
    price_source = f"{price['kind']}: {price['location'] or price['source']}"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for raw in usage["allocation"]["rows"]:
        r = dict(zip(columns, raw, strict=True))
        d = deployments.get((r["account"].lower(), r["deployment"].lower()), {})
        day = date.fromisoformat(r["day"])
        tokens = r["input"] + r["output"]
        account_id = d.get("account_id") or ""
        sub = _subscription(account_id)
        ptu = r["ptu_hours"] is not None
        model = d.get("model") or ""
        sku = d.get("sku") or ""
        payer = f"{r['dimension']}={r['payer']}" if r["status"] == "attributed" else r["status"]
        via = f" via {r['api']}" if r["api"] else ""
        kind = r.get("token_class", "text") if tokens else ""
        what = "audio tokens" if kind == "audio" else "tokens"
        description = (
            "idle PTU capacity"
            if r["status"] == "idle"
            else f"{model or r['deployment']} {sku} {what}, {payer}{via}".replace("  ", " ")
        )
        cost = r["cost"]
        contracted = cost if r["basis"] == "list" else r["list_cost"]
        writer.writerow(
            [
                _cost(cost),
                sub,
                f"subscription {sub}" if sub else "",
                usage["currency"],
                *reversed(_month(day)),
                "Usage",
                "",
                description,
                "Usage-Based",
                f"{date.fromordinal(day.toordinal() + 1).isoformat()}T00:00:00Z",
                f"{day.isoformat()}T00:00:00Z",
                str(tokens),
                "Tokens",
                _cost(contracted),
                _cost(cost),
                _MICROSOFT,
                _MICROSOFT,
                _cost(r["list_cost"]),
                _quantity(r["ptu_hours"]) if ptu else _quantity(tokens / 1_000_000),
                "Hours" if ptu else "1000000 Tokens",
                _MICROSOFT,
                _MICROSOFT,
                d.get("region") or "",
                d.get("region") or "",
                f"{account_id}/deployments/{r['deployment']}" if account_id else "",
                r["deployment"],
                "Microsoft.CognitiveServices/accounts/deployments",
                "AI and Machine Learning",
                "Foundry Models",
                _MICROSOFT,
                "Generative AI",
                f"/subscriptions/{sub}" if sub else "",
                sub,
                json.dumps({r["dimension"]: r["payer"]} if r["status"] == "attributed" else {}),
                r["dimension"],
                r["payer"],
                r["api"],
                r["status"],
                r["reason"],
                _source(r, usage),
                sku,
                model,
                d.get("version") or "",
                str(r["input"]),
                str(r["output"]),
                _quantity(r["ptu_hours"]) if ptu else "",
                r["basis"],
                price_source
                if r["basis"] == "list"
                else "costmanagement"
                if r["basis"] == "actual"
                else "",
                "true" if r["estimate"] or r["basis"] == "list" else "false",
                kind,
            ]
        )
    return out.getvalue()

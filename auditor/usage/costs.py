"""Actual cost from Cost Management: amortized cost per account, meter and day (a read).

``POST {scope}/providers/Microsoft.CostManagement/query`` is a POST that only reads (the
operation is ``Microsoft.CostManagement/query/read``; Cost Management Reader or Reader grants
it). It is the one Resource Manager POST the live scan sends, and its guard allows exactly this
path. Cost Management bills per account and meter, never per deployment: the gap shares each
meter's cost among the account's deployments on that meter by their tokens.

Assumptions (facts doc §5, §10): the service is ``Foundry Models`` in newer data and
``Cognitive Services`` in older, both are asked for; the cost column may be named ``Cost`` or
``PreTaxCost`` (both read); ``UsageDate`` is a ``yyyymmdd`` number; the data lags by hours, so a
day without rows is priced at list prices rather than taken as free.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from auditor.usage.period import Period

COST_API = "2025-03-01"
QUERY_PATH = re.compile(
    r"^/subscriptions/[^/]+(/resourceGroups/[^/]+)?/providers/Microsoft\.CostManagement/query$",
    re.IGNORECASE,
)
SERVICE_NAMES = ("Foundry Models", "Cognitive Services", "Foundry Tools")
_COST_COLUMNS = ("cost", "pretaxcost", "totalcost", "costusd")


class CostError(Exception):
    """A Cost Management reply that cannot be used."""


def body(period: Period) -> dict[str, Any]:
    """The query: amortized cost by account (ResourceId) and Meter, daily."""
    start, end = period.bounds()
    return {
        "type": "AmortizedCost",
        "timeframe": "Custom",
        "timePeriod": {
            "from": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            # NOTE: Cost Management's end is inclusive: the last second of the period.
            "to": (end - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "dataset": {
            "granularity": "Daily",
            "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
            "grouping": [
                {"type": "Dimension", "name": "ResourceId"},
                {"type": "Dimension", "name": "Meter"},
            ],
            "filter": {
                "dimensions": {
                    "name": "ServiceName",
                    "operator": "In",
                    "values": list(SERVICE_NAMES),
                }
            },
        },
    }


def rows(reply: Any) -> tuple[list[tuple[str, str, str, Decimal]], str | None, str | None]:
    """(day, resource id, meter, cost) rows, the currency, and the next page's link."""
    props = reply.get("properties") if isinstance(reply, dict) else None
    if not isinstance(props, dict):
        raise CostError("the Cost Management reply has no 'properties'")
    columns = props.get("columns")
    if not isinstance(columns, list):
        raise CostError("the Cost Management reply has no 'columns'")
    names = [str(c.get("name") or "").lower() if isinstance(c, dict) else "" for c in columns]
    try:
        cost_at = next(i for i, n in enumerate(names) if n in _COST_COLUMNS)
        date_at = names.index("usagedate")
        rid_at = names.index("resourceid")
        meter_at = names.index("meter")
    except (StopIteration, ValueError) as exc:
        raise CostError(f"unexpected Cost Management columns: {', '.join(names)}") from exc
    currency_at = names.index("currency") if "currency" in names else None
    out: list[tuple[str, str, str, Decimal]] = []
    currencies = set()
    for row in props.get("rows") or []:
        if not isinstance(row, list) or len(row) < len(names):
            raise CostError("a Cost Management row does not match its columns")
        day = str(row[date_at])
        if not re.fullmatch(r"\d{8}", day):
            raise CostError(f"unexpected UsageDate '{day}'")
        try:
            cost = Decimal(str(row[cost_at]))
        except (InvalidOperation, ValueError) as exc:
            raise CostError(f"unexpected cost '{row[cost_at]}'") from exc
        if currency_at is not None:
            currencies.add(str(row[currency_at]))
        out.append((f"{day[:4]}-{day[4:6]}-{day[6:]}", str(row[rid_at]), str(row[meter_at]), cost))
    if len(currencies) > 1:
        raise CostError(f"several currencies in one scope: {', '.join(sorted(currencies))}")
    link = props.get("nextLink")
    currency = currencies.pop() if currencies else None
    return out, currency, link if isinstance(link, str) and link else None

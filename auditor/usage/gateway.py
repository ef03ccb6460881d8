"""What the gateway measured, aggregated in Log Analytics with KQL: its token metrics by API, payer
and deployment, and its own LLM log by API and deployment. Raw rows never leave Azure: every
query ends in ``summarize`` by day.

Two queries, both resource-centric (``POST /v1/{resourceId}/query``, a read):

- on each Application Insights component the APIM loggers write to: ``customMetrics``
  (``Prompt Tokens`` / ``Completion Tokens``), summed with ``valueSum`` (the documented sum of
  the aggregated measurements; ``sum(value)`` agrees only when each record holds one, which is
  UNCONFIRMED for APIM), by day, ``API ID`` and the dimensions that carry each API's payer and
  deployment (read from the policies, :mod:`auditor.usage.attribution`);
- on each APIM service: ``ApiManagementGatewayLlmLog`` (one row per request and message chunk:
  tokens taken once per ``CorrelationId``) joined to ``ApiManagementGatewayLogs`` for the API
  and the backend host (``BackendUrl``), by day and deployment. A workspace without the table
  (no ``GatewayLlmLogs`` diagnostic setting) answers "failed to resolve table": the log is then
  absent, and the report says bypass is an upper bound.

Names from the policies are quoted as KQL string literals, never spliced in raw.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from auditor.model import Estate
from auditor.usage.attribution import API_DIMENSION, ApiMeter
from auditor.usage.period import Period

METRIC_NAMES = ("Prompt Tokens", "Completion Tokens")


@dataclass
class MetricsPlan:
    """One component to query: the services writing to it and the dimensions to keep."""

    component: str
    services: set[str] = field(default_factory=set)
    dimensions: set[str] = field(default_factory=set)


def plan(meters: Iterable[ApiMeter]) -> tuple[list[MetricsPlan], list[str]]:
    """The metrics queries the estate needs, and the metered APIs whose metrics land nowhere."""
    plans: dict[str, MetricsPlan] = {}
    nowhere = []
    for m in meters:
        if not m.metered:
            continue
        if not m.components:
            nowhere.append(m.id)
        for c in m.components:
            p = plans.setdefault(c.lower(), MetricsPlan(c))
            p.services.add(m.service)
            p.dimensions.update(
                d
                for d in (m.payer, m.deployment_dimension, m.model_dimension)
                if d and d.lower() != API_DIMENSION
            )
    return [plans[k] for k in sorted(plans)], sorted(nowhere)


def kql_string(text: str) -> str:
    """``text`` as a KQL double-quoted string literal."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _datetime(day: Any) -> str:
    return f"datetime({day.isoformat()}T00:00:00Z)"


def metrics_query(period: Period, dimensions: Iterable[str]) -> str:
    """KQL over ``customMetrics``: tokens by day, API ID and the given dimensions."""
    dims = sorted(dimensions)
    cols = [f"d{n} = tostring(customDimensions[{kql_string(d)}])" for n, d in enumerate(dims)]
    by = ", ".join(["day", "api", *(f"d{n}" for n in range(len(dims)))])
    names = ", ".join(kql_string(n) for n in METRIC_NAMES)
    lines = [
        "customMetrics",
        f"| where timestamp >= {_datetime(period.start)} and timestamp < {_datetime(period.end)}",
        f"| where name in ({names})",
        '| extend day = format_datetime(startofday(timestamp), "yyyy-MM-dd"), '
        f"api = tostring(customDimensions[{kql_string('API ID')}])",
    ]
    if cols:
        lines.append("| extend " + ", ".join(cols))
    lines.append(
        f"| summarize input = tolong(sumif(valueSum, name == {kql_string(METRIC_NAMES[0])})), "
        f"output = tolong(sumif(valueSum, name == {kql_string(METRIC_NAMES[1])})) by {by}"
    )
    return "\n".join(lines)


def llm_query(period: Period) -> str:
    """KQL over the LLM log joined to the gateway log: tokens by day, API, host, deployment."""
    start, end = _datetime(period.start), _datetime(period.end)
    return "\n".join(
        [
            "let llm = ApiManagementGatewayLlmLog",
            f"| where TimeGenerated >= {start} and TimeGenerated < {end}",
            "| summarize input = max(PromptTokens), output = max(CompletionTokens), "
            "deployment = take_any(DeploymentName), model = take_any(ModelName), "
            "t = min(TimeGenerated) by CorrelationId;",
            "let calls = ApiManagementGatewayLogs",
            f"| where TimeGenerated >= {start} - 1h and TimeGenerated < {end} + 1h",
            "| summarize api = take_any(ApiId), "
            'host = take_any(tostring(parse_url(BackendUrl)["Host"])) by CorrelationId;',
            "llm",
            "| join kind=leftouter calls on CorrelationId",
            "| summarize input = tolong(sum(input)), output = tolong(sum(output)) by day = "
            'format_datetime(startofday(t), "yyyy-MM-dd"), api = tostring(api), '
            "host = tostring(host), deployment = tostring(deployment), model = tostring(model)",
        ]
    )


class ReplyError(Exception):
    """A query table that does not have the columns asked for."""


def _index(columns: list[str], wanted: Iterable[str]) -> list[int]:
    low = [c.lower() for c in columns]
    try:
        return [low.index(w.lower()) for w in wanted]
    except ValueError as exc:
        raise ReplyError(f"the query returned columns {', '.join(columns)}") from exc


def _count(value: Any) -> int:
    if value is None or value == "":
        return 0
    number = int(round(float(value)))
    if number < 0:
        raise ReplyError(f"a negative token count ({value})")
    return number


def metric_rows(
    columns: list[str], rows: list[list[Any]], dimensions: int
) -> list[tuple[str, str, tuple[str, ...], int, int]]:
    """Rows of :func:`metrics_query` as the measured document stores them."""
    at = _index(columns, ["day", "api", *(f"d{n}" for n in range(dimensions)), "input", "output"])
    out = []
    for row in rows:
        vals = [row[i] for i in at]
        out.append(
            (
                str(vals[0]),
                str(vals[1] or ""),
                tuple(str(v or "") for v in vals[2 : 2 + dimensions]),
                _count(vals[-2]),
                _count(vals[-1]),
            )
        )
    return out


def log_rows(
    service: str, columns: list[str], rows: list[list[Any]]
) -> list[tuple[str, str, str, str, str, str, int, int]]:
    """Rows of :func:`llm_query` as the measured document stores them."""
    at = _index(columns, ["day", "api", "host", "deployment", "model", "input", "output"])
    out = []
    for row in rows:
        day, api, host, dep, model, i, o = (row[n] for n in at)
        out.append(
            (
                service,
                str(day),
                _api_name(str(api or "")),
                str(host or "").lower(),
                str(dep or ""),
                str(model or ""),
                _count(i),
                _count(o),
            )
        )
    return out


def _api_name(api_id: str) -> str:
    """The gateway log's ApiId (a name, or ``/apis/<name>``) as the API's name."""
    return api_id.rstrip("/").rsplit("/", 1)[-1]


def services_of(estate: Estate) -> list[str]:
    """The APIM services of the estate, by name."""
    return sorted({s.name for s in estate.services})

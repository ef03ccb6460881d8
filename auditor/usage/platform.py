"""What Azure itself measured, through Resource Manager GETs: the accounts, their deployments and
the Azure Monitor token metrics of every deployment, daily.

Requests (``metrics.list`` semantics, facts doc §1.4): ``ProcessedPromptTokens`` and
``GeneratedTokens``, ``aggregation=Total``, ``interval=P1D``, split by ``ModelDeploymentName``
(one wildcard dimension: the API documents one), with ``top`` set above the number of
deployments (the default of 10 series would cut an account with 11 deployments silently); a
reply with as many series as ``top`` is treated as cut and the account's tokens as unknown.
Provisioned deployments also get ``AzureOpenAIProvisionedManagedUtilizationV2`` (Average).

Audio tokens (``AudioPromptTokens`` / ``AudioCompletionTokens``, same unit, aggregation and
dimension) are asked for in the same GET as the text tokens, so they cost no request. They are
optional: a metric of theirs that fails, is cut at ``top`` or is missing from the reply makes the
account's *audio* unknown and keeps its text tokens; a reply that refuses the request as a whole
with a 400 (an endpoint or cloud that does not know the audio metrics) is asked again without
them (one more GET), the audio then unknown. An absent series is a deployment without audio.

Assumptions (UNCONFIRMED in the facts doc §10, handled either way):

- a day with no ``total`` had no tokens (the docs do not say whether empty buckets omit it);
- ``ProcessedPromptTokens`` includes cached prompt tokens (probably; cached tokens are then
  priced at the input price, an upper bound stated in the report's tolerances);
- a query spans at most 30 days (chunks of 30 days, whatever the real limit is);
- audio tokens are counted *inside* ``ProcessedPromptTokens`` / ``GeneratedTokens`` (the metrics'
  docs do not say; the API's usage object counts audio inside its prompt and completion tokens,
  and so do the gateway's token metrics): see :mod:`auditor.usage.gap` for how the figures show
  the other case.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from auditor.usage.measured import Deployment
from auditor.usage.period import Period

METRICS_API = "2024-02-01"
DEPLOYMENTS_API = "2024-10-01"
ACCOUNTS_API = "2024-10-01"
TOKEN_METRICS = ("ProcessedPromptTokens", "GeneratedTokens")
AUDIO_METRICS = ("AudioPromptTokens", "AudioCompletionTokens")
UTILIZATION_METRIC = "AzureOpenAIProvisionedManagedUtilizationV2"
AI_KINDS = ("openai", "aiservices")
MIN_TOP = 50


class MetricsError(Exception):
    """A metrics reply that cannot be used; the message says why."""


def top_for(deployments: int) -> int:
    """``top`` for an account: well above its number of deployments."""
    return max(MIN_TOP, 4 * deployments)


def metric_params(
    period: Period, names: Iterable[str], aggregation: str, top: int
) -> dict[str, str]:
    """Query parameters of one metrics GET."""
    return {
        "metricnames": ",".join(names),
        "timespan": period.timespan(),
        "interval": "P1D",
        "aggregation": aggregation,
        "$filter": "ModelDeploymentName eq '*'",
        "top": str(top),
        "api-version": METRICS_API,
    }


def account_of(item: dict[str, Any]) -> tuple[str, str, str | None] | None:
    """(name, id, location) of an Azure OpenAI / AI Services account in a list reply."""
    if str(item.get("kind") or "").lower() not in AI_KINDS:
        return None
    name, rid = item.get("name"), item.get("id")
    if not isinstance(name, str) or not isinstance(rid, str):
        return None
    location = item.get("location")
    return name, rid, location.replace(" ", "").lower() if isinstance(location, str) else None


def deployment_of(
    item: dict[str, Any], account: str, account_id: str, region: str | None
) -> Deployment | None:
    """A deployment from a deployments list reply (model, version, SKU, capacity, creation)."""
    name = item.get("name")
    if not isinstance(name, str) or not name:
        return None
    sku = _obj(item.get("sku"))
    props = _obj(item.get("properties"))
    model = _obj(props.get("model"))
    system = _obj(item.get("systemData"))
    capacity = sku.get("capacity")
    return Deployment(
        account=account,
        name=name,
        model=_text(model.get("name")),
        version=_text(model.get("version")),
        sku=_text(sku.get("name")),
        capacity=capacity if isinstance(capacity, int) and not isinstance(capacity, bool) else None,
        region=region,
        account_id=account_id,
        created=_text(system.get("createdAt")),
    )


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def series(
    body: Any,
    top: int,
    period: Period,
    value: Callable[[dict[str, Any]], float | None],
    optional: Collection[str] = (),
    failed: dict[str, str] | None = None,
) -> dict[str, dict[tuple[str, str], float]]:
    """Per metric name: (deployment, day) -> value, from a metrics reply.

    Raises MetricsError when a metric failed or its series may have been cut at ``top``; for a
    metric named in ``optional`` the reason goes into ``failed`` instead (and it is left out).
    """
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise MetricsError("the metrics reply has no 'value' list")
    days = {d.isoformat() for d in period.each_day()}
    out: dict[str, dict[tuple[str, str], float]] = {}
    for metric in body["value"]:
        if not isinstance(metric, dict):
            continue
        name_obj = metric.get("name")
        name = name_obj.get("value") if isinstance(name_obj, dict) else None
        if not isinstance(name, str):
            continue
        code = metric.get("errorCode")
        lines = metric.get("timeseries") or []
        problem = ""
        if code not in (None, "Success"):
            problem = f"metric {name}: {code} {metric.get('errorMessage') or ''}".strip()
        elif len(lines) >= top:
            problem = (
                f"metric {name} returned {len(lines)} series, as many as top={top}: the reply "
                "may be cut, so the account's tokens are not counted"
            )
        if problem:
            if name not in optional or failed is None:
                raise MetricsError(problem)
            failed[name] = problem
            out.pop(name, None)
            continue
        found = out.setdefault(name, {})
        for line in lines:
            dep = _dimension(line, "modeldeploymentname")
            if dep is None:
                continue
            for point in line.get("data") or []:
                day = str(point.get("timeStamp") or "")[:10]
                if day not in days:
                    continue
                v = value(point)
                if v is not None:
                    key = (dep, day)
                    found[key] = found.get(key, 0.0) + v
    return out


def _dimension(line: Any, wanted: str) -> str | None:
    for meta in line.get("metadatavalues") or [] if isinstance(line, dict) else []:
        name = meta.get("name") if isinstance(meta, dict) else None
        key = name.get("value") if isinstance(name, dict) else name
        # NOTE: names come back lower-cased (facts doc §1.4); compare case-insensitively.
        if isinstance(key, str) and key.lower() == wanted and isinstance(meta.get("value"), str):
            return str(meta["value"])
    return None


def total(point: dict[str, Any]) -> float | None:
    """A point's ``total``; a point without one counts as 0 (assumed, see the module note)."""
    v = point.get("total")
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0


def average(point: dict[str, Any]) -> float | None:
    """A point's ``average``; None when the point has none (no reading that day)."""
    v = point.get("average")
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

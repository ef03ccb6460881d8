"""The fake Azure of the usage tests: the fake Resource Manager plus what ``--usage`` reads.

:class:`FakeAzure` extends :class:`fake_arm.FakeArm` (same loopback HTTPS server, same faults,
same request log) with, all computed from a *truth* (a measured-usage document, by default the
demo's, moved to the period asked for):

- ARM: each account's ``deployments`` and its Azure Monitor ``metrics`` (token totals per
  deployment and day, split as ``$filter=ModelDeploymentName eq '*'`` asks, cut at ``top``;
  audio token totals from the truth's ``audio`` rows, with ``audio_refused`` a 400 for a request
  that names them and with ``audio_error`` that error code on them; PTU utilization averages),
  and Cost Management's ``query`` (a POST; rows from ``costs``, paged
  by ``cost_page_size``);
- Log Analytics: ``POST /v1/<resource>/query`` answering the two KQL queries the tool sends
  (``customMetrics`` summed by the dimensions the query names, and the LLM-log join), or
  "failed to resolve table" when ``llm_absent``;
- the Retail Prices API (``GET /api/retail/prices``, unauthenticated, paged by ``NextPageLink``
  or, with ``retail_no_links``, only by ``$skip``).

It cannot run KQL: it recognises the queries by their tables and reads the dimensions and the
period out of them, so a query that asked for the wrong thing gets the wrong answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fake_arm import FakeArm

from auditor.usage.measured import Metered, Usage
from auditor.usage.period import Period

DEMO_USAGE = Path(__file__).resolve().parents[2] / "auditor" / "demo" / "contoso-usage.json"
_DIM = re.compile(r'd(\d+) = tostring\(customDimensions\["((?:[^"\\]|\\.)*)"\]\)')
_WINDOW = re.compile(r"datetime\((\d{4}-\d{2}-\d{2})T00:00:00Z\)")


def demo_truth() -> Usage:
    """The demo's measured usage (November 2026)."""
    return Usage.from_json(json.loads(DEMO_USAGE.read_text(encoding="utf-8")))


def moved(usage: Usage, start: date) -> Usage:
    """``usage`` with every day moved so that its period starts on ``start``."""
    shift = start - usage.period.start

    def day(text: str) -> str:
        return (date.fromisoformat(text) + shift).isoformat()

    return replace(
        usage,
        period=Period(usage.period.start + shift, usage.period.end + shift),
        platform=tuple((a, d, day(x), i, o) for a, d, x, i, o in usage.platform),
        audio=tuple((a, d, day(x), i, o) for a, d, x, i, o in usage.audio),
        utilization=tuple((a, d, day(x), v) for a, d, x, v in usage.utilization),
        metered=tuple(
            Metered(
                m.component,
                m.services,
                m.dimensions,
                tuple((day(x), api, v, i, o) for x, api, v, i, o in m.rows),
            )
            for m in usage.metered
        ),
        gateway=tuple((s, day(x), *rest) for s, x, *rest in usage.gateway),
        costs=tuple((day(x), r, m, c) for x, r, m, c in usage.costs),
        memo={},
    )


VOICE = (
    # (day of the period, ProcessedPromptTokens, GeneratedTokens, AudioPrompt, AudioCompletion)
    (1, 1_000_000, 400_000, 600_000, 300_000),
    (2, 200_000, 100_000, 0, 50_000),
    (3, 100_000, 0, 300_000, 0),  # more audio than prompt tokens: audio not inside that day
)


def with_audio(
    usage: Usage,
    model: str = "gpt-4o-realtime-preview",
    version: str = "2024-12-17",
    name: str = "voice",
) -> Usage:
    """``usage`` plus a realtime deployment on contoso-westus that no gateway fronts, with the
    text and audio token metrics of :data:`VOICE` (the figures the audio tests compute by
    hand)."""
    west = next(d for d in usage.deployments if d.account == "contoso-westus")
    dep = replace(west, name=name, model=model, version=version, sku="GlobalStandard")
    days = list(usage.period.each_day())
    return replace(
        usage,
        deployments=(*usage.deployments, dep),
        platform=(
            *usage.platform,
            *((west.account, name, days[n].isoformat(), i, o) for n, i, o, _, _ in VOICE),
        ),
        audio=(
            *usage.audio,
            *(
                (west.account, name, days[n].isoformat(), ai, ao)
                for n, _, _, ai, ao in VOICE
                if ai or ao
            ),
        ),
        memo={},
    )


@dataclass
class FakeAzure(FakeArm):
    """Resource Manager, Log Analytics and Retail Prices on one loopback server."""

    truth: Usage = field(default_factory=demo_truth)
    costs: list[tuple[str, str, str, Decimal]] = field(default_factory=list)
    cost_currency: str = "USD"
    cost_page_size: int | None = None
    llm_absent: bool = False
    audio_refused: bool = False
    audio_error: str | None = None
    retail_items: list[dict[str, Any]] = field(default_factory=list)
    retail_page_size: int = 100
    retail_no_links: bool = False
    _memo: dict[Any, Any] = field(default_factory=dict)

    def _cached(self, key: Any, make: Any) -> Any:
        """Indexes of the truth, built once (the bench serves 100,000 rows many times)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def _index(self) -> None:
        super()._index()
        regions = {d.account.lower(): d.region for d in self.truth.deployments}
        for item in self._items.values():
            if str(item.body.get("type") or "").lower() == "microsoft.cognitiveservices/accounts":
                item.body["location"] = regions.get(str(item.body["name"]).lower()) or "eastus"

    # ------------------------------------------------------------------ dispatch

    def _answer(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes = b""
    ) -> tuple[int, dict[str, str], Any]:
        low = path.lower()
        if low.rstrip("/") == "/api/retail/prices" and method == "GET":
            return self._retail(query)
        if headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(401, "InvalidAuthenticationToken", "bad token")
        injected = self.injected(method, path)
        if injected is not None:
            return injected
        if method == "POST" and low.startswith("/v1/") and low.endswith("/query"):
            return self._logs(path[len("/v1") : -len("/query")].strip("/"), json.loads(body))
        if method == "POST" and low.endswith("/providers/microsoft.costmanagement/query"):
            return self._costs(path, query, json.loads(body))
        if method == "GET" and low.endswith("/deployments") and "/accounts/" in low:
            return self._deployments(path)
        if method == "GET" and low.endswith("/providers/microsoft.insights/metrics"):
            return self._metrics(path, query)
        return super()._answer(method, path, query, headers, body)

    # ------------------------------------------------------------------ Resource Manager

    @staticmethod
    def _account_of(path: str) -> str:
        return path.split("/accounts/")[1].split("/")[0].lower()

    def _deployments(self, path: str) -> tuple[int, dict[str, str], Any]:
        acct = self._account_of(path)
        value = [
            {
                "id": f"{path}/{d.name}",
                "type": "Microsoft.CognitiveServices/accounts/deployments",
                "name": d.name,
                "sku": {"name": d.sku, "capacity": d.capacity},
                "systemData": {"createdAt": d.created},
                "properties": {
                    "model": {"format": "OpenAI", "name": d.model, "version": d.version},
                    "provisioningState": "Succeeded",
                },
            }
            for d in self.truth.deployments
            if d.account.lower() == acct
        ]
        return 200, {}, {"value": value}

    def _metrics(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        acct = self._account_of(path)
        if query.get("interval") != "P1D" or query.get("$filter") != "ModelDeploymentName eq '*'":
            return self._error(400, "BadRequest", f"unexpected query {query}")
        start, end = (x[:10] for x in query["timespan"].split("/"))
        top = int(query.get("top") or 10)
        names = query["metricnames"].split(",")
        audio = {"AudioPromptTokens", "AudioCompletionTokens"}
        if self.audio_refused and audio & set(names):
            # NOTE: Azure Monitor's answer to a metric name the resource type does not have.
            return self._error(
                400,
                "BadRequest",
                "Failed to find metric configuration for provider: Microsoft.CognitiveServices, "
                "resource Type: accounts, metric: AudioPromptTokens",
            )
        value = []
        for name in names:
            per: dict[str, list[dict[str, Any]]] = {}
            if name in ("ProcessedPromptTokens", "GeneratedTokens", *audio):
                cls = 3 if name in ("ProcessedPromptTokens", "AudioPromptTokens") else 4
                table = self.truth.audio if name in audio else self.truth.platform
                mine = self._cached(
                    (name in audio, acct),
                    lambda table=table: sorted(r for r in table if r[0].lower() == acct),
                )
                for row in mine:
                    if start <= row[2] < end:
                        per.setdefault(row[1], []).append(
                            {"timeStamp": f"{row[2]}T00:00:00Z", "total": float(row[cls])}
                        )
            elif name == "AzureOpenAIProvisionedManagedUtilizationV2":
                for a, d, day, v in sorted(self.truth.utilization):
                    if a.lower() == acct and start <= day < end:
                        per.setdefault(d, []).append(
                            {"timeStamp": f"{day}T00:00:00Z", "average": v}
                        )
            lines = [
                {
                    "metadatavalues": [
                        {
                            "name": {
                                "value": "modeldeploymentname",
                                "localizedValue": "modeldeploymentname",
                            },
                            "value": dep,
                        }
                    ],
                    # NOTE: an empty day comes as a point without "total", as Azure may send it.
                    "data": points + [{"timeStamp": f"{end}T00:00:00Z"}],
                }
                for dep, points in sorted(per.items())
            ]
            value.append(
                {
                    "id": f"{path}/{name}",
                    "type": "Microsoft.Insights/metrics",
                    "name": {"value": name, "localizedValue": name},
                    "unit": "Count",
                    "errorCode": "Success",
                    "timeseries": lines[:top],
                }
            )
            if name in audio and self.audio_error:
                value[-1].update(errorCode=self.audio_error, timeseries=[])
        return 200, {}, {"cost": 0, "interval": "P1D", "value": value}

    def _costs(
        self, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, str], Any]:
        if body.get("type") != "AmortizedCost" or body.get("timeframe") != "Custom":
            return self._error(400, "BadRequest", "unexpected Cost Management query")
        start = body["timePeriod"]["from"][:10]
        end = body["timePeriod"]["to"][:10]
        scope = path.lower().split("/providers/")[0]
        rows = self._cached(
            ("costs", scope, start, end, len(self.costs)),
            lambda: [
                [float(c), int(d.replace("-", "")), rid.lower(), meter, self.cost_currency]
                for d, rid, meter, c in sorted(self.costs)
                if start <= d <= end and rid.lower().startswith(scope)
            ],
        )
        first = int(query.get("$skiptoken", "0") or 0)
        size = self.cost_page_size or max(1, len(rows))
        out: dict[str, Any] = {
            "columns": [
                {"name": "Cost", "type": "Number"},
                {"name": "UsageDate", "type": "Number"},
                {"name": "ResourceId", "type": "String"},
                {"name": "Meter", "type": "String"},
                {"name": "Currency", "type": "String"},
            ],
            "rows": rows[first : first + size],
        }
        if first + size < len(rows):
            out["nextLink"] = (
                f"{self.url}{path}?api-version={query.get('api-version', '2025-03-01')}"
                f"&$skiptoken={first + size}"
            )
        return 200, {}, {"properties": out}

    # ------------------------------------------------------------------ Log Analytics

    def _logs(self, resource: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        kql = str(body.get("query") or "")
        window = _WINDOW.findall(kql)
        if len(window) < 2:
            return self._error(400, "BadArgumentError", "no period in the query")
        start, end = window[0], window[1]
        if "customMetrics" in kql:
            return 200, {}, self._metered(resource, kql, start, end)
        if "ApiManagementGatewayLlmLog" in kql:
            if self.llm_absent:
                return self._error(
                    400,
                    "BadArgumentError",
                    "'where' operator: Failed to resolve table or column expression named "
                    "'ApiManagementGatewayLlmLog'",
                )
            return 200, {}, self._llm(resource, start, end)
        return self._error(400, "BadArgumentError", "unknown query")

    def _metered(self, resource: str, kql: str, start: str, end: str) -> Any:
        dims = {int(n): name.replace('\\"', '"') for n, name in _DIM.findall(kql)}
        wanted = [dims[n] for n in sorted(dims)]
        sums: dict[tuple[str, ...], list[int]] = {}
        for m in self.truth.metered:
            if m.component.lower().strip("/") != resource.lower().strip("/"):
                continue
            for day, api, vals, i, o in m.rows:
                if not start <= day < end:
                    continue
                have = dict(zip(m.dimensions, vals, strict=True))
                key = (day, api, *(have.get(d, "") for d in wanted))
                s = sums.setdefault(key, [0, 0])
                s[0] += i
                s[1] += o
        columns = ["day", "api", *(f"d{n}" for n in range(len(wanted))), "input", "output"]
        return _table(columns, [[*k, *v] for k, v in sorted(sums.items())])

    def _llm(self, resource: str, start: str, end: str) -> Any:
        service = resource.rsplit("/", 1)[-1].lower()
        rows = [
            [day, f"/apis/{api}" if api else "", host, dep, model, i, o]
            for s, day, api, host, dep, model, i, o in sorted(self.truth.gateway)
            if s.lower() == service and start <= day < end
        ]
        return _table(["day", "api", "host", "deployment", "model", "input", "output"], rows)

    # ------------------------------------------------------------------ Retail Prices

    def _retail(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        first = int(query.get("$skip", "0") or 0)
        page = self.retail_items[first : first + self.retail_page_size]
        out: dict[str, Any] = {
            "BillingCurrency": "USD",
            "CustomerEntityId": "Default",
            "CustomerEntityType": "Retail",
            "Items": page,
            "Count": len(page),
            "NextPageLink": None,
        }
        if first + self.retail_page_size < len(self.retail_items) and not self.retail_no_links:
            nxt = {k: v for k, v in query.items() if k != "$skip"}
            nxt["$skip"] = str(first + self.retail_page_size)
            out["NextPageLink"] = f"{self.url}/api/retail/prices?{urlencode(nxt)}"
        return 200, {}, out


def _table(columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    types = {"input": "long", "output": "long"}
    return {
        "tables": [
            {
                "name": "PrimaryResult",
                "columns": [{"name": c, "type": types.get(c, "string")} for c in columns],
                "rows": rows,
            }
        ]
    }

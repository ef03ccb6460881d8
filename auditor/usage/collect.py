"""Measuring usage in a live scan (``--azure --usage PERIOD``): every read, in parallel.

After the estate is read, per subscription: the Azure OpenAI / AI Services accounts (1 GET, plus
pages), and Cost Management's amortized cost (1 POST that reads, plus pages); per account: its
deployments (1 GET) and its token metrics, text and audio together (1 GET per 30 days of the
period; once more without the audio metrics if that GET is refused with a 400), plus PTU
utilization (1 GET per 30 days) when it has a provisioned deployment; per Application Insights
component the gateway's token metrics land in: 1 Log Analytics query; per APIM service: 1 Log
Analytics query of its LLM log. Requests run on the live scan's worker pool and pipeline
settings (retries, Retry-After, TLS trust); Cost Management's pages, which must follow one
another, run on a lane of their own next to it (so at most ``concurrency`` + 1 requests are in
flight).

Read-only by construction: Resource Manager requests go through the live scan's guard, which
refuses every method but GET except POSTs to ``.../providers/Microsoft.CostManagement/query``;
Log Analytics requests go through a guard that allows only ``POST /v1/<resource>/query``. Both
are queries that read; nothing else is ever sent. No key or secret is read.

A part that fails is recorded with its reason (403 as ``forbidden``): a 403 on Cost Management
makes the figures fall back to list prices and say so; a 403 on Log Analytics leaves the
attribution ``unknown``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline import policies as p

from auditor.errors import SourceError
from auditor.model import Estate
from auditor.sources.live.clients import (
    Arm,
    ArmSettings,
    CappedRetryPolicy,
    describe_exception,
    front_policies,
    pooled_transport,
)
from auditor.sources.live.credentials import is_loopback
from auditor.sources.live.discovery import Discovery, Scope
from auditor.sources.live.faults import PageTrail, quote_name
from auditor.sources.live.tasks import TaskPool
from auditor.usage import costs, gateway, platform
from auditor.usage.attribution import judge
from auditor.usage.measured import Deployment, Metered, Part, Usage
from auditor.usage.period import Period

LOG_ENDPOINTS = {
    "public": "https://api.loganalytics.io",
    "usgov": "https://api.loganalytics.us",
    "china": "https://api.loganalytics.azure.cn",
}
_QUERY_PATH = re.compile(r"^/v1/.+/query$")
_NO_TABLE = re.compile(r"failed to resolve table|'ApiManagementGatewayLlmLog'", re.IGNORECASE)


def logs_endpoint(cloud: str, explicit: str | None, arm_endpoint: str) -> str:
    """The Log Analytics endpoint (``https://host[:port]``) for the options."""
    if explicit:
        parts = urlsplit(explicit.strip())
        if parts.scheme.lower() != "https" or not parts.hostname or parts.path.strip("/"):
            raise SourceError(
                f"--logs-endpoint must be a bare https://host[:port], not '{explicit}'"
            )
        endpoint = f"https://{parts.netloc.lower()}"
    else:
        endpoint = LOG_ENDPOINTS.get(cloud, LOG_ENDPOINTS["public"])
    if is_loopback(endpoint) != is_loopback(arm_endpoint):
        # NOTE: the test token hook is honoured for a loopback Resource Manager only; sending
        # it (or a real token) to a Log Analytics endpoint of the other kind is refused.
        raise SourceError(
            "--logs-endpoint and --arm-endpoint must both be loopback (a local fake) or neither"
        )
    return endpoint


class LogsGuard(p.HTTPPolicy[Any, Any]):
    """Per attempt: allow only ``POST /v1/<resource>/query`` (a read), and count it."""

    def __init__(self, counter: Callable[[], None]) -> None:
        super().__init__()
        self._count = counter

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        """Send one attempt of a query."""
        method = request.http_request.method.upper()
        path = urlsplit(request.http_request.url).path
        if method != "POST" or not _QUERY_PATH.match(path):
            raise AzureError(f"usage collection only queries Log Analytics; refusing {method}")
        self._count()
        return self.next.send(request)


class LogsReader:
    """Log Analytics queries through azure-monitor-query's LogsQueryClient, guarded."""

    def __init__(self, endpoint: str, credential: TokenCredential, settings: ArmSettings) -> None:
        from azure.monitor.query import LogsQueryClient

        self.requests = 0
        self._lock = threading.Lock()
        # NOTE: a query may run for up to the 180 s server timeout it asks for.
        self._session, transport = pooled_transport(
            endpoint, settings, read_timeout=max(settings.timeout, 190.0)
        )
        # NOTE: the whole pipeline is given, so it has no redirect policy (a redirect could
        # carry the token elsewhere) and the guard sits before authentication.
        policies = [
            *front_policies(),
            CappedRetryPolicy(
                settings.max_retry_after,
                retry_total=4,
                retry_backoff_factor=settings.retry_backoff,
                retry_backoff_max=30,
            ),
            LogsGuard(self._counted),
            p.BearerTokenCredentialPolicy(credential, f"{endpoint}/.default"),
            p.HttpLoggingPolicy(),
        ]
        self._client = LogsQueryClient(
            credential, endpoint=endpoint, policies=policies, transport=transport
        )

    def _counted(self) -> None:
        with self._lock:
            self.requests += 1

    def query(
        self, resource_id: str, kql: str, period: Period
    ) -> tuple[str, str, list[str], list[list[Any]]]:
        """(status, reason, columns, rows): ``read``, ``forbidden``, ``absent`` or ``unknown``."""
        from azure.monitor.query import LogsQueryStatus

        try:
            result = self._client.query_resource(
                resource_id, kql, timespan=period.bounds(), server_timeout=180
            )
        except HttpResponseError as exc:
            status = exc.status_code or 0
            text = describe_exception(exc)
            if status == 403:
                return "forbidden", f"403: {text}", [], []
            if status == 400 and _NO_TABLE.search(str(exc)):
                return "absent", f"the table is not in the workspace ({text})", [], []
            return "unknown", f"{status or 'no status'}: {text}", [], []
        except AzureError as exc:
            return "unknown", f"no response: {describe_exception(exc)}", [], []
        if result.status != LogsQueryStatus.SUCCESS:
            error = getattr(result, "partial_error", None)
            return "unknown", f"partial result ({error}): figures would be incomplete", [], []
        if not result.tables:
            return "read", "", [], []
        table = result.tables[0]
        return "read", "", list(table.columns), [list(r) for r in table.rows]

    def close(self) -> None:
        """Release the connection pool."""
        self._session.close()


@dataclass
class _Account:
    name: str
    rid: str
    region: str | None
    deployments: list[Deployment] = field(default_factory=list)
    tokens: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    audio: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    util: dict[tuple[str, str], float] = field(default_factory=dict)
    parts: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Target:
    """Where to measure: the live scan's subscriptions, resource group and APIM services."""

    subscriptions: tuple[str, ...]
    resource_group: str | None
    services: dict[str, str]
    """APIM service name -> ARM id."""


class Collector:
    """Queues every read on ``pool``; :meth:`usage` assembles them once the pool is done."""

    def __init__(
        self,
        arm: Arm,
        logs: LogsReader,
        pool: TaskPool,
        period: Period,
        estate: Estate,
        target: Target,
        lane: TaskPool | None = None,
    ) -> None:
        self.arm = arm
        self.logs = logs
        self.pool = pool
        # NOTE: Cost Management pages follow one another (each names the next) and the query
        # is throttled per scope; on their own lane they do not queue behind the metrics.
        self.lane = lane or pool
        self.period = period
        self.estate = estate
        self.target = target
        self._lock = threading.Lock()
        self._walk = Discovery(arm, pool, Scope(target.subscriptions, target.resource_group, None))
        self.accounts: dict[str, _Account] = {}
        self.parts: list[Part] = []
        self.metered: list[Metered] = []
        self.gateway: list[tuple[str, str, str, str, str, str, int, int]] = []
        self.costs: list[tuple[str, str, str, Decimal]] = []
        self.currency: str | None = None
        self.notes: list[str] = []
        self.meters = judge(estate)

    def _part(self, kind: str, key: str, status: str, reason: str = "") -> None:
        with self._lock:
            self.parts.append(Part(kind, key, status, reason))

    def start(self) -> None:
        """Queue the first requests."""
        for sub in self.target.subscriptions:
            where = f"/subscriptions/{quote_name(sub)}"
            if self.target.resource_group:
                where += f"/resourceGroups/{quote_name(self.target.resource_group)}"
            self._list_accounts(where)
            self.lane.submit(None, self._costs, where, None)
        plans, nowhere = gateway.plan(self.meters)
        for plan in plans:
            self.pool.submit(None, self._metrics, plan)
        if nowhere:
            self.notes.append(
                "the token metrics of " + ", ".join(nowhere) + " land in no Application "
                "Insights component (see COV005): their tokens count as unmetered"
            )
        if not plans:
            reason = (
                "no API runs a token metric"
                if not any(m.metered for m in self.meters)
                else "no metered API's metrics land in an Application Insights component"
            )
            self._part("metrics", "(none)", "absent", reason)
        for name, rid in sorted(self.target.services.items()):
            self.pool.submit(None, self._llm_log, name, rid)

    # ------------------------------------------------------------------ Resource Manager

    def _list_accounts(self, where: str) -> None:
        def failed(status: int, reason: str) -> None:
            self._part("deployments", where, _status(status), f"cannot list accounts: {reason}")

        self._walk.collect(
            None,
            f"{where}/providers/Microsoft.CognitiveServices/accounts",
            platform.ACCOUNTS_API,
            self._account,
            failed,
        )

    def _account(self, item: dict[str, Any]) -> None:
        found = platform.account_of(item)
        if found is None:
            return
        name, rid, region = found
        acct = _Account(name, rid, region)
        with self._lock:
            if rid.lower() in self.accounts:
                return
            self.accounts[rid.lower()] = acct

        def failed(status: int, reason: str) -> None:
            acct.parts["deployments"] = (_status(status), reason)

        self._walk.collect(
            None,
            f"{rid}/deployments",
            platform.DEPLOYMENTS_API,
            lambda d: _append(acct, platform.deployment_of(d, name, rid, region)),
            failed,
            lambda: self._deployments_read(acct),
        )

    def _deployments_read(self, acct: _Account) -> None:
        acct.parts["deployments"] = ("read", "")
        top = platform.top_for(len(acct.deployments))
        names = (*platform.TOKEN_METRICS, *platform.AUDIO_METRICS)
        for chunk in self.period.chunks():
            params = platform.metric_params(chunk, names, "Total", top)
            self.pool.submit(None, self._metric_chunk, acct, chunk, params, top, "platform")
        if any(d.provisioned for d in acct.deployments):
            for chunk in self.period.chunks():
                params = platform.metric_params(
                    chunk, (platform.UTILIZATION_METRIC,), "Average", top
                )
                self.pool.submit(None, self._metric_chunk, acct, chunk, params, top, "utilization")

    def _metric_chunk(
        self, acct: _Account, chunk: Period, params: dict[str, str], top: int, kind: str
    ) -> None:
        reply = self.arm.get(f"{acct.rid}/providers/Microsoft.Insights/metrics", params)
        audio = kind == "platform" and platform.AUDIO_METRICS[0] in params["metricnames"]
        if not reply.ok:
            if audio and reply.status == 400:
                # NOTE: a cloud or endpoint that does not know the audio metrics refuses the
                # whole request; the text tokens must not be lost with it.
                with self._lock:
                    acct.parts.setdefault(
                        "audio",
                        (
                            "unknown",
                            f"the metrics request with the audio metrics was refused "
                            f"({reply.reason}); text tokens read without them",
                        ),
                    )
                retry = platform.metric_params(chunk, platform.TOKEN_METRICS, "Total", top)
                self._metric_chunk(acct, chunk, retry, top, kind)
                return
            with self._lock:
                acct.parts.setdefault(kind, (_status(reply.status), reply.reason))
            return
        value = platform.total if kind == "platform" else platform.average
        failed: dict[str, str] = {}
        try:
            found = platform.series(
                reply.body, top, chunk, value, platform.AUDIO_METRICS if audio else (), failed
            )
        except platform.MetricsError as exc:
            with self._lock:
                acct.parts.setdefault(kind, ("unknown", str(exc)))
            return
        with self._lock:
            if kind == "platform":
                for cls, name in enumerate(platform.TOKEN_METRICS):
                    for key, v in found.get(name, {}).items():
                        acct.tokens.setdefault(key, [0, 0])[cls] += int(round(v))
                if audio:
                    self._audio(acct, found, failed)
            else:
                for key, v in found.get(platform.UTILIZATION_METRIC, {}).items():
                    acct.util[key] = v

    @staticmethod
    def _audio(
        acct: _Account, found: dict[str, dict[tuple[str, str], float]], failed: dict[str, str]
    ) -> None:
        """An account's audio tokens from one reply (the caller holds the lock)."""
        for name in platform.AUDIO_METRICS:
            if name in failed:
                acct.parts.setdefault("audio", ("unknown", failed[name]))
            elif name not in found:
                # NOTE: Azure answers every metric asked for, even one without series; a reply
                # that leaves one out tells nothing about it (unknown, not zero).
                acct.parts.setdefault("audio", ("unknown", f"the reply has no metric {name}"))
        for cls, name in enumerate(platform.AUDIO_METRICS):
            for key, v in found.get(name, {}).items():
                acct.audio.setdefault(key, [0, 0])[cls] += int(round(v))

    def _costs(self, scope: str, url: str | None) -> None:
        if url is None:
            path = f"{scope}/providers/Microsoft.CostManagement/query"
            reply = self.arm.post(path, costs.body(self.period), {"api-version": costs.COST_API})
        else:
            reply = self.arm.post(url, costs.body(self.period))
        if not reply.ok:
            self._part("costs", scope, _status(reply.status), reply.reason)
            return
        try:
            found, currency, link = costs.rows(reply.body)
        except costs.CostError as exc:
            self._part("costs", scope, "unknown", str(exc))
            return
        with self._lock:
            if currency and self.currency and currency != self.currency:
                self.notes.append(f"Cost Management answered in {currency} and {self.currency}")
            self.currency = self.currency or currency
            self.costs.extend(found)
        if link:
            trail = PageTrail(self.arm.endpoint, costs.COST_API)
            try:
                nxt = trail.next_url({"nextLink": link})
            except Exception as exc:  # noqa: BLE001 - a bad link is a part not read
                self._part("costs", scope, "unknown", str(exc))
                return
            if nxt:
                self.lane.submit(None, self._costs, scope, nxt)
                return
        self._part("costs", scope, "read")

    # ------------------------------------------------------------------ Log Analytics

    def _metrics(self, plan: gateway.MetricsPlan) -> None:
        dims = sorted(plan.dimensions)
        kql = gateway.metrics_query(self.period, dims)
        status, reason, columns, rows = self.logs.query(plan.component, kql, self.period)
        if status == "absent":
            status = "unknown"  # customMetrics exists in every App Insights resource
        if status != "read":
            self._part("metrics", plan.component, status, reason)
            return
        try:
            found = gateway.metric_rows(columns, rows, len(dims))
        except gateway.ReplyError as exc:
            self._part("metrics", plan.component, "unknown", str(exc))
            return
        with self._lock:
            self.metered.append(
                Metered(plan.component, tuple(sorted(plan.services)), tuple(dims), tuple(found))
            )
        self._part("metrics", plan.component, "read")

    def _llm_log(self, service: str, rid: str) -> None:
        status, reason, columns, rows = self.logs.query(
            rid, gateway.llm_query(self.period), self.period
        )
        if status != "read":
            if status == "absent":
                reason = (
                    "no LLM log (the service sends no GatewayLlmLogs to Log Analytics): bypass "
                    "is an upper bound"
                )
            self._part("llm-log", service, status, reason)
            return
        try:
            found = gateway.log_rows(service, columns, rows)
        except gateway.ReplyError as exc:
            self._part("llm-log", service, "unknown", str(exc))
            return
        with self._lock:
            self.gateway.extend(found)
        self._part("llm-log", service, "read")

    # ------------------------------------------------------------------ result

    def usage(self, notes: list[str]) -> Usage:
        """Everything read, as the measured usage document."""
        deployments: list[Deployment] = []
        platform_rows: list[tuple[str, str, str, int, int]] = []
        audio_rows: list[tuple[str, str, str, int, int]] = []
        util_rows: list[tuple[str, str, str, float]] = []
        parts = list(self.parts)
        for acct in sorted(self.accounts.values(), key=lambda a: a.rid.lower()):
            listed = acct.parts.get("deployments", ("unknown", "not read"))
            parts.append(Part("deployments", acct.name, *listed))
            if listed[0] != "read":
                parts.append(Part("platform", acct.name, "unknown", "deployments not read"))
                continue
            deployments.extend(acct.deployments)
            status, reason = acct.parts.get("platform", ("read", ""))
            parts.append(Part("platform", acct.name, status, reason))
            if status == "read":
                platform_rows += [
                    (acct.name, dep, day, i, o) for (dep, day), (i, o) in acct.tokens.items()
                ]
                # NOTE: audio is recorded only beside text tokens that were read: an account
                # whose platform metrics failed has no figure for audio to qualify.
                status, reason = acct.parts.get("audio", ("read", ""))
                parts.append(Part("audio", acct.name, status, reason))
                if status == "read":
                    audio_rows += [
                        (acct.name, dep, day, i, o)
                        for (dep, day), (i, o) in acct.audio.items()
                        if i or o
                    ]
            if any(d.provisioned for d in acct.deployments):
                status, reason = acct.parts.get("utilization", ("read", ""))
                parts.append(Part("utilization", acct.name, status, reason))
                if status == "read":
                    util_rows += [
                        (acct.name, dep, day, max(0.0, min(100.0, v)))
                        for (dep, day), v in acct.util.items()
                    ]
        return Usage(
            period=self.period,
            deployments=tuple(deployments),
            parts=tuple(_dedupe(parts)),
            platform=tuple(platform_rows),
            audio=tuple(audio_rows),
            utilization=tuple(util_rows),
            metered=tuple(self.metered),
            gateway=tuple(self.gateway),
            cost_currency=self.currency,
            costs=tuple(self.costs),
            notes=tuple(sorted(self.notes)) + tuple(notes),
        )


def _append(acct: _Account, d: Deployment | None) -> None:
    if d is not None:
        acct.deployments.append(d)


def _status(status: int) -> str:
    return "forbidden" if status == 403 else "unknown"


def _dedupe(parts: list[Part]) -> list[Part]:
    seen: dict[tuple[str, str], Part] = {}
    for part in parts:
        key = (part.kind, part.key.lower())
        if key not in seen or seen[key].status == "read":
            seen[key] = part
    return list(seen.values())


def collect(
    estate: Estate,
    period: Period,
    target: Target,
    settings: ArmSettings,
    credential: TokenCredential,
    logs_endpoint: str,
    progress: Callable[[int], None] | None = None,
) -> Usage:
    """Measure usage for the period (see the module docstring)."""
    started = time.monotonic()
    arm = Arm(settings, credential, read_posts=costs.QUERY_PATH)
    logs = LogsReader(logs_endpoint, credential, settings)
    pool = TaskPool(settings.concurrency)
    lane = TaskPool(1)
    collector = Collector(arm, logs, pool, period, estate, target, lane)

    def tick() -> None:
        if progress is not None:
            progress(arm.stats.requests + logs.requests)

    try:
        collector.start()
        pool.wait(tick)
        lane.wait(tick)
    finally:
        arm.close()
        logs.close()
        pool.close()
        lane.close()
    elapsed = time.monotonic() - started
    return collector.usage(
        [
            f"usage: {arm.stats.requests} Resource Manager and {logs.requests} Log Analytics "
            f"requests in {elapsed:.1f}s"
        ]
    )

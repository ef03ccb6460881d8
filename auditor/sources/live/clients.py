"""One read-only pipeline to Resource Manager, shared by every worker of the live scan.

Every request goes through :class:`Arm`: a single azure-core pipeline over a single ``requests``
session, so TLS connections are reused across worker threads. The pipeline is assembled here
rather than taken from a generated management client because the default ARM pipeline carries
``ARMAutoResourceProviderRegistrationPolicy``, which answers a 409
``MissingSubscriptionRegistration`` with ``POST .../register`` (a write) and then polls forever.
It also has no redirect policy (a redirect could carry the bearer token to another host) and a
guard that refuses anything but GET, so the scan is read-only by construction. Raw JSON is read
on purpose: the SDK models drop properties newer than their api-version, and one allow-list
(:mod:`.mapping`) keeps secrets out.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline import policies as p
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest
from azure.mgmt.core import ARMPipelineClient
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy, ARMHttpLoggingPolicy
from requests import Session
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from auditor import __version__
from auditor.sources.live.credentials import is_loopback
from auditor.sources.live.faults import Reply, describe


def ca_bundle(explicit: str | None) -> str | bool:
    """What TLS trusts: the given bundle, REQUESTS_CA_BUNDLE, SSL_CERT_FILE, else certifi."""
    for value in (explicit, os.environ.get("REQUESTS_CA_BUNDLE"), os.environ.get("SSL_CERT_FILE")):
        if value:
            return value
    return True


@dataclass
class Stats:
    """Counters of one scan (thread-safe through ``lock``)."""

    requests: int = 0
    throttled: int = 0
    pauses: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class ReadBudget:
    """Slows the scan down when Resource Manager says few reads are left.

    ARM reports the remaining reads of the subscription/tenant bucket in
    ``x-ms-ratelimit-remaining-*-reads``; when that drops below the low-water mark every worker
    waits ``pause`` seconds before its next request, so the bucket refills instead of the scan
    running into 429s.
    """

    def __init__(self, low_water: int, pause: float, stats: Stats) -> None:
        self.low_water = low_water
        self.pause = pause
        self._stats = stats
        self._lock = threading.Lock()
        self._resume_at = 0.0

    def wait(self) -> None:
        """Block until the pause (if any) is over."""
        while True:
            with self._lock:
                delay = self._resume_at - time.monotonic()
            if delay <= 0:
                return
            time.sleep(min(delay, 0.25))

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read the remaining-reads headers of a response."""
        left = [
            int(v)
            for k, v in headers.items()
            if k.lower().startswith("x-ms-ratelimit-remaining-")
            and k.lower().endswith("reads")
            and v.strip().isdigit()
        ]
        if left and min(left) < self.low_water:
            with self._lock:
                now = time.monotonic()
                if self._resume_at <= now:
                    with self._stats.lock:
                        self._stats.pauses += 1
                self._resume_at = max(self._resume_at, now + self.pause)


class GuardPolicy(p.HTTPPolicy[Any, Any]):
    """Per attempt: refuse anything but GET (and the POSTs that read, when allowed), honour the
    read budget, count requests."""

    def __init__(
        self, budget: ReadBudget, stats: Stats, read_posts: re.Pattern[str] | None = None
    ) -> None:
        super().__init__()
        self._budget = budget
        self._stats = stats
        self._read_posts = read_posts

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        """Send one attempt of a GET (or of an allowed reading POST)."""
        method = request.http_request.method.upper()
        path = urlsplit(request.http_request.url).path
        allowed = method == "POST" and self._read_posts and self._read_posts.match(path)
        if method != "GET" and not allowed:
            raise AzureError(f"the live scan is read-only; refusing {method}")
        self._budget.wait()
        with self._stats.lock:
            self._stats.requests += 1
        response = self.next.send(request)
        status = response.http_response.status_code
        with self._stats.lock:
            self._stats.throttled += status == 429
        self._budget.observe(response.http_response.headers)
        return response


class CappedRetryPolicy(p.RetryPolicy[Any, Any]):
    """azure-core's retry (429, 408, 5xx, timeouts; Retry-After honoured), with a ceiling.

    NOTE: the stock policy sleeps whatever Retry-After says; a throttled subscription can answer
    with minutes. Capping keeps a scan bounded; a request still throttled after the last retry
    becomes an "unknown" part of the report rather than a stalled run.
    """

    def __init__(self, max_retry_after: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_retry_after = max_retry_after

    def _sleep_for_retry(self, response: Any, transport: Any) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after:
            transport.sleep(min(retry_after, self.max_retry_after))
            return True
        return False


@dataclass(frozen=True, slots=True)
class ArmSettings:
    """How :class:`Arm` talks to Resource Manager."""

    endpoint: str
    concurrency: int
    verify: str | bool = True
    timeout: float = 60.0
    retry_backoff: float = 0.8
    max_retry_after: float = 60.0
    low_water: int = 25
    pause: float = 1.0


def pooled_transport(
    endpoint: str, settings: ArmSettings, read_timeout: float | None = None
) -> tuple[Session, RequestsTransport]:
    """A ``requests`` session and the azure-core transport over it, for ``concurrency`` workers.

    NOTE: loopback endpoints (tests) must not go through a proxy from the environment. One
    pooled connection per worker: a smaller pool would drop and re-handshake TLS connections;
    retries are the pipeline's job, not urllib3's.
    """
    session = Session()
    session.trust_env = not is_loopback(endpoint)
    adapter = HTTPAdapter(
        pool_connections=1,
        pool_maxsize=settings.concurrency,
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    session.mount("https://", adapter)
    transport = RequestsTransport(
        session=session,
        session_owner=False,
        connection_verify=settings.verify,
        connection_timeout=min(settings.timeout, 20.0),
        read_timeout=read_timeout or settings.timeout,
    )
    return session, transport


def front_policies() -> list[Any]:
    """The policies every pipeline of the tool starts with: request id, headers, user agent,
    decoding (retries, the guard and authentication follow, per pipeline)."""
    return [
        p.RequestIdPolicy(),
        p.HeadersPolicy(),
        p.UserAgentPolicy(sdk_moniker=f"attribution-auditor/{__version__}"),
        p.ContentDecodePolicy(),
    ]


class Arm:
    """GET-only access to Resource Manager through one shared pipeline and connection pool.

    ``read_posts``: paths of POST requests that only read (Cost Management's query), which
    :meth:`post` may then send; every other POST is still refused.
    """

    def __init__(
        self,
        settings: ArmSettings,
        credential: TokenCredential,
        read_posts: re.Pattern[str] | None = None,
    ) -> None:
        self.endpoint = settings.endpoint
        self.stats = Stats()
        self._session, transport = pooled_transport(settings.endpoint, settings)
        budget = ReadBudget(settings.low_water, settings.pause, self.stats)
        policies = [
            *front_policies(),
            CappedRetryPolicy(
                settings.max_retry_after,
                retry_total=6,
                retry_connect=3,
                retry_read=3,
                retry_status=3,
                retry_backoff_factor=settings.retry_backoff,
                retry_backoff_max=30,
                timeout=max(300, int(settings.timeout * 5)),
            ),
            GuardPolicy(budget, self.stats, read_posts),
            ARMChallengeAuthenticationPolicy(credential, f"{settings.endpoint}/.default"),
            ARMHttpLoggingPolicy(),
        ]
        # NOTE: passing ``policies`` replaces the default ARM pipeline entirely, so neither
        # ARMAutoResourceProviderRegistrationPolicy nor RedirectPolicy is in it.
        self._client: ARMPipelineClient[Any, Any] = ARMPipelineClient(
            base_url=settings.endpoint, policies=policies, transport=transport
        )

    @property
    def policy_types(self) -> list[str]:
        """Names of the pipeline's policies (for tests and diagnostics)."""
        return [type(pol).__name__ for pol in self._client._pipeline._impl_policies]

    def get(self, url: str, params: Mapping[str, str] | None = None) -> Reply:
        """GET a path (or a nextLink already checked to be on this endpoint)."""
        absolute = url if url.startswith("https://") else f"{self.endpoint}{url}"
        request = HttpRequest("GET", absolute, params=dict(params) if params else None)
        return self._send(request)

    def _send(self, request: HttpRequest) -> Reply:
        try:
            response = self._client.send_request(request)
            body = response.read()
        except AzureError as exc:
            return Reply(0, None, f"no response: {describe_exception(exc)}")
        status = response.status_code
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        reason = "" if 200 <= status < 300 else describe(status, data)
        return Reply(status, data, reason)

    def post(self, url: str, body: Any, params: Mapping[str, str] | None = None) -> Reply:
        """POST a JSON body to a path the guard allows (a query that reads)."""
        absolute = url if url.startswith("https://") else f"{self.endpoint}{url}"
        request = HttpRequest("POST", absolute, params=dict(params) if params else None, json=body)
        return self._send(request)

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()
        self._session.close()


def describe_exception(exc: BaseException) -> str:
    """One line for a transport or credential failure."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first[:300]

"""Live, read-only scan of Azure: APIM services and Azure OpenAI accounts as an Estate.

``load(LiveOptions(...))`` signs in (``DefaultAzureCredential``, see
:mod:`auditor.sources.live.credentials`), reads the estate from Resource Manager with GET requests
only, on ``concurrency`` worker threads sharing one connection pool, and returns the same kind of
estate as every offline source (``resources.build``), so ``auditor snapshot --azure`` stores it
and replays it with identical findings.

What could not be read is never guessed: each such part is a ReadError (the report shows it and
the gate fails closed) and its verdicts are unknown. A scan that could audit no APIM service at
all raises SourceError.

Permissions: the built-in **Reader** role on the subscriptions (or on the resource groups / APIM
services and Azure OpenAI accounts) is enough. Precisely: ``*/read`` on
Microsoft.ApiManagement/service (and children), Microsoft.CognitiveServices/accounts,
Microsoft.Insights/diagnosticSettings and Microsoft.Insights/components, plus
Microsoft.Resources/subscriptions/read to list subscriptions. No ``listSecrets``/``listKeys``
action is used, so no role that reveals keys is needed.

Testing hook: ``AUDITOR_TEST_STATIC_TOKEN=<token>`` makes the scan use that bearer token instead
of signing in, but only when ``--arm-endpoint`` is a loopback address (a local fake Resource
Manager); against any other endpoint it is ignored.

The azure packages are imported only here (the CLI imports this package only for ``--azure``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TextIO

from auditor.errors import SourceError
from auditor.model import CAPABILITIES, Estate, Location, ReadError
from auditor.sources import resources
from auditor.sources.live.tasks import LiveProgress

if TYPE_CHECKING:
    from auditor.usage.period import Period

__all__ = ["LiveOptions", "LiveProgress", "load"]

MAX_CONCURRENCY = 64
#: Azure OpenAI accounts and their diagnostic settings are shown only when an account list could
#: be read (see :func:`load`).
_CAPABILITIES = frozenset(CAPABILITIES) - {"ai_accounts", "diagnostic_settings"}


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """What to scan and how."""

    subscriptions: tuple[str, ...] = ()
    """Subscription ids; empty: every subscription the identity can read."""
    resource_group: str | None = None
    apim: str | None = None
    """Only the APIM service of this name."""
    tenant: str | None = None
    cloud: str = "public"
    """``public``, ``usgov`` or ``china``: picks the Resource Manager endpoint and authority."""
    arm_endpoint: str | None = None
    """Another Resource Manager endpoint (``https://host[:port]``); overrides ``cloud``'s."""
    concurrency: int = 8
    """Requests in flight at most."""
    ca_bundle: str | None = None
    """CA bundle to trust (default: REQUESTS_CA_BUNDLE, then SSL_CERT_FILE, then certifi)."""
    timeout: float = 60.0
    """Seconds to wait for one response before retrying it."""
    retry_backoff: float = 0.8
    """Exponential backoff factor between retries of 5xx and timeouts."""
    max_retry_after: float = 60.0
    """Longest Retry-After honoured; longer ones are cut to this."""
    rate_limit_pause: float = 1.0
    """Pause when Resource Manager reports few remaining reads."""
    credential: Any = field(default=None, compare=False, repr=False)
    """A TokenCredential to use instead of signing in (tests, embedding)."""
    usage: Period | None = None
    """Also measure usage and cost for this period (:mod:`auditor.usage.collect`)."""
    logs_endpoint: str | None = None
    """Another Log Analytics endpoint (default: the cloud's)."""

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> LiveOptions:
        """Options from the CLI's ``--azure`` arguments."""
        subs = getattr(args, "subscription", None) or []
        concurrency = getattr(args, "concurrency", None)
        usage = None
        if getattr(args, "usage", None):
            from auditor.usage.period import parse

            usage = parse(args.usage)
        return cls(
            subscriptions=tuple(dict.fromkeys(s.strip() for s in subs if s and s.strip())),
            resource_group=getattr(args, "resource_group", None) or None,
            apim=getattr(args, "apim", None) or None,
            tenant=getattr(args, "tenant", None) or None,
            cloud=getattr(args, "cloud", None) or "public",
            arm_endpoint=getattr(args, "arm_endpoint", None) or None,
            concurrency=8 if concurrency is None else int(concurrency),
            usage=usage,
            logs_endpoint=getattr(args, "logs_endpoint", None) or None,
        )

    def describe(self) -> str:
        """The scope in words (for the estate's location)."""
        subs = (
            "subscription(s) " + ", ".join(self.subscriptions)
            if self.subscriptions
            else "every readable subscription"
        )
        parts = [subs]
        if self.resource_group:
            parts.append(f"resource group {self.resource_group}")
        if self.apim:
            parts.append(f"service {self.apim}")
        return "; ".join(parts)


class _StderrProgress:
    """One self-overwriting progress line on a terminal's stderr (never stdout)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._shown = False

    def __call__(self, p: LiveProgress) -> None:
        self._stream.write(
            f"\rlive: {p.services_done}/{p.services_found} services, "
            f"{p.apis_done}/{p.apis_found} APIs, {p.requests} requests "
        )
        self._stream.flush()
        self._shown = True

    def finish(self) -> None:
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()


def _validate(options: LiveOptions) -> None:
    if not 1 <= options.concurrency <= MAX_CONCURRENCY:
        raise SourceError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
    from auditor.sources.live.faults import name_ok

    for sub in options.subscriptions:
        if not name_ok(sub):
            raise SourceError(f"'{sub}' is not a subscription id")
    for label, value in (("resource group", options.resource_group), ("service", options.apim)):
        if value is not None and not name_ok(value):
            raise SourceError(f"'{value}' is not a valid {label} name")


def _sign_in(credential: Any, scope: str) -> None:
    from azure.core.exceptions import AzureError

    from auditor.sources.live.clients import describe_exception

    try:
        credential.get_token(scope)
    except (AzureError, ValueError) as exc:
        raise SourceError(
            f"cannot get a token for {scope}: {describe_exception(exc)} (sign in with "
            "'az login', or set AZURE_TOKEN_CREDENTIALS / the AZURE_CLIENT_* variables)"
        ) from exc


def load(
    options: LiveOptions,
    *,
    credential: Any = None,
    progress: Callable[[LiveProgress], None] | None = None,
) -> Estate:
    """Read the estate from Resource Manager (GET only) and return it."""
    _validate(options)
    from auditor.sources.live.clients import Arm, ArmSettings, ca_bundle
    from auditor.sources.live.credentials import CachedCredential, make_credential, resolve_endpoint
    from auditor.sources.live.discovery import Discovery, Scope
    from auditor.sources.live.tasks import TaskPool

    endpoint = resolve_endpoint(options.cloud, options.arm_endpoint)
    logs = None
    if options.usage is not None:
        from auditor.usage.collect import logs_endpoint

        logs = logs_endpoint(options.cloud, options.logs_endpoint, endpoint)
    notes: list[str] = []
    cred = credential if credential is not None else options.credential
    if cred is None:
        cred, note = make_credential(endpoint, options.cloud, options.tenant)
        notes.append(note)
    cached = CachedCredential(cred, options.tenant)
    started = time.monotonic()
    _sign_in(cached, f"{endpoint}/.default")
    settings = ArmSettings(
        endpoint=endpoint,
        concurrency=options.concurrency,
        verify=ca_bundle(options.ca_bundle),
        timeout=options.timeout,
        retry_backoff=options.retry_backoff,
        max_retry_after=options.max_retry_after,
        low_water=max(25, 2 * options.concurrency),
        pause=options.rate_limit_pause,
    )
    arm = Arm(settings, cached)
    pool = TaskPool(options.concurrency)
    scope = Scope(options.subscriptions, options.resource_group, options.apim)
    discovery = Discovery(arm, pool, scope)
    terminal = _StderrProgress(sys.stderr) if progress is None and sys.stderr.isatty() else None
    report = progress or terminal
    last: list[LiveProgress] = []

    def tick() -> None:
        if report is None:
            return
        now = LiveProgress(
            pool.done["service"],
            pool.found["service"],
            pool.done["api"],
            pool.found["api"],
            arm.stats.requests,
        )
        if not last or last[-1] != now:
            last[:] = [now]
            report(now)

    try:
        discovery.start()
        pool.wait(tick)
        tick()
    finally:
        if terminal is not None:
            terminal.finish()
        arm.close()
    pool.close()
    elapsed = time.monotonic() - started
    estate = _estate(options, endpoint, discovery, elapsed, notes)
    if options.usage is not None and logs is not None:
        from auditor.usage.collect import Target, collect

        services = {s.name: s.rid for s in discovery.services if not s.dropped}
        target = Target(tuple(discovery.subscriptions), options.resource_group, services)
        counter = _usage_progress()
        try:
            usage = collect(estate, options.usage, target, settings, cached, logs, counter)
        finally:
            _usage_done(counter)
        estate = replace(estate, usage=usage)
    return estate


def _usage_progress() -> Callable[[int], None] | None:
    """A self-overwriting "usage: N requests" line on a terminal's stderr (ended by
    :func:`_usage_done`)."""
    if not sys.stderr.isatty():
        return None

    def show(requests: int) -> None:
        sys.stderr.write(f"\rusage: {requests} requests ")
        sys.stderr.flush()

    return show


def _usage_done(progress: Callable[[int], None] | None) -> None:
    if progress is not None:
        sys.stderr.write("\n")
        sys.stderr.flush()


def _estate(
    options: LiveOptions, endpoint: str, discovery: Any, elapsed: float, notes: list[str]
) -> Estate:
    stats = discovery.arm.stats
    errors = [
        ReadError(Location(rid), f"not audited: {reason}")
        for rid, reason in sorted(discovery.errors)
    ]
    found = discovery.resources()
    services = [s for s in discovery.services if not s.dropped]
    if not services:
        raise SourceError(_nothing_message(options, discovery))
    api_types = {
        "microsoft.apimanagement/service/apis",
        "microsoft.apimanagement/service/workspaces/apis",
    }
    apis = sum(1 for r in found if str(r["type"]).lower() in api_types)
    provides = set(_CAPABILITIES)
    if discovery.account_lists_read:
        provides |= {"ai_accounts", "diagnostic_settings"}
    summary = [
        f"live: {stats.requests} requests in {elapsed:.1f}s",
        f"live: {len(discovery.subscriptions)} subscription(s), {len(services)} API Management "
        f"service(s), {apis} API(s), {len(discovery.accounts)} Azure OpenAI account(s)",
    ]
    if stats.throttled or stats.pauses:
        summary.append(
            f"live: {stats.throttled} throttled (429) response(s) retried; paused "
            f"{stats.pauses} time(s) for Resource Manager read limits"
        )
    if discovery.skipped_subscriptions:
        summary.append(
            "live: subscriptions not readable in their state: "
            + ", ".join(sorted(discovery.skipped_subscriptions))
        )
    dropped = [f"{s.name}: {s.dropped}" for s in discovery.services if s.dropped]
    if dropped:
        summary.append("live: services left out: " + "; ".join(dropped))
    return resources.build(
        found,
        kind="live",
        location=f"{endpoint} ({options.describe()})",
        provides=frozenset(provides),
        errors=errors,
        notes=[*summary, *sorted(discovery.notes), *notes],
    )


def _nothing_message(options: LiveOptions, discovery: Any) -> str:
    if discovery.errors:
        first = "; ".join(f"{rid}: {reason}" for rid, reason in discovery.errors[:3])
        more = len(discovery.errors) - 3
        tail = f" (and {more} more)" if more > 0 else ""
        return (
            f"nothing could be audited: {first}{tail}. The identity needs the Reader role on the "
            "subscription(s) or the API Management service(s)"
        )
    what = f"API Management service '{options.apim}'" if options.apim else "API Management service"
    where = f" in resource group '{options.resource_group}'" if options.resource_group else ""
    subs = ", ".join(discovery.subscriptions) or "none readable"
    return f"no {what} found{where} (subscriptions: {subs})"

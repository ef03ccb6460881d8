"""Measured checks: the configuration judged against the usage measured for a period (``--usage``).

They read :func:`auditor.usage.gap.measured` and report nothing at all when no usage was
measured, or when the part of it they need could not be read: a measured rule adds evidence, it
never turns a static verdict into ``unknown`` because a measurement is missing (the money report
lists what was not read and why). Their figures are tokens over the whole period; money is shown
where it is known.
"""

from __future__ import annotations

from decimal import Decimal

from auditor.checking import ApiContext, CheckResult, Outcome, check, failed, passed
from auditor.model import Location
from auditor.usage.attribution import ApiMeter
from auditor.usage.gap import ApiFigures, Gap, measured
from checks._common import inbound_location, is_native_meter, meters


def _api_id(ctx: ApiContext) -> str:
    parts = [ctx.service.name, ctx.api.workspace, ctx.api.name]
    return "/".join(p for p in parts if p)


def _threshold(ctx: ApiContext, key: str) -> Decimal:
    return Decimal(str(ctx.params.get(key, 0.02)))


def _pct(part: int | Decimal, whole: int | Decimal) -> str:
    return f"{100 * Decimal(part) / Decimal(whole):.1f} %" if whole else "n/a"


def _money(gap: Gap, amount: Decimal | None) -> str:
    return "" if amount is None else f", {gap.currency} {amount:,.2f}"


def _period(gap: Gap) -> str:
    p = gap.usage.period
    return f"{p.start.isoformat()}..{p.end.isoformat()}"


def _meter_location(ctx: ApiContext) -> Location:
    for op in ctx.ops:
        for route in op.routes:
            for stmt in meters(route.eff):
                if is_native_meter(stmt):
                    return stmt.location
    return inbound_location(ctx.ops[0]) if ctx.ops else ctx.api.location


def _figures(ctx: ApiContext) -> tuple[Gap, ApiFigures] | None:
    gap = measured(ctx.estate)
    if gap is None:
        return None
    figures = gap.apis.get(_api_id(ctx))
    if figures is None or figures.meter is None or figures.meter.custom:
        # NOTE: no gateway tokens measured, or usage metered by a custom log (Event Hub) this
        # tool cannot read: nothing to judge, and no verdict should move.
        return None
    return gap, figures


def _meter(ctx: ApiContext) -> tuple[Gap, ApiMeter] | None:
    """The measured gap and how the API is measured, when usage was measured."""
    gap = measured(ctx.estate)
    meter = gap.meters.get(_api_id(ctx)) if gap else None
    return (gap, meter) if gap is not None and meter is not None else None


@check("COV010")
def measured_bypass(ctx: ApiContext) -> CheckResult:
    """A deployment behind the API processed more tokens than the gateway saw."""
    found = _meter(ctx)
    if found is None or not found[1].accounts:
        return []
    gap, meter = found
    deps = [
        f
        for f in gap.deployments.values()
        if f.deployment.key[0] in meter.accounts
        and f.read
        and f.tokens
        and f.bypass is not None
        and f.bypass_share is not None
    ]
    if not deps:
        return []
    tolerance = _threshold(ctx, "tolerance")
    where = {a.name.lower(): a.location for a in ctx.estate.ai_accounts}
    out: list[Outcome] = []
    for f in deps:
        share = f.bypass_share
        assert share is not None and f.bypass is not None and f.tokens
        if share <= tolerance:
            continue
        d = f.deployment
        seen = (
            "the gateway saw (LLM log and token metrics)"
            if not f.bypass_upper_bound
            else "the gateway's token metrics counted (no LLM log: calls through unmetered "
            "APIs on the account are counted here too)"
        )
        out.append(
            failed(
                f"{ctx.api.name}: deployment {d.account}/{d.name} processed {f.tokens:,} tokens "
                f"in {_period(gap)}, {f.tokens - f.bypass:,} of them {seen}: {f.bypass:,} "
                f"({_pct(f.bypass, f.tokens)}{_money(gap, f.bypass_cost)}) went around the "
                f"gateway, above the {_pct(tolerance, 1)} tolerance",
                where.get(d.key[0]),
                severity="medium" if f.bypass_upper_bound else None,
            )
        )
    if out:
        return out
    names = ", ".join(f"{f.deployment.account}/{f.deployment.name}" for f in deps)
    return passed(
        f"{ctx.api.name}: the platform tokens of {names} are within {_pct(tolerance, 1)} of "
        f"what the gateway saw in {_period(gap)}"
    )


@check("COV011")
def measured_unmetered_share(ctx: ApiContext) -> CheckResult:
    """Calls the gateway's own LLM log saw but its token metric did not count."""
    found = _figures(ctx)
    if found is None:
        return []
    gap, f = found
    if f.meter is None or f.meter.service.lower() not in gap.log_services or not f.tokens:
        return []  # without the LLM log, unmetered calls cannot be told from bypass
    limit = _threshold(ctx, "max_unmetered_share")
    at = inbound_location(ctx.ops[0]) if ctx.ops else ctx.api.location
    what = "gateway tokens", "were logged by the gateway but never metered"
    return _share(
        ctx, gap, f.unmetered, f.tokens, limit, at, what, "no team can be charged for them"
    )


@check("IDN009")
def measured_unpaid_share(ctx: ApiContext) -> CheckResult:
    """Metered tokens whose payer value names nobody who can be charged."""
    found = _figures(ctx)
    if found is None:
        return []
    gap, f = found
    unpaid = f.unpaid
    if not gap.attribution_known or unpaid is None or not f.metered:
        return []
    limit = _threshold(ctx, "max_unattributed_share")
    at = _meter_location(ctx)
    why = sorted(
        ((n, r) for r, n in f.reasons.items() if r and n and not r.startswith("through")),
        key=lambda x: (-x[0], x[1]),
    )
    detail = "; ".join(f"{r} ({n:,} tokens)" for n, r in why[:3])
    what = "metered tokens", "name no payer who can be charged"
    return _share(ctx, gap, unpaid, f.metered, limit, at, what, detail)


def _share(
    ctx: ApiContext,
    gap: Gap,
    part: int,
    whole: int,
    limit: Decimal,
    at: Location,
    what: tuple[str, str],
    detail: str,
) -> Outcome:
    """Fail above the threshold share, with the figures; pass with them otherwise."""
    tokens, verb = what
    head = f"{ctx.api.name}: {part:,} of its {whole:,} {tokens} in {_period(gap)}"
    share = f"({_pct(part, whole)}) {verb}"
    if Decimal(part) > limit * whole:
        return failed(f"{head} {share}, above the {_pct(limit, 1)} threshold: {detail}", at)
    return passed(f"{head} {share} (threshold {_pct(limit, 1)})", at)


@check("COV012")
def metric_without_deployment(ctx: ApiContext) -> CheckResult:
    """A token metric that names neither deployment nor model, on a backend that names neither."""
    found = _meter(ctx)
    if found is None or not found[1].metered:
        return []
    gap, meter = found
    at = _meter_location(ctx)
    if meter.deployment_dimension or meter.model_dimension:
        dim = meter.deployment_dimension or meter.model_dimension
        return passed(f"{ctx.api.name}: the token metric names the deployment ('{dim}')", at)
    if meter.fixed_deployment:
        return passed(
            f"{ctx.api.name}: the backend URL names deployment '{meter.fixed_deployment}'", at
        )
    behind = [
        f.deployment for f in gap.deployments.values() if f.deployment.key[0] in meter.accounts
    ]
    prices = {(d.model, d.version, d.sku) for d in behind}
    if meter.accounts and len(prices) <= 1:
        return passed(
            f"{ctx.api.name}: every deployment behind it runs the same model and type, so its "
            "tokens are priced alike",
            at,
        )
    dims = ", ".join(f"'{d}'" for d in meter.dimensions) or "none"
    where = (
        f"account(s) {', '.join(meter.accounts)} run {len(behind)} deployments of "
        f"{len(prices)} models or types"
        if meter.accounts
        else "the account behind it is not known"
    )
    return failed(
        f"{ctx.api.name}: its token metric names no deployment or model (dimensions: {dims}) "
        f"and its backend names none; {where}, so its tokens cannot be priced by model from "
        "the metric (this report splits them by the LLM log or the platform mix, an estimate)",
        at,
    )

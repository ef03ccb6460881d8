"""Checks for the coverage signal: is every LLM call metered, and do the metrics land?"""

from __future__ import annotations

from auditor.checking import (
    ApiContext,
    CheckResult,
    OpContext,
    Outcome,
    Route,
    check,
    failed,
    passed,
    skipped,
)
from auditor.effective import Effective, Stmt
from auditor.model import Diagnostic, Location, unknown_of
from auditor.policy import local_name
from checks._common import (
    TOKEN_METRIC,
    accounts_behind,
    covering_diagnostics,
    dedupe,
    elsewhere,
    inbound_location,
    is_custom_meter,
    is_native_meter,
    meter_reach,
    meters,
    rests_on,
    same_deployment,
    unnamed,
    unseen_split,
)


def _why_missing(eff: Effective) -> tuple[str, Location | None]:
    """The most likely reason a route has no metering, with where it shows."""
    for drop in eff.drops:
        scopes = sorted({scope for tag, scope in drop.dropped if tag in TOKEN_METRIC})
        if drop.section == "inbound" and scopes:
            return (
                f"the {'/'.join(scopes)}-scope token-metric policy is dropped: "
                f"{drop.dropped_by} has no <base /> in <inbound>",
                drop.dropped_by,
            )
    for stmt in eff.dead:
        if stmt.tag in TOKEN_METRIC:
            return (
                f"the token-metric policy at {stmt.location} never runs: it follows an "
                "unconditional <return-response>",
                stmt.location,
            )
    for stmt in eff.walk():
        if stmt.tag in TOKEN_METRIC and stmt.section != "inbound":
            return (
                f"the token-metric policy at {stmt.location} sits in <{stmt.section}>, "
                "where it does nothing (inbound only)",
                stmt.location,
            )
    for doc in eff.docs:
        if doc.root is None:
            continue
        for node in doc.root.iter():
            text = node.text or ""
            hits = [text.find(t) for t in TOKEN_METRIC if t in text]
            if not local_name(node) and hits:
                start = doc.location(node)
                line = start.line + text.count("\n", 0, min(hits)) if start.line else None
                loc = Location(start.path, line)
                where = f"at {loc}" if loc.path else f"in the {doc.scope} policy"
                return f"a token-metric policy is commented out {where}", loc
    return "no token-metric policy (or usage-carrying log) runs in the effective policy", None


@check("COV001")
def llm_calls_not_metered(ctx: OpContext) -> CheckResult:
    """Every route of an LLM operation runs a token-metric policy (or custom metering)."""
    product_metered = any(meter_reach(r.eff) != "never" for r in ctx.routes if r.product)
    bad: list[Route] = [
        r
        for r in ctx.routes
        if meter_reach(r.eff) == "never" and not (r.product is None and product_metered)
    ]
    if not bad:
        return passed(f"{ctx.label}: every route runs metering")
    # NOTE: a route that reaches an unseen global policy may be metered there; a route that
    # drops it (no <base />) is certainly not.
    certain, doubt = unseen_split(ctx, bad)
    why, at = _why_missing((certain or bad)[0].eff)
    if not certain:
        return skipped(
            f"{ctx.label}: no metering is in this source; {doubt}", at or inbound_location(ctx)
        )
    bad = certain
    if len(bad) == len(ctx.routes):
        return failed(f"{ctx.label}: LLM calls are not metered: {why}", at or inbound_location(ctx))
    labels = "; ".join(r.label for r in bad)
    return failed(f"{ctx.label}: not metered on {labels}: {why}", at or inbound_location(ctx))


@check("COV002")
def metering_conditional(ctx: OpContext) -> CheckResult:
    """Metering inside choose/when that not every branch repeats."""
    out: list[Outcome] = []
    for route in ctx.routes:
        if meter_reach(route.eff) != "partial":
            continue
        stmts = meters(route.eff)
        conds = sorted({c for s in stmts for c in s.conditions})
        quoted = " / ".join(f"'{c.strip()}'" for c in conds[:3])
        on = "" if len(ctx.routes) == 1 else f" ({route.label})"
        out.append(
            failed(
                f"{ctx.label}: metering runs only when {quoted}; other calls{on} "
                "are not metered (waive if the condition only excludes non-LLM calls)",
                stmts[0].location if stmts else None,
            )
        )
    return dedupe(out) or passed(f"{ctx.label}: metering is not conditional")


@check("COV003")
def token_metric_outside_inbound(ctx: OpContext) -> CheckResult:
    """Token-metric policies only work in inbound; elsewhere they do nothing."""
    out: list[Outcome] = []
    for route in ctx.routes:
        native = any(is_native_meter(s) for s in route.eff.walk("inbound"))
        for stmt in route.eff.walk(reachable_only=False):
            if stmt.tag in TOKEN_METRIC and stmt.section != "inbound":
                out.append(
                    failed(
                        f"{ctx.label}: <{stmt.tag}> in <{stmt.section}> does nothing "
                        "(token-metric policies run in inbound only)",
                        stmt.location,
                        severity=None if not native else "low",
                    )
                )
    return dedupe(out) or passed(f"{ctx.label}: token-metric policies are in inbound")


@check("COV004")
def product_only_metering(ctx: OpContext) -> CheckResult:
    """Metering only at product scope misses calls that run no product policy."""
    metered_products = [r for r in ctx.routes if r.product and meter_reach(r.eff) != "never"]
    for route in ctx.routes:
        if route.product is None and metered_products and meter_reach(route.eff) == "never":
            products = ", ".join(f"'{r.product}'" for r in metered_products)
            where = next((s.origin for r in metered_products for s in meters(r.eff)), None)
            direct = [
                s.location
                for s in ctx.service.subscriptions
                if s.active
                and (
                    s.scope_kind == "all-apis"
                    or (
                        s.scope_kind == "api"
                        and (s.scope_name or "").lower() == ctx.api.name.lower()
                    )
                )
            ]
            message = (
                f"{ctx.label}: metering comes only from the policy of product {products}; "
                f"{route.label} are not metered"
            )
            if route.doubt:
                return skipped(f"{message}; {route.doubt}", where)
            return failed(message, where, severity=route.severity, evidence=direct)
    return passed(f"{ctx.label}: metering does not depend on the product")


def _statements(ctx: ApiContext) -> list[tuple[Stmt, Effective]]:
    """Every reachable statement of every route of every operation, with its route."""
    return [(s, r.eff) for op in ctx.ops for r in op.routes for s in r.eff.walk()]


def _app_insights_diagnostic(ctx: ApiContext) -> Diagnostic | None:
    """The ``applicationinsights`` diagnostic covering the API: token metrics go through it."""
    return next((d for d in covering_diagnostics(ctx) if d.name == "applicationinsights"), None)


@check("COV005")
def metrics_do_not_land(ctx: ApiContext) -> CheckResult:
    """Token metrics need an App Insights logger and diagnostic with ``metrics: true``."""
    stmts = _statements(ctx)
    native = [s for s, _ in stmts if is_native_meter(s)]
    if not native and any(is_custom_meter(s, eff) for s, eff in stmts):
        return passed(f"{ctx.api.name}: metered by custom logs only; no token metric must land")
    # NOTE: with no metering at all (COV001 fails) the diagnostic is still judged: once metering
    # is restored, its metrics must land too.
    diag = _app_insights_diagnostic(ctx)
    away = elsewhere(ctx) or unnamed(covering_diagnostics(ctx))
    if diag is None:
        if away:
            return skipped(
                f"{ctx.api.name}: no 'applicationinsights' diagnostic is declared for "
                f"the API here, and {away}"
            )
        return failed(
            f"{ctx.api.name}: no 'applicationinsights' diagnostic covers the API, so "
            "token metrics are never sent",
            native[0].location if native else ctx.api.location,
        )
    if why := unknown_of(diag, "logger"):
        return skipped(
            f"{ctx.api.name}: the logger of diagnostic '{diag.name}' is not known offline ({why})",
            diag.location,
        )
    if not diag.logger:
        # NOTE: Azure requires loggerId on every diagnostic, so a source without one (an
        # extract or template that leaves it out) has not shown it: that is not a missing logger.
        return _metrics_switch(ctx, diag) or skipped(
            f"{ctx.api.name}: diagnostic '{diag.name}' names no logger in the source, so where "
            "its metrics land is not known offline",
            diag.location,
        )
    logger = ctx.service.loggers.get(diag.logger)
    if logger is None:
        away = elsewhere(ctx) or unnamed(ctx.service.loggers.values())
        if away:
            return skipped(
                f"{ctx.api.name}: diagnostic '{diag.name}' uses logger "
                f"'{diag.logger}', not declared here; {away}",
                diag.location,
            )
        return failed(
            f"{ctx.api.name}: diagnostic '{diag.name}' uses logger '{diag.logger}', "
            "which does not exist",
            diag.location,
        )
    if why := unknown_of(logger, "logger_type"):
        return skipped(
            f"{ctx.api.name}: the type of logger '{logger.name}' is not known offline ({why})",
            logger.location,
        )
    if (logger.logger_type or "").lower() != "applicationinsights":
        return failed(
            f"{ctx.api.name}: diagnostic '{diag.name}' writes to logger "
            f"'{logger.name}' of type {logger.logger_type}, not Application Insights",
            diag.location,
        )
    if verdict := _metrics_switch(ctx, diag):
        return verdict
    if doubt := rests_on(diag, logger):
        return skipped(
            f"{ctx.api.name}: metrics land through {_diag_name(ctx, diag)} only if it "
            f"is deployed: {doubt}",
            diag.location,
        )
    return passed(f"{ctx.api.name}: metrics land through {_diag_name(ctx, diag)}", diag.location)


def _metrics_switch(ctx: ApiContext, diag: Diagnostic) -> CheckResult | None:
    """The verdict of the diagnostic's ``metrics`` switch when it is not on (None when it is)."""
    if why := unknown_of(diag, "metrics"):
        return skipped(
            f"{ctx.api.name}: 'metrics' of {_diag_name(ctx, diag)} is not known offline ({why})",
            diag.metrics_location or diag.location,
        )
    if diag.metrics is not True:
        state = "is false" if diag.metrics is False else "is not set"
        return failed(
            f"{ctx.api.name}: 'metrics' {state} on {_diag_name(ctx, diag)}; "
            "token metrics are dropped",
            diag.metrics_location or diag.location,
        )
    return None


def _diag_name(ctx: ApiContext, diag: Diagnostic) -> str:
    scope = "API" if diag in ctx.api.diagnostics else "service"
    where = f" ({diag.location.path})" if diag.location.path else ""
    return f"the {scope}-scope diagnostic '{diag.name}'{where}"


@check("COV006")
def custom_metering(ctx: OpContext) -> CheckResult:
    """Usage logged by Event Hub / trace / one-way request counts, but needs a pipeline."""
    out = []
    for route in ctx.routes:
        for stmt in route.eff.walk():
            if is_custom_meter(stmt, route.eff):
                logger = stmt.el.get("logger-id")
                target = f" to logger '{logger}'" if logger else ""
                out.append(
                    failed(
                        f"{ctx.label}: usage is metered by <{stmt.tag}>{target}; attribution "
                        "depends "
                        "on the downstream pipeline that aggregates it",
                        stmt.location,
                    )
                )
    return dedupe(out) or passed(f"{ctx.label}: no custom metering")


@check("COV007")
def double_metering(ctx: OpContext) -> CheckResult:
    """Two unconditional token-metric policies on one route double the counts."""
    for route in ctx.routes:
        native = [s for s in route.eff.walk("inbound") if is_native_meter(s) and not s.conditional]
        if len(native) > 1:
            where = ", ".join(str(s.location) for s in native)
            return failed(
                f"{ctx.label}: {len(native)} token-metric policies run on "
                f"{route.label} ({where}); each emits, so counts are multiplied",
                native[1].location,
                evidence=[s.location for s in native],
            )
    return passed(f"{ctx.label}: one token-metric policy per call")


@check("COV008")
def ai_account_bypass(ctx: ApiContext) -> CheckResult:
    """Key auth or an open network on the Azure OpenAI account lets callers skip the gateway."""
    accounts = accounts_behind(ctx)
    if not accounts:
        return skipped(
            f"{ctx.api.name}: the Azure OpenAI account behind the API is not in this source, "
            "so a path around the gateway cannot be ruled out"
        )
    out: list[Outcome] = []
    for acc in accounts:
        ways, unsure = [], []
        if why := unknown_of(acc, "disable_local_auth"):
            unsure.append(f"whether key authentication is disabled ({why})")
        elif acc.disable_local_auth is not True:
            default = " (the default)" if acc.disable_local_auth is None else ""
            ways.append(f"key authentication is enabled{default}")
        open_why = unknown_of(acc, "public_network_access") or unknown_of(
            acc, "network_default_action"
        )
        public = (acc.public_network_access or "Enabled").lower() != "disabled"
        if open_why and public:
            unsure.append(f"whether the network is open ({open_why})")
        elif public and (acc.network_default_action or "Allow").lower() != "deny":
            ways.append("public network access is open with no network rules")
        doubt = rests_on(acc)
        if ways and not doubt:
            out.append(
                failed(
                    f"{ctx.api.name}: account '{acc.name}': "
                    + " and ".join(ways)
                    + "; anyone holding a key or reaching the endpoint calls the model unmetered",
                    acc.location,
                )
            )
        elif ways or unsure or doubt:
            what = " and ".join(ways) if ways else "; ".join(unsure)
            out.append(
                skipped(
                    f"{ctx.api.name}: account '{acc.name}': {what}"
                    + (f"; {doubt}" if doubt else "")
                    + (f"; {'; '.join(unsure)}" if ways and unsure else ""),
                    acc.location,
                )
            )
    return out or passed(f"{ctx.api.name}: the account accepts neither keys nor open traffic")


@check("COV009")
def metric_dimensions_dropped(ctx: ApiContext) -> CheckResult:
    """Application Insights keeps metric dimensions only with custom metrics 'WithDimensions'."""
    if not any(is_native_meter(s) for s, _ in _statements(ctx)):
        return passed(f"{ctx.api.name}: no token metric whose dimensions must be kept")
    if "app_insights" not in ctx.estate.provides:
        return skipped(
            f"{ctx.api.name}: not evaluated: source '{ctx.estate.source_kind}' cannot show "
            "app insights"
        )
    diag = _app_insights_diagnostic(ctx)
    logger = ctx.service.loggers.get(diag.logger or "") if diag else None
    if logger is None or not logger.resource_id:
        return skipped(f"{ctx.api.name}: no Application Insights resource is named by the logger")
    rid = logger.resource_id.rstrip("/").lower()
    comp = next(
        (
            c
            for c in ctx.estate.app_insights
            if (rid.endswith("/components/" + c.name.lower()) or c.resource_id.lower() == rid)
            and same_deployment(c.deployment, ctx.service)
        ),
        None,
    )
    if comp is None:
        return skipped(
            f"{ctx.api.name}: Application Insights '{rid.rsplit('/', 1)[-1]}' is not in this source"
        )
    if why := unknown_of(comp, "custom_metrics"):
        return skipped(
            f"{ctx.api.name}: the custom metrics setting of '{comp.name}' is not "
            f"known offline ({why})",
            comp.location,
        )
    if comp.custom_metrics is None:
        return skipped(
            f"{ctx.api.name}: the source does not show the custom metrics setting of '{comp.name}'",
            comp.location,
        )
    if comp.custom_metrics.lower() != "withdimensions":
        return failed(
            f"{ctx.api.name}: Application Insights '{comp.name}' keeps custom metrics "
            f"'{comp.custom_metrics}', so the payer and every other dimension are dropped",
            comp.location,
        )
    if doubt := rests_on(comp):
        return skipped(
            f"{ctx.api.name}: '{comp.name}' keeps metric dimensions only if it is "
            f"deployed: {doubt}",
            comp.location,
        )
    return passed(f"{ctx.api.name}: '{comp.name}' keeps metric dimensions", comp.location)

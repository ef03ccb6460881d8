"""Checks for the correlation signal: does a caller id reach the logs where usage is joined?"""

from __future__ import annotations

import functools

from auditor.checking import (
    ApiContext,
    CheckResult,
    OpContext,
    Outcome,
    check,
    failed,
    passed,
    skipped,
)
from auditor.effective import Effective, Stmt, memoized
from auditor.model import Location, unknown_of
from auditor.policy import local_name
from auditor.values import classify
from checks._common import (
    accounts_behind,
    covering_diagnostics,
    dedupe,
    elsewhere,
    inbound_location,
    rests_on,
    same_deployment,
    unnamed,
    unseen_split,
)

DEFAULT_HEADERS = (
    "x-attribution-id",
    "x-correlation-id",
    "x-request-id",
    "x-ms-client-request-id",
    "x-ms-correlation-request-id",
    "traceparent",
)


def header_names(params: dict[str, object]) -> tuple[str, ...]:
    """Attribution/correlation header names (rule parameter ``headers``), lower-cased."""
    names = params.get("headers") or DEFAULT_HEADERS
    return tuple(str(n).lower() for n in names)  # type: ignore[attr-defined]


_BARE = {"correlationid", "attributionid", "requestid", "clientrequestid"}


@functools.lru_cache(maxsize=1024)
def _norm(name: str) -> str:
    # NOTE: "correlationid", "Correlation-Id" and "x_correlation_id" name the same idea.
    low = name.lower().replace("-", "").replace("_", "")
    return low[1:] if low.startswith("x") and low[1:] in _BARE else low


@functools.lru_cache(maxsize=64)
def _normed(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_norm(n) for n in names)


def is_id_header(name: str | None, names: tuple[str, ...]) -> bool:
    """True when ``name`` is one of the correlation header names (spelling-insensitive)."""
    return name is not None and _norm(name) in _normed(names)


def _setters(eff: Effective, names: tuple[str, ...]) -> list[Stmt]:
    return list(memoized(eff.memo, ("id-setters", names), lambda: _find_setters(eff, names)))


def _find_setters(eff: Effective, names: tuple[str, ...]) -> list[Stmt]:
    return [
        s
        for s in eff.walk("inbound")
        if s.tag == "set-header"
        and is_id_header(s.el.get("name"), names)
        and (s.el.get("exists-action") or "override").lower() != "delete"
    ]


def _misplaced(eff: Effective, names: tuple[str, ...]) -> str:
    """Where the header is set instead, when not on the forwarded request."""
    for stmt in eff.walk():
        if (
            stmt.tag == "set-header"
            and stmt.section != "inbound"
            and is_id_header(stmt.el.get("name"), names)
        ):
            return f"; it is set only in <{stmt.section}> at {stmt.location} (the response)"
        if stmt.tag in ("send-request", "send-one-way-request", "return-response"):
            for el in stmt.el.iter():
                if local_name(el) == "set-header" and is_id_header(el.get("name"), names):
                    return (
                        f"; it is set only inside <{stmt.tag}> at {stmt.doc.location(el)}, "
                        "not on the request forwarded to the backend"
                    )
    return ""


@check("COR001")
def correlation_header_missing(ctx: OpContext) -> CheckResult:
    """No inbound set-header of an attribution/correlation id on the forwarded request."""
    names = header_names(ctx.params)
    missing = [r for r in ctx.routes if not _setters(r.eff, names)]
    if missing:
        loc = inbound_location(ctx)
        # NOTE: a route that reaches an unseen global policy may get the header there.
        certain, doubt = unseen_split(ctx, missing)
        if not certain:
            return skipped(
                f"{ctx.label}: no correlation header is set in this source; {doubt}", loc
            )
        missing = certain
        on = "" if len(missing) == len(ctx.routes) else " on " + "; ".join(r.label for r in missing)
        return failed(
            f"{ctx.label}: no inbound set-header of {', '.join(names[:3])} (or another "
            f"correlation header) on the request forwarded to the backend{on}"
            f"{_misplaced(missing[0].eff, names)}",
            loc,
        )
    out = []
    for route in ctx.routes:
        found = _setters(route.eff, names)
        if all(s.conditional for s in found):
            out.append(
                failed(
                    f"{ctx.label}: the correlation header is set only when "
                    f"'{found[0].conditions[-1]}'",
                    found[0].location,
                    severity="medium",
                )
            )
    return dedupe(out) or passed(f"{ctx.label}: correlation header set on the forwarded request")


@check("COR002")
def correlation_header_spoofable(ctx: OpContext) -> CheckResult:
    """``exists-action="skip"`` or ``"append"`` lets the caller choose or pollute the id."""
    out = []
    for route in ctx.routes:
        for stmt in _setters(route.eff, header_names(ctx.params)):
            action = (stmt.el.get("exists-action") or "override").lower()
            if action in ("skip", "append"):
                out.append(
                    failed(
                        f"{ctx.label}: set-header '{stmt.el.get('name')}' uses "
                        f'exists-action="{action}": a caller who sends the header '
                        f"{'keeps' if action == 'skip' else 'adds to'} its value",
                        stmt.location,
                    )
                )
    return dedupe(out) or passed(f"{ctx.label}: the gateway overrides the correlation header")


def _value(stmt: Stmt) -> str:
    for child in stmt.el:
        if local_name(child) == "value":
            return child.text or ""
    return ""


@check("COR003")
def correlation_value_untrusted(ctx: OpContext) -> CheckResult:
    """The id should come from the credential, the request id or a validated claim."""
    out: list[Outcome] = []
    for route in ctx.routes:
        for stmt in _setters(route.eff, header_names(ctx.params)):
            info = classify(_value(stmt), route.eff)
            if info.credential or "request-id" in info.kinds:
                continue
            if info.caller_controlled:
                out.append(
                    failed(
                        f"{ctx.label}: header '{stmt.el.get('name')}' copies a value "
                        "the caller sends",
                        stmt.location,
                    )
                )
            elif info.untraced:
                out.append(
                    skipped(
                        f"{ctx.label}: header value comes from variable(s) "
                        f"{', '.join(info.untraced)} that nothing sets",
                        stmt.location,
                    )
                )
            elif _value(stmt).strip().startswith("@"):
                out.append(
                    skipped(
                        f"{ctx.label}: cannot tell where the value of header "
                        f"'{stmt.el.get('name')}' comes from",
                        stmt.location,
                    )
                )
            else:
                out.append(
                    failed(
                        f"{ctx.label}: header '{stmt.el.get('name')}' carries a "
                        "constant, not a caller id",
                        stmt.location,
                    )
                )
    return dedupe(out) or passed(f"{ctx.label}: the id comes from the credential or the request")


@check("COR004")
def correlation_header_not_logged(ctx: ApiContext) -> CheckResult:
    """The header must be listed in an applicationinsights/azuremonitor diagnostic."""
    names = header_names(ctx.params)
    diags = [
        d for d in covering_diagnostics(ctx) if d.name in ("applicationinsights", "azuremonitor")
    ]
    unseen = any(route.eff.problems for op in ctx.ops for route in op.routes)
    whole = not (elsewhere(ctx) or unnamed(covering_diagnostics(ctx)))
    if unseen and whole and not any(d.request_headers or unknown_of(d, "request_headers")
                                    for d in diags):  # fmt: skip
        # Whatever header the policy that cannot be read sets, nothing logs it.
        return failed(
            f"{ctx.api.name}: no applicationinsights/azuremonitor diagnostic covering the API "
            "logs any request header, so no caller id can be joined to usage",
            diags[0].location if diags else ctx.api.location,
            certain=True,
        )
    set_names = sorted(
        {
            (s.el.get("name") or "").lower()
            for op in ctx.ops
            for r in op.routes
            for s in _setters(r.eff, names)
        }
    )
    if not set_names:
        return passed(f"{ctx.api.name}: no correlation header to log (see COR001)")
    for d in diags:
        if set(d.request_headers) & set(set_names):
            if doubt := rests_on(d):
                return skipped(
                    f"{ctx.api.name}: '{set_names[0]}' is logged by diagnostic "
                    f"'{d.name}' only if it is deployed: {doubt}",
                    d.location,
                )
            return passed(
                f"{ctx.api.name}: '{set_names[0]}' is logged by diagnostic '{d.name}'", d.location
            )
    unsure = next((why for d in diags if (why := unknown_of(d, "request_headers"))), None)
    away = elsewhere(ctx) or unnamed(covering_diagnostics(ctx))
    if unsure or (away and not diags) or unnamed(diags):
        return skipped(
            f"{ctx.api.name}: whether header {', '.join(set_names)} is logged is not "
            f"known here ({unsure or away})"
        )
    where: Location | None = diags[0].location if diags else ctx.api.location
    return failed(
        f"{ctx.api.name}: header {', '.join(set_names)} is set but no "
        "applicationinsights/azuremonitor diagnostic logs it, so usage cannot be "
        "joined to the caller",
        where,
    )


@check("COR005")
def ai_account_logs_missing(ctx: ApiContext) -> CheckResult:
    """The Azure OpenAI account behind the API must send its logs to Log Analytics."""
    accounts = accounts_behind(ctx)
    if not accounts:
        return skipped(
            f"{ctx.api.name}: the Azure OpenAI account behind the API is not in this "
            "source, so its diagnostic settings cannot be checked"
        )
    out: list[Outcome] = []
    for acc in accounts:
        settings = [
            s
            for s in ctx.estate.diagnostic_settings
            if s.account == acc.name and same_deployment(s.deployment, ctx.service)
        ]
        good = [
            s
            for s in settings
            if s.workspace_id
            and (
                {"alllogs"} & {g.lower() for g in s.category_groups}
                or {"requestresponse", "audit"} <= {c.lower() for c in s.categories}
            )
        ]
        unsure = next(
            (
                why
                for s in settings
                if (why := unknown_of(s, "workspace_id") or unknown_of(s, "categories"))
            ),
            None,
        )
        doubt = rests_on(acc, *good)
        if not good and not unsure and not rests_on(acc):
            out.append(
                failed(
                    f"{ctx.api.name}: account '{acc.name}' sends no RequestResponse/"
                    "Audit logs to a Log Analytics workspace",
                    acc.location,
                )
            )
        elif (not good and unsure) or doubt:
            out.append(
                skipped(
                    f"{ctx.api.name}: where account '{acc.name}' sends its logs is "
                    f"not known offline ({unsure or doubt})",
                    acc.location,
                )
            )
    return out or passed(f"{ctx.api.name}: account logs reach Log Analytics")

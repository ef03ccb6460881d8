"""Checks for the identity signal: does every metered token name a trustworthy payer?"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from auditor.checking import CheckResult, OpContext, Outcome, check, failed, passed, skipped
from auditor.effective import Effective, Stmt, memoized
from auditor.model import Location
from auditor.values import (
    ValueInfo,
    classify,
    high_cardinality,
    traced,
    validated_token_sources,
)
from checks._common import dedupe, is_native_meter, meters, payload_with_variables

BUILTIN = {
    "subscription id": "subscription",
    "product id": "product",
    "user id": "user",
}
_PAYER_NAME = re.compile(
    r"team|user|caller|client(?!\s*ip)|app|tenant|subscri|product|customer|department|cost|owner"
    r"|consumer|project|org|business|unit|account|billing|charge|payer|principal|oid",
    re.IGNORECASE,
)
_NOT_PAYER_NAME = re.compile(
    r"\bip\b|model|deploy|region|location|route|backend|gateway|stream"
    r"|operation|api id|version",
    re.IGNORECASE,
)
_PAYER_SOURCE = re.compile(
    r"Subscription|Product|User|Claims|team|caller|tenant|customer", re.IGNORECASE
)
#: Fallback values that fill an unallocated bucket.
_FALLBACKS = {"", "unknown", "n/a", "na", "none", "null", "default", "anonymous", "-"}
#: The same values, for the measured figures: a payer value among them names nobody.
FALLBACKS = frozenset(_FALLBACKS)


@dataclass
class Payer:
    """A dimension (or custom-metering field) judged as a payer."""

    name: str
    kind: str
    """``trusted``, ``caller``, ``untraced`` or ``thing`` (names no payer)."""
    info: ValueInfo
    location: Location
    explicit: bool


def _dimension(el_name: str, value: str | None, eff: Effective, loc: Location) -> Payer:
    if value is None:
        kind = BUILTIN.get(el_name.strip().lower())
        info = ValueInfo(kinds={kind} if kind else set())
        return Payer(el_name, "trusted" if kind else "thing", info, loc, False)
    info = classify(value, eff)
    payerish = bool(_PAYER_NAME.search(el_name)) and not _NOT_PAYER_NAME.search(el_name)
    headerish = any(_PAYER_NAME.search(h) for h in info.headers)
    if info.credential:
        kind = "trusted"
    elif info.caller_controlled and (payerish or headerish):
        kind = "caller"
    elif info.untraced and payerish:
        kind = "untraced"
    else:
        kind = "thing"
    return Payer(el_name, kind, info, loc, True)


def payers_of(stmt: Stmt, eff: Effective) -> list[Payer]:
    """The dimensions of a token-metric policy, or the fields of a custom metering record."""
    compute = lambda: _payers(stmt, eff)  # noqa: E731
    return traced(eff, ("payers", id(stmt.el)), compute, stmt.doc.text_of(stmt.el))


def _payers(stmt: Stmt, eff: Effective) -> list[Payer]:
    if is_native_meter(stmt):
        out = []
        for dim in stmt.el:
            if getattr(dim, "tag", None) == "dimension":
                out.append(
                    _dimension(dim.get("name") or "", dim.get("value"), eff, stmt.doc.location(dim))
                )
        return out
    info = classify("@(" + payload_with_variables(stmt, eff) + ")", eff)
    if info.credential:
        kind = "trusted"
    elif info.caller_controlled:
        kind = "caller"
    elif info.untraced:
        kind = "untraced"
    else:
        kind = "thing"
    return [Payer(f"<{stmt.tag}> record", kind, info, stmt.location, True)]


def _meters(ctx: OpContext) -> list[tuple[Stmt, Effective]]:
    """The metering statements of every route of the operation (each once, with its route)."""
    return list(memoized(ctx.memo, "meters", lambda: _find_meters(ctx)))


def _find_meters(ctx: OpContext) -> list[tuple[Stmt, Effective]]:
    out: list[tuple[Stmt, Effective]] = []
    seen: set[int] = set()
    for route in ctx.routes:
        for stmt in meters(route.eff):
            if id(stmt.el) not in seen:
                seen.add(id(stmt.el))
                out.append((stmt, route.eff))
    return out


def _no_meter(ctx: OpContext) -> Outcome:
    return skipped(f"{ctx.label}: nothing is metered, so no payer can be judged (see coverage)")


@check("IDN001")
def no_payer_dimension(ctx: OpContext) -> CheckResult:
    """A token metric whose dimensions name things (API, model, region), not a payer."""
    found = _meters(ctx)
    if not found:
        return _no_meter(ctx)
    out = []
    for stmt, eff in found:
        payers = payers_of(stmt, eff)
        if not any(p.kind != "thing" for p in payers):
            names = ", ".join(f"'{p.name}'" for p in payers) or "none"
            out.append(
                failed(
                    f"{ctx.label}: <{stmt.tag}> at {stmt.location} names no payer "
                    f"(dimensions: {names})",
                    stmt.location,
                )
            )
    return dedupe(out) or passed(f"{ctx.label}: every metering record names a payer")


def _enforced(eff: Effective, header: str) -> bool:
    """A check-header (or choose + return-response) makes the header mandatory."""
    for stmt in eff.walk("inbound"):
        if stmt.tag == "check-header" and (stmt.el.get("name") or "").lower() == header:
            return not stmt.conditional
    return False


@check("IDN002")
def caller_controlled_payer(ctx: OpContext) -> CheckResult:
    """The only payer comes from a header, query or body the caller chooses."""
    found = _meters(ctx)
    if not found:
        return _no_meter(ctx)
    out = []
    for stmt, eff in found:
        payers = [p for p in payers_of(stmt, eff) if p.kind != "thing"]
        if not payers or any(p.kind == "trusted" for p in payers):
            continue
        caller = [p for p in payers if p.kind == "caller"]
        if not caller:
            names = ", ".join(sorted({v for p in payers for v in p.info.untraced}))
            out.append(
                skipped(
                    f"{ctx.label}: payer comes from variable(s) {names} that no "
                    "set-variable in the effective policy sets",
                    stmt.location,
                )
            )
            continue
        p = caller[0]
        source = ", ".join(f"header '{h}'" for h in p.info.headers) or "the request"
        if p.info.headers and all(_enforced(eff, h) for h in p.info.headers):
            out.append(
                failed(
                    f"{ctx.label}: payer '{p.name}' comes from {source}; check-header "
                    "makes it mandatory but any caller can send any value",
                    p.location,
                    severity="medium",
                )
            )
        else:
            out.append(
                failed(
                    f"{ctx.label}: payer '{p.name}' comes from {source}, which the "
                    "caller chooses and nothing validates",
                    p.location,
                )
            )
    return dedupe(out) or passed(
        f"{ctx.label}: the payer comes from the credential or a validated token"
    )


def _reads_validated_header(text: str, eff: Effective) -> bool:
    """The fallback is for a header a validate-jwt earlier in inbound requires."""
    _, headers = validated_token_sources(eff)
    m = _HEADER_FALLBACK.search(text)
    return m is not None and m.group(1).lower() in headers


#: A fallback on a header read, at the end of the text before a fallback.
_HEADER_FALLBACK = re.compile(
    r"""Headers\s*\.\s*GetValueOrDefault\s*(?:<[^>()]*>)?\s*\(\s*"([^"]+)"\s*,\s*"[^"]*"\s*\)$"""
)


@check("IDN003")
def payer_fallback(ctx: OpContext) -> CheckResult:
    """A payer that falls back to "unknown"/"N/A"/"" fills an unallocated bucket."""
    found = _meters(ctx)
    if not found:
        return _no_meter(ctx)
    out: list[Outcome] = []
    for stmt, eff in found:
        judged = [(p, *_reachable_fallbacks(ctx, stmt, eff, p)) for p in payers_of(stmt, eff)]
        # NOTE: a credential dimension (the product) that falls back leaves no unallocated
        # bucket when another dimension of the same metric always names the payer (a required
        # subscription, a validated claim): the tokens are still charged to someone, so it is a
        # note. A header the caller may omit stays a gap: the split it was meant to give (per
        # user, per app) is lost for every caller who leaves it out.
        solid = [p for p, bad, unsure in judged if p.kind == "trusted" and not bad and not unsure]
        for p, bad, unsure in judged:
            if unsure:
                out.append(
                    skipped(
                        f"{ctx.label}: payer '{p.name}' falls back to '{bad[0]}' when there is "
                        "no subscription; the source does not say whether the API requires one",
                        p.location,
                    )
                )
            elif bad:
                other = (
                    next((q for q in solid if q is not p), None) if p.kind == "trusted" else None
                )
                message = (
                    f"{ctx.label}: payer '{p.name}' falls back to '{bad[0]}', so "
                    "calls without it land in an unallocated bucket"
                )
                if other is not None:
                    out.append(
                        failed(
                            f"{message} of '{p.name}' (dimension '{other.name}' still names "
                            "the payer of those calls)",
                            p.location,
                            severity="low",
                        )
                    )
                else:
                    out.append(failed(message, p.location))
    return dedupe(out) or passed(f"{ctx.label}: no reachable payer fallback")


def _reachable_fallbacks(
    ctx: OpContext, stmt: Stmt, eff: Effective, p: Payer
) -> tuple[list[str], bool]:
    """The fallback values of payer ``p`` that a call can reach, and whether reaching them
    depends on a subscription requirement the source does not show."""
    if p.kind == "thing":
        return [], False
    bad = [
        f
        for f, before, claim in zip(
            p.info.fallbacks, p.info.fallback_contexts, p.info.fallback_claims, strict=True
        )
        if (f.strip().lower() in _FALLBACKS or "portal" in f.lower() or "default" in f.lower())
        and (p.explicit and is_native_meter(stmt) or _PAYER_SOURCE.search(before))
        # NOTE: a claim of a token validated earlier cannot be missing in practice, nor
        # can the header that carries it (validation rejects a call without it); a claim
        # decoded by hand from the payload of that token is the same claim.
        and not (claim and "claim-validated" in p.info.kinds)
        and not _reads_validated_header(before, eff)
    ]
    if not bad or ("claim-validated" in p.info.kinds and not p.info.caller_controlled):
        return [], False
    if p.info.kinds <= {"subscription", "named-value"} and "subscription" in p.info.kinds:
        if ctx.api.subscription_required is True:
            return [], False
        if ctx.api.subscription_required is None:
            return bad, True
    return bad, False


@check("IDN004")
def subscription_payer_without_subscription(ctx: OpContext) -> CheckResult:
    """Subscription ID as the only payer on an API callable without a subscription."""
    found = _meters(ctx)
    if not found:
        return _no_meter(ctx)
    for stmt, eff in found:
        trusted = [p for p in payers_of(stmt, eff) if p.kind == "trusted"]
        if not trusted or not all(
            p.info.kinds & {"subscription"} and not p.info.kinds & {"claim-validated", "user"}
            for p in trusted
        ):
            continue
        if ctx.api.subscription_required is False:
            return failed(
                f"{ctx.label}: the only payer is the subscription, but the API does not "
                "require one: keyless calls carry no payer",
                trusted[0].location,
            )
        if ctx.api.subscription_required is None:
            return skipped(
                f"{ctx.label}: the payer is the subscription; the source does not say "
                "whether the API requires one",
                trusted[0].location,
            )
    return passed(f"{ctx.label}: every call carries the payer")


@check("IDN005")
def too_many_dimensions(ctx: OpContext) -> CheckResult:
    """More than the allowed custom dimensions: later ones may be dropped."""
    limit = int(ctx.params.get("max_custom_dimensions", 5))
    out = []
    for stmt, _eff in _meters(ctx):
        if not is_native_meter(stmt):
            continue
        explicit = [
            d
            for d in stmt.el
            if getattr(d, "tag", None) == "dimension" and d.get("value") is not None
        ]
        if len(explicit) > limit:
            extra = ", ".join(f"'{d.get('name')}'" for d in explicit[limit:])
            out.append(
                failed(
                    f"{ctx.label}: {len(explicit)} custom dimensions (limit {limit}); "
                    f"{extra} may be dropped or the metric not ingested",
                    stmt.location,
                )
            )
    return dedupe(out) or passed(f"{ctx.label}: at most {limit} custom dimensions")


@check("IDN006")
def high_cardinality_dimension(ctx: OpContext) -> CheckResult:
    """Per-request or per-client dimension values can exhaust the time-series limit."""
    out = []
    for stmt, _eff in _meters(ctx):
        if not is_native_meter(stmt):
            continue
        for d in stmt.el:
            if getattr(d, "tag", None) != "dimension":
                continue
            value = d.get("value") or ""
            name = d.get("name") or ""
            if high_cardinality(value) or (not value and name.lower() == "client ip"):
                out.append(
                    failed(
                        f"{ctx.label}: dimension '{name}' has a value per request or "
                        "client; it can exhaust the 50,000 time-series limit",
                        stmt.doc.location(d),
                    )
                )
    return dedupe(out) or passed(f"{ctx.label}: no high-cardinality dimension")


@check("IDN007")
def secret_in_dimension(ctx: OpContext) -> CheckResult:
    """A subscription key, api-key or raw Authorization header as a dimension or logged value."""
    out = []
    for route in ctx.routes:
        for stmt in route.eff.walk():
            if stmt.tag not in (
                "llm-emit-token-metric",
                "azure-openai-emit-token-metric",
                "emit-metric",
                "log-to-eventhub",
                "trace",
            ):
                continue
            secrets = [
                s for expr in _expressions(stmt.el) for s in classify(expr, route.eff).secrets
            ]
            for secret in dict.fromkeys(secrets):
                out.append(
                    failed(
                        f"{ctx.label}: <{stmt.tag}> records {secret}; secrets must "
                        "never be metric dimensions or log values",
                        stmt.location,
                    )
                )
    return dedupe(out) or passed(f"{ctx.label}: no secret is recorded")


def _expressions(el: Any) -> list[str]:
    """The policy expressions (attribute values and texts starting with '@') of an element and
    its children, each judged on its own: a variable is then traced through its own setters, so
    one that only tests a secret header (and returns literals) does not taint the others."""
    out = []
    for node in el.iter():
        if not isinstance(node.tag, str):
            continue
        out += [v for v in node.attrib.values() if v.lstrip().startswith("@")]
        if node.text and node.text.lstrip().startswith("@"):
            out.append(node.text)
    return out


@check("IDN008")
def coarse_product_payer(ctx: OpContext) -> CheckResult:
    """Product ID alone attributes to the product, not to the team or app inside it."""
    out = []
    for stmt, eff in _meters(ctx):
        trusted = [p for p in payers_of(stmt, eff) if p.kind in ("trusted", "caller")]
        if trusted and all(p.info.kinds <= {"product", "named-value"} for p in trusted):
            out.append(
                failed(
                    f"{ctx.label}: the only payer is the product; usage of all "
                    "subscribers of a product is pooled",
                    stmt.location,
                )
            )
    return dedupe(out) or passed(f"{ctx.label}: payer finer than the product")

"""Checks for the streaming signal: are streamed completions counted?"""

from __future__ import annotations

import re

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
from checks._common import (
    covering_diagnostics,
    dedupe,
    elsewhere,
    is_custom_meter,
    is_native_meter,
    meters,
    payload_with_variables,
    unnamed,
)

_NEGATED = re.compile(
    r"!(?!=)\s*[\w\s.()\[\]\"<>,]*?stream|stream[^)]*?(==\s*false|!=\s*true)", re.IGNORECASE
)
_BODY_USAGE = re.compile(r"Response\.Body", re.IGNORECASE)


def nothing_metered(ctx: OpContext) -> Outcome | None:
    """Streaming is unknown when nothing is metered: no stream handling to judge."""
    if any(meters(r.eff) for r in ctx.routes):
        return None
    return skipped(
        f"{ctx.label}: nothing is metered, so how streamed calls are counted cannot "
        "be judged (see coverage)"
    )


def stream_polarity(condition: str) -> str | None:
    """``streams`` when a condition selects streamed calls, ``no-streams`` when it excludes them."""
    negate = False
    cond = condition.strip()
    while cond.startswith("not (") and cond.endswith(")"):
        negate = not negate
        cond = cond[5:-1].strip()
    if "stream" not in cond.lower():
        return None
    excludes = bool(_NEGATED.search(cond))
    return "no-streams" if excludes != negate else "streams"


def runs_for_streams(stmt: Stmt) -> bool:
    """False when one of the statement's conditions excludes streamed calls."""
    return all(stream_polarity(c) != "no-streams" for c in stmt.conditions)


def streaming_handled(eff: Effective) -> tuple[bool, str]:
    """Streamed calls are rejected, forced to non-streaming, or carry real usage."""
    return memoized(eff.memo, ("streaming_handled",), lambda: _streaming_handled(eff))


def _streaming_handled(eff: Effective) -> tuple[bool, str]:
    for stmt in eff.walk("inbound"):
        if stmt.tag == "choose":
            for branch in stmt.branches:
                if (
                    branch.condition
                    and stream_polarity(branch.condition) == "streams"
                    and any(s.tag == "return-response" for s in branch.stmts)
                ):
                    return True, f"streamed requests are rejected at {branch.location}"
        if stmt.tag == "set-body":
            text = stmt.doc.text_of(stmt.el).lower()
            if '"stream"' in text and "false" in text:
                return True, f"stream is forced to false at {stmt.location}"
    for stmt in eff.walk("inbound"):
        if "include_usage" in stmt.doc.text_of(stmt.el):
            return True, f"stream_options.include_usage is injected at {stmt.location}"
    return False, ""


def _reads_body_usage(stmt: Stmt, eff: Effective) -> bool:
    return is_custom_meter(stmt, eff) and bool(
        _BODY_USAGE.search(payload_with_variables(stmt, eff))
    )


@check("STR001")
def body_usage_misses_streams(ctx: OpContext) -> CheckResult:
    """Usage parsed from the response body: streamed responses carry none there."""
    if (unmetered := nothing_metered(ctx)) is not None:
        return unmetered
    out: list[Outcome] = []
    for route in ctx.routes:
        body = [s for s in route.eff.walk() if _reads_body_usage(s, route.eff)]
        if not body:
            continue
        handled, how = streaming_handled(route.eff)
        if handled and "include_usage" not in how:
            continue
        if handled:
            sse = any("data:" in payload_with_variables(s, route.eff) for s in body)
            if sse:
                continue
            out.append(
                failed(
                    f"{ctx.label}: {how}, but usage is read from the body as JSON, "
                    "which an SSE stream is not",
                    body[0].location,
                )
            )
            continue
        fallback = [
            s for s in route.eff.walk("inbound") if is_native_meter(s) and runs_for_streams(s)
        ]
        if fallback:
            # NOTE: the token metric still counts streamed calls; the body-parsed record (the
            # one a chargeback pipeline reads) loses them: a gap, not a total loss.
            out.append(
                failed(
                    f"{ctx.label}: usage is read from the response body at {body[0].location} "
                    f"for <{body[0].tag}>, which streamed responses do not carry: that record "
                    f"misses streamed calls (<{fallback[0].tag}> at {fallback[0].location} "
                    "still counts them)",
                    body[0].location,
                    severity="medium",
                    evidence=[fallback[0].location],
                )
            )
            continue
        out.append(
            failed(
                f"{ctx.label}: usage is read from the response body at {body[0].location}, but "
                "streamed responses carry no usage there and streaming is not blocked: streamed "
                "calls vanish from the count",
                body[0].location,
            )
        )
    return dedupe(out) or passed(f"{ctx.label}: streamed calls are not lost by body parsing")


@check("STR002")
def streamed_tokens_estimated(ctx: OpContext) -> CheckResult:
    """Native token metrics count streamed calls as estimates."""
    if (unmetered := nothing_metered(ctx)) is not None:
        return unmetered
    for route in ctx.routes:
        native = [s for s in route.eff.walk("inbound") if is_native_meter(s)]
        if native and not streaming_handled(route.eff)[0]:
            return failed(
                f"{ctx.label}: streamed calls are counted by <{native[0].tag}> as "
                "estimates, not exact usage",
                native[0].location,
            )
    return passed(f"{ctx.label}: no estimated stream counts")


@check("STR003")
def metering_excludes_streams(ctx: OpContext) -> CheckResult:
    """Metering that only runs in a branch excluding streamed requests."""
    if (unmetered := nothing_metered(ctx)) is not None:
        return unmetered
    out = []
    for route in ctx.routes:
        found = meters(route.eff)
        if not found or streaming_handled(route.eff)[0]:
            continue
        if not any(runs_for_streams(s) for s in found):
            cond = next(c for s in found for c in s.conditions if stream_polarity(c))
            out.append(
                failed(
                    f"{ctx.label}: metering runs only when '{cond.strip()}', which "
                    "excludes streamed requests; they are never counted",
                    found[0].location,
                )
            )
    return dedupe(out) or passed(f"{ctx.label}: metering also runs for streamed requests")


@check("STR004")
def body_logging_breaks_streams(ctx: ApiContext) -> CheckResult:
    """Logging request/response bodies buffers server-sent events.

    NOTE: judged on the diagnostics, not on the metering: body logging breaks streams whether or
    not anything counts them (signals.md lists it apart from the stream handling of metering).
    """
    out = [
        failed(
            f"{ctx.api.name}: diagnostic '{d.name}' logs {d.body_bytes} body bytes; body "
            "logging buffers streamed responses",
            d.body_location or d.location,
        )
        for d in covering_diagnostics(ctx)
        if d.body_bytes > 0
    ]
    away = elsewhere(ctx) or unnamed(covering_diagnostics(ctx))
    if not out and away:
        return skipped(f"{ctx.api.name}: no body logging is declared here, but {away}")
    return out or passed(f"{ctx.api.name}: no body logging on the API")

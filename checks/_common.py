"""Helpers shared by the signal checks: what meters a call, and how unconditionally."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from auditor.checking import ApiContext, OpContext, Outcome, Route
from auditor.effective import Effective, Stmt, memoized, terminates
from auditor.llm import backend_chain, backend_urls, llm_host
from auditor.model import AiAccount, Diagnostic, Location, Service, unknown_of
from auditor.sources.resources import DECLARED_EXISTING, NOT_DECLARED
from auditor.values import VAR_READ, setters, traced

TOKEN_METRIC = ("llm-emit-token-metric", "azure-openai-emit-token-metric")
CUSTOM_METER = ("log-to-eventhub", "trace", "send-one-way-request", "emit-metric")
_USAGE = re.compile(
    r"prompt_tokens|completion_tokens|total_tokens|input_tokens|output_tokens"
    r"|\busage\b|PromptTokens|CompletionTokens|TotalTokens"
    # NOTE: a logged response body carries the usage object of non-streamed calls.
    r"|Response\.Body",
    re.IGNORECASE,
)


def payload_with_variables(stmt: Stmt, eff: Effective, depth: int = 0) -> str:
    """A statement's text plus the text of the ``set-variable`` statements it reads (traced)."""
    compute = lambda: _payload(stmt, eff, depth)  # noqa: E731
    return traced(eff, ("payload", id(stmt.el), depth), compute, stmt.doc.text_of(stmt.el))


def _payload(stmt: Stmt, eff: Effective, depth: int) -> str:
    text = stmt.doc.text_of(stmt.el)
    if depth >= 3:
        return text
    parts = [text]
    for var in dict.fromkeys(VAR_READ.findall(text)):
        for setter in setters(eff, var):
            if setter is not stmt:
                parts.append(payload_with_variables(setter, eff, depth + 1))
    return "\n".join(parts)


def is_native_meter(stmt: Stmt) -> bool:
    """A token-metric policy in the only section where it works (inbound)."""
    return stmt.tag in TOKEN_METRIC and stmt.section == "inbound"


def is_custom_meter(stmt: Stmt, eff: Effective) -> bool:
    """Event Hub / trace / one-way request / emit-metric carrying token usage."""
    if stmt.tag not in CUSTOM_METER:
        return False
    key = ("custom", id(stmt.el))
    if key not in eff.memo:
        eff.memo[key] = bool(_USAGE.search(payload_with_variables(stmt, eff)))
    return bool(eff.memo[key])


def is_meter(stmt: Stmt, eff: Effective) -> bool:
    """Native (inbound token-metric) or custom metering."""
    return is_native_meter(stmt) or is_custom_meter(stmt, eff)


def reach(stmts: Sequence[Stmt], pred: Callable[[Stmt], bool]) -> str:
    """``always``, ``partial`` or ``never``: does ``pred`` hold on every path through ``stmts``?

    In inbound, a branch that ends in ``return-response`` never reaches the model (it rejects
    streams, unauthorised calls ...): it is left out of the judgement. An unconditional one is
    not: what follows it never runs, which is the gap to report.
    """
    partial = False
    for stmt in stmts:
        if not stmt.reachable:
            continue
        if pred(stmt):
            return "always"
        if stmt.children:
            inner = reach(stmt.children, pred)
            if inner == "always":
                return "always"
            partial = partial or inner == "partial"
        if stmt.branches:
            live = []
            for branch in stmt.branches:
                result = reach(branch.stmts, pred)
                rejects = stmt.section == "inbound" and terminates(branch.stmts)
                if result == "always" or not rejects:
                    live.append(result)
            has_otherwise = any(b.condition is None for b in stmt.branches)
            if live and has_otherwise and all(r == "always" for r in live):
                return "always"
            partial = partial or any(r != "never" for r in live)
    return "partial" if partial else "never"


def meter_reach(eff: Effective) -> str:
    """How unconditionally a route is metered, across all sections."""
    return memoized(eff.memo, ("meter_reach",), lambda: _meter_reach(eff))


def _meter_reach(eff: Effective) -> str:
    best = "never"
    for section in ("inbound", "backend", "outbound", "on-error"):
        r = reach(eff.sections.get(section, ()), lambda s: is_meter(s, eff))
        if r == "always":
            return "always"
        if r == "partial":
            best = "partial"
    return best


def meters(eff: Effective) -> list[Stmt]:
    """Every reachable metering statement of a route."""
    found = memoized(eff.memo, ("meters",), lambda: [s for s in eff.walk() if is_meter(s, eff)])
    return list(found)


def dedupe(outcomes: list[Outcome]) -> list[Outcome]:
    """Drop repeated outcomes (the same gap seen on several routes)."""
    seen: dict[tuple[str, str, str], Outcome] = {}
    for o in outcomes:
        seen.setdefault((o.status, o.message, str(o.location)), o)
    return list(seen.values())


def inbound_location(ctx: OpContext) -> Location:
    """The <inbound> of the most specific policy of the operation (where a fix goes)."""
    for doc in (ctx.op.policy, ctx.api.policy):
        if doc is not None and doc.ok:
            inbound = doc.section("inbound")
            return doc.location(inbound) if inbound is not None else doc.location()
    return ctx.api.location


def covering_diagnostics(ctx: ApiContext) -> list[Diagnostic]:
    """Diagnostics that apply to the API: its own, and service ones it does not override."""
    names = {d.name for d in ctx.api.diagnostics}
    return [*ctx.api.diagnostics, *(d for d in ctx.service.diagnostics if d.name not in names)]


def backend_hosts(ctx: ApiContext) -> set[str]:
    """Hosts the API sends calls to: its serviceUrl and every set-backend-service target."""
    hosts = set()
    if h := llm_host(ctx.api.service_url):
        hosts.add(h)
    for op in ctx.ops:
        for route in op.routes:
            for stmt in route.eff.walk():
                if stmt.tag != "set-backend-service":
                    continue
                urls = [
                    stmt.el.get("base-url"),
                    *backend_urls(ctx.service, stmt.el.get("backend-id") or ""),
                ]
                hosts.update(h for u in urls if (h := llm_host(u)))
    return hosts


def accounts_behind(ctx: ApiContext) -> list[AiAccount]:
    """The Azure OpenAI accounts an API calls, matched by backend host, or by name where the
    IaC gives a backend the endpoint of an account it declares (only known once deployed)."""
    return list(memoized(ctx.memo, "accounts", lambda: _accounts_behind(ctx)))


#: How the reason an IaC value is unknown names the account whose endpoint it is.
#: The name may hold ``${...}`` expressions with quotes of their own (``a-${f('x')}``).
_ACCOUNT_NAMED = re.compile(
    r"Microsoft\.CognitiveServices/accounts(?: \([^)]*\))? "
    r"'((?:[^'$]|\$(?!\{)|\$\{(?:[^{}]|\{[^{}]*\})*\})+)'"
)


def _accounts_behind(ctx: ApiContext) -> list[AiAccount]:
    hosts = backend_hosts(ctx)
    named = backend_account_names(ctx)
    return [
        a
        for a in ctx.estate.ai_accounts
        if (set(a.hosts) & hosts or a.name in named) and same_deployment(a.deployment, ctx.service)
    ]


def backend_account_names(ctx: ApiContext) -> set[str]:
    """Accounts whose endpoint an API's service URL or backends are (by the reason the URL is
    unknown: an IaC reference to the account)."""
    reasons = [unknown_of(ctx.api, "service_url")]
    for op in ctx.ops:
        for route in op.routes:
            for stmt in route.eff.walk():
                if stmt.tag == "set-backend-service":
                    for b in backend_chain(ctx.service, stmt.el.get("backend-id") or ""):
                        reasons.append(unknown_of(b, "url"))
    return {m for r in reasons if r for m in _ACCOUNT_NAMED.findall(r)}


def same_deployment(deployment: str | None, service: Service) -> bool:
    """An object whose name is local to a deployment is only that deployment's."""
    return deployment is None or deployment in service.deployments


def elsewhere(ctx: ApiContext) -> str | None:
    """Why the service may have, outside this source, what the source does not show."""
    if not ctx.service.elsewhere:
        return None
    return elsewhere_of(ctx.service)


def global_unseen(
    ctx: OpContext, routes: Sequence[Route] | None = None, section: str = "inbound"
) -> str | None:
    """Why what a check found missing on ``routes`` (default: every route) may still run: the
    service's global policy is not in this source (the service is declared elsewhere, or a
    module of its deployment is not read), and on one of those routes every scope below keeps
    ``<base />`` in ``section`` (so the unseen global statements run there)."""
    service = ctx.service
    if service.policy is not None or not service.elsewhere:
        return None
    # NOTE: a deployment read in part by a loop over unknown items or a provisioner still
    # declares the service, and its global policy would be declared beside it; an unread module
    # may declare the policy itself.
    why = next(
        (
            w
            for w in service.elsewhere
            if w.startswith((DECLARED_EXISTING, NOT_DECLARED)) or _UNREAD_MODULE.search(w)
        ),
        None,
    )
    if why is None:
        return None
    workspace = service.workspace_policies.get(ctx.api.workspace) if ctx.api.workspace else None
    for route in ctx.routes if routes is None else routes:
        product = service.products.get(route.product) if route.product else None
        docs = [ctx.op.policy, ctx.api.policy, product.policy if product else None, workspace]
        if all(
            d is None
            or (d.root is not None and d.section(section) is not None and d.has_base(section))
            for d in docs
        ):
            return f"the service's global policy is not in this source: {why}"
    return None


def unseen_split(ctx: OpContext, routes: Sequence[Route]) -> tuple[list[Route], str | None]:
    """``routes`` on which what a check found missing is certainly missing (they drop the
    global scope, or it is in the source), and why the rest may have it (None when none may)."""
    doubts = {id(r): global_unseen(ctx, [r]) for r in routes}
    certain = [r for r in routes if doubts[id(r)] is None]
    return certain, next((d for d in doubts.values() if d), None)


#: How the readers say a module was not read (a registry or git module, one outside the folder).
_UNREAD_MODULE = re.compile(r"\bmodule '[^']*' from .*? is not read")


def elsewhere_of(service: Service) -> str:
    """The first reason the service may have more than the source shows (and how many more)."""
    more = len(service.elsewhere) - 1
    return service.elsewhere[0] + (f" (and {more} more)" if more else "")


def unnamed(items: Iterable[object]) -> str | None:
    """Why one of ``items`` may be the one looked for: its name is only known at deployment
    (a loop over items the source does not hold)."""
    for item in items:
        if why := unknown_of(item, "name"):
            return (
                f"'{getattr(item, 'name', '?')}' ({getattr(item, 'location', '')}) may be it: {why}"
            )
    return None


def rests_on(*objs: object) -> str | None:
    """Why a verdict resting on these objects is not certain: one is only deployed under a
    condition the source cannot decide."""
    for obj in objs:
        cond = getattr(obj, "condition", None)
        if cond:
            where = getattr(obj, "location", None)
            return f"{getattr(obj, 'name', 'it')} ({where}) is only deployed {cond}"
    return None

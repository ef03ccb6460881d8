"""What the configuration says about measuring each API: its payer dimension and how far to trust
it, where its tokens go, and which store its metrics land in.

The judgement is the one the identity checks make (:func:`checks.identity.payers_of` on the
effective policy of every route), so a payer the rules call caller-controlled is never counted
as attributed by the money figures. The payer dimension chosen for an API is its most
trustworthy and finest one: a validated token claim or the user, then the subscription, then
other credential values (the product), then caller-chosen values, then untraced ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from auditor.checking import ApiContext, OpContext
from auditor.engine import routes_for
from auditor.llm import backend_urls, llm_evidence
from auditor.model import Estate, Operation, Service
from checks._common import accounts_behind, covering_diagnostics, is_native_meter, meters
from checks.identity import Payer, payers_of

#: A dimension whose values name the deployment (or the model) a call went to.
DEPLOYMENT_DIMENSION = re.compile(r"deploy", re.IGNORECASE)
MODEL_DIMENSION = re.compile(r"\bmodel", re.IGNORECASE)
API_DIMENSION = "api id"
_DEPLOYMENT_IN_URL = re.compile(r"/deployments/([^/?#{}]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ApiMeter:
    """How one API's tokens are measured and judged."""

    service: str
    api: str
    workspace: str | None
    id: str
    """As the report names the API: ``service/api`` (``service/workspace/api``)."""
    metered: bool
    """A native token metric runs on at least one route."""
    custom: bool
    """Usage is metered only by a custom log (Event Hub, trace...), outside the metrics store."""
    dimensions: tuple[str, ...]
    """Every dimension name of its token metrics, in document order."""
    payer: str | None
    payer_kind: str
    """``trusted``, ``caller``, ``untraced`` or ``none``."""
    payer_why: str
    deployment_dimension: str | None
    model_dimension: str | None
    fixed_deployment: str | None
    """A deployment named by the backend URL itself (``.../deployments/<name>``)."""
    accounts: tuple[str, ...]
    """Azure OpenAI accounts behind the API (by backend host), lower case."""
    components: tuple[str, ...]
    """Application Insights components its metrics land in (resource ids as the loggers name
    them; compare them case-insensitively)."""

    @property
    def has_api_dimension(self) -> bool:
        """The metric carries ``API ID``, so its rows name this API."""
        return any(d.lower() == API_DIMENSION for d in self.dimensions)


def _rank(p: Payer) -> int:
    if p.kind == "trusted":
        if p.info.kinds & {"claim-validated", "user"}:
            return 0
        if "subscription" in p.info.kinds:
            return 1
        return 2
    return {"caller": 3, "untraced": 4}.get(p.kind, 9)


_WHY = {
    "trusted": "comes from the APIM credential or a validated token",
    "caller": "comes from a value the caller chooses (a header, query or body), so it names "
    "whoever the caller says",
    "untraced": "comes from a variable nothing in the effective policy sets",
}


def api_contexts(estate: Estate) -> list[tuple[Service, ApiContext]]:
    """Every API with LLM evidence, with the effective policy of each route (as the engine
    builds them)."""
    out = []
    outer: dict[tuple[object, ...], Any] = {}
    for service in estate.services:
        for api in service.apis:
            if not llm_evidence(api, service):
                continue
            cache: dict[tuple[object, ...], Any] = {}
            ops = list(api.operations) or [Operation("*", None, None, None)]
            op_ctxs = [
                OpContext(
                    estate, service, api, op, routes_for(service, api, op, estate, cache, outer)
                )
                for op in ops
            ]
            out.append((service, ApiContext(estate, service, api, op_ctxs)))
    return out


def judge(estate: Estate) -> list[ApiMeter]:
    """The measurement view of every LLM API of the estate, in estate order."""
    out = []
    for service, ctx in api_contexts(estate):
        out.append(judge_api(service, ctx))
    return out


def judge_api(service: Service, ctx: ApiContext) -> ApiMeter:
    """One API's measurement view (also used by the checks, on the engine's context)."""
    api = ctx.api
    native: list[Payer] = []
    dims: list[str] = []
    custom = False
    for op in ctx.ops:
        for route in op.routes:
            for stmt in meters(route.eff):
                if is_native_meter(stmt):
                    for dim in stmt.el:
                        if getattr(dim, "tag", None) == "dimension":
                            name = dim.get("name") or ""
                            if name and name not in dims:
                                dims.append(name)
                    native.extend(payers_of(stmt, route.eff))
                else:
                    custom = True
    candidates = sorted(
        (p for p in native if p.kind != "thing"), key=_rank
    )  # stable: document order within a rank
    chosen = candidates[0] if candidates else None
    if chosen is None:
        kind, why = (
            "none",
            ("its token metric names no payer" if native or dims else "no token metric runs"),
        )
    else:
        kind, why = chosen.kind, f"'{chosen.name}' {_WHY.get(chosen.kind, '')}".strip()
    deployment_dim = next((d for d in dims if DEPLOYMENT_DIMENSION.search(d)), None)
    model_dim = next((d for d in dims if MODEL_DIMENSION.search(d)), None)
    parts = [service.name, api.workspace, api.name]
    return ApiMeter(
        service=service.name,
        api=api.name,
        workspace=api.workspace,
        id="/".join(p for p in parts if p),
        metered=bool(dims) or bool(native),
        custom=custom and not (dims or native),
        dimensions=tuple(dims),
        payer=chosen.name if chosen else None,
        payer_kind=kind,
        payer_why=why,
        deployment_dimension=deployment_dim,
        model_dimension=model_dim,
        fixed_deployment=_fixed_deployment(ctx),
        accounts=tuple(sorted({a.name.lower() for a in accounts_behind(ctx)})),
        components=_components(ctx),
    )


def _fixed_deployment(ctx: ApiContext) -> str | None:
    urls = [ctx.api.service_url]
    for op in ctx.ops:
        for route in op.routes:
            for stmt in route.eff.walk():
                if stmt.tag == "set-backend-service":
                    urls.append(stmt.el.get("base-url"))
                    urls.extend(backend_urls(ctx.service, stmt.el.get("backend-id") or ""))
    names = set()
    for url in urls:
        if not url or url.lstrip().startswith("@"):
            continue
        m = _DEPLOYMENT_IN_URL.search(urlparse(url).path)
        if m:
            names.add(m[1])
    return names.pop() if len(names) == 1 else None


def _components(ctx: ApiContext) -> tuple[str, ...]:
    out = set()
    for diag in covering_diagnostics(ctx):
        if diag.name.lower() != "applicationinsights" or not diag.logger:
            continue
        logger = ctx.service.loggers.get(diag.logger)
        if logger is not None and logger.resource_id:
            out.add(logger.resource_id.rstrip("/"))
    return tuple(sorted(out))

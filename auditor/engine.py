"""Runs the catalog over an estate: effective policies, checks, findings and per-API verdicts."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from auditor.checking import REGISTRY, ApiContext, OpContext, Outcome, Route
from auditor.effective import Problem, build_effective
from auditor.llm import in_scope, model_call, scoping
from auditor.model import Api, Estate, Location, Operation, Service, unknown_of
from auditor.policy import PolicyDoc
from auditor.rules import SIGNALS, Catalog, Rule, severity_rank

#: Source-level rule ids (documents that could not be read).
UNREADABLE_POLICY = "AUD001"
UNREADABLE_FILE = "AUD002"
BROKEN_POLICY_CHAIN = "AUD003"
SCOPE_UNDECIDED = "AUD004"


@dataclass(slots=True)
class Finding:
    """One verdict of one rule on one target. Not changed once made (``replace`` gives a
    changed copy).

    NOTE: not a frozen dataclass: a frozen one sets each field through ``object.__setattr__``,
    which made building (and unpickling, for a worker's results) eight times slower; a scan of
    1,000 APIs makes 40,000 findings, and frozen cost 5% of its audit time.
    """

    rule: str
    signal: str | None
    severity: str
    status: str
    """``fail``, ``pass``, ``skip`` or ``error``."""
    target: str
    api: str | None
    service: str | None
    message: str
    location: Location | None
    fix: str
    fingerprint: str
    """A stable id: the same gap keeps it when lines move or wording changes (see
    :func:`_fingerprint`); made where the finding is made (in the worker that made it)."""
    evidence: tuple[Location, ...] = ()
    suppression: dict[str, str | None] | None = None
    """Set when a waiver, an inline ignore or the baseline accepts the finding."""

    def __reduce__(self) -> tuple[type[Finding], tuple[Any, ...]]:
        # NOTE: forked workers send back every finding; the generic dataclass pickling of
        # slotted classes costs twice as much.
        return (Finding, tuple(getattr(self, name) for name in _FINDING_FIELDS))

    def sort_key(self) -> tuple[str, ...]:
        """Stable order: service, API, signal, rule, target, then text."""
        sig = str(SIGNALS.index(self.signal)) if self.signal in SIGNALS else "9"
        return (
            self.service or "",
            self.api or "",
            sig,
            self.rule,
            self.target,
            self.status,
            str(self.location or ""),
            self.message,
        )


_FINDING_FIELDS = tuple(f.name for f in fields(Finding))


@dataclass
class ApiResult:
    """An API of the estate with its LLM evidence and, for LLM APIs, its four verdicts."""

    service: str
    api: Api
    scope: str
    """``llm``, ``undecided`` (its verdicts are all unknown) or ``other``."""
    evidence: list[str]
    verdicts: dict[str, str] = field(default_factory=dict)
    single_file: bool = False
    """The source is one policy file: its service is the file itself, not worth repeating."""

    @property
    def llm(self) -> bool:
        """Judged as an LLM API."""
        return self.scope == "llm"

    @property
    def judged(self) -> bool:
        """An LLM API, or one that may be (undecided): its verdicts count."""
        return self.scope in ("llm", "undecided")

    @property
    def id(self) -> str:
        """``service/api`` (workspace APIs: ``service/workspace/api``)."""
        if self.single_file:
            return self.api.name
        parts = [self.service, self.api.workspace, self.api.name]
        return "/".join(p for p in parts if p)


@dataclass
class Audit:
    """The outcome of a run: APIs with verdicts and all findings, sorted."""

    estate: Estate
    catalog: Catalog
    apis: list[ApiResult]
    findings: list[Finding]


def routes_for(
    service: Service,
    api: Api,
    op: Operation,
    estate: Estate,
    cache: dict[tuple[object, ...], Any] | None = None,
    outer: dict[tuple[object, ...], Any] | None = None,
    absent: frozenset[int] = frozenset(),
) -> list[Route]:
    """Every way a call reaches the operation, each with its effective policy (the documents
    whose ids are in ``absent`` left out: those only deployed under a condition).

    A product policy only runs for calls made with a subscription to that product. Calls made with
    the built-in all-access subscription, an all-APIs or API-scoped subscription, or without a
    subscription on an API that does not require one, run no product policy.

    ``cache`` (per API) and ``outer`` (per estate) share resolutions between calls.
    """
    # NOTE: a fragment a service declared elsewhere includes may be declared there too.
    fragments_known = "fragments" in estate.provides and not service.elsewhere
    ws_doc = service.workspace_policies.get(api.workspace) if api.workspace else None

    def effective(product_doc: PolicyDoc | None) -> Route:
        chain = [service.policy, ws_doc, product_doc, api.policy, op.policy]
        chain = [None if d is not None and id(d) in absent else d for d in chain]
        # NOTE: operations without a policy of their own share their API's effective policy;
        # computing it once per chain keeps large estates linear in documents, not operations.
        key = ("effective", *(id(d) for d in chain))
        eff = cache.get(key) if cache is not None else None
        if eff is None:
            eff = build_effective(
                chain,
                service.fragments,
                fragments_known=fragments_known,
                shared=cache,
                outer=outer,
                outer_levels=3,  # global, workspace, product: alike for every API
            )
            if cache is not None:
                cache[key] = eff
        return Route(None, "", eff)

    if "products" not in estate.provides:
        route = effective(None)
        route.label = "every call"
        return [route]
    routes: list[Route] = []
    for pname in api.products:
        product = service.products.get(pname)
        route = effective(product.policy if product else None)
        route.product = pname
        route.label = f"calls through product '{pname}'"
        routes.append(route)
    reasons: list[str] = []
    # NOTE: the built-in all-access subscription is an administrator's credential every
    # instance has: a route through it alone is a low note (signals.md), unless the source
    # cannot show whether other product-less routes exist.
    severity = "low"
    doubts = []
    if api.subscription_required is None:
        doubts.append("the source does not say whether the API requires a subscription")
    if service.elsewhere:
        doubts.append(f"subscriptions may be declared elsewhere ({service.elsewhere[0]})")
    if api.subscription_required is False:
        reasons.append("the API does not require a subscription")
        severity = "high"
    direct = sorted(
        s.name
        for s in service.subscriptions
        if s.active
        and (
            s.scope_kind == "all-apis"
            or (s.scope_kind == "api" and (s.scope_name or "").lower() == api.name.lower())
        )
    )
    if direct:
        reasons.append(
            "subscription(s) "
            + ", ".join(f"'{d}'" for d in direct)
            + " scoped to all APIs or to this API"
        )
        severity = "high"
    if not api.products:
        reasons.append("the API is in no product")
        severity = "high"
    reasons.append("the built-in all-access subscription")
    route = effective(None)
    route.label = "calls without a product policy (" + "; ".join(reasons) + ")"
    route.severity = severity
    route.doubt = "; ".join(doubts) if severity == "low" and doubts else None
    routes.append(route)
    return routes


def _finding(
    rule: Rule, outcome: Outcome, target: str, api: str | None, service: str | None
) -> Finding:
    status = "pass" if outcome.status == "pass" else outcome.status
    return Finding(
        rule=rule.id,
        signal=rule.signal,
        severity=outcome.severity or rule.severity,
        status=status,
        target=target,
        api=api,
        service=service,
        message=outcome.message,
        location=outcome.location,
        fix=rule.fix,
        evidence=outcome.evidence,
        fingerprint=_fingerprint(rule.id, service, api, target, outcome.location, status),
    )


def _as_list(result: Outcome | list[Outcome]) -> list[Outcome]:
    return result if isinstance(result, list) else [result]


def _uncertain(ctx: OpContext) -> Outcome | None:
    """A skip when the effective policy could not be fully computed (the verdict is unknown).

    The cause itself is reported once, as an AUD001/AUD003 error, not once per rule.
    """
    for route in ctx.routes:
        for problem in route.eff.problems:
            return Outcome(
                "skip", f"cannot be evaluated for {ctx.label}: {problem.message}", problem.location
            )
    return None


def _collapse(
    per_op: list[tuple[OpContext, list[Outcome]]], api_label: str
) -> list[tuple[str, Outcome]]:
    """One finding per distinct outcome; targets name the API when all operations agree."""
    groups: dict[tuple[str, str, Location | None, str | None], list[tuple[str, Outcome]]] = {}
    for ctx, outcomes in per_op:
        for o in outcomes:
            key = (o.status, o.message.replace(ctx.label, "{target}"), o.location, o.severity)
            groups.setdefault(key, []).append((ctx.label, o))
    n_ops = len(per_op)
    out: list[tuple[str, Outcome]] = []
    for items in groups.values():
        labels = sorted({label for label, _ in items})
        if len(labels) == n_ops and n_ops > 1:
            out.append((api_label, _relabel(items[0][1], items[0][0], api_label)))
        else:
            out.extend(items)
    return out


def _same_routes(ops: list[OpContext]) -> list[tuple[OpContext, OpContext]]:
    """Each operation, in order, with the first one that has the same effective policies
    (itself, if none before it has): such an operation gets the same verdicts."""
    first: dict[tuple[int, ...], OpContext] = {}
    return [(ctx, first.setdefault(tuple(id(r.eff) for r in ctx.routes), ctx)) for ctx in ops]


def _run_rule(
    rule: Rule,
    api_ctx: ApiContext,
    service: Service,
    same: list[tuple[OpContext, OpContext]],
) -> list[Finding]:
    api = api_ctx.api
    fn = REGISTRY.get(rule.id)
    if fn is None:
        return []
    if not rule.requires <= api_ctx.estate.provides:
        missing = rule.requires - api_ctx.estate.provides
        reason = f"source '{api_ctx.estate.source_kind}' cannot show " + ", ".join(
            sorted(missing)
        ).replace("_", " ")
        return [
            _finding(
                rule,
                Outcome("skip", f"{api.name}: not evaluated: {reason}"),
                api.name,
                api.name,
                service.name,
            )
        ]
    try:
        if rule.target == "api":
            pairs = [(api.name, o) for o in _as_list(fn(api_ctx))]
            if "policies" in rule.requires and not all(o.certain for _, o in pairs):
                for ctx in api_ctx.ops:
                    if err := _uncertain(ctx):
                        pairs = [(api.name, err)]
                        break
        else:
            per_op: list[tuple[OpContext, list[Outcome]]] = []
            done: dict[int, list[Outcome]] = {}
            for ctx, first in same:
                if first is not ctx:  # same effective policies as an earlier one: same verdicts
                    per_op.append(
                        (ctx, [_relabel(o, first.label, ctx.label) for o in done[id(first)]])
                    )
                    continue
                err = _uncertain(ctx) if "policies" in rule.requires else None
                outcomes = done[id(ctx)] = [err] if err else _as_list(fn(ctx))
                per_op.append((ctx, outcomes))
            pairs = _collapse(per_op, api.name)
    except Exception as exc:  # noqa: BLE001 - one broken check must not sink the report
        pairs = [
            (api.name, Outcome("error", f"check {rule.id} failed: {type(exc).__name__}: {exc}"))
        ]
    return [_finding(rule, o, target, api.name, service.name) for target, o in pairs]


def _relabel(o: Outcome, old: str, new: str) -> Outcome:
    return Outcome(o.status, o.message.replace(old, new), o.location, o.severity, o.evidence)


def _fingerprint(
    rule: str,
    service: str | None,
    api: str | None,
    target: str,
    location: Location | None,
    status: str,
) -> str:
    path = location.path if location else ""
    key = "|".join([rule, service or "", api or "", target, path or "", status])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def accepted(f: Finding) -> bool:
    """Waived or ignored inline: a human accepted it, so it no longer counts."""
    return f.suppression is not None and f.suppression.get("kind") in ("waiver", "inline")


def verdicts_of(findings: Iterable[Finding], api_blocked: bool) -> dict[str, str]:
    """Per signal: fail, unknown or pass, from an LLM API's findings (see signals.md)."""
    failing: set[str] = set()
    unsure: set[str] = set()
    for f in findings:
        if f.signal is None or accepted(f):
            continue
        if f.status == "fail" and severity_rank(f.severity) >= 2:
            failing.add(f.signal)
        elif f.status in ("skip", "error"):
            unsure.add(f.signal)
    return {
        signal: "fail"
        if signal in failing
        else "unknown"
        if api_blocked or signal in unsure
        else "pass"
        for signal in SIGNALS
    }


def _docs_of(service: Service, api: Api) -> list[PolicyDoc]:
    docs = [service.policy, api.policy, *(op.policy for op in api.operations)]
    docs += [service.products[p].policy for p in api.products if p in service.products]
    if api.workspace:
        docs.append(service.workspace_policies.get(api.workspace))
    return [d for d in docs if d is not None]


def run(
    estate: Estate,
    catalog: Catalog,
    suppress: Callable[[list[Finding]], list[Finding]] | None = None,
    *,
    workers: int = 1,
) -> Audit:
    """Evaluate every rule on every LLM API of the estate.

    ``suppress`` marks accepted findings (waivers, inline ignores, baseline) before the verdicts
    are taken, so accepted findings stop counting but stay in the report. ``workers`` > 1 spreads
    the APIs over forked processes (see :mod:`auditor.parallel`); the result is the same.
    """
    source_rule = source_rules(catalog)
    pairs = [(service, api) for service in estate.services for api in service.apis]
    accept = suppress or _as_is
    from auditor import parallel

    outer: dict[tuple[object, ...], Any] = {}
    outcomes = parallel.map_apis(
        lambda i: audit_api(estate, catalog, *pairs[i], source_rule, outer), len(pairs), workers
    )
    results: list[ApiResult] = []
    findings: list[Finding] = []
    reported_docs: set[int] = set()
    for (service, api), (scope, evidence, mine, blocked, reported) in zip(
        pairs, outcomes, strict=True
    ):
        # Suppressions are applied here, in one process, so their use is tracked in one place.
        mine = accept(mine)
        single = estate.source_kind in ("file", "files")
        results.append(
            judged(service.name, api, scope, evidence, mine, blocked, single_file=single)
        )
        findings.extend(mine)
        reported_docs |= reported
    for service in estate.services:
        findings.extend(accept(_orphans(service, reported_docs, source_rule)))
    findings.extend(accept(orphan_files(estate, results, source_rule)))
    return Audit(estate, catalog, results, ordered(findings))


def _as_is(findings: list[Finding]) -> list[Finding]:
    return findings


def judged(
    service: str,
    api: Api,
    scope: str,
    evidence: list[str],
    findings: list[Finding],
    blocked: bool,
    *,
    single_file: bool = False,
) -> ApiResult:
    """An API's result: for an LLM API, its verdicts from its (suppressed) findings; an
    undecided one's are all unknown."""
    verdicts = {}
    if scope == "llm":
        verdicts = verdicts_of(findings, blocked)
    elif scope == "undecided":
        verdicts = dict.fromkeys(SIGNALS, "unknown")
    return ApiResult(service, api, scope, evidence, verdicts, single_file=single_file)


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """The findings in report order, repeats (same key and severity) dropped."""
    unique = {(f.sort_key(), f.severity): f for f in findings}
    # Sorted on the sort key alone (stable), as the report order is defined.
    return [f for _, f in sorted(unique.items(), key=lambda item: item[0][0])]


#: What auditing one API yields: its scope (llm, undecided, other), evidence, findings, blocked
#: (an input could not be read), and the ids of the unreadable documents it reported.
ApiOutcome = tuple[str, list[str], list[Finding], bool, set[int]]


def audit_api(
    estate: Estate,
    catalog: Catalog,
    service: Service,
    api: Api,
    source_rule: dict[str, Rule],
    outer: dict[tuple[object, ...], Any] | None = None,
) -> ApiOutcome:
    """LLM scoping and every rule for one API, as plain (picklable) data.

    ``outer``: a cache shared by the APIs of one run (service-level policy resolutions).
    """
    found = scoping(api, service)
    scope, evidence = found.status, list(dict.fromkeys(found.reasons()))
    if estate.source_kind in ("file", "files"):
        scope, evidence = "llm", ["given as a single policy file", *found.evidence]
    decided = in_scope(api.name, catalog.include, catalog.exclude)
    if decided is not None:
        scope = "llm" if decided else "other"
        evidence.append(f"{'included' if decided else 'excluded'} by rules.yaml scope")
    if scope == "undecided":
        rule = source_rule.get(SCOPE_UNDECIDED)
        undecided = (
            []
            if rule is None
            else [
                _finding(
                    rule,
                    Outcome(
                        "skip",
                        f"{api.name}: whether it fronts an LLM cannot be decided: "
                        + "; ".join(found.unresolved[:3]),
                        api.location,
                    ),
                    api.name,
                    api.name,
                    service.name,
                )
            ]
        )
        return scope, evidence, undecided, False, set()
    if scope != "llm":
        return scope, evidence, [], False, set()
    ops = [op for op in api.operations if model_call(op)]
    if not api.operations or unknown_of(api, "spec") or api.spec_link:
        # NOTE: operations an unresolved or linked specification imports are unseen; they run
        # the API's policy, which is then judged as well as the operations the source declares.
        ops.append(Operation("*", None, None, None))
    elif not ops:
        ops = list(api.operations)  # every operation reads: judged all the same
    cache: dict[tuple[object, ...], Any] = {}
    op_ctxs = [
        OpContext(estate, service, api, op, routes_for(service, api, op, estate, cache, outer))
        for op in ops
    ]
    api_ctx = ApiContext(estate, service, api, op_ctxs)
    mine: list[Finding] = []
    reported: set[int] = set()

    def add(rule_id: str, outcome: Outcome, target: str) -> None:
        mine.append(_finding(source_rule[rule_id], outcome, target, api.name, service.name))

    for doc in _docs_of(service, api):
        if doc.ok or doc.unseen or UNREADABLE_POLICY not in source_rule:
            continue
        reported.add(id(doc))
        add(
            UNREADABLE_POLICY,
            Outcome("error", f"policy document cannot be read: {doc.error}", doc.location()),
            doc.path or api.name,
        )
    if BROKEN_POLICY_CHAIN in source_rule:
        for problem in _blocking_problems(op_ctxs):
            add(
                BROKEN_POLICY_CHAIN,
                Outcome("error", problem.message, problem.location),
                str(problem.location),
            )
    if UNREADABLE_FILE in source_rule:
        for err in estate.read_errors:
            if _belongs_to(err.location.path, api):
                add(
                    UNREADABLE_FILE,
                    Outcome("error", err.message, err.location),
                    err.location.path or "",
                )
    blocked = bool(mine)
    same = _same_routes(op_ctxs)
    conditional = [d for d in _docs_of(service, api) if d.condition]
    alt_ctx: ApiContext | None = None
    if conditional:
        # The verdicts with the conditional policies left out: where they differ, whether the
        # policy is deployed decides them, and the source cannot say.
        absent = frozenset(id(d) for d in conditional)
        alt_ops = [
            OpContext(
                estate, service, api, op, routes_for(service, api, op, estate, {}, None, absent)
            )
            for op in ops
        ]
        alt_ctx = ApiContext(estate, service, api, alt_ops)
    for rule in catalog.rules:
        if rule.signal is not None:
            for ctx in op_ctxs:
                ctx.params = rule.parameters
            api_ctx.params = rule.parameters
            outcome = _run_rule(rule, api_ctx, service, same)
            if alt_ctx is not None and "policies" in rule.requires:
                for ctx in alt_ctx.ops:
                    ctx.params = rule.parameters
                alt_ctx.params = rule.parameters
                other = _run_rule(rule, alt_ctx, service, _same_routes(alt_ctx.ops))
                outcome = _depends_on(outcome, other, conditional)
            mine.extend(outcome)
    # NOTE: each effective policy points back at this cache (Effective.shared): a cycle. Large
    # scans run with the cyclic collector off, so it is broken here or every API's policies
    # would stay in memory to the end.
    cache.clear()
    return scope, evidence, mine, blocked, reported


def _depends_on(
    found: list[Finding], other: list[Finding], conditional: list[PolicyDoc]
) -> list[Finding]:
    """``found`` as it is when the outcomes without the conditional policies are the same;
    otherwise unknown, quoting the condition."""
    if sorted((f.target, f.status) for f in found) == sorted((f.target, f.status) for f in other):
        return found
    doc = conditional[0]
    why = f"the {doc.scope} policy at {doc.location()} is only deployed {doc.condition}"
    return [
        replace(f, status="skip", message=f"{f.message} (unknown: {why})")
        if f.status in ("pass", "fail")
        else f
        for f in found
    ]


def _blocking_problems(ctxs: list[OpContext]) -> list[Problem]:
    """Problems that are defects of the estate itself, not limits of the source."""
    seen: dict[Problem, None] = {}
    for ctx in ctxs:
        for route in ctx.routes:
            for problem in route.eff.problems:
                if problem.blocking:
                    seen.setdefault(problem, None)
    return list(seen)


def _belongs_to(path: str | None, api: Api) -> bool:
    if not path:
        return False
    marker = f"apis/{api.name}/"
    return marker in f"/{path}" or path.startswith(marker)


def source_rules(catalog: Catalog) -> dict[str, Rule]:
    """The source-level rules (AUD*) of the catalog, by id."""
    return {r.id: r for r in catalog.rules if r.signal is None}


def _orphans(service: Service, reported: set[int], source_rule: dict[str, Rule]) -> list[Finding]:
    """Unreadable documents no LLM API depends on are still reported (the gate fails closed)."""
    return unreported(service.all_policy_docs(), reported, source_rule, service.name)


def unreported(
    docs: Iterable[PolicyDoc | None],
    reported: set[int],
    source_rule: dict[str, Rule],
    service: str,
) -> list[Finding]:
    """AUD001 errors for the unreadable documents not in ``reported`` (ids; updated)."""
    rule = source_rule.get(UNREADABLE_POLICY)
    if rule is None:
        return []
    out = []
    for doc in docs:
        if doc is None or doc.ok or doc.unseen or id(doc) in reported:
            continue
        reported.add(id(doc))
        out.append(
            _finding(
                rule,
                Outcome("error", f"policy document cannot be read: {doc.error}", doc.location()),
                doc.path or "",
                None,
                service,
            )
        )
    return out


def orphan_files(
    estate: Estate, results: list[ApiResult], source_rule: dict[str, Rule]
) -> list[Finding]:
    """AUD002 errors for the files no LLM API reported as its own."""
    rule = source_rule.get(UNREADABLE_FILE)
    if rule is None:
        return []
    out = []
    for err in estate.read_errors:
        if any(r.llm and _belongs_to(err.location.path, r.api) for r in results):
            continue
        out.append(
            _finding(
                rule,
                Outcome("error", err.message, err.location),
                err.location.path or "",
                None,
                None,
            )
        )
    return out

"""Auditing a large estate in forked workers that each load their own share of the APIs.

NOTE: reading and parsing the policies is a third of a large scan, and parsed lxml trees cannot be
sent between processes, so the split comes before the policies are parsed (see
:mod:`auditor.sources.parts`). Every worker loads the service level (global policy, products,
fragments, backends, diagnostics: few documents) and its share of the APIs, audits those APIs and
sends back plain data; this process does the first share itself meanwhile. Then it applies
suppressions and verdicts exactly as :func:`auditor.engine.run` does: the report is the same, byte
for byte (tests/test_partition.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from auditor import engine, parallel
from auditor.engine import ApiResult, Audit, Finding
from auditor.model import Api, Estate, ReadError, ordered_notes
from auditor.policy import PolicyDoc
from auditor.rules import Catalog
from auditor.sources.parts import Part, Splittable, WholeOnly
from auditor.suppress import InlineIgnore, ignores_in, inline_ignores

#: How processes name the service-level documents they share: scope, path and (for policies
#: embedded in one IaC file) the line the document starts on.
DocKey = tuple[str, str | None, int]


def _key(doc: PolicyDoc) -> DocKey:
    return (doc.scope, doc.path, doc.line_offset)


@dataclass(frozen=True)
class _Audited:
    """One API audited by a worker, as plain data."""

    api: Api
    """Without policy documents (they stay in the worker)."""
    scope: str
    evidence: list[str]
    findings: list[Finding]
    blocked: bool
    orphans: list[Finding]
    """AUD001 errors for the API's own unreadable documents that no rule reported."""
    ignores: list[InlineIgnore]
    reported: frozenset[DocKey]
    """Service-level documents the API reported as unreadable."""


@dataclass(frozen=True)
class _Part:
    services: list[list[_Audited]]
    """Per service (in estate order), the APIs this worker read."""
    read_errors: list[ReadError]
    notes: tuple[str, ...]


def wanted(source: Splittable, workers: int) -> bool:
    """A split pays off: enough APIs, several workers, and forking is safe."""
    return workers > 1 and parallel.can_fork() and source.api_count() >= parallel.MIN_PARALLEL


def run(
    source: Splittable,
    catalog: Catalog,
    suppressor: Callable[[list[InlineIgnore]], Callable[[list[Finding]], list[Finding]]],
    *,
    workers: int,
) -> Audit:
    """Load and audit ``source`` in ``workers`` processes.

    ``suppressor`` gets every inline ignore of the estate (known only once the workers are done)
    and returns the function that marks accepted findings.
    """

    def load(index: int) -> Estate:
        return source.estate(Part(index, workers))

    def here() -> tuple[Estate, _Part] | None:
        try:
            estate = load(0)
        except WholeOnly:
            return None
        part = _audit_part(estate, catalog)
        # NOTE: the merge needs the service level only: the APIs' documents (thousands of parsed
        # policies) are let go here, while the other processes may still be at work, not after
        # the merge, where freeing them took 35 ms of a 1,000-API scan.
        return _service_level(estate), part

    # This process takes the first share itself: one process less to start, one result less
    # to send.
    def there(index: int) -> _Part | None:
        try:
            estate = load(index + 1)
        except WholeOnly:
            return None
        # NOTE: kept referenced: a worker leaves with os._exit, so freeing its estate object by
        # object (tens of milliseconds) before sending its result would only delay the result.
        _KEEP.append(estate)
        return _audit_part(estate, catalog)

    try:
        parts, mine = parallel.fork_map(there, workers - 1, meanwhile=here)
    except parallel.WorkerError:
        parts, mine = [None], None  # a process died (killed, out of memory): as below
    done = [p for p in parts if p is not None]
    if mine is None or len(done) < len(parts):
        # A share could not be read as the whole source reads it: the scan is done again in
        # one process, which gives the serial report by definition.
        estate = source.estate()
        return engine.run(estate, catalog, suppressor(inline_ignores(estate)), workers=workers)
    return _merge(mine[0], [mine[1], *done], catalog, suppressor)


#: What a worker keeps until it exits (see ``there`` in :func:`run`).
_KEEP: list[Estate] = []


def _audit_part(estate: Estate, catalog: Catalog) -> _Part:
    source_rule = engine.source_rules(catalog)
    outer: dict[tuple[object, ...], object] = {}
    services = []
    for service in estate.services:
        done = []
        shared = service.policy_docs()
        for api in service.apis:
            scope, evidence, mine, blocked, reported = engine.audit_api(
                estate, catalog, service, api, source_rule, outer
            )
            own = api.policy_docs()
            orphans = engine.unreported(own, set(reported), source_rule, service.name)
            keys = frozenset(_key(d) for d in shared if id(d) in reported)
            done.append(
                _Audited(
                    _without_documents(api),
                    scope,
                    evidence,
                    mine,
                    blocked,
                    orphans,
                    ignores_in(own),
                    keys,
                )
            )
        services.append(done)
    return _Part(services, list(estate.read_errors), estate.notes)


def _service_level(estate: Estate) -> Estate:
    return replace(estate, services=tuple(replace(s, apis=()) for s in estate.services))


def _without_documents(api: Api) -> Api:
    return replace(
        api,
        policy=None,
        operations=tuple(replace(op, policy=None) for op in api.operations),
    )


def _merge(
    skeleton: Estate,
    parts: list[_Part],
    catalog: Catalog,
    suppressor: Callable[[list[InlineIgnore]], Callable[[list[Finding]], list[Finding]]],
) -> Audit:
    per_service: list[list[_Audited]] = []
    for index in range(len(skeleton.services)):
        audited = [a for part in parts for a in part.services[index]]
        # The order a serial load gives (see apiops._Reader.service).
        audited.sort(key=lambda a: (a.api.workspace or "", a.api.name))
        per_service.append(audited)
    ignores: list[InlineIgnore] = []
    for service, audited in zip(skeleton.services, per_service, strict=True):
        ignores += ignores_in(service.policy_docs())
        for a in audited:
            ignores += a.ignores
    suppress = suppressor(ignores)
    source_rule = engine.source_rules(catalog)
    results: list[ApiResult] = []
    findings: list[Finding] = []
    services = []
    for service, audited in zip(skeleton.services, per_service, strict=True):
        reported: set[DocKey] = set()
        for a in audited:
            mine = suppress(a.findings)
            results.append(engine.judged(service.name, a.api, a.scope, a.evidence, mine, a.blocked))
            findings.extend(mine)
            findings.extend(suppress(a.orphans))
            reported |= a.reported
        docs = service.policy_docs()
        ids = {id(d) for d in docs if _key(d) in reported}
        findings.extend(suppress(engine.unreported(docs, ids, source_rule, service.name)))
        services.append(replace(service, apis=tuple(a.api for a in audited)))
    errors = dict.fromkeys(skeleton.read_errors)
    for part in parts:
        errors.update(dict.fromkeys(part.read_errors))
    notes = skeleton.notes
    if any(part.notes != notes for part in parts):
        # NOTE: only ARM notes differ between parts (each is written by the process that
        # evaluated what it is about), and ARM orders them with ordered_notes: so does the union.
        notes = tuple(ordered_notes(n for part in parts for n in part.notes))
    estate = replace(skeleton, services=tuple(services), read_errors=tuple(errors), notes=notes)
    findings.extend(suppress(engine.orphan_files(estate, results, source_rule)))
    return Audit(estate, catalog, results, engine.ordered(findings))

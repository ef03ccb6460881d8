"""ARM-shaped resources <-> the estate model.

Every source that is not an APIOps tree (ARM templates, Bicep, Terraform, snapshots, the live
scan) produces a flat list of ARM-shaped resource dicts, and :func:`build` turns that list into an
:class:`~auditor.model.Estate`. :func:`to_resources` goes the other way, so any estate can be
stored as a snapshot and read back with the same findings.

A resource dict has ``type`` (ARM type, case-insensitive), ``name`` (the ARM nested name
``service/api/operation/policy``), ``properties``, and optional ``_origin`` (``{"path", "line"}``:
where the resource is declared, so findings point into the original file). Policy resources carry
``properties.value`` (the policy text) and ``properties.format``; their ``_origin.line`` is the line
of the first line of the policy text. A value that could not be resolved statically is given as
``properties.unresolved`` (a reason) instead of ``value``; verdicts that need it become unknown.

IaC readers add what they could not decide (see :mod:`auditor.sources.iac.lower`):
``_deployment``, ``_unknown``, ``_condition`` and ``_existing``. A service whose name is not a
literal (it reads ``${...}``) belongs to its deployment alone; others with the same literal name
are one service. Of two declarations of one resource (an ``if``/``else`` pair), the first is
kept, and the condition that chooses between them is kept with it.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml

from auditor.model import (
    AiAccount,
    Api,
    AppInsights,
    Backend,
    Diagnostic,
    DiagnosticSetting,
    Estate,
    Location,
    Logger,
    Operation,
    Product,
    ReadError,
    Service,
    Subscription,
    Unknowns,
)
from auditor.policy import PolicyDoc, read_policy_text
from auditor.sources.apiops import _bool, _str, diagnostic_from_properties, subscription_scope
from auditor.sources.parts import ApiKey, Part, WholeOnly, roster

APIM = "microsoft.apimanagement/service"
#: API resource types (lower-cased), a workspace's APIs too.
API_TYPES = (f"{APIM}/apis", f"{APIM}/workspaces/apis")
ACCOUNTS = "microsoft.cognitiveservices/accounts"
DIAG_SETTINGS = "microsoft.insights/diagnosticsettings"
COMPONENTS = "microsoft.insights/components"
_LINKED = ("xml-link", "rawxml-link")


def _origin(res: Mapping[str, Any]) -> Location:
    o = res.get("_origin") or {}
    line = o.get("line") if isinstance(o, dict) else None
    path = o.get("path") if isinstance(o, dict) else None
    return Location(
        path if isinstance(path, str) else None, line if isinstance(line, int) else None
    )


def _props(res: Mapping[str, Any]) -> dict[str, Any]:
    p = res.get("properties")
    return p if isinstance(p, dict) else {}


def _unknowns(res: Mapping[str, Any]) -> dict[str, str]:
    u = res.get("_unknown")
    return {str(k): str(v) for k, v in u.items()} if isinstance(u, dict) else {}


def _condition(res: Mapping[str, Any]) -> str | None:
    c = res.get("_condition")
    return c if isinstance(c, str) else None


def _why(res: Mapping[str, Any], **fields: str) -> Unknowns:
    """(model field, why) for the ARM properties (dotted paths) of ``fields`` that are unknown:
    a path is unknown when it or anything inside it is."""
    found = _unknowns(res)
    kept = res.get("_fields")  # a snapshot keeps them by model field
    if isinstance(kept, list):
        return tuple((str(k), str(w)) for k, w in kept if k in fields)
    out = []
    for name, path in fields.items():
        if path == "name":  # the object's own name, not its parent's
            own = _parts(res)[-1] if _parts(res) else ""
            if not _known(own):
                out.append((name, f"{own} is only known at deployment ({found.get('name', '')})"))
            continue
        why = next((w for k, w in found.items() if k == path or k.startswith(path + ".")), None)
        if why is not None:
            out.append((name, why))
    return tuple(out)


def _known(text: str | None) -> bool:
    """A name or id as text has no part that is unknown."""
    return text is not None and "${" not in text


def _policy(res: Mapping[str, Any], scope: str) -> PolicyDoc:
    doc = _policy_doc(res, scope)
    cond = _condition(res)
    missing = _unknowns(res).get("properties.value")
    if cond is not None or missing is not None:
        doc = replace(doc, condition=cond, unknown_parts=missing)
    return doc


def _policy_doc(res: Mapping[str, Any], scope: str) -> PolicyDoc:
    props = _props(res)
    where = _origin(res)
    fmt = str(props.get("format") or "xml").lower()
    if fmt in _LINKED:
        return PolicyDoc(
            scope,
            where.path,
            None,
            f"the policy is linked ({fmt}); its content is not in this source",
            where.line,
            unseen=True,
        )
    if isinstance(props.get("error"), str):
        line = props.get("errorLine")
        return PolicyDoc(
            scope, where.path, None, props["error"], line if isinstance(line, int) else None
        )
    if "unresolved" in props or not isinstance(props.get("value"), str):
        reason = str(props.get("unresolved") or "the policy content is not given")
        return PolicyDoc(scope, where.path, None, reason, where.line, unseen=True)
    offset = (where.line - 1) if where.line else 0
    doc = read_policy_text(props["value"], scope=scope, path=where.path, line_offset=offset)
    origin = res.get("_origin")
    if isinstance(origin, dict) and origin.get("pinned") is True:
        # The XML's own lines are not the file's: an error is on the line the string starts on.
        doc = replace(doc, pinned=True, error_line=1 if doc.error_line else None)
    return doc


_CAPABILITY_TYPES = {
    "products": ("products",),
    "subscriptions": ("subscriptions",),
    "diagnostics": ("diagnostics", "apis/diagnostics"),
    "loggers": ("loggers",),
    "backends": ("backends",),
    "fragments": ("policyfragments",),
}


def seen_capabilities(resources: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """What an IaC source can be trusted to show: the kinds it declares at least once.

    NOTE: a template with APIs but no diagnostics most likely leaves them to another repository;
    judging "missing" there would be a false failure, so those rules are unknown instead.
    Diagnostic settings count as shown wherever the AI account itself is declared.
    """
    found = list(resources)
    types = {str(r.get("type") or "").lower() for r in found if not r.get("_existing")}
    below = {
        t[len(APIM) + 1 :].removeprefix("workspaces/") for t in types if t.startswith(APIM + "/")
    }
    seen = {"policies"} if any(t.startswith(APIM) for t in types) else set()
    seen |= {cap for cap, kinds in _CAPABILITY_TYPES.items() if below & set(kinds)}
    if any(r.get("_deployment") and str(r.get("type") or "").lower() == APIM
           and not r.get("_existing") for r in found):  # fmt: skip
        # NOTE: an IaC deployment that declares its service shows all of it: what belongs to a
        # service declared elsewhere ('existing') is unseen per service (Service.elsewhere).
        seen |= set(_CAPABILITY_TYPES)
    if ACCOUNTS in types:
        seen |= {"ai_accounts", "diagnostic_settings"}
    if COMPONENTS in types:
        seen.add("app_insights")
    return frozenset(seen)


def api_of(rtype: str, name: str) -> tuple[str | None, str] | None:
    """The workspace and API a resource (lower-cased type, full name) belongs to, when it is one
    below an API (a policy, an operation, a diagnostic ...) as :func:`build` reads it."""
    if not rtype.startswith(APIM + "/"):
        return None
    kind, ws, names = _below_service(rtype, tuple(p for p in name.split("/") if p)[1:])
    return (ws, names[0]) if kind.startswith("apis/") and names else None


def _below_service(rtype: str, names: tuple[str, ...]) -> tuple[str, str | None, tuple[str, ...]]:
    """Kind below ``service/``, workspace and name segments of an APIM child resource (the
    workspace lifted out of both)."""
    kind, ws = rtype[len(APIM) + 1 :], None
    if kind.startswith("workspaces/") and names:
        kind, ws, names = kind[len("workspaces/") :], names[0], names[1:]
    return kind, ws, names


def _parts(res: Mapping[str, Any]) -> list[str]:
    return [p for p in str(res.get("name") or "").split("/") if p]


def build(
    resources: Iterable[Mapping[str, Any]],
    *,
    kind: str,
    location: str,
    provides: frozenset[str],
    errors: Iterable[ReadError] = (),
    notes: Iterable[str] = (),
    part: Part | None = None,
    partial: Mapping[str, list[str]] | None = None,
) -> Estate:
    """Turn ARM-shaped resources into an estate (services sorted by name); a ``part`` keeps
    the service level and its share of the APIs. ``partial``: per deployment, what of it was
    not read (its services may have more than the source shows)."""
    by_type: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for res in resources:
        by_type[str(res.get("type") or "").lower()].append(res)
    apis = (r for t in API_TYPES for r in by_type.get(t, ()))
    if part is not None and part.roster is not None and part.roster != api_roster(apis):
        # NOTE: the source left other parts' resources unevaluated by this roster: a
        # different one here would keep some of them as this part's (never seen so far).
        raise WholeOnly("the APIs evaluated first are not the APIs the source declares")
    kids = _children(by_type, part)
    built = [_service(key, kids[key], partial or {}) for key in sorted(kids, key=_key_order)]
    accounts = tuple(_account(r) for r in _declared(by_type.get(ACCOUNTS, [])))
    settings = tuple(s for r in _declared(by_type.get(DIAG_SETTINGS, [])) if (s := _setting(r)))
    components = tuple(_component(r) for r in _declared(by_type.get(COMPONENTS, [])))
    return Estate(
        kind,
        location,
        tuple(built),
        provides,
        tuple(errors),
        accounts,
        settings,
        components,
        tuple(notes),
    )


@dataclass
class Loaded:
    """Resources read from an IaC source or a snapshot, to be built into an estate, whole or
    in parts (see :mod:`auditor.sources.parts`)."""

    found: list[dict[str, Any]]
    kind: str
    location: str
    errors: Iterable[ReadError] = ()
    notes: Iterable[str] = ()
    provides: frozenset[str] | None = None
    """None: what the resources show (:func:`seen_capabilities`)."""
    partial: Mapping[str, list[str]] | None = None
    """Per deployment, what of it was not read (see :func:`build`)."""

    def api_count(self) -> int:
        return sum(1 for r in self.found if str(r.get("type") or "").lower() in API_TYPES)

    def estate(self, part: Part | None = None) -> Estate:
        """The estate, or a ``part`` of it; a part without a roster gets the roster of these
        resources (a source that left other parts' resources unevaluated must give its own)."""
        provides = self.provides
        if part is not None and part.roster is None:
            part = replace(part, roster=api_roster(self.found))
        return build(
            self.found,
            kind=self.kind,
            location=self.location,
            provides=seen_capabilities(self.found) if provides is None else provides,
            errors=self.errors,
            notes=self.notes,
            part=part,
            partial=self.partial,
        )


def api_roster(resources: Iterable[Mapping[str, Any]]) -> dict[ApiKey, int]:
    """The roster (see :class:`Part`) of the API resources among ``resources``."""
    keys = []
    for res in resources:
        rtype = str(res.get("type") or "").lower()
        if rtype in API_TYPES:
            _, ws, names = _below_service(rtype, tuple(_parts(res)[1:]))
            if names:
                keys.append((ws, names[0]))
    return roster(keys)


def _component(res: Mapping[str, Any]) -> AppInsights:
    props = _props(res)
    name = _parts(res)[-1] if _parts(res) else ""
    rid = str(res.get("id") or f"/providers/microsoft.insights/components/{name}")
    opted = props.get("CustomMetricsOptedInType") or props.get("customMetricsOptedInType")
    return AppInsights(
        name,
        rid,
        opted if isinstance(opted, str) else None,
        _origin(res),
        _why(res, custom_metrics="properties.CustomMetricsOptedInType", name="name"),
        _condition(res),
        _deployment_of(res) or None,
    )


def _declared(found: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Resources declared here, not ``existing`` ones (deployed elsewhere), first of each
    name kept (an ``if``/``else`` pair declares one resource twice)."""
    out: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for res in found:
        if not res.get("_existing"):
            key = (str(res.get("name") or ""), str(res.get("scope") or ""), _deployment_of(res))
            out.setdefault(key, res)
    return list(out.values())


def _deployment_of(res: Mapping[str, Any]) -> str:
    """The deployment a resource is local to: only when its name is not a literal."""
    name = str(res.get("name") or "")
    dep = res.get("_deployment")
    return str(dep) if dep and not _known(name) else ""


@dataclass(frozen=True, slots=True)
class _Res:
    """An APIM child resource, with its workspace lifted out of the name."""

    kind: str
    """Type below ``service/`` with any ``workspaces/`` prefix removed (``apis/policies``)."""
    workspace: str | None
    names: tuple[str, ...]
    """Name segments below the service (and workspace): ``(api, "policy")``."""
    raw: Mapping[str, Any]


#: A service as :func:`build` groups its resources: the deployment it is local to (when its
#: name is not a literal, else None) and its name as written.
ServiceKey = tuple[str | None, str]


@dataclass
class _Kids:
    """Everything declared for one service."""

    kinds: dict[str, list[_Res]]
    declared: list[Mapping[str, Any]]
    """The service's own declarations (not ``existing``)."""
    existing: list[Mapping[str, Any]]
    deployments: set[str]


def _key_order(key: ServiceKey) -> tuple[str, str]:
    return (_display(key), key[0] or "")


def _display(key: ServiceKey) -> str:
    """A service's name in reports: a name that is not a literal says its deployment."""
    return key[1] if key[0] is None else f"{key[1]} ({key[0]})"


def _children(
    by_type: Mapping[str, list[Mapping[str, Any]]], part: Part | None
) -> dict[ServiceKey, _Kids]:
    """Per APIM service (every service named by a resource), its child resources by kind."""
    out: dict[ServiceKey, _Kids] = {}
    for rtype, found in by_type.items():
        if not rtype.startswith(APIM):
            continue
        child = rtype.startswith(APIM + "/")
        for res in found:
            parts = _parts(res)
            if not parts:
                continue
            dep = res.get("_deployment")
            key = (str(dep) if dep and not _known(parts[0]) else None, parts[0])
            kids = out.setdefault(key, _Kids(defaultdict(list), [], [], set()))
            if dep:
                kids.deployments.add(str(dep))
            kids.deployments.update(str(d) for d in res.get("_deployments") or ())
            if not child:
                (kids.existing if res.get("_existing") else kids.declared).append(res)
                continue
            kind, ws, names = _below_service(rtype, tuple(parts[1:]))
            if part and kind.startswith("apis") and names and not part.has_api(ws, names[0]):
                continue  # another process's API (and its policies: never parsed here)
            kids.kinds[kind].append(_Res(kind, ws, names, res))
    for kids in out.values():
        for kind, items in kids.kinds.items():
            kids.kinds[kind] = _first_of_each(items)
    return out


def _first_of_each(items: list[_Res]) -> list[_Res]:
    """One resource per name, sorted; of two declarations of one resource the first is kept
    with the condition that chooses between them (an ``if``/``else`` pair)."""
    kept: dict[tuple[str, tuple[str, ...]], _Res] = {}
    for r in items:
        key = (r.workspace or "", r.names)
        first = kept.get(key)
        if first is None:
            kept[key] = r
            continue
        choice = _choice(first.raw, r.raw)
        if choice is not None:
            kept[key] = _Res(
                first.kind, first.workspace, first.names, {**first.raw, "_condition": choice}
            )
    return [kept[k] for k in sorted(kept, key=lambda k: (k[0], k[1]))]


def _choice(first: Mapping[str, Any], other: Mapping[str, Any]) -> str | None:
    """How two declarations of one resource are told apart, when a condition does it."""
    c1, c2 = _condition(first), _condition(other)
    if c1 is None and c2 is None:
        return None
    if c1 is not None and c1.startswith("one of "):
        return f"{c1}; or as at {_origin(other)} {c2 or '(always)'}"
    return (
        f"one of two declarations, chosen at deployment: as at {_origin(first)} "
        f"{c1 or '(always)'}; or as at {_origin(other)} {c2 or '(always)'}"
    )


#: How a service's ``elsewhere`` begins when the service itself is not declared in the source:
#: then even its global policy is unseen (a deployment read in part still declares it).
DECLARED_EXISTING = "the service is declared 'existing'"
NOT_DECLARED = "the service itself is not declared in this source"


def _elsewhere(key: ServiceKey, kids: _Kids, partial: Mapping[str, list[str]]) -> list[str]:
    """Why what belongs to a service may be declared outside this source."""
    kept = [str(r) for res in kids.declared for r in res.get("_elsewhere") or ()]
    if kept:  # a snapshot keeps them
        return kept
    reasons = []
    if not kids.declared:
        if kids.existing:
            where = _origin(kids.existing[0])
            reasons.append(
                f"{DECLARED_EXISTING} at {where}: it is deployed, and may be configured, elsewhere"
            )
        else:
            reasons.append(NOT_DECLARED)
    for dep in sorted(kids.deployments):
        for why in partial.get(dep, ())[:3]:
            reasons.append(f"not read in its deployment: {why}")
        if len(partial.get(dep, ())) > 3:
            reasons.append(f"... and {len(partial[dep]) - 3} more parts of {dep} not read")
    return reasons


def _service(key: ServiceKey, kids: _Kids, partial: Mapping[str, list[str]]) -> Service:
    def of(kind: str, depth: int) -> list[_Res]:
        return [r for r in kids.kinds.get(kind, []) if len(r.names) == depth]

    def key_of(r: _Res, n: int) -> tuple[str | None, tuple[str, ...]]:
        return r.workspace, r.names[:n]

    def product_name(r: _Res) -> str:
        return f"{r.workspace}/{r.names[0]}" if r.workspace else r.names[0]

    global_policy = next(
        (_policy(r.raw, "global") for r in of("policies", 1) if r.workspace is None), None
    )
    ws_policies = {
        r.workspace: _policy(r.raw, "workspace") for r in of("policies", 1) if r.workspace
    }
    api_policies = {key_of(r, 1): _policy(r.raw, "api") for r in of("apis/policies", 2)}
    op_policies = {
        key_of(r, 2): _policy(r.raw, "operation") for r in of("apis/operations/policies", 3)
    }
    product_policies = {
        product_name(r): _policy(r.raw, "product") for r in of("products/policies", 2)
    }
    links: dict[tuple[str | None, str], set[str]] = defaultdict(set)
    for r in of("products/apis", 2):
        links[(r.workspace, r.names[1])].add(product_name(r))
    for r in of("products/apilinks", 2):
        api_id = str(_props(r.raw).get("apiId") or "")
        if api_id:
            links[(r.workspace, api_id.rstrip("/").rsplit("/", 1)[-1])].add(product_name(r))
    products = {
        product_name(r): Product(
            product_name(r),
            str(_props(r.raw).get("displayName") or r.names[0]),
            _bool(_props(r.raw).get("subscriptionRequired"), default=True),
            product_policies.get(product_name(r)),
            _origin(r.raw),
            _why(r.raw, subscription_required="properties.subscriptionRequired"),
            _condition(r.raw),
        )
        for r in of("products", 1)
    }
    ops: dict[tuple[str | None, str], dict[str, Operation]] = defaultdict(dict)
    for r in of("apis/operations", 2):
        props = _props(r.raw)
        ops[(r.workspace, r.names[0])][r.names[1]] = Operation(
            r.names[1],
            _str(props.get("method")),
            _str(props.get("urlTemplate")),
            op_policies.get(key_of(r, 2)),
        )
    for (ws, names), doc in op_policies.items():
        ops[(ws, names[0])].setdefault(names[1], Operation(names[1], None, None, doc))
    api_diags: dict[tuple[str | None, str], list[Diagnostic]] = defaultdict(list)
    for r in of("apis/diagnostics", 2):
        api_diags[(r.workspace, r.names[0])].append(_diagnostic(r.names[1], r.raw))
    apis = []
    for r in of("apis", 1):
        props = _props(r.raw)
        api = r.names[0]
        if props.get("isCurrent") is False or ";rev=" in api:
            continue
        declared_ops = ops.get((r.workspace, api), {})
        spec_ops = {} if declared_ops else _spec_operations(props)
        apis.append(
            Api(
                name=api,
                display_name=str(props.get("displayName") or api),
                path=_str(props.get("path")),
                service_url=_str(props.get("serviceUrl")),
                # NOTE: ARM defaults subscriptionRequired to true; an explicit null means unknown.
                subscription_required=_bool(
                    props.get("subscriptionRequired"),
                    default=None if "subscriptionRequired" in props else True,
                ),
                products=tuple(sorted(links.get((r.workspace, api), ()))),
                operations=tuple(sorted((declared_ops or spec_ops).values(), key=lambda o: o.name)),
                policy=api_policies.get(key_of(r, 1)),
                diagnostics=tuple(api_diags.get((r.workspace, api), [])),
                location=_origin(r.raw),
                workspace=r.workspace,
                api_type=_str(props.get("type")),
                unknown=_why(
                    r.raw,
                    name="name",
                    service_url="properties.serviceUrl",
                    path="properties.path",
                    display_name="properties.displayName",
                    subscription_required="properties.subscriptionRequired",
                    spec="properties.value",
                ),
                condition=_condition(r.raw),
                spec_link=_spec_link(props),
            )
        )
    fragments: dict[str, PolicyDoc] = {}
    for r in of("policyfragments", 1):
        fragments.setdefault(r.names[0], _policy(r.raw, "fragment"))
    backends = {}
    for r in of("backends", 1):
        props = _props(r.raw)
        pool = props.get("pool")
        services = pool.get("services") if isinstance(pool, dict) else None
        members = tuple(
            str(m.get("id", "")).rstrip("/").rsplit("/", 1)[-1]
            for m in (services if isinstance(services, list) else [])
            if isinstance(m, dict)
        )
        backends[r.names[0]] = Backend(
            r.names[0],
            _str(props.get("url")),
            members,
            _origin(r.raw),
            _why(r.raw, url="properties.url", pool="properties.pool", name="name"),
            _condition(r.raw),
            _audience(props),
        )
    loggers = {
        r.names[0]: Logger(
            r.names[0],
            _str(_props(r.raw).get("loggerType")),
            _str(_props(r.raw).get("resourceId")),
            _origin(r.raw),
            _why(
                r.raw,
                logger_type="properties.loggerType",
                resource_id="properties.resourceId",
                name="name",
            ),
            _condition(r.raw),
        )
        for r in of("loggers", 1)
    }
    diags = tuple(
        _diagnostic(r.names[0], r.raw) for r in of("diagnostics", 1) if r.workspace is None
    )
    subs = []
    for r in of("subscriptions", 1):
        props = _props(r.raw)
        kind, target = subscription_scope(str(props.get("scope") or ""))
        state = str(props.get("state") or "active").lower()
        subs.append(
            Subscription(
                r.names[0],
                kind,
                target,
                state not in ("cancelled", "expired", "rejected", "suspended"),
                _origin(r.raw),
                _why(r.raw, scope="properties.scope", active="properties.state"),
                _condition(r.raw),
            )
        )
    named = tuple(sorted({r.names[0] for r in of("namedvalues", 1)}))
    return Service(
        _display(key),
        global_policy,
        tuple(sorted(apis, key=lambda a: (a.workspace or "", a.name))),
        products,
        fragments,
        backends,
        loggers,
        diags,
        tuple(subs),
        named,
        ws_policies,
        tuple(_elsewhere(key, kids, partial)),
        key[0],
        tuple(sorted(kids.deployments)),
    )


_SPEC_FORMATS = ("openapi", "openapi+json", "swagger-json", "openapi+yaml")
_LINK_FORMATS = ("openapi-link", "openapi+json-link", "swagger-link-json", "wsdl-link")


def _spec_operations(props: Mapping[str, Any]) -> dict[str, Operation]:
    """Operations of an OpenAPI spec given inline (``format``/``value``) in an IaC API."""
    fmt = str(props.get("format") or "").lower()
    value = props.get("value")
    if fmt not in _SPEC_FORMATS or value is None:
        return {}
    from auditor.sources import openapi

    try:
        text = value if isinstance(value, str) else json.dumps(value)
        found = openapi._operations(text, ".json" if text.lstrip().startswith("{") else ".yaml")
    except (ValueError, TypeError, RecursionError, yaml.YAMLError):
        return {}
    return {op_id: Operation(op_id, method, path, None) for op_id, method, path in found}


def _spec_link(props: Mapping[str, Any]) -> str | None:
    fmt = str(props.get("format") or "").lower()
    value = props.get("value")
    return value if fmt in _LINK_FORMATS and isinstance(value, str) else None


def _audience(props: Mapping[str, Any]) -> str | None:
    """The resource a backend's managed identity asks a token for."""
    creds = props.get("credentials")
    mi = creds.get("managedIdentity") if isinstance(creds, dict) else None
    resource = mi.get("resource") if isinstance(mi, dict) else None
    return resource if isinstance(resource, str) else None


def _diagnostic(name: str, res: Mapping[str, Any]) -> Diagnostic:
    diag = diagnostic_from_properties(name, _props(res), _origin(res))
    lines = res.get("_lines") if isinstance(res.get("_lines"), dict) else {}
    path = diag.location.path

    def at(key: str) -> Location | None:
        # A line of the resource's own file, or {"path", "line"} (set by a patch elsewhere).
        line = lines.get(key) if isinstance(lines, dict) else None
        if isinstance(line, dict) and isinstance(line.get("line"), int):
            return Location(str(line.get("path") or path), line["line"])
        return Location(path, line) if isinstance(line, int) else None

    unknown = _why(res, logger="properties.loggerId", metrics="properties.metrics", name="name")
    if _known(diag.logger):  # an id with an unknown service or group, but a known logger name
        unknown = tuple((k, w) for k, w in unknown if k != "logger")
    return replace(
        diag,
        metrics_location=at("metrics") or diag.location,
        body_location=at("body"),
        unknown=unknown,
        condition=_condition(res),
    )


def _hosts(props: Mapping[str, Any], name: str) -> tuple[str, ...]:
    hosts = set()
    endpoints = props.get("endpoints")
    for value in [
        props.get("endpoint"),
        *(endpoints.values() if isinstance(endpoints, dict) else []),
    ]:
        if isinstance(value, str) and (m := re.match(r"https?://([^/:]+)", value)):
            hosts.add(m.group(1).lower())
    sub = props.get("customSubDomainName")
    if isinstance(sub, str) and sub and _known(sub):
        hosts |= {
            f"{sub.lower()}.openai.azure.com",
            f"{sub.lower()}.cognitiveservices.azure.com",
            f"{sub.lower()}.services.ai.azure.com",
        }
    return tuple(sorted(hosts))


def _account(res: Mapping[str, Any]) -> AiAccount:
    props = _props(res)
    name = _parts(res)[-1] if _parts(res) else ""
    acls = props.get("networkAcls")
    default = acls.get("defaultAction") if isinstance(acls, dict) else None
    return AiAccount(
        name,
        _hosts(props, name),
        _bool(props.get("disableLocalAuth")),
        _str(props.get("publicNetworkAccess")),
        default if isinstance(default, str) else None,
        _origin(res),
        _why(
            res,
            disable_local_auth="properties.disableLocalAuth",
            public_network_access="properties.publicNetworkAccess",
            network_default_action="properties.networkAcls",
            hosts="properties.customSubDomainName",
            name="name",
        ),
        _condition(res),
        _deployment_of(res) or None,
    )


def _setting(res: Mapping[str, Any]) -> DiagnosticSetting | None:
    props = _props(res)
    scope = str(res.get("scope") or props.get("_scope") or "")
    if "/accounts/" not in scope.lower():
        return None
    account = scope.rstrip("/").rsplit("/", 1)[-1]
    cats, groups = [], []
    for log in props.get("logs") or []:
        if not isinstance(log, dict) or log.get("enabled") is False:
            continue
        if log.get("category"):
            cats.append(str(log["category"]))
        if log.get("categoryGroup"):
            groups.append(str(log["categoryGroup"]))
    name = _parts(res)[-1] if _parts(res) else ""
    return DiagnosticSetting(
        name,
        account,
        _str(props.get("workspaceId")),
        tuple(cats),
        tuple(groups),
        _origin(res),
        _why(
            res,
            workspace_id="properties.workspaceId",
            categories="properties.logs",
            account="scope",
        ),
        _condition(res),
        _deployment_of(res) or (str(res.get("_deployment")) if "${" in account else None),
    )

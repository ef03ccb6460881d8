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
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

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


def _policy(res: Mapping[str, Any], scope: str) -> PolicyDoc:
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
    types = {str(r.get("type") or "").lower() for r in resources}
    below = {
        t[len(APIM) + 1 :].removeprefix("workspaces/") for t in types if t.startswith(APIM + "/")
    }
    seen = {"policies"} if any(t.startswith(APIM) for t in types) else set()
    seen |= {cap for cap, kinds in _CAPABILITY_TYPES.items() if below & set(kinds)}
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
) -> Estate:
    """Turn ARM-shaped resources into an estate (services sorted by name); a ``part`` keeps
    the service level and its share of the APIs."""
    by_type: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for res in resources:
        by_type[str(res.get("type") or "").lower()].append(res)
    apis = (r for t in API_TYPES for r in by_type.get(t, ()))
    if part is not None and part.roster is not None and part.roster != api_roster(apis):
        # NOTE: the source left other parts' resources unevaluated by this roster: a
        # different one here would keep some of them as this part's (never seen so far).
        raise WholeOnly("the APIs evaluated first are not the APIs the source declares")
    kids = _children(by_type, part)
    built = [_service(name, kids[name]) for name in sorted(kids)]
    accounts = tuple(_account(r) for r in by_type.get(ACCOUNTS, []))
    settings = tuple(s for r in by_type.get(DIAG_SETTINGS, []) if (s := _setting(r)))
    components = tuple(_component(r) for r in by_type.get(COMPONENTS, []))
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
    return AppInsights(name, rid, opted if isinstance(opted, str) else None, _origin(res))


@dataclass(frozen=True, slots=True)
class _Res:
    """An APIM child resource, with its workspace lifted out of the name."""

    kind: str
    """Type below ``service/`` with any ``workspaces/`` prefix removed (``apis/policies``)."""
    workspace: str | None
    names: tuple[str, ...]
    """Name segments below the service (and workspace): ``(api, "policy")``."""
    raw: Mapping[str, Any]


def _children(
    by_type: Mapping[str, list[Mapping[str, Any]]], part: Part | None
) -> dict[str, dict[str, list[_Res]]]:
    """Per APIM service (every service named by a resource), its child resources by kind."""
    out: dict[str, dict[str, list[_Res]]] = {}
    for rtype, found in by_type.items():
        if not rtype.startswith(APIM):
            continue
        child = rtype.startswith(APIM + "/")
        for res in found:
            parts = _parts(res)
            if not parts:
                continue
            kids = out.setdefault(parts[0], defaultdict(list))
            if not child:
                continue
            kind, ws, names = _below_service(rtype, tuple(parts[1:]))
            if part and kind.startswith("apis") and names and not part.has_api(ws, names[0]):
                continue  # another process's API (and its policies: never parsed here)
            kids[kind].append(_Res(kind, ws, names, res))
    for kids in out.values():
        for items in kids.values():
            items.sort(key=lambda r: (r.workspace or "", r.names))
    return out


def _service(name: str, kids: Mapping[str, list[_Res]]) -> Service:
    def of(kind: str, depth: int) -> list[_Res]:
        return [r for r in kids.get(kind, []) if len(r.names) == depth]

    def key(r: _Res, n: int) -> tuple[str | None, tuple[str, ...]]:
        return r.workspace, r.names[:n]

    def product_name(r: _Res) -> str:
        return f"{r.workspace}/{r.names[0]}" if r.workspace else r.names[0]

    global_policy = next(
        (_policy(r.raw, "global") for r in of("policies", 1) if r.workspace is None), None
    )
    ws_policies = {
        r.workspace: _policy(r.raw, "workspace") for r in of("policies", 1) if r.workspace
    }
    api_policies = {key(r, 1): _policy(r.raw, "api") for r in of("apis/policies", 2)}
    op_policies = {
        key(r, 2): _policy(r.raw, "operation") for r in of("apis/operations/policies", 3)
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
            op_policies.get(key(r, 2)),
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
                operations=tuple(
                    sorted(ops.get((r.workspace, api), {}).values(), key=lambda o: o.name)
                ),
                policy=api_policies.get(key(r, 1)),
                diagnostics=tuple(api_diags.get((r.workspace, api), [])),
                location=_origin(r.raw),
                workspace=r.workspace,
                api_type=_str(props.get("type")),
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
        backends[r.names[0]] = Backend(r.names[0], _str(props.get("url")), members, _origin(r.raw))
    loggers = {
        r.names[0]: Logger(
            r.names[0],
            _str(_props(r.raw).get("loggerType")),
            _str(_props(r.raw).get("resourceId")),
            _origin(r.raw),
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
            )
        )
    named = tuple(sorted({r.names[0] for r in of("namedvalues", 1)}))
    return Service(
        name,
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
    )


def _diagnostic(name: str, res: Mapping[str, Any]) -> Diagnostic:
    diag = diagnostic_from_properties(name, _props(res), _origin(res))
    lines = res.get("_lines") if isinstance(res.get("_lines"), dict) else {}
    path = diag.location.path

    def at(key: str) -> Location | None:
        line = lines.get(key) if isinstance(lines, dict) else None
        return Location(path, line) if isinstance(line, int) else None

    return replace(diag, metrics_location=at("metrics") or diag.location, body_location=at("body"))


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
    if isinstance(sub, str) and sub:
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
        name, account, _str(props.get("workspaceId")), tuple(cats), tuple(groups), _origin(res)
    )

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
from typing import Any

from auditor.model import (
    AiAccount,
    Api,
    AppInsights,
    Backend,
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

APIM = "microsoft.apimanagement/service"
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
    if "unresolved" in props or not isinstance(props.get("value"), str):
        reason = str(props.get("unresolved") or "the policy content is not given")
        return PolicyDoc(scope, where.path, None, reason, where.line, unseen=True)
    offset = (where.line - 1) if where.line else 0
    doc = read_policy_text(props["value"], scope=scope, path=where.path, line_offset=offset)
    return doc


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
) -> Estate:
    """Turn ARM-shaped resources into an estate (services sorted by name)."""
    by_type: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for res in resources:
        by_type[str(res.get("type") or "").lower()].append(res)
    services = sorted(
        {_parts(r)[0] for t, rs in by_type.items() if t.startswith(APIM) for r in rs if _parts(r)}
    )
    built = [_service(name, by_type) for name in services]
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


def _component(res: Mapping[str, Any]) -> AppInsights:
    props = _props(res)
    name = _parts(res)[-1] if _parts(res) else ""
    rid = str(res.get("id") or f"/providers/microsoft.insights/components/{name}")
    opted = props.get("CustomMetricsOptedInType") or props.get("customMetricsOptedInType")
    return AppInsights(name, rid, opted if isinstance(opted, str) else None, _origin(res))


def _mine(
    by_type: dict[str, list[Mapping[str, Any]]], suffix: str, service: str, depth: int
) -> list[tuple[list[str], Mapping[str, Any]]]:
    """Resources of ``service/<suffix>`` whose name has ``depth`` parts, with their parts."""
    out = []
    for res in by_type.get(f"{APIM}/{suffix}" if suffix else APIM, []):
        parts = _parts(res)
        if len(parts) == depth and parts[0] == service:
            out.append((parts, res))
    return sorted(out, key=lambda x: x[0])


def _service(name: str, by_type: dict[str, list[Mapping[str, Any]]]) -> Service:
    def policies(suffix: str, depth: int, scope: str) -> dict[tuple[str, ...], PolicyDoc]:
        return {tuple(p[1:-1]): _policy(r, scope) for p, r in _mine(by_type, suffix, name, depth)}

    global_policy = policies("policies", 2, "global").get(())
    api_policies = policies("apis/policies", 3, "api")
    op_policies = policies("apis/operations/policies", 4, "operation")
    product_policies = policies("products/policies", 3, "product")
    ws_policies = {k[0]: v for k, v in policies("workspaces/policies", 3, "workspace").items()}
    links: dict[str, set[str]] = defaultdict(set)
    for p, _r in _mine(by_type, "products/apis", name, 3):
        links[p[2]].add(p[1])
    for _p, r in _mine(by_type, "products/apilinks", name, 3):
        api_id = str(_props(r).get("apiId") or "")
        if api_id:
            links[api_id.rstrip("/").rsplit("/", 1)[-1]].add(_p[1])
    products = {
        p[1]: Product(
            p[1],
            str(_props(r).get("displayName") or p[1]),
            _bool(_props(r).get("subscriptionRequired"), default=True),
            product_policies.get((p[1],)),
            _origin(r),
        )
        for p, r in _mine(by_type, "products", name, 2)
    }
    ops: dict[str, list[Operation]] = defaultdict(list)
    for p, r in _mine(by_type, "apis/operations", name, 3):
        props = _props(r)
        ops[p[1]].append(
            Operation(
                p[2],
                _str(props.get("method")),
                _str(props.get("urlTemplate")),
                op_policies.get((p[1], p[2])),
            )
        )
    for (api, op), doc in op_policies.items():
        if not any(o.name == op for o in ops[api]):
            ops[api].append(Operation(op, None, None, doc))
    api_diags: dict[str, list[Any]] = defaultdict(list)
    for p, r in _mine(by_type, "apis/diagnostics", name, 3):
        api_diags[p[1]].append(diagnostic_from_properties(p[2], _props(r), _origin(r)))
    apis = []
    for p, r in _mine(by_type, "apis", name, 2):
        props = _props(r)
        if props.get("isCurrent") is False or ";rev=" in p[1]:
            continue
        apis.append(
            Api(
                name=p[1],
                display_name=str(props.get("displayName") or p[1]),
                path=_str(props.get("path")),
                service_url=_str(props.get("serviceUrl")),
                subscription_required=_bool(props.get("subscriptionRequired"), default=True),
                products=tuple(sorted(links.get(p[1], ()))),
                operations=tuple(sorted(ops.get(p[1], []), key=lambda o: o.name)),
                policy=api_policies.get((p[1],)),
                diagnostics=tuple(api_diags.get(p[1], [])),
                location=_origin(r),
                api_type=_str(props.get("type")),
            )
        )
    fragments = {
        p[1]: _policy(r, "fragment") for p, r in _mine(by_type, "policyfragments", name, 2)
    }
    backends = {}
    for p, r in _mine(by_type, "backends", name, 2):
        props = _props(r)
        pool = props.get("pool")
        services = pool.get("services") if isinstance(pool, dict) else None
        members = tuple(
            str(m.get("id", "")).rstrip("/").rsplit("/", 1)[-1]
            for m in (services if isinstance(services, list) else [])
            if isinstance(m, dict)
        )
        backends[p[1]] = Backend(p[1], _str(props.get("url")), members, _origin(r))
    loggers = {
        p[1]: Logger(
            p[1], _str(_props(r).get("loggerType")), _str(_props(r).get("resourceId")), _origin(r)
        )
        for p, r in _mine(by_type, "loggers", name, 2)
    }
    diags = tuple(
        diagnostic_from_properties(p[1], _props(r), _origin(r))
        for p, r in _mine(by_type, "diagnostics", name, 2)
    )
    subs = []
    for p, r in _mine(by_type, "subscriptions", name, 2):
        props = _props(r)
        kind, target = subscription_scope(str(props.get("scope") or ""))
        state = str(props.get("state") or "active").lower()
        subs.append(
            Subscription(
                p[1],
                kind,
                target,
                state not in ("cancelled", "expired", "rejected", "suspended"),
                _origin(r),
            )
        )
    named = tuple(p[1] for p, _ in _mine(by_type, "namedvalues", name, 2))
    return Service(
        name,
        global_policy,
        tuple(apis),
        products,
        fragments,
        backends,
        loggers,
        diags,
        tuple(subs),
        named,
        ws_policies,
    )


def _hosts(props: Mapping[str, Any], name: str) -> tuple[str, ...]:
    hosts = set()
    for value in [props.get("endpoint"), *(props.get("endpoints") or {}).values()]:
        if isinstance(value, str) and (m := re.match(r"https?://([^/:]+)", value)):
            hosts.add(m.group(1).lower())
    sub = props.get("customSubDomainName") or name
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

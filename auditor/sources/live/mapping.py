"""ARM replies -> the ARM-shaped resources of :mod:`auditor.sources.resources`.

Every mapper copies an explicit allow-list of properties, so nothing secret can reach the estate
(or a snapshot of it) even when Resource Manager returns it: subscription keys, logger
credentials (instrumentation keys), backend credentials and proxy passwords, Application Insights
instrumentation keys and connection strings are never copied. Named values are not read at all.

:class:`ServiceParts` collects one APIM service and applies what could not be read: a policy
scope that failed becomes ``properties.unresolved`` (its verdicts are unknown, never guessed), a
failed list that decides which policies apply makes the service's whole policy chain unknown, and
a failed list the non-policy rules read (diagnostics, loggers, backends) leaves the API,
workspace or service out.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

APIM = "Microsoft.ApiManagement/service"
Resource = dict[str, Any]


def _pick(props: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(props, dict):
        return {}
    # NOTE: an explicit null is kept: resources.build reads e.g. subscriptionRequired: null as
    # "unknown", not as the ARM default.
    return {
        k: props[k]
        for k in keys
        if k in props and (props[k] is None or isinstance(props[k], str | bool | int))
    }


def props_of(item: Any) -> dict[str, Any]:
    """``item["properties"]`` when it is an object, else empty."""
    props = item.get("properties") if isinstance(item, dict) else None
    return props if isinstance(props, dict) else {}


def child(kind: str, names: list[str], props: dict[str, Any] | None = None) -> Resource:
    """An APIM child resource: ``kind`` is the type below ``service/`` (``apis/operations``)."""
    res: Resource = {"type": f"{APIM}/{kind}", "name": "/".join(names)}
    if props is not None:
        res["properties"] = props
    return res


def api(kind: str, names: list[str], item: Any) -> Resource:
    """An API (current revision) with what the rules read."""
    keys = ("displayName", "path", "serviceUrl", "subscriptionRequired", "type", "isCurrent")
    return child(kind, names, _pick(props_of(item), (*keys, "apiRevision")))


def operation(kind: str, names: list[str], item: Any) -> Resource:
    """An operation: method and URL template (no request/response schemas)."""
    return child(kind, names, _pick(props_of(item), ("method", "urlTemplate")))


def policy(kind: str, names: list[str], body: Any) -> Resource:
    """A policy or fragment from a ``format=rawxml`` GET."""
    props = props_of(body)
    fmt = props.get("format") if isinstance(props.get("format"), str) else "rawxml"
    if isinstance(props.get("value"), str):
        return child(kind, names, {"format": fmt, "value": props["value"]})
    return unresolved(kind, names, "the policy content was not returned")


def unresolved(kind: str, names: list[str], reason: str) -> Resource:
    """A policy whose content is unknown: dependent verdicts become unknown."""
    return child(kind, names, {"format": "rawxml", "unresolved": reason})


def product(kind: str, names: list[str], item: Any) -> Resource:
    """A product: display name, subscription requirement, state."""
    return child(
        kind, names, _pick(props_of(item), ("displayName", "subscriptionRequired", "state"))
    )


def api_link(kind: str, names: list[str], item: Any) -> Resource:
    """A product-API link (``apiId`` is the API's ARM id)."""
    return child(kind, names, _pick(props_of(item), ("apiId",)))


def subscription(kind: str, names: list[str], item: Any) -> Resource:
    """An APIM subscription: scope and state only (never keys or owner)."""
    return child(kind, names, _pick(props_of(item), ("scope", "state")))


def logger(kind: str, names: list[str], item: Any) -> Resource:
    """A logger: type and target resource only (never credentials)."""
    return child(kind, names, _pick(props_of(item), ("loggerType", "resourceId")))


def _message(raw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not isinstance(raw, dict):
        return out
    headers = raw.get("headers")
    if isinstance(headers, list):
        out["headers"] = [str(h) for h in headers if isinstance(h, str)]
    body = raw.get("body")
    if isinstance(body, dict) and isinstance(body.get("bytes"), int):
        out["body"] = {"bytes": body["bytes"]}
    return out


def diagnostic(kind: str, names: list[str], item: Any) -> Resource:
    """A diagnostic: logger, metrics flag, logged header names and body sizes."""
    raw = props_of(item)
    props = _pick(raw, ("loggerId", "metrics", "verbosity", "alwaysLog"))
    for side in ("frontend", "backend"):
        block = raw.get(side)
        if isinstance(block, dict):
            props[side] = {part: _message(block.get(part)) for part in ("request", "response")}
    llm = raw.get("largeLanguageModel")
    if isinstance(llm, dict):
        # NOTE: kept as returned (logging switches and sizes; no secrets) for newer rules.
        props["largeLanguageModel"] = llm
    return child(kind, names, props)


def backend(kind: str, names: list[str], item: Any) -> Resource:
    """A backend: URL, kind and pool members only (never credentials, proxy or TLS settings)."""
    raw = props_of(item)
    props = _pick(raw, ("url", "type"))
    pool = raw.get("pool")
    members = pool.get("services") if isinstance(pool, dict) else None
    if isinstance(members, list):
        props["pool"] = {
            "services": [
                _pick(m, ("id", "priority", "weight")) for m in members if isinstance(m, dict)
            ]
        }
    return child(kind, names, props)


def account(item: Any) -> Resource:
    """An Azure OpenAI / AI Services account: endpoints, local auth and network exposure."""
    raw = props_of(item)
    props = _pick(
        raw, ("endpoint", "customSubDomainName", "disableLocalAuth", "publicNetworkAccess")
    )
    endpoints = raw.get("endpoints")
    if isinstance(endpoints, dict):
        props["endpoints"] = {str(k): v for k, v in endpoints.items() if isinstance(v, str)}
    acls = raw.get("networkAcls")
    if isinstance(acls, dict) and isinstance(acls.get("defaultAction"), str):
        props["networkAcls"] = {"defaultAction": acls["defaultAction"]}
    connections = raw.get("privateEndpointConnections")
    props["privateEndpointConnectionCount"] = (
        len(connections) if isinstance(connections, list) else 0
    )
    return {
        "type": "Microsoft.CognitiveServices/accounts",
        "name": str(item.get("name") or ""),
        "id": str(item.get("id") or ""),
        "kind": str(item.get("kind") or ""),
        "properties": props,
    }


def diagnostic_setting(account_id: str, item: Any) -> Resource:
    """A diagnostic setting of an account: destination workspace and enabled log categories."""
    raw = props_of(item)
    logs = [
        _pick(log, ("category", "categoryGroup", "enabled"))
        for log in raw.get("logs") or []
        if isinstance(log, dict)
    ]
    props = _pick(raw, ("workspaceId", "logAnalyticsDestinationType")) | {"logs": logs}
    return {
        "type": "Microsoft.Insights/diagnosticSettings",
        "name": str(item.get("name") or ""),
        "scope": account_id,
        "properties": props,
    }


def component(item: Any) -> Resource:
    """An Application Insights component: its custom-metrics setting only (no keys)."""
    raw = props_of(item)
    opted = raw.get("CustomMetricsOptedInType", raw.get("customMetricsOptedInType"))
    props = {"CustomMetricsOptedInType": opted} if isinstance(opted, str) else {}
    return {
        "type": "Microsoft.Insights/components",
        "name": str(item.get("name") or ""),
        "id": str(item.get("id") or ""),
        "properties": props,
    }


@dataclass
class ServiceParts:
    """One APIM service as read so far, and the parts that could not be read."""

    name: str
    rid: str
    _items: dict[tuple[str, str], tuple[tuple[str | None, str] | None, str | None, Resource]] = (
        field(default_factory=dict)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    dropped: str | None = None
    """Why the whole service is left out (a list the non-policy rules need failed)."""
    dropped_workspaces: dict[str, str] = field(default_factory=dict)
    dropped_apis: dict[tuple[str | None, str], str] = field(default_factory=dict)
    chain_unknown: dict[str | None, str] = field(default_factory=dict)
    """Workspace (None: the service) -> why the policies that apply there are unknown."""
    api_chain_unknown: dict[tuple[str | None, str], str] = field(default_factory=dict)

    def add(
        self,
        res: Resource,
        *,
        api: tuple[str | None, str] | None = None,
        workspace: str | None = None,
    ) -> None:
        """Keep a resource; ``api``/``workspace`` say what it belongs to (for leaving out)."""
        with self._lock:
            self._items[(res["type"].lower(), res["name"])] = (api, workspace, res)

    def drop(self, reason: str) -> None:
        """Leave the whole service out."""
        with self._lock:
            self.dropped = self.dropped or reason

    def drop_workspace(self, ws: str, reason: str) -> None:
        """Leave a workspace's APIs out."""
        with self._lock:
            self.dropped_workspaces.setdefault(ws, reason)

    def drop_api(self, key: tuple[str | None, str], reason: str) -> None:
        """Leave one API out."""
        with self._lock:
            self.dropped_apis.setdefault(key, reason)

    def unknown_chain(self, ws: str | None, reason: str) -> None:
        """The policies that apply in the service (or a workspace) cannot be known."""
        with self._lock:
            self.chain_unknown.setdefault(ws, reason)

    def unknown_api_chain(self, key: tuple[str | None, str], reason: str) -> None:
        """The policies of one API's operations cannot be known."""
        with self._lock:
            self.api_chain_unknown.setdefault(key, reason)

    def resources(self) -> list[Resource]:
        """The service's resources with every failure applied (empty when left out)."""
        if self.dropped:
            return []
        out: dict[tuple[str, str], Resource] = {}
        for key, (api_key, ws, res) in self._items.items():
            if ws is not None and ws in self.dropped_workspaces:
                continue
            if api_key is not None and api_key in self.dropped_apis:
                continue
            out[key] = res
        for ws, reason in self.chain_unknown.items():
            kind, names = (
                ("workspaces/policies", [self.name, ws, "policy"])
                if ws
                else (
                    "policies",
                    [self.name, "policy"],
                )
            )
            res = unresolved(kind, names, reason)
            out[(res["type"].lower(), res["name"])] = res
        for (ws, api_name), reason in self.api_chain_unknown.items():
            if (ws, api_name) in self.dropped_apis or (ws and ws in self.dropped_workspaces):
                continue
            prefix = "workspaces/" if ws else ""
            names = [self.name, *([ws] if ws else []), api_name, "policy"]
            res = unresolved(f"{prefix}apis/policies", names, reason)
            out[(res["type"].lower(), res["name"])] = res
        return [{"type": APIM, "name": self.name}, *out.values()]

"""The APIM part of the live scan: one service (and each workspace) walked request by request.

Per service and per workspace: the global/workspace policy, APIs (current revisions only),
products with their policies and API links, subscriptions, policy fragments, loggers (and the
Application Insights components they name) and backends; at service scope also diagnostics and
workspaces. Per API: its policy, operations (each with its policy) and diagnostics. Nothing else
is requested: no API schemas, tags, users or named values.

Policies are read with ``GET .../policies/policy?format=rawxml`` (the text APIOps extracts); a 404
means the scope has no policy. What a failed request means for the verdicts is decided here, per
kind of part, and applied by :class:`~auditor.sources.live.mapping.ServiceParts`:

- a policy (or fragment) that cannot be read is ``unresolved`` at its scope;
- products, product API links, subscriptions or the fragment list decide which policies apply:
  the service's (or workspace's) whole chain becomes unknown;
- an API's operations: that API's chain becomes unknown;
- diagnostics, loggers and backends feed rules that have no "unknown policy" to fall back on: the
  service (or workspace, or API for API diagnostics) is left out;
- the APIs or workspaces list: what was not listed is not audited.

Every failure is also a ReadError at the ARM id of the part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auditor.sources.live import mapping
from auditor.sources.live.faults import arm_id, name_ok, quote_name
from auditor.sources.live.mapping import Resource, ServiceParts
from auditor.sources.live.tasks import Unit

if TYPE_CHECKING:
    from auditor.sources.live.discovery import Discovery, OnFail

APIM_API = "2024-05-01"
_NOT_OFFERED = (400, 404, 405)
"""Statuses with which a service says it has no such feature (e.g. workspaces below Premium)."""


@dataclass(frozen=True, slots=True)
class _At:
    """A service, or a workspace of it: where its children live and how they are named."""

    parts: ServiceParts
    ws: str | None
    path: str
    unit: Unit

    def kind(self, kind: str) -> str:
        return f"workspaces/{kind}" if self.ws else kind

    def names(self, *names: str) -> list[str]:
        return [self.parts.name, *([self.ws] if self.ws else []), *names]


class ServiceWalk:
    """Queues the requests of APIM services on the discovery's pool."""

    def __init__(self, discovery: Discovery) -> None:
        self.d = discovery

    def service(self, parts: ServiceParts) -> None:
        """Queue everything of one service (``parts.rid``)."""
        rid = parts.rid
        unit = self.d.pool.unit("service")
        try:
            at = _At(parts, None, rid, unit)
            self._scope_lists(at)
            self.d.collect(
                unit,
                f"{rid}/diagnostics",
                APIM_API,
                lambda d: self._add(at, mapping.diagnostic, "diagnostics", d),
                lambda _s, reason: self._drop(at, f"{rid}/diagnostics", "diagnostics", reason),
            )
            self.d.collect(
                unit,
                f"{rid}/workspaces",
                APIM_API,
                lambda ws: self._workspace(at, ws),
                lambda status, reason: self._optional(at, "workspaces", status, reason),
            )
        finally:
            self.d.pool.release(unit)

    def policy(
        self,
        at: _At,
        kind: str,
        names: list[str],
        path: str,
        api: tuple[str | None, str] | None,
        *,
        absent_if_missing: bool = True,
    ) -> None:
        """GET one policy scope as rawxml; 404 is "no policy" (unless the scope must have one,
        as a listed fragment must), a failure is unresolved."""

        def run() -> None:
            reply = self.d.arm.get(path, {"api-version": APIM_API, "format": "rawxml"})
            if reply.status == 404 and absent_if_missing:
                return
            if reply.ok:
                res = mapping.policy(kind, names, reply.body)
            else:
                self.d.error(path, reply.reason)
                res = mapping.unresolved(kind, names, f"not audited: {reply.reason}")
            at.parts.add(res, api=api, workspace=at.ws)

        self.d.pool.submit(at.unit, run)

    def _workspace(self, service: _At, item: dict[str, Any]) -> None:
        ws = item.get("name")
        if not name_ok(ws):
            return
        at = _At(
            service.parts, str(ws), f"{service.path}/workspaces/{quote_name(str(ws))}", service.unit
        )
        self._scope_lists(at)

    def _add(
        self, at: _At, make: Callable[[str, list[str], Any], Resource], kind: str, item: Any
    ) -> None:
        name = item.get("name") if isinstance(item, dict) else None
        if name_ok(name):
            at.parts.add(make(at.kind(kind), at.names(str(name)), item), workspace=at.ws)

    def _drop(self, at: _At, path: str, what: str, reason: str) -> None:
        self.d.error(path, reason)
        why = f"the {what} of '{at.parts.name}' could not be read ({reason})"
        if at.ws:
            at.parts.drop_workspace(at.ws, why)
        else:
            at.parts.drop(why)

    def _chain(self, at: _At, path: str, what: str, reason: str) -> None:
        self.d.error(path, reason)
        where = f"workspace '{at.ws}' of '{at.parts.name}'" if at.ws else f"'{at.parts.name}'"
        at.parts.unknown_chain(
            at.ws,
            f"not audited: the {what} of {where} could not be read ({reason}), so the policies "
            "that apply are unknown",
        )

    def _optional(self, at: _At, segment: str, status: int, reason: str) -> None:
        """A list some tiers do not offer: a 'not offered' answer means there are none.

        NOTE: workspaces exist only in some tiers; a service that answers 400/404/405 for the
        list has none (and cannot include fragments it cannot have). Any other failure is a
        read error like everywhere else.
        """
        path = f"{at.path}/{segment}"
        if status in _NOT_OFFERED:
            self.d.note(f"live: {path}: {reason}; taken as none in this tier")
            return
        if segment == "workspaces":
            self.d.error(path, reason)
        else:
            self._chain(at, path, "policy fragments", reason)

    def _scope_lists(self, at: _At) -> None:
        """What a service and each of its workspaces have alike."""
        self.policy(at, at.kind("policies"), at.names("policy"), f"{at.path}/policies/policy", None)
        lists: list[tuple[str, Callable[[dict[str, Any]], None], OnFail]] = [
            ("apis", lambda i: self._api(at, i), lambda _s, r: self.d.error(f"{at.path}/apis", r)),
            (
                "products",
                lambda i: self._product(at, i),
                lambda _s, r: self._chain(at, f"{at.path}/products", "products", r),
            ),
            (
                "subscriptions",
                lambda i: self._add(at, mapping.subscription, "subscriptions", i),
                lambda _s, r: self._chain(at, f"{at.path}/subscriptions", "subscriptions", r),
            ),
            (
                "policyFragments",
                lambda i: self._fragment(at, i),
                lambda status, r: self._optional(at, "policyFragments", status, r),
            ),
            (
                "loggers",
                lambda i: self._logger(at, i),
                lambda _s, r: self._drop(at, f"{at.path}/loggers", "loggers", r),
            ),
            (
                "backends",
                lambda i: self._add(at, mapping.backend, "backends", i),
                lambda _s, r: self._drop(at, f"{at.path}/backends", "backends", r),
            ),
        ]
        for segment, on_item, on_fail in lists:
            self.d.collect(at.unit, f"{at.path}/{segment}", APIM_API, on_item, on_fail)

    def _fragment(self, at: _At, item: dict[str, Any]) -> None:
        name = item.get("name")
        if not name_ok(name):
            return
        path = f"{at.path}/policyFragments/{quote_name(str(name))}"
        kind, names = at.kind("policyFragments"), at.names(str(name))
        self.policy(at, kind, names, path, None, absent_if_missing=False)

    def _logger(self, at: _At, item: dict[str, Any]) -> None:
        self._add(at, mapping.logger, "loggers", item)
        props = mapping.props_of(item)
        if str(props.get("loggerType") or "").lower() != "applicationinsights":
            return
        rid = arm_id(props.get("resourceId"), "Microsoft.Insights/components")
        if rid is not None:
            self.d.component(at.unit, rid)

    def _product(self, at: _At, item: dict[str, Any]) -> None:
        name = item.get("name")
        if not name_ok(name):
            return
        pname = str(name)
        at.parts.add(mapping.product(at.kind("products"), at.names(pname), item), workspace=at.ws)
        base = f"{at.path}/products/{quote_name(pname)}"
        self.policy(
            at,
            at.kind("products/policies"),
            at.names(pname, "policy"),
            f"{base}/policies/policy",
            None,
        )
        self.d.collect(
            at.unit,
            f"{base}/apiLinks",
            APIM_API,
            lambda link: self._link(at, pname, link),
            lambda _s, r: self._chain(at, f"{base}/apiLinks", f"API links of product '{pname}'", r),
        )

    def _link(self, at: _At, product: str, item: dict[str, Any]) -> None:
        name = item.get("name")
        if name_ok(name):
            res = mapping.api_link(at.kind("products/apiLinks"), at.names(product, str(name)), item)
            at.parts.add(res, workspace=at.ws)

    # ------------------------------------------------------------------ APIs

    def _api(self, at: _At, item: dict[str, Any]) -> None:
        name = item.get("name")
        props = mapping.props_of(item)
        # NOTE: only current revisions are audited (as offline); older ones cost no requests.
        if not name_ok(name) or ";rev=" in str(name) or props.get("isCurrent") is False:
            return
        api = str(name)
        key = (at.ws, api)
        unit = self.d.pool.unit("api", at.unit)
        try:
            at.parts.add(
                mapping.api(at.kind("apis"), at.names(api), item), api=key, workspace=at.ws
            )
            base = f"{at.path}/apis/{quote_name(api)}"
            api_at = _At(at.parts, at.ws, at.path, unit)
            self.policy(
                api_at,
                at.kind("apis/policies"),
                at.names(api, "policy"),
                f"{base}/policies/policy",
                key,
            )

            def ops_failed(_status: int, reason: str) -> None:
                self.d.error(f"{base}/operations", reason)
                at.parts.unknown_api_chain(
                    key, f"not audited: the operations of API '{api}' could not be read ({reason})"
                )

            def diags_failed(_status: int, reason: str) -> None:
                self.d.error(f"{base}/diagnostics", reason)
                at.parts.drop_api(key, reason)

            self.d.collect(
                unit,
                f"{base}/operations",
                APIM_API,
                lambda op: self._operation(api_at, api, op),
                ops_failed,
            )
            self.d.collect(
                unit,
                f"{base}/diagnostics",
                APIM_API,
                lambda d: self._api_diagnostic(at, api, d),
                diags_failed,
            )
        finally:
            self.d.pool.release(unit)

    def _operation(self, at: _At, api: str, item: dict[str, Any]) -> None:
        name = item.get("name")
        if not name_ok(name):
            return
        op = str(name)
        key = (at.ws, api)
        at.parts.add(
            mapping.operation(at.kind("apis/operations"), at.names(api, op), item),
            api=key,
            workspace=at.ws,
        )
        path = f"{at.path}/apis/{quote_name(api)}/operations/{quote_name(op)}/policies/policy"
        self.policy(at, at.kind("apis/operations/policies"), at.names(api, op, "policy"), path, key)

    def _api_diagnostic(self, at: _At, api: str, item: dict[str, Any]) -> None:
        name = item.get("name")
        if name_ok(name):
            res = mapping.diagnostic(at.kind("apis/diagnostics"), at.names(api, str(name)), item)
            at.parts.add(res, api=(at.ws, api), workspace=at.ws)

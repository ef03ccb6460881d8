"""What the live scan reads, and in what order: one task per request, fanned out as answers come.

Subscriptions (the given ones, or every one listed by ``GET /subscriptions`` that is not
disabled), and per subscription the APIM services (optionally of one resource group, or one
service: walked by :mod:`auditor.sources.live.apim`) and the Azure OpenAI / AI Services accounts
with their diagnostic settings, plus the Application Insights components named by APIM loggers.
Never a secret-returning call (``listSecrets``, ``listValue``, ``listKeys``): those are POSTs,
which the pipeline refuses anyway.

Collections are read page by page (each page one task, ``nextLink`` checked by
:class:`~auditor.sources.live.faults.PageTrail`); every failure is recorded as the ARM id of the
part and the reason, and the caller turns it into a ReadError.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auditor.sources.live import mapping
from auditor.sources.live.apim import APIM_API, ServiceWalk
from auditor.sources.live.clients import Arm
from auditor.sources.live.faults import NotRead, PageTrail, arm_id, items_of, name_ok, quote_name
from auditor.sources.live.mapping import Resource, ServiceParts
from auditor.sources.live.tasks import TaskPool, Unit

COGNITIVE_API = "2024-10-01"
DIAG_SETTINGS_API = "2021-05-01-preview"
COMPONENTS_API = "2020-02-02"
SUBSCRIPTIONS_API = "2022-12-01"
AI_KINDS = ("openai", "aiservices")
_UNREADABLE_SUBSCRIPTION_STATES = ("disabled", "deleted", "expired")

OnFail = Callable[[int, str], None]


@dataclass(frozen=True, slots=True)
class Scope:
    """What to scan: subscriptions (empty: every readable one), resource group, service."""

    subscriptions: tuple[str, ...]
    resource_group: str | None
    apim: str | None


class Discovery:
    """Walks the estate through ``arm`` on ``pool``; results are read after ``pool.wait()``."""

    def __init__(self, arm: Arm, pool: TaskPool, scope: Scope) -> None:
        self.arm = arm
        self.pool = pool
        self.scope = scope
        self._lock = threading.Lock()
        self.services: list[ServiceParts] = []
        self.accounts: list[Resource] = []
        self.settings: list[Resource] = []
        self.components: dict[str, Resource | None] = {}
        self.errors: list[tuple[str, str]] = []
        self.subscriptions: list[str] = []
        self.skipped_subscriptions: list[str] = []
        self.account_lists_read = 0
        self.notes: list[str] = []
        self._walk = ServiceWalk(self)

    # ------------------------------------------------------------------ plumbing

    def error(self, rid: str, reason: str) -> None:
        """Record a part that is not audited."""
        with self._lock:
            self.errors.append((rid, reason))

    def collect(
        self,
        unit: Unit | None,
        path: str,
        api_version: str,
        on_item: Callable[[dict[str, Any]], None],
        on_fail: OnFail,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        """List a collection page by page (each page one task)."""
        trail = PageTrail(self.arm.endpoint, api_version)

        def page(url: str, params: dict[str, str] | None) -> None:
            reply = self.arm.get(url, params)
            if not reply.ok:
                on_fail(reply.status, reply.reason)
                return
            try:
                items = items_of(reply.body)
            except NotRead as exc:
                on_fail(0, str(exc))
                return
            for item in items:
                on_item(item)
            try:
                nxt = trail.next_url(reply.body)
            except NotRead as exc:
                on_fail(0, str(exc))
                return
            if nxt:
                self.pool.submit(unit, page, nxt, None)
            elif on_done is not None:
                on_done()

        self.pool.submit(unit, page, path, {"api-version": api_version})

    # ------------------------------------------------------------------ subscriptions

    def start(self) -> None:
        """Queue the first requests."""
        if self.scope.subscriptions:
            for sub in self.scope.subscriptions:
                self._subscription(sub)
            return

        def item(sub: dict[str, Any]) -> None:
            sid = sub.get("subscriptionId")
            if not name_ok(sid):
                return
            if str(sub.get("state") or "").lower() in _UNREADABLE_SUBSCRIPTION_STATES:
                with self._lock:
                    self.skipped_subscriptions.append(f"{sid} ({sub.get('state')})")
                return
            self._subscription(str(sid))

        self.collect(
            None,
            "/subscriptions",
            SUBSCRIPTIONS_API,
            item,
            lambda _s, r: self.error("/subscriptions", r),
        )

    def _subscription(self, sub: str) -> None:
        sid = f"/subscriptions/{quote_name(sub)}"
        with self._lock:
            self.subscriptions.append(sub)
        rg = self.scope.resource_group
        where = f"{sid}/resourceGroups/{quote_name(rg)}" if rg else sid
        self.collect(
            None,
            f"{where}/providers/Microsoft.ApiManagement/service",
            APIM_API,
            lambda item: self._service(sid, item),
            lambda _s, reason: self.error(where, reason),
        )
        self._accounts(sid, sid)

    def _accounts(self, sid: str, where: str) -> None:
        def failed(status: int, reason: str) -> None:
            rg = self.scope.resource_group
            if status == 403 and rg and where == sid:
                # NOTE: Reader on one resource group cannot list the subscription's accounts.
                self._accounts(sid, f"{sid}/resourceGroups/{quote_name(rg)}")
                return
            self.error(f"{where}/providers/Microsoft.CognitiveServices/accounts", reason)

        def done() -> None:
            with self._lock:
                self.account_lists_read += 1

        self.collect(
            None,
            f"{where}/providers/Microsoft.CognitiveServices/accounts",
            COGNITIVE_API,
            self._account,
            failed,
            done,
        )

    def _account(self, item: dict[str, Any]) -> None:
        rid = arm_id(item.get("id"), "Microsoft.CognitiveServices/accounts")
        if rid is None or str(item.get("kind") or "").lower() not in AI_KINDS:
            return
        account = mapping.account(item)
        found: list[Resource] = []
        path = f"{rid}/providers/Microsoft.Insights/diagnosticSettings"

        def done() -> None:
            # NOTE: an account is kept only with its settings: without them "no logs" would be
            # a guess, so a failed read leaves the account (and its verdicts) out.
            with self._lock:
                self.accounts.append(account)
                self.settings.extend(found)

        self.collect(
            None,
            path,
            DIAG_SETTINGS_API,
            lambda s: found.append(mapping.diagnostic_setting(rid, s)),
            lambda _s, reason: self.error(path, reason),
            done,
        )

    # ------------------------------------------------------------------ services

    def _service(self, sid: str, item: dict[str, Any]) -> None:
        name = item.get("name")
        apim = self.scope.apim
        if not name_ok(name) or (apim and str(name).lower() != apim.lower()):
            return
        rid = arm_id(item.get("id"), "Microsoft.ApiManagement/service")
        if rid is None or not rid.lower().startswith(sid.lower() + "/"):
            self.error(f"{sid}/providers/Microsoft.ApiManagement/service/{name}", "unexpected id")
            return
        parts = ServiceParts(str(name), rid)
        with self._lock:
            self.services.append(parts)
        self._walk.service(parts)

    def component(self, unit: Unit, rid: str) -> None:
        """GET an Application Insights component named by a logger (once per scan)."""
        key = rid.lower()
        with self._lock:
            if key in self.components:
                return
            self.components[key] = None

        def run() -> None:
            reply = self.arm.get(rid, {"api-version": COMPONENTS_API})
            if not reply.ok:
                self.error(rid, reply.reason)
                return
            with self._lock:
                self.components[key] = mapping.component(reply.body)

        self.pool.submit(unit, run)

    def note(self, text: str) -> None:
        """Record a note for the estate."""
        with self._lock:
            self.notes.append(text)

    # ------------------------------------------------------------------ results

    def resources(self) -> list[Resource]:
        """Everything read, with failures applied (call after the pool is done)."""
        out: list[Resource] = []
        for parts in sorted(self.services, key=lambda s: s.name):
            out += parts.resources()
        out += sorted(self.accounts, key=lambda a: str(a.get("id")))
        out += sorted(self.settings, key=lambda d: (str(d.get("scope")), str(d.get("name"))))
        out += [c for _, c in sorted(self.components.items()) if c is not None]
        return out

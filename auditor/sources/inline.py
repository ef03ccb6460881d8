"""An estate described by a small mapping: rule examples and test cases use it.

Keys (all optional except ``policy``): ``policy`` (API-scope XML), ``operation`` (operation XML),
``global`` (global XML), ``subscription_required``, ``products`` (name -> product XML or null),
``subscriptions`` (list of ``{name, scope}``), ``fragments`` (id -> XML), ``diagnostics`` and
``api_diagnostics`` (lists of ARM-shaped ``properties`` plus ``name``), ``loggers`` (name -> type),
``backends`` (name -> url), ``service_url``, ``ai_accounts`` and ``diagnostic_settings``, and
``usage`` (measured usage as a snapshot stores it, see :mod:`auditor.usage.measured`).
Capabilities follow the keys given, so an example without diagnostics cannot see them.
"""

from __future__ import annotations

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
    Service,
    Subscription,
)
from auditor.policy import PolicyDoc, read_policy_text
from auditor.sources.apiops import diagnostic_from_properties, subscription_scope


def _doc(text: str | None, scope: str, path: str) -> PolicyDoc | None:
    return read_policy_text(text, scope=scope, path=path) if text else None


def build(spec: dict[str, Any], *, api_name: str = "example-api") -> Estate:
    """Build a one-service, one-API estate from ``spec``."""
    provides = {"policies"}
    products: dict[str, Product] = {}
    for name, xml in (spec.get("products") or {}).items():
        products[name] = Product(
            name,
            name,
            True,
            _doc(xml, "product", f"products/{name}.xml"),
            Location(f"products/{name}"),
        )
    if "products" in spec:
        provides |= {"products", "subscriptions"}
    subs = []
    for sub in spec.get("subscriptions") or []:
        kind, target = subscription_scope(str(sub.get("scope", "")))
        subs.append(
            Subscription(
                str(sub["name"]),
                kind,
                target,
                sub.get("state", "active") == "active",
                Location(f"subscriptions/{sub['name']}"),
            )
        )
    diags = tuple(
        diagnostic_from_properties(d["name"], d, Location(f"diagnostics/{d['name']}"))
        for d in spec.get("diagnostics") or []
    )
    api_diags = tuple(
        diagnostic_from_properties(
            d["name"], d, Location(f"apis/{api_name}/diagnostics/{d['name']}")
        )
        for d in spec.get("api_diagnostics") or []
    )
    if "diagnostics" in spec or "api_diagnostics" in spec or "loggers" in spec:
        provides |= {"diagnostics", "loggers"}
    fragments = {
        fid: doc
        for fid, xml in (spec.get("fragments") or {}).items()
        if (doc := _doc(xml, "fragment", f"fragments/{fid}.xml")) is not None
    }
    if "fragments" in spec:
        provides.add("fragments")
    op_doc = _doc(spec.get("operation"), "operation", "operation.xml")
    api = Api(
        name=api_name,
        display_name=api_name,
        path=api_name,
        service_url=spec.get("service_url"),
        subscription_required=spec.get("subscription_required"),
        products=tuple(sorted(products)),
        operations=(
            Operation(
                "chat-completions-create",
                "POST",
                "/deployments/{deployment-id}/chat/completions",
                op_doc,
            ),
        ),
        policy=_doc(spec.get("policy"), "api", "policy.xml"),
        diagnostics=api_diags,
        location=Location(f"apis/{api_name}"),
    )
    accounts = tuple(
        AiAccount(
            str(a["name"]),
            tuple(h.lower() for h in a.get("hosts", [])),
            a.get("disable_local_auth"),
            a.get("public_network_access"),
            a.get("network_default_action"),
            Location(f"accounts/{a['name']}"),
        )
        for a in spec.get("ai_accounts") or []
    )
    settings = tuple(
        DiagnosticSetting(
            str(d["name"]),
            str(d["account"]),
            d.get("workspace_id"),
            tuple(d.get("categories", [])),
            tuple(d.get("category_groups", [])),
            Location(f"diagnosticSettings/{d['name']}"),
        )
        for d in spec.get("diagnostic_settings") or []
    )
    if "ai_accounts" in spec:
        provides |= {"ai_accounts", "diagnostic_settings"}
    components = tuple(
        AppInsights(
            str(c["name"]),
            f"/providers/Microsoft.Insights/components/{c['name']}",
            c.get("custom_metrics"),
            Location(f"components/{c['name']}"),
        )
        for c in spec.get("app_insights") or []
    )
    if "app_insights" in spec:
        provides.add("app_insights")
    service = Service(
        name="example",
        policy=_doc(spec.get("global"), "global", "global.xml"),
        apis=(api,),
        products=products,
        fragments=fragments,
        backends={
            n: Backend(n, u, (), Location(f"backends/{n}"))
            for n, u in (spec.get("backends") or {}).items()
        },
        loggers={
            n: Logger(n, t, (spec.get("logger_resources") or {}).get(n), Location(f"loggers/{n}"))
            for n, t in (spec.get("loggers") or {}).items()
        },
        diagnostics=diags,
        subscriptions=tuple(subs),
    )
    usage = None
    if spec.get("usage") is not None:
        from auditor.usage.measured import Usage

        usage = Usage.from_json(spec["usage"], "example usage")
    return Estate(
        "inline",
        "example",
        (service,),
        frozenset(provides),
        (),
        accounts,
        settings,
        components,
        usage=usage,
    )

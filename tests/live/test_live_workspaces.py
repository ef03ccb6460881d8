"""Workspaces are read like services; tiers without workspaces are not read errors."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_arm import FakeArm
from live_helpers import outcomes, report_of, scan, verdicts

from auditor.model import CAPABILITIES
from auditor.sources import resources

T = "Microsoft.ApiManagement/service"
SVC = "contoso-ai-gateway"
METERED = """<policies>
  <inbound>
    <base />
    <llm-emit-token-metric namespace="ai">
      <dimension name="Subscription ID" />
    </llm-emit-token-metric>
    <set-header name="x-attribution-id" exists-action="override">
      <value>@(context.Subscription.Id)</value>
    </set-header>
  </inbound>
  <backend><base /></backend>
  <outbound><base /></outbound>
  <on-error><base /></on-error>
</policies>"""
NO_BASE = "<policies><inbound /><backend><base /></backend><outbound /><on-error /></policies>"


def _pol(kind: str, name: str, text: str) -> dict[str, Any]:
    return {"type": f"{T}/{kind}", "name": name, "properties": {"format": "rawxml", "value": text}}


WORKSPACE = [
    {"type": f"{T}/workspaces", "name": f"{SVC}/team-ws", "properties": {"displayName": "Team"}},
    _pol("workspaces/policies", f"{SVC}/team-ws/policy", METERED),
    {
        "type": f"{T}/workspaces/apis",
        "name": f"{SVC}/team-ws/ws-chat",
        "properties": {
            "displayName": "ws-chat",
            "path": "ws/openai",
            "serviceUrl": "https://contoso-eastus.openai.azure.com/openai",
            "subscriptionRequired": True,
            "type": "http",
        },
    },
    _pol("workspaces/apis/policies", f"{SVC}/team-ws/ws-chat/policy", METERED),
    {
        "type": f"{T}/workspaces/apis/operations",
        "name": f"{SVC}/team-ws/ws-chat/chat",
        "properties": {"method": "POST", "urlTemplate": "/deployments/{d}/chat/completions"},
    },
    _pol("workspaces/apis/operations/policies", f"{SVC}/team-ws/ws-chat/chat/policy", NO_BASE),
    {
        "type": f"{T}/workspaces/products",
        "name": f"{SVC}/team-ws/ws-team",
        "properties": {"displayName": "WS team", "subscriptionRequired": True},
    },
    _pol("workspaces/products/policies", f"{SVC}/team-ws/ws-team/policy", METERED),
    {"type": f"{T}/workspaces/products/apis", "name": f"{SVC}/team-ws/ws-team/ws-chat"},
    {
        "type": f"{T}/workspaces/backends",
        "name": f"{SVC}/team-ws/ws-backend",
        "properties": {"url": "https://contoso-westus.openai.azure.com/openai"},
    },
]


@pytest.fixture
def with_ws(demo_resources: list[dict[str, Any]], tmp_path: Path) -> Iterator[FakeArm]:
    server = FakeArm(copy.deepcopy(demo_resources) + copy.deepcopy(WORKSPACE)).start(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def test_workspace_apis_are_read_like_the_offline_build(
    with_ws: FakeArm, demo_resources: list[dict[str, Any]]
) -> None:
    offline = resources.build(
        demo_resources + WORKSPACE, kind="x", location="x", provides=frozenset(CAPABILITIES)
    )
    expected = report_of(offline)
    estate = scan(with_ws)
    report = report_of(estate)
    ws_api = next(a for s in estate.services for a in s.apis if a.workspace == "team-ws")
    assert ws_api.name == "ws-chat" and ws_api.products == ("team-ws/ws-team",)
    assert [op.name for op in ws_api.operations] == ["chat"]
    assert verdicts(report) == verdicts(expected)
    assert outcomes(report) == outcomes(expected)
    paths = [r.path for r in with_ws.gets()]
    assert any(
        p.endswith("/workspaces/team-ws/apis/ws-chat/operations/chat/policies/policy")
        for p in paths
    )


def test_403_on_workspace_backends_leaves_the_workspace_out(
    with_ws: FakeArm, demo_report: dict[str, Any]
) -> None:
    with_ws.fail(r"/workspaces/team-ws/backends$", 403)
    estate = scan(with_ws)
    assert all(a.workspace is None for s in estate.services for a in s.apis)
    assert any(
        e.location.path and e.location.path.endswith("/backends") for e in estate.read_errors
    )
    assert verdicts(report_of(estate)) == verdicts(demo_report)


def test_a_tier_without_workspaces_is_not_an_error(
    fake: FakeArm, demo_report: dict[str, Any]
) -> None:
    fake.fail(r"/workspaces$", 400, code="MethodNotAllowedInPricingTier")
    estate = scan(fake)
    assert not estate.read_errors
    assert any("taken as none in this tier" in n for n in estate.notes)
    assert outcomes(report_of(estate)) == outcomes(demo_report)

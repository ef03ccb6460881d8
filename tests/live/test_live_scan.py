"""The live scan against a fake Resource Manager serving the demo estate: parity and read-only."""

from __future__ import annotations

import copy
import io
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fake_arm import SECRET_ACTIONS, FakeArm
from live_helpers import options, outcomes, report_of, scan, verdicts

from auditor.model import Estate
from auditor.sources import live
from auditor.sources.live import mapping
from auditor.sources.live.clients import Arm, ArmSettings
from auditor.sources.live.credentials import StaticTokenCredential


def predicted_requests(estate: Estate) -> int:
    """The documented request formula (one subscription, one page per collection).

    per subscription: 1 (APIM services) + 1 (AI accounts) + 1 per OpenAI/AIServices account
    (diagnostic settings) + 1 per App Insights component named by a logger;
    per service: 9 (global policy, APIs, products, subscriptions, fragments, loggers, backends,
    diagnostics, workspaces) + 2 per product (policy, API links) + 1 per fragment
    + per API (3: policy, operations, diagnostics, + 1 per operation policy).
    """
    total = 2 + len(estate.ai_accounts) + len(estate.app_insights)
    for s in estate.services:
        total += 9 + 2 * len(s.products) + len(s.fragments)
        total += sum(3 + len(a.operations) for a in s.apis)
    return total


def test_live_findings_equal_the_demo_folder(
    fake: FakeArm, demo_estate: Estate, demo_report: dict[str, Any]
) -> None:
    estate = scan(fake)
    report = report_of(estate)
    assert estate.source_kind == "live"
    assert estate.provides == demo_estate.provides
    assert not estate.read_errors
    assert verdicts(report) == verdicts(demo_report)
    assert outcomes(report) == outcomes(demo_report)
    assert report["score"] == demo_report["score"]
    assert any(n.startswith("live: ") and " requests in " in n for n in estate.notes)


def test_only_get_requests_and_never_a_secret_endpoint(fake: FakeArm) -> None:
    scan(fake)
    seen = fake.gets()
    assert seen and {r.method for r in seen} == {"GET"}
    for r in seen:
        low = r.path.lower()
        assert not any(action in low for action in SECRET_ACTIONS), r.path
        # fetch only what the rules need
        assert not any(
            part in low for part in ("/namedvalues", "/schemas", "/tags", "/users", "/groups")
        ), r.path
        assert "api-version" in r.query
    policies = [r for r in seen if r.path.lower().endswith(("/policies/policy",))]
    fragments = [r for r in seen if "/policyfragments/" in r.path.lower()]
    assert policies and fragments
    assert all(r.query.get("format") == "rawxml" for r in policies + fragments)


def test_request_count_follows_the_formula(fake: FakeArm, demo_estate: Estate) -> None:
    estate = scan(fake)
    made = len(fake.gets())
    assert made == predicted_requests(demo_estate)
    assert f"live: {made} requests in " in estate.notes[0]


def test_concurrency_cap_holds(fake: FakeArm) -> None:
    fake.latency = 0.02
    scan(fake, concurrency=3)
    assert fake.max_in_flight == 3


def test_progress_goes_to_the_callback_never_stdout(fake: FakeArm, capsys: Any) -> None:
    seen: list[live.LiveProgress] = []
    live.load(options(fake), progress=seen.append)
    last = seen[-1]
    assert (last.services_done, last.services_found) == (1, 1)
    assert (last.apis_done, last.apis_found) == (9, 9)
    assert last.requests == len(fake.gets())
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_pipeline_cannot_register_providers_or_follow_redirects(fake: FakeArm) -> None:
    arm = Arm(ArmSettings(fake.url, 2, fake.ca_path), StaticTokenCredential("x"))
    try:
        names = arm.policy_types
    finally:
        arm.close()
    assert "ARMAutoResourceProviderRegistrationPolicy" not in names
    assert "RedirectPolicy" not in names
    assert "GuardPolicy" in names and "CappedRetryPolicy" in names


def test_missing_registration_409_never_posts_a_registration(fake: FakeArm) -> None:
    fake.fail(r"/providers/Microsoft\.CognitiveServices/accounts$", 409)
    estate = scan(fake)
    assert {r.method for r in fake.gets()} == {"GET"}
    assert not any("/register" in r.path.lower() for r in fake.gets())
    assert "ai_accounts" not in estate.provides
    assert any("409 MissingSubscriptionRegistration" in e.message for e in estate.read_errors)


def test_non_current_revisions_cost_no_requests(
    demo_resources: list[dict[str, Any]], tmp_path: Path
) -> None:
    old = {
        "type": "Microsoft.ApiManagement/service/apis",
        "name": "contoso-ai-gateway/chat-finance;rev=2",
        "properties": {"displayName": "chat-finance", "path": "finance/openai", "isCurrent": False},
    }
    fake = FakeArm([*copy.deepcopy(demo_resources), old]).start(tmp_path)
    try:
        estate = scan(fake)
    finally:
        fake.stop()
    assert not any(";rev=" in unquote(r.path) for r in fake.gets())
    assert all(";rev=" not in a.name for s in estate.services for a in s.apis)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_default_progress_is_one_stderr_line_on_a_terminal(
    fake: FakeArm, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    scan(fake)
    text = tty.getvalue()
    assert text.startswith("\rlive: ") and text.endswith("\n")
    assert "1/1 services, 9/9 APIs" in text
    assert capsys.readouterr().out == ""


def test_a_bug_in_a_task_surfaces_instead_of_hanging(
    fake: FakeArm, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("bug in mapping")

    monkeypatch.setattr(mapping, "operation", broken)
    with pytest.raises(RuntimeError, match="bug in mapping"):
        scan(fake)

"""Faults of a live scan become unknown verdicts with reasons: never a pass, never a guess."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from fake_arm import FakeArm
from live_helpers import options, outcomes, report_of, scan, verdicts

from auditor.errors import SourceError
from auditor.sources import live
from tests.support import HANG_SECONDS

SVC = r"/service/contoso-ai-gateway"


def api_row(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in report["apis"] if a["name"] == name)


def errors_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["rule"] == "AUD002" and f["status"] == "error"]


def test_403_on_an_api_policy_makes_that_api_unknown(
    fake: FakeArm, demo_report: dict[str, Any]
) -> None:
    fake.fail(rf"{SVC}/apis/chat-finance/policies/policy$", 403)
    report = report_of(scan(fake))
    row = api_row(report, "chat-finance")
    assert set(row["signals"].values()) == {"unknown"}
    assert "403 AuthorizationFailed" in " ".join(str(v) for v in row["unknown_because"].values())
    assert any("403" in f["message"] and f["api"] == "chat-finance" for f in errors_of(report))
    others = {k: v for k, v in verdicts(report).items() if not k.endswith("/chat-finance")}
    expected = {k: v for k, v in verdicts(demo_report).items() if not k.endswith("/chat-finance")}
    assert others == expected


def test_500_on_products_makes_every_policy_verdict_unknown(fake: FakeArm) -> None:
    fake.fail(rf"{SVC}/products$", 500)
    report = report_of(scan(fake))
    assert len([r for r in fake.gets() if r.path.endswith("/products")]) == 4  # 1 + 3 retries
    for row in report["apis"]:
        if row["llm"]:
            assert "pass" not in row["signals"].values(), row
            assert "unknown" in row["signals"].values(), row
    assert any(
        f["location"]["path"].endswith("/products") and "500" in f["message"]
        for f in errors_of(report)
    )
    reasons = " ".join(str(r) for row in report["apis"] for r in row["unknown_because"].values())
    assert "the products of 'contoso-ai-gateway' could not be read" in reasons


def test_429_with_retry_after_is_waited_for_and_recovers(
    fake: FakeArm, demo_report: dict[str, Any]
) -> None:
    fake.fail(rf"{SVC}/apis$", 429, times=1, headers={"Retry-After": "1"})
    start = time.monotonic()
    estate = scan(fake)
    assert time.monotonic() - start >= 1.0
    report = report_of(estate)
    assert verdicts(report) == verdicts(demo_report)
    assert outcomes(report) == outcomes(demo_report)
    assert any("1 throttled (429)" in n for n in estate.notes)


def test_429_that_never_ends_is_unknown_not_pass(fake: FakeArm) -> None:
    fake.fail(rf"{SVC}/apis/crm/operations$", 429, headers={"Retry-After": "0.05"})
    fake.fail(rf"{SVC}/apis/chat-finance/operations$", 429, headers={"Retry-After": "0.05"})
    report = report_of(scan(fake))
    row = api_row(report, "chat-finance")
    assert "pass" not in row["signals"].values()
    assert any("429" in f["message"] for f in errors_of(report))


def test_timeouts_are_retried_then_unknown(fake: FakeArm) -> None:
    fake.fail(r"/products/team-finance/policies/policy$", 200, delay=1.0)
    report = report_of(scan(fake, timeout=0.3))
    finance = [r for r in fake.gets() if r.path.endswith("/products/team-finance/policies/policy")]
    assert len(finance) == 4
    assert any("no response" in f["message"] for f in errors_of(report))
    row = api_row(report, "chat-finance")  # in team-finance
    assert "pass" not in row["signals"].values()


def test_403_on_api_diagnostics_leaves_the_api_out(fake: FakeArm) -> None:
    fake.fail(rf"{SVC}/apis/gpt-legacy/diagnostics$", 403)
    report = report_of(scan(fake))
    assert all(a["name"] != "gpt-legacy" for a in report["apis"])
    assert any(
        "gpt-legacy/diagnostics" in (f["location"] or {}).get("path", "") for f in errors_of(report)
    )


def test_403_on_service_loggers_leaves_the_service_out(fake: FakeArm) -> None:
    fake.fail(rf"{SVC}/loggers$", 403)
    with pytest.raises(SourceError, match="nothing could be audited: .*loggers: 403"):
        scan(fake)


def test_403_on_the_subscription_is_a_source_error(fake: FakeArm) -> None:
    fake.fail(r"/providers/Microsoft\.ApiManagement/service$", 403)
    with pytest.raises(SourceError, match="403 AuthorizationFailed.*Reader role"):
        scan(fake)


def test_no_service_found_is_a_source_error(fake: FakeArm) -> None:
    with pytest.raises(SourceError, match="no API Management service 'nope' found"):
        scan(fake, apim="nope")


def test_several_pages_are_followed(fake: FakeArm, demo_report: dict[str, Any]) -> None:
    fake.page_size = 2
    report = report_of(scan(fake))
    assert verdicts(report) == verdicts(demo_report)
    assert outcomes(report) == outcomes(demo_report)
    assert sum("$skiptoken" in r.query for r in fake.gets()) >= 10


def test_a_paging_loop_is_detected(fake: FakeArm) -> None:
    fake.loop(rf"{SVC}/apis$")
    estate = scan(fake)
    assert any("paging loop" in e.message for e in estate.read_errors)
    pages = [r for r in fake.gets() if r.path.endswith("/apis") and "$skiptoken" in r.query]
    assert len(pages) == 1  # the repeated link is not fetched again


def test_a_next_link_to_another_host_is_not_followed(fake: FakeArm) -> None:
    fake.foreign_next(rf"{SVC}/backends$")
    with pytest.raises(SourceError, match="nextLink leads off the Resource Manager endpoint"):
        scan(fake)  # backends incomplete: the service is left out


def test_low_remaining_reads_pause_the_scan(fake: FakeArm) -> None:
    fake.ratelimit_remaining = 3
    estate = scan(fake)
    assert any("paused" in n for n in estate.notes)


def test_a_failing_credential_is_a_source_error(fake: FakeArm) -> None:
    class Broken:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            raise ClientAuthenticationError("no az login")

    with pytest.raises(SourceError, match="cannot get a token .*no az login"):
        live.load(options(fake, credential=Broken()))
    assert fake.gets() == []


def test_ctrl_c_propagates_and_stops_the_scan(fake: FakeArm) -> None:
    fake.latency = 0.05

    def interrupt(p: live.LiveProgress) -> None:
        if p.requests >= 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        live.load(options(fake, concurrency=2), progress=interrupt)
    # Requests in flight finish on their own (Ctrl-C does not wait for them): once the scan's
    # threads have ended, every request it will ever make has arrived; queued ones never ran.
    for thread in threading.enumerate():
        if thread.name.startswith("auditor-live"):
            thread.join(HANG_SECONDS)
            assert not thread.is_alive()
    assert len(fake.gets()) < 40

"""Helpers of the live-scan tests: options for the fake Resource Manager, and report views."""

from __future__ import annotations

from typing import Any

from fake_arm import SUB, TOKEN, FakeArm

from auditor import engine, rules
from auditor.model import Estate
from auditor.report import to_dict
from auditor.sources import live
from auditor.sources.live.credentials import StaticTokenCredential


def options(fake: FakeArm, **kw: Any) -> live.LiveOptions:
    """Options pointing at the fake, with fast retries."""
    base: dict[str, Any] = {
        "subscriptions": (SUB,),
        "arm_endpoint": fake.url,
        "ca_bundle": fake.ca_path,
        "credential": StaticTokenCredential(TOKEN),
        "retry_backoff": 0.01,
        "max_retry_after": 2.0,
        "timeout": 5.0,
        "rate_limit_pause": 0.01,
    }
    return live.LiveOptions(**(base | kw))


def scan(fake: FakeArm, **kw: Any) -> Estate:
    return live.load(options(fake, **kw))


def report_of(estate: Estate) -> dict[str, Any]:
    return to_dict(engine.run(estate, rules.load()))


def verdicts(report: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {a["id"]: a["signals"] for a in report["apis"]}


def outcomes(report: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """(rule, status, target, severity) of every finding: what must match across sources."""
    return {(f["rule"], f["status"], f["target"], f["severity"]) for f in report["findings"]}

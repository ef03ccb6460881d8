"""``auditor scan/snapshot --azure`` end to end against the fake Resource Manager."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fake_arm import CANARIES, SUB, TOKEN, FakeArm
from live_helpers import outcomes, report_of, verdicts

from auditor import sources
from auditor.cli import main
from auditor.sources.live.credentials import TEST_TOKEN_ENV

ROOT = Path(__file__).resolve().parents[2]


def cli_env(fake: FakeArm) -> dict[str, str]:
    env = dict(os.environ)
    env |= {TEST_TOKEN_ENV: TOKEN, "REQUESTS_CA_BUNDLE": fake.ca_path, "PYTHONPATH": str(ROOT)}
    return env


def run(fake: FakeArm, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "auditor", "scan", "--azure", "--arm-endpoint", fake.url]
    cmd += ["--subscription", SUB, "--format", "json", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=cli_env(fake))


def test_scan_azure_end_to_end(fake: FakeArm, demo_report: dict[str, Any]) -> None:
    out = run(fake)
    assert out.returncode == 1, out.stderr  # the demo has high-severity gaps
    report = json.loads(out.stdout)
    assert report["source"]["kind"] == "live"
    assert report["source"]["location"].startswith(fake.url)
    assert verdicts(report) == verdicts(demo_report)
    assert outcomes(report) == outcomes(demo_report)
    assert any(n.startswith("live: ") and "requests in" in n for n in report["notes"])
    assert "\rlive:" not in out.stderr  # no progress line when stderr is not a terminal
    assert run(fake, "--fail-on", "never").returncode == 0


def test_scan_azure_unreadable_is_exit_2(fake: FakeArm) -> None:
    fake.fail(r"/providers/Microsoft\.ApiManagement/service$", 403)
    out = run(fake)
    assert out.returncode == 2
    assert "nothing could be audited" in out.stderr and "403" in out.stderr


def test_without_a_credential_the_cli_fails_cleanly(fake: FakeArm) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditor",
            "scan",
            "--azure",
            "--arm-endpoint",
            fake.url,
            "--subscription",
            SUB,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in cli_env(fake).items() if k != TEST_TOKEN_ENV}
        | {"AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential"},
    )
    assert out.returncode == 2  # no credential at all: a clear usage error, no request made
    assert "cannot get a token" in out.stderr
    assert fake.gets() == []


def test_snapshot_of_a_live_estate_has_no_secret_and_replays(
    fake: FakeArm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_TOKEN_ENV, TOKEN)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_path)
    snap = tmp_path / "estate.json"
    args = ["--azure", "--arm-endpoint", fake.url, "--subscription", SUB]
    assert main(["snapshot", *args, "-o", str(snap)]) == 0
    text = snap.read_text(encoding="utf-8")
    for canary in CANARIES.values():
        assert canary not in text
    assert "instrumentationKey" not in text and "primaryKey" not in text
    from auditor.sources import live

    live_report = report_of(
        live.load(live.LiveOptions(subscriptions=(SUB,), arm_endpoint=fake.url))
    )
    replay = report_of(sources.load(snap))
    assert verdicts(replay) == verdicts(live_report)
    assert replay["findings"] == live_report["findings"]
    assert replay["score"] == live_report["score"]

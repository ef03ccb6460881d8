"""``auditor effective``: the effective policy with each statement's origin."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.cli import main

DEMO = Path(__file__).resolve().parents[1] / "auditor" / "demo" / "contoso-ai-gateway"


def test_effective_shows_origins_and_drops(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "effective",
            str(DEMO),
            "chat-missing-base",
            "chat-completions-create",
            "--product",
            "team-marketing",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "calls through product 'team-marketing'" in out
    assert "apis/chat-missing-base/operations/chat-completions-create/policy.xml:3" in out
    assert "llm-emit-token-metric (api)" in out  # dropped by the missing <base />


def test_effective_inlines_fragments_with_their_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["effective", str(DEMO), "chat-finance", "embeddings-create"]) == 0
    out = capsys.readouterr().out
    assert "api/llm-metering" in out
    assert "policy fragments/llm-metering/policy.xml:2" in out
    # one block per route: two products and the product-less route
    assert out.count("== chat-finance / embeddings-create") == 3


def test_effective_unknown_api(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["effective", str(DEMO), "nope"]) == 2
    assert "no API 'nope'" in capsys.readouterr().err

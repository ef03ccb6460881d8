"""Golden files of the demo gap report: a change here is a change to the report contract.

Regenerate with ``UPDATE_GOLDEN=1 pytest tests/test_demo_golden.py`` and read the diff.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest

from auditor.cli import main

GOLDEN = Path(__file__).parent / "golden"
EXPECTED = Path(__file__).resolve().parents[1] / "auditor" / "demo" / "EXPECTED.md"


@pytest.fixture(scope="module")
def demo_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out-dir", str(out)]) == 0
    return {
        ext: (out / f"demo-gap-report.{ext}").read_text(encoding="utf-8") for ext in ("md", "json")
    }


def _expected_money() -> dict[str, Decimal]:
    """The "figure | value" table of EXPECTED.md's Money section."""
    text = EXPECTED.read_text(encoding="utf-8").split("## Money", 1)[1]
    rows = re.findall(r"^\| ([a-z_]+) \| ([\d,.]+) \|$", text, re.MULTILINE)
    return {name: Decimal(value.replace(",", "")) for name, value in rows}


def test_demo_money_matches_the_hand_computed_figures(demo_reports: dict[str, str]) -> None:
    expected = _expected_money()
    assert len(expected) == 11
    totals = json.loads(demo_reports["json"])["usage"]["totals"]
    for name, value in expected.items():
        assert Decimal(str(totals[name])) == value, name
    headline = (
        "30.4 % of tokens (≈ $872 a month) cannot be charged to a team; "
        "$510 of it bypasses the gateway"
    )
    assert f"**{headline}**" in demo_reports["md"]
    assert headline in EXPECTED.read_text(encoding="utf-8").replace("\n", " ")


def test_demo_focus_matches_golden(demo_reports: dict[str, str]) -> None:
    from auditor.render import RENDERERS

    report = json.loads(demo_reports["json"])
    text = RENDERERS["focus"](report)
    golden = GOLDEN / "renderers" / "demo.focus.csv"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8", newline="\n")
    assert text == golden.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sum(Decimal(r["EffectiveCost"]) for r in rows) == Decimal(
        str(report["usage"]["totals"]["cost"])
    )


def test_demo_usage_file_is_what_its_generator_makes() -> None:
    import demo_usage

    assert demo_usage.TARGET.read_text(encoding="utf-8") == demo_usage.text()


@pytest.mark.parametrize("ext", ["md", "json"])
def test_demo_report_matches_golden(demo_reports: dict[str, str], ext: str) -> None:
    golden = GOLDEN / f"demo-gap-report.{ext}"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(demo_reports[ext], encoding="utf-8", newline="\n")
    assert demo_reports[ext] == golden.read_text(encoding="utf-8")


def test_golden_files_are_lf_only() -> None:
    for file in GOLDEN.rglob("*"):
        if file.is_file():
            assert b"\r\n" not in file.read_bytes(), file


def test_demo_verdicts(demo_reports: dict[str, str]) -> None:
    """The demo mixes intact APIs with distinct real failure modes (auditor/demo/EXPECTED.md)."""
    report = json.loads(demo_reports["json"])
    verdicts = {a["name"]: a["signals"] for a in report["apis"] if a["llm"]}
    assert verdicts["chat-finance"]["coverage"] == "pass"
    assert verdicts["responses-entra"]["identity"] == "pass"
    assert verdicts["chat-missing-base"]["coverage"] == "fail"
    assert verdicts["completions-partner"]["coverage"] == "fail"
    assert verdicts["gpt-legacy"]["coverage"] == "fail"
    assert verdicts["assistants-header-team"]["identity"] == "fail"
    assert verdicts["usage-eventhub"]["streaming"] == "fail"
    assert verdicts["embeddings-spoofable"]["correlation"] == "fail"
    names = {a["name"]: a for a in report["apis"]}
    assert names["crm"]["llm"] is False
    assert "chat-finance;rev=2" not in names
    assert verdicts["completions-partner"]["correlation"] == "fail"  # COR005: no account logs
    assert verdicts["chat-finance"] == dict.fromkeys(verdicts["chat-finance"], "pass")
    assert verdicts["responses-entra"] == dict.fromkeys(verdicts["responses-entra"], "pass")
    assert report["source"]["kind"] == "apiops+bicep"

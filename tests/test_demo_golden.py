"""Golden files of the demo gap report: a change here is a change to the report contract.

Regenerate with ``UPDATE_GOLDEN=1 pytest tests/test_demo_golden.py`` and read the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from auditor.cli import main

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def demo_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out-dir", str(out)]) == 0
    return {
        ext: (out / f"demo-gap-report.{ext}").read_text(encoding="utf-8") for ext in ("md", "json")
    }


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

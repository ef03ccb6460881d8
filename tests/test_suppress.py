"""Waivers, inline ignores and baselines: accepted findings stay visible, the gate moves."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.sources import demo_path

TODAY = dt.date.today()
LATER = (TODAY + dt.timedelta(days=90)).isoformat()
EARLIER = (TODAY - dt.timedelta(days=1)).isoformat()


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    tree = tmp_path / "contoso-ai-gateway"
    shutil.copytree(demo_path(), tree)
    return tree


def scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    rc = main(["scan", *args, "--format", "json"])
    out = capsys.readouterr()
    return rc, json.loads(out.out), out.err


def waivers(tmp_path: Path, *entries: str) -> Path:
    file = tmp_path / "waivers.yaml"
    file.write_text("waivers:\n" + "".join(entries), encoding="utf-8")
    return file


def entry(rule: str, target: str, expires: str = LATER) -> str:
    return (
        f'  - rule: {rule}\n    target: "{target}"\n    reason: accepted for the test\n'
        f"    owner: platform-team\n    expires: {expires}\n"
    )


def test_waiver_marks_finding_and_releases_the_verdict(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, plain, _ = scan(capsys, str(demo))
    assert rc == 1
    file = waivers(tmp_path, entry("COR002", "embeddings-spoofable*"))
    rc, report, err = scan(capsys, str(demo), "--waivers", str(file))
    cor002 = [f for f in report["findings"] if f["rule"] == "COR002" and f["status"] == "fail"]
    assert cor002 and all(f["suppression"]["kind"] == "waiver" for f in cor002)
    assert cor002[0]["suppression"]["owner"] == "platform-team"
    verdicts = {a["name"]: a["signals"] for a in report["apis"] if a["llm"]}
    assert verdicts["embeddings-spoofable"]["correlation"] != "fail"
    # every other gap still fails the gate
    assert rc == 1
    assert "expired on" not in err


def test_expired_waiver_fails_the_gate_and_accepts_nothing(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = waivers(tmp_path, entry("COR002", "embeddings-spoofable*", EARLIER))
    rc, report, err = scan(capsys, str(demo), "--waivers", str(file), "--fail-on", "critical")
    assert rc == 1
    assert "expired" in err
    assert report["expired_waivers"][0]["rule"] == "COR002"
    cor002 = [f for f in report["findings"] if f["rule"] == "COR002" and f["status"] == "fail"]
    assert all(f["suppression"] is None for f in cor002)


def test_unused_waiver_is_warned(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = waivers(tmp_path, entry("COV001", "no-such-api"))
    _, report, err = scan(capsys, str(demo), "--waivers", str(file))
    assert "matched no finding" in err
    assert report["warnings"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("waivers:\n  - rule: COV001\n    target: x\n", "missing"),
        ("waivers:\n  - {rule: A, target: b, reason: c, owner: d, expires: soon}\n", "date"),
        (
            "waivers:\n  - {rule: A, target: b, reason: c, owner: d, expires: 2030-01-01, x: 1}\n",
            "unknown keys",
        ),
        ("nope: 1\n", "waivers"),
    ],
)
def test_bad_waiver_files_are_usage_errors(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    file = tmp_path / "w.yaml"
    file.write_text(content, encoding="utf-8")
    assert main(["scan", str(demo), "--waivers", str(file)]) == 2
    assert message in capsys.readouterr().err


def test_inline_ignore_covers_the_next_element(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = demo / "apis" / "embeddings-spoofable" / "policy.xml"
    text = policy.read_text(encoding="utf-8")
    marker = '<set-header name="x-attribution-id" exists-action="skip">'
    assert marker in text
    text = text.replace(
        marker, "<!-- auditor: ignore[COR002] legacy clients send it -->\n" + marker, 1
    )
    policy.write_text(text, encoding="utf-8")
    _, report, err = scan(capsys, str(demo))
    cor002 = [f for f in report["findings"] if f["rule"] == "COR002" and f["status"] == "fail"]
    assert cor002[0]["suppression"] == {
        "kind": "inline",
        "reason": "legacy clients send it",
        "owner": None,
        "expires": None,
    }
    assert "matched no finding" not in err


def test_unused_inline_ignore_is_warned(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = demo / "apis" / "chat-finance" / "policy.xml"
    text = policy.read_text(encoding="utf-8").replace(
        "<inbound>", "<inbound>\n<!-- auditor: ignore[COV001] nothing to ignore -->", 1
    )
    policy.write_text(text, encoding="utf-8")
    _, _, err = scan(capsys, str(demo))
    assert "ignore[COV001] matched no finding" in err


def test_baseline_only_new_findings_fail(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "baseline.json"
    rc, _, _ = scan(capsys, str(demo), "--write-baseline", str(base))
    assert rc == 1 and base.is_file()
    rc, report, _ = scan(capsys, str(demo), "--baseline", str(base))
    assert rc == 0
    marked = [f for f in report["findings"] if f["suppression"]]
    assert marked and all(f["suppression"]["kind"] == "baseline" for f in marked)
    # baselined gaps are still gaps: verdicts do not change
    assert any(a["signals"].get("coverage") == "fail" for a in report["apis"])
    # a new gap fails again
    op = demo / "apis" / "responses-entra" / "policy.xml"
    op.write_text(
        op.read_text(encoding="utf-8").replace('exists-action="override"', 'exists-action="skip"'),
        "utf-8",
    )
    rc, _, _ = scan(capsys, str(demo), "--baseline", str(base))
    assert rc == 1


def test_bad_baseline_is_a_usage_error(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "b.json"
    bad.write_text("{}", encoding="utf-8")
    assert main(["scan", str(demo), "--baseline", str(bad)]) == 2
    assert "not an attribution-auditor baseline" in capsys.readouterr().err

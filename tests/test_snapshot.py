"""Snapshots replay an estate offline with exactly the same findings, and carry no secrets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from auditor import engine, rules, sources
from auditor.cli import main
from auditor.errors import SourceError
from auditor.report import to_dict
from auditor.sources import snapshot

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
CANARY = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def findings_of(path: Path, kind: str = "auto") -> dict:
    report = to_dict(engine.run(sources.load(path, kind=kind), rules.load()))
    return {"findings": report["findings"], "apis": report["apis"], "score": report["score"]}


def test_demo_snapshot_replays_identically(tmp_path: Path) -> None:
    snap = tmp_path / "estate.json"
    assert main(["snapshot", str(sources.demo_path()), "-o", str(snap)]) == 0
    assert findings_of(snap) == findings_of(sources.demo_path())
    assert CANARY not in snap.read_text(encoding="utf-8")


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_corpus_policies_replay_identically(tmp_path: Path) -> None:
    for policy in sorted((CORPUS / "policies").iterdir()):
        snap = tmp_path / f"{policy.name}.json"
        try:
            estate = sources.load(policy)
        except SourceError:
            continue  # unreadable: no estate to store (the CLI says so and exits 2)
        snap.write_text(snapshot.dumps(estate), encoding="utf-8")
        assert findings_of(snap) == findings_of(policy), policy.name


def test_literal_secrets_in_policies_are_redacted(tmp_path: Path) -> None:
    tree = tmp_path / "apim"
    shutil.copytree(sources.demo_path(), tree)
    policy = tree / "apis" / "chat-finance" / "policy.xml"
    policy.write_text(
        policy.read_text(encoding="utf-8").replace(
            "<inbound>",
            '<inbound>\n<set-header name="api-key" exists-action="override">'
            "<value>0123456789abcdef-literal-key</value></set-header>\n"
            '<authentication-basic username="svc" password="hunter2-literal" />',
            1,
        ),
        encoding="utf-8",
    )
    text = snapshot.dumps(sources.load(tree))
    assert "0123456789abcdef-literal-key" not in text
    assert "hunter2-literal" not in text
    assert "{{redacted}}" in text


def test_snapshot_is_detected_and_broken_ones_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snap = tmp_path / "estate.json"
    snap.write_text(snapshot.dumps(sources.load(sources.demo_path())), encoding="utf-8")
    assert sources.load(snap).source_kind == "apiops+bicep"
    broken = tmp_path / "broken.json"
    broken.write_text(
        '{"format": "attribution-auditor-snapshot", "version": 1,\n "resources": ', encoding="utf-8"
    )
    assert main(["scan", str(broken), "--source-type", "snapshot"]) == 2
    assert "broken.json:2" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something-else"}), encoding="utf-8")
    assert main(["scan", str(other), "--source-type", "snapshot"]) == 2

"""A large APIOps estate is read and audited in parts by forked workers, with the serial report.

The estate carries everything the parent has to merge: inline ignores in API policies,
unreadable documents at API and service level that no LLM API reports, unreadable files inside
LLM and non-LLM API folders, and a waiver.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from auditor import cli, parallel, partition, sources
from auditor.sources.parts import Part

COPIES = 25  # 9 demo APIs x 25 = 225 API folders, over the parallel threshold

needs_fork = pytest.mark.skipif(not parallel.can_fork(), reason="needs fork and a single thread")


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("split") / "contoso-ai-gateway"
    shutil.copytree(sources.demo_path(), tree, ignore=shutil.ignore_patterns("infra"))
    apis = tree / "apis"
    for folder in sorted(p for p in apis.iterdir() if ";rev=" not in p.name):
        for i in range(1, COPIES):
            shutil.copytree(folder, apis / f"{folder.name}-{i:02d}")
    ignored = (
        apis / "chat-missing-base-03" / "operations" / "chat-completions-create" / "policy.xml"
    )
    text = ignored.read_text(encoding="utf-8")
    ignored.write_text(
        text.replace("<policies>", "<policies>\n<!-- auditor: ignore[COV001] accepted -->", 1),
        encoding="utf-8",
    )
    (apis / "crm-05" / "policy.xml").write_text("<policies><inbound>\n", encoding="utf-8")
    (apis / "crm-06" / "apiInformation.json").write_text("{", encoding="utf-8")
    (apis / "usage-eventhub-07" / "apiInformation.json").write_text("{", encoding="utf-8")
    orphan = tree / "products" / "orphan-product"
    orphan.mkdir()
    (orphan / "productInformation.json").write_text('{"properties": {}}', encoding="utf-8")
    (orphan / "policy.xml").write_text("<policies><inbound></policies>\n", encoding="utf-8")
    waivers = tree.parent / "waivers.yaml"
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    waivers.write_text(
        "waivers:\n"
        "  - rule: COR002\n"
        "    target: embeddings-spoofable-1*\n"
        "    reason: test\n"
        "    owner: me\n"
        f"    expires: {expires}\n",
        encoding="utf-8",
    )
    return tree


def scan(tree: Path, out: Path, jobs: int) -> int:
    waivers = tree.parent / "waivers.yaml"
    args = [
        "scan",
        str(tree),
        "--format",
        "json",
        "-o",
        str(out),
        "--fail-on",
        "never",
        "--waivers",
        str(waivers),
        "--jobs",
        str(jobs),
    ]
    return cli.main(args)


@needs_fork
def test_split_scan_writes_the_serial_report(
    estate: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = partition.run

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["workers"])
        return real(*args, **kwargs)

    monkeypatch.setattr(partition, "run", spy)
    assert scan(estate, tmp_path / "serial.json", 1) == 0
    assert calls == []
    assert scan(estate, tmp_path / "split.json", 2) == 0
    assert calls == [2]
    serial = (tmp_path / "serial.json").read_bytes()
    assert (tmp_path / "split.json").read_bytes() == serial
    text = serial.decode("utf-8")
    # The merge had real work to do: each of these would be lost or doubled by a naive merge.
    assert '"kind": "inline"' in text
    assert '"kind": "waiver"' in text
    assert "products/orphan-product/policy.xml" in text
    assert "apis/crm-05/policy.xml" in text
    assert "apis/crm-06/apiInformation.json" in text
    assert "apis/usage-eventhub-07/apiInformation.json" in text


@needs_fork
def test_split_scan_from_the_command_line(estate: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.json"
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", "scan", str(estate), "-o", str(out), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr  # the unreadable documents fail the gate
    assert scan(estate, tmp_path / "serial.json", 1) == 0
    split = out.read_text(encoding="utf-8")
    serial = (tmp_path / "serial.json").read_text(encoding="utf-8")
    # Only the waiver differs (not given on this command line).
    assert split.count('"rule": ') == serial.count('"rule": ')
    assert split.count('"kind": "inline"') == serial.count('"kind": "inline"') == 1


def test_mixed_sources_and_small_estates_are_not_split(tmp_path: Path) -> None:
    # The demo holds APIOps and Bicep: the Bicep accounts must be seen by every API.
    assert sources.splittable(sources.demo_path()) is None
    apiops_only = tmp_path / "tree"
    shutil.copytree(sources.demo_path(), apiops_only, ignore=shutil.ignore_patterns("infra"))
    tree = sources.splittable(apiops_only)
    assert tree is not None
    assert tree.api_count() == 10
    assert not partition.wanted(tree, 2)


@needs_fork
def test_split_scan_of_a_repo_with_two_trees_and_workspaces(
    estate: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(estate, repo / "gateway-a" / "artifacts")
    shutil.copy(estate.parent / "waivers.yaml", tmp_path / "waivers.yaml")
    second = repo / "gateway-b" / "artifacts"
    shutil.copytree(sources.demo_path(), second, ignore=shutil.ignore_patterns("infra"))
    team = second / "workspaces" / "team-a"
    (team / "apis").mkdir(parents=True)
    for name in ("chat-finance", "crm", "usage-eventhub"):
        shutil.copytree(second / "apis" / name, team / "apis" / f"ws-{name}")
    (team / "policy.xml").write_text(
        "<policies><inbound><base /></inbound><backend><base /></backend>"
        "<outbound><base /></outbound><on-error><base /></on-error></policies>\n",
        encoding="utf-8",
    )
    calls: list[int] = []
    real = partition.run
    monkeypatch.setattr(
        partition, "run", lambda *a, **k: calls.append(k["workers"]) or real(*a, **k)
    )
    assert scan(repo, tmp_path / "serial.json", 1) == 0
    assert scan(repo, tmp_path / "split.json", 2) == 0
    assert calls == [2]
    serial = (tmp_path / "serial.json").read_text(encoding="utf-8")
    assert (tmp_path / "split.json").read_text(encoding="utf-8") == serial
    assert '"name": "ws-crm"' in serial and "gateway-b" in serial


def test_parts_share_out_every_api_once_and_the_merging_process_takes_a_little_more() -> None:
    names = [f"api-{i}" for i in range(40_000)]
    for count in (2, 3, 4):
        parts = [Part(i, count) for i in range(count)]
        folders = [[n for n in range(len(names)) if p.has(n)] for p in parts]
        apis = [[a for a in names if p.has_api(None, a)] for p in parts]
        for shares, every in ((folders, set(range(len(names)))), (apis, set(names))):
            assert set().union(*shares) == every
            assert sum(len(s) for s in shares) == len(every)  # so no API is in two shares
            sizes = [len(s) for s in shares]
            # Part 0 (the merging process) gets about a twentieth more than the others.
            assert 1.02 < sizes[0] * (count - 1) / sum(sizes[1:]) < 1.08, sizes


@needs_fork
def test_a_worker_that_dies_leaves_the_scan_to_one_process(
    estate: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert scan(estate, tmp_path / "serial.json", 1) == 0
    me = os.getpid()
    real = partition._audit_part

    def audit(*args: Any, **kwargs: Any) -> Any:
        if os.getpid() != me:
            os._exit(9)  # killed (out of memory, say) before sending anything
        return real(*args, **kwargs)

    monkeypatch.setattr(partition, "_audit_part", audit)
    engine_runs: list[int] = []
    real_run = partition.engine.run
    monkeypatch.setattr(
        partition.engine, "run", lambda *a, **k: engine_runs.append(1) or real_run(*a, **k)
    )
    assert scan(estate, tmp_path / "split.json", 2) == 0
    assert engine_runs == [1]
    assert (tmp_path / "split.json").read_bytes() == (tmp_path / "serial.json").read_bytes()

"""Reports as audit evidence: when the scan ran, the commit of the scanned checkout and whether
it had uncommitted changes, and for a replay the snapshot and its source; nothing else varies."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import METERED as POLICY
from support import run_auditor as run
from support import write

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "auditor" / "demo" / "contoso-ai-gateway"
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def checkout(tmp_path: Path) -> tuple[Path, str]:
    """A git checkout holding one policy file, committed; its folder and commit."""
    repo = tmp_path / "repo"
    write(repo / "policies" / "chat.xml", POLICY)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one policy")
    return repo, git(repo, "rev-parse", "HEAD")


def scan_json(cwd: Path, source: str | Path, **env: str) -> dict:
    proc = run("scan", source, "-o", "r.json", cwd=cwd, env=env)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads((cwd / "r.json").read_text("utf-8"))


@needs_git
def test_a_clean_checkout_gives_its_commit(tmp_path: Path) -> None:
    repo, commit = checkout(tmp_path)
    report = scan_json(tmp_path, "repo/policies")
    assert report["source"]["git"] == {"commit": commit, "dirty": False}
    for ext in ("md", "html"):
        run("scan", "repo/policies", "-o", f"r.{ext}", cwd=tmp_path)
        text = (tmp_path / f"r.{ext}").read_text("utf-8")
        assert f"git commit {commit} (no uncommitted changes)" in text


@needs_git
@pytest.mark.parametrize("change", ["modified", "untracked"])
def test_uncommitted_changes_are_said(tmp_path: Path, change: str) -> None:
    repo, commit = checkout(tmp_path)
    if change == "modified":
        write(repo / "policies" / "chat.xml", POLICY.replace('namespace="ai"', 'namespace="llm"'))
    else:
        write(repo / "policies" / "new.xml", POLICY)
    report = scan_json(tmp_path, "repo/policies")
    assert report["source"]["git"] == {"commit": commit, "dirty": True}
    run("scan", "repo/policies", "-o", "r.md", cwd=tmp_path)
    assert f"git commit {commit} (with uncommitted changes)" in (tmp_path / "r.md").read_text()


@needs_git
def test_without_git_the_commit_comes_from_the_checkout_and_changes_are_not_known(
    tmp_path: Path,
) -> None:
    repo, commit = checkout(tmp_path)
    empty = tmp_path / "bin"
    empty.mkdir()
    report = scan_json(tmp_path, "repo/policies", PATH=str(empty))
    assert report["source"]["git"] == {"commit": commit, "dirty": None}


def test_a_folder_outside_a_checkout_has_no_git_state(tmp_path: Path) -> None:
    write(tmp_path / "p.xml", POLICY)
    report = scan_json(tmp_path, "p.xml")
    assert "git" not in report["source"]


def test_the_bundled_demo_is_said_and_the_tool_checkout_is_not_its_commit(tmp_path: Path) -> None:
    report = scan_json(tmp_path, DEMO)
    assert report["source"]["bundled_demo"] is True and "git" not in report["source"]
    run("scan", DEMO, "-o", "r.md", cwd=tmp_path)
    assert "- Provenance: the bundled demo estate; scanned " in (tmp_path / "r.md").read_text()


def test_the_scan_time_is_now_and_nothing_else_differs(tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    first = scan_json(tmp_path, DEMO, SOURCE_DATE_EPOCH="")
    after = datetime.now(UTC)
    at = datetime.strptime(first["source"]["scanned_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= at <= after
    second = scan_json(tmp_path, DEMO, SOURCE_DATE_EPOCH="1")
    assert second["source"].pop("scanned_at") == "1970-01-01T00:00:01Z"
    first["source"].pop("scanned_at")
    assert first == second
    run("scan", DEMO, "-o", "a.md", cwd=tmp_path, env={"SOURCE_DATE_EPOCH": "1"})
    run("scan", DEMO, "-o", "b.md", cwd=tmp_path, env={"SOURCE_DATE_EPOCH": "2"})
    a, b = ((tmp_path / n).read_text("utf-8").splitlines() for n in ("a.md", "b.md"))
    assert [(x, y) for x, y in zip(a, b, strict=True) if x != y] == [
        (
            "- Provenance: the bundled demo estate; scanned 1970-01-01T00:00:01Z",
            "- Provenance: the bundled demo estate; scanned 1970-01-01T00:00:02Z",
        )
    ]


@needs_git
def test_a_replay_names_the_snapshot_and_the_source_it_was_taken_from(tmp_path: Path) -> None:
    repo, commit = checkout(tmp_path)
    taken = run(
        "snapshot", "repo/policies", "-o", "snap.json", cwd=tmp_path, env={"SOURCE_DATE_EPOCH": "5"}
    )
    assert taken.returncode == 0, taken.stderr
    # The checkout changes after the snapshot: the replay still gives the state it was taken in.
    write(repo / "policies" / "later.xml", POLICY)
    report = scan_json(tmp_path, "snap.json")
    source = report["source"]
    assert source["kind"] == "files" and source["location"] == "repo/policies"
    assert source["snapshot"] == {"file": "snap.json", "taken_at": "1970-01-01T00:00:05Z"}
    assert source["git"] == {"commit": commit, "dirty": False}
    run("scan", "snap.json", "-o", "r.html", cwd=tmp_path)
    html = (tmp_path / "r.html").read_text("utf-8")
    assert "replayed from snapshot snap.json, taken 1970-01-01T00:00:05Z" in html
    assert f"git commit {commit} (no uncommitted changes)" in html

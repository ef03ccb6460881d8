"""Where a report comes from, for audit evidence: when the scan ran and, when the scanned folder
is in a git checkout, its commit and whether it had uncommitted changes.

Everything else in a report is deterministic; these fields are the only ones that change
between two scans of the same input. ``SOURCE_DATE_EPOCH`` (the reproducible-builds
convention) pins the scan time, so a pipeline can make reports byte-identical on purpose.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: Seconds a git query may take; a checkout on a slow disk is still answered, a hung one is not
#: waited for (the report then says the state is unknown).
GIT_TIMEOUT = 20.0


def scan_time() -> str:
    """Now (or ``SOURCE_DATE_EPOCH``) in UTC, to the second: ``2026-12-07T21:12:00Z``."""
    pinned = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    moment = datetime.now(UTC)
    if pinned.isdigit():
        moment = datetime.fromtimestamp(int(pinned), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def git_state(path: Path) -> dict[str, Any] | None:
    """The commit of the git checkout holding ``path`` and whether ``path`` has uncommitted
    changes (tracked or untracked files below it); None when it is not in a checkout.

    ``commit`` is None in a checkout with no commit yet; ``dirty`` is None when git could not
    say (git not installed, the checkout not trusted by git, a timeout).
    """
    import shutil

    folder = path if path.is_dir() else path.parent
    top = _checkout(folder.resolve())
    if top is None:
        return None
    git = shutil.which("git")
    if git is None:
        return {"commit": _head_from_files(top), "dirty": None}
    commit = _git(git, folder, "rev-parse", "--verify", "-q", "HEAD")
    status = _git(git, folder, "status", "--porcelain", "--untracked-files=normal", "--", ".")
    if commit is None and status is None:
        return {"commit": _head_from_files(top), "dirty": None}
    return {"commit": commit or None, "dirty": None if status is None else bool(status)}


def _checkout(folder: Path) -> Path | None:
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _git(git: str, folder: Path, *args: str) -> str | None:
    """git's output, or None when it fails.

    NOTE: read-only and inert on a checkout someone else prepared: no optional locks (status
    would otherwise refresh the index), no fsmonitor hook (a repository's config could name a
    program to run), no pager, no terminal prompt.
    """
    import subprocess

    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        proc = subprocess.run(
            [git, "-c", "core.fsmonitor=false", "--no-pager", *args],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _head_from_files(top: Path) -> str | None:
    """HEAD's commit read from the files of ``.git`` (for a machine without git)."""
    dot = top / ".git"
    try:
        if dot.is_file():  # a worktree or submodule: "gitdir: <path>"
            dot = (top / dot.read_text("utf-8").split(":", 1)[1].strip()).resolve()
        head = (dot / "HEAD").read_text("utf-8").strip()
        if not head.startswith("ref: "):
            return head or None
        ref = head[5:]
        for base in (dot, _common_dir(dot)):
            loose = base / ref
            if loose.is_file():
                return loose.read_text("utf-8").strip() or None
            packed = base / "packed-refs"
            if packed.is_file():
                for line in packed.read_text("utf-8").splitlines():
                    if line.endswith(" " + ref):
                        return line.split(" ", 1)[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    return None


def _common_dir(dot: Path) -> Path:
    try:
        return (dot / (dot / "commondir").read_text("utf-8").strip()).resolve()
    except OSError:
        return dot


def describe(source: dict[str, Any]) -> list[str]:
    """The provenance of a report's ``source`` as short phrases, for the Markdown and HTML
    headers: when it ran, the commit, and the snapshot it was replayed from."""
    out = []
    if source.get("bundled_demo") and "bundled demo" not in str(source.get("location")):
        out.append("the bundled demo estate")
    if source.get("scanned_at"):
        out.append(f"scanned {source['scanned_at']}")
    git = source.get("git")
    if isinstance(git, dict):
        commit = git.get("commit") or "no commit yet"
        dirty = git.get("dirty")
        state = (
            "with uncommitted changes"
            if dirty
            else "no uncommitted changes"
            if dirty is False
            else "uncommitted changes not known"
        )
        out.append(f"git commit {commit} ({state})")
    snap = source.get("snapshot")
    if isinstance(snap, dict):
        taken = f", taken {snap['taken_at']}" if snap.get("taken_at") else ""
        out.append(f"replayed from snapshot {snap.get('file')}{taken}")
    return out

"""Where APIOps artifacts are: the folders that mark an extractor tree's root.

NOTE: kept apart from the APIOps reader, so that detecting a source loads nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

_MARKERS = ("apis", "products", "policy fragments", "loggers", "diagnostics", "backends")
#: Folders of an artifacts root that hold APIOps resources (and nothing else).
COLLECTIONS = (
    *_MARKERS,
    "named values",
    "subscriptions",
    "tags",
    "version sets",
    "gateways",
    "groups",
    "workspaces",
)


def looks_like_root(folder: Path) -> bool:
    """True when ``folder`` holds APIOps artifacts."""
    if not folder.is_dir():
        return False
    markers = sum((folder / m).is_dir() for m in _MARKERS)
    return (
        markers >= 2
        or ((folder / "apis").is_dir() and (folder / "policy.xml").is_file())
        or (markers >= 1 and (folder / "policy.xml").is_file())
    )


def find_roots(folder: Path, max_depth: int = 4) -> list[Path]:
    """Artifact roots at or below ``folder`` (not descending into a root once found)."""
    if looks_like_root(folder):
        return [folder]
    roots: list[Path] = []
    if max_depth == 0:
        return roots
    try:
        # NOTE: directory entries: a Terraform repository may hold thousands of policy files,
        # and a stat call for each of them doubled the time to detect the source.
        with os.scandir(folder) as it:
            names = sorted(e.name for e in it if _real_folder(e))
    except OSError:
        return roots
    for name in names:
        if name.startswith(".") or name in ("node_modules", "__pycache__"):
            continue
        roots.extend(find_roots(folder / name, max_depth - 1))
    return roots


def _real_folder(entry: os.DirEntry[str]) -> bool:
    """A folder, not a link to one."""
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False

"""Sources: everything that turns something on disk into an Estate.

``load`` detects what a path holds (APIOps trees, ARM templates, Bicep, Terraform, a snapshot or a
single policy file) unless told. A folder may hold several kinds (APIOps for the APIs, Bicep for
the Azure OpenAI accounts): they are combined into one estate, and the estate's notes say what was
used. Source modules are imported only when needed.
"""

from __future__ import annotations

import os
from pathlib import Path

from auditor.errors import SourceError
from auditor.model import Estate
from auditor.sources.parts import Splittable

KINDS = ("apiops", "arm", "bicep", "terraform", "snapshot", "file")


def demo_path() -> Path:
    """The bundled demo APIOps estate."""
    return Path(__file__).resolve().parents[1] / "demo" / "contoso-ai-gateway"


DEMO_NAME = "bundled demo estate"
"""How the demo is named to a reader: its folder is inside the installed package, a path that
differs per machine and says nothing about what it is."""
DEMO_LOCATION = f"{DEMO_NAME} (contoso-ai-gateway)"
"""The demo's ``source.location`` in reports."""


def is_demo(path: str | Path) -> bool:
    """True for the bundled demo's folder, however it is spelled."""
    try:
        return Path(path).resolve() == demo_path()
    except (OSError, ValueError, RuntimeError):
        return False


#: The ``format`` of a snapshot file (see :mod:`.snapshot`), told here from its first bytes so
#: that a policy-file scan does not import the IaC readers.
SNAPSHOT_FORMAT = "attribution-auditor-snapshot"


def is_snapshot(path: Path) -> bool:
    """True for a file whose start declares the snapshot format."""
    try:
        with path.open("rb") as fh:
            head = fh.read(256)
    except OSError:
        return False
    return SNAPSHOT_FORMAT.encode() in head


def _file_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if is_snapshot(path):
        return "snapshot"
    if suffix == ".tf":
        return "terraform"
    if suffix == ".bicep":
        return "bicep"
    if suffix == ".json":
        return "arm"
    return "file"


def _load_one(kind: str, path: Path, include_revisions: bool) -> Estate:
    if kind == "file":
        from auditor.sources import single

        if path.is_dir():
            files = single.policy_files(path)
            if not files:
                raise SourceError(f"{path}: a folder with no policy files (.xml) in it")
            return single.load_folder(path, files)
        return single.load(path)
    return _prepare(kind, path, include_revisions).estate()


def _prepare(kind: str, path: Path, include_revisions: bool) -> Splittable:
    """A source of one kind, read as far as it is before a split (see :mod:`.parts`)."""
    if kind == "apiops":
        from auditor.sources import apiops

        return apiops.Tree(path, include_revisions)
    if kind == "snapshot":
        from auditor.sources import snapshot

        return snapshot.prepare(path)
    if kind == "arm":
        from auditor.sources import arm

        return arm.prepare(path)
    if kind == "bicep":
        from auditor.sources import bicep

        return bicep.prepare(path)
    if kind == "terraform":
        from auditor.sources import terraform

        return terraform.prepare(path)
    raise SourceError(f"unknown source type '{kind}'")


def _kinds_in(folder: Path) -> list[str]:
    """The kinds of IaC a folder holds (APIOps first)."""
    from auditor.sources import layout

    found = []
    roots = layout.find_roots(folder)
    if roots:
        found.append("apiops")
    # NOTE: APIOps collection folders hold thousands of JSON files that are never templates.
    skip = {root / name for root in roots for name in layout.COLLECTIONS}
    files = _walk(folder, skip=skip)
    if any(p.suffix.lower() == ".json" and _is_template(p) for p in files):
        found.append("arm")
    if any(p.suffix.lower() == ".bicep" for p in files):
        found.append("bicep")
    if any(p.suffix.lower() == ".tf" for p in files):
        found.append("terraform")
    return found


def _walk(
    folder: Path, depth: int = 8, skip: frozenset[Path] | set[Path] = frozenset()
) -> list[Path]:
    """The ARM, Bicep and Terraform candidates below ``folder`` (no links, no hidden folders).

    NOTE: directory entries, not paths: a Terraform repo may hold thousands of policy files,
    and three stat calls for each of them took longer than the scan's own start-up.
    """
    out: list[Path] = []
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if _wanted(e)]
    except OSError:
        return out
    for e in sorted(entries, key=lambda e: e.name):
        if e.is_dir(follow_symlinks=False):
            if depth > 0 and Path(e.path) not in skip:
                out += _walk(Path(e.path), depth - 1, skip)
        else:
            out.append(Path(e.path))
    return out


def _wanted(e: os.DirEntry[str]) -> bool:
    """A folder to enter or a candidate file; hidden names and links are left out."""
    if e.name.startswith(".") or e.name in ("node_modules", "__pycache__"):
        return False
    try:
        if e.is_symlink():
            return False
        if e.is_dir(follow_symlinks=False):
            return True
        return e.name.lower().endswith(_CANDIDATES) and e.is_file(follow_symlinks=False)
    except OSError:
        return False


_CANDIDATES = (".json", ".bicep", ".tf")


def _is_template(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return False
    return "deploymentTemplate.json" in head or (
        '"resources"' in head and '"contentVersion"' in head
    )


def splittable(
    path: Path,
    *,
    kind: str = "auto",
    include_revisions: bool = False,
) -> Splittable | None:
    """``path`` read as far as it can be before a split, when it holds a single kind of source
    that can be loaded in parts (anything but a policy file); None otherwise, and when it is
    not a file or folder (:func:`load` then says why). Raises SourceError as :func:`load` does.
    """
    if not (path.is_dir() or path.is_file()):
        return None
    if kind == "auto" and path.is_file():
        kind = _file_kind(path)
    elif kind == "auto":
        kinds = _kinds_in(path)
        kind = kinds[0] if len(kinds) == 1 else "mixed"
    if kind not in ("apiops", "arm", "bicep", "terraform", "snapshot"):
        return None
    if kind == "apiops" and not path.is_dir():
        return None
    return _prepare(kind, path, include_revisions)


def load(path: Path, *, kind: str = "auto", include_revisions: bool = False) -> Estate:
    """Load ``path`` as ``kind`` (``auto``: detect; a folder may combine several kinds)."""
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if not (path.is_dir() or path.is_file()):
        raise SourceError(f"{path}: not a regular file or folder")
    if kind != "auto":
        return _load_one(kind, path, include_revisions)
    if path.is_file():
        return _load_one(_file_kind(path), path, include_revisions)
    kinds = _kinds_in(path)
    if not kinds:
        from auditor.sources import single

        # NOTE: a folder of loose policy files (an export, a review folder) is each of them
        # as a single-file source, in one report.
        files = single.policy_files(path)
        if files:
            return single.load_folder(path, files)
        raise SourceError(
            f"{path}: no APIOps artifacts, ARM templates, Bicep or Terraform files, nor policy "
            "files (.xml), found (use --source-type to say what it is)"
        )
    estates = [_load_one(k, path, include_revisions) for k in kinds]
    return estates[0] if len(estates) == 1 else combine(estates, str(path))


def _contents(estate: Estate) -> str:
    parts = [
        (len(estate.services), "APIM service(s)"),
        (sum(len(s.apis) for s in estate.services), "API(s)"),
        (len(estate.ai_accounts), "Azure OpenAI account(s)"),
        (len(estate.diagnostic_settings), "diagnostic setting(s)"),
        (len(estate.app_insights), "Application Insights"),
    ]
    return ", ".join(f"{n} {what}" for n, what in parts if n) or "nothing the rules read"


def combine(estates: list[Estate], location: str) -> Estate:
    """One estate from several sources of the same repo; what each saw stays visible in notes."""
    services = tuple(s for e in estates for s in e.services)
    names = [s.name for s in services]
    notes = [f"used {e.source_kind}: {_contents(e)}" for e in estates]
    if len(set(names)) < len(names):
        notes.append("the same service name appears in several sources; each is audited as found")
    provides = frozenset().union(*(e.provides for e in estates))
    return Estate(
        "+".join(e.source_kind for e in estates),
        location,
        services,
        provides,
        tuple(err for e in estates for err in e.read_errors),
        tuple(a for e in estates for a in e.ai_accounts),
        tuple(d for e in estates for d in e.diagnostic_settings),
        tuple(c for e in estates for c in e.app_insights),
        tuple(n for e in estates for n in e.notes) + tuple(notes),
    )


__all__ = ["KINDS", "combine", "demo_path", "load", "splittable"]

"""Sources: everything that turns something on disk into an Estate."""

from __future__ import annotations

from pathlib import Path

from auditor.errors import SourceError
from auditor.model import Estate


def load(path: Path, *, include_revisions: bool = False) -> Estate:
    """Detect the kind of source at ``path`` and load it."""
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if path.is_dir():
        from auditor.sources import apiops

        return apiops.load(path, include_revisions=include_revisions)
    if path.is_file():
        from auditor.sources import single

        return single.load(path)
    raise SourceError(f"{path}: not a regular file or folder")


def demo_path() -> Path:
    """The bundled demo APIOps estate."""
    return Path(__file__).resolve().parents[1] / "demo" / "contoso-ai-gateway"

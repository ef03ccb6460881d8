"""Bicep files as an estate: parsed with tree-sitter-bicep (:mod:`.parse`), evaluated per
deployment (:mod:`.evaluate`), lowered to the ARM-shaped resources every IaC source shares.

No Bicep compiler runs offline; what a deployment would compute and this reader cannot (a
registry module, ``resourceGroup().name``) stays unknown, with a note at its file:line. A file
that does not parse is read around its syntax errors; a file over the size limit, or whose
evaluation runs over its budget, is a read error at its file and the scan goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.model import Estate, ReadError
from auditor.sources import resources
from auditor.sources.bicep.evaluate import Source
from auditor.sources.iac import files
from auditor.sources.iac.lower import pin_embedded


def find_files(path: Path) -> list[Path]:
    """The ``.bicep`` files at or below ``path`` (see :func:`iac.files.find_files`)."""
    return files.find_files(path, (".bicep",))


def read(path: Path) -> Source:
    """Every deployment of the Bicep files at ``path`` (a file or a folder), evaluated."""
    files = find_files(path)
    src = Source((path if path.is_dir() else path.parent).resolve())
    used = {m for f in files for m in src.modules_of(f)}
    # A file another file uses as a module is read through that module, with its parameters.
    for file in [f for f in files if f.resolve() not in used] or files:
        src.run_root(file)
    pin_embedded(src.sink.out, src.texts)
    return src


def load_resources(path: Path) -> tuple[list[dict[str, Any]], list[ReadError], list[str]]:
    """ARM-shaped resources of every deployment at ``path``, read errors, and notes."""
    src = read(path)
    return src.sink.out, src.errors, list(dict.fromkeys(src.sink.notes))


def prepare(path: Path) -> resources.Loaded:
    """The Bicep files at ``path`` (a file or a folder), evaluated but not yet built."""
    files.require(path, find_files(path), ".bicep files")
    src = read(path)
    return src.loaded("bicep", str(path), list(dict.fromkeys(src.sink.notes)))


def load(path: Path) -> Estate:
    """Load the Bicep files at ``path`` (a file or a folder) as an estate."""
    return prepare(path).estate()

"""Terraform configurations (azurerm 3.x to 5.x and azapi) as an estate: parsed with
tree-sitter-hcl (:mod:`.parse`), evaluated per root module (:mod:`.evaluate`) with Terraform's
functions (:mod:`.functions`), lowered to the ARM-shaped resources every IaC source shares
(:mod:`.mapping`).

Nothing is planned or applied. What a plan would compute and this reader cannot (a registry
module, a data source, an attribute Azure sets) stays unknown, with its file:line; a file with a
syntax error is read around it; a file over the size limit, or a deployment whose evaluation
runs over its budget, is a read error and the scan goes on. Secrets (keys, connection strings,
named-value values, sensitive variables) are never read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.model import CAPABILITIES, Estate, ReadError, ordered_notes
from auditor.sources import resources
from auditor.sources.iac import files
from auditor.sources.iac.lower import pin_embedded
from auditor.sources.terraform.evaluate import MAX_TF_BYTES, Source

#: What a Terraform configuration can show (what it does show is what it declares).
PROVIDES = frozenset(CAPABILITIES)


def find_files(path: Path) -> list[Path]:
    """The ``.tf`` files at or below ``path`` (see :func:`iac.files.find_files`)."""
    if path.is_file():
        return [path] if path.name.endswith(".tf") else []
    return files.find_files(path, (".tf",))


def read(path: Path) -> Source:
    """Every deployment (root module) of the Terraform files at ``path``, evaluated."""
    single = path.is_file()
    src = Source((path.parent if single else path).resolve(), only=path if single else None)
    src.run(find_files(path))
    pin_embedded(src.sink.out, src.texts)
    return src


def load_resources(path: Path) -> tuple[list[dict[str, Any]], list[ReadError], list[str]]:
    """ARM-shaped resources of every deployment at ``path``, read errors, and notes."""
    src = read(path)
    return src.sink.out, src.errors, ordered_notes(src.sink.notes)


def prepare(path: Path) -> resources.Loaded:
    """The Terraform configuration at ``path`` (a folder or one ``.tf`` file), evaluated but
    not yet built."""
    files.require(path, find_files(path), "Terraform (*.tf) files")
    src = read(path)
    return src.loaded("terraform", str(path), ordered_notes(src.sink.notes))


def load(path: Path) -> Estate:
    """Load the Terraform configuration at ``path`` (a folder or one ``.tf`` file)."""
    return prepare(path).estate()


__all__ = ["MAX_TF_BYTES", "PROVIDES", "find_files", "load", "load_resources", "prepare"]

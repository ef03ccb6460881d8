"""Signal checks. Importing this package registers every check (the explicit registration list)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def registry() -> dict[str, Callable[..., Any]]:
    """Import every check module and return the rule id -> check function map."""
    from auditor.checking import REGISTRY
    from checks import correlation, coverage, identity, measured, streaming  # noqa: F401

    return REGISTRY

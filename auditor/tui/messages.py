"""App-level messages: the load worker reports back with these (Harlequin's worker + message)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class ReportLoaded(Message):
    """``load()`` returned; the app swaps the report in."""

    report: dict[str, Any]
    seconds: float


@dataclass
class LoadFailed(Message):
    """``load()`` raised; the app keeps the previous report, if any, and says why."""

    error: str


@dataclass
class ExportDone(Message):
    """The export worker wrote ``path`` (or failed with ``error``)."""

    path: str
    error: str | None = None

"""The API x signal matrix as CSV, for spreadsheets and FinOps tooling.

Header ``service,api,llm,coverage,identity,streaming,correlation``; one row per API in report
order; ``llm`` is ``true`` or ``false``; verdicts are ``pass``, ``fail`` or ``unknown``, and empty
for APIs not judged (no LLM evidence). RFC 4180 quoting by the csv module, ``\\n`` line endings.
Values are written as they are (no spreadsheet-formula escaping), so the file parses back exactly.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from auditor.rules import SIGNALS

HEADER = ("service", "api", "llm", *SIGNALS)


def rows(report: dict[str, Any]) -> list[dict[str, str]]:
    """One dict per API, keyed by ``HEADER``."""
    return [
        {
            "service": str(a["service"] or ""),
            "api": str(a["name"]),
            "llm": "true" if a["llm"] else "false",
        }
        | {s: str(a["signals"].get(s, "")) if a["llm"] else "" for s in SIGNALS}
        for a in report["apis"]
    ]


def render(report: dict[str, Any]) -> str:
    """The matrix as CSV text."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(report))
    return buf.getvalue()

"""The JSON report (schema_version 1): stable key order, LF line endings."""

from __future__ import annotations

import json
from typing import Any


def render(report: dict[str, Any]) -> str:
    """Serialize the report; key order is the schema's, list order is the engine's (stable)."""
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"

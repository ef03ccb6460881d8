"""The JSON report (schema_version 1): stable order, one finding or API per line, LF endings.

NOTE: ``json.dumps(indent=...)`` falls back to the pure-Python encoder, which dominated the time of
large reports; lists of records are written one compact record per line instead, which is as
easy to diff and many times faster.
"""

from __future__ import annotations

import json
from typing import Any

#: One encoder for every record: ``json.dumps`` with options builds a new one per call.
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


def _value(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        rows = ",\n    ".join(map(_ENCODE, value))
        return "[\n    " + rows + "\n  ]"
    return _ENCODE(value)


def render(report: dict[str, Any]) -> str:
    """Serialize the report; key order is the schema's, list order is the engine's (stable)."""
    body = ",\n".join(f"  {json.dumps(k)}: {_value(v)}" for k, v in report.items())
    return "{\n" + body + "\n}\n"

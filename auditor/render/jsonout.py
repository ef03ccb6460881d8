"""The JSON report (schema_version 1): stable order, one finding or API per line, LF endings.

NOTE: ``json.dumps(indent=...)`` falls back to the pure-Python encoder, which dominated the time of
large reports; lists of records are written one compact record per line instead, which is as
easy to diff and many times faster.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def _not_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


def _encoder() -> Callable[[Any], str]:
    """One record to JSON text, ``ensure_ascii`` off and no cycle check (plain data).

    NOTE: ``JSONEncoder.encode`` builds a new C encoder for every call; a report has tens of
    thousands of records, so CPython's C encoder is built once here (the standard encoder where
    the json module has none).
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - not CPython
        return json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
    one = make(
        None, _not_json, json.encoder.encode_basestring, None, ": ", ", ", False, False, True
    )
    return lambda value: "".join(one(value, 0))


_ENCODE = _encoder()


def render(report: dict[str, Any]) -> str:
    """Serialize the report; key order is the schema's, list order is the engine's (stable)."""
    # NOTE: a large report is tens of megabytes; its pieces are joined once, not copied into
    # ever longer strings (each copy of that size costs thousands of page faults).
    parts = ["{\n"]
    for n, (key, value) in enumerate(report.items()):
        parts.append((",\n  " if n else "  ") + _ENCODE(key) + ": ")
        if key == "usage" and isinstance(value, dict):
            from auditor.usage.measured import dumps

            # NOTE: the measured figures keep one record (and allocation row) per line too.
            parts.append(dumps(value, 1))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            parts.append("[\n    ")
            for i, record in enumerate(value):
                if i:
                    parts.append(",\n    ")
                parts.append(_ENCODE(record))
            parts.append("\n  ]")
        else:
            parts.append(_ENCODE(value))
    parts.append("\n}\n")
    return "".join(parts)

"""Operations from an APIOps ``specification.{json,yaml,yml}`` file (OpenAPI 2 or 3)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from auditor.model import Location, Operation, ReadError
from auditor.policy import read_bounded
from auditor.xmlread import PolicyReadError

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_SPEC_BYTES = 16 * 1024 * 1024
#: YAML aliases multiply content (the "billion laughs" of YAML); real specs use few.
MAX_YAML_ALIASES = 200


def _load(file: Path) -> Any:
    text = read_bounded(file, MAX_SPEC_BYTES).decode("utf-8-sig")
    if file.suffix == ".json":
        return json.loads(text)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if "*" in text:
        aliases = sum(
            isinstance(t, yaml.AliasToken) for t in yaml.scan(text, Loader=yaml.SafeLoader)
        )
        if aliases > MAX_YAML_ALIASES:
            raise ValueError(f"{aliases} YAML aliases (limit {MAX_YAML_ALIASES}); refused")
    return yaml.load(text, Loader=loader)


def read_operations(
    api_folder: Path, shown: Callable[[Path], str], errors: list[ReadError]
) -> list[Operation]:
    """Operations declared in the API's specification file (empty when there is none)."""
    for name in ("specification.json", "specification.yaml", "specification.yml"):
        file = api_folder / name
        if file.is_file():
            break
    else:
        return []
    try:
        spec = _load(file)
    except json.JSONDecodeError as exc:
        errors.append(ReadError(Location(shown(file), exc.lineno), f"invalid JSON: {exc.msg}"))
        return []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        errors.append(ReadError(Location(shown(file), line), f"invalid YAML: {exc}".split("\n")[0]))
        return []
    except (OSError, UnicodeDecodeError, ValueError, PolicyReadError) as exc:
        errors.append(ReadError(Location(shown(file)), f"cannot read specification: {exc}"))
        return []
    paths = spec.get("paths") if isinstance(spec, dict) else None
    if not isinstance(paths, dict):
        return []
    ops: dict[str, Operation] = {}
    for template, item in paths.items():
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            op_id = str(op.get("operationId") or f"{method}-{template}")
            ops[op_id] = Operation(op_id, method.upper(), str(template), None)
    return list(ops.values())

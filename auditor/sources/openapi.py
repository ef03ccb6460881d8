"""Operations from an APIOps ``specification.{json,yaml,yml}`` file (OpenAPI 2 or 3)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from auditor.bounded import PolicyReadError, read_bounded
from auditor.model import Location, Operation, ReadError

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_SPEC_BYTES = 16 * 1024 * 1024
#: YAML aliases multiply content (the "billion laughs" of YAML); real specs use few.
MAX_YAML_ALIASES = 200


_KEY = re.compile(r"""^( *)(?:'([^']*)'|"([^"]*)"|([^\s:#'"][^:#]*?)) *:(?: +(.*?))? *$""")


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


#: What makes quick_operations give up anywhere in a text (the cached path checks it on the
#: whole text, since only the paths block goes to its cache).
_UNUSUAL = re.compile(r"\t|\n---|<<:")


def quick_operations(text: str) -> list[tuple[str, str, str]] | None:
    """(operationId, METHOD, path) from block-style YAML, or None when the text needs a full parse.

    NOTE: building the whole YAML tree costs ~2 ms a spec (most of a large scan); only the
    paths -> method -> operationId skeleton is needed. Anything unusual (flow style, anchors,
    tabs, multi-document) falls back to the full parser.
    """
    if _UNUSUAL.search(text):
        return None
    out: list[tuple[str, str, str]] = []
    in_paths = False
    path_indent = method_indent = -1
    path = method = ""
    named = False
    child_indent = -1

    def flush() -> None:
        if method and not named:
            out.append((f"{method}-{path}", method.upper(), path))

    for raw in text.splitlines():
        body = raw.lstrip()
        if not body or body.startswith(("#", "- ")):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        # Only top-level keys and the paths -> method -> field skeleton matter (most of a spec
        # is schemas and examples, deeper down).
        if indent and (not in_paths or 0 <= child_indent < indent):
            continue
        m = _KEY.match(raw)
        if m is None:
            continue
        key = next(g for g in (m.group(2), m.group(3), m.group(4)) if g is not None)
        value = m.group(5) or ""
        if indent == 0:
            if in_paths:
                flush()
                method = ""
            in_paths = key == "paths"
            if in_paths and value:
                return None
            path_indent = method_indent = -1
            continue
        if not in_paths:
            continue
        if path_indent < 0 or indent == path_indent:
            if value:
                return None
            flush()
            path_indent, path, method, method_indent = indent, key, "", -1
        elif indent < path_indent:
            return None
        elif method_indent < 0 or indent == method_indent:
            if value:
                return None
            flush()
            method_indent, named, child_indent = indent, False, -1
            method = key.lower() if key.lower() in _METHODS else ""
        elif child_indent < 0 or indent == child_indent:
            child_indent = indent
            if not (method and not named and key == "operationId" and value):
                continue
            if value.startswith(("&", "*", "{", "[", "|", ">")):
                return None
            out.append((_unquote(value), method.upper(), path))
            named = True
    if in_paths:
        flush()
    return out


def _parse(text: str, suffix: str) -> Any:
    if suffix == ".json":
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
        text = read_bounded(file, MAX_SPEC_BYTES).decode("utf-8-sig")
        found = _operations(text, file.suffix)
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
    return [Operation(op_id, method, path, None) for op_id, method, path in found]


def _operations(text: str, suffix: str) -> tuple[tuple[str, str, str], ...]:
    """(operationId, METHOD, path) of a specification's text; raises on unreadable text."""
    if len(text) <= _CACHED_SPEC:
        return _operations_cached(text, suffix)
    return _read_operations(text, suffix)


#: NOTE: teams import the same OpenAPI document for many APIs (one per team or region); it is
#: read once per text. Bounded: 64 specs of at most 1 MiB.
_CACHED_SPEC = 1024 * 1024


def _read_operations(text: str, suffix: str) -> tuple[tuple[str, str, str], ...]:
    quick: Sequence[tuple[str, str, str]] | None = None
    if suffix != ".json":
        block = _paths_block(text)
        if block is not None and len(block) <= _CACHED_BLOCK and not _UNUSUAL.search(text):
            quick = _quick_cached(block)
        else:
            quick = quick_operations(text)
    if quick is not None:
        return tuple({q[0]: q for q in quick}.values())
    spec = _parse(text, suffix)
    paths = spec.get("paths") if isinstance(spec, dict) else None
    if not isinstance(paths, dict):
        return ()
    ops: dict[str, tuple[str, str, str]] = {}
    for template, item in paths.items():
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            op_id = str(op.get("operationId") or f"{method}-{template}")
            ops[op_id] = (op_id, method.upper(), str(template))
    return tuple(ops.values())


_operations_cached = functools.lru_cache(maxsize=64)(_read_operations)

#: A line at the top level that quick_operations reads as a key (not a comment or list item).
_TOP_LINE = re.compile(r"(?<=\n)(?![ #\n]|- )[^\n]+")
_CACHED_BLOCK = 256 * 1024


def _paths_block(text: str) -> str | None:
    """The top-level ``paths:`` block: all quick_operations reads of a block-style spec.

    NOTE: specs imported per team or region differ in their ``info`` and ``servers`` but share
    their paths, so the skeleton is read once per distinct paths block. None when the block
    cannot be cut out exactly as quick_operations would see it (no plain ``paths:`` key, a
    quoted one, or two).
    """
    start = 0 if text.startswith("paths:") else text.find("\npaths:") + 1
    if start == 0 and not text.startswith("paths:"):
        return None
    if text.find("\npaths:", start + 1) >= 0 or "\n'paths'" in text or '\n"paths"' in text:
        return None
    for line in _TOP_LINE.finditer(text, start + 1):
        if _KEY.match(line.group()):  # the next top-level key ends the block
            return text[start : line.start()]
    return text[start:]


def _quick(block: str) -> tuple[tuple[str, str, str], ...] | None:
    found = quick_operations(block)
    return None if found is None else tuple(found)


_quick_cached = functools.lru_cache(maxsize=64)(_quick)

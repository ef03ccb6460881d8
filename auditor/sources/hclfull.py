"""python-hcl2, for what :mod:`hclquick` hands over: blocks it does not read, files whose top
level it does not read, and ``jsonencode()`` arguments.

NOTE: imported only when needed: python-hcl2 and Lark take about 40 ms to import, a tenth of
the Terraform scan of 1,000 APIs, whose plain blocks never need them.
"""

from __future__ import annotations

import re
from typing import Any

import hcl2
from hcl2.rules.base import AttributeRule, BlockRule
from lark.exceptions import LarkError

#: What python-hcl2 raises on invalid or hostile input (LarkError carries the line).
FAILURES = (LarkError, RecursionError, ValueError, TypeError, AttributeError, KeyError)
# NOTE: v8 defaults keep quotes and add __is_block__/comment keys. Heredocs are kept raw (with
# their markers) so that they can be told from quoted strings and found in the file.
_OPTS = hcl2.SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False, preserve_heredocs=True
)
#: Labels, serialized body, (line, offset) of each argument, offset and line of a block.
BlockTuple = tuple[list[str], dict[str, Any], dict[str, tuple[int, int]], int, int]


def parse_all(text: str) -> list[BlockTuple]:
    """Every top-level block of a whole file; raises one of :data:`FAILURES`."""
    return [block(b, text) for b in hcl2.parses(text).body.children if isinstance(b, BlockRule)]


def parse_span(text: str, start: int, end: int, line: int) -> list[BlockTuple]:
    """The blocks of ``text[start:end]`` (which starts on ``line``), placed in the file."""
    part = text[start:end]
    out: list[BlockTuple] = []
    for b in hcl2.parses(part).body.children:
        if isinstance(b, BlockRule):
            labels, body, attrs, offset, first = block(b, part)
            shifted = {k: (ln + line - 1, o + start) for k, (ln, o) in attrs.items()}
            out.append((labels, body, shifted, offset + start, first + line - 1))
    return out


def block(b: BlockRule, text: str) -> BlockTuple:
    """One block as :data:`BlockTuple`, ``jsonencode()`` arguments read from ``text``."""
    labels = [str(lb.serialize(_OPTS)) for lb in b.labels]
    body: dict[str, Any] = b.body.serialize(_OPTS)
    attrs: dict[str, tuple[int, int]] = {}
    for a in b.body.children:
        if isinstance(a, AttributeRule):
            meta, key = a.expression._meta, str(a.identifier.serialize(_OPTS))
            attrs[key] = (getattr(meta, "line", 0), getattr(meta, "start_pos", 0))
            value = body.get(key)
            if isinstance(value, str) and value.startswith("${jsonencode("):
                body[key] = jsonencode(value, text[attrs[key][1] : getattr(meta, "end_pos", 0)])
    meta = b._meta
    return labels, body, attrs, getattr(meta, "start_pos", 0), getattr(meta, "line", 1)


def jsonencode(value: str, written: str) -> Any:
    """``jsonencode({...})`` as the object it encodes, parsed again from the text the argument
    is ``written`` as (``value`` when that cannot be read).

    python-hcl2 serializes the call back to one line of HCL, which breaks heredocs inside it, so
    the argument is cut from the original text instead.
    """
    m = re.fullmatch(r"\s*jsonencode\((.*)\)\s*", written, re.S)
    try:
        return hcl2.loads(f"x = {m[1]}\n", serialization_options=_OPTS)["x"] if m else value
    except (LarkError, RecursionError, ValueError, KeyError):
        return value


def describe(exc: BaseException) -> tuple[int | None, str]:
    """Line and message of a parse failure."""
    if isinstance(exc, LarkError):
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return getattr(exc, "line", None), f"invalid HCL: {first}"
    # NOTE: the parser's own failures on hostile input must not stop the scan either.
    return None, f"cannot parse HCL: {type(exc).__name__}"

"""Values an IaC evaluator produces: plain JSON-like data, or :class:`Unknown`.

NOTE: modelled on Terraform's "known after apply": a value that cannot be computed offline (a
parameter nobody sets, a module output of a registry module, ``resourceGroup().name``, a
property Azure fills in at deployment) is never guessed. It keeps the expression that makes it,
why it is unknown and where, and every operation on it yields another unknown. Two unknowns with
the same expression in one deployment are the same value (``uniqueString(resourceGroup().id)``
is one name wherever that deployment computes it), which is how an ``existing`` declaration in a
module meets the resource its root declares, while two labs side by side stay apart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: Stands for '/' inside the text of an unknown: a resource name is split on '/', and the text of
#: an unknown name segment (``resourceId('a/b', x)``) must stay one segment.
SLASH = "\u2215"


@dataclass(frozen=True, slots=True)
class Unknown:
    """A value that cannot be known without deploying."""

    text: str
    """How it reads inside a string: literal text with ``${expression}`` for what is unknown
    (``apim-${uniqueString(resourceGroup().id)}``). No '/' inside a ``${...}`` (see
    :data:`SLASH`): the known parts of an id keep theirs."""
    why: str
    where: str | None = None
    """``path:line`` of the expression that could not be computed."""
    nonempty: bool = False
    """Known not to be empty (a resource's id, a name with a literal part): ``empty()`` and
    ``length(x) > 0`` of it are decided."""
    missing: bool = False
    """A key or index that is not there: an error the deployment would stop on (Terraform's
    ``try()`` moves on to its next argument)."""
    origin: tuple[str, int] | None = None
    """Where the text's first line is in a file (a policy read with its unknown parts)."""
    of: str | None = None
    """The id of the declared resource this deployed-only value is read from: a key or
    connection string names its resource (the value itself is never read)."""

    @property
    def expr(self) -> str:
        """The text as an expression: ``x`` for ``${x}``, a quoted template otherwise."""
        if _single_expression(self.text):
            return self.text[2:-1]
        return "'" + self.text.replace("'", "\\'") + "'"

    def reason(self) -> str:
        """``text`` with why it is unknown and where (for notes and findings)."""
        at = f" at {self.where}" if self.where else ""
        text = self.text if len(self.text) <= 120 else self.text[:117] + "..."
        return f"{text}{at}: {self.why}"


def segments(text: str) -> list[tuple[bool, str]]:
    """The text of an unknown cut into (is an expression, piece): ``a${x}b`` gives
    ``[(False, "a"), (True, "${x}"), (False, "b")]``."""
    out: list[tuple[bool, str]] = []
    pos = 0
    while (start := text.find("${", pos)) >= 0:
        depth, end = 0, start
        for end in range(start, len(text)):
            if text[end] == "{":
                depth += 1
            elif text[end] == "}":
                depth -= 1
                if depth == 0:
                    break
        if depth:
            break
        if start > pos:
            out.append((False, text[pos:start]))
        out.append((True, text[start : end + 1]))
        pos = end + 1
    if pos < len(text):
        out.append((False, text[pos:]))
    return out


def is_template(value: Any) -> bool:
    """An unknown string with known text around its unknown parts (not one unknown whole)."""
    return isinstance(value, Unknown) and not _single_expression(value.text)


def _single_expression(text: str) -> bool:
    """True when ``text`` is one ``${...}`` and nothing else."""
    if not (text.startswith("${") and text.endswith("}")):
        return False
    depth = 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i == len(text) - 1
    return False


class Sourced(str):
    """Text whose first line is a known line of a file (a file read by ``loadTextContent`` or
    ``file()``, a multi-line literal): findings in a policy point into that file."""

    origin: tuple[str, int]

    def __new__(cls, text: str, path: str, line: int) -> Sourced:
        obj = super().__new__(cls, text)
        obj.origin = (path, line)
        return obj


def origin_of(value: Any) -> tuple[str, int] | None:
    """Where a text value starts in a file, when it is known."""
    if isinstance(value, Sourced):
        return value.origin
    if isinstance(value, Unknown):
        return value.origin
    return None


def unknown(expr: str, why: str, where: str | None = None, *, nonempty: bool = False) -> Unknown:
    """An unknown made by expression ``expr`` (shown as ``${expr}``)."""
    return Unknown("${" + expr.replace("/", SLASH) + "}", why, where, nonempty)


def placeholder(name: str, where: str) -> Unknown:
    """An entry parameter whose default is an empty list or object that nothing sets: a
    placeholder for the items given at deployment (a notebook, a pipeline), never "none"."""
    why = f"parameter '{name}' is empty by default: its items are given at deployment"
    return unknown(name, why, where)


def is_unknown(value: Any) -> bool:
    """True for an :class:`Unknown`."""
    return isinstance(value, Unknown)


def text_of(value: Any) -> str:
    """A value as text: a string as it is, an unknown as its text, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, Unknown):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(plain(value), sort_keys=True)


#: The longest expression text :func:`literal` gives for a list or object (the text of an unknown
#: is read by people; a value shared many times over would otherwise take forever to write).
LITERAL_ROOM = 400


def literal(value: Any) -> str:
    """A value as expression text (for the text of an unknown computed from it); a list or
    object longer than :data:`LITERAL_ROOM` characters is cut with an ellipsis."""
    out: list[str] = []
    _literal(value, out, [LITERAL_ROOM])
    return "".join(out)


def _literal(value: Any, out: list[str], room: list[int]) -> None:
    if room[0] <= 0:
        return
    if isinstance(value, list | dict):
        pairs = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
        out.append("{" if isinstance(value, dict) else "[")
        for i, (key, item) in enumerate(pairs):
            if room[0] <= 0:
                out.append("...")
                break
            text = (", " if i else "") + (f"{key}: " if key is not None else "")
            out.append(text)
            room[0] -= len(text)
            _literal(item, out, room)
        out.append("}" if isinstance(value, dict) else "]")
        return
    if isinstance(value, Unknown):
        text = value.expr
        if len(text) > LITERAL_ROOM:
            # NOTE: the text of an unknown computed from unknowns quotes theirs, so a chain of
            # variables that each use the one before twice doubled it at every step; the cut
            # keeps a digest of the whole, so different unknowns stay different values.
            digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
            text = f"{text[: LITERAL_ROOM // 2]}...#{digest}"
    elif isinstance(value, str):
        text = "'" + value.replace("'", "\\'").replace("/", SLASH) + "'"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    else:
        text = str(value)
    out.append(text)
    room[0] -= len(text)


#: The longest text a string operation makes (a policy is at most 4 MiB; a text that doubles
#: itself through a chain of variables would otherwise fill the memory before any step budget).
MAX_TEXT = 16 * 1024 * 1024


def joined(parts: Iterable[Any]) -> Any:
    """Parts joined as one string; unknown when any part is (its text keeps the known parts),
    or when it would be longer than :data:`MAX_TEXT`."""
    items = list(parts)
    texts = [text_of(p) for p in items]
    bad = [p for p in items if isinstance(p, Unknown)]
    if sum(map(len, texts)) > MAX_TEXT:
        why = f"a text over {MAX_TEXT // 1024 // 1024} MiB is not computed"
        return Unknown("${...}", why, bad[0].where if bad else None, True)
    if not bad:
        return "".join(texts)
    nonempty = any(
        (p.nonempty if isinstance(p, Unknown) else t != "")
        for p, t in zip(items, texts, strict=True)
    )
    return Unknown("".join(texts), bad[0].why, bad[0].where, nonempty)


def first_unknown(value: Any) -> Unknown | None:
    """The first unknown anywhere in ``value`` (depth first), or None."""
    if isinstance(value, Unknown):
        return value
    if isinstance(value, dict):
        for v in value.values():
            if (found := first_unknown(v)) is not None:
                return found
    elif isinstance(value, list):
        for v in value:
            if (found := first_unknown(v)) is not None:
                return found
    return None


def plain(value: Any) -> Any:
    """``value`` as JSON: each unknown becomes its text (never a boolean or a number, so a flag
    that is unknown never reads as set)."""
    if isinstance(value, Unknown):
        return value.text
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def unknown_leaves(value: Any, path: str = "") -> dict[str, Unknown]:
    """Every unknown in ``value`` by its dotted path (``properties.loggerId``, ``a.b.0``)."""
    if isinstance(value, Unknown):
        return {path: value}
    out: dict[str, Unknown] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(unknown_leaves(v, f"{path}.{k}" if path else str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.update(unknown_leaves(v, f"{path}.{i}" if path else str(i)))
    return out


def unresolved_text(text: str) -> bool:
    """True when a name or id, as text, has a part that was unknown (see :attr:`Unknown.text`)."""
    return "${" in text


def arm_name(names: list[Any]) -> Any:
    """The nested ARM name (``svc/api/policy``); unknown when a part is."""
    parts: list[Any] = []
    for i, n in enumerate(names):
        if i:
            parts.append("/")
        if isinstance(n, Unknown):
            parts.append(Unknown(n.text.replace("/", SLASH), n.why, n.where, True))
        else:
            parts.append(n)
    return joined(parts)

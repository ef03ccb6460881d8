"""ARM templates (JSON, hand-written or compiled from Bicep) as an estate.

Every deployment template under the folder is read, with ``<name>.parameters.json`` when one sits
next to it. Resources come from ``resources`` (an array, or an object of symbolic names in
``languageVersion: 2.0``), from nested child ``resources`` and from inline
``Microsoft.Resources/deployments`` templates, in the shape :func:`resources.build` reads.

Expressions are evaluated only as far as the template itself tells: parameters, variables,
``concat``, ``format``, ``resourceId``, copy indexes and a few string functions. Anything else
(``reference()``, a parameter without a value) stays unresolved: a name keeps the expression text,
a policy becomes unknown, and a note says why. Secrets (subscription keys, logger and backend
credentials, named value values) are dropped before anything is evaluated.

The first part (values, :class:`Scope`, :func:`finish`, :func:`pin_embedded`) is shared with
:mod:`auditor.sources.bicep`, whose expressions are evaluated as the same nodes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auditor.bounded import PolicyReadError, read_bounded
from auditor.errors import SourceError
from auditor.model import CAPABILITIES, Estate, Location, ReadError, ordered_notes
from auditor.sources import resources
from auditor.sources.apiops import MAX_JSON_BYTES
from auditor.sources.parts import Part, WholeOnly

PROVIDES = frozenset(CAPABILITIES)
MAX_COPIES = 200
"""Loops longer than this are not expanded (a note says so)."""

_APIM_KINDS = (
    "policies", "apis", "apis/policies", "apis/operations", "apis/operations/policies",
    "apis/diagnostics", "products", "products/policies", "products/apis", "products/apilinks",
    "policyfragments", "backends", "loggers", "diagnostics", "subscriptions", "namedvalues",
)  # fmt: skip
_KEPT = {resources.APIM, f"{resources.APIM}/workspaces", resources.DIAG_SETTINGS} | {
    resources.ACCOUNTS,
    f"{resources.ACCOUNTS}/deployments",
    resources.COMPONENTS,
    *(f"{resources.APIM}/{w}{k}" for k in _APIM_KINDS for w in ("", "workspaces/")),
}
_LEGACY_DIAG = "microsoft.cognitiveservices/accounts/providers/diagnosticsettings"
# Keys holding secrets: dropped at any depth before evaluation (a secret is never computed) and
# again after it (a whole-object expression may bring them back).
_SECRETS = {
    "primarykey", "secondarykey", "credentials", "password", "certificatepassword",
    "encodedcertificate", "clientsecret", "instrumentationkey", "connectionstring",
}  # fmt: skip

# ---------------------------------------------------------------- values (shared with bicep.py)


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A value that cannot be known without deploying: its text as written, and why."""

    text: str
    why: str


class NotStatic(Exception):
    """A function that cannot be evaluated offline (``why`` says which and why)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def resource_id(rtype: str, names: Iterable[str]) -> str:
    """A provider-relative resource id: ``/providers/<namespace>/<type>/<name>/...``."""
    ns, *types = rtype.split("/")
    segs = [s for n in names for s in str(n).split("/") if s]
    return "/providers/" + "/".join([ns, *(f"{t}/{n}" for t, n in zip(types, segs, strict=False))])


def text_of(value: Any) -> str:
    """A value as a string (an unresolved value as its text)."""
    if isinstance(value, Unresolved):
        return value.text
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else json.dumps(value)


def joined(parts: list[Any]) -> Any:
    """Join string parts; an unresolved part keeps its text, so a name stays readable."""
    bad = [p for p in parts if isinstance(p, Unresolved)]
    text = "".join(text_of(p) for p in parts)
    return Unresolved(text, bad[0].why) if bad else text


def _concat(*args: Any) -> Any:
    if args and all(isinstance(a, list) for a in args):
        return [x for a in args for x in a]
    return joined(list(args))


def _format(fmt: str, *args: Any) -> Any:
    parts: list[Any] = []
    pos = 0
    for m in re.finditer(r"\{(\d+)(?::[^}]*)?\}|\{\{|\}\}", fmt):
        parts += [fmt[pos : m.start()], args[int(m.group(1))] if m.group(1) else m.group()[0]]
        pos = m.end()
    return joined([*parts, fmt[pos:]])


def _resource_id(*args: str) -> str:
    # Subscription id and resource group may precede the type: the type is the first argument
    # with a '/', the names follow it.
    at = next(i for i, a in enumerate(args) if "/" in a)
    prefix = args[0] if at > 0 and args[0].startswith("/") else ""  # extensionResourceId scope
    return prefix + resource_id(args[at], args[at + 1 :])


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "concat": _concat,
    "format": _format,
    **dict.fromkeys(
        ("resourceid", "subscriptionresourceid", "tenantresourceid", "extensionresourceid"),
        _resource_id,
    ),
    "replace": lambda s, old, new: s.replace(old, new),
    "tolower": str.lower,
    "toupper": str.upper,
    "trim": str.strip,
    "empty": lambda x: x in (None, "", [], {}),
    "equals": lambda a, b: a == b,
    "not": lambda a: not a,
    "and": lambda *a: all(a),
    "or": lambda *a: any(a),
    "if": lambda c, a, b: a if c else b,
    "coalesce": lambda *a: next((x for x in a if x is not None), None),
    "first": lambda x: x[0],
    "last": lambda x: x[-1],
    "split": lambda s, d: re.split("|".join(map(re.escape, [d] if isinstance(d, str) else d)), s),
    "length": len,
    "string": text_of,
    "json": json.loads,
    "any": lambda x: x,
    "range": lambda start, count: list(range(start, start + count)),
    "true": lambda: True,
    "false": lambda: False,
    "null": lambda: None,
}


def call(name: str, args: list[Any]) -> Any:
    """Evaluate a template function on evaluated arguments; raises :class:`NotStatic`."""
    key = name.lower().replace("_", "").removeprefix("sys.").removeprefix("az.")
    fn = _FUNCTIONS.get(key)
    if fn is None:
        raise NotStatic(f"{name}() is not evaluated offline")
    bad = next((a for a in args if isinstance(a, Unresolved)), None)
    if bad is not None and fn not in (_concat, _format):  # those two keep partial text
        raise NotStatic(bad.why)
    try:
        return fn(*args)
    except (TypeError, ValueError, LookupError, AttributeError, StopIteration) as exc:
        raise NotStatic(f"{name}() cannot be evaluated here ({exc})") from None


def lookup(obj: Any, key: Any) -> Any:
    """``obj[key]``; object keys are case-insensitive in ARM and Bicep. Raises LookupError."""
    if isinstance(obj, list) and isinstance(key, int):
        return obj[key]
    if isinstance(obj, dict) and isinstance(key, str):
        for k, v in obj.items():
            if str(k).lower() == key.lower():
                return v
    raise KeyError(key)


Node = tuple[Any, ...]
"""An expression: ``("lit", v)``, ``("sym", name)``, ``("call", fn, [args])``, ``("get", obj,
key)``, ``("list", [items])``, ``("obj", {key: node})`` or ``("op", what)`` (not evaluated)."""


def render(node: Node) -> str:
    """The text of an expression (shown for unresolved names)."""
    kind, val = node[0], node[1]
    if kind == "lit":
        return "'" + val.replace("'", "''") + "'" if isinstance(val, str) else text_of(val)
    if kind == "call":
        return f"{val}({', '.join(render(a) for a in node[2])})"
    if kind == "get":
        key = node[2]
        if key[0] == "lit" and isinstance(key[1], str):
            return f"{render(val)}.{key[1]}"
        return f"{render(val)}[{render(key)}]"
    if kind == "list":
        return "[" + ", ".join(render(a) for a in val) + "]"
    return "{...}" if kind == "obj" else str(val)


class Scope:
    """Evaluates expression nodes; subclasses supply names (parameters, variables, symbols)."""

    wrap = "[{}]"
    """How an unresolved expression is shown (ARM brackets; Bicep uses ``${...}``)."""

    def symbol(self, name: str) -> Any:
        """The value of a bare name."""
        return Unresolved(name, f"'{name}' is not known")

    def special(self, name: str, args: list[Any], text: str) -> Any:
        """A function only this language has; ``NotImplemented`` for the shared ones."""
        return NotImplemented

    def eval(self, node: Node) -> Any:
        """Evaluate a node; never raises, unknown parts come back :class:`Unresolved`."""
        kind, val = node[0], node[1]
        if kind == "lit":
            return val
        if kind == "sym":
            return self.symbol(val)
        if kind == "list":
            return [self.eval(a) for a in val]
        if kind == "obj":
            return {k: self.eval(v) for k, v in val.items()}
        # '/' in the text of an unresolved part would split a resource name in two.
        text = self.wrap.format(render(node)).replace("/", "%2F")
        if kind == "get":
            obj, key = self.eval(val), self.eval(node[2])
            bad = next((v for v in (obj, key) if isinstance(v, Unresolved)), None)
            try:
                return Unresolved(text, bad.why) if bad else lookup(obj, key)
            except LookupError:
                return Unresolved(text, f"{render(node[2])} is not in the value")
        if kind != "call":
            return Unresolved(text, f"{val} is not evaluated offline")
        args = [self.eval(a) for a in node[2]]
        if val.lower() == "if" and len(args) == 3 and isinstance(args[0], bool):
            return args[1] if args[0] else args[2]  # the branch not taken may be unknown
        found = self.special(val.lower(), args, text)
        if found is not NotImplemented:
            return found
        try:
            return call(val, args)
        except NotStatic as exc:
            return Unresolved(text, exc.why)


# ---------------------------------------------------------------- resources (shared)


def scrub(value: Any) -> Any:
    """``value`` without the keys that hold secrets (at any depth)."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if str(k).lower() not in _SECRETS}
    return [scrub(v) for v in value] if isinstance(value, list) else value


def _plain(value: Any) -> Any:
    """Unresolved leaves become their text (never a boolean, so flags stay unknown)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.text if isinstance(value, Unresolved) else value


def is_policy_type(rtype: str) -> bool:
    """True for APIM policy and policy fragment resource types."""
    t = rtype.lower()
    return t.startswith(resources.APIM) and t.endswith(("/policies", "/policyfragments"))


def finish(
    rtype: str, name: Any, props: Any, *, origin: tuple[str, int | None], notes: list[str],
    scope: Any = None,
) -> dict[str, Any] | None:  # fmt: skip
    """An evaluated resource in the shape :func:`resources.build` reads; ``None``: not needed."""
    where = f"{origin[0]}:{origin[1]}" if origin[1] else origin[0]
    if isinstance(name, Unresolved):
        notes.append(f"{where}: the name of {rtype} is not known offline ({name.why})")
    full, t = text_of(name) if name is not None else "", rtype.lower()
    if t == _LEGACY_DIAG:  # older hand-written form: "<account>/Microsoft.Insights/<setting>"
        acct, _, setting = full.partition("/")
        t, full, scope = resources.DIAG_SETTINGS, setting.rsplit("/", 1)[-1], f"/accounts/{acct}"
        rtype = "Microsoft.Insights/diagnosticSettings"
    if t not in _KEPT:
        return None
    body = scrub(props) if isinstance(props, dict) else {}
    if t.endswith("/namedvalues"):
        body = {k: v for k, v in body.items() if k.lower() not in ("value", "keyvault")}
    bad = [v for v in (body.get("value"), body.get("format")) if isinstance(v, Unresolved)]
    if is_policy_type(t) and bad:
        body.pop("value", None)
        body["format"] = _plain(body.get("format")) or "xml"
        body["unresolved"] = f"the policy text is not known offline: {bad[0].why}"
        notes.append(f"{where}: {body['unresolved']}")
    out: dict[str, Any] = {"type": rtype, "name": full, "properties": _plain(body)}
    out["_origin"] = {"path": origin[0], "line": origin[1]}
    if scope is not None:
        if isinstance(scope, Unresolved):
            notes.append(f"{where}: the scope of {rtype} is not known offline ({scope.why})")
        out["scope"] = text_of(scope)
    return out


def pin_embedded(found: list[dict[str, Any]], texts: dict[str, str]) -> None:
    """Mark (``_origin.pinned``) every policy embedded in a string whose statements must be
    reported at the line the string starts on.

    ``texts`` maps shown paths to file text. A policy whose lines are not the file's own lines
    from its start line on (a JSON string, a single-quoted Bicep string, a variable) has no
    line structure in the file, so its XML line numbers would point at unrelated lines.
    """
    lines = {path: text.splitlines() for path, text in texts.items()}
    for res in found:
        props, origin = res.get("properties"), res.get("_origin")
        if not (isinstance(props, dict) and isinstance(origin, dict)):
            continue
        value, path, line = props.get("value"), origin.get("path"), origin.get("line")
        if isinstance(value, str) and path in lines and is_policy_type(str(res.get("type"))):
            offset = line - 1 if isinstance(line, int) and line else 0
            own = value.splitlines()
            if lines[path][offset : offset + len(own)] != own:
                origin["pinned"] = True


# ---------------------------------------------------------------- ARM expressions

_TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(-?\d+)|([A-Za-z_$][\w$]*)|([(),.\[\]]))")


def parse_expression(text: str) -> Node:
    """Parse the inside of an ARM ``[...]`` expression; raises ValueError."""
    tokens, pos, text = [], 0, text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unexpected {text[pos : pos + 10]!r}")
        tokens.append((m.lastindex or 0, m.group(m.lastindex or 0)))
        pos = m.end()
    tokens.append((0, ""))
    at = 0

    def take(want: str | None = None) -> str:
        nonlocal at
        if tokens[at][0] == 0 or (want and tokens[at][1] != want):
            raise ValueError(f"expected {want or 'more'} at {tokens[at][1] or 'the end'!r}")
        at += 1
        return str(tokens[at - 1][1])

    def expr() -> Node:
        kind, val = tokens[at][0], take()
        if kind == 1:
            node: Node = ("lit", val[1:-1].replace("''", "'"))
        elif kind == 2:
            node = ("lit", int(val))
        elif kind == 3:
            take("(")
            args = []
            while tokens[at][1] != ")":
                args.append(expr())
                if tokens[at][1] == ",":
                    take()
            take(")")
            node = ("call", val, args)
        else:
            raise ValueError(f"unexpected {val!r}")
        while tokens[at][1] in (".", "["):
            if take() == ".":
                node = ("get", node, ("lit", take()))
            else:
                node = ("get", node, expr())
                take("]")
        return node

    node = expr()
    if tokens[at][0]:
        raise ValueError(f"unexpected {tokens[at][1]!r}")
    return node


class _Ctx(Scope):
    """One template's parameters and variables, evaluated lazily (they refer to each other)."""

    def __init__(self, template: dict[str, Any], given: dict[str, Any], outer: _Ctx | None) -> None:
        self.entries = {
            kind: {k.lower(): v for k, v in raw.items()} if isinstance(raw, dict) else {}
            for kind in ("parameters", "variables")
            for raw in [template.get(kind)]
        }
        self.given = {k.lower(): v for k, v in given.items()}
        self.outer = outer
        self.index: int | None = None  # copyIndex() of a nested template is its own
        self.done: dict[tuple[str, str], Any] = {}
        self.busy: list[tuple[str, str]] = []  # names being evaluated, innermost last
        self.cyclic: set[tuple[str, str]] = set()

    def at(self, index: int) -> _Ctx:
        """The same scope inside a copy loop."""
        ctx = _Ctx({}, {}, self)
        ctx.index = index
        return ctx

    def get(self, kind: str, name: str) -> Any:
        """``parameters(name)`` or ``variables(name)``."""
        entries = self.entries[kind]
        key, text = name.lower(), f"[{kind}('{name}')]"
        if key not in entries and not (kind == "parameters" and key in self.given):
            if self.outer is not None:  # a copy loop, or a nested template in outer scope
                return self.outer.get(kind, name)
            return Unresolved(text, f"{kind[:-1]} '{name}' is not declared")
        entry = (kind, key)
        if entry in self.busy:
            # NOTE: a cycle through every name evaluated since: each of them is unresolved
            # because it refers to itself, whichever was asked for first (in a scan in parts,
            # processes ask in different orders).
            self.cyclic.update(self.busy[self.busy.index(entry) :])
        if entry not in self.done:
            circular = Unresolved(text, f"{kind[:-1]} '{name}' refers to itself")
            self.done[entry] = circular
            self.busy.append(entry)
            try:
                if kind == "variables":
                    value = self.value(entries[key])
                elif key in self.given:
                    value = self.given[key]
                elif isinstance(entries[key], dict) and "defaultValue" in entries[key]:
                    value = self.value(entries[key]["defaultValue"])
                else:
                    value = Unresolved(text, f"parameter '{name}' has no value in the template")
            finally:
                self.busy.pop()
            self.done[entry] = circular if entry in self.cyclic else value
        return self.done[entry]

    def special(self, name: str, args: list[Any], text: str) -> Any:
        """ARM's own functions: parameters(), variables(), copyIndex()."""
        if name in ("parameters", "variables") and args and isinstance(args[0], str):
            return self.get(name, args[0])
        if name == "copyindex":
            offset = next((a for a in args if isinstance(a, int)), 0)
            return Unresolved(text, "not in a loop") if self.index is None else self.index + offset
        return NotImplemented

    def value(self, raw: Any) -> Any:
        """Evaluate a JSON value: the ``[...]`` expression strings inside it are evaluated."""
        if isinstance(raw, dict):
            return {k: self.value(v) for k, v in raw.items()}
        if isinstance(raw, list):
            return [self.value(v) for v in raw]
        if not isinstance(raw, str) or not (raw.startswith("[") and raw.endswith("]")):
            return raw
        if raw.startswith("[["):  # an escaped literal '['
            return raw[1:]
        try:
            return self.eval(parse_expression(raw[1:-1]))
        except (ValueError, RecursionError) as exc:
            return Unresolved(raw.replace("/", "%2F"), f"expression not understood: {exc}")


# ---------------------------------------------------------------- templates


class _Obj(dict[str, Any]):
    """A JSON object that knows where it is in the text."""

    span: tuple[int, int] = (0, 0)


#: The next brace outside strings, after the strings and other text before it (skipped in one
#: possessive run). NOTE: linear only where a brace always follows (a valid JSON object): on a
#: long tail without one, every later start would scan to the end.
_NEXT_BRACE = re.compile(r'(?:"[^"\\]*(?:\\.[^"\\]*)*"|[^"{}]+)*+([{}])')
_VALUE_KEY = re.compile(r'(?<!\\)"value"\s*:\s*"')


def parse_json(text: str) -> Any:
    """``json.loads`` whose objects carry their ``span`` (start, end offsets) in ``text`` (when
    the document is an object, as templates and parameter files are)."""
    objects: list[_Obj] = []

    def hook(pairs: list[tuple[str, Any]]) -> _Obj:
        obj = _Obj(pairs)
        objects.append(obj)
        return obj

    data = json.loads(text, object_pairs_hook=hook)
    if not isinstance(data, dict):
        return data
    # json calls object_pairs_hook as each object closes, in the order of the closing braces in
    # the text; a stack of the opening braces gives each one's start.
    spans: list[tuple[int, int]] = []
    stack: list[int] = []
    # The object ends at the last brace: blanks after it would be scanned again from each place.
    for m in _NEXT_BRACE.finditer(text, 0, len(text.rstrip())):
        if m[1] == "{":
            stack.append(m.start(1))
        elif stack:
            spans.append((stack.pop(), m.end(1)))
    for obj, span in zip(objects, spans, strict=False):
        obj.span = span
    return data


def is_template(data: object) -> bool:
    """True for an ARM deployment template (not a parameters file)."""
    if not isinstance(data, dict):
        return False
    schema = str(data.get("$schema") or "")
    return "deploymentTemplate" in schema or ("resources" in data and "contentVersion" in data)


class _Walk:
    """Collects the resources of one template file."""

    def __init__(
        self, file: str, text: str, part: Part | None = None, *, apis_only: bool = False
    ) -> None:
        self.file, self.text, self.part = file, text, part
        self.apis_only = apis_only  # only the type and name of API resources (Parsed.estate)
        self.seen = (0, 0)  # a position and the line breaks before it
        self.out: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def line(self, obj: Any, pos: int | None = None) -> int | None:
        if pos is None and (not isinstance(obj, _Obj) or obj.span == (0, 0)):
            return None
        at = obj.span[0] if pos is None else pos
        # NOTE: the line breaks are counted from the last place asked about, forward or back
        # (resources are met in text order, a copy loop goes back to its resource): an index
        # of every line of a large template took longer to build than all the counting.
        last, breaks = self.seen
        if at >= last:
            breaks += self.text.count("\n", last, at)
        else:
            breaks -= self.text.count("\n", at, last)
        self.seen = (at, breaks)
        return breaks + 1

    def walk(self, items: Any, ctx: _Ctx, parent: tuple[str, str] | None = None) -> None:
        for res in items.values() if isinstance(items, dict) else items or []:
            if not isinstance(res, dict) or res.get("existing") is True:
                continue  # an existing resource only lends its name
            copy = res.get("copy")
            count = ctx.value(copy.get("count")) if isinstance(copy, dict) else None
            if copy is None:
                self.one(res, ctx, parent)
            elif isinstance(count, int) and 0 <= count <= MAX_COPIES:
                for i in range(count):
                    self.one(res, ctx.at(i), parent)
            else:
                why = count.why if isinstance(count, Unresolved) else f"count {count!r}"
                self.notes.append(f"{self.file}:{self.line(res)}: a copy loop is not expanded "
                                  f"({why}); its resources are not seen")  # fmt: skip

    def one(self, res: dict[str, Any], ctx: _Ctx, parent: tuple[str, str] | None) -> None:
        cond = ctx.value(res.get("condition", True))
        if cond is False:
            return
        if isinstance(cond, Unresolved):
            self.notes.append(f"{self.file}:{self.line(res)}: counted as deployed, though only "
                              f"deployed if {cond.text} ({cond.why})")  # fmt: skip
        rtype, name = text_of(ctx.value(res.get("type"))), ctx.value(res.get("name"))
        if parent and "." not in rtype.split("/")[0]:  # a child type, relative to its parent
            rtype = f"{parent[0]}/{rtype}"
        if parent and len(text_of(name).split("/")) < len(rtype.split("/")) - 1:
            name = joined([parent[1], "/", name])
        if rtype.lower() == "microsoft.resources/deployments":
            self.deployment(res, ctx)
            return
        if self.apis_only:
            if rtype.lower() in _API_TYPES:
                self.out.append({"type": rtype, "name": text_of(name)})
            if res.get("resources"):
                self.walk(res["resources"], ctx, (rtype, text_of(name)))
            return
        if self.part is not None and self.foreign(rtype, name):
            # Another process's API: the type and name are all a build reads of it (that
            # process evaluates the rest and writes its notes).
            self.out.append({"type": rtype, "name": text_of(name)})
            if res.get("resources"):
                self.walk(res["resources"], ctx, (rtype, text_of(name)))
            return
        raw = res.get("properties")
        scope = ctx.value(res["scope"]) if "scope" in res else None
        origin = (self.file, self.line(res))
        if is_policy_type(rtype) and isinstance(raw, _Obj):
            # The policy XML is one JSON string: its statements are on the "value" line.
            m = _VALUE_KEY.search(self.text, *raw.span)
            origin = (self.file, self.line(None, m.end() - 1) if m else origin[1])
        found = finish(rtype, name, ctx.value(scrub(raw)), origin=origin, notes=self.notes,
                       scope=scope)  # fmt: skip
        if found is not None:
            self.out.append(found)
        if res.get("resources"):
            self.walk(res["resources"], ctx, (rtype, text_of(name)))

    def foreign(self, rtype: str, name: Any) -> bool:
        """A resource below an API of another part (kept by the build: it is counted)."""
        assert self.part is not None
        t = rtype.lower()
        api = resources.api_of(t, text_of(name)) if t in _KEPT else None
        return api is not None and not self.part.has_api(*api)

    def deployment(self, res: dict[str, Any], ctx: _Ctx) -> None:
        props = res.get("properties")
        inner = props.get("template") if isinstance(props, dict) else None
        if not isinstance(inner, dict) or not isinstance(props, dict):
            self.notes.append(f"{self.file}:{self.line(res)}: a linked template is not followed")
            return
        given = props.get("parameters") or {}
        supplied = {
            k: ctx.value(v["value"]) if "value" in v else Unresolved(k, "a Key Vault reference")
            for k, v in given.items()
            if isinstance(v, dict)
        }
        # NOTE: expressionEvaluationOptions is ignored: names the inner template does not
        # declare are looked up in the outer one, which is what "outer" scope means.
        self.walk(inner.get("resources"), _Ctx(inner, supplied, ctx))


def template_resources(
    template: dict[str, Any],
    *,
    file: str,
    text: str,
    parameters: dict[str, Any] | None = None,
    part: Part | None = None,
    apis_only: bool = False,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The resources of one template (parsed with :func:`parse_json` for lines), and notes; for
    a ``part``, resources below other parts' APIs are left unevaluated (type and name only);
    with ``apis_only``, only the type and name of the API resources are given."""
    given = {
        k: v["value"] if "value" in v else Unresolved(f"[parameters('{k}')]", "a Key Vault value")
        for k, v in (parameters or {}).items()
        if isinstance(v, dict)
    }
    walk = _Walk(file, text, part, apis_only=apis_only)
    walk.walk(template.get("resources"), _Ctx(template, given, None))
    return walk.out, walk.notes


# ---------------------------------------------------------------- files


class _Bad(Exception):
    def __init__(self, shown: str, line: int | None, message: str) -> None:
        super().__init__(message)
        self.error = ReadError(Location(shown, line), message)


def _read_json(file: Path, shown: str) -> tuple[Any, str]:
    try:
        text = read_bounded(file, MAX_JSON_BYTES).decode("utf-8-sig")
        return parse_json(text), text
    except json.JSONDecodeError as exc:
        raise _Bad(shown, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except UnicodeDecodeError as exc:
        raise _Bad(shown, None, f"not UTF-8 text: {exc.reason}") from None
    except PolicyReadError as exc:
        raise _Bad(shown, None, exc.message) from None
    except (OSError, RecursionError) as exc:
        raise _Bad(shown, None, f"cannot read: {exc}") from None


def files_under(path: Path, suffix: str) -> list[Path]:
    """Files named ``*<suffix>`` at or below ``path``, sorted; hidden names, node_modules and
    links are skipped (a link may lead out of the source, or in a loop)."""
    if path.is_file():
        return [path]
    found = []
    for folder, dirs, names in os.walk(path):  # os.walk does not descend into linked folders
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "node_modules")
        found += [Path(folder) / n for n in names if n.lower().endswith(suffix) and n[0] != "."]
    return sorted(f for f in found if not f.is_symlink())


def shown_path(file: Path, root: Path) -> str:
    """``file`` as shown to users: relative to the scanned folder, with '/'."""
    return file.relative_to(root).as_posix() if file.is_relative_to(root) else file.name


def find_files(path: Path, parsed: dict[Path, tuple[Any, str]] | None = None) -> list[Path]:
    """ARM templates at or below ``path`` (parameters files, hidden folders and links skipped).

    ``parsed`` keeps what was read on the way (a template is read once per scan).
    """
    if path.is_file():
        if parsed is not None:
            with contextlib.suppress(_Bad):  # reported when it is read again
                parsed[path] = _read_json(path, path.name)
        return [path]  # named on the command line: whatever it holds is reported
    found = []
    for file in files_under(path, ".json"):
        if file.name.lower() == "parameters.json" or ".parameters." in file.name:
            continue
        try:
            data = _read_json(file, file.name)
            if is_template(data[0]):
                found.append(file)
                if parsed is not None:
                    parsed[file] = data
        except _Bad:
            # NOTE: a broken file that names the template schema is reported, not skipped.
            with file.open("rb") as fh:
                if b"deploymentTemplate" in fh.read(65536):
                    found.append(file)
    return found


def _collect(
    path: Path,
    files: list[Path],
    parsed: dict[Path, tuple[Any, str]] | None = None,
    part: Part | None = None,
    apis_only: bool = False,
) -> tuple[list[dict[str, Any]], list[ReadError], list[str], dict[str, str]]:
    root = path if path.is_dir() else path.parent
    out: list[dict[str, Any]] = []
    errors: list[ReadError] = []
    notes: list[str] = []
    texts: dict[str, str] = {}
    for file in files:
        shown, params = shown_path(file, root), None
        try:
            data, texts[shown] = (parsed or {}).get(file) or _read_json(file, shown)
            if not is_template(data):
                raise _Bad(shown, 1, "not an ARM deployment template")
        except _Bad as bad:
            errors.append(bad.error)
            continue
        pfile = file.with_name(file.name[: -len(".json")] + ".parameters.json")
        try:
            if pfile.is_file():
                pdata = _read_json(pfile, shown_path(pfile, root))[0]
                params = pdata.get("parameters") if isinstance(pdata, dict) else None
                notes.append(f"{shown}: parameter values from {pfile.name}")
        except _Bad as bad:  # the template is still read, with its defaults
            errors.append(bad.error)
        try:
            found, more = template_resources(
                data, file=shown, text=texts[shown], parameters=params, part=part,
                apis_only=apis_only,
            )  # fmt: skip
        except RecursionError:
            if part is not None:
                # NOTE: only this process met it: another would keep the template whole.
                raise WholeOnly(f"{shown}: nested too deeply to evaluate") from None
            errors.append(ReadError(Location(shown), "nested too deeply to evaluate; not read"))
            continue
        out += found
        notes += more
    return out, errors, notes, texts


def load_resources(path: Path) -> tuple[list[dict[str, Any]], list[ReadError], list[str]]:
    """ARM-shaped resources of every template at ``path``, read errors, and notes."""
    parsed: dict[Path, tuple[Any, str]] = {}
    return _collect(path, find_files(path, parsed), parsed)[:3]


@dataclass
class Parsed:
    """ARM templates read and parsed, not yet evaluated: each process of a split scan evaluates
    the shared resources and its own APIs' (see :mod:`auditor.sources.parts`)."""

    path: Path
    files: list[Path]
    parsed: dict[Path, tuple[Any, str]]

    def api_count(self) -> int:
        """The API resources the templates declare as written (a copy loop counts once)."""
        return sum(_apis_in(data.get("resources")) for data, _ in self.parsed.values()
                   if is_template(data))  # fmt: skip

    def estate(self, part: Part | None = None) -> Estate:
        if part is not None and part.roster is None:
            # Every process first names every API, to share them out by rank (see Part).
            apis = _collect(self.path, self.files, self.parsed, apis_only=True)[0]
            part = replace(part, roster=resources.api_roster(apis))
        found, errors, notes, texts = _collect(self.path, self.files, self.parsed, part)
        pin_embedded(found, texts)
        notes = ordered_notes(notes)
        return resources.Loaded(found, "arm", str(self.path), errors, notes).estate(part)


#: API resource types, written whole or as a child of the service (a workspace's APIs too).
_API_TYPES = {*resources.API_TYPES, "apis"}


def _apis_in(items: Any) -> int:
    count = 0
    for res in items.values() if isinstance(items, dict) else items or []:
        if isinstance(res, dict):
            rtype = str(res.get("type") or "").lower()
            count += rtype in _API_TYPES
            count += _apis_in(res.get("resources"))
            props = res.get("properties")
            inner = props.get("template") if isinstance(props, dict) else None
            count += _apis_in(inner.get("resources")) if isinstance(inner, dict) else 0
    return count


def prepare(path: Path) -> Parsed:
    """The ARM templates at ``path`` (a template file or a folder), read but not evaluated."""
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    parsed: dict[Path, tuple[Any, str]] = {}
    files = find_files(path, parsed)
    if not files:
        raise SourceError(f"{path}: no ARM templates found")
    return Parsed(path, files, parsed)


def load(path: Path) -> Estate:
    """Load the ARM templates at ``path`` (a template file or a folder) as an estate."""
    return prepare(path).estate()

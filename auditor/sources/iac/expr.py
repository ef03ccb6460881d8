"""One expression evaluator for ARM, Bicep and Terraform.

Each reader turns its syntax tree into the nodes below and evaluates them in a :class:`Scope`
of its own (what a bare name means, the language's own functions). Unknown operands give
unknown results (:mod:`.values`); the logical operators, ``?:``, ``??``, ``if()`` and
``coalesce()`` only evaluate what they need, so a branch not taken may stay unknown.

Nodes are tuples, the kind first:

- ``("lit", value)``, ``("sym", name)``, ``("list", [node | ("spread", node)])``,
  ``("obj", [(key_node, value_node) | ("spread", node)])``
- ``("get", obj, key, safe)``: ``obj.key`` / ``obj[key]`` (``safe``: ``.?`` gives null)
- ``("call", name, [args])``; ``("mcall", obj, name, [args])``: a method of a value
- ``("op", operator, [operands])``: ``== != =~ !~ < <= > >= && || ! neg + - * / % ?? ?:``
- ``("for", [names], iterable, body, filter)``; ``("forobj", [names], iterable, key, value,
  filter, grouping)``; ``("splat", obj, [attribute names])``
- ``("lambda", [params], body)``; ``("tmpl", [parts])`` (a string template; Terraform's
  ``("tif", cond, then, else)`` and ``("tfor", [names], iterable, parts)`` parts)
- ``("at", line, node)``: ``node`` is written on that line; ``("bad", text, why)``
- ``("src", text, line)``: a multi-line literal whose first line is that line of the file;
  ``("src", [parts], line)``: the same with template parts (a Terraform heredoc)
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from auditor.sources.iac.values import (
    SLASH,
    Sourced,
    Unknown,
    first_unknown,
    is_template,
    joined,
    literal,
    segments,
    text_of,
    unknown,
)

Node = tuple[Any, ...]

#: Loops longer than this are not expanded (a note says so).
MAX_ITEMS = 1000
#: Evaluation steps a deployment may take before it is stopped (a budget, not a timer: the
#: same input always stops at the same place, so reports stay deterministic).
MAX_STEPS = 3_000_000
#: The most items (counted along every path, as a writer of the value would meet them) a list or
#: object may hold: a chain of variables that doubles a list, or nests it twice, would otherwise
#: fill the memory or take forever to walk before any step budget is spent.
MAX_NODES = 100_000
_BUILT = frozenset({"list", "obj", "call", "mcall", "op", "for", "forobj", "splat"})


class OverBudget(Exception):
    """An evaluation took more steps than :data:`MAX_STEPS`."""


class _Refused(Exception):
    """A function cannot compute this value offline; ``why`` says why."""

    def __init__(self, why: str, *, nonempty: bool = False) -> None:
        super().__init__(why)
        self.why = why
        self.nonempty = nonempty


#: What a language's function raises for a value it cannot compute offline (its call is then
#: unknown with that reason).
Refused = _Refused


@dataclass(frozen=True)
class Lambda:
    """A lambda value (``x => x.name``, Terraform has none) bound to the scope it was made in."""

    params: tuple[str, ...]
    body: Node
    scope: Scope
    locals: Mapping[str, Any]

    def __call__(self, *args: Any) -> Any:
        with self.scope.bound({**self.locals, **dict(zip(self.params, args, strict=False))}):
            return self.scope.eval(self.body)


class Runtime(dict[str, Any]):
    """What a declared resource or module is as a value: the keys a template knows (``name``,
    ``id``, ``outputs``); any other key (``properties``) is only known once deployed."""

    def __init__(
        self, known: dict[str, Any], describe: str, expr: str, resource_id: str | None = None
    ) -> None:
        super().__init__(known)
        self.resource_id = resource_id
        """The resource's id when known though not one of its keys (ARM ``reference(id)``)."""
        self.describe = describe
        """``Microsoft.CognitiveServices/accounts 'name'``: said in why it is unknown."""
        self.expr = expr
        """How the resource reads in an expression (its symbol)."""


#: Properties Azure always sets on a deployed resource (never empty once deployed).
ALWAYS_SET = {
    "id",
    "name",
    "resourceid",
    "endpoint",
    "gatewayurl",
    "instrumentationkey",
    "connectionstring",
    "principalid",
    "customerid",
    "appid",
    "endpoints",
    "type",
}


class Budget:
    """Evaluation steps left for one deployment (shared by its files and modules)."""

    def __init__(self, steps: int = MAX_STEPS) -> None:
        self.left = steps

    def spend(self, steps: int = 1) -> None:
        self.left -= steps
        if self.left < 0:
            raise OverBudget(f"evaluation stopped after {MAX_STEPS:,} steps")


def nodes_in(value: Any, limit: int) -> int:
    """The items of ``value`` counted along every path (a list shared twice counts twice),
    stopping once over ``limit``."""
    count, stack = 0, [value]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return count


def render(node: Node) -> str:
    """The text of an expression node (for the text of an unknown)."""
    kind = node[0]
    if kind == "lit":
        return literal(node[1])
    if kind == "sym":
        return str(node[1])
    if kind == "at":
        return render(node[2])
    if kind == "get":
        key = node[2]
        dot = ".?" if node[3] else "."
        if key[0] == "lit" and isinstance(key[1], str) and re.fullmatch(r"[A-Za-z_]\w*", key[1]):
            return f"{render(node[1])}{dot}{key[1]}"
        return f"{render(node[1])}[{render(key)}]"
    if kind == "call":
        return f"{node[1]}({', '.join(render(a) for a in node[2])})"
    if kind == "mcall":
        return f"{render(node[1])}.{node[2]}({', '.join(render(a) for a in node[3])})"
    if kind == "op":
        op, args = node[1], node[2]
        if op == "?:":
            return f"{render(args[0])} ? {render(args[1])} : {render(args[2])}"
        if op in ("!", "neg"):
            return ("!" if op == "!" else "-") + render(args[0])
        return f" {op} ".join(render(a) for a in args)
    if kind == "list":
        return "[" + ", ".join(render(a) for a in node[1]) + "]"
    if kind == "obj":
        return "{...}"
    if kind in ("for", "forobj"):
        return f"[for {', '.join(node[1])} in {render(node[2])}: ...]"
    if kind == "tmpl":
        return (
            "'" + "".join(p[1] if p[0] == "lit" else "${" + render(p) + "}" for p in node[1]) + "'"
        )
    if kind == "splat":
        return f"{render(node[1])}[*]" + "".join(f".{a}" for a in node[2])
    if kind == "src":
        return render(("tmpl", node[1])) if isinstance(node[1], list) else literal(node[1])
    if kind == "lambda":
        return f"({', '.join(node[1])}) => {render(node[2])}"
    if kind == "bad":
        return str(node[1])
    if kind == "spread":
        return "..." + render(node[1])
    return "?"


class Scope:
    """Evaluates nodes. A language's scope says what bare names mean (:meth:`symbol`) and
    evaluates its own functions (:meth:`special`, :attr:`functions`)."""

    #: Object keys compare case-insensitively (ARM and Bicep; not Terraform).
    fold_keys = True
    #: Function name (lower case) -> implementation on evaluated arguments.
    functions: Mapping[str, Callable[..., Any]] = {}
    #: Operator -> implementation on evaluated operands (``&&``, ``||``, ``?:`` and ``??`` are
    #: the evaluator's own); a language may change one (Terraform's ``/`` is not integral).
    operators: Mapping[str, Callable[..., Any]] = {}

    def __init__(self, file: str, budget: Budget) -> None:
        self.file = file
        self.line: int | None = None
        self.budget = budget
        self.locals: dict[str, Any] = {}

    # ---------------------------------------------------------------- what a language supplies

    def symbol(self, name: str) -> Any:
        """The value of a bare name."""
        return self.unknown(name, f"'{name}' is not known")

    def special(self, name: str, args: list[Node]) -> Any:
        """A function that needs its argument nodes or this scope (``loadTextContent``,
        ``file``, ``parameters``); ``NotImplemented`` for the others."""
        return NotImplemented

    def method(self, obj: Any, name: str, args: list[Any], node: Node) -> Any:
        """``obj.name(args)``: resource functions (``listKeys()``) are never evaluated."""
        return self.unknown(render(node), f"{name}() is only known once deployed")

    # ---------------------------------------------------------------- helpers

    @property
    def where(self) -> str:
        """``file:line`` of what is being evaluated."""
        return f"{self.file}:{self.line}" if self.line else self.file

    def unknown(self, expr: str, why: str, *, nonempty: bool = False) -> Unknown:
        """An unknown made here."""
        return unknown(expr, why, self.where, nonempty=nonempty)

    def missing(self, expr: str, why: str) -> Unknown:
        """What a lookup of what is not there gives (an error a deployment would stop on)."""
        return Unknown(self.unknown(expr, why).text, why, self.where, missing=True)

    @contextmanager
    def bound(self, names: Mapping[str, Any]) -> Iterator[None]:
        """Evaluate with these loop or lambda variables in scope (and the outer ones)."""
        saved = self.locals
        self.locals = {**saved, **names}
        try:
            yield
        finally:
            self.locals = saved

    @contextmanager
    def at_line(self, line: int | None) -> Iterator[None]:
        """Evaluate as written on ``line``."""
        saved = self.line
        self.line = line or saved
        try:
            yield
        finally:
            self.line = saved

    def lookup(self, obj: Any, key: Any, node: Node) -> Any:
        """``obj[key]``; a missing key or index is unknown (never null)."""
        if isinstance(obj, Unknown) or isinstance(key, Unknown):
            bad = obj if isinstance(obj, Unknown) else key
            assert isinstance(bad, Unknown)
            name = key if isinstance(key, str) else ""
            return Unknown(
                self.unknown(render(node), bad.why).text,
                bad.why,
                bad.where or self.where,
                name.lower() in ALWAYS_SET,
                of=obj.of if bad is obj else None,
            )
        if isinstance(obj, list) and isinstance(key, int | float) and not isinstance(key, bool):
            i = int(key)
            if -len(obj) <= i < len(obj):
                return obj[i]
            return self.missing(render(node), f"index {i} is outside a list of {len(obj)}")
        if isinstance(obj, dict):
            skey = text_of(key)
            if skey in obj:
                return obj[skey]
            if self.fold_keys:
                low = skey.lower()
                for k, v in obj.items():
                    if str(k).lower() == low:
                        return v
            if isinstance(obj, Runtime):
                rid = obj.resource_id or obj.get("id")
                return dataclasses.replace(
                    unknown(
                        f"{obj.expr}.{skey}",
                        f"the {skey} of {obj.describe} is only known once deployed",
                        self.where,
                        nonempty=skey.lower() in ALWAYS_SET,
                    ),
                    of=rid if isinstance(rid, str) else None,
                )
            return self.missing(render(node), f"'{skey}' is not in the value")
        return self.missing(render(node), f"{literal(obj)} has no '{text_of(key)}'")

    # ---------------------------------------------------------------- evaluation

    def eval(self, node: Node) -> Any:
        """The value of ``node``; never raises for what cannot be computed (it is unknown)."""
        value = self._eval(node)
        if node[0] in _BUILT and isinstance(value, list | dict) and value:
            # NOTE: counting spends steps, so the walks together stay within the budget.
            size = nodes_in(value, MAX_NODES)
            self.budget.spend(size // 16)
            if size > MAX_NODES:
                return self.unknown(
                    render(node), f"a value of over {MAX_NODES:,} items is not computed"
                )
        return value

    def _eval(self, node: Node) -> Any:
        self.budget.spend()
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "at":  # what at_line() does, without a context manager (the commonest node)
            saved = self.line
            self.line = node[1] or saved
            try:
                return self.eval(node[2])
            finally:
                self.line = saved
        if kind == "src":
            if isinstance(node[1], str):
                return Sourced(node[1], self.file, node[2])
            value = joined(self._parts(node[1]))
            if isinstance(value, Unknown):
                return dataclasses.replace(value, origin=(self.file, node[2]))
            return Sourced(value, self.file, node[2])
        if kind == "sym":
            name = node[1]
            return self.locals[name] if name in self.locals else self.symbol(name)
        if kind == "get":
            obj = self.eval(node[1])
            if node[3] and (obj is None or (isinstance(obj, dict) and not self._has(obj, node))):
                return None
            return self.lookup(obj, self.eval(node[2]), node)
        if kind == "list":
            out: list[Any] = []
            for item in node[1]:
                if item[0] == "spread":
                    spread = self.eval(item[1])
                    if not isinstance(spread, list):
                        return self.unknown(render(node), "a spread of what is not a list")
                    out.extend(spread)
                else:
                    out.append(self.eval(item))
            return out
        if kind == "obj":
            return self._object(node)
        if kind == "call":
            return self._call(node)
        if kind == "mcall":
            return self.method(self.eval(node[1]), node[2], [self.eval(a) for a in node[3]], node)
        if kind == "op":
            return self._op(node)
        if kind in ("for", "forobj"):
            return self._for(node)
        if kind == "tmpl":
            return joined(self._parts(node[1]))
        if kind == "splat":
            return self._splat(node)
        if kind == "lambda":
            return Lambda(tuple(node[1]), node[2], self, dict(self.locals))
        if kind == "bad":
            return self.unknown(str(node[1]), str(node[2]))
        return self.unknown(render(node), f"a {kind} expression is not evaluated")

    def _has(self, obj: dict[str, Any], node: Node) -> bool:
        key = self.eval(node[2])
        if not isinstance(key, str):
            return True
        return key in obj or (self.fold_keys and key.lower() in {str(k).lower() for k in obj})

    def _object(self, node: Node) -> Any:
        out: dict[str, Any] = {}
        for entry in node[1]:
            if entry[0] == "spread":
                spread = self.eval(entry[1])
                if not isinstance(spread, dict):
                    return self.unknown(render(node), "a spread of what is not an object")
                out.update(spread)
                continue
            key_node, value_node = entry
            key = self.eval(key_node)
            out[text_of(key)] = self.eval(value_node)
        return out

    def _parts(self, parts: list[Node]) -> list[Any]:
        """The pieces of a string template (Terraform's directives expanded)."""
        out: list[Any] = []
        for part in parts:
            if part[0] == "tif":
                cond = self.eval(part[1])
                if isinstance(cond, bool):
                    out += self._parts(part[2] if cond else part[3])
                else:
                    out.append(self.unknown("%{if " + render(part[1]) + "}...", _why(cond)))
            elif part[0] == "tfor":
                items = self._items(self.eval(part[2]), part)
                if isinstance(items, Unknown):
                    out.append(items)
                    continue
                for key, value in items:
                    with self.bound(self.loop_names(part[1], key, value, True)):
                        out += self._parts(part[3])
            else:
                value = self.eval(part)
                if isinstance(value, list | dict):
                    out.append(self.unknown(render(part), "a list or object in a string"))
                else:
                    out.append(value)
        return out

    def _items(self, coll: Any, node: Node) -> list[tuple[Any, Any]] | Unknown:
        """(key or index, value) of a collection to loop over."""
        if isinstance(coll, Unknown):
            return Unknown(coll.text, coll.why, coll.where)
        if isinstance(coll, dict):
            pairs = sorted(coll.items()) if not self.fold_keys else list(coll.items())
            items: list[tuple[Any, Any]] = list(pairs)
        elif isinstance(coll, list):
            items = list(enumerate(coll))
        else:
            return self.unknown(render(node), f"a loop over {literal(coll)}")
        if len(items) > MAX_ITEMS:
            return self.unknown(render(node), f"a loop over {len(items)} items is not expanded")
        return items

    def _for(self, node: Node) -> Any:
        names, coll = node[1], self.eval(node[2])
        items = self._items(coll, node)
        if isinstance(items, Unknown):
            return items
        obj = node[0] == "forobj"
        cond = node[5] if obj else node[4]
        result: Any = {} if obj else []
        for key, value in items:
            scope = self.loop_names(names, key, value, isinstance(coll, dict))
            with self.bound(scope):
                if cond is not None:
                    keep = self.eval(cond)
                    if isinstance(keep, Unknown):
                        return self.unknown(render(node), f"the loop filter is unknown: {keep.why}")
                    if not keep:
                        continue
                if obj:
                    k = text_of(self.eval(node[3]))
                    v = self.eval(node[4])
                    if node[6]:
                        result.setdefault(k, []).append(v)
                    else:
                        result[k] = v
                else:
                    result.append(self.eval(node[3]))
        return result

    def loop_names(self, names: list[str], key: Any, value: Any, keyed: bool) -> dict[str, Any]:
        """Loop variables for one element: Terraform's ``k, v`` / ``v``; Bicep's ``(x, i)``."""
        if len(names) == 1:
            return {names[0]: value}
        return {names[0]: key, names[1]: value}

    def _splat(self, node: Node) -> Any:
        obj = self.eval(node[1])
        if isinstance(obj, Unknown):
            return self.unknown(render(node), obj.why)
        seq = (
            obj
            if isinstance(obj, list)
            else list(obj.values())
            if isinstance(obj, dict)
            else []
            if obj is None
            else [obj]
        )
        out = []
        for item in seq:
            for attr in node[2]:
                item = self.lookup(item, attr, node)
            out.append(item)
        return out

    def _call(self, node: Node) -> Any:
        name, arg_nodes = str(node[1]), node[2]
        key = name.lower()
        for prefix in ("sys.", "az."):
            key = key.removeprefix(prefix)
        found = self.special(key, arg_nodes)
        if found is not NotImplemented:
            return found
        lazy = _LAZY.get(key)
        if lazy is not None:
            return lazy(self, arg_nodes, node)
        fn = self.functions.get(key)
        if fn is None:
            return self.unknown(render(node), f"{name}() is not evaluated offline")
        args = [self.eval(a) for a in arg_nodes]
        if key not in _TAKES_UNKNOWN and (bad := _first_unknown_arg(args)) is not None:
            nonempty = key in _NONEMPTY
            text = f"{name}({', '.join(literal(a) for a in args)})"
            return unknown(text, bad.why, bad.where or self.where, nonempty=nonempty)
        try:
            return fn(*args)
        except _Refused as exc:
            text = f"{name}({', '.join(literal(a) for a in args)})"
            return unknown(text, exc.why, self.where, nonempty=exc.nonempty)
        except (TypeError, ValueError, LookupError, AttributeError, ZeroDivisionError) as exc:
            return self.unknown(render(node), f"{name}() cannot be evaluated here ({exc})")

    def _op(self, node: Node) -> Any:
        op, args = node[1], node[2]
        if op == "&&":
            return self._logic(args, stop=False)
        if op == "||":
            return self._logic(args, stop=True)
        if op == "?:":
            return self.choose(args[0], args[1], args[2], node)
        if op == "??":
            left = self.eval(args[0])
            if isinstance(left, Unknown):
                return left
            return self.eval(args[1]) if left is None else left
        values = [self.eval(a) for a in args]
        if op == "!":
            v = values[0]
            if isinstance(v, Unknown):
                return self.unknown(render(node), v.why)
            return not v
        decided = _nonempty_length(op, args, values)
        if decided is not None:
            return decided
        bad = next((v for v in values if isinstance(v, Unknown)), None)
        if bad is not None:
            same = all(isinstance(v, Unknown) and v.text == values[0].text for v in values)
            if op in ("==", "!=") and same:  # one value of one deployment
                return op == "=="
            return unknown(render(node), bad.why, bad.where or self.where)
        try:
            return (self.operators.get(op) or _OPERATORS[op])(*values)
        except (TypeError, ValueError, ZeroDivisionError, KeyError) as exc:
            return self.unknown(render(node), f"'{op}' cannot be evaluated here ({exc})")

    def _logic(self, args: list[Node], *, stop: bool) -> Any:
        """``&&`` (stop on false) and ``||`` (stop on true); an unknown operand only decides
        nothing when another one does not."""
        pending: Unknown | None = None
        for arg in args:
            v = self.eval(arg)
            if isinstance(v, Unknown):
                pending = pending or v
            elif bool(v) == stop:
                return stop
        if pending is not None:
            return Unknown(pending.text, pending.why, pending.where)
        return not stop

    def choose(self, cond_node: Node, a: Node, b: Node, node: Node) -> Any:
        """``cond ? a : b``: the branch taken, or unknown (both equal: that value)."""
        cond = self.eval(cond_node)
        if isinstance(cond, Unknown):
            left, right = self.eval(a), self.eval(b)
            if left == right and first_unknown(left) is None:
                return left
            nonempty = _nonempty(left) and _nonempty(right)
            return unknown(
                render(node),
                f"it depends on {cond.expr} ({cond.why})",
                cond.where or self.where,
                nonempty=nonempty,
            )
        return self.eval(a if cond else b)


def _why(value: Any) -> str:
    return value.why if isinstance(value, Unknown) else f"not a condition: {literal(value)}"


def _nonempty(value: Any) -> bool:
    if isinstance(value, Unknown):
        return value.nonempty
    return value not in (None, "", [], {})


def _first_unknown_arg(args: list[Any]) -> Unknown | None:
    for a in args:
        if isinstance(a, Unknown):
            return a
    return None


def _nonempty_length(op: str, args: list[Node], values: list[Any]) -> bool | None:
    """``length(x) > 0`` (and ``!= 0``, ``>= 1``) of an unknown known not to be empty."""
    if len(args) != 2 or values[1] not in (0, 1) or isinstance(values[1], bool):
        return None
    inner = args[0][2] if args[0][0] == "at" else args[0]
    if not (inner[0] == "call" and str(inner[1]).lower() == "length" and inner[2]):
        return None
    if not (isinstance(values[0], Unknown) and values[0].nonempty):
        return None
    if (op, values[1]) in ((">", 0), ("!=", 0), (">=", 1)):
        return True
    if (op, values[1]) in (("==", 0), ("<", 1), ("<=", 0)):
        return False
    return None


# ---------------------------------------------------------------- operators and functions


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b  # true is not 1
    return bool(a == b)


_OPERATORS: dict[str, Callable[..., Any]] = {
    "==": _eq,
    "!=": lambda a, b: not _eq(a, b),
    "=~": lambda a, b: str(a).lower() == str(b).lower(),
    "!~": lambda a, b: str(a).lower() != str(b).lower(),
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a // b if isinstance(a, int) and isinstance(b, int) else a / b,
    "%": lambda a, b: a % b,
    "neg": lambda a: -a,
}


def _lazy_if(scope: Scope, args: list[Node], node: Node) -> Any:
    if len(args) != 3:
        return scope.unknown(render(node), "if() takes three arguments")
    return scope.choose(args[0], args[1], args[2], node)


def _lazy_coalesce(scope: Scope, args: list[Node], node: Node) -> Any:
    for arg in args:
        v = scope.eval(arg)
        if isinstance(v, Unknown):
            return v
        if v is not None:
            return v
    return None


def _lazy_and(scope: Scope, args: list[Node], node: Node) -> Any:
    return scope._logic(args, stop=False)


def _lazy_or(scope: Scope, args: list[Node], node: Node) -> Any:
    return scope._logic(args, stop=True)


def _lazy_try(scope: Scope, args: list[Node], node: Node) -> Any:
    """Terraform's ``try()``: the first argument that evaluates (an unknown one decides)."""
    for arg in args:
        v = scope.eval(arg)
        if isinstance(v, Unknown) and v.missing and arg is not args[-1]:
            continue
        return v
    return None


_LAZY: dict[str, Callable[[Scope, list[Node], Node], Any]] = {
    "if": _lazy_if,
    "coalesce": _lazy_coalesce,
    "and": _lazy_and,
    "or": _lazy_or,
    "try": _lazy_try,
}


def _refuse(why: str, *, nonempty: bool = False) -> Callable[..., Any]:
    def fn(*args: Any) -> Any:
        raise _Refused(why, nonempty=nonempty)

    return fn


def _format(fmt: str, *args: Any) -> Any:
    """ARM/Bicep ``format()``: ``{0}``, ``{1:fmt}``, ``{{`` and ``}}``."""
    parts: list[Any] = []
    pos = 0
    for m in re.finditer(r"\{(\d+)(?::[^}]*)?\}|\{\{|\}\}", fmt):
        parts += [fmt[pos : m.start()], args[int(m.group(1))] if m.group(1) else m.group()[0]]
        pos = m.end()
    return joined([*parts, fmt[pos:]])


def _concat(*args: Any) -> Any:
    if args and all(isinstance(a, list) for a in args):
        return [x for a in args for x in a]
    if any(isinstance(a, list | dict) for a in args):
        raise _Refused("concat() of lists and strings")
    return joined(list(args))


def _replace(s: Any, old: Any, new: Any) -> Any:
    """``replace()``: a text read from a file keeps its place; an unknown replacement leaves
    the rest of the text known (its places read ``${...}``)."""
    if isinstance(old, Unknown) or (isinstance(s, Unknown) and not is_template(s)):
        raise _Refused((s if isinstance(s, Unknown) else old).why)
    if isinstance(s, Unknown):  # replace in the known parts of the text
        parts: list[Any] = []
        for is_expr, piece in segments(s.text):
            if is_expr:
                parts.append(Unknown(piece, s.why, s.where))
                continue
            pieces = piece.split(str(old))
            parts.append(pieces[0])
            for rest in pieces[1:]:
                parts += [new, rest]
        found = joined(parts)
        return dataclasses.replace(found, origin=s.origin) if isinstance(found, Unknown) else found
    if not isinstance(s, str):
        raise TypeError("replace() of what is not a string")
    origin = s.origin if isinstance(s, Sourced) else None
    if not isinstance(new, Unknown):
        out = s.replace(str(old), text_of(new))
        return Sourced(out, *origin) if origin else out
    pieces = s.split(str(old))
    parts = [pieces[0]]
    for piece in pieces[1:]:
        parts += [new, piece]
    result = joined(parts)
    if origin and isinstance(result, Unknown):
        result = dataclasses.replace(result, origin=origin)
    return result


def _contains(coll: Any, item: Any) -> Any:
    if isinstance(coll, Unknown):
        raise _Refused(coll.why)
    if isinstance(coll, str):
        if isinstance(item, Unknown):
            raise _Refused(item.why)
        return text_of(item) in coll
    if isinstance(coll, dict):
        if isinstance(item, Unknown):
            raise _Refused(item.why)
        return text_of(item) in coll or text_of(item).lower() in {k.lower() for k in coll}
    if isinstance(coll, list):
        if any(_eq(x, item) for x in coll if not isinstance(x, Unknown)):
            return True
        bad = next((x for x in [item, *coll] if isinstance(x, Unknown)), None)
        if bad is not None:
            raise _Refused(bad.why)
        return False
    raise TypeError("contains() of what is not a collection")


def _length(x: Any) -> Any:
    if isinstance(x, Unknown):
        raise _Refused(x.why)
    return len(x)


def _empty(x: Any) -> Any:
    if isinstance(x, Unknown):
        if x.nonempty:
            return False
        raise _Refused(x.why)
    return x in (None, "", [], {})


def _union(*args: Any) -> Any:
    bad = _first_unknown_arg(list(args))
    if bad is not None:
        raise _Refused(bad.why)
    if all(isinstance(a, dict) for a in args):
        out: dict[str, Any] = {}
        for a in args:
            out.update(a)
        return out
    if all(isinstance(a, list) for a in args):
        seen: list[Any] = []
        for a in args:
            seen += [x for x in a if x not in seen]
        return seen
    raise TypeError("union() of different kinds")


def _join(items: Any, sep: Any) -> Any:
    if isinstance(items, Unknown) or isinstance(sep, Unknown):
        raise _Refused((items if isinstance(items, Unknown) else sep).why)
    out: list[Any] = []
    for i, x in enumerate(items):
        out += [sep, x] if i else [x]
    return joined(out)


def _string(x: Any) -> Any:
    if (bad := first_unknown(x)) is not None:
        raise _Refused(bad.why)
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return "True" if x else "False"
    return text_of(x) if not isinstance(x, list | dict) else json.dumps(x, separators=(",", ":"))


def _items_of(x: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": v} for k, v in sorted(x.items(), key=lambda kv: kv[0].lower())]


def _apply(fn: Any, *args: Any) -> Any:
    if not callable(fn):
        raise TypeError("not a lambda")
    return fn(*args)


def _filter(items: list[Any], fn: Any) -> Any:
    out = []
    for x in items:
        keep = _apply(fn, x)
        if isinstance(keep, Unknown):
            raise _Refused(keep.why)
        if keep:
            out.append(x)
    return out


def _reduce(items: list[Any], initial: Any, fn: Any) -> Any:
    acc = initial
    for x in items:
        acc = _apply(fn, acc, x)
    return acc


def _to_object(items: list[Any], key_fn: Any, value_fn: Any = None) -> Any:
    out: dict[str, Any] = {}
    for x in items:
        key = _apply(key_fn, x)
        if isinstance(key, Unknown):
            raise _Refused(key.why)
        out[text_of(key)] = _apply(value_fn, x) if value_fn is not None else x
    return out


def _base64(x: Any) -> str:
    return base64.b64encode(text_of(x).encode()).decode()


def _split(s: str, sep: Any) -> list[str]:
    seps = [sep] if isinstance(sep, str) else list(sep)
    return re.split("|".join(map(re.escape, seps)), s)


#: Functions that look inside their arguments themselves (an unknown element is not fatal).
_TAKES_UNKNOWN = {
    "concat",
    "format",
    "replace",
    "contains",
    "length",
    "empty",
    "union",
    "join",
    "string",
    "createarray",
    "array",
    "createobject",
    "first",
    "last",
    "any",
    "items",
    "filter",
    "map",
    "reduce",
    "toobject",
    "sort",
    "take",
    "skip",
    "objectkeys",
    "flatten",
    "merge",
    "tomap",
    "tolist",
    "toset",
    "keys",
    "values",
    "element",
    "lookup",
    "compact",
    "distinct",
    "one",
    "shallowmerge",
    "jsonencode",
    "zipmap",
    "coalescelist",
    "slice",
    "reverse",
}
#: Functions whose result is never empty, even when an argument is unknown.
_NONEMPTY = {
    "uniquestring",
    "guid",
    "resourceid",
    "subscriptionresourceid",
    "tenantresourceid",
    "extensionresourceid",
    "base64",
    "md5",
    "sha1",
    "sha256",
    "uuid",
}


def _first(x: Any) -> Any:
    if isinstance(x, Unknown):
        raise _Refused(x.why)
    return x[0] if x else None


def _last(x: Any) -> Any:
    if isinstance(x, Unknown):
        raise _Refused(x.why)
    return x[-1] if x else None


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` refused when its argument is unknown (for functions in :data:`_TAKES_UNKNOWN`
    that only tolerate unknown elements, not an unknown whole)."""

    def wrapper(*args: Any) -> Any:
        bad = next((a for a in args if isinstance(a, Unknown)), None)
        if bad is not None:
            raise _Refused(bad.why)
        return fn(*args)

    return wrapper


def _object_keys(x: dict[str, Any]) -> list[str]:
    return list(x)


#: Functions ARM and Bicep share (names in lower case). Deployment-scope functions
#: (``resourceGroup()``, ``subscription()``) are unknown, one value per deployment.
ARM_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "concat": _concat,
    "format": _format,
    "replace": _replace,
    "tolower": lambda s: s.lower(),
    "toupper": lambda s: s.upper(),
    "trim": lambda s: s.strip(),
    "empty": _empty,
    "contains": _contains,
    "length": _length,
    "equals": _eq,
    "not": lambda a: not a,
    "less": lambda a, b: a < b,
    "lessorequals": lambda a, b: a <= b,
    "greater": lambda a, b: a > b,
    "greaterorequals": lambda a, b: a >= b,
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a // b,
    "mod": lambda a, b: a % b,
    "min": lambda *a: min(a[0]) if len(a) == 1 else min(a),
    "max": lambda *a: max(a[0]) if len(a) == 1 else max(a),
    "first": _first,
    "last": _last,
    "split": _split,
    "join": _join,
    "string": _string,
    "int": int,
    "bool": lambda x: x if isinstance(x, bool) else str(x).lower() == "true",
    "json": lambda s: json.loads(s) if isinstance(s, str) else s,
    "any": lambda x: x,
    "array": lambda x: x if isinstance(x, list) else [x],
    "createarray": lambda *a: list(a),
    "createobject": lambda *a: {text_of(a[i]): a[i + 1] for i in range(0, len(a) - 1, 2)},
    "union": _union,
    "shallowmerge": _guarded(lambda items: _union(*items)),
    "intersection": lambda *a: [x for x in a[0] if all(x in o for o in a[1:])],
    "range": lambda start, count: list(range(start, start + count)),
    "take": _guarded(lambda x, n: x[:n]),
    "skip": _guarded(lambda x, n: x[n:]),
    "startswith": lambda s, p: s.lower().startswith(p.lower()),
    "endswith": lambda s, p: s.lower().endswith(p.lower()),
    "indexof": lambda s, p: s.lower().find(p.lower()),
    "lastindexof": lambda s, p: s.lower().rfind(p.lower()),
    "substring": lambda s, start, n=None: s[start:] if n is None else s[start : start + n],
    "padleft": lambda s, n, c=" ": text_of(s).rjust(n, c),
    "base64": _base64,
    "base64tostring": lambda s: base64.b64decode(s).decode(),
    "uri": lambda base, rel: base.rsplit("/", 1)[0] + "/" + rel.lstrip("/"),
    "items": _guarded(_items_of),
    "objectkeys": _guarded(_object_keys),
    "filter": _guarded(_filter),
    "map": _guarded(lambda items, fn: [_apply(fn, x) for x in items]),
    "reduce": _guarded(_reduce),
    "sort": _guarded(lambda items, fn: list(items)),
    "toobject": _guarded(_to_object),
    "flatten": _guarded(lambda items: [y for x in items for y in x]),
    "true": lambda: True,
    "false": lambda: False,
    "null": lambda: None,
    "uniquestring": _refuse("a hash computed at deployment", nonempty=True),
    "guid": _refuse("a hash computed at deployment", nonempty=True),
    "newguid": _refuse("a new value at every deployment", nonempty=True),
    "utcnow": _refuse("the time of the deployment", nonempty=True),
    "reference": _refuse("a property only known once deployed"),
    "list": _refuse("a secret: never read"),
    "listkeys": _refuse("a secret: never read"),
    "listsecrets": _refuse("a secret: never read"),
    "environment": _refuse("the cloud the deployment runs in"),
    "deployment": _refuse("the deployment itself"),
    "managementgroup": _refuse("the management group of the deployment"),
    "tenant": _refuse("the tenant of the deployment"),
    "subscription": _refuse("the subscription of the deployment"),
    "resourcegroup": _refuse("the resource group of the deployment"),
    "pickzones": _refuse("zones chosen at deployment"),
    "datauri": _refuse("not evaluated offline"),
    "getsecret": _refuse("a secret: never read"),
}


def resource_id(rtype: str, names: list[Any]) -> Any:
    """A provider-relative resource id, ``/providers/<namespace>/<type>/<name>/...``; the
    names may be unknown (the id then is, with its known parts in its text)."""
    ns, *types = rtype.split("/")
    segs: list[Any] = []
    for n in names:
        if isinstance(n, Unknown):
            segs.append(n)
        else:
            segs += [s for s in text_of(n).split("/") if s]
    parts: list[Any] = ["/providers/", ns]
    for t, n in zip(types, segs, strict=False):
        parts += ["/", t, "/", n]
    return joined(parts)


def id_function(*args: Any) -> Any:
    """``resourceId()`` and its kin: the type is the first argument with a '/', the names
    follow it (a subscription, resource group or scope before it only says where)."""
    at = next(
        (
            i
            for i, a in enumerate(args)
            if isinstance(a, str) and "/" in a and not a.startswith("/")
        ),
        None,
    )
    if at is None:
        raise _Refused("no resource type among the arguments")
    return resource_id(args[at], list(args[at + 1 :]))


for _name in ("resourceid", "subscriptionresourceid", "tenantresourceid", "extensionresourceid"):
    ARM_FUNCTIONS[_name] = id_function
_TAKES_UNKNOWN |= {
    "resourceid",
    "subscriptionresourceid",
    "tenantresourceid",
    "extensionresourceid",
}


def deployment_value(expr: str, why: str, where: str | None) -> Unknown:
    """``subscription()``-like values: one per deployment, never empty."""
    return unknown(expr, why, where, nonempty=True)


__all__ = [
    "ARM_FUNCTIONS",
    "MAX_ITEMS",
    "SLASH",
    "Budget",
    "Lambda",
    "Node",
    "OverBudget",
    "Refused",
    "Runtime",
    "Scope",
    "deployment_value",
    "id_function",
    "render",
    "resource_id",
]

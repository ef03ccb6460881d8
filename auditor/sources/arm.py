"""ARM templates (JSON, hand-written or compiled from Bicep) as an estate.

Every deployment template under the folder that no other template links to (and no Bicep file
uses as a module) is a deployment, read with ``<name>.parameters.json`` when one sits next to it.
Resources come from ``resources`` (an array, or an object of symbolic names in
``languageVersion: 2.0``), from nested child ``resources``, from inline
``Microsoft.Resources/deployments`` templates and from linked templates in the same folder
(``templateLink.relativePath``), expanded over ``copy`` loops and decided by their
``condition`` where it can be told. Expressions are evaluated with the shared evaluator
(:mod:`auditor.sources.iac.expr`); what cannot be computed offline (``reference()``, a parameter
without a value) stays unknown, with its reason. A template compiled from a Bicep file beside it
is left to the Bicep reader (read twice, every resource would be counted twice).
"""

from __future__ import annotations

import bisect
import json
import re
from pathlib import Path
from typing import Any

from auditor.model import CAPABILITIES, Estate, Location, ReadError, ordered_notes
from auditor.sources import resources
from auditor.sources.iac import files
from auditor.sources.iac.expr import (
    ARM_FUNCTIONS,
    MAX_ITEMS,
    Budget,
    Node,
    OverBudget,
    Runtime,
    Scope,
    deployment_value,
    render,
)
from auditor.sources.iac.files import Files
from auditor.sources.iac.lower import is_policy_type, pin_embedded
from auditor.sources.iac.values import Unknown, joined, placeholder, text_of, unknown

PROVIDES = frozenset(CAPABILITIES)
_DEPLOYMENT_FUNCTIONS = {
    "subscription",
    "resourcegroup",
    "tenant",
    "deployment",
    "environment",
    "managementgroup",
}

# ---------------------------------------------------------------- JSON with positions


class _Obj(dict[str, Any]):
    """A JSON object that knows where it is in the text."""

    span: tuple[int, int] = (0, 0)


#: The next brace outside strings, after the strings and other text before it (skipped in one
#: possessive run). NOTE: linear only where a brace always follows (a valid JSON object): on a
#: long tail without one, every later start would scan to the end.
_NEXT_BRACE = re.compile(r'(?:"[^"\\]*(?:\\.[^"\\]*)*"|[^"{}]+)*+([{}])')


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


# ---------------------------------------------------------------- expressions

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
                node = ("get", node, ("lit", take()), False)
            else:
                node = ("get", node, expr(), False)
                take("]")
        return node

    node = expr()
    if tokens[at][0]:
        raise ValueError(f"unexpected {tokens[at][1]!r}")
    return node


class TemplateScope(Scope):
    """One template's parameters and variables, evaluated lazily (they refer to each other)."""

    functions = ARM_FUNCTIONS

    def __init__(
        self,
        reader: _Template,
        template: dict[str, Any],
        given: dict[str, Any],
        outer: TemplateScope | None,
    ) -> None:
        super().__init__(reader.shown, reader.budget)
        self.reader = reader
        self.entries = {
            kind: {k.lower(): v for k, v in raw.items()} if isinstance(raw, dict) else {}
            for kind in ("parameters", "variables")
            for raw in [template.get(kind)]
        }
        self.given = {k.lower(): v for k, v in given.items()}
        self.outer = outer
        self.done: dict[tuple[str, str], Any] = {}
        self.busy: list[tuple[str, str]] = []
        self.cyclic: set[tuple[str, str]] = set()

    def get(self, kind: str, name: str) -> Any:
        """``parameters(name)`` or ``variables(name)``."""
        entries = self.entries[kind]
        key = name.lower()
        expr = f"{kind}('{name}')"
        if key not in entries and not (kind == "parameters" and key in self.given):
            if self.outer is not None:  # a nested template in outer scope
                return self.outer.get(kind, name)
            return self.unknown(expr, f"{kind[:-1]} '{name}' is not declared")
        entry = (kind, key)
        if entry in self.busy:
            # NOTE: a cycle through every name evaluated since: each of them is unknown because
            # it refers to itself, whichever was asked for first.
            self.cyclic.update(self.busy[self.busy.index(entry) :])
        if entry not in self.done:
            circular = self.unknown(expr, f"{kind[:-1]} '{name}' refers to itself")
            self.done[entry] = circular
            self.busy.append(entry)
            saved, self.locals = self.locals, {}
            try:
                if kind == "variables":
                    value = self.value(entries[key])
                elif _secure(entries[key]):
                    # NOTE: a secret is never read; whether one is given decides conditions.
                    given = self.given.get(key, entries[key].get("defaultValue"))
                    nonempty = given.nonempty if isinstance(given, Unknown) else bool(given)
                    why = f"parameter '{name}' is secure: never read"
                    value = self.unknown(name, why, nonempty=nonempty)
                elif key in self.given:
                    value = self.given[key]
                elif isinstance(entries[key], dict) and "defaultValue" in entries[key]:
                    value = self.value(entries[key]["defaultValue"])
                    if value in ([], {}) and self.outer is None and len(self.reader.stack) == 1:
                        value = placeholder(name, self.where)
                else:
                    value = self.unknown(name, f"parameter '{name}' has no value")
            finally:
                self.locals = saved
                self.busy.pop()
            self.done[entry] = circular if entry in self.cyclic else value
        return self.done[entry]

    def special(self, name: str, args: list[Node]) -> Any:
        """ARM's own functions: parameters(), variables(), copyIndex(), the deployment's."""
        if name in ("parameters", "variables") and args:
            key = self.eval(args[0])
            if isinstance(key, str):
                return self.get(name, key)
        if name == "copyindex":
            values = [self.eval(a) for a in args]
            loop = next((v for v in values if isinstance(v, str)), None)
            offset = next((v for v in values if isinstance(v, int)), 0)
            index = self.locals.get(f"copy:{loop}" if loop else "copy")
            if index is None:
                return self.unknown(render(("call", "copyIndex", args)), "not in a copy loop")
            return index + offset if isinstance(index, int) else index
        if name == "reference" and args:
            target = self.eval(args[0])
            rid = target if isinstance(target, str) and "/providers/" in target else None
            return Runtime({}, _describe(text_of(target)), render(("call", "reference", args)), rid)
        if name in _DEPLOYMENT_FUNCTIONS and not args:
            return deployment_value(
                f"{name.replace('group', 'Group')}()",
                f"{name}() is the deployment's own",
                self.where,
            )
        return NotImplemented

    def value(self, raw: Any) -> Any:
        """Evaluate a JSON value: the ``[...]`` expression strings inside it are evaluated."""
        self.budget.spend()
        if isinstance(raw, dict):
            return {k: self.value(v) for k, v in raw.items()}
        if isinstance(raw, list):
            return [self.value(v) for v in raw]
        if not isinstance(raw, str) or not (raw.startswith("[") and raw.endswith("]")):
            return raw
        if raw.startswith("[["):  # an escaped literal '['
            return raw[1:]
        try:
            node = parse_expression(raw[1:-1])
        except (ValueError, RecursionError) as exc:
            return self.unknown(raw[1:-1], f"expression not understood: {exc}")
        return self.eval(node)


def _describe(rid: str) -> str:
    """``Microsoft.X/y 'name'`` for a resource id (or a symbolic name), as unknowns name it."""
    parts = [p for p in rid.split("/") if p]
    if "providers" in parts:
        rest = parts[parts.index("providers") + 1 :]
        if len(rest) >= 3:
            types, names = rest[1::2], rest[2::2]
            return f"{rest[0]}/{'/'.join(types)} '{'/'.join(names)}'"
    return f"the resource '{rid}'"


def _secure(entry: Any) -> bool:
    return isinstance(entry, dict) and str(entry.get("type") or "").lower() in (
        "securestring",
        "secureobject",
    )


# ---------------------------------------------------------------- templates

_VALUE_KEY = re.compile(r'(?<!\\)"value"\s*:\s*"')
_METRICS_KEY = re.compile(r'(?<!\\)"metrics"\s*:')


class _Template:
    """One template file evaluated for one deployment (as an entry or a module)."""

    def __init__(
        self,
        source: Files,
        file: Path,
        text: str,
        deployment: str,
        budget: Budget,
        condition: Unknown | None,
        stack: tuple[Path, ...],
    ) -> None:
        self.source, self.file, self.text = source, file, text
        self.shown = source.shown(file)
        self.deployment, self.budget = deployment, budget
        self.condition, self.stack = condition, stack
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, pos: int | None) -> int | None:
        return bisect.bisect_right(self.starts, pos) if pos is not None else None

    def line_of(self, obj: Any) -> int | None:
        if not isinstance(obj, _Obj) or obj.span == (0, 0):
            return None
        return self.line(obj.span[0])

    def run(self, template: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
        """Every resource to the sink; the outputs back."""
        scope = TemplateScope(self, template, given, None)
        self.walk(template.get("resources"), scope, None)
        return outputs_of(template, scope)

    def walk(self, items: Any, scope: TemplateScope, parent: tuple[str, Any] | None) -> None:
        for res in items.values() if isinstance(items, dict) else items or []:
            if not isinstance(res, dict):
                continue
            copy = res.get("copy")
            if copy is None:
                self.one(res, scope, parent)
                continue
            where = f"{self.shown}:{self.line_of(res)}"
            count = scope.value(copy.get("count")) if isinstance(copy, dict) else None
            name = str(copy.get("name") or "") if isinstance(copy, dict) else ""
            if isinstance(count, int) and 0 <= count <= MAX_ITEMS:
                for i in range(count):
                    with scope.bound({"copy": i, f"copy:{name}": i}):
                        self.one(res, scope, parent)
                continue
            why = count.why if isinstance(count, Unknown) else f"count {count!r}"
            self.source.sink.note(
                where,
                f"a copy loop is not expanded ({why}); one copy with unknown values stands for all",
            )
            index = unknown("copyIndex()", f"a copy loop over an unknown count ({why})", where)
            with scope.bound({"copy": index, f"copy:{name}": index}):
                self.one(res, scope, parent)

    def one(
        self, res: dict[str, Any], scope: TemplateScope, parent: tuple[str, Any] | None
    ) -> None:
        line = self.line_of(res)
        where = f"{self.shown}:{line}"
        with scope.at_line(line):
            cond = scope.value(res.get("condition", True))
            rtype = text_of(scope.value(res.get("type")))
            name = scope.value(res.get("name"))
        if cond is False:
            return
        condition = self.condition
        if isinstance(cond, Unknown):
            condition = unknown(render(parse_or_bad(res.get("condition"))), cond.why, where)
        if parent and "." not in rtype.split("/")[0]:  # a child type, relative to its parent
            rtype = f"{parent[0]}/{rtype}"
        if parent and len(text_of(name).split("/")) < len(rtype.split("/")) - 1:
            name = joined([parent[1], "/", name])
        if rtype.lower() == "microsoft.resources/deployments":
            self.deployment_resource(res, scope, where, condition)
            return
        with scope.at_line(line):
            props = scope.value(res.get("properties"))
            target = scope.value(res["scope"]) if "scope" in res else None
        raw = res.get("properties")
        origin: tuple[str, int | None] = (self.shown, line)
        lines: dict[str, int] = {}
        if isinstance(raw, _Obj):
            if is_policy_type(rtype) and (m := _VALUE_KEY.search(self.text, *raw.span)):
                # The policy XML is one JSON string: its statements are on the "value" line.
                origin = (self.shown, self.line(m.end() - 1))
            if (m := _METRICS_KEY.search(self.text, *raw.span)) is not None:
                lines["metrics"] = self.line(m.start()) or 0
        self.source.sink.add(
            rtype,
            name,
            props,
            origin=origin,
            deployment=self.deployment,
            scope=target,
            condition=condition,
            existing=res.get("existing") is True,
            lines=lines or None,
        )
        if res.get("resources"):
            self.walk(res["resources"], scope, (rtype, name))

    def deployment_resource(
        self, res: dict[str, Any], scope: TemplateScope, where: str, condition: Unknown | None
    ) -> None:
        props = res.get("properties")
        if not isinstance(props, dict):
            return
        given_raw = props.get("parameters") or {}
        given = {}
        for key, entry in given_raw.items() if isinstance(given_raw, dict) else []:
            if isinstance(entry, dict) and "value" in entry:
                given[key] = scope.value(entry["value"])
            else:
                given[key] = unknown(key, "a Key Vault reference: never read", where)
        inner = props.get("template")
        saved = self.condition
        self.condition = condition
        try:
            if isinstance(inner, dict):
                opts = props.get("expressionEvaluationOptions")
                inner_scope = isinstance(opts, dict) and str(opts.get("scope")).lower() == "inner"
                nested = TemplateScope(self, inner, given, None if inner_scope else scope)
                self.walk(inner.get("resources"), nested, None)
                return
            link = props.get("templateLink")
            rel = scope.value(link.get("relativePath")) if isinstance(link, dict) else None
            if isinstance(rel, str):
                target = (self.file.parent / rel).resolve()
                if self.source.inside(target) and target.is_file():
                    run_module(
                        self.source,
                        target,
                        given,
                        self.deployment,
                        self.budget,
                        condition=condition,
                        stack=self.stack,
                    )
                    return
            self.source.sink.unread(
                self.deployment, where, "a linked template is not followed (not in this folder)"
            )
        finally:
            self.condition = saved


def parse_or_bad(raw: Any) -> Node:
    """An ARM value as a node (for quoting it)."""
    if isinstance(raw, str) and raw.startswith("[") and raw.endswith("]"):
        try:
            return parse_expression(raw[1:-1])
        except ValueError:
            return ("bad", raw, "")
    return ("lit", raw)


def outputs_of(template: dict[str, Any], scope: TemplateScope) -> dict[str, Any]:
    """A template's outputs."""
    out = {}
    raw = template.get("outputs")
    for name, entry in raw.items() if isinstance(raw, dict) else []:
        if isinstance(entry, dict) and "value" in entry:
            out[name] = scope.value(entry["value"])
        elif isinstance(entry, dict):
            out[name] = scope.unknown(name, "an output computed by a copy loop")
    return out


def run_module(
    source: Files,
    file: Path,
    given: dict[str, Any],
    deployment: str,
    budget: Budget,
    *,
    condition: Unknown | None = None,
    stack: tuple[Path, ...] = (),
) -> dict[str, Any] | Unknown:
    """Evaluate an ARM template as a module (of a Bicep file, or linked): its resources go to
    the sink, its outputs come back."""
    file = file.resolve()
    shown = source.shown(file)
    if file in stack:
        source.sink.note(shown, "a template that links to itself; not read again")
        return unknown(shown, "a template that links to itself", shown)
    data = _load(source, file)
    if data is None:
        source.partial(deployment, f"{shown}: not read")
        return unknown(shown, f"{shown} could not be read", shown)
    template, text = data
    reader = _Template(source, file, text, deployment, budget, condition, (*stack, file))
    return reader.run(template, given)


# ---------------------------------------------------------------- files


def _load(source: Files, file: Path) -> tuple[dict[str, Any], str] | None:
    """A template and its text (None, with a read error, when it is not one)."""
    shown = source.shown(file)
    text = source.read(file)
    if text is None:
        return None
    try:
        data = parse_json(text)
    except json.JSONDecodeError as exc:
        source.errors.append(
            ReadError(Location(shown, exc.lineno), f"invalid JSON: {exc.msg} (column {exc.colno})")
        )
        return None
    except RecursionError:
        source.errors.append(ReadError(Location(shown), "nested too deeply to read"))
        return None
    if not is_template(data):
        source.errors.append(ReadError(Location(shown, 1), "not an ARM deployment template"))
        return None
    return data, text


def find_files(path: Path) -> list[Path]:
    """ARM templates at or below ``path`` (parameters files, hidden folders and links skipped);
    a file named on the command line is taken whatever it holds."""
    if path.is_file():
        return [path]
    found = []
    for file in files.find_files(path, (".json",)):
        name = file.name.lower()
        if name == "parameters.json" or ".parameters." in name:
            continue
        try:
            with file.open("rb") as fh:
                head = fh.read(65536)
        except OSError:
            continue
        if b"deploymentTemplate" in head or (
            b'"resources"' in head and b'"contentVersion"' in head
        ):
            found.append(file)
    return found


def _compiled_from_bicep(file: Path, head: str) -> bool:
    """A template the Bicep compiler wrote from a ``.bicep`` file beside it."""
    return '"_generator"' in head and '"bicep"' in head and file.with_suffix(".bicep").is_file()


_MODULE_PATH = re.compile(r"""^\s*module\s+\w+\s+'([^']+\.json)'""", re.M)


def _used_as_modules(path: Path, templates: list[Path]) -> set[Path]:
    """Templates another template links to, or a Bicep file uses as a module."""
    used: set[Path] = set()
    for bicep_file in files.find_files(path, (".bicep",)) if path.is_dir() else []:
        try:
            text = bicep_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        used |= {(bicep_file.parent / m).resolve() for m in _MODULE_PATH.findall(text)}
    for file in templates:
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for m in re.finditer(r'"relativePath"\s*:\s*"([^"\[]+)"', text):
            used.add((file.parent / m.group(1)).resolve())
    return used


def _parameters(source: Files, file: Path) -> dict[str, Any]:
    pfile = file.with_name(file.name[: -len(".json")] + ".parameters.json")
    if not pfile.is_file():
        return {}
    text = source.read(pfile)
    try:
        data = json.loads(text) if text is not None else None
    except ValueError as exc:
        source.errors.append(ReadError(Location(source.shown(pfile)), f"invalid JSON: {exc}"))
        return {}
    params = data.get("parameters") if isinstance(data, dict) else None
    if not isinstance(params, dict):
        return {}
    source.sink.note(source.shown(file), f"parameter values from {pfile.name}")
    shown = source.shown(pfile)
    return {
        k: v["value"] if "value" in v else unknown(k, "a Key Vault reference: never read", shown)
        for k, v in params.items()
        if isinstance(v, dict)
    }


def read(path: Path) -> Files:
    """Every deployment of the ARM templates at ``path`` (a template or a folder), evaluated."""
    root = (path if path.is_dir() else path.parent).resolve()
    source = Files(root)
    templates = find_files(path)
    used = _used_as_modules(path, templates) if path.is_dir() else set()
    for file in templates:
        shown = source.shown(file)
        if file.resolve() in used:
            continue
        text = source.read(file)
        if text is None:
            continue
        if path.is_dir() and _compiled_from_bicep(file, text[:4096]):
            source.sink.note(
                shown, f"compiled from {file.with_suffix('.bicep').name}: read from the Bicep file"
            )
            continue
        budget = Budget()
        try:
            run_module(source, file, _parameters(source, file), shown, budget)
        except OverBudget as exc:
            source.errors.append(ReadError(Location(shown), f"{exc}; what follows is not read"))
            source.partial(shown, f"{shown}: {exc}")
        except RecursionError:
            source.errors.append(
                ReadError(Location(shown), "nested too deeply to evaluate; not read")
            )
            source.partial(shown, f"{shown}: too deep")
    pin_embedded(source.sink.out, source.texts)
    return source


def load_resources(path: Path) -> tuple[list[dict[str, Any]], list[ReadError], list[str]]:
    """ARM-shaped resources of every deployment at ``path``, read errors, and notes."""
    source = read(path)
    return source.sink.out, source.errors, ordered_notes(source.sink.notes)


def scope_for(template: dict[str, Any], given: dict[str, Any] | None = None) -> TemplateScope:
    """The scope of a template's parameters and variables, to evaluate its expressions
    (``scope.value("[...]")``) outside any file."""
    reader = _Template(
        Files(Path.cwd()), Path("template.json"), "", "template.json", Budget(), None, ()
    )
    return TemplateScope(reader, template, given or {}, None)


def prepare(path: Path) -> resources.Loaded:
    """The ARM templates at ``path`` (a template file or a folder), evaluated, not yet built."""
    files.require(path, find_files(path), "ARM templates")
    source = read(path)
    return source.loaded("arm", str(path), ordered_notes(source.sink.notes))


def load(path: Path) -> Estate:
    """Load the ARM templates at ``path`` (a template file or a folder) as an estate."""
    return prepare(path).estate()


__all__ = [
    "PROVIDES",
    "find_files",
    "is_template",
    "load",
    "load_resources",
    "parse_json",
    "prepare",
    "run_module",
    "scope_for",
]

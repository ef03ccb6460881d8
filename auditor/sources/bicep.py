"""Bicep files as an estate, read with pycep-parser (no Bicep compiler runs offline).

pycep gives a syntax tree, not a deployment: this module evaluates it the way
:mod:`auditor.sources.arm` evaluates template expressions (the trees are turned into the same
expression nodes). ``parent:`` chains and nested child resources give the full nested names;
``existing`` resources lend their names only; parameters with defaults, variables, string
interpolation, ``loadTextContent()`` (read relative to the .bicep file, never outside the scanned
folder), loops over known arrays and local modules (parsed with the parameters their caller
passes) are followed. What is not known offline stays unresolved, with a note.

A file that does not parse is a read error at its line; the other files still load. A file used
as a module by another file is only read through that module (with the caller's parameters).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from lark import Lark, Token
from lark.exceptions import LarkError, UnexpectedInput
from pycep import BicepParser
from pycep.models import BicepElement
from pycep.transformer import BicepToJson

from auditor.bounded import PolicyReadError, decode_policy_bytes, read_bounded
from auditor.errors import SourceError
from auditor.model import Estate, Location, ReadError
from auditor.sources import arm, resources
from auditor.sources.arm import (
    MAX_COPIES,
    Node,
    Scope,
    Unresolved,
    files_under,
    finish,
    is_policy_type,
    joined,
    pin_embedded,
    resource_id,
    scrub,
    shown_path,
    text_of,
)

PROVIDES = arm.PROVIDES
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", "$": "$"}
# The operators evaluated (as the ARM function of the same meaning), loosest binding first.
_OPERATORS = {"conditional": "if", "coalesce": "coalesce", "or": "or", "and": "and"}
_OPERATORS |= {"equals": "equals", "not_equals": "equals", "not": "not"}
_BINDING = {k: i for i, k in enumerate(_OPERATORS)} | {"not_equals": 4}


class _Tree(BicepToJson):
    """pycep's transformer with three repairs for this loader."""

    def object(self, args: list[tuple[str, Any]]) -> dict[str, Any]:
        # pycep keeps only the last nested child resource of an object (dict(args)); keep all.
        out: dict[str, Any] = {k: v for k, v in args if k != "__child_resource__"}
        out["__children__"] = [v for k, v in args if k == "__child_resource__"]
        return out

    def process_child_resource(self, *args: Any, **kwargs: Any) -> None:
        """Children stay inside their parent's body; the loader walks them with the parent."""

    def key(self, arg: tuple[Token]) -> str:
        text = str(arg[0])
        return text[1:-1] if text.startswith("'") else text  # pycep keeps the quotes

    def string(self, arg: tuple[Token]) -> Any:
        if arg[0].type not in ("QUOTED_STRING", "QUOTED_INTERPOLATION"):
            return BicepElement(arg[0])  # an identifier
        return _interpolation(str(arg[0])[1:-1])  # pycep keeps escapes and ${...} as text


_LARK: list[Lark] = []


def _parse(text: str) -> dict[str, Any]:
    """The pycep tree of Bicep source (with line numbers); raises LarkError."""
    if not _LARK:
        _LARK.append(BicepParser(add_line_numbers=True).lark_parser)
    return cast("dict[str, Any]", _Tree(add_line_numbers=True).transform(_LARK[0].parse(text)))


def _interpolation(raw: str) -> Any:
    """A quoted string's value: text, or ``{"interpolation": [...]}`` with expression trees."""
    parts: list[Any] = []
    buf, i = "", 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            if raw[i + 1] == "u" and (end := raw.find("}", i)) > 0:
                buf, i = buf + chr(int(raw[i + 3 : end], 16)), end + 1
            else:
                buf, i = buf + _ESCAPES.get(raw[i + 1], raw[i + 1]), i + 2
        elif raw.startswith("${", i):
            depth, j, quoted = 1, i + 2, False
            while j < len(raw) and depth:  # find the matching '}' outside nested strings
                c = raw[j]
                quoted = quoted != (c == "'" and raw[j - 1] != "\\")
                depth += 0 if quoted else {"{": 1, "}": -1}.get(c, 0)
                j += 1
            try:
                expr = _parse(f"var v = {raw[i + 2 : j - 1]}\n")["variables"]["v"]["value"]
            except (LarkError, KeyError):
                expr = {"unparsed": raw[i:j]}
            parts, buf, i = [*parts, buf, expr], "", j
        else:
            buf, i = buf + raw[i], i + 1
    return {"interpolation": [*parts, buf]} if parts else buf


def _access(base: Node, rhs: Any) -> Node:
    """``base.rhs`` where pycep nests ``a.b.c`` to the right: ``(a, (b, c))``."""
    op = rhs.get("operator", {}) if isinstance(rhs, dict) else {}
    ops = list(op.get("operands", {}).values())
    if op.get("type") == "property_accessor":
        return _access(_access(base, ops[0]), ops[1])
    if op.get("type") == "index_accessor":
        return ("get", _access(base, ops[0]), _node(ops[1]))
    return ("get", base, ("lit", str(rhs))) if isinstance(rhs, str) else ("op", "an accessor")


def _node(v: Any) -> Node:
    """A pycep expression tree as an expression node of :mod:`auditor.sources.arm`."""
    if isinstance(v, BicepElement):
        return ("sym", str(v))
    if v is None or isinstance(v, str | int | bool):
        return ("lit", v)
    if isinstance(v, list):
        return ("list", [_node(x) for x in v])
    if not isinstance(v, dict):
        return ("op", "a value of an unknown kind")
    if "__children__" in v:  # an object literal (see _Tree.object), whatever its keys are
        return ("obj", {k: _node(x) for k, x in v.items() if k != "__children__"})
    if "interpolation" in v:
        return ("call", "concat", [_node(p) for p in v["interpolation"]])
    if "unparsed" in v:
        return ("op", v["unparsed"])
    if "function" in v:
        name, p = v["function"]["type"], v["function"].get("parameters") or {}
        if name == "resource_id":  # pycep reorders the arguments; put them back
            keys = ["subscription_id", "resource_group_name", "resource_type"]
            p = {k: p.get(k) for k in keys + [k for k in p if k.startswith("resource_name")]}
        return ("call", name, [_node(a) for a in p.values() if a is not None])
    if "operator" not in v:
        return ("op", "a loop or condition")
    kind, ops = v["operator"]["type"], list(v["operator"].get("operands", {}).values())
    if kind == "property_accessor":
        return _access(_node(ops[0]), ops[1])
    if kind == "index_accessor":
        return ("get", _node(ops[0]), _node(ops[1]))
    if kind == "nested_resource_accessor" and isinstance(ops[0], str):
        return _nested(str(ops[0]), _node(ops[1]))
    if kind not in _OPERATORS:
        return ("op", f"the {kind} operator")
    # pycep-parser has no operator precedence: 'a == b ? c : d' comes back as a == (b ? c : d)
    # and '!a && b' as !(a && b). The brackets are gone too, so when an operand binds more
    # loosely than its operator the meaning is ambiguous: unknown, never a guess.
    inner = [x["operator"]["type"] for x in ops[kind != "not" :] if _is_op(x)]
    if any(_BINDING.get(k, 9) < _BINDING[kind] or kind == "not" for k in inner):
        return ("op", "a mix of operators (pycep-parser loses their precedence)")
    node: Node = ("call", _OPERATORS[kind], [_node(x) for x in ops])
    return ("call", "not", [node]) if kind == "not_equals" else node


def _is_op(v: Any) -> bool:
    return isinstance(v, dict) and "operator" in v and v["operator"]["type"] in _BINDING


def _nested(parent: str, node: Node) -> Node:
    """``parent::child.x`` names the child resource ``parent::child`` (as the loader keys it)."""
    if node[0] == "get":
        return ("get", _nested(parent, node[1]), node[2])
    return ("sym", f"{parent}::{node[1]}") if node[0] == "sym" else node


def _body(config: Any) -> dict[str, Any]:
    """The object of a resource or module, inside its ``[for ...]`` or ``if (...)``."""
    while isinstance(config, dict) and "__children__" not in config and "config" in config:
        config = config["config"]
    return config if isinstance(config, dict) else {}


def _decls(tree: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str | None]]:
    """Every resource declaration, nested children keyed ``parent::child``, with its parent."""
    out: dict[str, tuple[dict[str, Any], str | None]] = {}

    def add(key: str, attrs: dict[str, Any], parent: str | None) -> None:
        out[key] = (attrs, parent)
        for child in _body(attrs.get("config")).get("__children__", []):
            add(f"{key}::{child['__name__']}", child["__attrs__"], key)

    for sym, attrs in (tree.get("resources") or {}).items():
        add(sym, attrs, None)
    return out


class _File(Scope):
    """One .bicep file evaluated with the parameter values it was given."""

    wrap = "${{{}}}"

    def __init__(self, load: _Loader, file: Path, tree: dict[str, Any], given: dict[str, Any]):
        self.load, self.file, self.tree, self.given = load, file, tree, given
        self.shown = load.shown(file)
        self.lines = load.texts[self.shown].splitlines()
        self.decls = _decls(tree)
        self.locals: dict[str, Any] = {}
        self.done: dict[str, Any] = {}

    @contextmanager
    def bound(self, loop_vars: dict[str, Any]) -> Iterator[None]:
        """Evaluate with these loop variables (and only these) in scope."""
        saved, self.locals = self.locals, loop_vars
        try:
            yield
        finally:
            self.locals = saved

    def symbol(self, name: str) -> Any:
        """A loop variable, parameter, variable or resource of this file."""
        if name in self.locals:
            return self.locals[name]
        if name not in self.done:
            self.done[name] = Unresolved(self.wrap.format(name), f"'{name}' refers to itself")
            with self.bound({}):  # a caller's loop variables are not in scope here
                self.done[name] = self._symbol(name)
        return self.done[name]

    def _symbol(self, name: str) -> Any:
        params, variables = self.tree.get("parameters") or {}, self.tree.get("variables") or {}
        text = self.wrap.format(name)
        if name in self.given:
            return self.given[name]
        if name in params:
            if params[name].get("default") is None:
                return Unresolved(text, f"parameter '{name}' has no value")
            return self.eval(_node(params[name]["default"]))
        if name in variables:
            return self.eval(_node(variables[name].get("value")))
        if name in self.decls:
            refs = [self.ref(name, loc) for loc in self.instances(self.decls[name][0])]
            return refs if "loop_type" in (self.decls[name][0].get("config") or {}) else refs[0]
        return Unresolved(text, f"'{name}' is not known offline (a module output or unknown)")

    def special(self, name: str, args: list[Any], text: str) -> Any:
        """``loadTextContent(path)``: the file's text, read relative to this .bicep file."""
        if name.replace("_", "") != "loadtextcontent":
            return NotImplemented
        path = self.include(args[0]) if args else None
        if not isinstance(path, Path):
            return Unresolved(text, path or "no file named")
        try:
            return decode_policy_bytes(read_bounded(path))
        except (OSError, PolicyReadError) as exc:
            return Unresolved(text, f"{self.load.shown(path)} cannot be read: {exc}")

    def include(self, rel: Any) -> Path | str:
        """The file ``rel`` names, or why it is refused."""
        if not isinstance(rel, str):
            return "the file name is not known offline"
        path = (self.file.parent / rel).resolve()
        if not path.is_relative_to(self.load.root):
            return f"'{rel}' is outside the scanned folder; not read"
        return path if path.is_file() else f"'{rel}' is not a file"

    def instances(self, attrs: dict[str, Any]) -> list[dict[str, Any]]:
        """The loop variables of each copy of a declaration ([{}] when it is not a loop)."""
        config = attrs.get("config") or {}
        loop = config.get("loop_type") if isinstance(config, dict) else None
        if not loop:
            return [{}]
        detail = loop.get("detail") or {}
        if loop.get("type") == "object":
            obj = self.symbol(str(detail.get("object_name")))
            items: Any = (
                [{"key": k, "value": v} for k, v in obj.items()] if isinstance(obj, dict) else obj
            )
        else:
            items = self.eval(_node(detail.get("array_name")))
        if not isinstance(items, list) or len(items) > MAX_COPIES:
            why = items.why if isinstance(items, Unresolved) else "not a short list"
            self.load.notes.append(f"{self.shown}:{attrs.get('__start_line__')}: a loop is not "
                                   f"expanded ({why}); what it declares is not seen")  # fmt: skip
            return []
        names = [str(detail.get(k)) for k in ("item_name", "index_name") if detail.get(k)]
        return [dict(zip(names, (x, i), strict=False)) for i, x in enumerate(items)]

    def type_of(self, key: str) -> str:
        """The full type of a declaration (a nested child's type is relative to its parent)."""
        attrs, parent = self.decls[key]
        rtype = str(attrs.get("type") or "").split("@")[0]
        if parent and "." not in rtype.split("/")[0]:
            return f"{self.type_of(parent)}/{rtype}"
        return rtype

    def ref(self, key: str, loc: dict[str, Any]) -> dict[str, Any]:
        """What a declaration's symbol stands for: name, type, full nested name and id."""
        attrs, parent = self.decls[key]
        body = _body(attrs.get("config"))
        with self.bound(loc):
            name = self.eval(_node(body.get("name")))
            up = self.symbol(parent) if parent else self.eval(_node(body.get("parent")))
        if isinstance(up, list):
            up = Unresolved(self.wrap.format(parent or "parent"), "the parent is a loop")
        full = (
            name
            if up is None
            else joined([up.get("full") if isinstance(up, dict) else up, "/", name])
        )
        rtype = self.type_of(key)
        rid = resource_id(rtype, text_of(full).split("/"))
        return {"name": name, "type": rtype, "full": full, "id": rid}

    def emit(self) -> None:
        """Hand every resource and module of this file to the loader."""
        for key, (attrs, _parent) in self.decls.items():
            if not attrs.get("existing"):  # an existing resource only lends its name
                for loc in self.instances(attrs):
                    self.emit_one(key, attrs, loc)
        for sym, mod in (self.tree.get("modules") or {}).items():
            where = f"{self.shown}:{mod.get('__start_line__')}"
            if mod.get("type") != "local":
                self.load.notes.append(f"{where}: module '{sym}' from a registry is not read")
                continue
            for loc in self.instances(mod):
                with self.bound(loc):
                    given = self.eval(_node(_body(mod.get("config")).get("params") or {}))
                path = self.include(str((mod.get("detail") or {}).get("path")))
                if isinstance(path, str):
                    self.load.notes.append(f"{where}: module '{sym}': {path}")
                else:
                    self.load.run(path, given if isinstance(given, dict) else {})

    def emit_one(self, key: str, attrs: dict[str, Any], loc: dict[str, Any]) -> None:
        config, body = attrs.get("config") or {}, _body(attrs.get("config"))
        line = self.keyword_line(key.rsplit("::", 1)[-1], attrs)
        with self.bound(loc):
            cond = True if _body(config) is config else self.eval(_node(config.get("condition")))
            if cond is False:
                return
            if isinstance(cond, Unresolved):
                self.load.notes.append(f"{self.shown}:{line}: counted as deployed, though only "
                                       f"deployed if {cond.text} ({cond.why})")  # fmt: skip
            res = self.ref(key, loc)
            props = self.eval(_node(scrub(body.get("properties"))))
            scope = self.eval(_node(body["scope"])) if "scope" in body else None
        origin: tuple[str, int | None] = (self.shown, line)
        if is_policy_type(res["type"]):
            origin = self.policy_origin(body, line, attrs.get("__end_line__") or line)
        scope = scope.get("id") if isinstance(scope, dict) else scope
        found = finish(res["type"], res["full"], props, origin=origin, notes=self.load.notes,
                       scope=scope)  # fmt: skip
        if found is not None:
            self.load.out.append(found)

    def keyword_line(self, sym: str, attrs: dict[str, Any]) -> int:
        """The line of the ``resource`` keyword (pycep starts at the decorators)."""
        start = int(attrs.get("__start_line__") or 1)
        pattern = re.compile(rf"\s*resource\s+{re.escape(sym)}\b")
        end = min(int(attrs.get("__end_line__") or start), len(self.lines))
        return next((n + 1 for n in range(start - 1, end) if pattern.match(self.lines[n])), start)

    def policy_origin(self, body: dict[str, Any], start: int, end: int) -> tuple[str, int]:
        """The file and line where a policy's text starts."""
        props = body.get("properties")
        node = _node(props.get("value")) if isinstance(props, dict) else ("op", "")
        for _ in range(8):  # through replace(...) and variables down to loadTextContent(...)
            if node[0] == "call" and node[1] == "replace" and node[2]:
                node = node[2][0]
            elif node[0] == "sym" and node[1] in (self.tree.get("variables") or {}):
                node = _node(self.tree["variables"][node[1]].get("value"))
            elif node[0] == "call" and node[1] == "load_text_content" and node[2]:
                path = self.include(self.eval(node[2][0]))
                if isinstance(path, Path):
                    return self.load.shown(path), 1
                break
        for n in range(start - 1, min(end, len(self.lines))):
            if m := re.match(r"\s*value\s*:(.*)$", self.lines[n]):
                # value: ''' on its own line: the text starts on the next line
                return self.shown, n + 2 if m.group(1).strip() == "'''" else n + 1
        return self.shown, start


class _Loader:
    """Parses the files once and collects resources, errors and notes across modules."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.trees: dict[Path, dict[str, Any] | None] = {}
        self.texts: dict[str, str] = {}
        self.out: list[dict[str, Any]] = []
        self.errors: list[ReadError] = []
        self.notes: list[str] = []
        self.stack: list[Path] = []

    def shown(self, file: Path) -> str:
        return shown_path(file.resolve(), self.root)

    def tree(self, file: Path) -> dict[str, Any] | None:
        """The parsed file (``None`` when it cannot be read: a read error says why)."""
        file = file.resolve()
        if file not in self.trees:
            shown, self.trees[file] = self.shown(file), None
            try:
                self.texts[shown] = decode_policy_bytes(read_bounded(file))
                self.trees[file] = _parse(self.texts[shown])
            except UnexpectedInput as exc:
                first = str(exc).strip().splitlines()[0]
                self.errors.append(
                    ReadError(Location(shown, exc.line), f"Bicep not understood: {first}")
                )
            except PolicyReadError as exc:
                self.errors.append(ReadError(Location(shown, exc.line), exc.message))
            except (LarkError, OSError, ValueError, RecursionError) as exc:
                self.errors.append(ReadError(Location(shown), f"Bicep not understood: {exc}"))
        return self.trees[file]

    def modules(self, file: Path) -> set[Path]:
        """The local module files ``file`` uses."""
        mods = (self.tree(file) or {}).get("modules") or {}
        return {
            (file.parent / str(m["detail"]["path"])).resolve()
            for m in mods.values()
            if m.get("type") == "local"
        }

    def run(self, file: Path, given: dict[str, Any]) -> None:
        """Evaluate ``file`` with parameter values ``given`` (a module is run by its caller)."""
        file = file.resolve()
        tree = self.tree(file)
        if tree is None or file in self.stack:
            if tree is not None:
                self.notes.append(f"{self.shown(file)}: module cycle; not read again")
            return
        self.stack.append(file)
        try:
            _File(self, file, tree, given).emit()
        except RecursionError:
            self.errors.append(ReadError(Location(self.shown(file)), "nested too deeply; not read"))
        finally:
            self.stack.pop()


def find_files(path: Path) -> list[Path]:
    """``.bicep`` files at or below ``path`` (hidden folders, node_modules and links skipped)."""
    return files_under(path, ".bicep")


def _collect(path: Path, files: list[Path]) -> _Loader:
    loader = _Loader(path if path.is_dir() else path.parent)
    used = {m for f in files for m in loader.modules(f)}
    # A file another file uses as a module is read through that module, with its parameters.
    for file in [f for f in files if f.resolve() not in used] or files:
        loader.run(file, {})
    return loader


def load_resources(path: Path) -> tuple[list[dict[str, Any]], list[ReadError], list[str]]:
    """ARM-shaped resources of every Bicep file at ``path``, read errors, and notes."""
    loader = _collect(path, find_files(path))
    return loader.out, loader.errors, list(dict.fromkeys(loader.notes))


def prepare(path: Path) -> resources.Loaded:
    """The Bicep files at ``path`` (a file or a folder), read but not yet built."""
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    files = find_files(path)
    if not files:
        raise SourceError(f"{path}: no .bicep files found")
    loader = _collect(path, files)
    pin_embedded(loader.out, loader.texts)
    return resources.Loaded(
        loader.out, "bicep", str(path), loader.errors, list(dict.fromkeys(loader.notes))
    )


def load(path: Path) -> Estate:
    """Load the Bicep files at ``path`` (a file or a folder) as an estate."""
    return prepare(path).estate()

"""Bicep declarations -> resources, the way a deployment would make them, as far as offline allows.

Each entry file (a ``.bicep`` file no other file in the scan uses as a module) is a deployment.
Its parameters take their values from a ``.bicepparam`` file that names it, or from
``<name>.parameters.json`` beside it, or from their defaults; local modules (``.bicep`` or ARM
``.json``) are evaluated with the parameters their caller passes and give back their outputs;
loops are expanded over known collections and conditions decided where they can be. Whatever
cannot be computed stays :class:`~auditor.sources.iac.values.Unknown` (see
:mod:`auditor.sources.iac`): a registry module's outputs, ``resourceGroup().name``, a property
Azure sets at deployment.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from auditor.bounded import PolicyReadError, decode_policy_bytes, read_bounded
from auditor.model import Location, ReadError
from auditor.sources.bicep.parse import Body, Decl, Parsed, parse
from auditor.sources.iac import avm
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
    resource_id,
)
from auditor.sources.iac.files import Files
from auditor.sources.iac.lower import is_policy_type
from auditor.sources.iac.values import (
    Sourced,
    Unknown,
    joined,
    origin_of,
    placeholder,
    text_of,
    unknown,
)

#: The largest Bicep file read (larger ones are reported and skipped).
MAX_BICEP_BYTES = 4 * 1024 * 1024
_REGISTRY = ("br:", "br/", "ts:", "ts/")
_DEPLOYMENT_FUNCTIONS = {
    "subscription",
    "resourcegroup",
    "tenant",
    "deployment",
    "environment",
    "managementgroup",
}
_ENV_VAR = re.compile(r"\$\{([A-Za-z_]\w*)\}")


class Ref(Runtime):
    """A declared resource as a value: its name, id and type; the rest is known once deployed."""

    def __init__(self, rtype: str, segs: list[Any], name: Any, expr: str, kind: Any = None) -> None:
        full = joined([p for i, s in enumerate(segs) for p in (["/", s] if i else [s])])
        # NOTE: an account's kind says whether its endpoint serves models (OpenAI, AIServices).
        what = f"{rtype} (kind {kind})" if isinstance(kind, str) and kind else rtype
        super().__init__(
            {"name": name, "id": resource_id(rtype, segs), "type": rtype},
            f"{what} '{text_of(full)}'",
            expr,
        )
        self.rtype = rtype
        self.segs = segs
        self.full = full
        self.maybe: list[Ref] = []
        """When the parent is one copy of a loop, which one not known offline (``apis[j]``
        with ``j`` of another loop): the resource as a child of each copy."""


class Source(Files):
    """The Bicep files of one scanned folder, parsed once, evaluated per deployment."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.parsed: dict[Path, Parsed | None] = {}

    def parse(self, file: Path) -> Parsed | None:
        """The file's declarations (None when unreadable); syntax errors are reported once."""
        file = file.resolve()
        if file not in self.parsed:
            text = self.read(file, MAX_BICEP_BYTES)
            result = None
            if text is not None:
                result = parse(text, params_file=file.suffix.lower() == ".bicepparam")
                self._report(file, text, result)
            self.parsed[file] = result
        return self.parsed[file]

    def _report(self, file: Path, text: str, result: Parsed) -> None:
        shown = self.shown(file)
        lines = text.splitlines()
        for line, message, head in result.errors:
            here = lines[line - 1] if 0 < line <= len(lines) else ""
            if re.search(r"Microsoft\.(ApiManagement|CognitiveServices|Insights)", here + head):
                self.errors.append(
                    ReadError(
                        Location(shown, line), f"{message}; the resource declared there is not read"
                    )
                )
            else:
                self.sink.note(f"{shown}:{line}", f"{message}; the rest of the file is read")

    def modules_of(self, file: Path) -> set[Path]:
        """The local module files ``file`` uses."""
        parsed = self.parse(file)
        out = set()
        for decl in parsed.decls if parsed else []:
            if decl.kind == "module" and not decl.rtype.startswith(_REGISTRY):
                out.add((file.parent / decl.rtype).resolve())
        return out

    def parameters_for(self, file: Path, deployment: str) -> dict[str, Any]:
        """Values for an entry file's parameters: a ``.bicepparam`` that names it, or
        ``<name>.parameters.json`` beside it."""
        found: list[tuple[Path, dict[str, Any]]] = []
        for pfile in sorted(file.parent.glob("*.bicepparam")):
            parsed = self.parse(pfile)
            using = next((d for d in parsed.decls if d.kind == "using"), None) if parsed else None
            if parsed and using and (pfile.parent / using.rtype).resolve() == file.resolve():
                scope = _ParamsScope(self.shown(pfile), Budget())
                found.append(
                    (pfile, {d.name: scope.value_of(d) for d in parsed.decls if d.kind == "var"})
                )
        json_file = file.with_name(file.stem + ".parameters.json")
        if json_file.is_file():
            values = self._json_parameters(json_file)
            if values is not None:
                found.append((json_file, values))
        if not found:
            return {}
        chosen, values = found[0]
        where = self.shown(file)
        others = ", ".join(self.shown(p) for p, _ in found[1:])
        also = f" (not {others}, which is one more way to deploy it)" if others else ""
        self.sink.note(where, f"parameter values from {self.shown(chosen)}{also}")
        return values

    def _json_parameters(self, file: Path) -> dict[str, Any] | None:
        shown = self.shown(file)
        try:
            data = json.loads(read_bounded(file, MAX_BICEP_BYTES).decode("utf-8-sig"))
        except (OSError, ValueError, PolicyReadError) as exc:
            self.errors.append(ReadError(Location(shown), f"parameters file not read: {exc}"))
            return None
        params = data.get("parameters") if isinstance(data, dict) else None
        if not isinstance(params, dict):
            return None
        out: dict[str, Any] = {}
        for name, entry in params.items():
            if isinstance(entry, dict) and "value" in entry:
                out[name] = _environment(entry["value"], shown)
            elif isinstance(entry, dict) and "reference" in entry:
                out[name] = unknown(name, "a Key Vault reference: never read", shown)
        return out

    def run(
        self,
        file: Path,
        given: dict[str, Any],
        deployment: str,
        budget: Budget,
        *,
        condition: Unknown | None = None,
        stack: tuple[Path, ...] = (),
    ) -> dict[str, Any] | Unknown:
        """Evaluate ``file`` with parameter values ``given``: its resources go to the sink, its
        outputs come back."""
        file = file.resolve()
        parsed = self.parse(file)
        shown = self.shown(file)
        if parsed is None:
            self.partial(deployment, f"{shown}: not read")
            return unknown(shown, f"{shown} could not be read", shown)
        if file in stack:
            self.sink.note(shown, "a module that calls itself; not read again")
            return unknown(shown, "a module that calls itself", shown)
        scope = FileScope(self, file, parsed, given, deployment, budget, condition, (*stack, file))
        scope.emit()
        return scope.outputs()

    def run_root(self, file: Path) -> None:
        """Evaluate one deployment from its entry file."""
        deployment = self.shown(file)
        budget = Budget()
        try:
            self.run(file, self.parameters_for(file, deployment), deployment, budget)
        except OverBudget as exc:
            self.errors.append(ReadError(Location(deployment), f"{exc}; what follows is not read"))
            self.partial(deployment, f"{deployment}: {exc}")
        except RecursionError:
            self.errors.append(ReadError(Location(deployment), "nested too deeply; not read"))
            self.partial(deployment, f"{deployment}: too deep")


def _environment(value: Any, where: str) -> Any:
    """A parameters file's value; azd's ``${ENV_VAR}`` is set by the environment (unknown)."""
    if isinstance(value, str) and _ENV_VAR.search(value):
        parts: list[Any] = []
        pos = 0
        for m in _ENV_VAR.finditer(value):
            parts += [
                value[pos : m.start()],
                unknown(m.group(1), "an environment variable set at deployment", where),
            ]
            pos = m.end()
        return joined([*parts, value[pos:]])
    if isinstance(value, dict):
        return {k: _environment(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_environment(v, where) for v in value]
    return value


class _ParamsScope(Scope):
    """A ``.bicepparam`` file: plain values, ``readEnvironmentVariable()`` unknown."""

    functions = ARM_FUNCTIONS

    def value_of(self, decl: Decl) -> Any:
        self.line = decl.line
        return self.eval(decl.value) if decl.value is not None else None

    def special(self, name: str, args: list[Node]) -> Any:
        if name == "readenvironmentvariable":
            return self.unknown(
                render(("call", "readEnvironmentVariable", args)),
                "an environment variable set at deployment",
            )
        return NotImplemented


class FileScope(Scope):
    """One Bicep file evaluated with the parameter values it was given."""

    functions = ARM_FUNCTIONS

    def __init__(
        self,
        src: Source,
        file: Path,
        parsed: Parsed,
        given: dict[str, Any],
        deployment: str,
        budget: Budget,
        condition: Unknown | None,
        stack: tuple[Path, ...],
    ) -> None:
        super().__init__(src.shown(file), budget)
        self.src, self.path, self.given = src, file, given
        self.deployment, self.condition, self.stack = deployment, condition, stack
        self.decls: dict[str, Decl] = {}
        self.parents: dict[str, str] = {}
        self.order: list[str] = []
        for decl in parsed.decls:
            if decl.kind in ("param", "var", "module", "output", "func"):
                self.decls.setdefault(f"{decl.kind}:{decl.name}", decl)
                if decl.kind in ("param", "var", "module"):
                    self.decls.setdefault(decl.name, decl)
            elif decl.kind == "resource":
                self._add_resource(decl, None)
        self.done: dict[str, Any] = {}
        self.busy: set[str] = set()
        self.stand_ins: dict[int, tuple[Any, str]] = {}
        """id -> (value, collection) for the loop variables and the copy of a loop that is not
        expanded (see :meth:`instances` and :meth:`lookup`); the value is kept so the id stays
        its own."""
        self.one_of: dict[int, tuple[Unknown, list[Ref]]] = {}
        """id -> (value, copies) for ``apis[j]`` where ``j`` is not known: one of the copies."""

    def _add_resource(self, decl: Decl, parent: str | None) -> None:
        key = f"{parent}::{decl.name}" if parent else decl.name
        self.decls.setdefault(key, decl)
        self.order.append(key)
        if parent:
            self.parents[key] = parent
        for child in decl.children:
            self._add_resource(child, key)

    # ---------------------------------------------------------------- names

    def symbol(self, name: str) -> Any:
        if name in self.done:
            return self.done[name]
        decl = self.decls.get(name)
        if decl is None:
            if name in ("true", "false", "null"):
                return {"true": True, "false": False, "null": None}[name]
            return self.unknown(name, f"'{name}' is not declared in {self.file} (an import?)")
        if name in self.busy:
            return self.unknown(name, f"'{name}' refers to itself")
        self.busy.add(name)
        saved_locals, saved_line = self.locals, self.line
        self.locals, self.line = {}, decl.line
        try:
            value = self._value(name, decl)
        finally:
            self.locals, self.line = saved_locals, saved_line
            self.busy.discard(name)
        self.done[name] = value
        return value

    def _value(self, name: str, decl: Decl) -> Any:
        if decl.kind == "param":
            if decl.secure:
                # NOTE: a secret is never read; whether one is given is not a secret, and
                # decides conditions such as if (!empty(appInsightsInstrumentationKey)).
                given = self.given.get(name, self.eval(decl.value) if decl.value else None)
                nonempty = given.nonempty if isinstance(given, Unknown) else bool(given)
                return self.unknown(
                    name, f"parameter '{name}' is secure: never read", nonempty=nonempty
                )
            if name in self.given:
                return self.given[name]
            if decl.value is None:
                return self.unknown(name, f"parameter '{name}' has no value")
            value = self.eval(decl.value)
            if value in ([], {}) and len(self.stack) == 1:
                return placeholder(name, self.where)
            return value
        if decl.kind == "var":
            return self.eval(decl.value) if decl.value is not None else None
        if decl.kind == "module":
            return self.module(name, decl)
        return self.resource_value(name)

    def resource_value(self, key: str) -> Any:
        """A resource symbol: its :class:`Ref`, or a list of them for a loop."""
        decl = self.decls[key]
        assert decl.body is not None
        instances = self.instances(decl.body, decl.line)
        if decl.body.loop is None:
            return self.ref(key, instances[0][0] if instances else {})
        return [self._stand_in(self.ref(key, loc), loc) for loc, _ in instances]

    def _stand_in(self, value: Any, loc: dict[str, Any]) -> Any:
        """``value`` marked as the copy that stands for all of a loop not expanded, when its
        loop variables ``loc`` are that loop's."""
        for var in loc.values():
            found = self.stand_ins.get(id(var))
            if found is not None and found[0] is var:
                self.stand_ins[id(value)] = (value, found[1])
        return value

    def lookup(self, obj: Any, key: Any, node: Node) -> Any:
        """``obj[key]``, and ``apis[i]`` inside a loop over the same unknown collection as the
        loop of ``apis``: the one copy that stands for all of ``apis``.

        NOTE: both loops stand for the same items in the same order, so a child declared with
        ``parent: apis[i]`` belongs to the stand-in API the way each copy would belong to its
        API; the child then counts for the API (a policy meters it) instead of for nothing.
        """
        if isinstance(key, Unknown) and isinstance(obj, list) and len(obj) == 1:
            index = self.stand_ins.get(id(key))
            copy = self.stand_ins.get(id(obj[0]))
            if index and copy and index[0] is key and copy[0] is obj[0] and index[1] == copy[1]:
                return obj[0]
        value = super().lookup(obj, key, node)
        copies = isinstance(obj, list) and obj and all(isinstance(r, Ref) for r in obj)
        if copies and isinstance(key, Unknown) and isinstance(value, Unknown):
            self.one_of[id(value)] = (value, obj)
        return value

    def ref(self, key: str, loc: dict[str, Any]) -> Ref:
        """What a declaration stands for in one instance of its loop."""
        decl = self.decls[key]
        assert decl.body is not None
        with self.bound(loc), self.at_line(decl.line):
            name = self._prop(decl.body, "name")
            parent_key = self.parents.get(key)
            if parent_key is not None:
                up: Any = self.symbol(parent_key)
            else:
                up = self._prop(decl.body, "parent", default=None)
        rtype = self.type_of(key)
        kind = None
        if rtype.lower() == "microsoft.cognitiveservices/accounts":
            with self.bound(loc), self.at_line(decl.line):
                kind = self._prop(decl.body, "kind", default=None)
        segs: list[Any] = [name]
        if isinstance(up, list):
            up = self.unknown(parent_key or "parent", "the parent is a loop")
        maybe: list[Ref] = []
        if isinstance(up, Ref):
            segs = [*up.segs, name]
        elif isinstance(up, Unknown):
            segs = [up, name]
            copies = self.one_of.get(id(up))
            if copies is not None and copies[0] is up:
                maybe = [Ref(rtype, [*c.segs, name], name, key, kind) for c in copies[1]]
        elif isinstance(name, str) and "/" in name and not parent_key:
            segs = name.split("/")  # the old 'service/api' way of naming a child
        ref = Ref(rtype, segs, name, key, kind)
        ref.maybe = maybe
        return ref

    def type_of(self, key: str) -> str:
        """The full type of a declaration (a nested child's type is relative to its parent)."""
        rtype = self.decls[key].rtype
        parent = self.parents.get(key)
        if parent and "." not in rtype.split("/")[0]:
            return f"{self.type_of(parent)}/{rtype}"
        return rtype

    def _prop(self, body: Body, key: str, default: Any = "") -> Any:
        found = body.props.get(key)
        return default if found is None else self.eval(found[1])

    # ---------------------------------------------------------------- functions

    def special(self, name: str, args: list[Node]) -> Any:
        if name in ("loadtextcontent", "loadjsoncontent", "loadyamlcontent", "loadfileasbase64"):
            return self.load_file(name, args)
        if name in _DEPLOYMENT_FUNCTIONS and not args:
            return deployment_value(
                f"{name.replace('group', 'Group')}()",
                f"{name}() is the deployment's own",
                self.where,
            )
        func = self.decls.get(f"func:{name}")
        if func is None:
            func = next(
                (
                    d
                    for k, d in self.decls.items()
                    if k.startswith("func:") and k[5:].lower() == name
                ),
                None,
            )
        if func is not None and func.value is not None:
            values = [self.eval(a) for a in args]
            with self.bound(dict(zip(func.params, values, strict=False))):
                return self.eval(func.value)
        return NotImplemented

    def load_file(self, name: str, args: list[Node]) -> Any:
        """``loadTextContent(path)`` and its kin, relative to this file, inside the scan."""
        rel = self.eval(args[0]) if args else None
        text = f"{name}({', '.join(render(a) for a in args)})"
        if not isinstance(rel, str):
            return self.unknown(text, "the file name is not known offline")
        path = (self.path.parent / rel).resolve()
        if not self.src.inside(path):
            self.src.sink.unread(
                self.deployment, self.where, f"'{rel}' is outside the scanned folder; not read"
            )
            return self.unknown(text, f"'{rel}' is outside the scanned folder")
        if not path.is_file():
            return self.unknown(text, f"'{rel}' is not a file")
        try:
            data = read_bounded(path)
            if name == "loadfileasbase64":
                import base64

                return base64.b64encode(data).decode()
            content = decode_policy_bytes(data)
        except (OSError, PolicyReadError) as exc:
            return self.unknown(text, f"{self.src.shown(path)} cannot be read: {exc}")
        if name == "loadjsoncontent":
            try:
                value = json.loads(content)
            except ValueError as exc:
                return self.unknown(text, f"{self.src.shown(path)} is not JSON: {exc}")
            for step in [self.eval(a) for a in args[1:2]]:  # a JSONPath of plain keys
                if isinstance(step, str):
                    for key in [k for k in step.lstrip("$").split(".") if k]:
                        value = value.get(key) if isinstance(value, dict) else None
            return value
        if name == "loadyamlcontent":
            import yaml

            try:
                return yaml.safe_load(content)
            except yaml.YAMLError as exc:
                return self.unknown(text, f"{self.src.shown(path)} is not YAML: {exc}")
        return Sourced(content, self.src.shown(path), 1)

    def loop_names(self, names: list[str], key: Any, value: Any, keyed: bool) -> dict[str, Any]:
        """Bicep's ``x`` or ``(x, i)``: the item, then its index."""
        out = {names[0]: value} if names else {}
        if len(names) > 1:
            out[names[1]] = key
        return out

    # ---------------------------------------------------------------- instances

    def instances(self, body: Body, line: int) -> list[tuple[dict[str, Any], Unknown | None]]:
        """The loop variables of each copy of a declaration ([{}] when it is not a loop), each
        with the condition it is deployed under when that cannot be decided; none when the
        condition is false."""
        cond = self._condition(body.condition, {}, line)
        if cond is False:
            return []
        if body.loop is None:
            return [({}, cond if isinstance(cond, Unknown) else self.condition)]
        names, coll_node = body.loop
        with self.at_line(line):
            coll = self.eval(coll_node)
        items: list[tuple[Any, Any]]
        if isinstance(coll, Unknown) or not isinstance(coll, list) or len(coll) > MAX_ITEMS:
            why = (
                coll.why
                if isinstance(coll, Unknown)
                else f"{len(coll)} items"
                if isinstance(coll, list)
                else "not a list"
            )
            # NOTE: not "unread": the copy stands for the items, its unknown name tells the
            # checks that what it declares may be there (a diagnostic, a logger).
            self.src.sink.note(
                f"{self.file}:{line}",
                f"a loop over {render(coll_node)} is not expanded ({why}); one "
                "copy with unknown values stands for all",
            )
            item = unknown(
                f"{names[0] if names else 'item'}",
                f"an item of {render(coll_node)} ({why})",
                f"{self.file}:{line}",
            )
            index = unknown(
                f"{names[1] if len(names) > 1 else 'i'}",
                "an index of a loop",
                f"{self.file}:{line}",
            )
            items = [(index, item)]
            # NOTE: within one file the same text over no loop variable is the same value.
            for var in (index, item):
                self.stand_ins[id(var)] = (var, render(coll_node))
        else:
            items = list(enumerate(coll))
        out = []
        for key, value in items:
            loc = self.loop_names(names, key, value, False)
            keep = self._condition(body.loop_filter, loc, line)
            if keep is False:
                continue
            out.append((loc, keep if isinstance(keep, Unknown) else self.condition))
        return out

    def _condition(self, node: Node | None, loc: dict[str, Any], line: int) -> bool | Unknown:
        if node is None:
            return True
        with self.bound(loc), self.at_line(line):
            value = self.eval(node)
        if isinstance(value, Unknown):
            return unknown(render(node), value.why, value.where or f"{self.file}:{line}")
        if not value:
            return False
        return self.condition if self.condition is not None else True

    # ---------------------------------------------------------------- resources

    def emit(self) -> None:
        """Every resource of this file to the sink, then every module run."""
        for key in self.order:
            decl = self.decls[key]
            assert decl.body is not None
            for loc, cond in self.instances(decl.body, decl.line):
                self.emit_one(key, decl, loc, cond)
        for name, decl in self.decls.items():
            if decl.kind == "module" and not name.startswith("module:"):
                self.symbol(name)

    def emit_one(self, key: str, decl: Decl, loc: dict[str, Any], cond: Unknown | None) -> None:
        assert decl.body is not None
        ref = self.ref(key, loc)
        line = decl.line
        with self.bound(loc), self.at_line(line):
            if decl.existing:
                self.src.sink.add(
                    ref.rtype,
                    ref.full,
                    None,
                    origin=(self.file, line),
                    deployment=self.deployment,
                    existing=True,
                )
                return
            props = self._prop(decl.body, "properties", default={})
            scope = self._prop(decl.body, "scope", default=None)
        if isinstance(scope, Runtime):
            scope = scope.get("id")
        origin: tuple[str, int | None] = (self.file, line)
        lines: dict[str, int] = {}
        value_line = _key_line(decl.body, "properties", "value")
        if is_policy_type(ref.rtype) and isinstance(props, dict):
            found = origin_of(props.get("value"))
            origin = found if found else (self.file, value_line or line)
        metrics_line = _key_line(decl.body, "properties", "metrics")
        if metrics_line:
            lines["metrics"] = metrics_line
        for target in ref.maybe or [ref]:
            self.src.sink.add(
                target.rtype,
                target.full,
                props,
                origin=origin,
                deployment=self.deployment,
                scope=scope,
                condition=self._parent_condition(ref, target, cond, line),
                lines=lines or None,
            )

    def _parent_condition(
        self, ref: Ref, target: Ref, cond: Unknown | None, line: int
    ) -> Unknown | None:
        """The condition a child is deployed under as a child of ``target``, one of the copies
        its parent may be (see :attr:`Ref.maybe`): that copy being its parent is not known.

        NOTE: attached to no copy, a policy or diagnostic would count for no API, and each
        API would fail for want of it; attached to each under a condition, what depends on it
        is unknown.
        """
        if target is ref:
            return cond
        parent = ref.segs[0]
        assert isinstance(parent, Unknown)
        is_text = f"{parent.expr} is '{text_of(target.segs[-2])}'"
        why = "which copy of a loop is the parent is not known offline"
        if cond is not None:
            is_text, why = f"({cond.expr}) && {is_text}", f"{cond.why}; {why}"
        return unknown(is_text, why, f"{self.file}:{line}")

    # ---------------------------------------------------------------- modules

    def module(self, name: str, decl: Decl) -> Any:
        """A module symbol: its name and outputs (a list of them for a loop)."""
        assert decl.body is not None
        where = f"{self.file}:{decl.line}"
        values = []
        for loc, cond in self.instances(decl.body, decl.line):
            with self.bound(loc), self.at_line(decl.line):
                mname = self._prop(decl.body, "name", default=name)
                params = self._prop(decl.body, "params", default={})
            values.append(
                self._stand_in(self._run_module(name, decl, where, mname, params, cond), loc)
            )
        return values if decl.body.loop is not None else (values[0] if values else None)

    def _run_module(
        self, name: str, decl: Decl, where: str, mname: Any, params: Any, cond: Unknown | None
    ) -> Runtime:
        describe = f"module '{name}' ({decl.rtype})"
        path = decl.rtype
        outputs: Any
        kind = avm.bicep_kind(path)
        if kind is not None:
            svc = avm.bicep(
                kind,
                params,
                self.src.sink,
                deployment=self.deployment,
                file=self.file,
                line=decl.line,
                label=f"module '{name}' ({path})",
                condition=cond,
                lines=_param_lines(decl.body),
                version=avm.bicep_version(path),
            )
            known_avm: dict[str, Any] = {"name": mname}
            if svc is not None:
                known_avm["outputs"] = {"name": svc}
            return Runtime(known_avm, describe, name)
        if path.startswith(_REGISTRY):
            self.src.sink.unread(
                self.deployment,
                where,
                f"module '{name}' from a registry ({path}) is not read; its outputs are unknown",
            )
            return Runtime({"name": mname}, describe, name)
        file = (self.path.parent / path).resolve()
        if not self.src.inside(file) or not file.is_file():
            why = "is outside the scanned folder" if not self.src.inside(file) else "is not a file"
            self.src.sink.unread(
                self.deployment, where, f"module '{name}': '{path}' {why}; not read"
            )
            return Runtime({"name": mname}, describe, name)
        if not isinstance(params, dict):
            self.src.sink.note(where, f"the parameters of module '{name}' are not known offline")
            params = {}
        if file.suffix.lower() == ".json":
            from auditor.sources import arm

            outputs = arm.run_module(
                self.src, file, params, self.deployment, self.budget, condition=cond
            )
        else:
            outputs = self.src.run(
                file, params, self.deployment, self.budget, condition=cond, stack=self.stack
            )
        known: dict[str, Any] = {"name": mname}
        if isinstance(outputs, dict):
            known["outputs"] = outputs
        return Runtime(known, describe, name)

    def outputs(self) -> dict[str, Any]:
        """The file's outputs (evaluated after its resources)."""
        out = {}
        for key, decl in self.decls.items():
            if key.startswith("output:") and decl.value is not None:
                with self.at_line(decl.line):
                    out[decl.name] = self.eval(decl.value)
        return out


def _key_line(body: Body, *path: str) -> int | None:
    """The line of ``properties.value`` (and the like) in a body, when written there."""
    found = body.props.get(path[0])
    if found is None:
        return None
    node = found[1]
    for key in path[1:]:
        while node[0] == "at":
            node = node[2]
        if node[0] != "obj":
            return None
        entry = next(
            (
                v
                for k, v in node[1]
                if k == ("lit", key) or (k[0] == "lit" and str(k[1]).lower() == key)
            ),
            None,
        )
        if entry is None:
            return None
        node = entry
    if node[0] == "at":
        inner = node[2]
        return int(inner[2]) if inner[0] == "src" else int(node[1])
    return None


def _param_lines(body: Body | None) -> dict[str, int]:
    """The line of each of a module's ``params`` written in its body."""
    found = body.props.get("params") if body is not None else None
    if found is None:
        return {}
    node = found[1]
    while node[0] == "at":
        node = node[2]
    if node[0] != "obj":
        return {}
    out = {}
    for k, _ in node[1]:
        if k[0] == "lit" and isinstance(k[1], str):
            line = _key_line(body, "params", k[1]) if body is not None else None
            if line:
                out[k[1]] = line
    return out

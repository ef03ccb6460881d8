"""Terraform modules -> resources, the way a plan would make them, as far as offline allows.

Each root module (a folder of ``.tf`` files that no ``module`` block in the scan uses as its
``source``) is a deployment. Its variables take their values from ``terraform.tfvars`` and
``*.auto.tfvars`` (as Terraform loads them), else from their defaults; local modules are
evaluated with the arguments their caller passes and give back their outputs; ``count`` and
``for_each`` are expanded over known collections, ``dynamic`` blocks too. ``path.module``,
``path.root`` and ``path.cwd`` are what Terraform makes them (relative to the root module, where
``file()`` paths are read from). What cannot be computed stays
:class:`~auditor.sources.iac.values.Unknown`: a registry module's outputs, a data source's
attributes, a property Azure sets once deployed, a loop over what is unknown (one instance with
unknown values stands for all, and the deployment is said not to be read whole).

``azapi_update_resource`` (and ``azapi_resource_action`` with ``PATCH``) patches are merged into
the resource they name once the deployment is read; the patch's place is where its properties
are shown.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.bounded import PolicyReadError, decode_policy_bytes, read_bounded
from auditor.model import Location, ReadError
from auditor.sources.iac import avm
from auditor.sources.iac.expr import (
    ALWAYS_SET,
    MAX_ITEMS,
    Budget,
    Node,
    OverBudget,
    Runtime,
    Scope,
    render,
    resource_id,
)
from auditor.sources.iac.files import Files
from auditor.sources.iac.values import (
    Sourced,
    Unknown,
    arm_name,
    first_unknown,
    plain,
    text_of,
    unknown,
    unknown_leaves,
)
from auditor.sources.terraform import mapping
from auditor.sources.terraform.functions import FUNCTIONS
from auditor.sources.terraform.parse import Attr, Block, Parsed, parse, parse_template

#: The largest ``.tf`` file read (larger ones are reported and skipped).
MAX_TF_BYTES = 8 * 1024 * 1024
_META = {"source", "version", "count", "for_each", "providers", "depends_on", "lifecycle"}
#: Attributes that hold secrets: never computed, never copied.
_SECRET_ATTRS = re.compile(
    r"(?i)^(primary|secondary)_(access_)?key$|key$|^keys$|connection_string|password|secret|"
    r"^value$|instrumentation_key|sas|token$"
)
#: Variable names that say they hold secrets (never read, even from a default).
_COMPONENT_ID = "/providers/microsoft.insights/components/"
#: ``${azurerm_x.name.secret}``: a secret attribute read from one resource (no index).
_SECRET_READ = re.compile(r"^\$\{([a-z][a-z0-9_]*\.[A-Za-z_][\w-]*)\.\w+\}$")
_SECRET_VARS = re.compile(r"(?i)(^|_)(key|secret|password|token)s?$|connection_?string|sas_")
_PROVISIONED = re.compile(
    r"(?i)Microsoft\.(ApiManagement|CognitiveServices|Insights)|az (apim|rest|cognitiveservices)|"
    r"logger|diagnostic"
)


def _tf_divide(a: Any, b: Any) -> Any:
    return a / b


_OPERATORS: dict[str, Callable[..., Any]] = {"/": _tf_divide}


@dataclass
class Decl:
    """A declaration in a module: a resource, data source, module call, variable or output."""

    kind: str
    type: str
    name: str
    block: Block
    file: str

    @property
    def address(self) -> str:
        """How Terraform names it (``data.azurerm_x.y``, ``module.m``, ``azurerm_x.y``)."""
        if self.kind == "data":
            return f"data.{self.type}.{self.name}"
        if self.kind == "module":
            return f"module.{self.name}"
        return f"{self.type}.{self.name}"


@dataclass
class Module:
    """The declarations of one module folder."""

    folder: Path
    resources: dict[str, Decl] = field(default_factory=dict)
    data: dict[str, Decl] = field(default_factory=dict)
    modules: dict[str, Decl] = field(default_factory=dict)
    variables: dict[str, Decl] = field(default_factory=dict)
    outputs: dict[str, Decl] = field(default_factory=dict)
    locals: dict[str, tuple[Attr, str]] = field(default_factory=dict)
    types: set[str] = field(default_factory=set)
    order: list[Decl] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    """What of the module is not read (``file: why``)."""


@dataclass
class Expansion:
    """The instances of a declaration: (key, loop variables), how they are addressed, and the
    condition they are deployed under when it cannot be decided."""

    kind: str
    """``one``, ``count``, ``each`` or ``loop`` (over what is unknown: one stands for all)."""
    items: list[tuple[Any, dict[str, Any]]]
    condition: Unknown | None = None


class _NS:
    """A name that is looked into (``var``, ``local``, ``module``, a resource type)."""

    def __init__(self, get: Callable[[str], Any]) -> None:
        self.get = get


class _Loop(dict[str, Any]):
    """A resource or module over an unknown collection: its one instance stands for all."""


class Source(Files):
    """The Terraform files of one scan, parsed once, evaluated per deployment."""

    def __init__(self, root: Path, only: Path | None = None) -> None:
        super().__init__(root)
        self.only = only.resolve() if only is not None else None
        """A single file scanned: its folder's module is that file alone."""
        self.parsed: dict[Path, Parsed | None] = {}
        self.folders: dict[Path, Module | None] = {}
        self.templates: dict[str, Node] = {}
        self.patches: list[_Patch] = []
        self.real_folders: dict[str, str] = {}
        self.boundary_text = str(self.boundary)
        self.boundary_prefix = os.path.join(self.boundary_text, "")
        self.root_prefix = os.path.join(str(self.root), "")

    def parse(self, file: Path) -> Parsed | None:
        """A file's blocks (None when unreadable), read once; its syntax errors are read
        errors at their lines."""
        key = file.resolve()
        if key not in self.parsed:
            text = self.read(key, MAX_TF_BYTES)
            found = self.parsed[key] = None if text is None else parse(text)
            shown = self.shown(key)
            for line, message in found.errors if found is not None else []:
                self.errors.append(ReadError(Location(shown, line), message))
        return self.parsed[key]

    def module(self, folder: Path) -> Module | None:
        """The module in ``folder`` (None when it has no ``.tf`` file)."""
        folder = folder.resolve()
        if folder in self.folders:
            return self.folders[folder]
        if self.only is not None and folder == self.only.parent:
            files = [self.only]
        else:
            try:
                files = sorted(
                    p
                    for p in folder.iterdir()
                    if p.name.endswith((".tf", ".tf.json"))
                    and not p.name.startswith(".")
                    and not p.is_symlink()
                    and p.is_file()
                )
            except OSError:
                files = []
        json_files = [f for f in files if f.name.endswith(".json")]
        files = [f for f in files if f not in json_files]
        module = Module(folder) if files or json_files else None
        for file in json_files:  # Terraform's JSON syntax: rare, and not read
            if module is not None:
                module.unread.append(f"{self.shown(file)}: Terraform JSON syntax is not read")
        for file in files:
            parsed = self.parse(file)
            if module is not None and parsed is not None:
                self._declare(module, parsed, self.shown(file))
        self.folders[folder] = module
        return module

    def _declare(self, module: Module, parsed: Parsed, shown: str) -> None:
        for block in parsed.blocks:
            labels = block.labels
            if block.type in ("resource", "data") and len(labels) == 2:
                decl = Decl(block.type, labels[0], labels[1], block, shown)
                table = module.resources if block.type == "resource" else module.data
                key = f"{labels[0]}.{labels[1]}"
                if key in table:
                    self.sink.note(f"{shown}:{block.line}", f"{decl.address} is declared twice")
                    continue
                table[key] = decl
                module.order.append(decl)
                if block.type == "resource":
                    module.types.add(labels[0])
            elif block.type == "module" and len(labels) == 1:
                decl = Decl("module", "module", labels[0], block, shown)
                module.modules.setdefault(labels[0], decl)
            elif block.type == "variable" and len(labels) == 1:
                module.variables.setdefault(
                    labels[0], Decl("variable", "", labels[0], block, shown)
                )
            elif block.type == "output" and len(labels) == 1:
                module.outputs.setdefault(labels[0], Decl("output", "", labels[0], block, shown))
            elif block.type == "locals":
                for name, attr in block.attrs.items():
                    module.locals.setdefault(name, (attr, shown))

    def local_source(self, module: Module, decl: Decl) -> Path | None:
        """The folder of a local module (``./x``, ``../x``); None for any other source."""
        attr = decl.block.attrs.get("source")
        node = attr.node[2] if attr is not None else None
        if node is None or node[0] != "lit" or not isinstance(node[1], str):
            return None
        source = node[1]
        if not source.startswith(("./", "../")):
            return None
        return (module.folder / source.split("//")[0]).resolve()

    def roots(self, files: list[Path]) -> list[Path]:
        """Root module folders: those with ``.tf`` files no module block here uses."""
        folders = sorted({f.resolve().parent for f in files})
        used: set[Path] = set()
        for folder in folders:
            module = self.module(folder)
            for decl in module.modules.values() if module else []:
                found = self.local_source(module, decl) if module else None
                if found is not None:
                    used.add(found)
        return [f for f in folders if f not in used and self.module(f) is not None] or folders

    def run(self, files: list[Path]) -> None:
        """Evaluate every deployment (root module) among ``files``."""
        for folder in self.roots(files):
            module = self.module(folder)
            if module is None:
                continue
            deployment = self.shown(self.only) if self.only else self.shown(folder)
            budget = Budget()
            start = len(self.sink.out)
            try:
                scope = ModuleScope(
                    self, module, deployment, budget, inputs=self.tfvars(folder), cwd=folder
                )
                scope.emit()
            except OverBudget as exc:
                self.errors.append(
                    ReadError(Location(deployment), f"{exc}; what follows is not read")
                )
                self.partial(deployment, f"{deployment}: {exc}")
            except RecursionError:
                self.errors.append(ReadError(Location(deployment), "nested too deeply; not read"))
                self.partial(deployment, f"{deployment}: too deep")
            self.apply_patches(deployment, start)

    # ---------------------------------------------------------------- variable values

    def tfvars(self, folder: Path) -> dict[str, Callable[[], Any]]:
        """Values of a root module's variables: ``terraform.tfvars`` then ``*.auto.tfvars``
        (``.json`` too), later files winning, as Terraform loads them."""
        if self.only is not None:
            return {}
        names = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        auto = [n for n in names if n in ("terraform.tfvars", "terraform.tfvars.json")]
        auto += [n for n in names if n.endswith((".auto.tfvars", ".auto.tfvars.json"))]
        values: dict[str, Any] = {}
        for name in auto:
            values.update(self._tfvars_file(folder / name))
        if auto:
            self.sink.note(self.shown(folder), f"variable values from {', '.join(auto)}")
        return {k: _given(v) for k, v in values.items()}

    def _tfvars_file(self, file: Path) -> dict[str, Any]:
        shown = self.shown(file)
        if file.name.endswith(".json"):
            try:
                data = json.loads(read_bounded(file, MAX_TF_BYTES).decode("utf-8-sig"))
            except (OSError, ValueError, PolicyReadError) as exc:
                self.errors.append(ReadError(Location(shown), f"variables file not read: {exc}"))
                return {}
            return data if isinstance(data, dict) else {}
        parsed = self.parse(file)
        if parsed is None:
            return {}
        scope = Scope(shown, Budget())
        scope.fold_keys = False
        return {name: scope.eval(attr.node) for name, attr in parsed.attrs.items()}

    # ---------------------------------------------------------------- files

    def real(self, path: str) -> str:
        """``path`` (absolute) with its links resolved, as :meth:`Path.resolve` would give it.

        NOTE: a folder's own resolution is kept: a repository may read thousands of policy
        files from one folder, and resolving each whole path took longer than reading it."""
        head, name = os.path.split(path)
        if name in ("", ".", ".."):
            return os.path.realpath(path)
        real = self.real_folders.get(head)
        if real is None:
            real = self.real_folders[head] = os.path.realpath(head)
        found = os.path.join(real, name)
        return os.path.realpath(found) if os.path.islink(found) else found

    def within(self, real: str) -> bool:
        """A resolved path may be read (see :attr:`Files.boundary`)."""
        return real == self.boundary_text or real.startswith(self.boundary_prefix)

    def shown_text(self, real: str) -> str:
        """A resolved path as users see it (see :meth:`Files.shown`)."""
        if real.startswith(self.root_prefix):
            return real[len(self.root_prefix) :].replace(os.sep, "/")
        return self.shown(Path(real))

    def read_file(self, real: str, why_not: Callable[[str], Any]) -> Any:
        """A file's text for ``file()`` (its place kept), or the unknown ``why_not`` makes."""
        if not self.within(real):
            return why_not(f"'{os.path.basename(real)}' is outside the scanned folder; not read")
        shown = self.shown_text(real)
        if shown in self.texts:
            return Sourced(self.texts[shown], shown, 1)
        if not os.path.isfile(real):
            return why_not(f"'{shown}' is not a file")
        try:
            text = decode_policy_bytes(read_bounded(real)).removeprefix("\ufeff")
        except PolicyReadError as exc:
            return why_not(f"{shown}: {exc.message}")
        except OSError as exc:
            return why_not(f"{shown} cannot be read: {exc.strerror or exc}")
        self.texts[shown] = text
        return Sourced(text, shown, 1)

    def template(self, text: Sourced) -> Node:
        """A template text parsed (once per file and text)."""
        key = f"{text.origin[0]}\0{text.origin[1]}\0{hash(str(text))}"
        if key not in self.templates:
            node, errors = parse_template(str(text), text.origin[1])
            for line, message in errors:
                self.sink.note(f"{text.origin[0]}:{line}", f"template {message}")
            self.templates[key] = node
        return self.templates[key]

    # ---------------------------------------------------------------- patches

    def apply_patches(self, deployment: str, start: int) -> None:
        """Merge the deployment's ``azapi_update_resource`` patches into what they target."""
        mine = [p for p in self.patches if p.deployment == deployment]
        self.patches = [p for p in self.patches if p.deployment != deployment]
        found = self.sink.out[start:]
        for patch in mine:
            target = next(
                (
                    r
                    for r in found
                    if str(r.get("type", "")).lower() == patch.arm_type.lower()
                    and r.get("name") == patch.name
                    and not r.get("_existing")
                ),
                None,
            )
            if target is None:
                self.sink.note(
                    patch.where,
                    f"{patch.address} patches {patch.arm_type} '{patch.name}', which this "
                    "deployment does not declare; the patch is not applied",
                )
                continue
            patch.apply(target)


@dataclass
class _Patch:
    """An ``azapi_update_resource`` (or a ``PATCH`` action) on a resource of the deployment."""

    address: str
    arm_type: str
    name: str
    props: dict[str, Any]
    where: str
    path: str
    line: int
    lines: dict[str, int]
    deployment: str

    def apply(self, target: dict[str, Any]) -> None:
        """Merge the patch into a lowered resource: its properties, what of them is unknown,
        and where they are shown."""
        props = target.setdefault("properties", {})
        _merge(props, plain(self.props))
        missing = target.setdefault("_unknown", {})
        for path in list(missing):
            if any(
                path == f"properties.{k}" or path.startswith(f"properties.{k}.") for k in self.props
            ):
                del missing[path]
        for path, u in unknown_leaves(self.props, "properties").items():
            missing[path] = u.reason()
        if not missing:
            target.pop("_unknown")
        lines = target.setdefault("_lines", {})
        for key in self.props:
            lines[key] = {"path": self.path, "line": self.lines.get(key, self.line)}


def _merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


class Inst:
    """One instance of a resource or data source (see :class:`mapping.Instance`)."""

    def __init__(
        self,
        scope: ModuleScope,
        decl: Decl,
        key: Any,
        bindings: dict[str, Any],
        condition: Unknown | None,
    ) -> None:
        self.scope, self.decl, self.key = scope, decl, key
        self.type = decl.type
        self.bindings = bindings
        self.condition = condition
        self.file = decl.file
        self.line = decl.block.line
        suffix = ""
        if isinstance(key, str):
            suffix = f'["{key}"]'
        elif isinstance(key, int):
            suffix = f"[{key}]"
        elif isinstance(key, Unknown):
            suffix = f"[{key.expr}]"
        self.local_address = decl.address + suffix
        self.address = scope.prefix + self.local_address
        self.values: dict[str, Any] = {}
        self.nested: dict[str, list[dict[str, Any]]] = {}
        self._names: list[tuple[str, list[Any]] | None] = []

    @property
    def where(self) -> str:
        """``file:line`` of the declaration."""
        return f"{self.file}:{self.line}"

    def has(self, key: str) -> bool:
        """The argument is written."""
        return key in self.decl.block.attrs

    def line_of(self, key: str) -> int:
        """The line the argument is written on (the declaration's when it is not)."""
        attr = self.decl.block.attrs.get(key)
        return attr.line if attr is not None else self.line

    def arg(self, key: str, default: Any = None) -> Any:
        """The argument's value in this instance (``default`` when it is not written)."""
        values = self.values
        if key in values:
            return values[key]
        attr = self.decl.block.attrs.get(key)
        if attr is None:
            return default
        scope = self.scope
        # NOTE: most arguments name another resource (api_management_name = azurerm_x.y.name);
        # one reference read where no loop variable is bound has one value in its module.
        ref = None if self.bindings else attr.reference()
        if ref is not None and ref in scope.references:
            values[key] = scope.references[ref]
            return values[key]
        busy = ("arg", id(self), key)
        if busy in scope.busy:
            return scope.unknown(f"{self.address}.{key}", f"{self.address}.{key} refers to itself")
        scope.busy.add(busy)
        try:
            value = scope.evaluate(attr.node, self.file, self.bindings)
        finally:
            scope.busy.discard(busy)
        values[key] = value
        if ref is not None:
            scope.references[ref] = value
        return value

    def blocks(self, kind: str) -> list[dict[str, Any]]:
        """The nested blocks of one type (``dynamic`` ones expanded), evaluated."""
        if kind not in self.nested:
            found = self.scope.nested(self.decl.block, kind, self.file, self.bindings)
            if not found and self.has(kind):  # a block written as an attribute: kind = [{...}]
                value = self.arg(kind)
                items = value if isinstance(value, list) else [value]
                found = [v for v in items if isinstance(v, dict)]
            self.nested[kind] = found
        return self.nested[kind]

    def linked_id(self, value: Any) -> Any:
        """The id of the declared resource a secret ``value`` was read from, else None."""
        m = _SECRET_READ.match(value.text) if isinstance(value, Unknown) else None
        if m is None:
            return None
        found = self.scope.resource(m[1])
        rid = found.attr("id") if isinstance(found, Inst) else None
        # NOTE: only a component names where a logger writes (a Key Vault secret holding the
        # key names nothing about it).
        return rid if isinstance(rid, str) and _COMPONENT_ID in rid.lower() else None

    def note(self, text: str) -> None:
        """A note at the declaration."""
        self.scope.src.sink.note(self.where, text)

    # ---------------------------------------------------------------- as a value

    def arm(self) -> tuple[str, list[Any]] | None:
        """ARM type and name segments, when the rules read this type."""
        if not self._names:
            self._names.append(self._arm())
        return self._names[0]

    def _arm(self) -> tuple[str, list[Any]] | None:
        t = self.decl.type
        if self.decl.kind == "data":
            arm_type = mapping.data_type_of(t)
            if arm_type is not None:
                return arm_type, [self.arg("name")]
            if t == "azapi_resource":
                return self._azapi_names()
            return None
        if t.startswith("azurerm_"):
            return mapping.names_of(t, self)
        if t == "azapi_resource":
            return self._azapi_names()
        return None

    def _azapi_names(self) -> tuple[str, list[Any]] | None:
        arm_type = mapping.azapi_type(self.arg("type"))
        if arm_type is None:
            return None
        names, _ = mapping.azapi_names(arm_type, self.arg("parent_id"), self.arg("name"))
        return arm_type, names

    def describe(self) -> str:
        """What the resource is, as a reason names it: ``Microsoft.CognitiveServices/accounts
        (kind OpenAI) 'name'`` (an account's kind says whether its endpoint serves models)."""
        found = self.arm()
        if found is None:
            return self.address
        arm_type, names = found
        what = ""
        if self.decl.kind == "data":
            what = " (data source)"
        elif arm_type.lower() == "microsoft.cognitiveservices/accounts":
            kind = self._account_kind()
            what = f" (kind {kind})" if isinstance(kind, str) and kind else ""
        return f"{arm_type}{what} '{text_of(arm_name(names))}'"

    def _account_kind(self) -> Any:
        if self.decl.type == "azurerm_ai_services":
            return "AIServices"
        if self.decl.type == "azapi_resource":
            body = mapping.body_of(self.arg("body"))
            return body.get("kind") if isinstance(body, dict) else None
        return self.arg("kind")

    def attr(self, key: str) -> Any:
        """``<address>.key`` as another expression reads it."""
        scope = self.scope
        expr = f"{self.local_address}.{key}"
        t = self.decl.type
        if _SECRET_ATTRS.search(key) and t not in ("terraform_data", "template_file", "local_file"):
            return scope.unknown(expr, f"{expr} is a secret: never read")
        if self.decl.kind == "data" and t == "template_file" and key == "rendered":
            return scope.render_template(self.arg("template"), self.arg("vars", {}), expr)
        if self.decl.kind == "data" and t == "local_file" and key == "content":
            return scope.file_value(self.arg("filename"), expr)
        if self.decl.kind == "data" and t == "terraform_remote_state":
            return scope.unknown(
                expr, f"the outputs of another deployment's state ({self.address})"
            )
        if t == "terraform_data" and key == "output":
            return self.arg("input")
        if key == "id":
            found = self.arm()
            if found is not None:
                return resource_id(found[0], found[1])
        if key in self.decl.block.attrs:
            return self.arg(key)
        blocks = [b for b in self.decl.block.blocks if b.type == key or b.labels[:1] == [key]]
        if blocks:
            return [Runtime(b, self.describe(), expr) for b in self.blocks(key)]
        if t.startswith("random_"):
            return scope.unknown(expr, "a random value made at apply", nonempty=True)
        when = (
            "read from Azure when planned"
            if self.decl.kind == "data"
            else "only known once deployed"
        )
        return scope.unknown(
            expr, f"the {key} of {self.describe()} is {when}", nonempty=key.lower() in ALWAYS_SET
        )


class ModuleScope(Scope):
    """One instance of a module, evaluated with the values its caller gives its variables."""

    fold_keys = False
    functions = FUNCTIONS
    operators = _OPERATORS

    def __init__(
        self,
        src: Source,
        module: Module,
        deployment: str,
        budget: Budget,
        *,
        inputs: dict[str, Callable[[], Any]],
        cwd: Path,
        condition: Unknown | None = None,
        prefix: str = "",
        stack: tuple[Path, ...] = (),
    ) -> None:
        super().__init__(src.shown(module.folder), budget)
        self.src, self.module, self.deployment = src, module, deployment
        self.inputs, self.cwd, self.condition = inputs, cwd, condition
        self.prefix = prefix
        self.stack = (*stack, module.folder)
        self.path_module = Path(os.path.relpath(module.folder, cwd)).as_posix()
        self.cwd_text = str(cwd)
        self.done: dict[Any, Any] = {}
        self.busy: set[Any] = set()
        self.references: dict[str, Any] = {}
        """A plain reference's value (see :meth:`Inst.arg`)."""
        self.expansions: dict[str, Expansion] = {}

    # ---------------------------------------------------------------- evaluation helpers

    def evaluate(self, node: Node, file: str, bindings: dict[str, Any]) -> Any:
        """``node`` as written in ``file``, with these loop variables (and no others)."""
        saved = self.file, self.line, self.locals
        self.file, self.locals = file, bindings
        try:
            return self.eval(node)
        finally:
            self.file, self.line, self.locals = saved

    def guarded(self, key: Any, expr: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once; a value that needs itself is unknown."""
        if key in self.done:
            return self.done[key]
        if key in self.busy:
            return self.unknown(expr, f"{expr} refers to itself")
        self.busy.add(key)
        try:
            value = compute()
        finally:
            self.busy.discard(key)
        self.done[key] = value
        return value

    def lookup(self, obj: Any, key: Any, node: Node) -> Any:
        """``obj[key]``, where ``obj`` may also be a namespace (``var``), a resource or module
        instance, or a loop not expanded (its one instance stands for every key)."""
        if isinstance(key, Unknown) and isinstance(obj, _NS | Inst | _Loop | _ModuleOut | _Opaque):
            return Unknown(self.unknown(render(node), key.why).text, key.why, key.where)
        if isinstance(obj, _NS):
            return obj.get(text_of(key))
        if isinstance(obj, Inst):
            return obj.attr(text_of(key))
        if isinstance(obj, _ModuleOut):
            return obj.scope.output(text_of(key))
        if isinstance(obj, _Opaque):
            if text_of(key) in obj.known:
                return obj.known[text_of(key)]
            return unknown(f"{obj.expr}.{text_of(key)}", obj.why, self.where)
        if isinstance(obj, _Loop) and text_of(key) not in obj:
            return next(iter(obj.values()))
        return super().lookup(obj, key, node)

    # ---------------------------------------------------------------- names

    def symbol(self, name: str) -> Any:
        """``var``, ``local``, ``module``, ``data``, ``path``, a resource type ..."""
        if name == "var":
            return _NS(self.var)
        if name == "local":
            return _NS(self.local)
        if name == "module":
            return _NS(self.module_value)
        if name == "data":
            return _NS(lambda t: _NS(lambda label: self.resource(f"data.{t}.{label}")))
        if name == "path":
            return {"module": self.path_module, "root": ".", "cwd": self.cwd_text}
        if name == "terraform":
            return {"workspace": "default"}
        if name in ("each", "count", "self"):
            return self.unknown(name, f"'{name}' is only set inside a resource that uses it")
        if name in self.module.types:
            return _NS(lambda label: self.resource(f"{name}.{label}"))
        if name in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[name]
        return self.unknown(
            name, f"'{name}' is not declared in {self.src.shown(self.module.folder)}"
        )

    def var(self, name: str) -> Any:
        """``var.name``: what the caller (or a ``.tfvars`` file) gives, else the default."""
        return self.guarded(("var", name), f"var.{name}", lambda: self._var(name))

    def _var(self, name: str) -> Any:
        decl = self.module.variables.get(name)
        expr = f"var.{name}"
        folder = self.src.shown(self.module.folder)
        if decl is None:
            if self.src.only is not None and not self.prefix:
                folder = f"{folder}, of which only {self.src.shown(self.src.only)} is scanned"
            return self.unknown(expr, f"variable '{name}' is not declared in {folder}")
        attrs = decl.block.attrs
        where = f"{decl.file}:{decl.block.line}"
        sensitive = attrs.get("sensitive")
        if sensitive is not None and sensitive.node[2] == ("lit", True):
            return unknown(expr, f"{expr} is sensitive: never read", where)
        if _SECRET_VARS.search(name):
            return unknown(expr, f"{expr} looks like a secret: never read", where)
        if name in self.inputs:
            value = self.inputs[name]()
        elif "default" in attrs:
            value = self.evaluate(attrs["default"].node, decl.file, {})
        elif self.prefix:
            return unknown(
                expr, f"{expr} is not given by the module's caller and has no default", where
            )
        else:
            return unknown(
                expr,
                f"{expr} has no value (no default; set with -var, a .tfvars file or TF_VAR_{name})",
                where,
            )
        type_attr = attrs.get("type")
        if type_attr is not None:
            value = _convert(type_attr.node, value, self, decl.file)
        return value

    def local(self, name: str) -> Any:
        """``local.name``."""
        found = self.module.locals.get(name)
        if found is None:
            return self.unknown(f"local.{name}", f"local '{name}' is not declared")
        attr, file = found
        return self.guarded(
            ("local", name), f"local.{name}", lambda: self.evaluate(attr.node, file, {})
        )

    def output(self, name: str) -> Any:
        """A module output (to its caller)."""
        decl = self.module.outputs.get(name)
        expr = f"{self.prefix.rstrip('.')}.{name}"
        if decl is None or "value" not in decl.block.attrs:
            return self.unknown(expr, f"output '{name}' is not declared in {self.file}")
        attr = decl.block.attrs["value"]
        return self.guarded(("output", name), expr, lambda: self.evaluate(attr.node, decl.file, {}))

    # ---------------------------------------------------------------- instances

    def expand(self, decl: Decl) -> Expansion:
        """The instances of a resource, data source or module call."""
        key = decl.address
        if key not in self.expansions:
            self.expansions[key] = self._expand(decl)
        return self.expansions[key]

    def _expand(self, decl: Decl) -> Expansion:
        attrs = decl.block.attrs
        where = f"{decl.file}:{decl.block.line}"
        if "count" in attrs:
            node = attrs["count"].node
            count = self.evaluate(node, decl.file, {})
            if isinstance(count, bool):
                count = int(count)
            if isinstance(count, int | float) and not isinstance(count, bool):
                n = int(count)
                if n > MAX_ITEMS:
                    return self._loop(decl, node, f"{n} instances are not expanded", where, "count")
                return Expansion("count", [(i, {"count": {"index": i}}) for i in range(n)])
            cond = _switch(node, self, decl.file)
            if cond is not None:
                return Expansion("count", [(0, {"count": {"index": 0}})], cond)
            why = count.why if isinstance(count, Unknown) else f"count is {count!r}"
            return self._loop(decl, node, why, where, "count")
        if "for_each" in attrs:
            node = attrs["for_each"].node
            coll = self.evaluate(node, decl.file, {})
            items = None if isinstance(coll, _Loop) else _each(coll)
            if items is None or len(items) > MAX_ITEMS:
                why = coll.why if isinstance(coll, Unknown) else "not a map or set of strings"
                if items is not None:
                    why = f"{len(items)} instances are not expanded"
                if isinstance(coll, _Loop):  # its one instance stands for each value
                    why = "the instances of a loop that is not expanded"
                    return self._loop(decl, node, why, where, "each", next(iter(coll.values())))
                return self._loop(decl, node, why, where, "each")
            return Expansion("each", [(k, {"each": {"key": k, "value": v}}) for k, v in items])
        return Expansion("one", [(None, {})])

    def _loop(
        self, decl: Decl, node: Node, why: str, where: str, kind: str, value: Any = None
    ) -> Expansion:
        """One instance with unknown loop variables (``value``: what stands for each value,
        the one instance of a loop it goes over). The deployment is not read whole when what
        the loop makes may be what the rules read (a module may hold anything)."""
        text = (
            f"{self.prefix}{decl.address}: a loop over {render(node)} is not expanded ({why}); "
            "one instance with unknown values stands for all"
        )
        if decl.kind == "module" or _may_be_read(decl):
            self.src.sink.unread(self.deployment, where, text)
        else:
            self.src.sink.note(where, text)
        if kind == "count":
            index = unknown("count.index", f"an index of {render(node)} ({why})", where)
            return Expansion("loop", [(index, {"count": {"index": index}})])
        key = unknown("each.key", f"a key of {render(node)} ({why})", where)
        if value is None:
            value = unknown("each.value", f"a value of {render(node)} ({why})", where)
        return Expansion("loop", [(key, {"each": {"key": key, "value": value}})])

    def resource(self, address: str) -> Any:
        """A resource or data source as a value: an instance, or its instances by key."""
        return self.guarded(("resource", address), address, lambda: self._resource(address))

    def _resource(self, address: str) -> Any:
        table = self.module.data if address.startswith("data.") else self.module.resources
        decl = table.get(address.removeprefix("data."))
        if decl is None:
            return self.unknown(
                address, f"{address} is not declared in {self.src.shown(self.module.folder)}"
            )
        exp = self.expand(decl)
        cond = exp.condition or self.condition
        insts = [Inst(self, decl, k, b, cond) for k, b in exp.items]
        return _value_of(exp, insts)

    def instances(self, decl: Decl) -> list[Inst]:
        """Every instance of a resource or data source."""
        value = self.resource(decl.address)
        return _flat(value, Inst)

    # ---------------------------------------------------------------- modules

    def module_value(self, name: str) -> Any:
        """``module.name``: its outputs (by instance when it has ``count``/``for_each``)."""
        return self.guarded(("module", name), f"module.{name}", lambda: self._module(name))

    def _module(self, name: str) -> Any:
        decl = self.module.modules.get(name)
        if decl is None:
            return self.unknown(f"module.{name}", f"module '{name}' is not declared")
        exp = self.expand(decl)
        values = [
            self._module_instance(decl, key, b, exp.condition or self.condition)
            for key, b in exp.items
        ]
        return _value_of(exp, values)

    def _module_instance(
        self, decl: Decl, key: Any, bindings: dict[str, Any], cond: Unknown | None
    ) -> Any:
        where = f"{decl.file}:{decl.block.line}"
        source_attr = decl.block.attrs.get("source")
        source = text_of(self.evaluate(source_attr.node, decl.file, {})) if source_attr else ""
        suffix = (
            "" if key is None else (f'["{key}"]' if isinstance(key, str) else f"[{text_of(key)}]")
        )
        prefix = f"{self.prefix}module.{decl.name}{suffix}."
        describe = f"module '{decl.name}' ({source})"
        if avm.is_terraform(source):
            return self._avm(decl, source, bindings, cond, describe, prefix)
        folder = self.src.local_source(self.module, decl)
        why = None
        if folder is None:
            why = f"module '{decl.name}' from {source or 'an unknown source'} is not read"
        elif not self.src.inside(folder):
            why = f"module '{decl.name}': '{source}' is outside the scanned folder; not read"
        elif folder in self.stack:
            why = f"module '{decl.name}' calls itself; not read again"
        child_module = self.src.module(folder) if why is None and folder is not None else None
        if why is None and child_module is None:
            why = f"module '{decl.name}': '{source}' holds no .tf file; not read"
        if why is not None or child_module is None:
            self.src.sink.unread(self.deployment, where, f"{why}; its outputs are unknown")
            return _Opaque(describe, f"{prefix.rstrip('.')}", why or "")
        inputs: dict[str, Callable[[], Any]] = {}
        for arg, attr in decl.block.attrs.items():
            if arg not in _META:
                inputs[arg] = _thunk(self, attr.node, decl.file, bindings)
        child = ModuleScope(
            self.src,
            child_module,
            self.deployment,
            self.budget,
            inputs=inputs,
            cwd=self.cwd,
            condition=cond,
            prefix=prefix,
            stack=self.stack,
        )
        return _ModuleOut(child)

    def _avm(
        self,
        decl: Decl,
        source: str,
        bindings: dict[str, Any],
        cond: Unknown | None,
        describe: str,
        prefix: str,
    ) -> _Opaque:
        """The AVM API Management module: not read, its inputs lowered to what it creates
        (its outputs stay unknown)."""
        inputs = {
            arg: _thunk(self, attr.node, decl.file, bindings)
            for arg, attr in decl.block.attrs.items()
            if arg not in _META
        }
        svc = avm.terraform(
            inputs,
            self.src.sink,
            deployment=self.deployment,
            file=decl.file,
            line=decl.block.line,
            label=f"module '{decl.name}' ({source})",
            condition=cond,
            lines={arg: attr.line for arg, attr in decl.block.attrs.items()},
        )
        why = f"module '{decl.name}' from a registry ({source}): its outputs are not read"
        # NOTE: the service's name and id are its inputs' (what the module deploys is named so).
        known = {"name": svc, "resource_id": resource_id(mapping.APIM, [svc])}
        return _Opaque(describe, f"{prefix.rstrip('.')}", why, known)

    # ---------------------------------------------------------------- functions

    def special(self, name: str, args: list[Node]) -> Any:
        """The functions that read files or need their argument unevaluated (``file``,
        ``templatefile``, ``fileset``, ``can``, ``coalesce`` ...), and ``f(args...)``."""
        if args and args[-1][0] == "spread":
            spread = self.eval(args[-1][1])
            if not isinstance(spread, list):
                return self.unknown(
                    render(("call", name, args)), "an expansion of what is not a list"
                )
            values = [self.eval(a) for a in args[:-1]] + spread
            return self.eval(("call", name, [("lit", v) for v in values]))
        if name == "file":
            path = self.eval(args[0]) if args else None
            return self.file_value(path, render(("call", name, args)))
        if name == "templatefile":
            path = self.eval(args[0]) if args else None
            values = self.eval(args[1]) if len(args) > 1 else {}
            text = self.file_value(path, render(("call", name, args)))
            return self.render_template(text, values, render(("call", name, args)))
        if name == "fileexists":
            path = self.eval(args[0]) if args else None
            if not isinstance(path, str):
                return self.unknown(
                    render(("call", name, args)), "the file name is not known offline"
                )
            found = self.located(path)
            return (
                os.path.isfile(found)
                if self.src.within(found)
                else self.unknown(
                    render(("call", name, args)), f"'{path}' is outside the scanned folder"
                )
            )
        if name == "fileset":
            return self._fileset(args)
        if name in ("abspath", "pathexpand"):
            path = self.eval(args[0]) if args else None
            if not isinstance(path, str):
                return self.unknown(render(("call", name, args)), "the path is not known offline")
            return self.located(path) if name == "abspath" else path
        if name == "coalesce":
            for arg in args:
                value = self.eval(arg)
                if isinstance(value, Unknown):
                    return value
                if value not in (None, ""):
                    return value
            return self.unknown(render(("call", name, args)), "every argument is null or empty")
        if name == "can":
            value = self.eval(args[0]) if args else None
            if isinstance(value, Unknown):
                return False if value.missing else Unknown(value.text, value.why, value.where)
            return True
        return NotImplemented

    def located(self, path: str) -> str:
        """A path as Terraform reads it: relative to the root module's folder (resolved)."""
        return self.src.real(os.path.normpath(os.path.join(self.cwd_text, path)))

    def file_value(self, path: Any, expr: str) -> Any:
        """``file(path)``: the text, with its place in the file."""
        if isinstance(path, Unknown):
            return self.unknown(expr, f"the file name is not known offline ({path.reason()})")
        if not isinstance(path, str):
            return self.unknown(expr, "the file name is not a string")
        found = self.located(path)
        if not self.src.within(found):
            self.src.sink.unread(
                self.deployment, self.where, f"'{path}' is outside the scanned folder; not read"
            )
        return self.src.read_file(found, lambda why: self.unknown(expr, why))

    def render_template(self, text: Any, values: Any, expr: str) -> Any:
        """A template (``templatefile()``, ``template_file``) rendered with ``values``; what
        they do not give stays a ``${...}`` placeholder."""
        if isinstance(text, Unknown) or not isinstance(text, str):
            return (
                text
                if isinstance(text, Unknown)
                else self.unknown(expr, "the template is not text")
            )
        if not isinstance(text, Sourced):
            text = Sourced(text, self.file, self.line or 1)
        node = self.src.template(text)
        value = TemplateScope(self, text.origin[0], values, expr).eval(node)
        if isinstance(value, Unknown):
            return dataclasses.replace(value, origin=text.origin)
        return Sourced(str(value), *text.origin) if isinstance(value, str) else value

    def _fileset(self, args: list[Node]) -> Any:
        expr = render(("call", "fileset", args))
        values = [self.eval(a) for a in args]
        if len(values) != 2 or not all(isinstance(v, str) for v in values):
            return self.unknown(expr, "the folder or pattern is not known offline")
        folder = Path(self.located(values[0]))
        if not self.src.inside(folder):
            return self.unknown(expr, f"'{values[0]}' is outside the scanned folder")
        patterns = _braces(values[1])
        found = sorted(
            {
                p.relative_to(folder).as_posix()
                for pattern in patterns
                for p in folder.glob(pattern)
                if p.is_file()
            }
        )
        return found

    # ---------------------------------------------------------------- nested blocks

    def nested(
        self, block: Block, kind: str, file: str, bindings: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The nested blocks of one type, ``dynamic`` ones expanded, evaluated."""
        out: list[dict[str, Any]] = []
        for b in block.blocks:
            if b.type == kind:
                out.append(self._block_value(b, file, bindings))
            elif b.type == "dynamic" and b.labels[:1] == [kind]:
                out += self._dynamic(b, kind, file, bindings)
        return out

    def _block_value(self, block: Block, file: str, bindings: dict[str, Any]) -> dict[str, Any]:
        value: dict[str, Any] = {
            name: self.evaluate(attr.node, file, bindings) for name, attr in block.attrs.items()
        }
        kinds = {b.labels[0] if b.type == "dynamic" and b.labels else b.type for b in block.blocks}
        for kind in sorted(kinds):
            value[kind] = self.nested(block, kind, file, bindings)
        return value

    def _dynamic(
        self, block: Block, kind: str, file: str, bindings: dict[str, Any]
    ) -> list[dict[str, Any]]:
        content = block.first("content")
        each = block.attrs.get("for_each")
        if content is None or each is None:
            return []
        name = kind
        if "iterator" in block.attrs:
            inner = block.attrs["iterator"].node[2]
            name = str(inner[1]) if inner[0] == "sym" else kind
        coll = self.evaluate(each.node, file, bindings)
        items = _dynamic_items(coll)
        if items is None:
            where = f"{file}:{block.line}"
            why = coll.why if isinstance(coll, Unknown) else "not a collection"
            self.src.sink.note(
                where,
                f'dynamic "{kind}" over {render(each.node)} is not expanded ({why}); one block '
                "with unknown values stands for all",
            )
            key = unknown(f"{name}.key", f"a key of {render(each.node)} ({why})", where)
            value = unknown(f"{name}.value", f"a value of {render(each.node)} ({why})", where)
            items = [(key, value)]
        return [
            self._block_value(content, file, {**bindings, name: {"key": k, "value": v}})
            for k, v in items
        ]

    # ---------------------------------------------------------------- emission

    def emit(self) -> None:
        """Every resource of this module (and of the modules it calls) to the sink."""
        for why in self.module.unread:
            where, _, text = why.partition(": ")
            self.src.sink.unread(self.deployment, where, text)
        for decl in self.module.order:
            for inst in self.instances(decl):
                self._emit(inst)
        for name in self.module.modules:
            for out in _flat(self.module_value(name), _ModuleOut):
                out.scope.emit()

    def _emit(self, inst: Inst) -> None:
        decl = inst.decl
        t = decl.type
        sink = self.src.sink
        if decl.kind == "data":
            found = inst.arm()
            if found is not None and (mapping.data_type_of(t) or mapping.kept(found[0])):
                sink.add(
                    found[0],
                    arm_name(found[1]),
                    None,
                    origin=(inst.file, inst.line),
                    deployment=self.deployment,
                    existing=True,
                )
            return
        lowered: mapping.Lowered | None = None
        if t.startswith("azurerm_"):
            lowered = mapping.lower_azurerm(t, inst)
            if t == "azurerm_api_management" and lowered is not None:
                self._add(inst, mapping.inline_policy(inst, lowered.names[0]))
        elif t == "azapi_resource":
            lowered = self._azapi(inst)
        elif t == "azapi_update_resource":
            self._patch(inst, inst.arg("resource_id"))
        elif t == "azapi_resource_action":
            self._action(inst)
        elif t in ("terraform_data", "null_resource"):
            self._provisioner(inst)
        self._add(inst, lowered)

    def _add(self, inst: Inst, lowered: mapping.Lowered | None) -> None:
        if lowered is None:
            return
        origin = lowered.origin or (inst.file, inst.line)
        self.src.sink.add(
            lowered.arm_type,
            arm_name(lowered.names),
            lowered.props,
            origin=origin,
            deployment=self.deployment,
            scope=lowered.scope,
            condition=inst.condition,
            existing=lowered.existing,
            lines=lowered.lines or None,
        )

    def _azapi_body(self, inst: Inst) -> Any:
        """An azapi body: a ``jsonencode({...})`` is read as the object it encodes."""
        attr = inst.decl.block.attrs.get("body")
        if attr is None:
            return {}
        node = attr.node[2]
        if node[0] == "call" and node[1] == "jsonencode" and len(node[2]) == 1:
            body = self.evaluate(("at", attr.line, node[2][0]), inst.file, inst.bindings)
        else:
            body = mapping.body_of(inst.arg("body"))
        if isinstance(body, Unknown):
            self.src.sink.unread(
                self.deployment,
                f"{inst.file}:{attr.line}",
                f"the body of {inst.address} is not known offline ({body.why})",
            )
            return {}
        return body if isinstance(body, dict) else {}

    def _azapi(self, inst: Inst) -> mapping.Lowered | None:
        found = inst.arm()
        if found is None or not mapping.kept(found[0]):
            return None
        arm_type, names = found
        _, scope = mapping.azapi_names(arm_type, inst.arg("parent_id"), inst.arg("name"))
        body = self._azapi_body(inst)
        out = mapping.lower_azapi(arm_type, names, body, (inst.file, inst.line))
        out.scope = scope
        metrics = _key_line(inst.decl.block.attrs.get("body"), "properties", "metrics")
        if metrics:
            out.lines["metrics"] = metrics
        return out

    def _target(self, inst: Inst, resource_id: Any) -> tuple[str, Any] | None:
        """ARM type and name of what a patch or action targets."""
        arm_type = mapping.azapi_type(inst.arg("type"))
        id_type, names = mapping.id_parts(resource_id)
        if not names and inst.has("parent_id"):
            parent_type, parents = mapping.id_parts(inst.arg("parent_id"))
            names = [*parents, inst.arg("name")]
            id_type = f"{parent_type}/x" if parent_type else None
        if arm_type is None:
            arm_type = id_type
        if arm_type is None or not names:
            return None
        return arm_type, names

    def _patch(self, inst: Inst, resource_id: Any) -> None:
        found = self._target(inst, resource_id)
        if found is None or not mapping.kept(found[0]):
            return
        arm_type, names = found
        body = self._azapi_body(inst)
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            return
        attr = inst.decl.block.attrs.get("body")
        lines = {}
        for key in props:
            line = _key_line(attr, "properties", key)
            if line:
                lines[key] = line
        name = arm_name(names)
        self.src.patches.append(
            _Patch(
                inst.address,
                arm_type,
                text_of(name),
                props,
                inst.where,
                inst.file,
                inst.line,
                lines,
                self.deployment,
            )
        )

    def _action(self, inst: Inst) -> None:
        method = str(inst.arg("method", "POST")).upper()
        action = inst.arg("action", "")
        resource_id = inst.arg("resource_id")
        if action not in ("", None):
            return  # listKeys and the like: never read
        if method == "PATCH":
            self._patch(inst, resource_id)
            return
        if method != "PUT":
            return
        arm_type = mapping.azapi_type(inst.arg("type"))
        if arm_type is None or not mapping.kept(arm_type):
            return
        scope: Any = None
        if arm_type.lower() == "microsoft.insights/diagnosticsettings":
            text = text_of(resource_id)
            at = text.lower().rfind("/providers/microsoft.insights/diagnosticsettings/")
            if at < 0:
                return
            scope = text[:at]
            names: list[Any] = [text[at:].rsplit("/", 1)[-1]]
            if isinstance(resource_id, Unknown):
                scope = Unknown(scope, resource_id.why, resource_id.where, True)
        else:
            _, names = mapping.id_parts(resource_id)
        if not names:
            return
        out = mapping.lower_azapi(arm_type, names, self._azapi_body(inst), (inst.file, inst.line))
        out.scope = scope
        self._add(inst, out)

    def _provisioner(self, inst: Inst) -> None:
        texts = [
            attr.text
            for b in inst.decl.block.blocks
            if b.type == "provisioner"
            for attr in b.attrs.values()
        ]
        texts += [
            attr.text
            for b in inst.decl.block.blocks
            for sub in b.blocks
            for attr in sub.attrs.values()
        ]
        if any(_PROVISIONED.search(t) for t in texts):
            self.src.sink.unread(
                self.deployment,
                inst.where,
                f"{inst.address} runs a command at apply time that may create or change APIM, "
                "Azure OpenAI or monitoring resources; what it makes is not seen",
            )


class TemplateScope(Scope):
    """A template (``templatefile()``, ``template_file``): only its variables are names."""

    fold_keys = False
    functions = FUNCTIONS
    operators = _OPERATORS

    def __init__(self, outer: ModuleScope, file: str, values: Any, expr: str) -> None:
        super().__init__(file, outer.budget)
        self.outer, self.values, self.expr = outer, values, expr

    def symbol(self, name: str) -> Any:
        """A template variable (a name it is not given stays a placeholder)."""
        if isinstance(self.values, Unknown):
            return self.unknown(
                name, f"the variables of {self.expr} are not known ({self.values.why})"
            )
        if isinstance(self.values, dict) and name in self.values:
            return self.values[name]
        return self.unknown(name, f"'{name}' is not among the variables given to {self.expr}")

    def special(self, name: str, args: list[Node]) -> Any:
        """The file functions, as the module that renders the template reads them."""
        if name in ("file", "templatefile", "fileexists", "fileset", "abspath"):
            return self.outer.special(name, [("lit", self.eval(a)) for a in args])
        if name in ("coalesce", "can", "jsonencode"):
            return self.outer.special(name, [("lit", self.eval(a)) for a in args])
        return NotImplemented


class _ModuleOut:
    """A module instance as a value: its outputs."""

    def __init__(self, scope: ModuleScope) -> None:
        self.scope = scope


class _Opaque:
    """A module that is not read: every output is unknown, and why."""

    def __init__(
        self, describe: str, expr: str, why: str, known: dict[str, Any] | None = None
    ) -> None:
        self.describe, self.expr, self.why = describe, expr, why
        self.known = known or {}
        """Outputs known though the module is not read (an AVM module's service name)."""


def _may_be_read(decl: Decl) -> bool:
    """A resource of a type the rules read (an azapi resource may be one, whatever its type
    evaluates to; a provisioner may create one)."""
    if decl.kind != "resource":
        return False
    if decl.type.startswith("azurerm_"):
        return mapping.names_known(decl.type)
    return decl.type.startswith("azapi_") or decl.type in ("terraform_data", "null_resource")


def _value_of(exp: Expansion, values: list[Any]) -> Any:
    if exp.kind == "one":
        return values[0] if values else None
    if exp.kind == "count":
        return values
    if exp.kind == "each":
        return {k: v for (k, _), v in zip(exp.items, values, strict=True)}
    loop = _Loop()
    loop[text_of(exp.items[0][0])] = values[0]
    return loop


def _flat(value: Any, kind: type) -> list[Any]:
    if isinstance(value, kind):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, kind)]
    if isinstance(value, dict):
        return [v for v in value.values() if isinstance(v, kind)]
    return []


def _given(value: Any) -> Callable[[], Any]:
    return lambda: value


def _thunk(
    scope: ModuleScope, node: Node, file: str, bindings: dict[str, Any]
) -> Callable[[], Any]:
    return lambda: scope.evaluate(node, file, bindings)


def _each(coll: Any) -> list[tuple[str, Any]] | None:
    """``for_each`` items: a map's (key, value) in key order, a set's (value, value)."""
    if isinstance(coll, dict) and not isinstance(coll, Runtime):
        return [(k, coll[k]) for k in sorted(coll)]
    if isinstance(coll, list) and all(isinstance(x, str) for x in coll):
        return [(x, x) for x in sorted(set(coll))]
    return None


def _dynamic_items(coll: Any) -> list[tuple[Any, Any]] | None:
    if isinstance(coll, dict) and not isinstance(coll, Runtime):
        return [(k, coll[k]) for k in sorted(coll)]
    if isinstance(coll, list):
        return list(enumerate(coll))
    return None


def _switch(node: Node, scope: ModuleScope, file: str) -> Unknown | None:
    """The condition of ``count = cond ? 1 : 0`` when it cannot be decided."""
    inner = node[2] if node[0] == "at" else node
    if inner[0] != "op" or inner[1] != "?:":
        return None
    cond_node, a, b = inner[2]
    values = {a[1] if a[0] == "lit" else None, b[1] if b[0] == "lit" else None}
    if values != {0, 1}:
        return None
    cond = scope.evaluate(cond_node, file, {})
    if not isinstance(cond, Unknown):
        return None
    text = render(cond_node) if a == ("lit", 1) else f"!({render(cond_node)})"
    return unknown(text, cond.why, cond.where or f"{file}:{node[1] if node[0] == 'at' else ''}")


def _braces(pattern: str) -> list[str]:
    """A glob with ``{a,b}`` alternatives as the plain globs it stands for."""
    m = re.search(r"\{([^{}]*)\}", pattern)
    if m is None:
        return [pattern]
    return [
        p
        for alt in m.group(1).split(",")
        for p in _braces(pattern[: m.start()] + alt + pattern[m.end() :])
    ]


def _key_line(attr: Attr | None, *path: str) -> int | None:
    """The line of ``body.properties.metrics`` (and the like), when written there."""
    if attr is None:
        return None
    node = attr.node
    for key in path:
        while node[0] == "at" or (node[0] == "call" and node[1] == "jsonencode" and node[2]):
            node = node[2] if node[0] == "at" else node[2][0]
        if node[0] != "obj":
            return None
        entry = next((v for k, v in node[1] if k == ("lit", key)), None)
        if entry is None:
            return None
        node = entry
    return int(node[1]) if node[0] == "at" else None


# ---------------------------------------------------------------- type conversion


def _convert(type_node: Node, value: Any, scope: ModuleScope, file: str) -> Any:
    """A variable's value converted to its declared type: numbers and booleans to strings
    where strings are declared, and ``optional(type, default)`` attributes filled in."""
    node = type_node[2] if type_node[0] == "at" else type_node
    try:
        return _to_type(node, value, scope, file)
    except (TypeError, ValueError):
        return value


def _to_type(node: Node, value: Any, scope: ModuleScope, file: str) -> Any:
    if value is None or isinstance(value, Unknown):
        return value
    kind = node[0]
    if kind == "sym":
        name = node[1]
        if name == "string" and isinstance(value, bool | int | float):
            return FUNCTIONS["tostring"](value)
        if name == "number" and isinstance(value, str):
            return FUNCTIONS["tonumber"](value)
        if name == "bool" and isinstance(value, str) and value in ("true", "false"):
            return value == "true"
        return value
    if kind != "call":
        return value
    name, args = str(node[1]), node[2]
    if name in ("list", "set") and args and isinstance(value, list):
        items = [_to_type(args[0], v, scope, file) for v in value]
        return (
            FUNCTIONS["toset"](items) if name == "set" and first_unknown(items) is None else items
        )
    if name == "map" and args and isinstance(value, dict):
        return {k: _to_type(args[0], v, scope, file) for k, v in value.items()}
    if name == "object" and args and args[0][0] == "obj" and isinstance(value, dict):
        out = dict(value)
        for key_node, attr_node in args[0][1]:
            key = key_node[1] if key_node[0] == "lit" else None
            if not isinstance(key, str):
                continue
            attr_type = attr_node[2] if attr_node[0] == "at" else attr_node
            optional = attr_type[0] == "call" and attr_type[1] == "optional"
            if key not in out or out[key] is None:
                if optional and len(attr_type[2]) > 1:
                    out[key] = scope.evaluate(attr_type[2][1], file, {})
                elif optional:
                    out[key] = None
                else:
                    continue
            inner = attr_type[2][0] if optional and attr_type[2] else attr_type
            out[key] = _to_type(inner, out[key], scope, file)
        return out
    if name == "optional" and args:
        return _to_type(args[0], value, scope, file)
    return value

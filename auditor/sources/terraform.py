"""Terraform configurations (azurerm 4.x/5.x and azapi) as ARM-shaped resources.

Every ``*.tf`` file below the folder is parsed (by :mod:`hclquick`, and where it steps aside by
python-hcl2 in :mod:`hclfull`, with the same result); each folder is one Terraform
module with its own variables, locals and resource addresses. APIM, Azure OpenAI account,
diagnostic-setting and Application Insights resources become the ARM resource dicts of
:mod:`auditor.sources.resources`, which builds the estate.

Nothing is planned or applied: values are evaluated statically. Literals, variable defaults,
locals, ``path.module``, other resources' names/ids/arguments, ``file()``, ``templatefile()`` and
``jsonencode()`` are resolved; anything else (module inputs without defaults, data sources,
function calls, ``each.key``) is not. A policy whose text cannot be resolved gets
``properties.unresolved`` (its verdicts become unknown, never pass); a name that cannot be
resolved keeps its raw expression text and a note says so. Secrets (subscription keys, logger
credentials, named values, backend credentials, sensitive variables) are never read into the
resources, and references to them are refused.
"""

from __future__ import annotations

import functools
import os
import re
import textwrap
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from auditor.bounded import PolicyReadError, decode_policy_bytes, read_bounded
from auditor.errors import SourceError
from auditor.model import Estate, Location, ReadError, ordered_notes
from auditor.sources import hclquick, hclsplit
from auditor.sources.parts import Part

# fmt: off
PROVIDES = frozenset({"policies", "products", "subscriptions", "diagnostics", "loggers", "backends",
                      "fragments", "ai_accounts", "diagnostic_settings", "app_insights"})
# fmt: on
MAX_TF_BYTES = 8 * 1024 * 1024
_MAX_VALUE = 4 * 1024 * 1024  # characters of one evaluated string (a policy is at most 4 MiB)
_APIM = "Microsoft.ApiManagement/service"
_ACCOUNT = "Microsoft.CognitiveServices/accounts"
# Terraform type (less azurerm_), ARM type (``~`` = the APIM service), and the parts of the nested
# ARM name: an argument, ``@svc`` (api_management_name or _id), ``@account``
# (cognitive_account_id) or ``=text``.
_TABLE = """
api_management                      ~                          name
api_management_policy               ~/policies                 @svc =policy
api_management_api                  ~/apis                     @svc name
api_management_api_policy           ~/apis/policies            @svc api_name =policy
api_management_api_operation        ~/apis/operations          @svc api_name operation_id
api_management_api_operation_policy ~/apis/operations/policies @svc api_name operation_id =policy
api_management_product              ~/products                 @svc product_id
api_management_product_policy       ~/products/policies        @svc product_id =policy
api_management_product_api          ~/products/apis            @svc product_id api_name
api_management_subscription         ~/subscriptions            @svc subscription_id
api_management_policy_fragment      ~/policyFragments          @svc name
api_management_diagnostic           ~/diagnostics              @svc identifier
api_management_api_diagnostic       ~/apis/diagnostics         @svc api_name identifier
api_management_logger               ~/loggers                  @svc name
api_management_backend              ~/backends                 @svc name
api_management_named_value          ~/namedValues              @svc name
cognitive_account           Microsoft.CognitiveServices/accounts              name
ai_services                 Microsoft.CognitiveServices/accounts              name
cognitive_deployment        Microsoft.CognitiveServices/accounts/deployments  @account name
monitor_diagnostic_setting  Microsoft.Insights/diagnosticSettings             name
application_insights        Microsoft.Insights/components                     name
"""
_SPEC = {
    f"azurerm_{tf}": (arm.replace("~", _APIM), tuple(parts))
    for tf, arm, *parts in (line.split() for line in _TABLE.strip().splitlines())
}
#: Resources of one API, evaluated only by the process that audits it (the API resource itself
#: is evaluated everywhere: whether it is a revision decides whether it exists).
_PER_API = {f"{_APIM}/apis/{k}" for k in ("policies", "operations", "operations/policies")} | {
    f"{_APIM}/apis/diagnostics"
}
_AZAPI_TYPES = (_APIM.lower(), _ACCOUNT.lower(), "microsoft.insights/")
# Names that hold secrets: never resolved through a reference, never copied.
_SECRETS = re.compile(
    r"(?i)^(value|.*_?key|.*connection_?string|credentials|password|.*secret.*|sas.*|token)$"
)
_REF = re.compile(r"(?P<addr>(?:data\.)?[A-Za-z]\w*\.[\w-]+)(?:\[[^\]]*\])?\.(?P<attr>\w+)")
_WHOLE_REF = re.compile(r"\$\{([A-Za-z_][\w.-]*)\}")
_INTERP = re.compile(r"\$\$\{|%%\{|\$\{")
_BRACE = re.compile(r"[{}]")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r'\\(["\\nt])')
_INT = re.compile(r"-?\d+")
_VAR = re.compile(r"var\.([\w-]+)")
_LOCAL = re.compile(r"local\.([\w-]+)")
_READ = re.compile(r"(file|templatefile)\((.*)\)", re.S)
#: A string (one left open runs to the end: its quote must not be retried from each place) or
#: a bracket or comma.
_ARG_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*+"?|[()\[\]{},]')
#: ``"${path.module}/..."`` with nothing to evaluate after the folder.
_MODULE_FILE = re.compile(r'"\$\{path\.module\}(/[^"\\$%]*)"')


class _Unresolved(Exception):
    """A value that cannot be known without running Terraform; the message says why."""


class _Text(str):
    """Text whose first line has a known place: a heredoc body or a file read by file()."""

    origin: dict[str, Any]

    def __new__(cls, text: str, path: str, line: int | None) -> _Text:
        obj = super().__new__(cls, text)
        obj.origin = {"path": path, "line": line}
        return obj


@dataclass
class _Src:
    """Where a value is written: its file, the file's text, and where to look for heredocs."""

    file: Path
    text: str
    offset: int = 0
    line: int = 0
    """The line ``offset`` is on (0: not known, counted from the start of the text)."""

    def line_of(self, pos: int) -> int:
        """The line of ``pos`` (at or after ``offset``), counted from the nearest known line:
        counting from the top of a large file for every heredoc made loading quadratic."""
        if self.line:
            return self.line + self.text.count("\n", self.offset, pos)
        return self.text.count("\n", 0, pos) + 1


@dataclass
class _Decl:
    """One resource, data source or variable block."""

    kind: str
    label: str
    body: dict[str, Any]
    src: _Src
    line: int
    attrs: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (line, offset)

    def at(self, key: str) -> tuple[int, _Src]:
        """The line of an argument and a source positioned at it."""
        line, offset = self.attrs.get(key, (self.line, self.src.offset))
        return line, _Src(self.src.file, self.src.text, offset, line)


@dataclass
class _Module:
    """One folder: addresses (``type.label``, ``data.type.label``), variables and locals."""

    decls: dict[str, _Decl] = field(default_factory=dict)
    variables: dict[str, _Decl] = field(default_factory=dict)
    locals: dict[str, tuple[Any, _Src]] = field(default_factory=dict)


def find_files(path: Path) -> list[Path]:
    """The ``*.tf`` files at or under ``path``, sorted; hidden folders (``.terraform``) skipped.

    Links to folders are not followed; a linked file is read only when its target is inside
    ``path`` (a link must not pull in files from outside the source).
    """
    if path.is_file():
        return [path] if path.suffix == ".tf" else []
    root = path.resolve()
    out: list[Path] = []
    for folder, dirs, files in os.walk(path):  # followlinks=False: linked folders not entered
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.endswith(".tf") or name.startswith("."):
                continue  # before any stat: a repo may hold thousands of policy files
            file = Path(folder) / name
            inside = not file.is_symlink() or file.resolve().is_relative_to(root)
            if file.is_file() and inside:
                out.append(file)
    return sorted(out)


def load_resources(path: Path) -> tuple[list[dict[str, Any]], list[ReadError], list[str]]:
    """ARM-shaped resources of every module at or under ``path``, read errors, and notes."""
    parsed = _parse(path, find_files(path))
    found, notes = parsed.resources()
    return found, parsed.errors, notes


@dataclass
class Parsed:
    """The Terraform files of a source, parsed but not yet evaluated (see
    :mod:`auditor.sources.parts`: evaluating reads the policy files, the larger part)."""

    path: Path
    root: Path
    modules: dict[Path, _Module]
    errors: list[ReadError]

    def api_count(self) -> int:
        return sum(
            1
            for m in self.modules.values()
            for d in m.decls.values()
            if d.kind == "azurerm_api_management_api"
            or (d.kind == "azapi_resource" and "/apis@" in str(d.body.get("type")))
        )

    def resources(self, part: Part | None = None) -> tuple[list[dict[str, Any]], list[str]]:
        """ARM-shaped resources and notes; for a ``part``, the resources of other APIs are
        left unevaluated (type and name only, which is all :func:`resources.build` reads of
        them) and the notes of their arguments unwritten."""
        found, notes, _ = self._resources(part)
        return found, notes

    def _resources(self, part: Part | None) -> tuple[list[dict[str, Any]], list[str], Part | None]:
        """:meth:`resources`, and the part with its roster (see :class:`Part`): the resources
        that may be APIs are evaluated first, for every process to know every API."""
        notes: list[str] = []
        evals = [(m, _Eval(self.root, m, notes, part)) for m in self.modules.values()]
        first: dict[int, list[dict[str, Any]]] = {}
        if part is not None and part.roster is None:
            from auditor.sources.resources import api_roster

            for module, ev in evals:
                for address, decl in module.decls.items():
                    if decl.kind in _MAY_BE_API and not address.startswith("data."):
                        first[id(decl)] = ev.resource(decl)
            part = replace(part, roster=api_roster(r for rs in first.values() for r in rs))
            for _, ev in evals:
                ev.part = part
        out: list[dict[str, Any]] = []
        for module, ev in evals:
            for address, decl in module.decls.items():
                if not address.startswith("data."):
                    done = first.get(id(decl))
                    out.extend(ev.resource(decl) if done is None else done)
        return out, ordered_notes(notes), part

    def estate(self, part: Part | None = None) -> Estate:
        found, notes, part = self._resources(part)
        # NOTE: imported here: it loads lxml, which the parse (before the scan forks) does not need.
        from auditor.sources import resources

        return resources.Loaded(found, "terraform", str(self.path), self.errors, notes).estate(part)


#: Resource types that give an API resource (an azapi_resource may, by its evaluated type).
_MAY_BE_API = frozenset({"azurerm_api_management_api", "azapi_resource"})


def _parse(
    path: Path, files: list[Path], workers: int = 1, meanwhile: Callable[[], object] | None = None
) -> Parsed:
    root = (path if path.is_dir() else path.parent).resolve()
    errors: list[ReadError] = []
    modules: dict[Path, _Module] = {}
    read = [(file, _text(file, root)) for file in (found.resolve() for found in files)]
    texts = [text for _, text in read if isinstance(text, str)]
    ahead = iter(hclsplit.parse(texts, workers, parse_range, meanwhile))
    for file, text in read:
        module = modules.setdefault(file.parent, _Module())
        if isinstance(text, str):
            _add(file, root, module, errors, text, next(ahead))
        else:
            errors.append(text)
    return Parsed(path, root, modules, errors)


def prepare(path: Path, workers: int = 1, meanwhile: Callable[[], object] | None = None) -> Parsed:
    """The Terraform configuration at ``path`` (a folder or one ``.tf`` file), parsed (a large
    one in up to ``workers`` processes, while this one first calls ``meanwhile``, if given: see
    :func:`hclsplit.parse`)."""
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    files = find_files(path)
    if not files:
        raise SourceError(f"{path}: no Terraform (*.tf) files found")
    return _parse(path, files, workers, meanwhile)


def load(path: Path) -> Estate:
    """Load the Terraform configuration at ``path`` (a folder or one ``.tf`` file)."""
    return prepare(path).estate()


@functools.lru_cache(maxsize=4096)
def _shown(file: Path, root: Path) -> str:
    try:
        return file.relative_to(root).as_posix()
    except ValueError:
        return file.as_posix()


def _text(file: Path, root: Path) -> str | ReadError:
    """The text of one file, or why it cannot be read."""
    try:
        return read_bounded(file, MAX_TF_BYTES).decode("utf-8-sig").replace("\r\n", "\n")
    except PolicyReadError as exc:
        message = exc.message
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text: {exc.reason}"
    except OSError as exc:
        message = f"cannot read: {exc.strerror or exc}"
    return ReadError(Location(_shown(file, root), None), message)


def _add(
    file: Path,
    root: Path,
    module: _Module,
    errors: list[ReadError],
    text: str,
    blocks: list[_BlockTuple] | None,
) -> None:
    """Add the blocks of one file (parsed here when not given) to ``module``; a file that
    cannot be parsed becomes a read error and the scan goes on."""
    if blocks is None:
        try:
            blocks = parse_blocks(text)
        except Exception as exc:
            from auditor.sources import hclfull  # loaded by parse_blocks already

            if not isinstance(exc, hclfull.FAILURES):
                raise
            line, message = hclfull.describe(exc)
            errors.append(ReadError(Location(_shown(file, root), line), message))
            return
    for labels, body, attrs, offset, start in blocks:
        # NOTE: python-hcl2 keeps a comment before a block's brace as one more label.
        labels = [lb for lb in labels if not lb.startswith(_COMMENT_STARTS)]
        src = _Src(file, text, offset, start)
        if labels[0] == "locals":
            module.locals.update(
                {k: (body[k], _Src(file, text, o, ln)) for k, (ln, o) in attrs.items()}
            )
        elif labels[0] == "variable" and len(labels) == 2:
            module.variables[labels[1]] = _Decl("variable", labels[1], body, src, start, attrs)
        elif labels[0] in ("resource", "data") and len(labels) == 3:
            prefix = "data." if labels[0] == "data" else ""
            decl = _Decl(labels[1], labels[2], body, src, start, attrs)
            module.decls[f"{prefix}{labels[1]}.{labels[2]}"] = decl


#: What a comment python-hcl2 reads as a label starts with (no type or name label can).
_COMMENT_STARTS = ("/*", "//", "#")
#: Labels, serialized body, (line, offset) of each argument, offset and line of a block.
_BlockTuple = tuple[list[str], dict[str, Any], dict[str, tuple[int, int]], int, int]


def parse_blocks(text: str) -> list[_BlockTuple]:
    """Every top-level block: labels, serialized body, (line, offset) of each argument, offset
    and line. Plain blocks are read by :mod:`hclquick`, the rest by python-hcl2."""
    blocks = parse_range(text, 0, None)
    if blocks is None:
        from auditor.sources import hclfull

        return hclfull.parse_all(text)
    return blocks


def parse_range(
    text: str, start: int, stop: int | None, lines: int | None = None
) -> list[_BlockTuple] | None:
    """What :func:`parse_blocks` gives for the blocks from ``start`` that end exactly at
    ``stop`` (see :func:`hclquick.blocks`; ``lines``: those before ``start``, if known); None
    when only the whole file can tell (it is then read by python-hcl2 as a whole, so that its
    errors keep their lines)."""
    quick = hclquick.blocks(text, start, stop, lines)
    if quick is None:
        return None
    out: list[_BlockTuple] = []
    for q in quick:
        if isinstance(q, hclquick.Raw):
            from auditor.sources import hclfull

            try:
                out += hclfull.parse_span(text, q.start, q.end, q.line)
            except hclfull.FAILURES:
                return None
            continue
        body = q.body
        for key, end in q.ends.items():  # a jsonencode() call is never a plain value
            if isinstance(body[key], str) and body[key].startswith("${jsonencode("):
                from auditor.sources import hclfull

                body[key] = hclfull.jsonencode(body[key], text[q.attrs[key][1] : end])
        out.append((q.labels, body, q.attrs, q.offset, q.line))
    return out


def _heredoc(raw: str) -> str | None:
    """The body of a raw ``<<TAG`` / ``<<-TAG`` heredoc (indent stripped for ``<<-``)."""
    lines = raw.split("\n")
    m = re.fullmatch(r"<<(-?)([A-Za-z_][\w-]*)", lines[0])
    if not m or len(lines) < 2 or lines[-1].strip() != m[2]:
        return None
    body = "\n".join(lines[1:-1])
    return textwrap.dedent(body) if m[1] else body


def _split(s: str) -> list[tuple[bool, str]]:
    """Literal and ``${...}`` parts of a template; ``$${`` and ``%%{`` are escapes."""
    out: list[tuple[bool, str]] = []
    buf, pos = "", 0
    while m := _INTERP.search(s, pos):
        buf, pos = buf + s[pos : m.start()], m.end()
        if m[0] != "${":
            buf += m[0][1:]
            continue
        depth, end = 1, m.end()
        while depth and (brace := _BRACE.search(s, end)):
            depth += 1 if brace[0] == "{" else -1
            end = brace.end()
        if depth:  # unbalanced: the rest is literal text
            pos = m.start()
            break
        out += [(False, buf)] if buf else []
        out.append((True, s[m.end() : end - 1]))
        buf, pos = "", end
    buf += s[pos:]
    return out + [(False, buf)] if buf else out


def _plain(raw: str) -> bool:
    """Text with nothing to evaluate: no template, directive or heredoc, and not over the cap."""
    return "${" not in raw and "%{" not in raw and raw[:2] != "<<" and len(raw) <= _MAX_VALUE


def _first_arg(args: str) -> str:
    """The first argument of a call's argument text (a comma in a string does not end it)."""
    if "," not in args:
        return args
    depth = 0
    for m in _ARG_TOKEN.finditer(args):
        c = m[0]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            return args[: m.start()]
    return args


def _id_names(arm_id: str) -> tuple[str, list[str]] | None:
    """ARM type and nested name parts of an ARM id (``;rev=N`` dropped from names)."""
    at = arm_id.lower().rfind("/providers/")
    segs = [s for s in arm_id[at + len("/providers/") :].split("/") if s] if at >= 0 else []
    if len(segs) < 3:
        return None
    names = [n.split(";rev=")[0] for n in segs[2::2]]
    return "/".join([segs[0], *segs[1::2]][: len(names) + 1]), names


def _arm_id(arm_type: str, names: list[str]) -> str:
    ns, *types = arm_type.split("/")
    return f"/providers/{ns}/" + "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=False))


def _join(parts: Iterable[str]) -> str:
    out: list[str] = []
    size = 0
    for part in parts:
        size += len(part)
        if size > _MAX_VALUE:
            raise _Unresolved("the value grows over 4 MiB; not evaluated")
        out.append(part)
    return "".join(out)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, dict | list):
        raise _Unresolved("a null or collection value inside a string")
    return str(value)


class _Eval:
    """Static evaluation of one module's expressions, and its resources as ARM dicts."""

    def __init__(
        self, root: Path, module: _Module, notes: list[str], part: Part | None = None
    ) -> None:
        self.root, self.module, self.notes, self.part = root, module, notes, part
        self.folders: dict[str, str] = {}
        self.dirs: dict[Path, str] = {}
        self.root_text = str(root)
        self.root_prefix = os.path.join(self.root_text, "")
        self.busy: list[str] = []  # keys being evaluated, innermost last
        self.cyclic: set[str] = set()
        self.cache: dict[str, Any] = {}
        #: A whole-reference argument text -> (expression, address, attribute); None: another
        #: kind of value.
        self.refs: dict[str, tuple[str, str, str] | None] = {}
        #: A name argument's text -> its name, where the text alone decides it (plain text or
        #: one reference: nearly every block names its service and API so, thousands of times).
        self.named: dict[str, str] = {}

    def where(self, decl: _Decl, key: str | None = None) -> str:
        return f"{_shown(decl.src.file, self.root)}:{decl.at(key)[0] if key else decl.line}"

    def value(self, raw: Any, src: _Src) -> Any:
        """A serialized HCL value, evaluated; raises _Unresolved."""
        if isinstance(raw, list):
            return [self.value(v, src) for v in raw]
        if isinstance(raw, dict):
            return {k: self.value(v, src) for k, v in raw.items() if k != "__is_block__"}
        if not isinstance(raw, str):
            return raw
        if _plain(raw):
            return raw  # what _split and _join would give, at a fraction of the cost
        if m := _WHOLE_REF.fullmatch(raw):
            return self.expr(m[1], src)  # one reference: what _split would give
        body = _heredoc(raw)
        if body is None:
            parts = _split(raw)
            if len(parts) == 1 and parts[0][0]:
                return self.expr(parts[0][1], src)
            return _join(_fmt(self.expr(t, src)) if e else t for e, t in parts)
        pos = src.text.find(raw, src.offset)
        line = src.line_of(pos) + 1 if pos >= 0 else None  # the line after <<TAG
        return _Text(_join(self.filled(body, src, line)), _shown(src.file, self.root), line)

    def arg(self, decl: _Decl, key: str) -> Any:
        """The value of the argument ``key`` of ``decl`` (None if absent), evaluated where it
        is written; raises _Unresolved."""
        raw = decl.body.get(key)
        # NOTE: nearly every argument is plain text or one reference to another resource; both
        # are read here without placing a source on the argument (what value() would give).
        if isinstance(raw, str) and len(raw) <= _MAX_VALUE:
            if _plain(raw):
                return raw
            if raw in self.refs:
                ref = self.refs[raw]
            else:
                m = _WHOLE_REF.fullmatch(raw)
                r = _REF.fullmatch(m[1]) if m else None
                ok = r is not None and r["addr"] in self.module.decls
                ref = self.refs[raw] = (r[0], r["addr"], r["attr"]) if r and ok else None
            if ref is not None:
                return self.guarded(ref[0], self.attr, self.module.decls[ref[1]], ref[2])
        return self.value(raw, decl.at(key)[1])

    def filled(self, body: str, src: _Src, line: int | None) -> Iterator[str]:
        """A heredoc's text with its interpolations; what cannot be resolved is kept as text."""
        for is_expr, t in _split(body):
            try:
                yield _fmt(self.expr(t, src)) if is_expr else t
            except _Unresolved as exc:
                # NOTE: like a templatefile() placeholder: the XML still parses, and a note says.
                where = f"{_shown(src.file, self.root)}:{line}"
                self.notes.append(f"{where}: ${{{t}}} kept as text in a heredoc ({exc})")
                yield f"${{{t}}}"

    def expr(self, e: str, src: _Src) -> Any:
        """One expression (the inside of ``${...}``)."""
        e = e.strip()
        # Most expressions are references to other resources (tried first: an address is
        # ``type.label``, which no other form below matches).
        if (m := _REF.fullmatch(e)) and m["addr"] in self.module.decls:
            return self.guarded(e, self.attr, self.module.decls[m["addr"]], m["attr"])
        if m := _QUOTED.fullmatch(e):
            text = _ESCAPE.sub(lambda x: {"n": "\n", "t": "\t"}.get(x[1], x[1]), m[1])
            return self.value(text, src)
        if _INT.fullmatch(e):
            return int(e)
        if e in ("true", "false", "null"):
            return None if e == "null" else e == "true"
        if e == "path.module":
            return src.file.parent.as_posix()
        if m := _VAR.fullmatch(e):
            return self.var(m[1])
        if m := _LOCAL.fullmatch(e):
            return self.guarded(f"local.{m[1]}", self.local, m[1])
        if m := _READ.fullmatch(e):
            return self.read(m[1], m[2], src)
        raise _Unresolved(f"`{e}` is not evaluated statically")

    def guarded(self, key: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` evaluated once per module, refusing a cycle (``local.a = local.a``)."""
        # NOTE: the cache keeps a fan-out of references (a = b+b, b = c+c ...) linear, not
        # exponential; _join caps how large a value may grow.
        if key in self.busy:
            # NOTE: a cycle through every key evaluated since: each of them refers to itself,
            # whichever was asked for first (in a scan in parts, processes ask in other orders).
            self.cyclic.update(self.busy[self.busy.index(key) :])
            raise _Unresolved(f"`{key}` refers to itself")
        if key not in self.cache:
            self.busy.append(key)
            try:
                self.cache[key] = fn(*args)
            except _Unresolved as exc:
                self.cache[key] = exc
            finally:
                self.busy.pop()
            if key in self.cyclic:
                self.cache[key] = _Unresolved(f"`{key}` refers to itself")
        if isinstance(self.cache[key], _Unresolved):
            raise self.cache[key]
        return self.cache[key]

    def var(self, name: str) -> Any:
        decl = self.module.variables.get(name)
        if decl is None:
            raise _Unresolved(f"var.{name} is not declared in this module")
        if decl.body.get("sensitive") is True or _SECRETS.match(name):
            raise _Unresolved(f"var.{name} is (or looks) sensitive; not read")
        if "default" not in decl.body:
            raise _Unresolved(f"var.{name} has no default (set by the caller or a .tfvars file)")
        return self.value(decl.body["default"], decl.src)

    def local(self, name: str) -> Any:
        if name not in self.module.locals:
            raise _Unresolved(f"local.{name} is not declared in this module")
        raw, src = self.module.locals[name]
        return self.value(raw, src)

    def attr(self, decl: _Decl, attr: str) -> Any:
        """An attribute of another resource: its id, name, endpoint or a (non-secret) argument."""
        spec = _SPEC.get(decl.kind)
        if attr in ("id", "name") and (spec or decl.kind == "azapi_resource"):
            if spec is None:
                arm_type, names = self.azapi_names(decl)
            else:
                arm_type, names = spec[0], self.names(decl, spec[1])
            return _arm_id(arm_type, names) if attr == "id" else names[-1]
        if attr == "endpoint" and spec and spec[0] == _ACCOUNT:
            sub = self.value(decl.body.get("custom_subdomain_name"), decl.src)
            kind = self.value(decl.body.get("kind"), decl.src)
            host = "openai" if kind == "OpenAI" else "cognitiveservices"
            if isinstance(sub, str) and sub:
                return f"https://{sub}.{host}.azure.com/"
        if _SECRETS.match(attr):
            raise _Unresolved(f"`{decl.kind}.{decl.label}.{attr}` is a secret; not read")
        if attr in decl.body:
            return self.arg(decl, attr)
        raise _Unresolved(f"`{decl.kind}.{decl.label}.{attr}` is known only after apply")

    def read(self, fn: str, args: str, src: _Src) -> _Text:
        """``file()`` / ``templatefile()``: the file's text, read relative to the .tf folder."""
        first = _first_arg(args).strip()
        m = _MODULE_FILE.fullmatch(first) if len(first) < 4096 else None
        if m:  # the usual form: what expr() gives, sooner
            target: Any = self.folder_of(src.file) + m[1]
        else:
            target = self.expr(first, src)
        if not isinstance(target, str):
            raise _Unresolved(f"{fn}() path is not a string")
        file = self.located(self.folder_of(src.file), target)
        if not (file == self.root_text or file.startswith(self.root_prefix)):
            raise _Unresolved(f"{fn}() path {target!r} is outside the scanned folder; not read")
        shown = file[len(self.root_prefix) :].replace(os.sep, "/") or "."
        if not os.path.isfile(file):
            raise _Unresolved(f"{fn}() target {shown} not found (or not a regular file)")
        try:
            text = decode_policy_bytes(read_bounded(file))
        except PolicyReadError as exc:
            raise _Unresolved(f"{fn}() target {shown}: {exc.message}") from None
        except OSError as exc:
            raise _Unresolved(f"{fn}() target {shown} cannot be read: {exc.strerror}") from None
        if fn == "templatefile" and re.search(r"[$%]\{", text):
            self.notes.append(f"{shown}: templatefile() placeholders are kept as text")
        return _Text(text, shown, 1)

    def folder_of(self, file: Path) -> str:
        """``path.module`` of a file (every file of a module is in its folder)."""
        folder = self.dirs.get(file)
        if folder is None:
            folder = self.dirs[file] = file.parent.as_posix()
        return folder

    def located(self, folder: str, target: str) -> str:
        """``folder / target``, resolved as :meth:`Path.resolve` does. The folder's own
        resolution is kept: thousands of policy files may sit in one folder."""
        head, name = os.path.split(os.path.join(folder, target))
        if name in ("", ".", ".."):
            return str((Path(folder) / target).resolve())
        real = self.folders.get(head)
        if real is None:
            real = self.folders[head] = os.path.realpath(head)
        path = os.path.join(real, name)
        return os.path.realpath(path) if os.path.islink(path) else path

    def name(self, decl: _Decl, key: str) -> str:
        """A name argument (an ARM id gives its last part); the raw text when not resolved."""
        raw = decl.body.get(key)
        known = self.named.get(raw) if isinstance(raw, str) else None
        if known is not None:
            return known
        try:
            value = self.arg(decl, key)
            if isinstance(value, str | int) and str(value):
                value = str(value)
                if value.startswith("/"):
                    value = value.rstrip("/").rsplit("/", 1)[-1]
                if isinstance(raw, str) and (_plain(raw) or self.refs.get(raw) is not None):
                    self.named[raw] = value
                return value
            reason = "it is empty"
        except _Unresolved as exc:
            reason = str(exc)
        self.notes.append(
            f"{self.where(decl, key)}: {key} of {decl.kind}.{decl.label} cannot be resolved "
            f"statically ({reason}); its raw text is used as the name"
        )
        # NOTE: "/" separates the parts of a nested ARM name, so it cannot stay in one part.
        return str(raw).replace("/", "_") if raw is not None else decl.label

    def names(self, decl: _Decl, spec: tuple[str, ...]) -> list[str]:
        """The nested ARM name parts of a mapped resource."""
        out = []
        for part in spec:
            if part.startswith("="):
                out.append(part[1:])
            elif part == "@account":
                out.append(self.name(decl, "cognitive_account_id"))
            elif part == "@svc" and "api_management_name" not in decl.body:
                ids = _id_names(str(self.lenient(decl.body.get("api_management_id"), decl)))
                out.append(ids[1][0] if ids else self.name(decl, "api_management_id"))
            else:
                key = "api_management_name" if part == "@svc" else part
                out.append(self.name(decl, key) if key in decl.body else decl.label)
        return out

    def lenient(self, raw: Any, decl: _Decl) -> Any:
        """Evaluate, keeping the raw text of what cannot be resolved; secrets are dropped."""
        if isinstance(raw, dict):
            return {k: self.lenient(v, decl) for k, v in raw.items() if not _SECRETS.match(k)}
        if isinstance(raw, list):
            return [self.lenient(v, decl) for v in raw]
        try:
            return self.value(raw, decl.src)
        except _Unresolved:
            return raw

    def get(self, decl: _Decl, key: str, default: Any = None) -> Any:
        """An argument's value; ``default`` when absent, ``None`` (with a note) when unknown."""
        if key not in decl.body:
            return default
        try:
            return self.arg(decl, key)
        except _Unresolved as exc:
            self.notes.append(f"{self.where(decl, key)}: {key}: {exc}")
            return None

    def policy(self, decl: _Decl, key: str, raw: Any, fmt: Any) -> tuple[dict[str, Any], Any]:
        """Policy ``properties`` and ``_origin`` (the first line of the policy text)."""
        line, src = decl.at(key)
        origin: Any = {"path": _shown(decl.src.file, self.root), "line": line}
        if raw is None and decl.body.get("xml_link"):
            return {"format": "xml-link"}, origin  # linked: the content is not in the source
        fmt = fmt if isinstance(fmt, str) else "xml"
        if raw is None:
            return {"format": fmt, "unresolved": f"the policy text ({key}) is not given"}, origin
        try:
            text = self.value(raw, src)
        except _Unresolved as exc:
            reason = f"the policy text ({key}) cannot be resolved statically: {exc}"
            return {"format": fmt, "unresolved": reason}, origin
        if not isinstance(text, str):
            return {"format": fmt, "unresolved": f"the policy text ({key}) is not text"}, origin
        return {"format": fmt, "value": str(text)}, getattr(text, "origin", origin)

    def resource(self, decl: _Decl) -> list[dict[str, Any]]:
        """The ARM-shaped resources of one Terraform resource block."""
        spec = _SPEC.get(decl.kind)
        if decl.kind != "azapi_resource" and spec is None:
            return []
        if "for_each" in decl.body or "count" in decl.body:
            self.notes.append(
                f"{self.where(decl)}: {decl.kind}.{decl.label} uses for_each/count; read as "
                "one instance, not expanded"
            )
        if spec is None:
            return self.azapi(decl)
        names = self.names(decl, spec[1][:2])  # the service and, below it, the API or other
        if self.part is not None and spec[0] in _PER_API and not self.part.has_api(None, names[1]):
            # Another process's API: the type, the service and the API are all a build reads of
            # it (the process that audits the API evaluates the rest and writes its notes).
            return [{"type": spec[0], "name": "/".join(names)}]
        names += self.names(decl, spec[1][2:])
        res: dict[str, Any] = {"type": spec[0], "name": "/".join(names)}
        res["_origin"] = {"path": _shown(decl.src.file, self.root), "line": decl.line}
        props = self.props(decl, res, names)
        return [] if props is None else [{**res, "properties": props}]

    def props(self, d: _Decl, res: dict[str, Any], names: list[str]) -> dict[str, Any] | None:
        """``properties`` of an azurerm resource (None: not part of the estate)."""
        k = d.kind.removeprefix("azurerm_").removeprefix("api_management_")
        get = self.get
        if k.endswith("policy"):
            props, res["_origin"] = self.policy(d, "xml_content", d.body.get("xml_content"), None)
            return props
        if k == "policy_fragment":
            props, res["_origin"] = self.policy(d, "value", d.body.get("value"), get(d, "format"))
            return props
        if k == "api":
            source = _id_names(str(self.lenient(d.body.get("source_api_id"), d)))
            if source and source[1][-1] == names[-1]:
                self.notes.append(f"{self.where(d)}: {d.kind}.{d.label} is a revision; skipped")
                return None
            return {
                "displayName": get(d, "display_name"),
                "path": get(d, "path"),
                "serviceUrl": get(d, "service_url"),
                "subscriptionRequired": get(d, "subscription_required", True),
                "apiRevision": get(d, "revision"),
                "type": get(d, "api_type"),
            }
        if k == "api_operation":
            return {"method": get(d, "method"), "urlTemplate": get(d, "url_template")}
        if k == "product":
            return {
                "displayName": get(d, "display_name"),
                "subscriptionRequired": get(d, "subscription_required", True),
            }
        if k == "subscription":  # no scope argument: all APIs; keys are never read
            scope = self.lenient(d.body.get("api_id") or d.body.get("product_id") or "/apis", d)
            return {"scope": str(scope), "state": get(d, "state", "submitted")}
        if k in ("diagnostic", "api_diagnostic"):
            return self.diagnostic(d)
        if k == "logger":  # credentials (instrumentation key, connection string) never read
            kind = "azureEventHub" if "eventhub" in d.body else None
            kind = "applicationInsights" if "application_insights" in d.body else kind
            return {"loggerType": kind, "resourceId": get(d, "resource_id")}
        if k == "backend":  # credentials never read
            return {"url": get(d, "url"), "protocol": get(d, "protocol")}
        if k in ("cognitive_account", "ai_services"):
            return self.account(d)
        if k == "cognitive_deployment":
            model = self.lenient(d.body.get("model"), d)
            return {"model": model[0] if isinstance(model, list) and model else model}
        if k == "monitor_diagnostic_setting":
            return self.setting(d, res)
        if k == "application_insights":  # no custom-metrics opt-in in azurerm: left absent
            res["id"] = _arm_id(res["type"], names)
        return {}  # the service, a product link or a named value: names only, never values

    def diagnostic(self, d: _Decl) -> dict[str, Any]:
        """An APIM diagnostic; azurerm has no ``metrics`` argument, so it stays absent."""
        props: dict[str, Any] = {"loggerId": self.get(d, "api_management_logger_id")}
        for side in ("frontend", "backend"):
            for part in ("request", "response"):
                blocks = self.lenient(d.body.get(f"{side}_{part}"), d)
                block = blocks[0] if isinstance(blocks, list) and blocks else None
                if isinstance(block, dict):
                    msg = {"headers": block.get("headers_to_log") or []}
                    if isinstance(block.get("body_bytes"), int):
                        msg["body"] = {"bytes": block["body_bytes"]}
                    props.setdefault(side, {})[part] = msg
        return props

    def account(self, d: _Decl) -> dict[str, Any] | None:
        """An OpenAI / AIServices account (other kinds are not LLM backends)."""
        kind = self.get(d, "kind", "AIServices" if d.kind == "azurerm_ai_services" else None)
        if kind not in ("OpenAI", "AIServices"):
            return None
        local_auth = self.get(d, "local_auth_enabled", True)
        public = self.get(d, "public_network_access_enabled", True)
        acls = self.lenient(d.body.get("network_acls"), d)
        acl = acls[0] if isinstance(acls, list) and acls and isinstance(acls[0], dict) else {}
        return {
            "kind": kind,
            "customSubDomainName": self.get(d, "custom_subdomain_name"),
            "disableLocalAuth": (not local_auth) if isinstance(local_auth, bool) else None,
            "publicNetworkAccess": ("Enabled" if public else "Disabled")
            if isinstance(public, bool)
            else None,
            "networkAcls": {"defaultAction": acl.get("default_action")} if acl else None,
        }

    def setting(self, d: _Decl, res: dict[str, Any]) -> dict[str, Any]:
        """A diagnostic setting: its target becomes the top-level ``scope``."""
        res["scope"] = self.get(d, "target_resource_id") or ""
        if "dynamic" in d.body:
            self.notes.append(f"{self.where(d)}: dynamic log blocks are not expanded")
        logs = [
            {
                "category": b.get("category"),
                "categoryGroup": b.get("category_group"),
                "enabled": b.get("enabled", True) is not False,  # pre-4.0 ``log`` blocks
            }
            for key in ("enabled_log", "log")
            for b in self.lenient(d.body.get(key), d) or []
            if isinstance(b, dict)
        ]
        workspace = self.lenient(d.body.get("log_analytics_workspace_id"), d)
        return {"logs": logs, "workspaceId": workspace}

    def azapi_names(self, d: _Decl) -> tuple[str, list[str]]:
        """ARM type and nested name of an ``azapi_resource`` (``type`` less its API version)."""
        parent = _id_names(str(self.lenient(d.body.get("parent_id"), d)))
        names = [*(parent[1] if parent else []), self.name(d, "name")]
        return str(self.get(d, "type") or "").split("@")[0], names

    def azapi(self, d: _Decl) -> list[dict[str, Any]]:
        """An ``azapi_resource`` of an APIM / account / insights type: name, parent and body."""
        arm_type, names = self.azapi_names(d)
        if not arm_type.lower().startswith(_AZAPI_TYPES):
            return []
        res: dict[str, Any] = {"type": arm_type, "name": "/".join(names)}
        res["_origin"] = {"path": _shown(d.src.file, self.root), "line": d.line}
        raw = d.body.get("body")
        raw = raw.get("properties") if isinstance(raw, dict) else None
        raw = raw if isinstance(raw, dict) else {}
        if arm_type.lower().endswith(("/policies", "/policyfragments")):
            fmt = self.lenient(raw.get("format"), d)
            res["properties"], res["_origin"] = self.policy(d, "body", raw.get("value"), fmt)
            return [res]
        props = self.lenient(raw, d)  # an unresolved body: its properties are unknown
        if arm_type.lower().endswith("/namedvalues"):
            props = {"displayName": props.get("displayName")}  # never the value
        if arm_type.lower() == "microsoft.insights/diagnosticsettings":
            res["scope"] = self.lenient(d.body.get("parent_id"), d)
        return [{**res, "properties": props}]

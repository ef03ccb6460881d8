"""APIOps extractor trees (layouts v5, v6 and v7) as an estate.

The folder given may be the artifacts root (it holds ``apis/``, ``products/``, ``policy.xml`` ...)
or a repository containing one or more such roots; each root is one APIM service. Named values are
read for their names only. Non-current revisions (``apis/<name>;rev=N``) are skipped unless asked.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auditor.bounded import PolicyReadError, read_bounded
from auditor.errors import SourceError
from auditor.model import (
    Api,
    Backend,
    Diagnostic,
    Estate,
    Location,
    Logger,
    Operation,
    Product,
    ReadError,
    Service,
    Subscription,
)
from auditor.policy import PolicyDoc, read_policy_file
from auditor.sources.layout import find_roots
from auditor.sources.openapi import read_operations
from auditor.sources.parts import Part

PROVIDES = frozenset(
    {
        "policies",
        "products",
        "subscriptions",
        "diagnostics",
        "loggers",
        "backends",
        "fragments",
    }
)
MAX_JSON_BYTES = 8 * 1024 * 1024


class _Reader:
    """Reads one artifacts root; collects read errors instead of raising."""

    def __init__(
        self, root: Path, shown_base: Path, include_revisions: bool, part: Part | None = None
    ) -> None:
        self.root = root
        self.base = shown_base
        self.include_revisions = include_revisions
        self.part = part
        self.api_folders = 0
        self.errors: list[ReadError] = []
        self._listings: dict[Path, dict[str, os.DirEntry[str]]] = {}

    def listing(self, folder: Path) -> dict[str, os.DirEntry[str]]:
        """The folder's entries by name, read once (large trees are mostly stat calls)."""
        cached = self._listings.get(folder)
        if cached is None:
            try:
                with os.scandir(folder) as it:
                    cached = {e.name: e for e in it}
            except OSError:
                cached = {}
            self._listings[folder] = cached
        return cached

    def has_file(self, path: Path) -> bool:
        """``path`` is a regular file (links followed), from the cached listing."""
        entry = self.listing(path.parent).get(path.name)
        try:
            return entry is not None and entry.is_file()
        except OSError:
            return False

    def shown(self, path: Path) -> str:
        try:
            return path.relative_to(self.base).as_posix()
        except ValueError:
            return path.as_posix()

    def json(self, path: Path) -> dict[str, Any]:
        """The ``properties`` object of an information file ({} when missing or broken)."""
        return self.json_and_text(path)[0]

    def json_and_text(self, path: Path) -> tuple[dict[str, Any], str]:
        """``properties`` and the file's text (for line numbers); ({}, "") when unreadable."""
        if not self.has_file(path):
            return {}, ""
        try:
            raw = read_bounded(path, MAX_JSON_BYTES)
            text = raw.decode("utf-8-sig")
            data = json.loads(text)
        except PolicyReadError as exc:
            self.errors.append(ReadError(Location(self.shown(path)), exc.message))
            return {}, ""
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            self.errors.append(
                ReadError(Location(self.shown(path), line), f"not UTF-8 text: {exc.reason}")
            )
            return {}, ""
        except json.JSONDecodeError as exc:
            self.errors.append(
                ReadError(
                    Location(self.shown(path), exc.lineno),
                    f"invalid JSON: {exc.msg} (column {exc.colno})",
                )
            )
            return {}, ""
        except OSError as exc:
            self.errors.append(ReadError(Location(self.shown(path)), f"cannot read: {exc}"))
            return {}, ""
        if not isinstance(data, dict):
            self.errors.append(ReadError(Location(self.shown(path), 1), "expected a JSON object"))
            return {}, ""
        props = data.get("properties", data)
        return (props if isinstance(props, dict) else {}), text

    def policy(self, folder: Path, scope: str) -> PolicyDoc | None:
        file = folder / "policy.xml"
        # NOTE: one stat, not a listing of the folder: an operation folder holds nothing else
        # the reader needs, and there are thousands of them.
        try:
            regular = stat.S_ISREG(os.stat(file).st_mode)
        except FileNotFoundError:
            if not os.path.islink(file):
                return None
            regular = False
        except OSError:
            regular = False
        if regular:
            return read_policy_file(file, scope=scope, shown_as=self.shown(file))
        # NOTE: a dangling link, a folder or a FIFO named policy.xml hides a policy: never treat
        # it as absent (that would be a silent pass).
        kind = "a dangling link" if file.is_symlink() and not file.exists() else "not a file"
        return PolicyDoc(scope, self.shown(file), None, f"{kind}; the policy cannot be read")

    def subdirs(self, folder: Path) -> list[Path]:
        out = []
        for name, entry in sorted(self.listing(folder).items()):
            try:
                is_dir = entry.is_dir()
                is_link = entry.is_symlink()
            except OSError:
                continue
            if is_link and is_dir:
                # NOTE: links are not followed (loops, trees outside the source); say so.
                self.errors.append(
                    ReadError(
                        Location(self.shown(folder / name)),
                        "symbolic link to a folder; not followed",
                    )
                )
            elif is_dir:
                out.append(folder / name)
        return out

    def service(self, name: str) -> Service:
        root = self.root
        products = self.products(root)
        links = self.product_links(root, products)
        apis: list[Api] = []
        for folder in self.subdirs(root / "apis"):
            api = self.api(folder, links.get(folder.name, ()), None)
            if api is not None:
                apis.append(api)
        workspace_policies: dict[str, PolicyDoc] = {}
        fragments = self.fragments(root)
        for ws in self.subdirs(root / "workspaces"):
            doc = self.policy(ws, "workspace")
            if doc is not None:
                workspace_policies[ws.name] = doc
            ws_products = self.products(ws)
            ws_links = self.product_links(ws, ws_products)
            products.update({f"{ws.name}/{k}": v for k, v in ws_products.items()})
            for folder in self.subdirs(ws / "apis"):
                api = self.api(
                    folder, tuple(f"{ws.name}/{p}" for p in ws_links.get(folder.name, ())), ws.name
                )
                if api is not None:
                    apis.append(api)
            for fid, frag in self.fragments(ws).items():
                fragments.setdefault(fid, frag)
        return Service(
            name=name,
            policy=self.policy(root, "global"),
            apis=tuple(sorted(apis, key=lambda a: (a.workspace or "", a.name))),
            products=products,
            fragments=fragments,
            backends=self.backends(root),
            loggers=self.loggers(root),
            diagnostics=self.diagnostics(root / "diagnostics"),
            subscriptions=self.subscriptions(root),
            named_values=tuple(p.name for p in self.subdirs(root / "named values")),
            workspace_policies=workspace_policies,
        )

    def products(self, root: Path) -> dict[str, Product]:
        out: dict[str, Product] = {}
        for folder in self.subdirs(root / "products"):
            info_file = folder / "productInformation.json"
            props = self.json(info_file)
            out[folder.name] = Product(
                name=folder.name,
                display_name=str(props.get("displayName") or folder.name),
                subscription_required=_bool(props.get("subscriptionRequired")),
                policy=self.policy(folder, "product"),
                location=Location(self.shown(info_file if self.has_file(info_file) else folder)),
            )
        return out

    def product_links(self, root: Path, products: dict[str, Product]) -> dict[str, tuple[str, ...]]:
        """API name -> product names, from v6+ link folders and v5 ``apis.json``."""
        links: dict[str, set[str]] = {}
        for pname in products:
            folder = root / "products" / pname
            for link in self.subdirs(folder / "apis"):
                links.setdefault(link.name, set()).add(pname)
            legacy = folder / "apis.json"
            if self.has_file(legacy):
                for entry in self._json_list(legacy):
                    name = entry.get("name") if isinstance(entry, dict) else entry
                    if isinstance(name, str):
                        links.setdefault(name.rsplit("/", 1)[-1], set()).add(pname)
        return {k: tuple(sorted(v)) for k, v in links.items()}

    def _json_list(self, path: Path) -> list[Any]:
        try:
            data = json.loads(read_bounded(path, MAX_JSON_BYTES).decode("utf-8-sig"))
        except json.JSONDecodeError as exc:
            self.errors.append(
                ReadError(Location(self.shown(path), exc.lineno), f"invalid JSON: {exc.msg}")
            )
            return []
        except (OSError, UnicodeDecodeError, PolicyReadError) as exc:
            self.errors.append(ReadError(Location(self.shown(path)), f"cannot read: {exc}"))
            return []
        return data if isinstance(data, list) else []

    def api(self, folder: Path, products: tuple[str, ...], workspace: str | None) -> Api | None:
        index = self.api_folders
        self.api_folders += 1
        if self.part is not None and not self.part.has(index):
            return None
        name = folder.name
        if ";rev=" in name and not self.include_revisions:
            return None
        info_file = folder / "apiInformation.json"
        props = self.json(info_file)
        if props.get("isCurrent") is False and not self.include_revisions:
            return None
        ops = {op.name: op for op in read_operations(folder, self.shown, self.errors)}
        for op_folder in self.subdirs(folder / "operations"):
            known = ops.get(op_folder.name)
            doc = self.policy(op_folder, "operation")
            ops[op_folder.name] = Operation(
                op_folder.name,
                known.method if known else None,
                known.url_template if known else None,
                doc,
            )
        return Api(
            name=name,
            display_name=str(props.get("displayName") or name),
            path=_str(props.get("path")),
            service_url=_str(props.get("serviceUrl")),
            subscription_required=_bool(
                props.get("subscriptionRequired"), default=True if props else None
            ),
            products=products,
            operations=tuple(sorted(ops.values(), key=lambda o: o.name)),
            policy=self.policy(folder, "api"),
            diagnostics=self.diagnostics(folder / "diagnostics"),
            location=Location(self.shown(info_file if self.has_file(info_file) else folder)),
            workspace=workspace,
            api_type=_str(props.get("type")),
        )

    def fragments(self, root: Path) -> dict[str, PolicyDoc]:
        out: dict[str, PolicyDoc] = {}
        for folder in self.subdirs(root / "policy fragments"):
            doc = self.policy(folder, "fragment")
            if doc is not None:
                out[folder.name] = doc
        return out

    def diagnostics(self, folder: Path) -> tuple[Diagnostic, ...]:
        out = []
        for d in self.subdirs(folder):
            info = d / "diagnosticInformation.json"
            props, text = self.json_and_text(info)
            diag = diagnostic_from_properties(d.name, props, Location(self.shown(info)))
            line = _key_line(text, "metrics") or _key_line(text, "loggerId")
            body = _key_line(text, "bytes", nonzero=True)
            out.append(
                replace(
                    diag,
                    metrics_location=Location(diag.location.path, line),
                    body_location=Location(diag.location.path, body) if body else None,
                )
            )
        return tuple(out)

    def loggers(self, root: Path) -> dict[str, Logger]:
        out = {}
        for d in self.subdirs(root / "loggers"):
            info = d / "loggerInformation.json"
            props = self.json(info)
            out[d.name] = Logger(
                d.name,
                _str(props.get("loggerType")),
                _str(props.get("resourceId")),
                Location(self.shown(info)),
            )
        return out

    def backends(self, root: Path) -> dict[str, Backend]:
        out = {}
        for d in self.subdirs(root / "backends"):
            info = d / "backendInformation.json"
            props = self.json(info)
            pool = props.get("pool")
            services = pool.get("services") if isinstance(pool, dict) else None
            members = tuple(
                str(m.get("id", "")).rstrip("/").rsplit("/", 1)[-1]
                for m in (services if isinstance(services, list) else [])
                if isinstance(m, dict)
            )
            out[d.name] = Backend(
                d.name, _str(props.get("url")), members, Location(self.shown(info))
            )
        return out

    def subscriptions(self, root: Path) -> tuple[Subscription, ...]:
        out = []
        for d in self.subdirs(root / "subscriptions"):
            info = d / "subscriptionInformation.json"
            props = self.json(info)
            kind, target = subscription_scope(str(props.get("scope") or ""))
            state = str(props.get("state") or "active").lower()
            out.append(
                Subscription(
                    d.name,
                    kind,
                    target,
                    state not in ("cancelled", "expired", "rejected", "suspended"),
                    Location(self.shown(info)),
                )
            )
        return tuple(out)


def _key_line(text: str, key: str, *, nonzero: bool = False) -> int | None:
    """1-based line of the first ``"key":`` in a JSON text (with a non-zero number if asked)."""
    value = r"\s*[1-9]" if nonzero else ""
    m = re.search(rf'"{re.escape(key)}"\s*:{value}', text)
    return text.count("\n", 0, m.start()) + 1 if m else None


def subscription_scope(scope: str) -> tuple[str, str | None]:
    """Classify a subscription scope (relative or absolute ARM id)."""
    parts = [p for p in scope.split("/") if p]
    lowered = [p.lower() for p in parts]
    # NOTE: in an absolute ARM id only what follows service/<name> is the scope (a resource
    # group may well be called "products").
    if "service" in lowered:
        parts = parts[lowered.index("service") + 2 :]
    if not parts:
        return "other", None
    for i, part in enumerate(parts):
        if part.lower() == "products" and i + 1 < len(parts):
            return "product", parts[i + 1]
        if part.lower() == "apis":
            if i + 1 < len(parts):
                return "api", parts[i + 1]
            return "all-apis", None
    return "other", None


def diagnostic_from_properties(name: str, props: dict[str, Any], loc: Location) -> Diagnostic:
    """Build a Diagnostic from an ARM ``properties`` object."""
    headers: list[str] = []
    body = 0
    for side in ("frontend", "backend"):
        block = props.get(side) or {}
        if not isinstance(block, dict):
            continue
        for part in ("request", "response"):
            msg = block.get(part) or {}
            if not isinstance(msg, dict):
                continue
            names = msg.get("headers")
            if part == "request" and isinstance(names, list):
                headers.extend(str(h).lower() for h in names)
            b = msg.get("body") or {}
            if isinstance(b, dict) and isinstance(b.get("bytes"), int):
                body = max(body, b["bytes"])
    logger = _str(props.get("loggerId"))
    return Diagnostic(
        name=name,
        logger=logger.rstrip("/").rsplit("/", 1)[-1] if logger else None,
        metrics=_bool(props.get("metrics")),
        request_headers=tuple(dict.fromkeys(headers)),
        body_bytes=body,
        location=loc,
    )


def _bool(value: Any, default: bool | None = None) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return default


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


_GENERIC = {"apimartifacts", "artifacts", "apim-artifacts", "apiops", "apim"}


def service_name(root: Path) -> str:
    """The folder name, or its parent's when the folder has a generic name (apimartifacts)."""
    resolved = root.resolve()
    if resolved.name.lower() in _GENERIC and resolved.parent.name:
        return resolved.parent.name
    return resolved.name


def count_api_folders(path: Path) -> int:
    """How many API folders (workspace ones included) the roots at or below ``path`` hold."""
    count = 0
    for root in find_roots(path):
        reader = _Reader(root, path, include_revisions=True)
        count += len(reader.subdirs(root / "apis"))
        for ws in reader.subdirs(root / "workspaces"):
            count += len(reader.subdirs(ws / "apis"))
    return count


@dataclass(frozen=True)
class Tree:
    """An APIOps source not yet read (see :mod:`auditor.sources.parts`)."""

    path: Path
    include_revisions: bool = False

    def api_count(self) -> int:
        return count_api_folders(self.path)

    def estate(self, part: Part | None = None) -> Estate:
        return load(self.path, include_revisions=self.include_revisions, part=part)


def load(path: Path, *, include_revisions: bool = False, part: Part | None = None) -> Estate:
    """Load every APIOps artifacts root found at or below ``path`` (``part``: some APIs only)."""
    if not path.is_dir():
        raise SourceError(f"{path}: not a folder")
    roots = find_roots(path)
    if not roots:
        raise SourceError(
            f"{path}: no APIOps artifacts found (expected apis/, products/, "
            "policy.xml ... in this folder or below it)"
        )
    services = []
    errors: list[ReadError] = []
    for root in roots:
        reader = _Reader(root, path, include_revisions, part)
        name = service_name(root)
        services.append(reader.service(name))
        errors.extend(reader.errors)
    return Estate("apiops", str(path), tuple(services), PROVIDES, tuple(errors))

"""Snapshots: an estate stored as ARM-shaped resources, replayable offline with the same findings.

A snapshot keeps what the rules read and where it came from (file:line), never secrets: no keys,
no credentials, no named-value values; literal secrets written into policies (an ``api-key``
header value, a ``password`` attribute) are replaced by ``{{redacted}}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.bounded import PolicyReadError, read_bounded
from auditor.errors import SourceError
from auditor.model import Diagnostic, Estate, Location, ReadError, Service
from auditor.policy import PolicyDoc
from auditor.sources import SNAPSHOT_FORMAT, resources

if TYPE_CHECKING:
    from collections.abc import Mapping

    from auditor.sources.parts import Part
    from auditor.usage.measured import Usage

VERSION = 1
MAX_SNAPSHOT_BYTES = 512 * 1024 * 1024
_T = "Microsoft.ApiManagement/service"
_SECRET_HEADERS = r"api-key|authorization|ocp-apim-subscription-key|x-functions-key"
_SECRET_VALUE = re.compile(
    rf"(<set-header\b[^>]*\bname\s*=\s*[\"'](?:{_SECRET_HEADERS})[\"'][^>]*>\s*<value>)"
    r"(?!\s*[@{])([^<]*)(</value>)",
    re.IGNORECASE,
)
_SECRET_ATTR = re.compile(
    r"""(\b(?:password|client-secret|secret|sas-token)\s*=\s*)(["'])(?![@{])[^"']*\2""",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """Replace literal secrets in policy text; expressions and named values stay as they are."""
    text = _SECRET_VALUE.sub(lambda m: f"{m.group(1)}{{{{redacted}}}}{m.group(3)}", text)
    return _SECRET_ATTR.sub(lambda m: f"{m.group(1)}{m.group(2)}{{{{redacted}}}}{m.group(2)}", text)


def _origin(loc: Location | None) -> dict[str, Any]:
    if loc is None or loc.path is None:
        return {}
    return {"_origin": {"path": loc.path, "line": loc.line}}


def _doubts(obj: object) -> dict[str, Any]:
    """What the source could not decide about a model object, kept for the replay: its fields
    not known offline, its condition, the deployment its name is local to."""
    out: dict[str, Any] = {}
    fields = getattr(obj, "unknown", ())
    if fields:
        out["_fields"] = [list(f) for f in fields]
    if cond := getattr(obj, "condition", None):
        out["_condition"] = cond
    if dep := getattr(obj, "deployment", None):
        out["_deployment"] = dep
    return out


def _policy(rtype: str, name: str, doc: PolicyDoc) -> dict[str, Any]:
    props: dict[str, Any] = {"format": "rawxml"}
    doubts: dict[str, Any] = {"_condition": doc.condition} if doc.condition else {}
    if doc.unknown_parts:
        doubts["_unknown"] = {"properties.value": doc.unknown_parts}
    if doc.unseen:
        props["unresolved"] = doc.error
    elif doc.text is not None:
        props["value"] = redact(doc.text)
    else:
        props["error"] = doc.error
        props["errorLine"] = doc.error_line
    return {
        "type": rtype,
        "name": name,
        "properties": props,
        "_origin": {"path": doc.path, "line": doc.line_offset + 1}
        | ({"pinned": True} if doc.pinned else {}),
        **doubts,
    }


def _diag(rtype: str, name: str, d: Diagnostic) -> dict[str, Any]:
    props: dict[str, Any] = {
        "loggerId": f"/loggers/{d.logger}" if d.logger else None,
        "frontend": {
            "request": {"headers": list(d.request_headers), "body": {"bytes": d.body_bytes}}
        },
    }
    if d.metrics is not None:
        props["metrics"] = d.metrics
    lines = {
        k: loc.line
        for k, loc in (("metrics", d.metrics_location), ("body", d.body_location))
        if loc and loc.line
    }
    return {
        "type": rtype,
        "name": name,
        "properties": props,
        "_lines": lines,
        **_origin(d.location),
        **_doubts(d),
    }


def _service(service: Service) -> list[dict[str, Any]]:
    """A service's resources. NOTE: a service named by an unknown value is one of its
    deployment's: it is written under that name with its deployment (its report name, which
    says the deployment, holds '/' and would split the names of its children)."""
    if service.deployment:
        name = service.name.removesuffix(f" ({service.deployment})")
        out = _service_resources(replace(service, name=name))
        for res in out:
            res["_deployment"] = service.deployment
        return out
    return _service_resources(service)


def _service_resources(s: Service) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"type": _T, "name": s.name}]
    if s.elsewhere:
        out[0]["_elsewhere"] = list(s.elsewhere)
    if s.deployments:
        out[0]["_deployments"] = list(s.deployments)
    if s.policy:
        out.append(_policy(f"{_T}/policies", f"{s.name}/policy", s.policy))
    for ws, doc in sorted(s.workspace_policies.items()):
        out.append(_policy(f"{_T}/workspaces/policies", f"{s.name}/{ws}/policy", doc))
    for pname, p in sorted(s.products.items()):
        ws, _, short = pname.rpartition("/")
        base, prefix = (
            (f"{s.name}/{ws}/{short}", "workspaces/") if ws else (f"{s.name}/{short}", "")
        )
        out.append(
            {
                "type": f"{_T}/{prefix}products",
                "name": base,
                "properties": {
                    "displayName": p.display_name,
                    "subscriptionRequired": p.subscription_required,
                },
                **_origin(p.location),
                **_doubts(p),
            }
        )
        if p.policy:
            out.append(_policy(f"{_T}/{prefix}products/policies", f"{base}/policy", p.policy))
    for api in s.apis:
        prefix = "workspaces/" if api.workspace else ""
        base = f"{s.name}/{api.workspace}/{api.name}" if api.workspace else f"{s.name}/{api.name}"
        out.append(
            {
                "type": f"{_T}/{prefix}apis",
                "name": base,
                "properties": {
                    "displayName": api.display_name,
                    "path": api.path,
                    "serviceUrl": api.service_url,
                    "subscriptionRequired": api.subscription_required,
                    "type": api.api_type,
                },
                **_origin(api.location),
                **_doubts(api),
            }
        )
        for pname in api.products:
            short = pname.rpartition("/")[2]
            pbase = f"{s.name}/{api.workspace}/{short}" if api.workspace else f"{s.name}/{short}"
            out.append({"type": f"{_T}/{prefix}products/apis", "name": f"{pbase}/{api.name}"})
        if api.policy:
            out.append(_policy(f"{_T}/{prefix}apis/policies", f"{base}/policy", api.policy))
        for op in api.operations:
            out.append(
                {
                    "type": f"{_T}/{prefix}apis/operations",
                    "name": f"{base}/{op.name}",
                    "properties": {"method": op.method, "urlTemplate": op.url_template},
                }
            )
            if op.policy:
                out.append(
                    _policy(
                        f"{_T}/{prefix}apis/operations/policies",
                        f"{base}/{op.name}/policy",
                        op.policy,
                    )
                )
        for d in api.diagnostics:
            out.append(_diag(f"{_T}/{prefix}apis/diagnostics", f"{base}/{d.name}", d))
    for fid, doc in sorted(s.fragments.items()):
        out.append(_policy(f"{_T}/policyFragments", f"{s.name}/{fid}", doc))
    for d in s.diagnostics:
        out.append(_diag(f"{_T}/diagnostics", f"{s.name}/{d.name}", d))
    for lg in s.loggers.values():
        out.append(
            {
                "type": f"{_T}/loggers",
                "name": f"{s.name}/{lg.name}",
                "properties": {"loggerType": lg.logger_type, "resourceId": lg.resource_id},
                **_origin(lg.location),
                **_doubts(lg),
            }
        )
    for b in s.backends.values():
        props: dict[str, Any] = {"url": b.url}
        if b.pool:
            props["pool"] = {"services": [{"id": f"/backends/{m}"} for m in b.pool]}
        out.append(
            {
                "type": f"{_T}/backends",
                "name": f"{s.name}/{b.name}",
                "properties": props,
                **_origin(b.location),
                **_doubts(b),
            }
        )
    for sub in s.subscriptions:
        scope = {
            "all-apis": "/apis",
            "api": f"/apis/{sub.scope_name}",
            "product": f"/products/{sub.scope_name}",
        }.get(sub.scope_kind, "")
        out.append(
            {
                "type": f"{_T}/subscriptions",
                "name": f"{s.name}/{sub.name}",
                "properties": {"scope": scope, "state": "active" if sub.active else "suspended"},
                **_origin(sub.location),
                **_doubts(sub),
            }
        )
    out += [{"type": f"{_T}/namedValues", "name": f"{s.name}/{n}"} for n in s.named_values]
    return out


def to_resources(estate: Estate) -> list[dict[str, Any]]:
    """Every resource of the estate, ARM-shaped, secrets left out."""
    out: list[dict[str, Any]] = []
    for service in estate.services:
        out += _service(service)
    for a in estate.ai_accounts:
        out.append(
            {
                "type": "Microsoft.CognitiveServices/accounts",
                "name": a.name,
                "properties": {
                    "endpoints": {str(i): f"https://{h}/" for i, h in enumerate(a.hosts)},
                    "customSubDomainName": "",
                    "disableLocalAuth": a.disable_local_auth,
                    "publicNetworkAccess": a.public_network_access,
                    "networkAcls": {"defaultAction": a.network_default_action},
                },
                **_origin(a.location),
                **_doubts(a),
            }
        )
    for d in estate.diagnostic_settings:
        logs = [{"category": c, "enabled": True} for c in d.categories]
        logs += [{"categoryGroup": g, "enabled": True} for g in d.category_groups]
        out.append(
            {
                "type": "Microsoft.Insights/diagnosticSettings",
                "name": d.name,
                "scope": f"/providers/Microsoft.CognitiveServices/accounts/{d.account}",
                "properties": {"workspaceId": d.workspace_id, "logs": logs},
                **_origin(d.location),
                **_doubts(d),
            }
        )
    for c in estate.app_insights:
        out.append(
            {
                "type": "Microsoft.Insights/components",
                "name": c.name,
                "id": c.resource_id,
                "properties": {"CustomMetricsOptedInType": c.custom_metrics},
                **_origin(c.location),
                **_doubts(c),
            }
        )
    return out


def dumps(estate: Estate, taken: Mapping[str, Any] | None = None) -> str:
    """The snapshot file's text (deterministic, apart from ``taken``: when it was taken and the
    git state of the source, see :mod:`auditor.provenance`)."""
    doc = {
        "format": SNAPSHOT_FORMAT,
        "version": VERSION,
        "source": {"kind": estate.source_kind, "location": estate.location, **(taken or {})},
        "provides": sorted(estate.provides),
        "resources": to_resources(estate),
        "read_errors": [
            {"path": e.location.path, "line": e.location.line, "message": e.message}
            for e in estate.read_errors
        ],
        "notes": list(estate.notes),
    }
    text = json.dumps(doc, indent=1, ensure_ascii=False)
    if estate.usage is not None:
        from auditor.usage.measured import dumps as usage_text

        # NOTE: an optional last key (readers from before measured usage ignore it), written
        # a row per line: a month of daily rows would otherwise take a line per number.
        text = text[: -len("\n}")] + ',\n "usage": ' + usage_text(estate.usage.to_json(), 1) + "\n}"
    return text + "\n"


def load(path: Path) -> Estate:
    """Read a snapshot; the estate keeps the original source kind, so findings are identical."""
    return prepare(path).estate()


def prepare(path: Path) -> resources.Loaded:
    """A snapshot read but not yet built (see :mod:`auditor.sources.parts`)."""
    try:
        text = read_bounded(path, MAX_SNAPSHOT_BYTES).decode("utf-8")
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}:{exc.lineno}: invalid snapshot JSON: {exc.msg}") from exc
    except (OSError, UnicodeDecodeError, PolicyReadError) as exc:
        raise SourceError(f"{path}: cannot read snapshot: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT:
        raise SourceError(f"{path}: not an attribution-auditor snapshot")
    if doc.get("version") != VERSION:
        raise SourceError(f"{path}: snapshot version {doc.get('version')} is not supported")
    res = doc.get("resources")
    if not isinstance(res, list) or not all(isinstance(r, dict) for r in res):
        raise SourceError(f"{path}: 'resources' must be a list of objects")
    raw_source = doc.get("source")
    source: dict[str, Any] = raw_source if isinstance(raw_source, dict) else {}
    errors = [
        ReadError(Location(e.get("path"), e.get("line")), str(e.get("message")))
        for e in doc.get("read_errors") or []
        if isinstance(e, dict)
    ]
    return _Replay(
        res,
        kind=str(source.get("kind") or "snapshot"),
        location=str(source.get("location") or path),
        provides=frozenset(str(p) for p in doc.get("provides") or []),
        errors=errors,
        notes=[*(str(n) for n in doc.get("notes") or []), f"replayed from snapshot {path}"],
        usage=_usage(doc.get("usage"), path),
        replayed={
            "file": str(path),
            "taken_at": str(source["taken_at"]) if source.get("taken_at") else None,
            "git": _git(source.get("git")),
        },
    )


def _git(raw: Any) -> dict[str, Any] | None:
    """The git state a snapshot stores, kept only in its own shape (a hand-edited file may say
    anything)."""
    if not isinstance(raw, dict):
        return None
    commit, dirty = raw.get("commit"), raw.get("dirty")
    return {
        "commit": commit if isinstance(commit, str) else None,
        "dirty": dirty if isinstance(dirty, bool) else None,
    }


def _usage(raw: Any, path: Path) -> Usage | None:
    if raw is None:
        return None
    from auditor.usage.measured import Usage, UsageError

    try:
        return Usage.from_json(raw, f"{path}: usage")
    except UsageError as exc:
        raise SourceError(str(exc)) from exc


@dataclass
class _Replay(resources.Loaded):
    """A snapshot's resources, with the measured usage it stores (if any)."""

    usage: Usage | None = None
    replayed: dict[str, Any] | None = None

    def estate(self, part: Part | None = None) -> Estate:
        built = replace(super().estate(part), replayed=self.replayed)
        return built if self.usage is None else replace(built, usage=self.usage)

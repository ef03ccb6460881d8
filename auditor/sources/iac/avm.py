"""Azure Verified Modules (AVM) of API Management: a registry module's inputs -> the resources
it creates, lowered like the same resources declared natively.

A registry module's source is not in the scan, so it is never read; but what the AVM modules of
API Management make of their inputs is fixed by their published interface (Bicep
``avm/res/api-management/service`` and its ``service/api`` child, Terraform
``Azure/avm-res-apimanagement-service/azurerm``). Their inputs are evaluated by the reader like
any value (what is unknown stays unknown, with where), and each item becomes the resource the
module deploys for it. What the module creates from an input that is not mapped, or an input
whose value is not known offline, is noted "from a registry module: ... not read" and leaves the
deployment read in part, as any other registry module does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from auditor.sources.iac.expr import resource_id
from auditor.sources.iac.lower import Sink
from auditor.sources.iac.values import Unknown, arm_name, joined, origin_of, text_of

APIM = "Microsoft.ApiManagement/service"
_BICEP_PREFIXES = ("br/public:", "br:mcr.microsoft.com/bicep/")
_BICEP_KINDS = {
    "avm/res/api-management/service": "service",
    "avm/res/api-management/service/api": "api",
}
_TERRAFORM_SOURCE = "azure/avm-res-apimanagement-service/azurerm"
#: Bicep service inputs that create what the rules read but are not mapped.
_BICEP_UNMAPPED = ("workspaces",)
#: Inputs of the ``service/api`` child module that are read (said in the note).
_BICEP_API_READ = (
    "apiManagementServiceName",
    "name",
    "displayName",
    "path",
    "serviceUrl",
    "protocols",
    "subscriptionRequired",
    "format",
    "value",
    "policies",
    "diagnostics",
    "operations",
)


def bicep_kind(ref: str) -> str | None:
    """``service`` or ``api`` for a Bicep reference to an AVM API Management module (any
    version), else None."""
    low = ref.lower()
    for prefix in _BICEP_PREFIXES:
        if low.startswith(prefix):
            path = low[len(prefix) :].rsplit(":", 1)[0]
            return _BICEP_KINDS.get(path)
    return None


def bicep_version(ref: str) -> tuple[int, ...] | None:
    """The version of a Bicep registry reference (``...:0.14.1``), None when it is not numeric."""
    tag = ref.rsplit(":", 1)[-1] if ":" in ref else ""
    parts = tag.split(".")
    return tuple(int(p) for p in parts) if tag and all(p.isdigit() for p in parts) else None


def is_terraform(source: str) -> bool:
    """A Terraform module source that is the AVM API Management module (any version)."""
    low = source.lower().strip().removeprefix("registry.terraform.io/")
    return low.split("//")[0].rstrip("/") == _TERRAFORM_SOURCE


def _name(*parts: Any) -> Any:
    """The nested ARM name (``svc/api/policy``); an unknown part stays one segment."""
    return arm_name(list(parts))


def _opt(item: dict[str, Any], key: str, default: Any) -> Any:
    """An input with the module's default: the modules take ``null`` (``.?x ?? default``) as
    not given."""
    value = item.get(key)
    return default if value is None else value


def _given(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if v is not None}


@dataclass
class _Emit:
    """Resources of one module call to the sink."""

    sink: Sink
    deployment: str
    file: str
    line: int
    label: str
    """``module 'apim' (source)``: said in notes."""
    condition: Unknown | None
    lines: dict[str, int] = field(default_factory=dict)
    """Line of each input in the call (where its resources are shown)."""
    read: list[str] = field(default_factory=list)

    def note_only(self, key: str, what: str) -> None:
        """A note that limits nothing (what the module does not create)."""
        self.sink.note(f"{self.file}:{self.lines.get(key, self.line)}", f"{what} ({self.label})")

    def at(self, key: str) -> tuple[str, int]:
        return (self.file, self.lines.get(key, self.line))

    def add(self, rtype: str, name: Any, props: dict[str, Any] | None, key: str) -> None:
        origin = self.at(key)
        if rtype.endswith("/policies") and props is not None:
            origin = origin_of(props.get("value")) or origin
        self.sink.add(
            rtype,
            name,
            props,
            origin=origin,
            deployment=self.deployment,
            condition=self.condition,
        )

    def unread(self, key: str, what: str) -> None:
        where = f"{self.file}:{self.lines.get(key, self.line)}"
        self.sink.unread(
            self.deployment, where, f"from a registry module: {what} not read ({self.label})"
        )

    def items(self, key: str, value: Any, keyed: bool) -> list[tuple[Any, dict[str, Any]]]:
        """The items of an input (a list, or a map keyed by name): (key, item); an input that
        is not known offline, or an item that is not an object, is noted and left out."""
        if value is None:
            return []
        self.read.append(key)
        if isinstance(value, Unknown):
            self.unread(key, f"what '{key}' creates ({value.reason()})")
            return []
        if key == "apis" and isinstance(value, dict | list) and not value:
            # NOTE: an empty input is most often a variable's default that a deployment fills
            # (ai-hub-tracking's var.tenants): the APIs it would be given are not seen.
            self.unread(key, "the APIs it is given at deployment ('apis' is empty here)")
            return []
        pairs: list[tuple[Any, Any]]
        if keyed and isinstance(value, dict):
            pairs = list(value.items())
        elif not keyed and isinstance(value, list):
            pairs = [(None, v) for v in value]
        else:
            self.unread(key, f"what '{key}' creates (not a {'map' if keyed else 'list'})")
            return []
        out: list[tuple[Any, dict[str, Any]]] = []
        for k, item in pairs:
            if isinstance(item, dict):
                out.append((k, item))
            else:
                why = item.reason() if isinstance(item, Unknown) else "not an object"
                self.unread(key, f"an item of '{key}' ({why})")
        return out

    def done(self) -> None:
        read = ", ".join(dict.fromkeys(self.read)) or "none"
        self.sink.note(
            f"{self.file}:{self.line}",
            f"{self.label} is an Azure Verified Module of API Management: "
            f"read as the resources it creates from its inputs ({read})",
        )


def _policy(fmt: Any, value: Any, default: str = "xml") -> dict[str, Any]:
    return {"format": fmt if fmt is not None else default, "value": value}


# ---------------------------------------------------------------- Bicep


def bicep(
    kind: str,
    params: Any,
    sink: Sink,
    *,
    deployment: str,
    file: str,
    line: int,
    label: str,
    condition: Unknown | None,
    lines: dict[str, int],
    version: tuple[int, ...] | None = None,
) -> Any:
    """Lower the resources an AVM Bicep module creates from ``params``; gives the service's
    name (the module's ``name`` output) or None. ``version`` is the module's (None: unknown,
    read as the newest)."""
    out = _Emit(sink, deployment, file, line, label, condition, lines)
    # NOTE: versions before 0.14.1 accept products[].policies but never deploy them.
    product_policies = version is None or version >= (0, 14, 1)
    if not isinstance(params, dict):
        why = params.reason() if isinstance(params, Unknown) else "not an object"
        out.unread("params", f"what its parameters create ({why})")
        return None
    svc = params.get("name") if kind == "service" else params.get("apiManagementServiceName")
    if kind == "api":
        out.read += [k for k in _BICEP_API_READ if k in params]
        _bicep_api(out, svc, params, "params")
        out.done()
        return None
    out.read.append("name")
    out.add(APIM, _name(svc), {}, "name")
    for _, pol in out.items("policies", params.get("policies"), False):
        name = pol.get("name") or "policy"
        out.add(
            f"{APIM}/policies",
            _name(svc, name),
            _policy(pol.get("format"), pol.get("value")),
            "policies",
        )
    for _, api in out.items("apis", params.get("apis"), False):
        _bicep_api(out, svc, api, "apis")
    for _, be in out.items("backends", params.get("backends"), False):
        creds = be.get("credentials")
        props = {
            "url": be.get("url"),
            "protocol": _opt(be, "protocol", "http"),
            "resourceId": be.get("resourceId"),
            "type": _opt(be, "type", "Single"),
            "pool": be.get("pool"),
            "credentials": creds if isinstance(creds, dict) else None,
        }
        out.add(f"{APIM}/backends", _name(svc, be.get("name")), _given(props), "backends")
    for _, lg in out.items("loggers", params.get("loggers"), False):
        ltype = _opt(lg, "type", "azureMonitor")
        props = {"loggerType": ltype, "resourceId": lg.get("targetResourceId")}
        if ltype != "azureMonitor" and isinstance(lg.get("credentials"), dict):
            props["credentials"] = lg["credentials"]  # only followed to its target, then dropped
        out.add(f"{APIM}/loggers", _name(svc, lg.get("name")), _given(props), "loggers")
    for _, dg in out.items("serviceDiagnostics", params.get("serviceDiagnostics"), False):
        props = _diagnostic(dg, dg.get("loggerResourceId"), "information")
        out.add(f"{APIM}/diagnostics", _name(svc, dg.get("name")), props, "serviceDiagnostics")
    for _, dg in out.items("apiDiagnostics", params.get("apiDiagnostics"), False):
        _api_diagnostic(out, svc, dg.get("apiName"), dg, "apiDiagnostics")
    for _, nv in out.items("namedValues", params.get("namedValues"), False):
        props = {"displayName": nv.get("displayName")}  # never its value
        out.add(f"{APIM}/namedValues", _name(svc, nv.get("name")), _given(props), "namedValues")
    for _, pr in out.items("products", params.get("products"), False):
        pname = pr.get("name")
        props = {
            "displayName": pr.get("displayName"),
            "subscriptionRequired": _opt(pr, "subscriptionRequired", True),
            "state": _opt(pr, "state", "published"),
        }
        _product(out, svc, pname, props, pr.get("apis"))
        pols = pr.get("policies")
        if isinstance(pols, Unknown):
            out.unread("products", f"the policies of product '{text_of(pname)}' ({pols.reason()})")
        if pols and not product_policies:
            out.note_only(
                "products",
                f"the policies of product '{text_of(pname)}' are not deployed by this version of "
                "the module (before 0.14.1)",
            )
            pols = None
        for pol in pols if isinstance(pols, list) else []:
            if isinstance(pol, dict):
                out.add(
                    f"{APIM}/products/policies",
                    _name(svc, pname, pol.get("name") or "policy"),
                    _policy(pol.get("format"), pol.get("value")),
                    "products",
                )
            else:
                why = pol.reason() if isinstance(pol, Unknown) else "not an object"
                out.unread("products", f"a policy of product '{text_of(pname)}' ({why})")
    for _, sub in out.items("subscriptions", params.get("subscriptions"), False):
        props = {"scope": _opt(sub, "scope", "/apis"), "state": sub.get("state")}
        out.add(
            f"{APIM}/subscriptions", _name(svc, sub.get("name")), _given(props), "subscriptions"
        )
    for key in _BICEP_UNMAPPED:
        value = params.get(key)
        if value not in (None, [], {}):
            out.unread(key, f"what '{key}' creates")
    out.done()
    return svc


def _product(out: _Emit, svc: Any, pid: Any, props: dict[str, Any], apis: Any) -> None:
    """A product and its links to APIs (``apis`` of Bicep, ``api_names`` of Terraform)."""
    out.add(f"{APIM}/products", _name(svc, pid), _given(props), "products")
    if isinstance(apis, Unknown):
        out.unread("products", f"the APIs of product '{text_of(pid)}' ({apis.reason()})")
    for api in apis if isinstance(apis, list) else []:
        out.add(f"{APIM}/products/apis", _name(svc, pid, api), {}, "products")


def _diagnostic(dg: dict[str, Any], logger: Any, verbosity: str) -> dict[str, Any]:
    """A diagnostic's properties, with the module's defaults."""
    props = {
        "loggerId": logger,
        "alwaysLog": _opt(dg, "alwaysLog", "allErrors"),
        "backend": dg.get("backend"),
        "frontend": dg.get("frontend"),
        "httpCorrelationProtocol": _opt(dg, "httpCorrelationProtocol", "Legacy"),
        "logClientIp": _opt(dg, "logClientIp", False),
        "metrics": _opt(dg, "metrics", False),
        "operationNameFormat": _opt(dg, "operationNameFormat", "Name"),
        "sampling": {"percentage": _opt(dg, "samplingPercentage", 100), "samplingType": "fixed"},
        "verbosity": _opt(dg, "verbosity", verbosity),
    }
    return _given(props)


def _api_diagnostic(out: _Emit, svc: Any, api: Any, dg: dict[str, Any], key: str) -> None:
    logger = resource_id(f"{APIM}/loggers", [svc, dg.get("loggerName")])
    props = _diagnostic(dg, logger, "error")
    out.add(f"{APIM}/apis/diagnostics", _name(svc, api, dg.get("name") or "local"), props, key)


def _bicep_api(out: _Emit, svc: Any, api: dict[str, Any], key: str) -> None:
    """One API of ``service/api`` (inline in ``apis`` or the child module's params)."""
    name = api.get("name")
    value = api.get("value")
    props = {
        "displayName": api.get("displayName"),
        "path": api.get("path"),
        "serviceUrl": api.get("serviceUrl"),
        "protocols": _opt(api, "protocols", ["https"]),
        "subscriptionRequired": _opt(api, "subscriptionRequired", False),
        "subscriptionKeyParameterNames": api.get("subscriptionKeyParameterNames"),
        "authenticationSettings": api.get("authenticationSettings"),
        "apiRevision": api.get("apiRevision"),
        "apiVersion": api.get("apiVersion"),
        "apiType": _opt(api, "apiType", "http"),
        "type": _opt(api, "type", "http"),
        "isCurrent": _opt(api, "isCurrent", True),
        "sourceApiId": api.get("sourceApiId"),
        "format": _opt(api, "format", "openapi") if value else None,
        "value": value,
    }
    out.add(f"{APIM}/apis", _name(svc, name), _given(props), key)
    for k, pol in _sub_items(out, key, api, "policies", name):
        out.add(
            f"{APIM}/apis/policies",
            _name(svc, name, pol.get("name") or "policy"),
            _policy(pol.get("format"), pol.get("value")),
            k,
        )
    for k, dg in _sub_items(out, key, api, "diagnostics", name):
        _api_diagnostic(out, svc, name, dg, k)
    for k, op in _sub_items(out, key, api, "operations", name):
        oname = op.get("name")
        props = {
            "displayName": op.get("displayName"),
            "method": op.get("method"),
            "urlTemplate": op.get("urlTemplate"),
        }
        out.add(f"{APIM}/apis/operations", _name(svc, name, oname), _given(props), k)
        pols = op.get("policies")
        for pol in pols if isinstance(pols, list) else []:
            if isinstance(pol, dict):
                out.add(
                    f"{APIM}/apis/operations/policies",
                    _name(svc, name, oname, pol.get("name") or "policy"),
                    _policy(pol.get("format"), pol.get("value")),
                    k,
                )
            else:
                why = pol.reason() if isinstance(pol, Unknown) else "not an object"
                out.unread(k, f"a policy of operation '{text_of(oname)}' ({why})")
        if isinstance(pols, Unknown):
            out.unread(k, f"the policies of operation '{text_of(oname)}' ({pols.reason()})")


def _sub_items(
    out: _Emit, key: str, api: dict[str, Any], part: str, name: Any
) -> list[tuple[str, dict[str, Any]]]:
    """The items of an API's list (``policies``, ``diagnostics``, ``operations``)."""
    value = api.get(part)
    if key == "params":
        key = part
    if isinstance(value, Unknown):
        out.unread(key, f"the {part} of API '{text_of(name)}' ({value.reason()})")
        return []
    if not isinstance(value, list):
        return []
    found = []
    for item in value:
        if isinstance(item, dict):
            found.append((key, item))
        else:
            why = item.reason() if isinstance(item, Unknown) else "not an object"
            out.unread(key, f"an item of the {part} of API '{text_of(name)}' ({why})")
    return found


# ---------------------------------------------------------------- Terraform


def terraform(
    inputs: dict[str, Callable[[], Any]],
    sink: Sink,
    *,
    deployment: str,
    file: str,
    line: int,
    label: str,
    condition: Unknown | None,
    lines: dict[str, int],
) -> Any:
    """Lower the resources the AVM Terraform module creates from its ``inputs``; gives the
    service's name (its ``name`` output)."""
    out = _Emit(sink, deployment, file, line, label, condition, lines)

    def get(key: str) -> Any:
        return inputs[key]() if key in inputs else None

    svc = get("name")
    out.read.append("name")
    out.add(APIM, _name(svc), {}, "name")
    pol = get("policy")
    if pol is not None:
        out.read.append("policy")
        if isinstance(pol, dict):
            out.add(f"{APIM}/policies", _name(svc, "policy"), _tf_policy(pol, "policy"), "policy")
        else:
            why = pol.reason() if isinstance(pol, Unknown) else "not an object"
            out.unread("policy", f"the global policy ({why})")
    for name, api in out.items("apis", get("apis"), True):
        _tf_api(out, svc, name, api)
    for name, be in out.items("backends", get("backends"), True):
        props = {"url": be.get("url"), "protocol": be.get("protocol")}
        out.add(f"{APIM}/backends", _name(svc, name), _given(props), "backends")
    if "named_values" in inputs:
        for name, nv in out.items("named_values", get("named_values"), True):
            props = {"displayName": nv.get("display_name")}  # never its value
            out.add(f"{APIM}/namedValues", _name(svc, name), _given(props), "named_values")
    for pid, pr in out.items("products", get("products"), True):
        props = {
            "displayName": pr.get("display_name"),
            "subscriptionRequired": _opt(pr, "subscription_required", False),
            "state": _opt(pr, "state", "published"),
        }
        _product(out, svc, pid, props, pr.get("api_names"))
    for sid, sub in out.items("subscriptions", get("subscriptions"), True):
        props = {"scope": _tf_scope(sub), "state": _opt(sub, "state", "active")}
        out.add(f"{APIM}/subscriptions", _name(svc, sid), _given(props), "subscriptions")
    out.done()
    return svc


def _tf_policy(block: dict[str, Any], key: str) -> dict[str, Any]:
    if block.get("xml_content") is not None:
        return {"format": "xml", "value": block["xml_content"]}
    if block.get("xml_link") is not None:
        return {"format": "xml-link", "value": block["xml_link"]}
    return {"format": "xml", "unresolved": f"the policy text ({key}.xml_content) is not given"}


def _tf_scope(sub: dict[str, Any]) -> Any:
    """A subscription's scope from ``scope_type`` and ``scope_identifier``."""
    kind, ident = sub.get("scope_type"), sub.get("scope_identifier")
    if isinstance(kind, Unknown):
        return Unknown(kind.text, kind.why, kind.where, True)
    if kind == "api":
        return joined(["/apis/", ident])
    if kind == "product":
        return joined(["/products/", ident])
    return "/apis"


def _tf_api(out: _Emit, svc: Any, name: str, api: dict[str, Any]) -> None:
    source = api.get("source_api_id")
    if isinstance(source, str) and source.rstrip("/").rsplit("/", 1)[-1].split(";")[0] == name:
        out.sink.note(
            f"{out.file}:{out.lines.get('apis', out.line)}", f"API '{name}' is a revision; skipped"
        )
        return
    props = {
        "displayName": api.get("display_name"),
        "path": api.get("path"),
        "serviceUrl": api.get("service_url"),
        "protocols": _opt(api, "protocols", ["https"]),
        "subscriptionRequired": _opt(api, "subscription_required", True),
        "apiRevision": _opt(api, "revision", "1"),
        "apiVersion": api.get("api_version"),
    }
    spec = api.get("import")
    if isinstance(spec, dict):
        props["format"] = spec.get("content_format")
        props["value"] = spec.get("content_value")
    out.add(f"{APIM}/apis", _name(svc, name), _given(props), "apis")
    pol = api.get("policy")
    if isinstance(pol, dict):
        out.add(
            f"{APIM}/apis/policies", _name(svc, name, "policy"), _tf_policy(pol, "policy"), "apis"
        )
    elif isinstance(pol, Unknown):
        out.unread("apis", f"the policy of API '{name}' ({pol.reason()})")
    ops = api.get("operations")
    if isinstance(ops, Unknown):
        out.unread("apis", f"the operations of API '{name}' ({ops.reason()})")
    for okey, op in ops.items() if isinstance(ops, dict) else []:
        if not isinstance(op, dict):
            continue
        oname = f"{name}-{okey}"  # the module's operation_id
        props = {
            "displayName": op.get("display_name"),
            "method": op.get("method"),
            "urlTemplate": op.get("url_template"),
        }
        out.add(f"{APIM}/apis/operations", _name(svc, name, oname), _given(props), "apis")
        opol = op.get("policy")
        if isinstance(opol, dict):
            out.add(
                f"{APIM}/apis/operations/policies",
                _name(svc, name, oname, "policy"),
                _tf_policy(opol, "policy"),
                "apis",
            )
        elif isinstance(opol, Unknown):
            out.unread("apis", f"the policy of operation '{oname}' ({opol.reason()})")

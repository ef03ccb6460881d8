"""azurerm and azapi resources -> ARM type, ARM name and ARM ``properties``.

Each azurerm type the rules read has an entry: its ARM type, how its nested ARM name is made
(an argument, the service of ``api_management_name`` or ``api_management_id``, a literal), and
what of its arguments becomes which ARM property. Arguments are read through an
:class:`Instance` (one evaluated instance of a resource), so what is never read is never
evaluated: secrets (keys, connection strings, named-value values, backend credentials) are not
even computed. azapi resources carry their ARM type and body as they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from auditor.sources import resources
from auditor.sources.iac.values import Unknown, origin_of

APIM = "Microsoft.ApiManagement/service"
ACCOUNTS = "Microsoft.CognitiveServices/accounts"
COMPONENTS = "Microsoft.Insights/components"
SETTINGS = "Microsoft.Insights/diagnosticSettings"
#: Types an azapi resource may have for the rules to read it (lower case prefixes).
AZAPI_KEPT = (resources.APIM, resources.ACCOUNTS, resources.COMPONENTS, resources.DIAG_SETTINGS)

ABSENT: Any = object()


class Instance(Protocol):
    """One instance of a resource, as the lowering reads it."""

    type: str
    """The Terraform type (``azurerm_api_management_api``)."""
    address: str
    file: str
    line: int

    def has(self, key: str) -> bool:
        """The argument is written."""
        ...

    def arg(self, key: str, default: Any = None) -> Any:
        """The argument's value (``default`` when it is not written)."""
        ...

    def line_of(self, key: str) -> int:
        """The line the argument is written on."""
        ...

    def blocks(self, kind: str) -> list[dict[str, Any]]:
        """The nested blocks of one type (``dynamic`` ones expanded), evaluated."""
        ...

    def note(self, text: str) -> None:
        """A note at the instance's declaration."""
        ...

    def linked_id(self, value: Any) -> Any:
        """The id of the declared resource a secret ``value`` was read from (its key or
        connection string names the resource, never read itself), else None."""
        ...


@dataclass
class Lowered:
    """What one instance becomes: an ARM type and name, and its properties."""

    arm_type: str
    names: list[Any]
    props: dict[str, Any] | None
    origin: tuple[str, int] | None = None
    """Where the resource is shown (a policy: where its text starts)."""
    scope: Any = None
    lines: dict[str, int] = field(default_factory=dict)
    existing: bool = False


# ---------------------------------------------------------------- ARM ids


def id_parts(value: Any) -> tuple[str | None, list[Any]]:
    """ARM type (None when not an ARM id) and name segments of an id, known or not; a name's
    ``;rev=N`` is dropped. A wholly unknown id gives itself as its one name."""
    if isinstance(value, Unknown):
        text = value.text
    elif isinstance(value, str):
        text = value
    else:
        return None, []
    segs: list[Any] = []
    for seg in text.split("/"):
        if isinstance(value, Unknown) and "${" in seg:
            segs.append(Unknown(seg, value.why, value.where, True))
        else:
            segs.append(seg)
    lower = [s.lower() if isinstance(s, str) else "" for s in segs]
    if "providers" not in lower:
        if isinstance(value, Unknown) and len([s for s in segs if s != ""]) == 1:
            return None, [value]
        return None, []
    at = len(lower) - 1 - lower[::-1].index("providers")
    rest = [s for s in segs[at + 1 :] if s != ""]
    if len(rest) < 3 or not isinstance(rest[0], str):
        return None, []
    types = [rest[0], *(t for t in rest[1::2] if isinstance(t, str))]
    names = [_no_revision(n) for n in rest[2::2]]
    return "/".join(types[: len(names) + 1]), names


def _no_revision(name: Any) -> Any:
    if isinstance(name, str):
        return name.split(";rev=")[0]
    if isinstance(name, Unknown) and ";rev=" in name.text:
        return Unknown(name.text.split(";rev=")[0], name.why, name.where, True)
    return name


def service_of(inst: Instance) -> Any:
    """The APIM service a child resource belongs to (``api_management_name`` or the service
    named in ``api_management_id``)."""
    if inst.has("api_management_name"):
        return inst.arg("api_management_name")
    value = inst.arg("api_management_id")
    _, names = id_parts(value)
    return names[0] if names else value


def workspace_of(inst: Instance) -> list[Any]:
    """Service and workspace of a workspace's child (``api_management_workspace_id``)."""
    value = inst.arg("api_management_workspace_id")
    _, names = id_parts(value)
    return names[:2] if len(names) >= 2 else [value, value]


def _last_name(value: Any) -> Any:
    """The last name in an id (a product's or API's id given where its name is meant)."""
    _, names = id_parts(value)
    return names[-1] if names else value


# ---------------------------------------------------------------- values


def _not(value: Any) -> Any:
    return (not value) if isinstance(value, bool) else value


def _choose(value: Any, yes: str, no: str) -> Any:
    return (yes if value else no) if isinstance(value, bool) else value


def _first(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return blocks[0] if blocks else {}


def _policy(inst: Instance, key: str, fmt: Any = "xml") -> tuple[dict[str, Any], tuple[str, int]]:
    """``format``/``value`` of a policy argument, and where its text starts."""
    where = (inst.file, inst.line_of(key) if inst.has(key) else inst.line)
    link = "xml_link" if key == "xml_content" else None
    if not inst.has(key) and link and inst.has(link):
        return {"format": "xml-link", "value": inst.arg(link)}, where
    if not inst.has(key):
        return {"format": fmt, "unresolved": f"the policy text ({key}) is not given"}, where
    value = inst.arg(key)
    return {"format": fmt, "value": value}, origin_of(value) or where


def _message(block: dict[str, Any]) -> dict[str, Any] | None:
    """A diagnostic's ``frontend_request`` (and the like) as ARM's ``{headers, body}``."""
    if not block:
        return None
    out: dict[str, Any] = {"headers": block.get("headers_to_log") or []}
    if block.get("body_bytes") is not None:
        out["body"] = {"bytes": block["body_bytes"]}
    return out


def _diagnostic(inst: Instance) -> dict[str, Any]:
    """An APIM diagnostic; azurerm has no ``metrics`` argument, so it stays absent."""
    props: dict[str, Any] = {"loggerId": inst.arg("api_management_logger_id")}
    for side in ("frontend", "backend"):
        for part in ("request", "response"):
            msg = _message(_first(inst.blocks(f"{side}_{part}")))
            if msg is not None:
                props.setdefault(side, {})[part] = msg
    for key, arm in (("verbosity", "verbosity"), ("log_client_ip", "logClientIp")):
        if inst.has(key):
            props[arm] = inst.arg(key)
    if inst.has("sampling_percentage"):
        props["sampling"] = {"samplingType": "fixed", "percentage": inst.arg("sampling_percentage")}
    return props


def _api(inst: Instance, names: list[Any]) -> dict[str, Any] | None:
    source = inst.arg("source_api_id") if inst.has("source_api_id") else None
    if source is not None:
        _, parts = id_parts(source)
        if parts and len(names) > 1 and parts[-1] == names[-1]:
            inst.note(f"{inst.address} is a revision; skipped")
            return None
    props: dict[str, Any] = {
        "displayName": inst.arg("display_name"),
        "path": inst.arg("path"),
        "serviceUrl": inst.arg("service_url"),
        "subscriptionRequired": inst.arg("subscription_required", True),
        "apiRevision": inst.arg("revision"),
        "type": inst.arg("api_type"),
    }
    spec = _first(inst.blocks("import"))
    if spec:
        props["format"] = spec.get("content_format")
        props["value"] = spec.get("content_value")
    return props


def _subscription(inst: Instance) -> dict[str, Any]:
    """A subscription's scope (no scope argument: all APIs); its keys are never read."""
    scope: Any = "/apis"
    for key in ("api_id", "product_id"):
        if inst.has(key):
            scope = inst.arg(key)
            break
    if isinstance(scope, Unknown):
        scope = Unknown(scope.text, scope.why, scope.where, True)
    return {"scope": scope, "state": inst.arg("state", "submitted")}


def _logger(inst: Instance) -> dict[str, Any]:
    """A logger's type and target (its credentials are never read)."""
    kind = None
    if inst.blocks("application_insights"):
        kind = "applicationInsights"
    elif inst.blocks("eventhub"):
        kind = "azureEventHub"
    rid = inst.arg("resource_id")
    if rid is None:
        # NOTE: loggers are often linked by the component's key or connection string alone;
        # the reference names the component, whose id is then known without reading the secret.
        for block in inst.blocks("application_insights"):
            for key in ("connection_string", "instrumentation_key"):
                rid = rid or inst.linked_id(block.get(key))
    return {"loggerType": kind, "resourceId": rid}


def _account(inst: Instance, default_kind: str | None) -> dict[str, Any] | None:
    """An OpenAI / AIServices account (other kinds are not LLM backends)."""
    kind = inst.arg("kind", default_kind)
    if isinstance(kind, str) and kind not in ("OpenAI", "AIServices"):
        return None
    acl = _first(inst.blocks("network_acls"))
    return {
        "kind": kind,
        "customSubDomainName": inst.arg("custom_subdomain_name"),
        "disableLocalAuth": _not(inst.arg("local_auth_enabled", True)),
        "publicNetworkAccess": _choose(
            inst.arg("public_network_access_enabled", True), "Enabled", "Disabled"
        ),
        "networkAcls": {"defaultAction": acl.get("default_action")} if acl else None,
    }


def _setting(inst: Instance) -> dict[str, Any]:
    """A diagnostic setting (``enabled_log``, or the ``log`` blocks of azurerm 3.x)."""
    logs = [
        {
            "category": b.get("category"),
            "categoryGroup": b.get("category_group"),
            "enabled": b.get("enabled", True) is not False,
        }
        for kind in ("enabled_log", "log")
        for b in inst.blocks(kind)
    ]
    return {"logs": logs, "workspaceId": inst.arg("log_analytics_workspace_id")}


def _names(inst: Instance, *parts: str) -> list[Any]:
    out: list[Any] = []
    for part in parts:
        if part.startswith("="):
            out.append(part[1:])
        elif part == "@svc":
            out.append(service_of(inst))
        elif part == "@ws":
            out += workspace_of(inst)
        elif part == "@account":
            _, names = id_parts(inst.arg("cognitive_account_id"))
            out.append(names[-1] if names else inst.arg("cognitive_account_id"))
        elif part == "@product":
            out.append(_last_name(inst.arg("product_id")))
        elif part == "@api":
            out.append(_last_name(inst.arg("api_name")))
        elif inst.has(part):
            out.append(inst.arg(part))
        else:
            out.append(inst.address.rsplit(".", 1)[-1])
    return out


_Props = Callable[[Instance, list[Any]], "dict[str, Any] | None"]


def _args(**keys: str) -> _Props:
    """Properties copied from arguments (ARM name = argument), with azurerm's defaults."""

    def build(inst: Instance, names: list[Any]) -> dict[str, Any]:
        kind = inst.type.removeprefix("azurerm_")
        return {arm: inst.arg(tf, _DEFAULTS.get((kind, tf))) for arm, tf in keys.items()}

    return build


def _policy_props(key: str, fmt_key: str | None = None) -> _Props:
    def build(inst: Instance, names: list[Any]) -> dict[str, Any]:
        fmt = inst.arg(fmt_key, "xml") if fmt_key else "xml"
        props, _ = _policy(inst, key, fmt)
        return props

    return build


#: azurerm type (less ``azurerm_``), ARM type (``~`` for the APIM service) and the parts of its
#: nested name: an argument, ``=literal``, or the ``@svc``, ``@ws``, ``@api``, ``@product`` or
#: ``@account`` another argument names (see :func:`_names`).
_TABLE = """
api_management                           ~                           name
api_management_policy                    ~/policies                  @svc =policy
api_management_api                       ~/apis                      @svc name
api_management_api_policy                ~/apis/policies             @svc @api =policy
api_management_api_operation             ~/apis/operations           @svc @api operation_id
api_management_api_operation_policy      ~/apis/operations/policies  @svc @api operation_id =policy
api_management_product                   ~/products                  @svc product_id
api_management_product_policy            ~/products/policies         @svc @product =policy
api_management_product_api               ~/products/apis             @svc @product @api
api_management_subscription              ~/subscriptions             @svc subscription_id
api_management_policy_fragment           ~/policyFragments           @svc name
api_management_diagnostic                ~/diagnostics               @svc identifier
api_management_api_diagnostic            ~/apis/diagnostics          @svc @api identifier
api_management_logger                    ~/loggers                   @svc name
api_management_backend                   ~/backends                  @svc name
api_management_named_value               ~/namedValues               @svc name
api_management_workspace                 ~/workspaces                @svc name
api_management_workspace_policy          ~/workspaces/policies       @ws =policy
api_management_workspace_policy_fragment ~/workspaces/policyFragments@ws name
cognitive_account           Microsoft.CognitiveServices/accounts              name
ai_services                 Microsoft.CognitiveServices/accounts              name
cognitive_deployment        Microsoft.CognitiveServices/accounts/deployments  @account name
monitor_diagnostic_setting  Microsoft.Insights/diagnosticSettings             name
application_insights        Microsoft.Insights/components                     name
"""
_AZURERM: dict[str, tuple[str, tuple[str, ...]]] = {
    kind: (arm.replace("~", APIM), tuple(parts))
    for kind, arm, *parts in (line.split() for line in _TABLE.strip().splitlines())
}
#: What of a resource's arguments becomes which ARM property (none: only its name is read).
_PROPS: dict[str, _Props] = {
    "api_management_policy": _policy_props("xml_content"),
    "api_management_api": _api,
    "api_management_api_policy": _policy_props("xml_content"),
    "api_management_api_operation": _args(
        method="method", urlTemplate="url_template", displayName="display_name"
    ),
    "api_management_api_operation_policy": _policy_props("xml_content"),
    "api_management_product": _args(
        displayName="display_name", subscriptionRequired="subscription_required"
    ),
    "api_management_product_policy": _policy_props("xml_content"),
    "api_management_subscription": lambda inst, names: _subscription(inst),
    "api_management_policy_fragment": _policy_props("value", "format"),
    "api_management_diagnostic": lambda inst, names: _diagnostic(inst),
    "api_management_api_diagnostic": lambda inst, names: _diagnostic(inst),
    "api_management_logger": lambda inst, names: _logger(inst),
    "api_management_backend": _args(url="url", protocol="protocol"),
    "api_management_named_value": _args(displayName="display_name"),  # never its value
    "api_management_workspace_policy": _policy_props("xml_content"),
    "api_management_workspace_policy_fragment": _policy_props("xml_content", "xml_format"),
    "cognitive_account": lambda inst, names: _account(inst, None),
    "ai_services": lambda inst, names: _account(inst, "AIServices"),
    "cognitive_deployment": lambda inst, names: {"model": _first(inst.blocks("model"))},
    "monitor_diagnostic_setting": lambda inst, names: _setting(inst),
}
#: Arguments whose default (when not written) azurerm applies.
_DEFAULTS = {("api_management_product", "subscription_required"): True}


#: Data sources that say a resource is deployed elsewhere (``existing``).
_DATA: dict[str, str] = {
    "azurerm_api_management": APIM,
    "azurerm_cognitive_account": ACCOUNTS,
    "azurerm_ai_services": ACCOUNTS,
    "azurerm_application_insights": COMPONENTS,
}


def data_type_of(tf_type: str) -> str | None:
    """The ARM type of a data source that declares a resource ``existing``."""
    return _DATA.get(tf_type)


def names_known(tf_type: str) -> bool:
    """An azurerm type the rules read."""
    return tf_type.removeprefix("azurerm_") in _AZURERM


def names_of(tf_type: str, inst: Instance) -> tuple[str, list[Any]] | None:
    """ARM type and name segments of an azurerm resource (None when not mapped)."""
    spec = _AZURERM.get(tf_type.removeprefix("azurerm_"))
    if spec is None or not tf_type.startswith("azurerm_"):
        return None
    return spec[0], _names(inst, *spec[1])


def lower_azurerm(tf_type: str, inst: Instance) -> Lowered | None:
    """An azurerm resource the rules read, lowered (None: not read, or not part of the estate)."""
    found = names_of(tf_type, inst)
    if found is None:
        return None
    arm_type, names = found
    kind = tf_type.removeprefix("azurerm_")
    build = _PROPS.get(kind)
    props = build(inst, names) if build is not None else {}
    if props is None:
        return None
    out = Lowered(arm_type, names, props)
    if kind.endswith(("policy", "policy_fragment")):
        key = "value" if kind.endswith("fragment") and inst.has("value") else "xml_content"
        _, out.origin = _policy(inst, key)
    elif kind == "monitor_diagnostic_setting":
        out.scope = inst.arg("target_resource_id", "")
    return out


def inline_policy(inst: Instance, service: Any) -> Lowered | None:
    """azurerm 3.x: the ``policy`` block of ``azurerm_api_management`` is the global policy."""
    blocks = inst.blocks("policy")
    if not blocks:
        return None
    block = blocks[0]
    where = (inst.file, inst.line)
    if block.get("xml_content") is not None:
        value = block["xml_content"]
        props = {"format": "xml", "value": value}
        origin = origin_of(value) or where
    elif block.get("xml_link") is not None:
        props, origin = {"format": "xml-link", "value": block["xml_link"]}, where
    else:
        return None
    return Lowered(f"{APIM}/policies", [service, "policy"], props, origin)


# ---------------------------------------------------------------- azapi


def azapi_type(value: Any) -> str | None:
    """The ARM type of an azapi ``type`` (``Microsoft.X/y@version``)."""
    return value.split("@")[0] if isinstance(value, str) else None


def kept(arm_type: str | None) -> bool:
    """An ARM type the rules read (an azapi resource of another type is left alone)."""
    return bool(arm_type) and str(arm_type).lower().startswith(AZAPI_KEPT)


def body_of(value: Any) -> Any:
    """An azapi body: an object, or (azapi v1) its JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def azapi_names(arm_type: str, parent: Any, name: Any) -> tuple[list[Any], Any]:
    """Name segments of an azapi resource below ``parent`` (an id), and its scope when it is
    an extension resource (a diagnostic setting on its target)."""
    if arm_type.lower() == resources.DIAG_SETTINGS:
        return [name], parent
    ptype, pnames = id_parts(parent)
    depth = arm_type.count("/")
    if ptype is not None and ptype.lower() == arm_type.rsplit("/", 1)[0].lower():
        return [*pnames, name], None
    if depth > 1 and pnames and ptype is None:  # a wholly unknown parent
        return [*pnames, name], None
    return [name], None


def lower_azapi(arm_type: str, names: list[Any], body: Any, where: tuple[str, int]) -> Lowered:
    """An azapi resource the rules read: its body's ``properties`` (a policy's value keeps
    where its text starts; a named value's value is never kept)."""
    found = body.get("properties") if isinstance(body, dict) else None
    props: dict[str, Any] = dict(found) if isinstance(found, dict) else {}
    origin = where
    if arm_type.lower().endswith(("/policies", "/policyfragments")):
        origin = origin_of(props.get("value")) or where
    if arm_type.lower().endswith("/namedvalues"):
        props = {"displayName": props.get("displayName")}
    return Lowered(arm_type, names, props, origin)

"""Evaluated IaC resources -> the ARM-shaped dicts :func:`auditor.sources.resources.build` reads.

Beside ``type``, ``name``, ``properties`` and ``_origin`` (see :mod:`auditor.sources.resources`),
a lowered resource carries what the evaluation could not decide:

- ``_deployment``: the deployment (entry file or root module) that declares it; a service whose
  name is not a literal is one of that deployment only;
- ``_unknown``: ``{"properties.loggerId": "<why, where>"}`` for every value that is unknown (its
  text stays in ``properties``, so names remain readable);
- ``_condition``: the condition it is deployed under, when that cannot be decided;
- ``_existing``: declared ``existing`` (or a Terraform data source): it is deployed elsewhere,
  and so may be what belongs to it.

Secrets (keys, credentials, connection strings, named-value values) are dropped before anything
is kept; a backend's managed identity (the audience it asks a token for) is not a secret.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from auditor.sources import resources
from auditor.sources.iac.values import (
    Unknown,
    first_unknown,
    is_template,
    plain,
    segments,
    text_of,
    unknown_leaves,
)

_APIM_KINDS = (
    "policies",
    "apis",
    "apis/policies",
    "apis/operations",
    "apis/operations/policies",
    "apis/diagnostics",
    "products",
    "products/policies",
    "products/apis",
    "products/apilinks",
    "policyfragments",
    "backends",
    "loggers",
    "diagnostics",
    "subscriptions",
    "namedvalues",
)
KEPT = {resources.APIM, f"{resources.APIM}/workspaces", resources.DIAG_SETTINGS} | {
    resources.ACCOUNTS,
    f"{resources.ACCOUNTS}/deployments",
    resources.COMPONENTS,
    *(f"{resources.APIM}/{w}{k}" for k in _APIM_KINDS for w in ("", "workspaces/")),
}
#: Types whose ``existing`` declarations are kept: they say a service, account or component is
#: deployed elsewhere (and so may be what belongs to it).
EXISTING_KEPT = {resources.APIM, resources.ACCOUNTS, resources.COMPONENTS}
LEGACY_DIAG = "microsoft.cognitiveservices/accounts/providers/diagnosticsettings"
# Keys holding secrets: dropped at any depth (a secret is never computed, never copied).
SECRETS = {
    "primarykey",
    "secondarykey",
    "credentials",
    "password",
    "certificatepassword",
    "encodedcertificate",
    "clientsecret",
    "instrumentationkey",
    "connectionstring",
}
#: What may stay of a backend's ``credentials`` (no secret: the audience of its managed identity).
_KEPT_CREDENTIALS = {"managedidentity"}


def scrub(value: Any) -> Any:
    """``value`` without the keys that hold secrets (at any depth)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            low = str(k).lower()
            if low == "credentials" and isinstance(v, dict):
                kept = {
                    ck: scrub(cv) for ck, cv in v.items() if str(ck).lower() in _KEPT_CREDENTIALS
                }
                if kept:
                    out[k] = kept
            elif low not in SECRETS:
                out[k] = scrub(v)
        return out
    return [scrub(v) for v in value] if isinstance(value, list) else value


def _linked_logger(props: dict[str, Any]) -> dict[str, Any]:
    """A logger's properties with ``resourceId`` taken from its credentials' reference when it
    has none: a logger given only ``appInsights.properties.ConnectionString`` writes to that
    component (the reference is followed; the secret is dropped by :func:`scrub` unread)."""
    if props.get("resourceId") is not None:
        return props
    creds = props.get("credentials")
    if not isinstance(creds, dict):
        return props
    for key, value in sorted(creds.items()):
        linked = value.of if isinstance(value, Unknown) else None
        # NOTE: only a component names where a logger writes (not a vault holding the key).
        if linked and "/providers/microsoft.insights/components/" not in linked.lower():
            linked = None
        if linked and str(key).lower() in ("connectionstring", "instrumentationkey"):
            return {**props, "resourceId": linked}
    return props


def is_policy_type(rtype: str) -> bool:
    """True for APIM policy and policy fragment resource types."""
    t = rtype.lower()
    return t.startswith(resources.APIM) and t.endswith(("/policies", "/policyfragments"))


def condition_text(cond: Unknown) -> str:
    """How a condition that cannot be decided is quoted (``if (x) ...: why, where``)."""
    at = f" at {cond.where}" if cond.where else ""
    return f"if ({cond.expr}){at}: {cond.why}"


@dataclass
class Sink:
    """What the readers of one source collect: resources, notes, and per deployment the
    reasons it was not read whole (a registry module, a loop over unknown items)."""

    out: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    partial: dict[str, list[str]] = field(default_factory=dict)

    def note(self, where: str, text: str) -> None:
        """A note at ``path:line``."""
        self.notes.append(f"{where}: {text}")

    def unread(self, deployment: str, where: str, text: str) -> None:
        """Part of ``deployment`` is not read: what it declares there is not seen."""
        self.note(where, text)
        self.partial.setdefault(deployment, []).append(f"{where}: {text}")

    def add(
        self,
        rtype: str,
        name: Any,
        props: Any,
        *,
        origin: tuple[str, int | None],
        deployment: str,
        scope: Any = None,
        condition: Unknown | None = None,
        existing: bool = False,
        lines: dict[str, int] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Lower one evaluated resource (None when the rules never read its type)."""
        where = f"{origin[0]}:{origin[1]}" if origin[1] else origin[0]
        full, t = text_of(name) if name is not None else "", rtype.lower()
        if t == LEGACY_DIAG:  # older hand-written form: "<account>/Microsoft.Insights/<setting>"
            acct, _, setting = full.partition("/")
            t, full, scope = (
                resources.DIAG_SETTINGS,
                setting.rsplit("/", 1)[-1],
                f"/accounts/{acct}",
            )
            rtype = "Microsoft.Insights/diagnosticSettings"
        if t not in KEPT or (existing and t not in EXISTING_KEPT):
            return None
        out: dict[str, Any] = {"type": rtype, "name": full}
        out["_origin"] = {"path": origin[0], "line": origin[1]}
        out["_deployment"] = deployment
        if existing:
            out["_existing"] = True
            self.out.append(out)
            return out
        if t.endswith("/loggers") and isinstance(props, dict):
            props = _linked_logger(props)
        body = scrub(props) if isinstance(props, dict) else {}
        if t.endswith("/namedvalues"):
            body = {k: v for k, v in body.items() if k.lower() not in ("value", "keyvault")}
        if is_policy_type(t):
            self._policy_text(body, where)
        missing = {path: u.reason() for path, u in unknown_leaves(body, "properties").items()}
        if isinstance(name, Unknown):
            missing["name"] = name.reason()
        out["properties"] = plain(body)
        if missing:
            out["_unknown"] = missing
        if condition is not None:
            out["_condition"] = condition_text(condition)
        if scope is not None:
            if isinstance(scope, Unknown):
                self.note(where, f"the scope of {rtype} is not known offline ({scope.reason()})")
            out["scope"] = text_of(scope)
        if lines:
            out["_lines"] = lines
        if extra:
            out.update(extra)
        self.out.append(out)
        return out

    def _policy_text(self, body: dict[str, Any], where: str) -> None:
        """A policy whose text is unknown becomes ``unresolved``; one with some unknown values
        in it (``replace(xml, '{backend-id}', param)``) keeps its text with ``${...}`` there."""
        value, fmt = body.get("value"), body.get("format")
        if isinstance(fmt, Unknown):
            body["format"] = "rawxml"
        if isinstance(value, Unknown) and is_template(value) and value.text.lstrip()[:1] == "<":
            body["value"] = dataclasses.replace(value, text=xml_safe(value.text))
            self.note(
                where,
                f"parts of the policy text are not known offline ({value.why}); "
                "they read as ${...} in it",
            )
            return
        bad = value if isinstance(value, Unknown) else first_unknown(value)
        if bad is not None or (value is not None and not isinstance(value, str)):
            why = bad.reason() if bad is not None else "the policy text is not a string"
            body.pop("value", None)
            body["unresolved"] = f"the policy text is not known offline: {why}"
            self.note(where, body["unresolved"])


_XML_SPECIAL = str.maketrans(dict.fromkeys("<>&\"'", "_"))


def xml_safe(text: str) -> str:
    """Policy text whose unknown parts (``${...}``) hold nothing XML would read as markup: an
    unknown value in an attribute or between elements must not break the document."""
    return "".join(
        piece.translate(_XML_SPECIAL) if is_expr else piece for is_expr, piece in segments(text)
    )


def pin_embedded(found: list[dict[str, Any]], texts: dict[str, str]) -> None:
    """Mark (``_origin.pinned``) every policy embedded in a string whose statements must be
    reported at the line the string starts on.

    ``texts`` maps shown paths to file text. A policy whose lines are not the file's own lines
    from its start line on (a JSON string, a single-quoted Bicep string, a variable) has no
    line structure in the file, so its XML line numbers would point at unrelated lines.
    """
    lines = {path: text.splitlines() for path, text in texts.items()}
    for res in found:
        props, origin = res.get("properties"), res.get("_origin")
        if not (isinstance(props, dict) and isinstance(origin, dict)):
            continue
        value, path, line = props.get("value"), origin.get("path"), origin.get("line")
        if isinstance(value, str) and path in lines and is_policy_type(str(res.get("type"))):
            offset = line - 1 if isinstance(line, int) and line else 0
            own = value.splitlines()
            there = lines[path][offset : offset + len(own)]
            if there != own and not _same_lines(there, own):
                origin["pinned"] = True


def _same_lines(there: list[str], own: list[str]) -> bool:
    """The lines of a text as they stand in its file, but for indentation (a Terraform ``<<-``
    heredoc strips it) and what a ``${...}`` on the line was filled with."""
    return len(there) == len(own) and all(
        a.strip() == b.strip() or "${" in a for a, b in zip(there, own, strict=True)
    )

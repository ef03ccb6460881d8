"""The estate model: what every source produces and every check reads.

Sources fill these classes; nothing downstream knows which source it was. What a source could not
see is recorded in ``Estate.provides`` (capabilities), never guessed: a check that needs an unseen
capability reports ``skip`` (an unknown verdict), never ``pass``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from auditor.policy import PolicyDoc
    from auditor.usage.measured import Usage

#: Capabilities a source may declare in ``Estate.provides``.
CAPABILITIES = (
    "policies",  # policy documents at the scopes the source knows
    "products",  # products and product-API links
    "subscriptions",  # APIM subscriptions (scope and state only)
    "diagnostics",  # APIM diagnostics (service and API scope)
    "loggers",  # APIM loggers
    "backends",  # APIM backends
    "fragments",  # policy fragments
    "ai_accounts",  # Azure OpenAI / AI Services accounts (auth, network)
    "diagnostic_settings",  # Azure Monitor diagnostic settings of those accounts
    "app_insights",  # Application Insights components (custom metrics opt-in)
)


#: What an IaC source could not compute about an object: (field, why and where) pairs.
Unknowns = tuple[tuple[str, str], ...]


def unknown_of(obj: object, name: str) -> str | None:
    """Why field ``name`` of a model object is unknown (None when it is known)."""
    found: Unknowns = getattr(obj, "unknown", ())
    for key, why in found:
        if key == name:
            return why
    return None


@dataclass(frozen=True, slots=True)
class Location:
    """A place in the source: a file path relative to the source root, and a 1-based line."""

    path: str | None
    line: int | None = None

    def __reduce__(self) -> tuple[type[Location], tuple[str | None, int | None]]:
        # NOTE: workers send back ~10^5 locations; the generic dataclass pickling is 2x slower.
        return (Location, (self.path, self.line))

    def __str__(self) -> str:
        if self.path is None:
            return "(no file)"
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True, slots=True)
class ReadError:
    """A document the source could not read. The scan goes on; dependent verdicts become unknown."""

    location: Location
    message: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """An APIM diagnostic (``applicationinsights`` or ``azuremonitor``) at service or API scope."""

    name: str
    logger: str | None
    """Logger name the diagnostic writes to (the trailing ``/loggers/<name>`` of its id)."""
    metrics: bool | None
    """``metrics: true`` is required for token metrics to land; ``None`` when absent."""
    request_headers: tuple[str, ...]
    """Header names logged on the frontend or backend request (lower-cased)."""
    body_bytes: int
    """The largest request/response body size the diagnostic logs (0 = no body logging)."""
    location: Location
    metrics_location: Location | None = None
    """Where ``metrics`` is set (or, when it is absent, where the logger is named)."""
    body_location: Location | None = None
    """Where the first non-zero body size is set."""
    unknown: Unknowns = ()
    """Fields an IaC source could not compute, with why (see :func:`unknown_of`)."""
    condition: str | None = None
    """The condition it is deployed under, quoted, when the source cannot decide it."""


@dataclass(frozen=True, slots=True)
class Logger:
    """An APIM logger. Credentials are never kept."""

    name: str
    logger_type: str | None
    resource_id: str | None
    location: Location
    unknown: Unknowns = ()
    """Fields an IaC source could not compute, with why (see :func:`unknown_of`)."""
    condition: str | None = None
    """The condition it is deployed under, quoted, when the source cannot decide it."""


@dataclass(frozen=True, slots=True)
class Backend:
    """An APIM backend: its URL or, for a pool, the names of its member backends."""

    name: str
    url: str | None
    pool: tuple[str, ...]
    location: Location
    unknown: Unknowns = ()
    """Fields an IaC source could not compute, with why (see :func:`unknown_of`)."""
    condition: str | None = None
    """The condition it is deployed under, quoted, when the source cannot decide it."""
    audience: str | None = None
    """The resource its managed identity asks a token for (``https://cognitiveservices...``)."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """An APIM subscription's scope; keys are never read."""

    name: str
    scope_kind: str
    """``all-apis``, ``api``, ``product`` or ``other``."""
    scope_name: str | None
    """The API or product name for ``api`` / ``product`` scopes."""
    active: bool
    location: Location
    unknown: Unknowns = ()
    """Fields an IaC source could not compute, with why (see :func:`unknown_of`)."""
    condition: str | None = None
    """The condition it is deployed under, quoted, when the source cannot decide it."""


@dataclass(frozen=True, slots=True)
class Operation:
    """An API operation. ``name == "*"`` stands for all operations when none are known."""

    name: str
    method: str | None
    url_template: str | None
    policy: PolicyDoc | None


@dataclass(frozen=True, slots=True)
class Product:
    """An APIM product and its policy."""

    name: str
    display_name: str
    subscription_required: bool | None
    policy: PolicyDoc | None
    location: Location
    unknown: Unknowns = ()
    """Fields an IaC source could not compute, with why (see :func:`unknown_of`)."""
    condition: str | None = None
    """The condition it is deployed under, quoted, when the source cannot decide it."""


@dataclass(frozen=True, slots=True)
class Api:
    """An APIM API (current revision) with its operations, products and API-scope diagnostics."""

    name: str
    display_name: str
    path: str | None
    service_url: str | None
    subscription_required: bool | None
    """``None`` when the source does not say (unknown, never assumed)."""
    products: tuple[str, ...]
    operations: tuple[Operation, ...]
    policy: PolicyDoc | None
    diagnostics: tuple[Diagnostic, ...]
    location: Location
    workspace: str | None = None
    api_type: str | None = None
    spec_link: str | None = None
    """The URL of a linked specification (``openapi-link``), never fetched: evidence only."""
    unknown: Unknowns = ()
    """Fields an IaC source could not compute, with why (see :func:`unknown_of`)."""
    condition: str | None = None
    """The condition it is deployed under, quoted, when the source cannot decide it."""

    def policy_docs(self) -> list[PolicyDoc]:
        """The API's own policy documents: its policy and its operations' policies."""
        return [d for d in (self.policy, *(o.policy for o in self.operations)) if d is not None]


@dataclass(frozen=True, slots=True)
class Service:
    """One APIM service and everything that decides attribution for its APIs."""

    name: str
    policy: PolicyDoc | None
    apis: tuple[Api, ...]
    products: dict[str, Product] = field(default_factory=dict)
    fragments: dict[str, PolicyDoc] = field(default_factory=dict)
    backends: dict[str, Backend] = field(default_factory=dict)
    loggers: dict[str, Logger] = field(default_factory=dict)
    diagnostics: tuple[Diagnostic, ...] = ()
    subscriptions: tuple[Subscription, ...] = ()
    named_values: tuple[str, ...] = ()
    """Names only: values are never read into the model."""
    workspace_policies: dict[str, PolicyDoc] = field(default_factory=dict)
    elsewhere: tuple[str, ...] = ()
    """Why what belongs to the service may be declared outside this source (it is declared
    ``existing``, or not at all; a module of its deployment was not read): nothing is then
    said not to exist, only to be unseen."""
    deployment: str | None = None
    """The deployment (entry file or root module) of a service whose name is not a literal."""
    deployments: tuple[str, ...] = ()
    """Every deployment that declares something of the service."""

    def policy_docs(self) -> list[PolicyDoc]:
        """The service-level policy documents: global, fragments, products, workspaces."""
        docs = (
            self.policy,
            *self.fragments.values(),
            *(p.policy for p in self.products.values()),
            *self.workspace_policies.values(),
        )
        return [d for d in docs if d is not None]

    def all_policy_docs(self) -> list[PolicyDoc]:
        """Every policy document of the service: its own, then each API's."""
        docs = self.policy_docs()
        for api in self.apis:
            docs += api.policy_docs()
        return docs


@dataclass(frozen=True, slots=True)
class AiAccount:
    """An Azure OpenAI / AI Services account: what decides whether callers can bypass APIM."""

    name: str
    hosts: tuple[str, ...]
    """Endpoint hosts (lower-cased), custom subdomain included."""
    disable_local_auth: bool | None
    public_network_access: str | None
    network_default_action: str | None
    location: Location
    unknown: Unknowns = ()
    """Fields an IaC source could not compute, with why (see :func:`unknown_of`)."""
    condition: str | None = None
    """The condition it is deployed under, quoted, when the source cannot decide it."""
    deployment: str | None = None
    """The deployment it belongs to, when its name is not a literal (it is only that one's)."""


@dataclass(frozen=True, slots=True)
class DiagnosticSetting:
    """An Azure Monitor diagnostic setting on an AI account."""

    name: str
    account: str
    workspace_id: str | None
    categories: tuple[str, ...]
    category_groups: tuple[str, ...]
    location: Location
    unknown: Unknowns = ()
    """Fields an IaC source could not compute, with why (see :func:`unknown_of`)."""
    condition: str | None = None
    """The condition it is deployed under, quoted, when the source cannot decide it."""
    deployment: str | None = None
    """The deployment it belongs to, when its name is not a literal (it is only that one's)."""


@dataclass(frozen=True, slots=True)
class AppInsights:
    """An Application Insights component that APIM loggers may write to."""

    name: str
    resource_id: str
    custom_metrics: str | None
    """``CustomMetricsOptedInType``: ``WithDimensions`` keeps token-metric dimensions."""
    location: Location
    unknown: Unknowns = ()
    """Fields an IaC source could not compute, with why (see :func:`unknown_of`)."""
    condition: str | None = None
    """The condition it is deployed under, quoted, when the source cannot decide it."""
    deployment: str | None = None
    """The deployment it belongs to, when its name is not a literal (it is only that one's)."""


@dataclass(frozen=True, slots=True)
class Estate:
    """Everything one source showed, plus what it could not see or read."""

    source_kind: str
    location: str
    services: tuple[Service, ...]
    provides: frozenset[str]
    read_errors: tuple[ReadError, ...] = ()
    ai_accounts: tuple[AiAccount, ...] = ()
    diagnostic_settings: tuple[DiagnosticSetting, ...] = ()
    app_insights: tuple[AppInsights, ...] = ()
    notes: tuple[str, ...] = ()
    usage: Usage | None = None
    """Measured usage of a period (``--usage``), when it was collected or replayed."""
    replayed: Mapping[str, Any] | None = None
    """For a snapshot replay: the snapshot ``file``, when it was taken (``taken_at``) and the
    ``git`` state of the source it was taken from (see :mod:`auditor.provenance`)."""


def ordered_notes(notes: Iterable[str]) -> list[str]:
    """Notes once each, in file order: the notes of a scan in parts, each written by the process
    that evaluated what it is about, then come out as those of one process."""
    return sorted(set(notes), key=note_order)


def note_order(note: str) -> tuple[str, int, str]:
    """Notes in file order: ``path:line: text`` by path and line number, then text."""
    m = re.match(r"([^:\n]+):(\d+): ", note)
    return (m[1], int(m[2]), note) if m else (note, 0, note)

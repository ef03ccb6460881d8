"""Deciding, from evidence, whether an API fronts an LLM. Every reason is recorded.

An API is an LLM API when something says so: its backend is a model endpoint (an LLM host, or
an Azure AI account the IaC names without its URL), its policy uses the gateway's LLM policies or
asks a token for Cognitive Services, its operations are model calls, its spec is the Azure OpenAI
inference spec, or its path or name says ``openai``, ``inference``, ``llm`` or ``models``. An MCP
or agent-to-agent server is not one (its ``POST /messages/`` is an event stream, not a model call)
unless its backend is a model endpoint. When nothing says so but what could say so is not known
(a backend URL, a policy or a name the source computes at deployment), the API is *undecided*:
listed with that evidence, every verdict unknown, never dropped.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlparse

from auditor.model import Api, Operation, Service, unknown_of
from auditor.policy import PolicyDoc, local_name

LLM_HOST_SUFFIXES = (
    ".openai.azure.com",
    ".cognitiveservices.azure.com",
    ".services.ai.azure.com",
    ".openai.azure.us",
    ".openai.azure.cn",
    ".inference.ai.azure.com",
    ".models.ai.azure.com",
)
LLM_HOSTS = (
    "api.openai.com",
    "api.anthropic.com",
    "generativelanguage.googleapis.com",
    "api.mistral.ai",
    "api.cohere.com",
    "api.groq.com",
)
_LLM_PATH = re.compile(
    r"/(chat/completions|completions|embeddings|responses|images/(generations|edits)|audio/"
    r"(transcriptions|translations|speech)|deployments/[^/]+/|realtime)\b"
    r"|:(stream)?generateContent\b|/converse(-stream)?\b|/api/(generate|chat)\b",
    re.IGNORECASE,
)
_LLM_POLICIES = ("llm-", "azure-openai-")
#: Audiences a managed identity asks a token for when it calls a model.
_MODEL_AUDIENCES = ("cognitiveservices.azure.com", "ai.azure.com")
#: Words of a path or name that say "model endpoint" (whole words of it).
_LLM_WORDS = re.compile(
    r"(?:^|[^a-z0-9])(openai|aoai|inference|llms?|models?|gpt[\w.-]*|chat|completions?|"
    r"gemini|ollama|bedrock|llama|mistral|deepseek|phi-?\d?|slm|foundry-models?)(?:$|[^a-z0-9])",
    re.IGNORECASE,
)
#: Azure AI services that are not language models: their APIs share Cognitive Services hosts
#: and token audiences with Azure OpenAI, so those alone do not make them LLM APIs.
_OTHER_AI = re.compile(
    r"(?:^|[^a-z0-9])(document-?intelligence|docintel|form-?recogni[sz]er|translator|"
    r"content-?safety|computer-?vision|vision|face|text-?analytics|language-?service|ai-?search|"
    r"search(-?index|-?service)?|ml-?prediction)(?:$|[^a-z0-9])",
    re.IGNORECASE,
)
#: Hosts of Azure AI that serve other services too (Document Intelligence, Speech ...).
_SHARED_HOSTS = (".cognitiveservices.azure.com",)
#: Words that say "MCP or agent server" (its event stream is not a model call).
_SERVER_WORDS = re.compile(r"(?:^|[^a-z0-9])(mcp|a2a|agent-card)(?:$|[^a-z0-9])", re.IGNORECASE)
_SERVER_PATHS = re.compile(r"^/?(mcp|sse|messages/?|\.well-known/agent\.json)$", re.IGNORECASE)
#: An Azure AI account named by an unknown value (its URL is only known once deployed).
_ACCOUNT_REF = re.compile(
    r"Microsoft\.CognitiveServices/accounts|azurerm_(cognitive_account|ai_services)|"
    r"azapi_resource[.\w]*cognitive",
    re.IGNORECASE,
)
#: A linked spec of a model API: Azure OpenAI's inference spec, or an OpenAI-shaped one (not any
#: Cognitive Services data-plane spec: Content Safety's is one too).
_AOAI_SPEC = re.compile(r"AzureOpenAI/|/openai[/.-]|ModelInference|AIFoundry", re.I)


def llm_host(url: str | None) -> str | None:
    """The host of ``url`` when it is a known LLM endpoint."""
    if not url or url.lstrip().startswith("@") or "${" in url.split("/")[2 if "://" in url else 0]:
        return None
    try:
        host = (urlparse(url if "://" in url else f"https://{url}").hostname or "").lower()
    except ValueError:
        return None
    if host in LLM_HOSTS or host.endswith(LLM_HOST_SUFFIXES):
        return host
    return None


def _plain_host(url: str) -> str | None:
    """The host of a literal URL that shows no sign of a model endpoint, else None.

    NOTE: a gateway often reaches Azure OpenAI through a custom domain, a proxy or a private
    address; such a URL still says ``/openai`` or ``/deployments/...`` in its path, and an IP
    address or a name without dots says nothing either way, so none of them is "plain"."""
    if "{{" in url or "${" in url or url.lstrip().startswith("@") or llm_host(url):
        return None
    try:
        parsed = urlparse(url if "://" in url else f"https://{url}")
        host = parsed.hostname or ""
    except ValueError:
        return None
    if "." not in host or host.replace(".", "").isdigit() or ":" in host:
        return None
    if _LLM_WORDS.search(f"{host} {parsed.path}") or _LLM_PATH.search(parsed.path):
        return None
    return host


@dataclass
class Scoping:
    """Whether an API fronts an LLM, and why."""

    evidence: list[str] = field(default_factory=list)
    """What says it does (strong evidence first)."""
    shared: list[str] = field(default_factory=list)
    """What says it calls an Azure AI service, which may or may not be a model (a Cognitive
    Services host or token audience)."""
    other_ai: list[str] = field(default_factory=list)
    """What says it is another Azure AI service (Document Intelligence, Search ...)."""
    weak: list[str] = field(default_factory=list)
    """What its path or name says."""
    against: list[str] = field(default_factory=list)
    """What says it is an MCP or agent server."""
    unresolved: list[str] = field(default_factory=list)
    """What could say and is not known offline."""
    plain_backend: str | None = None
    """The serviceUrl's host when it is known, not a model endpoint, and no policy routes the
    calls elsewhere: a Cognitive Services token alone does not make such an API a model API."""

    @property
    def status(self) -> str:
        """``llm``, ``undecided`` or ``other``."""
        if self.evidence and not (self.against and not self._host_evidence()):
            return "llm"
        if self.against or self.other_ai:
            return "other"
        if self.weak or (self.shared and not self.plain_backend):
            return "llm"
        if self.shared:
            return "other"
        return "undecided" if self.unresolved else "other"

    def _host_evidence(self) -> bool:
        return any(
            e.startswith(("serviceUrl host", "set-backend-service", "backend"))
            for e in self.evidence
        )

    def reasons(self) -> list[str]:
        """The evidence as the report lists it."""
        status = self.status
        if status == "llm":
            return self.evidence or self.shared or self.weak
        if status == "undecided":
            return [f"not known offline: {u}" for u in self.unresolved]
        against = [*self.against, *self.other_ai]
        if not against and self.shared and self.plain_backend:
            against = [
                f"its calls go to {self.plain_backend}, not a model endpoint, whatever token "
                f"they carry ({'; '.join(self.shared)})"
            ]
        return [f"not an LLM API: {a}" for a in against]


def _policy_evidence(
    doc: PolicyDoc | None, service: Service, found: Scoping, seen: set[str]
) -> None:
    if doc is None:
        return
    if doc.root is None:
        if doc.unseen and doc.error:
            found.unresolved.append(f"the {doc.scope} policy ({doc.error})")
        return
    for el in doc.root.iter():
        tag = local_name(el)
        if tag.startswith(_LLM_POLICIES) and f"policy:{tag}" not in seen:
            seen.add(f"policy:{tag}")
            found.evidence.append(f"policy <{tag}> at {doc.location(el)}")
        elif tag == "authentication-managed-identity":
            resource = (el.get("resource") or "").lower()
            if any(a in resource for a in _MODEL_AUDIENCES) and "policy:mi" not in seen:
                seen.add("policy:mi")
                found.shared.append(
                    f"managed identity token for {el.get('resource')} at {doc.location(el)}"
                )
        elif tag == "set-backend-service":
            seen.add("routed")
            _backend_evidence(el.get("base-url"), el.get("backend-id"), doc, el, service, found)
        elif tag == "include-fragment":
            frag = service.fragments.get(el.get("fragment-id") or "")
            if frag is not None and frag is not doc:
                _policy_evidence(frag, service, found, seen)


def _backend_evidence(
    base: str | None,
    bid: str | None,
    doc: PolicyDoc,
    el: object,
    service: Service,
    found: Scoping,
) -> None:
    at = doc.location(el)  # type: ignore[arg-type]
    if host := llm_host(base):
        _host(found, host, f"set-backend-service base-url host {host} at {at}")
    elif base and "${" in base:
        found.unresolved.append(f"the backend URL {base} at {at}")
    if not bid:
        return
    if "${" in bid:
        found.unresolved.append(f"the backend id {bid} at {at}")
        return
    for backend in backend_chain(service, bid):
        if host := llm_host(backend.url):
            _host(found, host, f"set-backend-service backend '{bid}' -> {host} at {at}")
            return
        if backend.audience and any(a in backend.audience.lower() for a in _MODEL_AUDIENCES):
            found.shared.append(
                f"backend '{backend.name}' authenticates to {backend.audience} ({backend.location})"
            )
            return
        why = unknown_of(backend, "url")
        if why and _ACCOUNT_REF.search(why):
            _account(found, why, f"backend '{backend.name}' URL is an Azure AI account's endpoint")
            return
        if why or (backend.url and "${" in backend.url):
            found.unresolved.append(f"backend '{backend.name}' URL ({why or backend.url})")
            if backend.url and _LLM_WORDS.search(backend.url.rsplit("}", 1)[-1]):
                found.weak.append(f"backend '{backend.name}' URL {backend.url}")
    if bid not in service.backends:
        found.unresolved.append(f"backend '{bid}' at {at} (not declared in this source)")


_KIND = re.compile(r"\(kind (\w+)\)")
_MODEL_KINDS = {"openai", "aiservices"}


def _host(found: Scoping, host: str, text: str) -> None:
    """A backend host: a model endpoint, or a Cognitive Services host any service may have."""
    (found.shared if host.endswith(_SHARED_HOSTS) else found.evidence).append(text)


def _account(found: Scoping, why: str, text: str) -> None:
    """A backend that is an Azure AI account's endpoint: by the account's kind when known."""
    kind = m.group(1).lower() if (m := _KIND.search(why)) else None
    if kind in _MODEL_KINDS:
        found.evidence.append(f"{text} ({why})")
    elif kind is None:
        found.shared.append(f"{text} ({why})")
    else:
        found.other_ai.append(f"an Azure AI account of kind {kind} ({why})")


#: Methods that read or delete what a model made but never run one (a realtime session
#: opens with a GET, but its path says so).
_READ_METHODS = {"GET", "DELETE", "HEAD", "OPTIONS"}


def model_call(op: Operation) -> bool:
    """Whether an operation of an LLM API may run a model: not a GET or DELETE of a path that
    is no model endpoint (``GET /deployments``, ``GET /assistants``, ``DELETE /files/{id}``),
    unless its own policy turns it into one (another method, a rewrite to a model path, a
    request of its own) or cannot be read."""
    method = (op.method or "").upper()
    if method not in _READ_METHODS or _LLM_PATH.search(op.url_template or ""):
        return True
    doc = op.policy
    if doc is None:
        return False
    if doc.root is None:
        return True
    for el in doc.root.iter():
        tag = local_name(el)
        if tag in ("set-method", "send-request", "include-fragment"):
            return True
        if tag == "rewrite-uri" and _LLM_PATH.search("/" + (el.get("template") or "")):
            return True
    return False


def backend_chain(service: Service, name: str, depth: int = 0) -> list:  # type: ignore[type-arg]
    """The backend called ``name`` and its pool members (followed)."""
    backend = service.backends.get(name)
    if backend is None or depth > 3:
        return []
    out = [backend]
    for member in backend.pool:
        out.extend(backend_chain(service, member, depth + 1))
    return out


def backend_urls(service: Service, name: str, depth: int = 0) -> list[str]:
    """URLs behind a backend name (pool members followed)."""
    return [b.url for b in backend_chain(service, name, depth) if b.url]


def scoping(api: Api, service: Service) -> Scoping:
    """The evidence on whether ``api`` fronts an LLM."""
    found = Scoping()
    if host := llm_host(api.service_url):
        _host(found, host, f"serviceUrl host {host}")
    elif why := unknown_of(api, "service_url"):
        if _ACCOUNT_REF.search(why):
            _account(found, why, "serviceUrl is an Azure AI account's endpoint")
        else:
            found.unresolved.append(f"the service URL ({why})")
    seen: set[str] = set()
    _policy_evidence(api.policy, service, found, seen)
    llm_ops, server_ops = [], []
    for op in api.operations:
        template = op.url_template or ""
        if _LLM_PATH.search(template):
            llm_ops.append(f"operation {op.name} {op.method or ''} {template}".replace("  ", " "))
        elif _SERVER_PATHS.match(template.strip()):
            server_ops.append(template)
        _policy_evidence(op.policy, service, found, seen)
    found.evidence += llm_ops
    if api.spec_link and _AOAI_SPEC.search(api.spec_link):
        found.evidence.append(f"specification {api.spec_link}")
    elif (why := unknown_of(api, "spec")) and not api.operations:
        found.unresolved.append(f"the specification ({why})")
    words = " ".join(w for w in (api.path, api.name, api.display_name) if w)
    if m := _OTHER_AI.search(words.replace("${", " ")):
        found.other_ai.append(f"'{m.group(1)}' in its path or name ({words})")
    if api.api_type and api.api_type.lower() == "mcp" and not llm_ops:
        found.against.append(f"an API of type '{api.api_type}'")
    if m := _SERVER_WORDS.search(words):
        found.against.append(f"'{m.group(1)}' in its path or name ({words})")
    elif server_ops and len(server_ops) == len(api.operations):
        found.against.append(f"MCP endpoints {', '.join(sorted(set(server_ops)))}")
    if m := _LLM_WORDS.search(words.replace("${", " ")):
        found.weak.append(f"'{m.group(1)}' in its path or name ({words})")
    elif (path := api.path or "") and _LLM_PATH.search("/" + path):
        found.weak.append(f"API path {path}")
    for name in ("name", "path"):
        if why := unknown_of(api, name):
            found.unresolved.append(f"the API {name} ({why})")
    if "routed" not in seen and api.service_url and not unknown_of(api, "service_url"):
        found.plain_backend = _plain_host(api.service_url)
    known_ops = all(op.url_template and "${" not in op.url_template for op in api.operations)
    if api.operations and known_ops and not llm_ops and not found.evidence and not found.shared:
        found.unresolved.clear()  # its operations are known, and none is a model call
    return found


def llm_evidence(api: Api, service: Service) -> list[str]:
    """Reasons to believe the API fronts an LLM (empty when there are none)."""
    found = scoping(api, service)
    return list(dict.fromkeys(found.reasons())) if found.status == "llm" else []


def in_scope(name: str, include: Sequence[str], exclude: Sequence[str]) -> bool | None:
    """Scope patterns from rules.yaml: True/False when a pattern decides, None otherwise."""
    if any(fnmatch.fnmatchcase(name, pat) for pat in exclude):
        return False
    if any(fnmatch.fnmatchcase(name, pat) for pat in include):
        return True
    return None

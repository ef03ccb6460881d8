"""Deciding, from evidence, whether an API fronts an LLM. Every reason is recorded."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from urllib.parse import urlparse

from auditor.model import Api, Service
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
    r"/(chat/completions|completions|embeddings|responses|images/generations|audio/"
    r"(transcriptions|translations|speech)|messages)\b",
    re.IGNORECASE,
)
_LLM_POLICIES = ("llm-", "azure-openai-")


def llm_host(url: str | None) -> str | None:
    """The host of ``url`` when it is a known LLM endpoint."""
    if not url or url.lstrip().startswith("@"):
        return None
    try:
        host = (urlparse(url if "://" in url else f"https://{url}").hostname or "").lower()
    except ValueError:
        return None
    if host in LLM_HOSTS or host.endswith(LLM_HOST_SUFFIXES):
        return host
    return None


def _policy_evidence(doc: PolicyDoc | None, service: Service, seen: set[str]) -> list[str]:
    if doc is None or doc.root is None:
        return []
    out: list[str] = []
    for el in doc.root.iter():
        tag = local_name(el)
        if tag.startswith(_LLM_POLICIES) and f"policy:{tag}" not in seen:
            seen.add(f"policy:{tag}")
            out.append(f"policy <{tag}> at {doc.location(el)}")
        elif tag == "set-backend-service":
            base = el.get("base-url")
            if host := llm_host(base):
                out.append(f"set-backend-service base-url host {host} at {doc.location(el)}")
            bid = el.get("backend-id")
            if bid:
                for member in backend_urls(service, bid):
                    if host := llm_host(member):
                        out.append(
                            f"set-backend-service backend '{bid}' -> {host} at {doc.location(el)}"
                        )
                        break
        elif tag == "include-fragment":
            frag = service.fragments.get(el.get("fragment-id") or "")
            if frag is not None and frag is not doc:
                out.extend(_policy_evidence(frag, service, seen))
    return out


def backend_urls(service: Service, name: str, depth: int = 0) -> list[str]:
    """URLs behind a backend name (pool members followed)."""
    backend = service.backends.get(name)
    if backend is None or depth > 3:
        return []
    urls = [backend.url] if backend.url else []
    for member in backend.pool:
        urls.extend(backend_urls(service, member, depth + 1))
    return urls


def llm_evidence(api: Api, service: Service) -> list[str]:
    """Reasons to believe the API fronts an LLM (empty when there are none)."""
    evidence: list[str] = []
    if host := llm_host(api.service_url):
        evidence.append(f"serviceUrl host {host}")
    seen: set[str] = set()
    evidence.extend(_policy_evidence(api.policy, service, seen))
    for op in api.operations:
        if op.url_template and _LLM_PATH.search(op.url_template):
            evidence.append(
                f"operation {op.name} {op.method or ''} {op.url_template}".replace("  ", " ")
            )
        evidence.extend(_policy_evidence(op.policy, service, seen))
    if not api.operations and _LLM_PATH.search(api.path or ""):
        evidence.append(f"API path {api.path}")
    return list(dict.fromkeys(evidence))


def in_scope(name: str, include: Sequence[str], exclude: Sequence[str]) -> bool | None:
    """Scope patterns from rules.yaml: True/False when a pattern decides, None otherwise."""
    if any(fnmatch.fnmatchcase(name, pat) for pat in exclude):
        return False
    if any(fnmatch.fnmatchcase(name, pat) for pat in include):
        return True
    return None

"""Faults and paging of the live scan: what a failed reply says, and which links and ids to follow.

A reply that is not a success never raises: it becomes the reason a part of the estate is
reported as not audited. Paging follows ``nextLink`` only on the Resource Manager endpoint itself
(a link to another host would receive the bearer token) and stops, with a reason, when a link
repeats or the page count runs away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

MAX_PAGES = 10_000
"""Pages of one collection before the scan assumes a paging loop."""
_BAD_NAME = re.compile(r"[/?#%\\]|^\.{1,2}$")


@dataclass(frozen=True, slots=True)
class Reply:
    """One GET: the status (0 when no response came), the JSON body and, if failed, why."""

    status: int
    body: Any
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True for a 2xx reply."""
        return 200 <= self.status < 300


class NotRead(Exception):
    """A collection could not be read completely; the message says why."""


def describe(status: int, body: Any) -> str:
    """``403 AuthorizationFailed: <message>`` from an ARM error body, on one line."""
    code, message = "", ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or "")
        message = " ".join(str(error.get("message") or "").split())
    text = f"{status} {code}".strip()
    hint = {
        401: "the token was not accepted",
        403: "the identity lacks read permission (Reader role)",
        404: "not found",
        429: "throttled by Resource Manager; retries exhausted",
    }.get(status)
    if status >= 500:
        hint = "Resource Manager failed; retries exhausted"
    detail = message[:240] if message else (hint or "")
    return f"{text}: {detail}" if detail else text


def items_of(body: Any) -> list[dict[str, Any]]:
    """The objects of a collection page (``{"value": [...]}``)."""
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise NotRead("the reply is not a collection (no 'value' list)")
    return [item for item in body["value"] if isinstance(item, dict)]


class PageTrail:
    """The nextLinks of one collection; refuses loops and links off the endpoint."""

    def __init__(self, endpoint: str, api_version: str) -> None:
        self._host = urlsplit(endpoint).netloc.lower()
        self._api_version = api_version
        self._seen: set[str] = set()

    def next_url(self, body: Any) -> str | None:
        """The absolute URL of the next page, or None at the end."""
        link = body.get("nextLink") if isinstance(body, dict) else None
        if not link:
            return None
        if not isinstance(link, str):
            raise NotRead("nextLink is not a string")
        parts = urlsplit(link)
        if parts.scheme or parts.netloc:
            if parts.scheme.lower() != "https" or parts.netloc.lower() != self._host:
                raise NotRead(f"nextLink leads off the Resource Manager endpoint ({parts.netloc})")
        elif not link.startswith("/"):
            raise NotRead("nextLink is not a Resource Manager URL")
        # NOTE: the query is kept byte for byte: skip tokens are opaque and re-encoding them
        # (a '+' read back as a space) would corrupt them.
        query = parts.query
        if "api-version=" not in query.lower():
            query = (
                f"{query}&api-version={self._api_version}"
                if query
                else (f"api-version={self._api_version}")
            )
        url = urlunsplit(("https", self._host, parts.path, query, ""))
        if url in self._seen:
            raise NotRead("paging loop: Resource Manager returned the same nextLink twice")
        if len(self._seen) >= MAX_PAGES:
            raise NotRead(f"more than {MAX_PAGES} pages; assuming a paging loop")
        self._seen.add(url)
        return url


def name_ok(name: Any) -> bool:
    """A name that can be a path segment as it is (no slashes, dots-only or escapes)."""
    return isinstance(name, str) and bool(name) and not _BAD_NAME.search(name)


def quote_name(name: str) -> str:
    """A name as one URL path segment."""
    return quote(name, safe="")


def arm_id(value: Any, provider_type: str) -> str | None:
    """``value`` when it is a plain ARM id of ``provider_type`` (case-insensitive), else None.

    NOTE: ids read from Resource Manager (logger targets, accounts) become request paths; only
    well-formed ones are followed, so data cannot steer a request elsewhere.
    """
    if not isinstance(value, str):
        return None
    parts = value.split("/")
    pattern = (
        rf"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/{re.escape(provider_type)}/[^/]+$"
    )
    if not re.match(pattern, value, re.IGNORECASE) or not all(name_ok(p) for p in parts[1:]):
        return None
    return value

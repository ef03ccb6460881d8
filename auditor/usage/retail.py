"""``auditor prices update``: the Azure Retail Prices API, read page by page, as a price table.

The API is public and unauthenticated (no token is ever sent). The filter is the one the facts
doc recommends: ``serviceName eq 'Foundry Models' and priceType eq 'Consumption'`` (the Azure
OpenAI meters moved to that service name; ``'Azure OpenAI'`` matches nothing), optionally one
region. Both ``1K`` and ``1M`` meters are kept (a ``unitOfMeasure eq '1K'`` filter would drop
every newer meter). Pages are followed through ``NextPageLink`` on the same host; the page size
is not documented (100 or 1,000, UNCONFIRMED), and the link was once reported missing, so a
page as full as the first one without a link is followed with ``$skip`` instead.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from auditor.errors import AuditorError
from auditor.usage.prices import PriceTable, from_retail

ENDPOINT = "https://prices.azure.com/api/retail/prices"
MAX_PAGES = 2_000


class RetailError(AuditorError):
    """The Retail Prices API could not be read."""


@dataclass
class Fetched:
    """What an update read: the items, and how (pages, requests)."""

    items: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    url: str = ""


def _context(ca_bundle: str | None) -> ssl.SSLContext:
    cafile = ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    return ssl.create_default_context(cafile=cafile or None)


def _filter(region: str | None) -> str:
    parts = ["serviceName eq 'Foundry Models'", "priceType eq 'Consumption'"]
    if region:
        # NOTE: with api-version 2023-01-01-preview filter values are case-sensitive; ARM
        # region names are lower case.
        parts.append(f"armRegionName eq '{region.lower()}'")
    return " and ".join(parts)


def fetch(
    endpoint: str = ENDPOINT,
    *,
    region: str | None = None,
    currency: str = "USD",
    ca_bundle: str | None = None,
    timeout: float = 60.0,
    opener: Callable[..., Any] | None = None,
) -> Fetched:
    """Every Consumption item of ``Foundry Models`` (of one region, if given)."""
    parts = urlsplit(endpoint)
    if parts.scheme != "https" or not parts.netloc:
        raise RetailError(f"the Retail Prices endpoint must be an https:// URL, not '{endpoint}'")
    query = {"currencyCode": currency.upper(), "$filter": _filter(region)}
    first = f"{endpoint}?{urlencode(query)}"
    context = _context(ca_bundle)
    open_url = opener or urllib.request.urlopen
    out = Fetched(url=first)
    url: str | None = first
    seen: set[str] = set()
    page_size = 0
    linked = False
    while url:
        if url in seen:
            raise RetailError("paging loop: the API returned the same NextPageLink twice")
        if len(seen) >= MAX_PAGES:
            raise RetailError(f"more than {MAX_PAGES} pages; assuming a paging loop")
        seen.add(url)
        body = _get(open_url, url, context, timeout)
        items = body.get("Items")
        if not isinstance(items, list):
            raise RetailError(f"{url}: the reply has no 'Items' list")
        out.items.extend(i for i in items if isinstance(i, dict))
        out.pages += 1
        page_size = page_size or len(items)
        link = body.get("NextPageLink")
        if isinstance(link, str) and link:
            nxt = urlsplit(link)
            if nxt.scheme != "https" or nxt.netloc.lower() != parts.netloc.lower():
                raise RetailError(f"NextPageLink leads off the Retail Prices host ({nxt.netloc})")
            url = link
            linked = True
        elif not linked and page_size and len(items) == page_size:
            url = f"{endpoint}?{urlencode(query | {'$skip': str(len(out.items))})}"
        else:
            url = None
    return out


def _get(open_url: Callable[..., Any], url: str, context: ssl.SSLContext, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with open_url(request, timeout=timeout, context=context) as response:
            data = response.read()
    except urllib.error.HTTPError as exc:
        raise RetailError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RetailError(f"cannot reach the Retail Prices API ({reason})") from exc
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise RetailError(f"{url}: the reply is not JSON") from exc
    if not isinstance(body, dict):
        raise RetailError(f"{url}: the reply is not an object")
    return body


def update(
    endpoint: str = ENDPOINT,
    *,
    region: str | None = None,
    currency: str = "USD",
    ca_bundle: str | None = None,
    today: str | None = None,
) -> tuple[PriceTable, Fetched]:
    """A fresh table from the Retail Prices API, and what was read to make it."""
    fetched = fetch(endpoint, region=region, currency=currency, ca_bundle=ca_bundle)
    as_of = today or datetime.now(UTC).date().isoformat()
    where = f"region {region}" if region else "every region"
    table = from_retail(
        fetched.items,
        source=f"Azure Retail Prices API ({endpoint}), Foundry Models, Consumption, {where}, "
        f"read {as_of}",
        location=endpoint,
        kind="file",
        as_of=as_of,
    )
    return table, fetched

"""Where the live scan signs in: the Resource Manager endpoint and the credential.

``--cloud`` picks the standard endpoint and Entra ID authority; ``--arm-endpoint`` replaces the
endpoint (the token is then asked for ``<endpoint>/.default``). The credential is
``DefaultAzureCredential``: ``AZURE_TOKEN_CREDENTIALS=dev`` / ``prod`` narrow its chain, natively
from azure-identity 1.23 on and by explicit ``exclude_*`` flags before that.

Testing hook: ``AUDITOR_TEST_STATIC_TOKEN=<token>`` replaces sign-in with that fixed bearer token,
and is honoured only when the endpoint is a loopback address (a local fake Resource Manager), so
a made-up token is never sent to Azure.
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken, TokenCredential

from auditor.errors import SourceError

TEST_TOKEN_ENV = "AUDITOR_TEST_STATIC_TOKEN"
"""Fixed bearer token for tests; honoured only for a loopback ``--arm-endpoint``."""

CLOUDS: dict[str, tuple[str, str]] = {
    "public": ("https://management.azure.com", "login.microsoftonline.com"),
    "usgov": ("https://management.usgovcloudapi.net", "login.microsoftonline.us"),
    "china": ("https://management.chinacloudapi.cn", "login.chinacloudapi.cn"),
}
"""Resource Manager endpoint and Entra ID authority host of each ``--cloud``."""

_DEV = ("cli", "developer_cli", "powershell", "visual_studio_code", "shared_token_cache")
_PROD = ("environment", "workload_identity", "managed_identity")
_NATIVE_TOKEN_CREDENTIALS = (1, 23)
"""azure-identity version from which DefaultAzureCredential reads AZURE_TOKEN_CREDENTIALS."""


def resolve_endpoint(cloud: str, arm_endpoint: str | None) -> str:
    """The Resource Manager base URL (``https://host[:port]``) for the options."""
    if not arm_endpoint:
        if cloud not in CLOUDS:
            raise SourceError(f"unknown cloud '{cloud}' (use {', '.join(CLOUDS)})")
        return CLOUDS[cloud][0]
    parts = urlsplit(arm_endpoint.strip())
    if parts.scheme.lower() != "https" or not parts.hostname:
        # NOTE: the bearer token must never travel in clear text.
        raise SourceError(f"--arm-endpoint must be an https:// URL, not '{arm_endpoint}'")
    if parts.path.strip("/") or parts.query or parts.fragment or parts.username:
        raise SourceError(
            f"--arm-endpoint must be a bare https://host[:port], not '{arm_endpoint}'"
        )
    return f"https://{parts.netloc.lower()}"


def is_loopback(endpoint: str) -> bool:
    """True when the endpoint's host is this machine (127.0.0.0/8, ::1 or localhost)."""
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class StaticTokenCredential:
    """A credential that always returns the same token (tests and the loopback test hook)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The fixed token, valid for an hour from now."""
        return AccessToken(self._token, int(time.time()) + 3600)


class CachedCredential:
    """Caches tokens per scope and pins the tenant.

    NOTE: the token is fetched once up front (to fail early with a clear message) and then by the
    pipeline; without the cache a developer credential would run ``az`` twice. A CAE challenge
    (``claims``) always goes to the wrapped credential.
    """

    def __init__(self, inner: TokenCredential, tenant: str | None = None) -> None:
        self._inner = inner
        self._tenant = tenant
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, ...], AccessToken] = {}

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """A cached token while it has more than five minutes left."""
        if self._tenant:
            kwargs.setdefault("tenant_id", self._tenant)
        with self._lock:
            cached = self._tokens.get(scopes)
            if cached and "claims" not in kwargs and cached.expires_on - 300 > time.time():
                return cached
            token = self._inner.get_token(*scopes, **kwargs)
            self._tokens[scopes] = token
            return token


def _identity_version() -> tuple[int, int]:
    try:
        major, minor, *_ = metadata.version("azure-identity").split(".")
        return int(major), int(minor)
    except (metadata.PackageNotFoundError, ValueError):
        return (0, 0)


def chain_exclusions(env_value: str, version: tuple[int, int]) -> dict[str, bool]:
    """Explicit ``exclude_*`` flags for AZURE_TOKEN_CREDENTIALS on azure-identity < 1.23.

    Newer versions read the variable themselves, and explicit flags would override it.
    """
    value = env_value.strip().lower()
    if version >= _NATIVE_TOKEN_CREDENTIALS or value not in ("dev", "prod"):
        return {}
    excluded = _PROD if value == "dev" else _DEV
    return {f"exclude_{name}_credential": True for name in excluded}


def make_credential(endpoint: str, cloud: str, tenant: str | None) -> tuple[TokenCredential, str]:
    """The credential for a scan, and a note naming it."""
    static = os.environ.get(TEST_TOKEN_ENV)
    if static and is_loopback(endpoint):
        return StaticTokenCredential(static), f"live: {TEST_TOKEN_ENV} used (loopback endpoint)"
    from azure.identity import DefaultAzureCredential

    authority = CLOUDS.get(cloud, CLOUDS["public"])[1]
    kwargs: dict[str, Any] = {"authority": authority}
    kwargs |= chain_exclusions(os.environ.get("AZURE_TOKEN_CREDENTIALS", ""), _identity_version())
    if tenant:
        # NOTE: DefaultAzureCredential takes no tenant_id; the tenant is asked for per token
        # (CachedCredential) and must be allowed for credentials configured with another one.
        kwargs["additionally_allowed_tenants"] = [tenant]
        kwargs["interactive_browser_tenant_id"] = tenant
        kwargs["shared_cache_tenant_id"] = tenant
        kwargs["visual_studio_code_tenant_id"] = tenant
    note = "live: signed in with DefaultAzureCredential"
    if static:
        note += f" ({TEST_TOKEN_ENV} ignored: the endpoint is not loopback)"
    try:
        return DefaultAzureCredential(**kwargs), note
    except ValueError as exc:  # e.g. an unknown AZURE_TOKEN_CREDENTIALS value
        raise SourceError(f"cannot set up Azure sign-in: {exc}") from exc

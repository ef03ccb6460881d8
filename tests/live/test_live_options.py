"""Options, endpoints and credentials of the live scan (no network)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from auditor.errors import SourceError
from auditor.sources import live
from auditor.sources.live import credentials
from auditor.sources.live.faults import NotRead, PageTrail


def test_from_args_reads_the_cli_options() -> None:
    args = argparse.Namespace(
        subscription=["a", "b", "a"],
        resource_group="rg",
        apim="svc",
        tenant="t",
        cloud="usgov",
        arm_endpoint=None,
        concurrency=4,
    )
    opts = live.LiveOptions.from_args(args)
    assert opts.subscriptions == ("a", "b")
    assert (opts.resource_group, opts.apim, opts.tenant, opts.cloud) == ("rg", "svc", "t", "usgov")
    assert opts.concurrency == 4 and opts.arm_endpoint is None
    assert "resource group rg" in opts.describe()


@pytest.mark.parametrize(
    ("cloud", "endpoint"),
    [
        ("public", "https://management.azure.com"),
        ("usgov", "https://management.usgovcloudapi.net"),
        ("china", "https://management.chinacloudapi.cn"),
    ],
)
def test_clouds_pick_their_endpoints(cloud: str, endpoint: str) -> None:
    assert credentials.resolve_endpoint(cloud, None) == endpoint


def test_arm_endpoint_overrides_and_must_be_https() -> None:
    assert (
        credentials.resolve_endpoint("public", "https://ARM.local:8443/")
        == "https://arm.local:8443"
    )
    for bad in ("http://127.0.0.1:1", "https://x/sub/path", "ftp://x", "https://x/?q=1"):
        with pytest.raises(SourceError):
            credentials.resolve_endpoint("public", bad)


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(SourceError, match="concurrency"):
        live.load(live.LiveOptions(concurrency=0))
    with pytest.raises(SourceError, match="subscription id"):
        live.load(live.LiveOptions(subscriptions=("../x",)))


def test_static_token_is_honoured_only_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(credentials.TEST_TOKEN_ENV, "tok")
    cred, note = credentials.make_credential("https://127.0.0.1:9", "public", None)
    assert isinstance(cred, credentials.StaticTokenCredential)
    assert cred.get_token("s").token == "tok"
    cred, note = credentials.make_credential("https://management.azure.com", "public", None)
    assert not isinstance(cred, credentials.StaticTokenCredential)
    assert "ignored" in note
    assert credentials.is_loopback("https://localhost:1") and credentials.is_loopback(
        "https://[::1]:2"
    )
    assert not credentials.is_loopback("https://127.0.0.1.example.com")


def test_token_credentials_dev_narrows_old_identity_versions() -> None:
    dev = credentials.chain_exclusions("dev", (1, 19))
    assert dev == {
        "exclude_environment_credential": True,
        "exclude_workload_identity_credential": True,
        "exclude_managed_identity_credential": True,
    }
    assert "exclude_cli_credential" in credentials.chain_exclusions("prod", (1, 19))
    # native support from 1.23: explicit flags would override the variable, so none are given
    assert credentials.chain_exclusions("dev", (1, 27)) == {}
    assert credentials.chain_exclusions("", (1, 19)) == {}


def test_dev_chain_has_no_managed_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(credentials.TEST_TOKEN_ENV, raising=False)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "dev")
    cred, _ = credentials.make_credential("https://management.azure.com", "public", "tenant-1")
    kinds = {type(c).__name__ for c in getattr(cred, "credentials", ())}
    assert "ManagedIdentityCredential" not in kinds and "EnvironmentCredential" not in kinds
    assert "AzureCliCredential" in kinds


def test_cached_credential_pins_the_tenant_and_caches() -> None:
    calls: list[dict[str, Any]] = []

    class Inner:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            calls.append(kwargs)
            return AccessToken("t", 2**40)

    cred = credentials.CachedCredential(Inner(), "tenant-1")
    cred.get_token("scope")
    cred.get_token("scope")
    assert calls == [{"tenant_id": "tenant-1"}]
    cred.get_token("scope", claims="x")  # a CAE challenge always asks again
    assert len(calls) == 2


def test_page_trail_refuses_other_hosts_and_repeats() -> None:
    trail = PageTrail("https://arm.local", "2024-05-01")
    assert trail.next_url({"value": []}) is None
    url = trail.next_url({"nextLink": "https://ARM.local/x?$skiptoken=a+b%2F"})
    assert url == "https://arm.local/x?$skiptoken=a+b%2F&api-version=2024-05-01"
    with pytest.raises(NotRead, match="same nextLink twice"):
        trail.next_url({"nextLink": "https://arm.local/x?$skiptoken=a+b%2F"})
    with pytest.raises(NotRead, match="leads off"):
        trail.next_url({"nextLink": "https://evil.example/x"})
    with pytest.raises(NotRead, match="leads off"):
        trail.next_url({"nextLink": "http://arm.local/y"})
    assert (
        trail.next_url({"nextLink": "/rel?api-version=1"}) == "https://arm.local/rel?api-version=1"
    )

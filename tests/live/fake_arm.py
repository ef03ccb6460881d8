"""A fake Azure Resource Manager on 127.0.0.1 (HTTPS, test CA from trustme) for the live scan.

It serves ARM-shaped resources (as :func:`auditor.sources.snapshot.to_resources` writes them) at
their REST paths: item GETs, collection lists ``{"value": [...], "nextLink": ...}`` (paged when
asked), policies at ``.../policies/policy?format=rawxml`` and the subscription/provider lists. It
plants secret canaries where real ARM returns secrets (subscription keys, named-value values,
logger instrumentation keys, backend credentials, App Insights keys) and serves the secret
endpoints (``listSecrets``, ``listValue``, ``listKeys``) so that reaching them would leak.

Faults are injectable per path pattern (status, Retry-After and other headers, ARM error code,
extra delay, how many times), as are latency, page sizes, paging loops and rate-limit headers.
Every request is recorded (method, path, query) and the peak of requests in flight is tracked.
Only loopback is ever bound; nothing here talks to the network.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import trustme

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-contoso-ai-gateway"
TOKEN = "fake-arm-token"
CANARIES = {
    "subscription_key": "canary-subscription-primary-key-5f1d",
    "named_value": "canary-named-value-secret-77aa",
    "backend_credential": "canary-backend-api-key-0c3e",
    "backend_proxy": "canary-backend-proxy-password-91b2",
    "logger_key": "canary-logger-instrumentation-key-4e8d",
    "component_key": "canary-appinsights-instrumentation-key-2a6f",
    "account_key": "canary-openai-account-key-d00d",
}
SECRET_ACTIONS = ("listsecrets", "listvalue", "listkeys", "/register", "getssotoken")

_APIM = "Microsoft.ApiManagement/service"
_CHILDREN = {
    "service": (
        "apis",
        "products",
        "subscriptions",
        "policyFragments",
        "loggers",
        "backends",
        "diagnostics",
        "workspaces",
        "namedValues",
        "policies",
    ),
    "workspaces": (
        "apis",
        "products",
        "subscriptions",
        "policyFragments",
        "loggers",
        "backends",
        "namedValues",
        "policies",
    ),
    "apis": ("operations", "diagnostics", "policies"),
    "operations": ("policies",),
    "products": ("apiLinks", "policies"),
}


@dataclass
class Fault:
    """An injected answer for requests whose path matches ``pattern``."""

    pattern: re.Pattern[str]
    status: int
    headers: dict[str, str]
    code: str
    times: int | None
    delay: float = 0.0
    method: str | None = None


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Item:
    path: str
    body: dict[str, Any]
    is_policy: bool = False


@dataclass
class FakeArm:
    """The fake Resource Manager. ``start()`` it, point the scan at ``url``, ``stop()`` it."""

    resources: list[dict[str, Any]]
    latency: float = 0.0
    page_size: int | None = None
    subscription: str = SUB
    resource_group: str = RG
    token: str = TOKEN
    ratelimit_remaining: int | None = None
    requests: list[Recorded] = field(default_factory=list)
    max_in_flight: int = 0
    _in_flight: int = 0
    _faults: list[Fault] = field(default_factory=list)
    _pages: dict[str, int] = field(default_factory=dict)
    _loops: set[str] = field(default_factory=set)
    _foreign: set[str] = field(default_factory=set)
    _items: dict[str, _Item] = field(default_factory=dict)
    _collections: dict[str, list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: _Server | None = None
    url: str = ""
    ca_path: str = ""

    # ------------------------------------------------------------------ configuration

    def fail(
        self,
        pattern: str,
        status: int,
        *,
        times: int | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
        delay: float = 0.0,
        method: str | None = None,
    ) -> None:
        """Answer requests whose path matches ``pattern`` (regex, case-insensitive)."""
        default = {
            401: "InvalidAuthenticationToken",
            403: "AuthorizationFailed",
            404: "ResourceNotFound",
            409: "MissingSubscriptionRegistration",
            429: "TooManyRequests",
        }.get(status, "InternalServerError")
        self._faults.append(
            Fault(
                re.compile(pattern, re.I),
                status,
                headers or {},
                code or default,
                times,
                delay,
                method,
            )
        )

    def paginate(self, pattern: str, size: int) -> None:
        """Serve collections matching ``pattern`` in pages of ``size``."""
        self._pages[pattern] = size

    def loop(self, pattern: str) -> None:
        """Collections matching ``pattern`` (paged by 1) repeat their second nextLink forever."""
        self._loops.add(pattern)
        self._pages[pattern] = 1

    def foreign_next(self, pattern: str) -> None:
        """Collections matching ``pattern`` (paged by 1) link their next page on another host."""
        self._foreign.add(pattern)
        self._pages[pattern] = 1

    # ------------------------------------------------------------------ lifecycle

    def start(self, workdir: Path) -> FakeArm:
        """Generate the test CA and server certificate, then serve on a free loopback port."""
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_path = str(workdir / "fake-arm-ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        server = _Server(("127.0.0.1", 0), _handler(self))
        # NOTE: the handshake happens in the connection's own thread (first read), so a slow
        # client never blocks accept() for the others.
        server.socket = ctx.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        self._server = server
        self.url = f"https://127.0.0.1:{server.server_address[1]}"
        self._index()
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ------------------------------------------------------------------ queries

    def gets(self) -> list[Recorded]:
        """The recorded requests (a copy)."""
        with self._lock:
            return list(self.requests)

    def reset(self) -> None:
        """Forget recorded requests and the in-flight peak."""
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    # ------------------------------------------------------------------ the estate

    @property
    def rg_path(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"

    def _add(self, path: str, body: dict[str, Any], *, policy: bool = False) -> None:
        self._items[path.lower()] = _Item(path, body, policy)
        parent, _, _ = path.rpartition("/")
        self._collections.setdefault(parent.lower(), []).append(path.lower())
        last_type = parent.rsplit("/", 1)[-1]
        for child in _CHILDREN.get(last_type, ()):
            self._collections.setdefault(f"{path}/{child}".lower(), [])

    def _index(self) -> None:
        sub = f"/subscriptions/{self.subscription}"
        prov = f"{self.rg_path}/providers"
        self._collections["/subscriptions"] = []
        self._add(
            sub,
            {
                "id": sub,
                "subscriptionId": self.subscription,
                "displayName": "fake",
                "state": "Enabled",
            },
        )
        self._collections.pop(f"/subscriptions/{self.subscription}".lower(), None)
        self._collections["/subscriptions"] = [sub.lower()]
        for r in sorted(self.resources, key=lambda r: str(r.get("type")).lower() != _APIM.lower()):
            rtype = str(r.get("type") or "")
            low = rtype.lower()
            if low.startswith(_APIM.lower()):
                self._apim(r, prov)
            elif low == "microsoft.cognitiveservices/accounts":
                self._account(r, prov)
            elif low == "microsoft.insights/diagnosticsettings":
                acct = str(r.get("scope") or "").rstrip("/").rsplit("/", 1)[-1]
                path = (
                    f"{prov}/Microsoft.CognitiveServices/accounts/{acct}"
                    f"/providers/Microsoft.Insights/diagnosticSettings/{r['name']}"
                )
                self._add(path, self._body(path, r, r.get("properties") or {}))
            elif low == "microsoft.insights/components":
                self._component(r, prov)
        for scope in (sub, self.rg_path):
            services = [p for p in self._items if re.search(r"/service/[^/]+$", p)]
            self._collections[f"{scope}/providers/{_APIM}".lower()] = services
            accounts = [p for p in self._items if re.search(r"/accounts/[^/]+$", p)]
            self._collections[f"{scope}/providers/Microsoft.CognitiveServices/accounts".lower()] = (
                accounts
            )

    def _body(self, path: str, r: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": path,
            "type": r.get("type"),
            "name": path.rsplit("/", 1)[-1],
            "properties": props,
        }

    def _apim(self, r: dict[str, Any], prov: str) -> None:
        segs = str(r["type"]).split("/")[1:]
        names = str(r["name"]).split("/")
        props = dict(r.get("properties") or {})
        if segs[-1].lower() == "apis" and len(segs) >= 3 and segs[-2].lower() == "products":
            # products/apis (APIOps layout) -> the ARM apiLinks resource
            ws = segs[1].lower() == "workspaces"
            api_path = f"{prov}/Microsoft.ApiManagement/service/{names[0]}"
            if ws:
                api_path += f"/workspaces/{names[1]}"
            api_path += f"/apis/{names[-1]}"
            segs = [*segs[:-1], "apiLinks"]
            names = [*names[:-1], f"{names[-1]}-link"]
            props = {"apiId": api_path}
        path = f"{prov}/Microsoft.ApiManagement" + "".join(
            f"/{s}/{n}" for s, n in zip(segs, names, strict=True)
        )
        svc = f"{prov}/Microsoft.ApiManagement/service/{names[0]}"
        kind = segs[-1].lower()
        is_policy = kind in ("policies", "policyfragments")
        if is_policy and ("unresolved" in props or "value" not in props):
            return
        if kind == "diagnostics" and str(props.get("loggerId") or "").startswith("/loggers/"):
            props["loggerId"] = svc + props["loggerId"]
        if kind == "subscriptions":
            scope = str(props.get("scope") or "")
            props |= {
                "scope": svc + scope if scope.startswith("/") else scope,
                "primaryKey": CANARIES["subscription_key"],
                "secondaryKey": CANARIES["subscription_key"] + "-2",
                "ownerId": f"{svc}/users/1",
            }
        if kind == "loggers" and str(props.get("loggerType")).lower() == "applicationinsights":
            props["credentials"] = {"instrumentationKey": CANARIES["logger_key"]}
        if kind == "backends":
            pool = props.get("pool")
            if isinstance(pool, dict):
                props["pool"] = {
                    "services": [
                        {"id": svc + m["id"] if str(m.get("id", "")).startswith("/") else m["id"]}
                        for m in pool.get("services", [])
                    ]
                }
                props["type"] = "Pool"
            props["credentials"] = {
                "header": {"api-key": [CANARIES["backend_credential"]]},
                "authorization": {"scheme": "Basic", "parameter": CANARIES["backend_credential"]},
            }
            props["proxy"] = {"url": "http://proxy", "password": CANARIES["backend_proxy"]}
        if kind == "namedvalues":
            props = {"displayName": names[-1], "secret": False, "value": CANARIES["named_value"]}
        if kind == "apis":
            props.setdefault("isCurrent", True)
        self._add(path, self._body(path, r, props), policy=is_policy)

    def _account(self, r: dict[str, Any], prov: str) -> None:
        path = f"{prov}/Microsoft.CognitiveServices/accounts/{r['name']}"
        props = dict(r.get("properties") or {})
        props["privateEndpointConnections"] = []
        props["apiProperties"] = {"key": CANARIES["account_key"]}
        body = self._body(path, r, props) | {"kind": r.get("kind") or "OpenAI"}
        self._add(path, body)
        self._collections.setdefault(
            f"{path}/providers/Microsoft.Insights/diagnosticSettings".lower(), []
        )

    def _component(self, r: dict[str, Any], prov: str) -> None:
        name = str(r["name"])
        path = f"{prov}/Microsoft.Insights/components/{name}"
        for other in self.resources:
            rid = str((other.get("properties") or {}).get("resourceId") or "")
            if rid.lower().endswith(f"/components/{name.lower()}") and rid.startswith(
                "/subscriptions/"
            ):
                path = rid
        props = dict(r.get("properties") or {})
        props["InstrumentationKey"] = CANARIES["component_key"]
        props["ConnectionString"] = f"InstrumentationKey={CANARIES['component_key']};"
        self._add(path, self._body(path, r, props))

    # ------------------------------------------------------------------ serving

    def answer(
        self, method: str, raw_path: str, headers: Any, body: bytes = b""
    ) -> tuple[int, dict[str, str], Any]:
        """Status, headers and JSON body for one request."""
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self._lock:
            self.requests.append(Recorded(method, path, query, body, dict(headers.items())))
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            return self._answer(method, path, query, headers, body)
        finally:
            with self._lock:
                self._in_flight -= 1

    def injected(self, method: str, path: str) -> tuple[int, dict[str, str], Any] | None:
        """The answer of the first fault matching the request, if any (consumed once)."""
        for fault in self._faults:
            if fault.method and fault.method != method:
                continue
            if fault.pattern.search(path) and (fault.times is None or fault.times > 0):
                if fault.times is not None:
                    fault.times -= 1
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.status == 200:
                    return None
                return (
                    fault.status,
                    fault.headers,
                    {"error": {"code": fault.code, "message": f"injected {fault.status}"}},
                )
        return None

    def _error(self, status: int, code: str, message: str) -> tuple[int, dict[str, str], Any]:
        return status, {}, {"error": {"code": code, "message": message}}

    def _answer(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes = b""
    ) -> tuple[int, dict[str, str], Any]:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(401, "InvalidAuthenticationToken", "bad token")
        injected = self.injected(method, path)
        if injected is not None:
            return injected
        low = path.lower()
        if method != "GET":
            if any(action in low for action in SECRET_ACTIONS):
                return (
                    200,
                    {},
                    {"value": CANARIES["named_value"], "primaryKey": CANARIES["subscription_key"]},
                )
            return self._error(405, "MethodNotAllowed", method)
        extra = (
            {"x-ms-ratelimit-remaining-subscription-reads": str(self.ratelimit_remaining)}
            if self.ratelimit_remaining is not None
            else {}
        )
        item = self._items.get(low)
        if item is not None:
            body = item.body
            if item.is_policy and query.get("format") != "rawxml":
                body = body | {"properties": body["properties"] | {"format": "xml"}}
            return 200, extra, body
        members = self._collections.get(low)
        if members is None:
            return self._error(404, "ResourceNotFound", f"{path} not found")
        return 200, extra, self._page(path, low, members, query)

    def _page(self, path: str, low: str, members: list[str], query: dict[str, str]) -> Any:
        size = next((n for p, n in self._pages.items() if re.search(p, path, re.I)), None)
        size = size or self.page_size or max(1, len(members))
        start = int(query.get("$skiptoken", "0") or 0)
        chunk = members[start : start + size]
        out: dict[str, Any] = {"value": [self._items[m].body for m in chunk]}
        version = query.get("api-version", "")
        if start + size < len(members) or any(re.search(p, path, re.I) for p in self._loops):
            nxt = start + size
            if any(re.search(p, path, re.I) for p in self._loops):
                nxt = 1  # the second page points to itself: the same nextLink twice
            host = self.url
            if any(re.search(p, path, re.I) for p in self._foreign):
                host = "https://attacker.example"
            out["nextLink"] = f"{host}{path}?api-version={version}&$skiptoken={nxt}"
        return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # NOTE: a client that gave up (read timeout tests) closes mid-response; that is expected.
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def _handler(fake: FakeArm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # NOTE: headers and body leave in two writes; with Nagle on, the client's delayed ACK
        # would add ~40 ms to every response.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            sent = self.rfile.read(length) if length else b""
            status, headers, body = fake.answer(self.command, self.path, self.headers, sent)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    return Handler

# ruff: noqa: E501  (the policy templates keep realistic, long rawxml lines)
"""Benchmark ``auditor scan`` on generated APIOps estates of N APIs.

Usage::

    python bench/bench_scan.py [--sizes 1000 10000] [--ops 5] [--keep DIR] [--repeat 3]

For every size the script generates an APIOps extractor tree (not timed) and measures:

a. wall time of the full scan in a fresh subprocess
   (``python -m auditor scan DIR --format json -o out.json --fail-on never``), best of ``--repeat``;
b. the in-process split, serial and with the cyclic GC off as in the CLI: load (``sources.load``), run (``engine.run``) and report
   (``report.to_dict`` + the JSON renderer);
c. the parse floor: ``lxml.etree.fromstring`` over the same policy.xml files, already escaped by
   ``auditor.xmlread.escape_expressions`` (rawxml does not parse bare), and, for comparison,
   escape + parse through ``auditor.xmlread.parse_policy``;
d. ``auditor --version`` wall time in a subprocess, best of 5;
e. whether any ``azure*`` or ``textual*`` module is imported by an in-process scan.

Before timing, the project's modules are compiled to bytecode, as ``pip install`` does: every run
then starts as an installed tool starts. Where ``PYTHONDONTWRITEBYTECODE`` is set and the project
is installed in editable mode, each run would otherwise compile some 70 modules from source first
(about 0.05 s); the header line says which was the case.

Only the standard library, lxml and the project itself are used.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

# --------------------------------------------------------------------------------------------
# Targets printed next to the figures.
TARGET_SCAN_S = 2.0  # N=1,000 scan wall time, on a 2-core machine
TARGET_SCAN_OVER_PARSE = 1.5  # N=1,000 scan wall time / bare lxml parse time
TARGET_VERSION_S = 0.2  # `auditor --version`
TARGET_N = 1000

# --------------------------------------------------------------------------------------------
# Estate generator. Layout follows auditor/sources/apiops.py (APIOps extractor v6+) and the
# style of auditor/demo/contoso-ai-gateway. Policies are written "rawxml" style: C# expressions
# keep their raw quotes, '<', '>' and '&&' (not well-formed XML until escaped).

SERVICE = "contoso-ai-gateway"
PRODUCTS = ("team-finance", "team-marketing", "partners")
TEAMS = ("finance", "marketing", "research", "support", "sales", "legal", "hr")
REGIONS = ("eastus", "westus", "swedencentral")

# (operationId, method, url template, summary)
BASE_OPERATIONS = (
    (
        "chat-completions-create",
        "post",
        "/deployments/{deployment-id}/chat/completions",
        "Creates a completion for the chat message",
    ),
    (
        "completions-create",
        "post",
        "/deployments/{deployment-id}/completions",
        "Creates a completion for the provided prompt",
    ),
    (
        "embeddings-create",
        "post",
        "/deployments/{deployment-id}/embeddings",
        "Get a vector representation of a given input",
    ),
    (
        "image-generations-create",
        "post",
        "/deployments/{deployment-id}/images/generations",
        "Generates a batch of images from a text caption",
    ),
    ("responses-create", "post", "/responses", "Creates a model response"),
)

GLOBAL_POLICY = """<policies>
	<inbound>
		<set-variable name="deployment" value="@(context.Request.MatchedParameters.GetValueOrDefault("deployment-id", ""))" />
		<set-header name="x-gateway-environment" exists-action="override">
			<value>{{environment-name}}</value>
		</set-header>
		<cors allow-credentials="false">
			<allowed-origins>
				<origin>https://portal.contoso.com</origin>
			</allowed-origins>
		</cors>
	</inbound>
	<backend>
		<forward-request />
	</backend>
	<outbound />
	<on-error>
		<set-header name="x-error-source" exists-action="override">
			<value>@(context.LastError.Source ?? "gateway")</value>
		</set-header>
	</on-error>
</policies>
"""

FRAGMENTS = {
    "llm-metering": (
        "Emits LLM token metrics with payer dimensions to Application Insights.",
        """<fragment>
	<llm-emit-token-metric namespace="contoso-ai">
		<dimension name="Subscription ID" />
		<dimension name="Product ID" />
		<dimension name="API ID" />
		<dimension name="Deployment" value="@((string)context.Variables.GetValueOrDefault<string>("deployment", "unknown"))" />
		<dimension name="Team" value="@(context.Variables.GetValueOrDefault<string>("team", "unallocated"))" />
	</llm-emit-token-metric>
</fragment>
""",
    ),
    "attribution-header": (
        "Stamps the forwarded request with the calling subscription for log correlation.",
        """<fragment>
	<set-header name="x-attribution-id" exists-action="override">
		<value>@(context.Subscription?.Id ?? "anonymous")</value>
	</set-header>
</fragment>
""",
    ),
}

PRODUCT_POLICIES = {
    "team-finance": """<policies>
	<inbound>
		<base />
		<llm-token-limit counter-key="@(context.Subscription.Id)" tokens-per-minute="20000" estimate-prompt-tokens="false" remaining-tokens-header-name="x-ratelimit-remaining-tokens" />
	</inbound>
	<backend>
		<base />
	</backend>
	<outbound>
		<base />
	</outbound>
	<on-error>
		<base />
	</on-error>
</policies>
""",
    "team-marketing": """<policies>
	<inbound>
		<base />
		<rate-limit-by-key calls="600" renewal-period="60" counter-key="@(context.Request.Headers.GetValueOrDefault("x-team", "anonymous"))" />
		<set-header name="x-cost-centre" exists-action="override">
			<value>CC-4410</value>
		</set-header>
	</inbound>
	<backend>
		<base />
	</backend>
	<outbound>
		<base />
	</outbound>
	<on-error>
		<base />
	</on-error>
</policies>
""",
    # No <base /> in inbound: the global inbound statements are dropped for partner calls.
    "partners": """<policies>
	<inbound>
		<quota-by-key calls="100000" renewal-period="2592000" counter-key="@(context.Subscription?.Key ?? context.Request.IpAddress)" />
		<include-fragment fragment-id="llm-metering" />
	</inbound>
	<backend>
		<base />
	</backend>
	<outbound>
		<base />
	</outbound>
	<on-error>
		<base />
	</on-error>
</policies>
""",
}


def _tail() -> str:
    return """	<backend>
		<base />
	</backend>
	<outbound>
		<base />
	</outbound>
	<on-error>
		<base />
	</on-error>
</policies>
"""


def api_policy(i: int, team: str) -> str:
    """Six API policy shapes, rotated so every check has real statements to look at."""
    variant = i % 6
    if variant == 0:  # metered through fragments, team from a caller header (spoofable)
        return f"""<policies>
	<!-- {team}: attribution by subscription, team tag from the caller -->
	<inbound>
		<base />
		<include-fragment fragment-id="attribution-header" />
		<set-variable name="team" value="@(context.Request.Headers.GetValueOrDefault("x-team", "unknown"))" />
		<include-fragment fragment-id="llm-metering" />
		<set-backend-service backend-id="aoai-pool" />
	</inbound>
{_tail()}"""
    if variant == 1:  # no <base /> in inbound, no on-error section
        return f"""<policies>
	<inbound>
		<set-header name="x-attribution-id" exists-action="skip">
			<value>@(context.Request.Headers.GetValueOrDefault("x-team", "unknown"))</value>
		</set-header>
		<include-fragment fragment-id="llm-metering" />
		<set-backend-service base-url="https://contoso-{REGIONS[i % 3]}.openai.azure.com/openai" />
	</inbound>
	<backend>
		<base />
	</backend>
	<outbound>
		<base />
	</outbound>
</policies>
"""
    if variant == 2:  # streamed requests rejected in a choose, metering otherwise
        return f"""<policies>
	<inbound>
		<base />
		<include-fragment fragment-id="attribution-header" />
		<choose>
			<when condition="@(context.Request.Body.As<JObject>(preserveContent: true)["stream"]?.Value<bool>() == true)">
				<return-response>
					<set-status code="400" reason="Bad Request" />
					<set-header name="Content-Type" exists-action="override">
						<value>application/json</value>
					</set-header>
					<set-body>{{"error": {{"code": "StreamingNotAllowed", "message": "Send the request with stream set to false."}}}}</set-body>
				</return-response>
			</when>
			<otherwise>
				<set-variable name="team" value="@(context.Product?.Name ?? "{team}")" />
				<include-fragment fragment-id="llm-metering" />
			</otherwise>
		</choose>
		<set-backend-service backend-id="aoai-{REGIONS[i % 2]}" />
	</inbound>
{_tail()}"""
    if variant == 3:  # custom metering to Event Hub from the response body
        return f"""<policies>
	<inbound>
		<base />
		<include-fragment fragment-id="attribution-header" />
		<set-variable name="team" value="@(context.Subscription.Name)" />
	</inbound>
	<backend>
		<base />
	</backend>
	<outbound>
		<base />
		<log-to-eventhub logger-id="usage-hub">@{{
			var body = context.Response.Body.As<JObject>(preserveContent: true);
			var usage = body?["usage"];
			var ok = context.Response.StatusCode >= 200 && context.Response.StatusCode < 300;
			return new JObject(
				new JProperty("timestamp", DateTime.UtcNow.ToString("o")),
				new JProperty("requestId", context.RequestId.ToString()),
				new JProperty("subscriptionId", context.Subscription.Id),
				new JProperty("team", context.Variables.GetValueOrDefault<string>("team", "{team}")),
				new JProperty("apiId", context.Api.Id),
				new JProperty("ok", ok),
				new JProperty("model", (string)body?["model"] ?? ""),
				new JProperty("promptTokens", usage?["prompt_tokens"]?.Value<int>() ?? 0),
				new JProperty("completionTokens", usage?["completion_tokens"]?.Value<int>() ?? 0),
				new JProperty("totalTokens", usage?["total_tokens"]?.Value<int>() ?? 0)
			).ToString(Newtonsoft.Json.Formatting.None);
		}}</log-to-eventhub>
	</outbound>
	<on-error>
		<base />
	</on-error>
</policies>
"""
    if variant == 4:  # Entra token, payer from a validated claim, priority routing
        return f"""<policies>
	<inbound>
		<base />
		<validate-jwt header-name="Authorization" failed-validation-httpcode="401" output-token-variable-name="jwt">
			<openid-config url="https://login.microsoftonline.com/{{{{tenant-id}}}}/v2.0/.well-known/openid-configuration" />
			<audiences>
				<audience>api://{{{{client-app-id}}}}</audience>
			</audiences>
		</validate-jwt>
		<set-variable name="team" value="@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("appid", "unknown"))" />
		<set-header name="x-attribution-id" exists-action="override">
			<value>@((string)context.Variables["team"])</value>
		</set-header>
		<include-fragment fragment-id="llm-metering" />
		<choose>
			<when condition="@(context.Request.Headers.GetValueOrDefault("x-priority", "") == "high" && context.Product != null)">
				<set-backend-service backend-id="aoai-eastus" />
			</when>
			<otherwise>
				<set-backend-service backend-id="aoai-westus" />
			</otherwise>
		</choose>
	</inbound>
{_tail()}"""
    # variant 5: metering only for non-streamed calls, retry container in backend
    return """<policies>
	<inbound>
		<base />
		<set-header name="x-correlation-id" exists-action="override">
			<value>@(context.RequestId.ToString())</value>
		</set-header>
		<choose>
			<when condition="@(!(context.Request.Body.As<JObject>(preserveContent: true)["stream"]?.Value<bool>() ?? false))">
				<llm-emit-token-metric namespace="contoso-ai">
					<dimension name="Subscription ID" />
					<dimension name="Client IP" value="@(context.Request.IpAddress)" />
				</llm-emit-token-metric>
			</when>
		</choose>
	</inbound>
	<backend>
		<retry condition="@(context.Response.StatusCode == 429 || context.Response.StatusCode >= 500)" count="3" interval="2" first-fast-retry="true">
			<forward-request buffer-request-body="true" />
		</retry>
	</backend>
	<outbound>
		<base />
	</outbound>
	<on-error>
		<base />
	</on-error>
</policies>
"""


def operation_policy(i: int, k: int, op_id: str) -> str:
    """Operation policies: mostly thin, some override, one in eleven drops <base />."""
    variant = (i + k) % 11
    if variant == 10:  # no <base /> in inbound: every parent inbound statement is dropped
        return """<policies>
	<inbound>
		<set-query-parameter name="api-version" exists-action="override">
			<value>2024-10-21</value>
		</set-query-parameter>
	</inbound>
	<backend>
		<base />
	</backend>
	<outbound>
		<base />
	</outbound>
	<on-error>
		<base />
	</on-error>
</policies>
"""
    if variant in (3, 7):
        return f"""<policies>
	<inbound>
		<base />
		<set-variable name="op-started" value="@(DateTime.UtcNow.ToString("o"))" />
		<choose>
			<when condition="@(context.Request.Url.Query.GetValueOrDefault("api-version", "") == "")">
				<set-query-parameter name="api-version" exists-action="override">
					<value>2024-10-21</value>
				</set-query-parameter>
			</when>
		</choose>
		<set-header name="x-operation" exists-action="override">
			<value>{op_id}</value>
		</set-header>
	</inbound>
{_tail()}"""
    if variant == 5:  # token metric in outbound, where it does nothing
        return """<policies>
	<inbound>
		<base />
	</inbound>
	<backend>
		<base />
	</backend>
	<outbound>
		<base />
		<llm-emit-token-metric namespace="contoso-ai-outbound">
			<dimension name="API ID" />
			<dimension name="Caller" value="@(context.Request.Headers.GetValueOrDefault("x-caller", "unknown"))" />
		</llm-emit-token-metric>
	</outbound>
	<on-error>
		<base />
	</on-error>
</policies>
"""
    return """<policies>
	<inbound>
		<base />
		<set-query-parameter name="api-version" exists-action="skip">
			<value>2024-10-21</value>
		</set-query-parameter>
	</inbound>
""" + _tail()


def operations(n_ops: int) -> list[tuple[str, str, str, str]]:
    ops = list(BASE_OPERATIONS[:n_ops])
    for k in range(len(ops), n_ops):
        ops.append((f"batch-{k}-get", "get", f"/batches/{{batch-id}}/items/{k}", f"Batch item {k}"))
    return ops


def specification(api: str, team: str, path: str, ops: list[tuple[str, str, str, str]]) -> str:
    lines = [
        "openapi: 3.0.1",
        "info:",
        f"  title: {api}",
        f"  description: Azure OpenAI endpoints for the {team} team.",
        "  version: '2024-10-21'",
        "servers:",
        f"  - url: https://{SERVICE}.azure-api.net/{path}",
        "paths:",
    ]
    for op_id, method, template, summary in ops:
        lines += [
            f"  '{template}':",
            f"    {method}:",
            f"      summary: {summary}",
            f"      operationId: {op_id}",
            "      parameters:",
        ]
        if "{deployment-id}" in template:
            lines += [
                "        - name: deployment-id",
                "          in: path",
                "          required: true",
                "          schema:",
                "            type: string",
            ]
        if "{batch-id}" in template:
            lines += [
                "        - name: batch-id",
                "          in: path",
                "          required: true",
                "          schema:",
                "            type: string",
            ]
        lines += [
            "        - name: api-version",
            "          in: query",
            "          required: true",
            "          schema:",
            "            type: string",
            "            example: '2024-10-21'",
        ]
        if method == "post":
            lines += [
                "      requestBody:",
                "        content:",
                "          application/json:",
                "            schema:",
                "              type: object",
                "              properties:",
                "                stream:",
                "                  type: boolean",
                "                  default: false",
            ]
        lines += [
            "      responses:",
            "        '200':",
            "          description: OK",
        ]
    lines += [
        "components:",
        "  securitySchemes:",
        "    apiKeyHeader:",
        "      type: apiKey",
        "      name: Ocp-Apim-Subscription-Key",
        "      in: header",
        "security:",
        "  - apiKeyHeader: []",
    ]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _json(path: Path, data: object) -> None:
    _write(path, json.dumps(data, indent=2) + "\n")


def api_products(i: int) -> tuple[str, ...]:
    if i % 10 == 9:
        return ()  # in no product: only the product-less route exists
    return (("team-finance",), ("team-marketing",), ("team-finance", "partners"))[i % 3]


def generate(root: Path, n_apis: int, n_ops: int) -> None:
    """Write an APIOps artifacts root with ``n_apis`` APIs of ``n_ops`` operations each."""
    root.mkdir(parents=True, exist_ok=True)
    _write(root / "policy.xml", GLOBAL_POLICY)
    for name, (desc, xml) in FRAGMENTS.items():
        folder = root / "policy fragments" / name
        _write(folder / "policy.xml", xml)
        _json(folder / "policyFragmentInformation.json", {"properties": {"description": desc}})
    for name in PRODUCTS:
        folder = root / "products" / name
        _write(folder / "policy.xml", PRODUCT_POLICIES[name])
        _json(
            folder / "productInformation.json",
            {
                "properties": {
                    "displayName": name.replace("-", " ").title(),
                    "description": f"Azure OpenAI access for {name}.",
                    "state": "published",
                    "subscriptionRequired": True,
                    "approvalRequired": name != "partners",
                    "subscriptionsLimit": 5,
                }
            },
        )
    appinsights_id = (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-contoso-ai-gateway"
        "/providers/Microsoft.Insights/components/appi-contoso-ai-gateway"
    )
    _json(
        root / "loggers" / "appinsights" / "loggerInformation.json",
        {
            "properties": {
                "loggerType": "applicationInsights",
                "description": "Application Insights (token metrics, requests).",
                "credentials": {"instrumentationKey": "{{Logger-Credentials--appinsights}}"},
                "isBuffered": True,
                "resourceId": appinsights_id,
            }
        },
    )
    _json(
        root / "loggers" / "usage-hub" / "loggerInformation.json",
        {
            "properties": {
                "loggerType": "azureEventHub",
                "description": "Event Hub for the custom token-usage pipeline.",
                "credentials": {"name": "usage", "connectionString": "{{usage-hub-connection}}"},
                "isBuffered": True,
            }
        },
    )
    _json(
        root / "loggers" / "azuremonitor" / "loggerInformation.json",
        {"properties": {"loggerType": "azureMonitor", "isBuffered": True}},
    )

    def diag(logger: str, metrics: bool | None, body: int) -> dict[str, object]:
        msg = {"headers": ["x-attribution-id", "x-correlation-id"], "body": {"bytes": body}}
        props: dict[str, object] = {
            "alwaysLog": "allErrors",
            "httpCorrelationProtocol": "W3C",
            "logClientIp": False,
            "loggerId": f"/loggers/{logger}",
            "operationNameFormat": "Name",
            "sampling": {"samplingType": "fixed", "percentage": 100},
            "verbosity": "information",
            "frontend": {"request": msg, "response": {"headers": [], "body": {"bytes": body}}},
            "backend": {"request": msg, "response": {"headers": [], "body": {"bytes": body}}},
        }
        if metrics is not None:
            props["metrics"] = metrics
        return {"properties": props}

    _json(
        root / "diagnostics" / "applicationinsights" / "diagnosticInformation.json",
        diag("appinsights", True, 0),
    )
    _json(
        root / "diagnostics" / "azuremonitor" / "diagnosticInformation.json",
        diag("azuremonitor", None, 0),
    )
    for region in REGIONS:
        _json(
            root / "backends" / f"aoai-{region}" / "backendInformation.json",
            {
                "properties": {
                    "description": f"Azure OpenAI account contoso-{region}.",
                    "protocol": "http",
                    "url": f"https://contoso-{region}.openai.azure.com/openai",
                    "credentials": {"header": {"api-key": [f"{{{{aoai-{region}-key}}}}"]}},
                }
            },
        )
    _json(
        root / "backends" / "aoai-pool" / "backendInformation.json",
        {
            "properties": {
                "description": "Load-balanced pool of the Azure OpenAI accounts.",
                "type": "Pool",
                "pool": {
                    "services": [
                        {"id": f"/backends/aoai-{r}", "priority": 1, "weight": 50}
                        for r in REGIONS[:2]
                    ]
                },
            }
        },
    )
    for sub, scope in (
        ("finance-app", "/products/team-finance"),
        ("marketing-app", "/products/team-marketing"),
        ("partner-acme", "/products/partners"),
        ("platform-ops", "/apis"),
    ):
        _json(
            root / "subscriptions" / sub / "subscriptionInformation.json",
            {"properties": {"displayName": sub, "scope": scope, "state": "active"}},
        )
    for nv in (
        "environment-name",
        "tenant-id",
        "client-app-id",
        "usage-hub-connection",
        "Logger-Credentials--appinsights",
        *(f"aoai-{r}-key" for r in REGIONS),
    ):
        _json(
            root / "named values" / nv / "namedValueInformation.json",
            {"properties": {"displayName": nv, "secret": nv.endswith(("key", "connection"))}},
        )

    ops = operations(n_ops)
    width = max(5, len(str(n_apis)))
    for i in range(n_apis):
        team = TEAMS[i % len(TEAMS)]
        name = f"aoai-{team}-{i:0{width}d}"
        path = f"{team}/{i}/openai"
        folder = root / "apis" / name
        _json(
            folder / "apiInformation.json",
            {
                "properties": {
                    "displayName": name,
                    "description": f"Azure OpenAI for the {team} team.",
                    "path": path,
                    "protocols": ["https"],
                    "serviceUrl": f"https://contoso-{REGIONS[i % 3]}.openai.azure.com/openai",
                    "subscriptionRequired": i % 25 != 24,
                    "apiRevision": "1",
                    "isCurrent": True,
                    "type": "http",
                }
            },
        )
        _write(folder / "specification.yaml", specification(name, team, path, ops))
        _write(folder / "policy.xml", api_policy(i, team))
        for k, (op_id, *_rest) in enumerate(ops):
            _write(folder / "operations" / op_id / "policy.xml", operation_policy(i, k, op_id))
        if i % 7 == 6:  # API-scope diagnostic that logs bodies (buffers streams)
            _json(
                folder / "diagnostics" / "applicationinsights" / "diagnosticInformation.json",
                diag("appinsights", True, 1024),
            )
        for product in api_products(i):
            _json(root / "products" / product / "apis" / name / "productApiInformation.json", {})


# --------------------------------------------------------------------------------------------
# Measurements.


@dataclass
class Result:
    n: int
    apis: int = 0
    llm_apis: int = 0
    ops: int = 0
    policy_files: int = 0
    scan_wall: float = 0.0
    scan_walls: list[float] = field(default_factory=list)
    rules: float = 0.0
    load: float = 0.0
    run: float = 0.0
    report: float = 0.0
    text_render: float = 0.0
    bare_parse: float = 0.0
    esc_parse: float = 0.0
    raw_bare_failures: int = 0
    findings: dict[str, int] = field(default_factory=dict)
    unreadable: int = 0
    foreign_modules: list[str] = field(default_factory=list)


def best_wall(cmd: list[str], repeat: int, cwd: Path) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip()
            raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return min(times), times


def _foreign(names: set[str]) -> list[str]:
    return sorted(
        m for m in names if m.split(".")[0] in ("azure", "textual") or m.startswith("azure_")
    )


def in_process(root: Path, res: Result) -> None:
    """load / run / report split of one scan in this process, serial (one worker), with the
    cyclic GC off as the CLI has it; the subprocess scan splits load and run over processes."""
    from auditor import engine, rules, sources
    from auditor.render import RENDERERS
    from auditor.report import to_dict

    gc.disable()
    t0 = time.perf_counter()
    catalog = rules.load(None)
    t1 = time.perf_counter()
    estate = sources.load(root)
    t2 = time.perf_counter()
    audit = engine.run(estate, catalog)
    t3 = time.perf_counter()
    report = to_dict(audit)
    RENDERERS["json"](report)
    t4 = time.perf_counter()
    RENDERERS["text"](report)  # the CLI also prints the text summary when -o is given
    t5 = time.perf_counter()
    res.rules, res.load, res.run, res.report, res.text_render = (
        t1 - t0,
        t2 - t1,
        t3 - t2,
        t4 - t3,
        t5 - t4,
    )
    res.foreign_modules = _foreign(set(sys.modules))  # the bench itself imports neither
    res.apis = sum(len(s.apis) for s in estate.services)
    res.llm_apis = sum(1 for a in audit.apis if a.llm)
    res.ops = sum(len(a.operations) for s in estate.services for a in s.apis)
    counts: dict[str, int] = {}
    for f in report["findings"]:
        counts[f["status"]] = counts.get(f["status"], 0) + 1
    res.findings = dict(sorted(counts.items()))
    res.unreadable = sum(1 for f in report["findings"] if f["rule"] in ("AUD001", "AUD002"))
    del audit, estate, report
    gc.enable()
    gc.collect()


def parse_floor(root: Path, res: Result, repeat: int) -> None:
    """Bare lxml parse of the pre-escaped policy files vs escape+parse via parse_policy."""
    from auditor.bounded import decode_policy_bytes
    from auditor.xmlread import escape_expressions, parse_policy

    files = sorted(root.rglob("policy.xml"))
    res.policy_files = len(files)
    texts = [decode_policy_bytes(f.read_bytes()) for f in files]
    escaped = [escape_expressions(t).encode("utf-8") for t in texts]
    raw = [t.encode("utf-8") for t in texts]
    failures = 0
    for data in raw:
        try:
            etree.fromstring(data)
        except etree.XMLSyntaxError:
            failures += 1
    res.raw_bare_failures = failures

    def timed(fn, items) -> float:  # type: ignore[no-untyped-def]
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            for item in items:
                fn(item)
            best = min(best, time.perf_counter() - t0)
        return best

    res.bare_parse = timed(etree.fromstring, escaped)
    res.esc_parse = timed(parse_policy, texts)


def version_wall(repeat: int, cwd: Path) -> tuple[float, str]:
    script = Path(sys.executable).with_name("auditor")
    if script.is_file():
        cmd, shown = [str(script), "--version"], f"{script} --version"
    else:
        cmd, shown = [sys.executable, "-m", "auditor", "--version"], "python -m auditor --version"
    best, _ = best_wall(cmd, repeat, cwd)
    return best, shown


def machine_speed(repeat: int = 5) -> float:
    """Seconds for a fixed pure-Python loop, best of ``repeat``: a shared or throttled machine
    shows here, so figures taken at different times can be compared (lower is faster)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        sum(range(30_000_000))
        best = min(best, time.perf_counter() - t0)
    return best


def compile_bytecode() -> str:
    """Compile the project's modules to bytecode, as ``pip install`` does; say what was done."""
    import compileall

    import auditor
    import checks

    ok = all(compileall.compile_dir(Path(m.__file__).parent, quiet=1) for m in (auditor, checks))
    unset = "PYTHONDONTWRITEBYTECODE" not in os.environ
    return f"bytecode {'compiled' if ok else 'NOT all compiled'} before timing" + (
        "" if unset else " (PYTHONDONTWRITEBYTECODE is set: runs would compile it each time)"
    )


def project_revision() -> str:
    """Version and git commit of the auditor being measured (figures move with the code)."""
    import auditor

    repo = Path(auditor.__file__).resolve().parents[1]
    rev = f"{auditor.__version__} from {repo}"
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(repo),
                "status",
                "--porcelain",
                "--",
                "auditor",
                "checks",
                "rules.yaml",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return rev
    if head.returncode == 0:
        rev += f" @ {head.stdout.strip()}" + (" (modified)" if dirty.stdout.strip() else "")
    return rev


def _fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}"


def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="API counts")
    ap.add_argument("--ops", type=int, default=5, help="operations per API (default 5)")
    ap.add_argument("--keep", type=Path, help="generate into DIR and keep it (default: temp dir)")
    ap.add_argument("--repeat", type=int, default=3, help="subprocess scan runs, best kept")
    args = ap.parse_args(argv)
    if args.ops < 1 or args.repeat < 1 or min(args.sizes) < 1:
        ap.error("--sizes, --ops and --repeat must be at least 1")

    work = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="auditor-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    print(
        f"python {sys.version.split()[0]}, lxml {etree.__version__}, {cores} CPU(s), "
        f"auditor {project_revision()}, "
        f"estates in {work}{'' if args.keep else ' (removed at exit)'}"
    )
    print(f"machine speed: a fixed Python loop takes {machine_speed():.3f} s (lower is faster)")
    print(compile_bytecode())
    results: list[Result] = []
    try:
        for n in args.sizes:
            root = work / f"n{n}-o{args.ops}" / SERVICE
            if not root.is_dir():
                t0 = time.perf_counter()
                generate(root, n, args.ops)
                print(
                    f"[N={n}] generated in {time.perf_counter() - t0:.1f}s (not timed)", flush=True
                )
            else:
                print(f"[N={n}] reusing {root}", flush=True)
            res = Result(n)
            out = root.parent / "out.json"
            cmd = [
                sys.executable,
                "-m",
                "auditor",
                "scan",
                str(root),
                "--format",
                "json",
                "-o",
                str(out),
                "--fail-on",
                "never",
            ]
            res.scan_wall, res.scan_walls = best_wall(cmd, args.repeat, root.parent)
            print(
                f"[N={n}] subprocess scan: " + ", ".join(_fmt(t, 2) for t in res.scan_walls) + " s",
                flush=True,
            )
            in_process(root, res)
            print(
                f"[N={n}] in-process, serial: rules {_fmt(res.rules)} load {_fmt(res.load)} "
                f"run {_fmt(res.run)} report {_fmt(res.report)} s",
                flush=True,
            )
            parse_floor(root, res, args.repeat)
            print(
                f"[N={n}] parse: bare {_fmt(res.bare_parse)} s, escape+parse "
                f"{_fmt(res.esc_parse)} s",
                flush=True,
            )
            results.append(res)
        version_s, version_cmd = version_wall(5, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    # ---- table
    cols = [
        ("N", 7),
        ("APIs", 6),
        ("ops", 7),
        ("policy files", 12),
        ("scan wall s", 11),
        ("load s", 8),
        ("run s", 8),
        ("report s", 8),
        ("bare parse s", 12),
        ("esc+parse s", 11),
        ("scan/bare", 9),
        ("per-API ms", 10),
    ]
    print()
    print("  ".join(name.rjust(w) for name, w in cols))
    for r in results:
        cells = [
            f"{r.n:,}",
            f"{r.apis:,}",
            f"{r.ops:,}",
            f"{r.policy_files:,}",
            _fmt(r.scan_wall, 2),
            _fmt(r.load),
            _fmt(r.run),
            _fmt(r.report),
            _fmt(r.bare_parse),
            _fmt(r.esc_parse),
            f"{r.scan_wall / r.bare_parse:.1f}x",
            _fmt(1000 * r.scan_wall / r.n, 2),
        ]
        print("  ".join(c.rjust(w) for c, (_, w) in zip(cells, cols, strict=True)))
    print()
    for r in results:
        print(
            f"N={r.n:,}: {r.llm_apis:,} LLM APIs; findings {r.findings}; unreadable "
            f"(AUD001/AUD002) {r.unreadable}; rules catalog {_fmt(r.rules)} s; text summary "
            f"render {_fmt(r.text_render)} s; {r.raw_bare_failures:,}/{r.policy_files:,} raw "
            "policy files fail a bare lxml parse without escaping"
        )

    # ---- growth
    for a, b in zip(results, results[1:], strict=False):
        f = b.n / a.n

        def g(x: float, y: float) -> str:
            return f"{y / x:.1f}x" if x > 0 else "n/a"

        print(
            f"growth {a.n:,} -> {b.n:,} (linear = ~{f:.0f}x): scan wall {g(a.scan_wall, b.scan_wall)}, "
            f"load {g(a.load, b.load)}, run {g(a.run, b.run)}, report {g(a.report, b.report)}, "
            f"bare parse {g(a.bare_parse, b.bare_parse)}, escape+parse {g(a.esc_parse, b.esc_parse)}"
        )

    # ---- targets
    print()
    print(f"targets ({cores} CPU(s) here; targets assume a 2-core machine):")
    target = next((r for r in results if r.n == TARGET_N), None)
    if target is None:
        print(f"  N={TARGET_N:,} scan targets: n/a (size not run)")
    else:
        print(
            f"  N={TARGET_N:,} scan wall < {TARGET_SCAN_S} s: {_fmt(target.scan_wall, 2)} s  "
            f"{_mark(target.scan_wall < TARGET_SCAN_S)}"
        )
        ratio = target.scan_wall / target.bare_parse
        print(
            f"  N={TARGET_N:,} scan within {TARGET_SCAN_OVER_PARSE}x bare parse: {ratio:.1f}x "
            f"({_fmt(target.scan_wall, 2)} s vs {_fmt(target.bare_parse)} s)  "
            f"{_mark(ratio <= TARGET_SCAN_OVER_PARSE)}"
        )
    print(
        f"  auditor --version < {TARGET_VERSION_S} s: {_fmt(version_s)} s best of 5 "
        f"({version_cmd})  {_mark(version_s < TARGET_VERSION_S)}"
    )
    foreign = sorted({m for r in results for m in r.foreign_modules})
    print(
        "  azure/textual modules imported by an in-process scan: "
        + (", ".join(foreign) if foreign else "none")
        + f"  {_mark(not foreign)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

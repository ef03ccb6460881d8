"""Azure Verified Modules of API Management (Bicep ``br/public:avm/res/api-management/service``
and its ``service/api`` child, Terraform ``Azure/avm-res-apimanagement-service/azurerm``): an API
declared through one is found and judged like a native one (signals.md: an API is never
dropped). The module itself is never read; its inputs are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import METERED, run_auditor, write

BARE = (
    "<policies><inbound><base /></inbound><backend><base /></backend>"
    "<outbound><base /></outbound><on-error><base /></on-error></policies>"
)
SECRETS = ("nv-secret-value-1", "sub-primary-key-2", "logger-ikey-3", "backend-header-4")

BICEP_INLINE = f"""
module apim 'br/public:avm/res/api-management/service:0.14.1' = {{
  name: 'apim'
  params: {{
    name: 'apim-demo'
    publisherEmail: 'a@b.c'
    publisherName: 'demo'
    apis: [
      {{
        name: 'openai'
        displayName: 'Azure OpenAI'
        path: 'openai'
        serviceUrl: 'https://aoai-demo.openai.azure.com/openai'
        subscriptionRequired: true
        policies: [
          {{
            format: 'rawxml'
            value: '{BARE}'
          }}
        ]
      }}
      {{
        name: 'weather'
        displayName: 'Weather'
        path: 'weather'
        serviceUrl: 'https://weather.example.com/api'
      }}
    ]
    namedValues: [
      {{ name: 'nv', displayName: 'nv', secret: true, value: '{SECRETS[0]}' }}
    ]
    subscriptions: [
      {{ name: 'sub', displayName: 'sub', scope: '/apis', primaryKey: '{SECRETS[1]}' }}
    ]
    loggers: [
      {{
        name: 'appi'
        type: 'applicationInsights'
        credentials: {{ instrumentationKey: '{SECRETS[2]}' }}
      }}
    ]
    backends: [
      {{
        name: 'aoai'
        url: 'https://aoai-demo.openai.azure.com/openai'
        credentials: {{ header: {{ 'api-key': [ '{SECRETS[3]}' ] }} }}
      }}
    ]
  }}
}}
"""

BICEP_CHILD = """
module apim 'br/public:avm/res/api-management/service:0.14.1' = {
  name: 'apim'
  params: {
    name: 'apim-demo'
    publisherEmail: 'a@b.c'
    publisherName: 'demo'
    loggers: [
      {
        name: 'appi'
        type: 'applicationInsights'
        targetResourceId: resourceId('Microsoft.Insights/components', 'appi')
      }
    ]
    serviceDiagnostics: [
      {
        name: 'applicationinsights'
        loggerResourceId: resourceId('Microsoft.ApiManagement/service/loggers', 'apim-demo', 'appi')
        metrics: true
      }
    ]
  }
}
module api 'br/public:avm/res/api-management/service/api:0.1.1' = {
  name: 'api'
  params: {
    apiManagementServiceName: apim.outputs.name
    name: 'openai'
    displayName: 'Azure OpenAI v1'
    path: 'openai/v1'
    serviceUrl: 'https://aoai-demo.openai.azure.com/openai/v1'
    subscriptionRequired: true
    policies: [
      { format: 'rawxml', value: loadTextContent('policy.xml') }
    ]
  }
}
module weather 'br/public:avm/res/api-management/service/api:0.1.1' = {
  name: 'weather'
  params: {
    apiManagementServiceName: 'apim-demo'
    name: 'weather'
    displayName: 'Weather'
    path: 'weather'
    serviceUrl: 'https://weather.example.com/api'
  }
}
"""

BICEP_UNKNOWN = """
param apiPolicy string
module apim 'br/public:avm/res/api-management/service:0.14.1' = {
  name: 'apim'
  params: {
    name: 'apim-demo'
    publisherEmail: 'a@b.c'
    publisherName: 'demo'
    apis: [
      {
        name: 'openai'
        displayName: 'Azure OpenAI'
        path: 'openai'
        serviceUrl: 'https://aoai-demo.openai.azure.com/openai'
        policies: [ { format: 'rawxml', value: apiPolicy } ]
      }
    ]
  }
}
"""

TERRAFORM = f"""
module "apim" {{
  source              = "Azure/avm-res-apimanagement-service/azurerm"
  version             = "0.9.0"
  name                = "apim-demo"
  location            = "eastus"
  resource_group_name = "rg-demo"
  publisher_name      = "demo"
  publisher_email     = "a@b.c"

  apis = {{
    openai = {{
      display_name          = "Azure OpenAI"
      path                  = "openai"
      service_url           = "https://aoai-demo.openai.azure.com/openai"
      subscription_required = true
      policy = {{
        xml_content = "{BARE}"
      }}
    }}
    weather = {{
      display_name = "Weather"
      path         = "weather"
      service_url  = "https://weather.example.com/api"
    }}
  }}
  named_values = {{
    nv = {{ display_name = "nv", secret = true, value = "{SECRETS[0]}" }}
  }}
  subscriptions = {{
    sub = {{
      display_name     = "sub"
      scope_type       = "api"
      scope_identifier = "openai"
      primary_key      = "{SECRETS[1]}"
    }}
  }}
  backends = {{
    aoai = {{
      protocol    = "http"
      url         = "https://aoai-demo.openai.azure.com/openai"
      credentials = {{ header = {{ "api-key" = "{SECRETS[3]}" }} }}
    }}
  }}
}}
"""


def _scan(root: Path, tmp: Path) -> tuple[dict[str, Any], str]:
    out = tmp / "report.json"
    proc = run_auditor("scan", root, "--format", "json", "-o", out, "--fail-on", "never", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text("utf-8")
    report: dict[str, Any] = json.loads(text)
    return report, text


def _apis(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in report["apis"]}


def _no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def _noted(report: dict[str, Any]) -> list[str]:
    return [n for n in report["notes"] if "Azure Verified Module" in n]


def test_bicep_inline_apis(tmp_path: Path) -> None:
    write(tmp_path / "src" / "main.bicep", BICEP_INLINE)
    report, text = _scan(tmp_path / "src", tmp_path)
    apis = _apis(report)
    assert apis["openai"]["llm"] is True
    assert apis["openai"]["service"] == "apim-demo"
    assert apis["openai"]["signals"] == {
        "coverage": "fail",
        "identity": "unknown",
        "streaming": "unknown",
        "correlation": "fail",
    }
    assert apis["weather"]["llm"] is False
    assert not apis["weather"]["signals"]
    noted = _noted(report)
    assert noted and "apis" in noted[0] and "namedValues" in noted[0]
    _no_secrets(text)


def test_bicep_child_api_module_metered(tmp_path: Path) -> None:
    write(tmp_path / "src" / "main.bicep", BICEP_CHILD)
    write(tmp_path / "src" / "policy.xml", METERED)
    report, _ = _scan(tmp_path / "src", tmp_path)
    apis = _apis(report)
    assert apis["openai"]["llm"] is True
    assert apis["openai"]["service"] == "apim-demo"
    # the metric policy and the applicationinsights diagnostic are seen (only the account and
    # the component, which a Bicep scan cannot show, leave coverage unknown)
    assert apis["openai"]["signals"]["coverage"] in ("pass", "unknown")
    assert apis["openai"]["signals"]["identity"] == "pass"
    failing = {f["rule"] for f in report["findings"] if f["status"] == "fail"}
    assert not failing & {"COV001", "COV005"}
    assert apis["weather"]["llm"] is False
    assert [s["name"] for s in report["services"]] == ["apim-demo"]


def test_bicep_unknown_input_is_unknown_not_fail(tmp_path: Path) -> None:
    write(tmp_path / "src" / "main.bicep", BICEP_UNKNOWN)
    report, _ = _scan(tmp_path / "src", tmp_path)
    api = _apis(report)["openai"]
    assert api["llm"] is True
    assert api["signals"]["identity"] == "unknown"
    assert api["signals"]["streaming"] == "unknown"
    by_rule = {f["rule"]: f for f in report["findings"] if f["api"] == "openai"}
    for rule in ("COV001", "IDN001", "STR001"):
        assert by_rule[rule]["status"] == "skip"
        assert "apiPolicy" in by_rule[rule]["message"]


def test_bicep_unknown_apis_input_leaves_the_deployment_partial(tmp_path: Path) -> None:
    write(
        tmp_path / "src" / "main.bicep",
        """
param apis array
module apim 'br/public:avm/res/api-management/service:0.14.1' = {
  name: 'apim'
  params: { name: 'apim-demo', publisherEmail: 'a@b.c', publisherName: 'demo', apis: apis }
}
""",
    )
    report, _ = _scan(tmp_path / "src", tmp_path)
    assert report["apis"] == []
    registry = [g for g in report["limits"] if g["kind"] == "modules from a registry, not read"]
    assert registry
    assert any("from a registry module" in n for n in report["notes"])
    assert report["services"][0]["elsewhere"]


def test_other_registry_modules_stay_unread(tmp_path: Path) -> None:
    write(
        tmp_path / "src" / "main.bicep",
        """
module site 'br/public:avm/res/web/site:0.3.0' = {
  name: 'site'
  params: { name: 'site', apis: [ { name: 'openai', path: 'openai' } ] }
}
""",
    )
    report, _ = _scan(tmp_path / "src", tmp_path)
    assert report["apis"] == []
    assert any("module 'site' from a registry" in n for n in report["notes"])
    assert not _noted(report)


def test_terraform_apis_map(tmp_path: Path) -> None:
    write(tmp_path / "src" / "main.tf", TERRAFORM)
    report, text = _scan(tmp_path / "src", tmp_path)
    apis = _apis(report)
    assert apis["openai"]["llm"] is True
    assert apis["openai"]["service"] == "apim-demo"
    assert apis["openai"]["signals"] == {
        "coverage": "fail",
        "identity": "unknown",
        "streaming": "unknown",
        "correlation": "fail",
    }
    assert apis["weather"]["llm"] is False
    noted = _noted(report)
    assert noted and "apis" in noted[0] and "named_values" in noted[0]
    _no_secrets(text)


def test_terraform_unknown_apis_input(tmp_path: Path) -> None:
    write(
        tmp_path / "src" / "main.tf",
        """
variable "apis" {}
module "apim" {
  source = "Azure/avm-res-apimanagement-service/azurerm"
  name   = "apim-demo"
  apis   = var.apis
}
""",
    )
    report, _ = _scan(tmp_path / "src", tmp_path)
    assert report["apis"] == []
    registry = [g for g in report["limits"] if g["kind"] == "modules from a registry, not read"]
    assert registry
    assert any("from a registry module" in n and "var.apis" in n for n in report["notes"])


# ---------------------------------------------------------------- found by review

REVIEWED = """
module apim 'br/public:avm/res/api-management/service:%(version)s' = {
  name: 'apim'
  params: {
    name: 'apim-demo'
    publisherEmail: 'a@b.c'
    publisherName: 'demo'
    apis: [
      {
        name: 'openai'
        path: 'openai'
        serviceUrl: 'https://aoai-demo.openai.azure.com/openai'
        subscriptionRequired: %(required)s
        policies: [ { format: 'rawxml', value: '%(api_policy)s' } ]
        operations: [
          {
            name: 'chat'
            displayName: 'chat'
            method: 'POST'
            urlTemplate: '/deployments/{d}/chat/completions'
            policies: %(op_policies)s
          }
        ]
      }
    ]
    products: [
      {
        name: 'team'
        displayName: 'team'
        apis: [ 'openai' ]
        policies: [ { format: 'rawxml', value: '%(product_policy)s' } ]
      }
    ]
  }
}
%(extra)s
"""
METER = (
    '<policies><inbound><base /><azure-openai-emit-token-metric namespace="ai">'
    '<dimension name="Subscription ID" /></azure-openai-emit-token-metric></inbound>'
    "<backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>"
    "</policies>"
)


def _reviewed(tmp_path: Path, name: str, **given: str) -> dict[str, Any]:
    values = {
        "version": "0.14.1",
        "required": "true",
        "api_policy": METER,
        "op_policies": "[]",
        "product_policy": BARE,
        "extra": "",
        **given,
    }
    write(tmp_path / name / "main.bicep", REVIEWED % values)
    report, _ = _scan(tmp_path / name, tmp_path / name)
    return report


def _rule(report: dict[str, Any], rule: str) -> list[str]:
    return sorted(f["status"] for f in report["findings"] if f["rule"] == rule)


def test_a_null_input_takes_the_modules_default(tmp_path: Path) -> None:
    # The module reads subscriptionRequired ?? false: a null is no subscription required, so
    # the Subscription ID dimension names no payer on calls without one.
    null = _reviewed(tmp_path, "null", required="null")
    false = _reviewed(tmp_path, "false", required="false")
    assert _rule(null, "IDN004") == _rule(false, "IDN004") == ["fail"]


def test_product_policies_are_not_deployed_before_0_14_1(tmp_path: Path) -> None:
    only_product = {"api_policy": BARE, "product_policy": METER}
    old = _reviewed(tmp_path, "old", version="0.14.0", **only_product)
    new = _reviewed(tmp_path, "new", version="0.14.1", **only_product)
    assert "fail" in _rule(old, "COV001")
    assert "fail" not in _rule(new, "COV001")


def test_an_unknown_operation_policy_is_noted_not_dropped(tmp_path: Path) -> None:
    report = _reviewed(
        tmp_path, "unk", api_policy=BARE, op_policies="[ opPolicy ]", extra="param opPolicy object"
    )
    assert any("a policy of operation 'chat'" in n for n in report["notes"])
    apis = _apis(report)
    assert apis["openai"]["signals"]["streaming"] != "pass"


def test_terraform_an_unknown_operation_policy_is_noted_not_dropped(tmp_path: Path) -> None:
    tf = TERRAFORM.replace(
        "      subscription_required = true\n      policy = {\n",
        "      subscription_required = true\n      operations = {\n        chat = {\n"
        '          display_name = "chat"\n          method       = "POST"\n'
        '          url_template = "/deployments/{d}/chat/completions"\n'
        "          policy       = var.op_policy\n        }\n      }\n      policy = {\n",
        1,
    )
    write(tmp_path / "tf" / "main.tf", 'variable "op_policy" { type = any }\n' + tf)
    report, _ = _scan(tmp_path / "tf", tmp_path)
    assert any("the policy of operation 'openai-chat'" in n for n in report["notes"])

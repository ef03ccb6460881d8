"""Rulings from the second real-world batch (tests/realworld.md): what real trees showed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import METERED, run_auditor, write

RETRY = """<policies>
  <inbound>
    <base />
    <authentication-managed-identity resource="https://cognitiveservices.azure.com/" />
  </inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>
"""


def _scan(root: Path, tmp: Path) -> dict[str, Any]:
    out = tmp / "report.json"
    proc = run_auditor(
        "scan",
        root,
        "--source-type",
        "apiops",
        "--format",
        "json",
        "-o",
        out,
        "--fail-on",
        "never",
        cwd=tmp,
    )
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = json.loads(out.read_text("utf-8"))
    return report


def _api(root: Path, name: str, info: dict[str, Any], policy: str) -> None:
    write(root / "apis" / name / "apiInformation.json", json.dumps({"properties": info}))
    write(root / "apis" / name / "policy.xml", policy)


def _diagnostic_tree(root: Path, props: dict[str, Any]) -> None:
    write(
        root / "loggers" / "appi" / "loggerInformation.json",
        json.dumps({"properties": {"loggerType": "applicationInsights"}}),
    )
    write(
        root / "diagnostics" / "applicationinsights" / "diagnosticInformation.json",
        json.dumps({"properties": props}),
    )
    _api(
        root, "chat", {"path": "openai", "serviceUrl": "https://x.openai.azure.com/openai"}, METERED
    )


def _cov005(report: dict[str, Any]) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["rule"] == "COV005")


def test_a_diagnostic_whose_logger_the_extract_leaves_out_is_unknown_not_missing(
    tmp_path: Path,
) -> None:
    # rmontesdeoca81/apiops: diagnosticInformation.json has no loggerId; Azure requires one.
    _diagnostic_tree(tmp_path / "tree", {"metrics": True})
    finding = _cov005(_scan(tmp_path / "tree", tmp_path))
    assert finding["status"] == "skip"
    assert "names no logger in the source" in finding["message"]
    assert "does not exist" not in finding["message"]


def test_a_diagnostic_without_logger_that_drops_metrics_still_fails(tmp_path: Path) -> None:
    _diagnostic_tree(tmp_path / "tree", {"metrics": False})
    finding = _cov005(_scan(tmp_path / "tree", tmp_path))
    assert finding["status"] == "fail"
    assert "'metrics' is false" in finding["message"]


def test_a_cognitive_services_token_sent_to_a_plain_host_is_not_an_llm_api(
    tmp_path: Path,
) -> None:
    # Gore-ApiOps-Demo retry-2: serviceUrl httpbin.org, only a managed identity token for
    # Cognitive Services in a policy, no set-backend-service.
    root = tmp_path / "tree"
    write(root / "products" / "starter" / "productInformation.json", "{}")
    _api(root, "retry-2", {"path": "retry", "serviceUrl": "https://httpbin.org/status"}, RETRY)
    _api(root, "chat", {"path": "chat", "serviceUrl": "https://httpbin.org/anything"}, RETRY)
    routed = RETRY.replace(
        "<base />\n    <auth", '<base />\n    <set-backend-service backend-id="aoai" />\n    <auth'
    )
    _api(root, "routed", {"path": "routed", "serviceUrl": "https://httpbin.org/x"}, routed)
    apis = {a["name"]: a for a in _scan(root, tmp_path)["apis"]}
    assert apis["retry-2"]["llm"] is False
    assert "its calls go to httpbin.org" in apis["retry-2"]["llm_evidence"][0]
    # a name that says "chat", or a policy that routes the calls elsewhere, keeps the doubt
    assert apis["chat"]["llm"] is True
    assert apis["routed"]["llm"] is not False


TF_SERVICE = """
resource "azurerm_api_management" "gw" {
  name                = "gw"
  location            = "swedencentral"
  resource_group_name = "rg"
  publisher_name      = "p"
  publisher_email     = "p@example.com"
  sku_name            = "Developer_1"
}

resource "azurerm_api_management_api" "chat" {
  name                = "chat"
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  revision            = "1"
  path                = "openai"
  service_url         = "https://gw-aoai.openai.azure.com/openai"
}

resource "azurerm_api_management_api_policy" "chat" {
  api_name            = azurerm_api_management_api.chat.name
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  xml_content         = file("${path.module}/policy.xml")
}
"""

TF_INSIGHTS = """
resource "azurerm_application_insights" "appi" {
  name                = "appi-gw"
  location            = "swedencentral"
  resource_group_name = "rg"
  application_type    = "web"
}

resource "azapi_update_resource" "dimensions" {
  type        = "Microsoft.Insights/components@2020-02-02"
  resource_id = azurerm_application_insights.appi.id
  body = {
    properties = { CustomMetricsOptedInType = "WithDimensions" }
  }
}

resource "azurerm_api_management_logger" "appi" {
  name                = "appi"
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"

  application_insights {
    %s = azurerm_application_insights.appi.%s
  }
}

resource "azurerm_api_management_diagnostic" "appi" {
  identifier               = "applicationinsights"
  api_management_name      = azurerm_api_management.gw.name
  resource_group_name      = "rg"
  api_management_logger_id = azurerm_api_management_logger.appi.id
}
"""


def _rule(report: dict[str, Any], rule: str) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["rule"] == rule)


def test_a_logger_linked_by_its_components_key_names_that_component(tmp_path: Path) -> None:
    # mitulashah/apim-openai-tf: the logger gives only instrumentation_key =
    # azurerm_application_insights.appi.instrumentation_key (no resource_id).
    for key in ("instrumentation_key", "connection_string"):
        root = tmp_path / key
        write(root / "policy.xml", METERED)
        write(root / "main.tf", TF_SERVICE + TF_INSIGHTS % (key, key))
        report = _scan_dir(root, tmp_path)
        assert _rule(report, "COV009")["status"] == "pass", key
        text = json.dumps(report)
        assert "instrumentation_key =" not in text and "InstrumentationKey=" not in text


def test_an_api_without_token_metric_passes_cov009_where_no_component_is_shown(
    tmp_path: Path,
) -> None:
    # aymenfurter/terraform-apim-openai-example: metered by log-to-eventhub only, no App
    # Insights declared; COV009 has nothing to judge, so it must not hold coverage unknown.
    root = tmp_path / "tf"
    write(root / "policy.xml", RETRY)
    write(root / "main.tf", TF_SERVICE)
    finding = _rule(_scan_dir(root, tmp_path), "COV009")
    assert finding["status"] == "pass"
    assert "no token metric" in finding["message"]


def _scan_dir(root: Path, tmp: Path) -> dict[str, Any]:
    out = tmp / f"{root.name}.json"
    proc = run_auditor("scan", root, "--format", "json", "-o", out, "--fail-on", "never", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = json.loads(out.read_text("utf-8"))
    return report


BICEP_LINKED = """
resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-gw'
  location: 'swedencentral'
  kind: 'web'
  properties: { Application_Type: 'web', CustomMetricsOptedInType: 'WithDimensions' }
}
resource apim 'Microsoft.ApiManagement/service@2023-05-01-preview' = {
  name: 'gw'
  location: 'swedencentral'
  sku: { name: 'Developer', capacity: 1 }
  properties: { publisherEmail: 'p@example.com', publisherName: 'p' }
}
resource logger 'Microsoft.ApiManagement/service/loggers@2023-05-01-preview' = {
  parent: apim
  name: 'appi'
  properties: {
    loggerType: 'applicationInsights'
    credentials: { connectionString: appInsights.properties.ConnectionString }
  }
}
resource diag 'Microsoft.ApiManagement/service/diagnostics@2023-05-01-preview' = {
  parent: apim
  name: 'applicationinsights'
  properties: { loggerId: logger.id, metrics: true }
}
resource api 'Microsoft.ApiManagement/service/apis@2023-05-01-preview' = {
  parent: apim
  name: 'chat'
  properties: { path: 'openai', serviceUrl: 'https://gw-aoai.openai.azure.com/openai' }
}
resource policy 'Microsoft.ApiManagement/service/apis/policies@2023-05-01-preview' = {
  parent: api
  name: 'policy'
  properties: { format: 'rawxml', value: loadTextContent('policy.xml') }
}
"""


def _arm_linked() -> str:
    res = [
        {
            "type": "Microsoft.Insights/components",
            "apiVersion": "2020-02-02",
            "name": "[variables('appi')]",
            "location": "swedencentral",
            "kind": "web",
            "properties": {"Application_Type": "web", "CustomMetricsOptedInType": "WithDimensions"},
        },
        {
            "type": "Microsoft.ApiManagement/service",
            "apiVersion": "2023-05-01-preview",
            "name": "gw",
            "location": "swedencentral",
            "sku": {"name": "Developer", "capacity": 1},
            "properties": {"publisherEmail": "p@example.com", "publisherName": "p"},
        },
        {
            "type": "Microsoft.ApiManagement/service/loggers",
            "apiVersion": "2023-05-01-preview",
            "name": "gw/appi",
            "properties": {
                "loggerType": "applicationInsights",
                "credentials": {
                    "instrumentationKey": "[reference(resourceId('Microsoft.Insights/components',"
                    " variables('appi')), '2020-02-02').InstrumentationKey]"
                },
            },
        },
        {
            "type": "Microsoft.ApiManagement/service/diagnostics",
            "apiVersion": "2023-05-01-preview",
            "name": "gw/applicationinsights",
            "properties": {
                "loggerId": "[resourceId('Microsoft.ApiManagement/service/loggers', 'gw', 'appi')]",
                "metrics": True,
            },
        },
        {
            "type": "Microsoft.ApiManagement/service/apis",
            "apiVersion": "2023-05-01-preview",
            "name": "gw/chat",
            "properties": {
                "path": "openai",
                "serviceUrl": "https://gw-aoai.openai.azure.com/openai",
            },
        },
        {
            "type": "Microsoft.ApiManagement/service/apis/policies",
            "apiVersion": "2023-05-01-preview",
            "name": "gw/chat/policy",
            "properties": {"format": "rawxml", "value": METERED},
        },
    ]
    return json.dumps(
        {
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
            "deploymentTemplate.json#",
            "contentVersion": "1.0.0.0",
            "variables": {"appi": "appi-gw"},
            "resources": res,
        },
        indent=2,
    )


def test_bicep_and_arm_loggers_linked_by_key_name_their_component(tmp_path: Path) -> None:
    # Azure-Samples/genai-gateway-apim test/4-api.bicep: credentials.connectionString =
    # appInsights.properties.ConnectionString, no resourceId.
    write(tmp_path / "bicep" / "policy.xml", METERED)
    write(tmp_path / "bicep" / "main.bicep", BICEP_LINKED)
    write(tmp_path / "arm" / "azuredeploy.json", _arm_linked())
    for form in ("bicep", "arm"):
        report = _scan_dir(tmp_path / form, tmp_path)
        assert _rule(report, "COV009")["status"] == "pass", form
        assert "appi-gw" in _rule(report, "COV009")["message"]
    write(
        tmp_path / "bicep" / "main.bicep",
        BICEP_LINKED.replace(", CustomMetricsOptedInType: 'WithDimensions'", ""),
    )
    assert _rule(_scan_dir(tmp_path / "bicep", tmp_path), "COV009")["status"] != "pass"


def test_a_custom_domain_or_private_address_fronting_a_model_stays_an_llm_api(
    tmp_path: Path,
) -> None:
    # Review: a proxy domain or a private endpoint address still names /openai/... in its path.
    root = tmp_path / "tree"
    write(root / "products" / "starter" / "productInformation.json", "{}")
    proxy = {"path": "proxy", "serviceUrl": "https://aoai-proxy.contoso.com/openai"}
    private = {"path": "pe", "serviceUrl": "https://10.20.0.5/openai/deployments/gpt-4o"}
    _api(root, "proxy", proxy, RETRY)
    _api(root, "pe", private, RETRY)
    apis = {a["name"]: a for a in _scan(root, tmp_path)["apis"]}
    assert apis["proxy"]["llm"] is True
    assert apis["pe"]["llm"] is True


def test_a_logger_given_a_key_from_a_vault_secret_names_no_component(tmp_path: Path) -> None:
    root = tmp_path / "kv"
    write(root / "policy.xml", METERED)
    tf = TF_SERVICE + TF_INSIGHTS % ("instrumentation_key", "instrumentation_key")
    tf = tf.replace(
        "= azurerm_application_insights.appi.instrumentation_key",
        "= azurerm_key_vault_secret.appikey.value",
    )
    tf += """
resource "azurerm_key_vault_secret" "appikey" {
  name         = "appi-key"
  key_vault_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"
  value        = azurerm_application_insights.appi.instrumentation_key
}
"""
    write(root / "main.tf", tf)
    finding = _rule(_scan_dir(root, tmp_path), "COV009")
    assert finding["status"] == "skip"
    assert "no Application Insights resource is named by the logger" in finding["message"]


BASE_ONLY = (
    "<policies><inbound><base /></inbound><backend><base /></backend>"
    "<outbound><base /></outbound><on-error><base /></on-error></policies>"
)
EXISTING_BICEP = """
resource apim 'Microsoft.ApiManagement/service@2023-05-01-preview' existing = {
  name: 'apim-shared'
}
resource api 'Microsoft.ApiManagement/service/apis@2023-05-01-preview' = {
  parent: apim
  name: 'chat'
  properties: { path: 'openai', serviceUrl: 'https://x.openai.azure.com/openai' }
}
resource policy 'Microsoft.ApiManagement/service/apis/policies@2023-05-01-preview' = {
  parent: api
  name: 'policy'
  properties: { format: 'rawxml', value: loadTextContent('policy.xml') }
}
"""
EXISTING_TF = """
data "azurerm_api_management" "gw" {
  name                = "apim-shared"
  resource_group_name = "rg"
}

resource "azurerm_api_management_api" "chat" {
  name                = "chat"
  api_management_name = data.azurerm_api_management.gw.name
  resource_group_name = "rg"
  revision            = "1"
  path                = "openai"
  service_url         = "https://x.openai.azure.com/openai"
}

resource "azurerm_api_management_api_policy" "chat" {
  api_name            = azurerm_api_management_api.chat.name
  api_management_name = data.azurerm_api_management.gw.name
  resource_group_name = "rg"
  xml_content         = file("${path.module}/policy.xml")
}
"""


def test_what_an_unseen_global_policy_may_hold_is_not_called_missing(tmp_path: Path) -> None:
    # TruaShamu/APIM-OpenAI-Endpoint and genai-gateway-apim test/4: the API is added to a
    # service deployed elsewhere; its global policy (which <base /> runs) is not in the source.
    for name, file, text in (
        ("bicep", "main.bicep", EXISTING_BICEP),
        ("tf", "main.tf", EXISTING_TF),
    ):
        write(tmp_path / name / "policy.xml", BASE_ONLY)
        write(tmp_path / name / file, text)
        report = _scan_dir(tmp_path / name, tmp_path)
        for rule in ("COV001", "COR001"):
            finding = _rule(report, rule)
            assert finding["status"] == "skip", (name, rule)
            assert "global policy is not in this source" in finding["message"]
        # An API policy without <base /> drops the global scope: the absence is certain.
        write(
            tmp_path / name / "policy.xml",
            BASE_ONLY.replace("<inbound><base /></inbound>", "<inbound />"),
        )
        report = _scan_dir(tmp_path / name, tmp_path)
        assert _rule(report, "COV001")["status"] == "fail", name
        assert _rule(report, "COR001")["status"] == "fail", name


RESPONSE_FIELD = """<policies>
  <inbound><base /><set-backend-service base-url="https://aoai.openai.azure.com/openai" /></inbound>
  <backend><base /></backend>
  <outbound>
    <base />
    <log-to-eventhub logger-id="hub">@{
      var body = context.Response.Body?.As<JObject>(true);
      return new JObject(
        new JProperty("subscription", context.Subscription.Id),
        new JProperty("region", context.Response.Headers.GetValueOrDefault("x-ms-region", "")),
        new JProperty("total_tokens", body["usage"]["total_tokens"].ToString())
      ).ToString();
    }</log-to-eventhub>
  </outbound>
  <on-error><base /></on-error>
</policies>
"""


def test_a_response_header_in_a_usage_record_is_no_caller_chosen_payer(tmp_path: Path) -> None:
    # Azure/azure-openai-landing-zone logs openai-processing-ms from the response beside the
    # subscription: a backend's header is not a header the caller chooses.
    write(tmp_path / "one" / "policy.xml", RESPONSE_FIELD)
    out = tmp_path / "one.json"
    proc = run_auditor(
        "scan", tmp_path / "one" / "policy.xml", "--format", "json", "-o", out, cwd=tmp_path
    )
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(out.read_text("utf-8"))
    failing = [f for f in report["findings"] if f["signal"] == "identity" and f["status"] == "fail"]
    assert failing == []
    assert "x-ms-region" not in json.dumps([f["message"] for f in report["findings"]])


def test_an_account_whose_name_quotes_inside_an_expression_is_still_matched(
    tmp_path: Path,
) -> None:
    # seenu433/apim-genai: accounts named 'aoai-1-${uniqueString(...)}' behind the serviceUrl.
    bicep = BICEP_LINKED.replace(
        "resource apim ",
        """param suffix string
resource account 'Microsoft.CognitiveServices/accounts@2023-10-01-preview' = {
  name: 'aoai-${uniqueString('fixed', suffix)}'
  location: 'swedencentral'
  kind: 'OpenAI'
  sku: { name: 'S0' }
  properties: { customSubDomainName: 'aoai-gw' }
}
resource apim """,
        1,
    ).replace(
        "serviceUrl: 'https://gw-aoai.openai.azure.com/openai'",
        "serviceUrl: '${account.properties.endpoint}openai'",
    )
    write(tmp_path / "b" / "policy.xml", METERED)
    write(tmp_path / "b" / "main.bicep", bicep)
    report = _scan_dir(tmp_path / "b", tmp_path)
    cov008 = _rule(report, "COV008")
    assert cov008["status"] == "fail", cov008["message"]
    assert "aoai-" in cov008["message"]


IMPORTED_TF = """
variable "spec_file" { type = string }

resource "azurerm_api_management" "gw" {
  name                = "gw"
  location            = "swedencentral"
  resource_group_name = "rg"
  publisher_name      = "p"
  publisher_email     = "p@example.com"
  sku_name            = "Developer_1"
}

resource "azurerm_api_management_api" "chat" {
  name                = "chat"
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  revision            = "1"
  path                = "openai"
  import {
    content_format = "openapi+json"
    content_value  = file("${path.module}/${var.spec_file}")
  }
}

resource "azurerm_api_management_api_policy" "chat" {
  api_name            = azurerm_api_management_api.chat.name
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  xml_content         = file("${path.module}/policy.xml")
}

resource "azurerm_api_management_api_operation" "deployments" {
  operation_id        = "deployments"
  api_name            = azurerm_api_management_api.chat.name
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  display_name        = "deployments"
  method              = "GET"
  url_template        = "/deployments"
}

resource "azurerm_api_management_api_operation_policy" "deployments" {
  api_name            = azurerm_api_management_api.chat.name
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  operation_id        = azurerm_api_management_api_operation.deployments.operation_id
  xml_content         = "<policies><inbound /><backend><base /></backend></policies>"
}
"""


def test_the_operations_of_an_unresolved_spec_are_judged_through_the_api_policy(
    tmp_path: Path,
) -> None:
    # jordanbean-msft/apim-aoai-terraform-lz: the spec file is a variable with no default, and
    # the one declared operation, GET /deployments, is a management read without <base />.
    root = tmp_path / "tf"
    write(root / "policy.xml", METERED.replace('name="Subscription ID"', 'name="API ID"'))
    write(root / "main.tf", IMPORTED_TF)
    report = _scan_dir(root, tmp_path)
    (api,) = report["apis"]
    assert api["signals"]["identity"] == "fail"  # the API policy meters with no payer
    assert api["signals"]["streaming"] == "pass"
    targets = {f["target"] for f in report["findings"] if f["rule"] == "COV001"}
    # GET /deployments runs no model: not judged as a model call; the imported ones are
    assert targets == {"chat (operations its specification imports)"}
    assert _rule(report, "COV001")["status"] == "pass"


# ------------------------------------------------------------- second review round


def _bicep_case(tmp_path: Path, name: str, bicep: str, policy: str = BASE_ONLY) -> dict[str, Any]:
    write(tmp_path / name / "policy.xml", policy)
    write(tmp_path / name / "main.bicep", bicep)
    return _scan_dir(tmp_path / name, tmp_path)


SERVICE_BICEP = """
resource apim 'Microsoft.ApiManagement/service@2023-05-01-preview' = {
  name: 'apim-gw'
  location: 'westeurope'
  sku: { name: 'Developer', capacity: 1 }
  properties: { publisherEmail: 'a@b.c', publisherName: 'x' }
}
resource api 'Microsoft.ApiManagement/service/apis@2023-05-01-preview' = {
  parent: apim
  name: 'chat'
  properties: { path: 'openai', serviceUrl: 'https://x.openai.azure.com/openai'%s }
}
resource policy 'Microsoft.ApiManagement/service/apis/policies@2023-05-01-preview' = {
  parent: api
  name: 'policy'
  properties: { format: 'rawxml', value: loadTextContent('policy.xml') }
}
"""
TEAM_PRODUCT = """
resource prod 'Microsoft.ApiManagement/service/products@2023-05-01-preview' = {
  parent: apim
  name: 'team'
  properties: { displayName: 'team', subscriptionRequired: true }
}
resource prodapi 'Microsoft.ApiManagement/service/products/apis@2023-05-01-preview' = {
  parent: prod
  name: 'chat'
}
resource prodpol 'Microsoft.ApiManagement/service/products/policies@2023-05-01-preview' = {
  parent: prod
  name: 'policy'
  properties: {
    format: 'rawxml'
    value: '<policies><inbound><rate-limit calls="5" renewal-period="60" /></inbound></policies>'
  }
}
"""
METERED_OP = """
resource op 'Microsoft.ApiManagement/service/apis/operations@2023-05-01-preview' = {
  parent: api
  name: 'chat-create'
  properties: { displayName: 'c', method: 'POST', urlTemplate: '/deployments/{d}/chat/completions' }
}
resource oppol 'Microsoft.ApiManagement/service/apis/operations/policies@2023-05-01-preview' = {
  parent: op
  name: 'policy'
  properties: { format: 'rawxml', value: loadTextContent('op.xml') }
}
"""


def test_a_route_that_drops_the_unseen_global_policy_still_fails(tmp_path: Path) -> None:
    existing = SERVICE_BICEP.replace(
        """  location: 'westeurope'
  sku: { name: 'Developer', capacity: 1 }
  properties: { publisherEmail: 'a@b.c', publisherName: 'x' }
}""",
        "}",
    ).replace(
        "'Microsoft.ApiManagement/service@2023-05-01-preview' =",
        "'Microsoft.ApiManagement/service@2023-05-01-preview' existing =",
    )
    report = _bicep_case(tmp_path, "a", existing % "" + TEAM_PRODUCT)
    finding = _rule(report, "COV001")
    assert finding["status"] == "fail"
    assert "calls through product 'team'" in finding["message"]


def test_a_global_policy_a_registry_module_may_declare_is_unseen(tmp_path: Path) -> None:
    module = """
module globalPolicy 'br:myregistry.azurecr.io/bicep/apim-global-policy:1.0' = {
  name: 'global-policy'
  params: { apimName: apim.name }
}
"""
    report = _bicep_case(tmp_path, "b", SERVICE_BICEP % "" + module)
    for rule in ("COV001", "COR001"):
        assert _rule(report, rule)["status"] == "skip", rule


def test_a_linked_spec_beside_declared_operations_is_judged_through_the_api_policy(
    tmp_path: Path,
) -> None:
    link = ", format: 'openapi+json-link', value: 'https://example.com/inference.json'"
    write(tmp_path / "e" / "op.xml", METERED)
    report = _bicep_case(tmp_path, "e", SERVICE_BICEP % link + METERED_OP)
    failing = {
        f["target"] for f in report["findings"] if f["rule"] == "COV001" and f["status"] == "fail"
    }
    assert failing == {"chat (operations its specification imports)"}


def test_a_get_that_its_policy_turns_into_a_model_call_is_judged(tmp_path: Path) -> None:
    op = METERED_OP.replace(
        "method: 'POST', urlTemplate: '/deployments/{d}/chat/completions'",
        "method: 'GET', urlTemplate: '/ask'",
    )
    write(
        tmp_path / "g" / "op.xml",
        "<policies><inbound><base /><set-method>POST</set-method>"
        '<rewrite-uri template="/deployments/gpt-4o/chat/completions" /></inbound></policies>',
    )
    report = _bicep_case(tmp_path, "g", SERVICE_BICEP % "" + op)
    targets = {
        f["target"] for f in report["findings"] if f["rule"] == "COV001" and f["status"] == "fail"
    }
    assert targets == {"chat/chat-create"}


def test_a_secret_header_read_with_a_null_conditional_is_still_recorded(tmp_path: Path) -> None:
    policy = METERED.replace(
        '<dimension name="Subscription ID" />',
        '<dimension name="Key" value="@(context.Request?.Headers?.GetValueOrDefault('
        '&quot;api-key&quot;, &quot;&quot;))" />',
    )
    write(tmp_path / "p.xml", policy)
    out = tmp_path / "p.json"
    proc = run_auditor("scan", tmp_path / "p.xml", "--format", "json", "-o", out, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(out.read_text("utf-8"))
    assert _rule(report, "IDN007")["status"] == "fail"


def test_a_terraform_registry_module_is_listed_with_the_registry_modules(tmp_path: Path) -> None:
    root = tmp_path / "tfreg"
    write(root / "policy.xml", METERED)
    write(
        root / "main.tf",
        TF_SERVICE
        + """
module "naming" {
  source  = "Azure/naming/azurerm"
  version = "0.4.0"
}
""",
    )
    out = tmp_path / "tfreg.md"
    proc = run_auditor(
        "scan", root, "--format", "md", "-o", out, "--fail-on", "never", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text("utf-8")
    assert "modules from a registry, not read" in text
    assert "module 'naming' from Azure/naming/azurerm is not read" in text

"""Terraform as real repositories write it: modules with inputs and outputs, tfvars, loops,
azapi patches, templates and files, each read the way Terraform would read it, and whatever
cannot be computed offline an explicit unknown with its file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.sources import terraform
from tests.support import METERED, audit_of, findings, line_of, write

ACCOUNT = """
resource "azurerm_cognitive_account" "ai" {
  name                = "aoai"
  location            = "eastus"
  resource_group_name = "rg"
  kind                = "OpenAI"
  sku_name            = "S0"
}
"""

SERVICE = """
resource "azurerm_api_management" "gw" {
  name                = "gw"
  location            = "swedencentral"
  resource_group_name = "rg"
  publisher_name      = "Contoso"
  publisher_email     = "ops@contoso.example"
  sku_name            = "Developer_1"
}
"""


def api(label: str, name: str, path: str, *lines: str) -> str:
    """An azurerm API of the 'gw' service, with more argument or block lines."""
    body = "".join(f"  {line}\n" for line in lines)
    return (
        f'resource "azurerm_api_management_api" "{label}" {{\n'
        f'  name                = "{name}"\n'
        "  api_management_name = azurerm_api_management.gw.name\n"
        '  resource_group_name = "rg"\n'
        '  revision            = "1"\n'
        f'  path                = "{path}"\n{body}}}\n'
    )


def by_name(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in found}


# ------------------------------------------------------------------------------------ modules


def chargeback(root: Path) -> Path:
    """A root module that calls a gateway module with the path of the policy it deploys (the
    seiggy/apim-chargeback shape) and an accounts module whose endpoint it passes on."""
    write(root / "policies" / "api.xml", METERED)
    write(
        root / "infra" / "main.tf",
        """
module "ai" {
  source = "./modules/ai"
  name   = "${var.prefix}-ai"
}

module "gateway" {
  source              = "./modules/gateway"
  name_prefix         = var.prefix
  ai_service_endpoint = module.ai.endpoint
  policy_xml_path     = "${path.module}/../policies/api.xml"
}

variable "prefix" {
  type    = string
  default = "chrg"
}

output "gateway_name" {
  value = module.gateway.name
}
""",
    )
    write(
        root / "infra" / "modules" / "ai" / "main.tf",
        """
variable "name" {
  type = string
}

resource "azurerm_cognitive_account" "this" {
  name                          = var.name
  location                      = "swedencentral"
  resource_group_name           = "rg"
  kind                          = "AIServices"
  sku_name                      = "S0"
  custom_subdomain_name         = var.name
  public_network_access_enabled = true
}

output "endpoint" {
  value = azurerm_cognitive_account.this.endpoint
}
""",
    )
    write(
        root / "infra" / "modules" / "gateway" / "main.tf",
        SERVICE.replace('name                = "gw"', 'name = "${var.name_prefix}-apim"')
        + """
variable "name_prefix" {
  type = string
}

variable "ai_service_endpoint" {
  type = string
}

variable "policy_xml_path" {
  type = string
}

resource "azurerm_api_management_api" "openai" {
  name                  = "azure-openai-service-api"
  resource_group_name   = "rg"
  api_management_name   = azurerm_api_management.gw.name
  revision              = "1"
  display_name          = "Azure OpenAI Service API"
  path                  = "openai"
  protocols             = ["https"]
  service_url           = "${var.ai_service_endpoint}openai"
  subscription_required = true
}

resource "azapi_resource" "openai_policy" {
  type      = "Microsoft.ApiManagement/service/apis/policies@2024-05-01"
  name      = "policy"
  parent_id = azurerm_api_management_api.openai.id
  body = {
    properties = {
      format = "rawxml"
      value  = file(var.policy_xml_path)
    }
  }
}

output "name" {
  value = azurerm_api_management.gw.name
}
""",
    )
    return root / "infra"


def test_a_policy_read_through_file_of_a_callers_path_is_judged(tmp_path: Path) -> None:
    infra = chargeback(tmp_path)
    (tmp_path / ".git").mkdir()  # a checkout: its files beside the scanned folder may be read
    estate = terraform.load(infra)
    assert estate.read_errors == ()
    (service,) = estate.services
    assert service.name == "chrg-apim"
    (api,) = service.apis
    # The caller's path.module is the root module's folder: the file is read from there.
    assert api.policy is not None and api.policy.ok
    assert api.policy.path == "../policies/api.xml"
    # The module output is the account's endpoint, only known once deployed: the reason
    # names the account, so the API is an LLM API and the account is the one behind it.
    assert api.service_url == "${azurerm_cognitive_account.this.endpoint}openai"
    (why,) = [w for k, w in api.unknown if k == "service_url"]
    assert "Microsoft.CognitiveServices/accounts (kind AIServices) 'chrg-ai'" in why
    assert "modules/ai/main.tf:" in why
    audit = audit_of(estate)
    (result,) = audit.apis
    assert result.llm
    assert {f.status for f in findings(audit, "COV001")} == {"pass"}
    assert "policy <llm-emit-token-metric> at ../policies/api.xml:4" in result.evidence
    (bypass,) = findings(audit, "COV008")
    assert bypass.status == "fail" and "chrg-ai" in bypass.message


def test_each_root_module_is_a_deployment_and_modules_are_not(tmp_path: Path) -> None:
    infra = chargeback(tmp_path)
    write(infra.parent / "lab" / "main.tf", SERVICE)
    found, _, _ = terraform.load_resources(tmp_path)
    deployments = {r["_deployment"] for r in found}
    assert deployments == {"infra", "lab"}
    # The module's resources belong to the deployment of the root that calls it.
    assert by_name(found)["chrg-apim/azure-openai-service-api"]["_deployment"] == "infra"


def test_registry_and_git_modules_are_not_read_and_their_outputs_are_unknown(
    tmp_path: Path,
) -> None:
    write(
        tmp_path / "main.tf",
        """
module "apim" {
  source  = "Azure/avm-res-containerregistry-registry/azurerm"
  version = "0.0.7"
  name    = "gw"
}

module "extra" {
  source = "git::https://example.com/modules.git//apim?ref=v1"
}

resource "azurerm_api_management_api" "chat" {
  name                = "chat"
  api_management_name = module.apim.name
  resource_group_name = "rg"
  revision            = "1"
  path                = "openai"
}
""",
    )
    loaded = terraform.prepare(tmp_path)
    notes = "\n".join(loaded.notes)
    assert "main.tf:2: module 'apim' from Azure/avm-res-containerregistry-registry/azurerm" in notes
    assert "main.tf:8: module 'extra' from git::https://example.com" in notes
    (chat,) = [r for r in loaded.found if r["type"].endswith("/apis")]
    assert chat["name"] == "${module.apim.name}/chat"
    assert "is not read" in chat["_unknown"]["name"]
    # What the registry module declares is not seen: its deployment is not read whole.
    assert loaded.partial is not None and len(loaded.partial["."]) == 2
    (service,) = loaded.estate().services
    assert any("not read in its deployment" in why for why in service.elsewhere)


def test_variables_from_tfvars_files_as_terraform_loads_them(tmp_path: Path) -> None:
    write(
        tmp_path / "main.tf",
        SERVICE.replace('name                = "gw"', "name = var.name")
        + """
variable "name" {
  type    = string
  default = "from-default"
}

variable "path" {
  type = string
}

variable "required" {
  type = bool
}

variable "revision" {
  type = string
}

resource "azurerm_api_management_api" "chat" {
  name                  = "chat"
  api_management_name   = azurerm_api_management.gw.name
  resource_group_name   = "rg"
  revision              = var.revision
  path                  = var.path
  subscription_required = var.required
}
""",
    )
    write(tmp_path / "terraform.tfvars", 'name = "from-tfvars"\npath = "first"\nrevision = 1\n')
    write(tmp_path / "a.auto.tfvars", 'path = "openai"\n')
    write(tmp_path / "b.auto.tfvars.json", '{"required": false}')
    write(tmp_path / "prod.tfvars", 'name = "not-loaded"\n')  # only with -var-file
    estate = terraform.load(tmp_path)
    (service,) = estate.services
    assert service.name == "from-tfvars"
    (api,) = service.apis
    assert (api.path, api.subscription_required) == ("openai", False)
    found, _, notes = terraform.load_resources(tmp_path)
    # revision = 1 given to a variable of type string is "1", as Terraform converts it
    assert by_name(found)["from-tfvars/chat"]["properties"]["apiRevision"] == "1"
    assert any(
        "variable values from terraform.tfvars, a.auto.tfvars, b.auto.tfvars.json" in n
        for n in notes
    )


def test_optional_object_attributes_take_their_defaults(tmp_path: Path) -> None:
    write(
        tmp_path / "main.tf",
        SERVICE
        + """
variable "apis" {
  type = map(object({
    path     = string
    required = optional(bool, true)
    kind     = optional(string)
  }))
  default = {
    chat = { path = "openai" }
    misc = { path = "misc", required = false }
  }
}

resource "azurerm_api_management_api" "api" {
  for_each              = var.apis
  name                  = each.key
  api_management_name   = azurerm_api_management.gw.name
  resource_group_name   = "rg"
  revision              = "1"
  path                  = each.value.path
  subscription_required = each.value.required
  api_type              = coalesce(each.value.kind, "http")
}
""",
    )
    found = by_name(terraform.load_resources(tmp_path)[0])
    assert found["gw/chat"]["properties"]["subscriptionRequired"] is True
    assert found["gw/misc"]["properties"]["subscriptionRequired"] is False
    assert found["gw/chat"]["properties"]["type"] == "http"


# -------------------------------------------------------------------------------------- loops


FOR_EACH_ACCOUNTS = (
    SERVICE
    + """
locals {
  regions = {
    east = { location = "eastus", priority = 1 }
    west = { location = "westus", priority = 2 }
  }
}

resource "azurerm_cognitive_account" "ai" {
  for_each                      = local.regions
  name                          = "aoai-${each.key}"
  location                      = each.value.location
  resource_group_name           = "rg"
  kind                          = "OpenAI"
  sku_name                      = "S0"
  custom_subdomain_name         = "aoai-${each.key}"
  local_auth_enabled            = true
  public_network_access_enabled = true
}

resource "azurerm_api_management_backend" "ai" {
  for_each            = azurerm_cognitive_account.ai
  name                = each.value.name
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  protocol            = "http"
  url                 = "${each.value.endpoint}openai"
}

resource "azurerm_api_management_api" "chat" {
  name                = "chat"
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  revision            = "1"
  path                = "openai"
  service_url         = "${azurerm_cognitive_account.ai["east"].endpoint}openai"
}

resource "azurerm_api_management_api_policy" "chat" {
  api_name            = azurerm_api_management_api.chat.name
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  xml_content         = <<XML
<policies>
  <inbound>
    <base />
    <set-backend-service backend-id="${azurerm_api_management_backend.ai["west"].name}" />
    <llm-emit-token-metric namespace="ai">
      <dimension name="Subscription ID" />
    </llm-emit-token-metric>
  </inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>
XML
}

output "ids" {
  value = values(azurerm_cognitive_account.ai)[*].id
}
"""
)


def test_a_for_each_account_with_keys_and_open_network_fails_cov008(tmp_path: Path) -> None:
    """The acceptance case: accounts made per element of a map, each matched to the backend
    (and service URL) that names it, each judged on its own arguments."""
    main = write(tmp_path / "main.tf", FOR_EACH_ACCOUNTS)
    estate = terraform.load(tmp_path)
    assert sorted(a.name for a in estate.ai_accounts) == ["aoai-east", "aoai-west"]
    assert all(a.disable_local_auth is False for a in estate.ai_accounts)
    (service,) = estate.services
    assert sorted(service.backends) == ["aoai-east", "aoai-west"]
    assert "aoai-west" in (service.backends["aoai-west"].unknown[0][1])
    audit = audit_of(estate)
    cov8 = findings(audit, "COV008", "chat")
    assert sorted(f.status for f in cov8) == ["fail", "fail"]
    assert {f.location for f in cov8 if f.location} == {
        type(cov8[0].location)("main.tf", line_of(main, 'resource "azurerm_cognitive_account"'))
    }
    assert {m for f in cov8 for m in ("aoai-east", "aoai-west") if m in f.message} == {
        "aoai-east",
        "aoai-west",
    }
    assert audit.apis[0].verdicts["coverage"] == "fail"


def test_count_instances_and_references_to_them(tmp_path: Path) -> None:
    write(
        tmp_path / "main.tf",
        SERVICE
        + """
variable "names" {
  default = ["a", "b", "c"]
}

resource "azurerm_api_management_product" "team" {
  count               = length(var.names)
  product_id          = "team-${var.names[count.index]}"
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  display_name        = upper(var.names[count.index])
}

resource "azurerm_api_management_named_value" "ids" {
  name                = "ids"
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  display_name        = join(",", azurerm_api_management_product.team[*].product_id)
}

resource "azurerm_api_management_named_value" "first" {
  name                = "first"
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  display_name        = azurerm_api_management_product.team[0].display_name
}
""",
    )
    found = by_name(terraform.load_resources(tmp_path)[0])
    assert [found[f"gw/team-{n}"]["properties"]["displayName"] for n in "abc"] == ["A", "B", "C"]
    assert found["gw/ids"]["properties"]["displayName"] == "team-a,team-b,team-c"
    assert found["gw/first"]["properties"]["displayName"] == "A"


def test_a_loop_over_what_is_unknown_is_one_instance_and_a_note(tmp_path: Path) -> None:
    write(
        tmp_path / "main.tf",
        SERVICE
        + """
variable "teams" {
  type = map(string)
}

resource "azurerm_api_management_product" "team" {
  for_each            = var.teams
  product_id          = each.key
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  display_name        = each.value
}
""",
    )
    loaded = terraform.prepare(tmp_path)
    (product,) = [r for r in loaded.found if r["type"].endswith("/products")]
    assert product["name"] == "gw/${each.key}"
    assert "a key of var.teams" in product["_unknown"]["name"]
    assert "main.tf:15" in product["_unknown"]["name"]
    (why,) = loaded.partial["."]  # type: ignore[index]
    assert why.startswith("main.tf:15: azurerm_api_management_product.team: a loop over var.teams")


def test_a_condition_that_cannot_be_decided_is_kept_and_a_known_one_decides(
    tmp_path: Path,
) -> None:
    write(
        tmp_path / "main.tf",
        SERVICE
        + """
variable "enable_chat" {
  type = bool
}

variable "enable_legacy" {
  default = false
}

"""
        + api("chat", "chat", "openai", "count = var.enable_chat ? 1 : 0")
        + api("legacy", "legacy", "legacy", "count = var.enable_legacy ? 1 : 0"),
    )
    found = by_name(terraform.load_resources(tmp_path)[0])
    assert "gw/legacy" not in found
    assert found["gw/chat"]["_condition"].startswith("if (var.enable_chat) at main.tf:")
    assert "var.enable_chat has no value" in found["gw/chat"]["_condition"]


def test_dynamic_blocks_and_old_log_blocks_of_diagnostic_settings(tmp_path: Path) -> None:
    write(
        tmp_path / "main.tf",
        ACCOUNT
        + """
locals {
  categories = ["Audit", "RequestResponse"]
}

resource "azurerm_monitor_diagnostic_setting" "new" {
  name                       = "new"
  target_resource_id         = azurerm_cognitive_account.ai.id
  log_analytics_workspace_id = "/subscriptions/s/resourceGroups/rg/providers/x/workspaces/w"

  dynamic "enabled_log" {
    for_each = local.categories
    iterator = cat
    content {
      category = cat.value
    }
  }
}

resource "azurerm_monitor_diagnostic_setting" "old" {
  name                       = "old"
  target_resource_id         = azurerm_cognitive_account.ai.id
  log_analytics_workspace_id = "/subscriptions/s/resourceGroups/rg/providers/x/workspaces/w"

  log {
    category = "Audit"
    enabled  = true
  }
  log {
    category = "RequestResponse"
    enabled  = false
  }
  metric {
    category = "AllMetrics"
  }
}
""",
    )
    estate = terraform.load(tmp_path)
    settings = {s.name: s.categories for s in estate.diagnostic_settings}
    assert settings == {"new": ("Audit", "RequestResponse"), "old": ("Audit",)}


# -------------------------------------------------------------------------------------- azapi


PATCHED = (
    SERVICE
    + """
resource "azurerm_application_insights" "ai" {
  name                = "appi-gw"
  location            = "swedencentral"
  resource_group_name = "rg"
  application_type    = "web"
}

resource "azurerm_api_management_logger" "ai" {
  name                = "appinsights"
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  resource_id         = azurerm_application_insights.ai.id

  application_insights {
    connection_string = azurerm_application_insights.ai.connection_string
  }
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

resource "azurerm_api_management_api_diagnostic" "ai" {
  identifier               = "applicationinsights"
  api_name                 = azurerm_api_management_api.chat.name
  api_management_name      = azurerm_api_management.gw.name
  resource_group_name      = "rg"
  api_management_logger_id = azurerm_api_management_logger.ai.id
}
"""
)

PATCHES = """
# azurerm has no metrics flag: patched (terraform-provider-azurerm #27541).
resource "azapi_update_resource" "metrics" {
  type        = "Microsoft.ApiManagement/service/apis/diagnostics@2024-05-01"
  resource_id = "${azurerm_api_management_api.chat.id}/diagnostics/applicationinsights"

  body = {
    properties = {
      metrics = true
    }
  }
}

resource "azapi_update_resource" "dimensions" {
  type        = "Microsoft.Insights/components@2020-02-02"
  resource_id = azurerm_application_insights.ai.id
  body = jsonencode({
    properties = {
      CustomMetricsOptedInType = "WithDimensions"
    }
  })
}
"""


def test_azapi_patches_set_metrics_and_dimensions_azurerm_cannot(tmp_path: Path) -> None:
    """The acceptance case: an azapi_update_resource that sets metrics = true makes COV005
    pass; one that sets CustomMetricsOptedInType = "WithDimensions" makes COV009 pass."""
    write(tmp_path / "policy.xml", METERED)
    write(tmp_path / "main.tf", PATCHED)
    before = audit_of(terraform.load(tmp_path))
    assert [f.status for f in findings(before, "COV005")] == ["fail"]
    assert [f.status for f in findings(before, "COV009")] == ["skip"]
    patches = write(tmp_path / "patches.tf", PATCHES)
    estate = terraform.load(tmp_path)
    (diag,) = estate.services[0].apis[0].diagnostics
    assert diag.metrics is True
    # The patch is where the metrics flag is shown.
    assert diag.metrics_location is not None
    assert (diag.metrics_location.path, diag.metrics_location.line) == (
        "patches.tf",
        line_of(patches, "metrics = true"),
    )
    (insights,) = estate.app_insights
    assert insights.custom_metrics == "WithDimensions"
    audit = audit_of(estate)
    assert [f.status for f in findings(audit, "COV005")] == ["pass"]
    assert [f.status for f in findings(audit, "COV009")] == ["pass"]


def test_a_patch_of_what_the_deployment_does_not_declare_is_a_note(tmp_path: Path) -> None:
    write(
        tmp_path / "main.tf",
        """
resource "azapi_update_resource" "metrics" {
  type      = "Microsoft.ApiManagement/service/diagnostics@2024-05-01"
  parent_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/gw"
  name      = "applicationinsights"
  body = {
    properties = { metrics = true }
  }
}
""",
    )
    _, _, notes = terraform.load_resources(tmp_path)
    assert notes == [
        "main.tf:2: azapi_update_resource.metrics patches "
        "Microsoft.ApiManagement/service/diagnostics 'gw/applicationinsights', which this "
        "deployment does not declare; the patch is not applied"
    ]


def test_azapi_resources_and_put_actions_are_resources(tmp_path: Path) -> None:
    write(
        tmp_path / "main.tf",
        SERVICE
        + """
resource "azapi_resource" "account" {
  type      = "Microsoft.CognitiveServices/accounts@2024-10-01"
  name      = "aif"
  parent_id = "/subscriptions/s/resourceGroups/rg"
  body = {
    kind = "AIServices"
    properties = {
      customSubDomainName = "aif"
      disableLocalAuth    = var.disable_key_auth
      publicNetworkAccess = "Disabled"
    }
  }
}

variable "disable_key_auth" {
  default = false
}

locals {
  settings = "Microsoft.Insights/diagnosticSettings"
}

resource "azapi_resource_action" "account_logs" {
  type        = "Microsoft.Insights/diagnosticSettings@2021-05-01-preview"
  resource_id = "${azapi_resource.account.id}/providers/${local.settings}/to-law"
  method      = "PUT"
  body = {
    properties = {
      workspaceId = "/subscriptions/s/resourceGroups/rg/providers/x/workspaces/law"
      logs        = [{ categoryGroup = "allLogs", enabled = true }]
    }
  }
}

resource "azapi_resource_action" "keys" {
  type        = "Microsoft.CognitiveServices/accounts@2024-10-01"
  resource_id = azapi_resource.account.id
  action      = "listKeys"
}

resource "azapi_resource" "pool" {
  type      = "Microsoft.ApiManagement/service/backends@2024-06-01-preview"
  name      = "pool"
  parent_id = azurerm_api_management.gw.id
  body = {
    properties = {
      type = "Pool"
      pool = { services = [{ id = "${azurerm_api_management.gw.id}/backends/a" }] }
    }
  }
}
""",
    )
    estate = terraform.load(tmp_path)
    (account,) = estate.ai_accounts
    assert (account.name, account.disable_local_auth) == ("aif", False)
    assert "aif.cognitiveservices.azure.com" in account.hosts
    (setting,) = estate.diagnostic_settings
    assert (setting.name, setting.account, setting.category_groups) == (
        "to-law",
        "aif",
        ("allLogs",),
    )
    assert estate.services[0].backends["pool"].pool == ("a",)


# -------------------------------------------------------------------------- files and templates


TEMPLATE = """<policies>
  <inbound>
    <base />
%{ if metered ~}
    <llm-emit-token-metric namespace="${namespace}">
%{ for d in dimensions ~}
      <dimension name="${d}" />
%{ endfor ~}
    </llm-emit-token-metric>
%{ endif ~}
    <set-header name="x-tenant" exists-action="override"><value>${tenant}</value></set-header>
  </inbound>
</policies>
"""


def test_templatefile_with_directives_and_unknown_variables(tmp_path: Path) -> None:
    write(tmp_path / "policies" / "api.xml.tftpl", TEMPLATE)
    write(
        tmp_path / "main.tf",
        SERVICE
        + """
variable "tenant" {
  type = string
}

resource "azurerm_api_management_api_policy" "chat" {
  api_name            = "chat"
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  xml_content = templatefile("${path.module}/policies/api.xml.tftpl", {
    metered    = true
    namespace  = "ai"
    dimensions = ["Subscription ID", "API ID"]
    tenant     = var.tenant
  })
}
""",
    )
    found, errors, notes = terraform.load_resources(tmp_path)
    policy = by_name(found)["gw/chat/policy"]
    value = policy["properties"]["value"]
    assert '<llm-emit-token-metric namespace="ai">' in value
    # As Terraform renders it: a ~ strips the whitespace (line breaks too) on its side.
    assert (
        '<base />\n<llm-emit-token-metric namespace="ai">\n<dimension name="Subscription ID" />'
        '\n<dimension name="API ID" />\n</llm-emit-token-metric>\n<set-header' in value
    )
    assert "%{" not in value
    # The variable the caller cannot know stays a placeholder, with why and where.
    assert "<value>${var.tenant}</value>" in value
    assert "var.tenant has no value" in policy["_unknown"]["properties.value"]
    assert policy["_origin"]["path"] == "policies/api.xml.tftpl"
    assert errors == []


def test_template_file_and_local_file_data_sources(tmp_path: Path) -> None:
    write(tmp_path / "policy.xml.tpl", METERED.replace('namespace="ai"', 'namespace="${ns}"'))
    write(tmp_path / "fragment.xml", "<fragment>\n  <base />\n</fragment>\n")
    write(
        tmp_path / "main.tf",
        SERVICE
        + """
data "template_file" "policy" {
  template = file("${path.module}/policy.xml.tpl")
  vars = {
    ns = "usage"
  }
}

data "local_file" "fragment" {
  filename = "${path.module}/fragment.xml"
}

resource "azurerm_api_management_api_policy" "chat" {
  api_name            = "chat"
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  xml_content         = data.template_file.policy.rendered
}

resource "azurerm_api_management_policy_fragment" "f" {
  api_management_id = azurerm_api_management.gw.id
  name              = "f"
  value             = data.local_file.fragment.content
}
""",
    )
    found = by_name(terraform.load_resources(tmp_path)[0])
    policy = found["gw/chat/policy"]
    assert 'namespace="usage"' in policy["properties"]["value"]
    assert policy["_origin"] == {"path": "policy.xml.tpl", "line": 1}
    assert found["gw/f"]["properties"]["value"].startswith("<fragment>")


def import_block(content_format: str, value: str) -> str:
    return f'import {{\n    content_format = "{content_format}"\n    content_value  = {value}\n  }}'


def test_api_specs_from_import_blocks_give_operations(tmp_path: Path) -> None:
    spec = {
        "openapi": "3.0.1",
        "info": {"title": "AOAI", "version": "1"},
        "paths": {
            "/deployments/{deployment-id}/chat/completions": {
                "post": {"operationId": "ChatCompletions_Create", "responses": {}}
            }
        },
    }
    write(tmp_path / "spec.json", __import__("json").dumps(spec))
    write(
        tmp_path / "main.tf",
        SERVICE
        + """
"""
        + api("from_file", "from-file", "a", import_block("openapi+json", 'file("spec.json")'))
        + api(
            "from_object",
            "from-object",
            "b",
            import_block("openapi+json", 'jsonencode(jsondecode(file("spec.json")))'),
        )
        + api(
            "linked",
            "linked",
            "c",
            import_block(
                "openapi-link", '"https://example.com/AzureOpenAI/inference/2024-10-21.json"'
            ),
        ),
    )
    (service,) = terraform.load(tmp_path).services
    apis = {a.name: a for a in service.apis}
    for name in ("from-file", "from-object"):
        assert [(o.name, o.method) for o in apis[name].operations] == [
            ("ChatCompletions_Create", "POST")
        ]
    assert apis["linked"].spec_link is not None
    audit = audit_of(terraform.load(tmp_path))
    assert {a.api.name for a in audit.apis if a.llm} == {"from-file", "from-object", "linked"}


def test_provisioners_that_change_apim_are_not_seen_and_say_so(tmp_path: Path) -> None:
    write(
        tmp_path / "main.tf",
        SERVICE
        + """
resource "terraform_data" "logger" {
  provisioner "local-exec" {
    command = "az rest --method PUT --url https://management.azure.com${azurerm_api_management.gw.id}/loggers/azuremonitor"
  }
}

resource "null_resource" "unrelated" {
  provisioner "local-exec" {
    command = "echo hello"
  }
}
""",
    )
    loaded = terraform.prepare(tmp_path)
    (why,) = loaded.partial["."]  # type: ignore[index]
    assert why.startswith("main.tf:11: terraform_data.logger runs a command at apply time")


def test_azurerm_3x_inline_policy_block_is_the_global_policy(tmp_path: Path) -> None:
    policy = """
  policy {
    xml_content = <<XML
    <policies>
      <inbound>
        <set-header name="x-attribution-id" exists-action="override">
          <value>@(context.Subscription.Id)</value>
        </set-header>
      </inbound>
    </policies>
    XML
  }
}
"""
    main = write(tmp_path / "main.tf", SERVICE.rstrip().removesuffix("}") + policy)
    (service,) = terraform.load(tmp_path).services
    assert service.policy is not None and service.policy.ok and service.policy.root is not None
    assert service.policy.location(service.policy.root).line == line_of(main, "<policies>")


# -------------------------------------------------------------------------------------- secrets


def test_secrets_are_never_computed(tmp_path: Path) -> None:
    write(
        tmp_path / "main.tf",
        SERVICE
        + """
variable "api_key" {
  default = "SECRET-DEFAULT-1"
}

variable "other" {
  default   = "SECRET-SENSITIVE-2"
  sensitive = true
}

resource "azurerm_cognitive_account" "ai" {
  name                = "aoai"
  location            = "eastus"
  resource_group_name = "rg"
  kind                = "OpenAI"
  sku_name            = "S0"
}

resource "azurerm_api_management_named_value" "key" {
  name                = "key"
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  display_name        = "key"
  value               = azurerm_cognitive_account.ai.primary_access_key
}

resource "azurerm_api_management_api_policy" "chat" {
  api_name            = "chat"
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = "rg"
  xml_content         = <<XML
<policies><inbound><set-header name="a"><value>${var.api_key}</value></set-header>
<set-header name="b"><value>${var.other}</value></set-header>
<set-header name="c"><value>${azurerm_cognitive_account.ai.primary_access_key}</value></set-header>
<set-header name="d"><value>${azurerm_api_management_named_value.key.value}</value></set-header>
</inbound></policies>
XML
}
""",
    )
    found, _, notes = terraform.load_resources(tmp_path)
    dumped = repr(found) + repr(notes) + repr(terraform.load(tmp_path))
    assert "SECRET-" not in dumped
    policy = by_name(found)["gw/chat/policy"]
    assert "never read" in policy["_unknown"]["properties.value"]


# ------------------------------------------------------------------------------------ functions


def test_terraform_functions_as_terraform_defines_them(tmp_path: Path) -> None:
    cases = {
        "format": 'format("%s-%03d-%v", "apim", 7, true)',
        "coalesce": 'coalesce("", null, "x")',
        "regex_replace": 'replace("api-v1-v2", "/v(\\\\d)/", "r$1")',
        "lookup": 'lookup({a = "1"}, "b", "none")',
        "set": 'join(",", toset(["b", "a", "b"]))',
        "try": 'try(local.m.missing, "fallback")',
        "can": "tostring(can(local.m.missing))",
        "json": 'jsonencode({b = "<x>", a = 1})',
        "split": 'element(split("/", "a/b/c"), 1)',
        "divide": "tostring(5 / 2)",
        "keys": 'join(",", keys({b = 1, a = 2}))',
        "templated": '"${upper("a")}%{ if true }-yes%{ endif }"',
        "for": 'join(",", [for k, v in {x = 1, y = 2} : "${k}=${v}" if v > 1])',
        "flatten": "length(flatten([[1, 2], [3]]))",
    }
    body = "".join(
        f'resource "azurerm_api_management_named_value" "{k}" {{\n'
        f'  name = "{k}"\n  api_management_name = "gw"\n  display_name = {v}\n}}\n'
        for k, v in cases.items()
    )
    write(tmp_path / "main.tf", "locals {\n  m = { a = 1 }\n}\n" + body)
    found = by_name(terraform.load_resources(tmp_path)[0])
    got = {k: found[f"gw/{k}"]["properties"]["displayName"] for k in cases}
    assert got == {
        "format": "apim-007-true",
        "coalesce": "x",
        "regex_replace": "api-r1-r2",
        "lookup": "none",
        "set": "a,b",
        "try": "fallback",
        "can": "false",
        "json": '{"a":1,"b":"\\u003cx\\u003e"}',
        "split": "b",
        "divide": "2.5",
        "keys": "a,b",
        "templated": "A-yes",
        "for": "y=2",
        "flatten": 3,
    }


def test_values_not_known_offline_are_unknown_with_their_place(tmp_path: Path) -> None:
    main = write(
        tmp_path / "main.tf",
        """
data "azurerm_client_config" "current" {}

resource "random_string" "suffix" {
  length = 4
}

resource "azurerm_api_management" "gw" {
  name = "apim-${random_string.suffix.result}"
}

resource "azurerm_api_management_named_value" "tenant" {
  name                = "tenant"
  api_management_name = "fixed"
  display_name        = data.azurerm_client_config.current.tenant_id
}

resource "azurerm_api_management_named_value" "time" {
  name                = "time"
  api_management_name = "fixed"
  display_name        = timestamp()
}
""",
    )
    found = by_name(terraform.load_resources(tmp_path)[0])
    service = found["apim-${random_string.suffix.result}"]
    assert (
        f"main.tf:{line_of(main, 'apim-$')}: a random value made at apply"
        in service["_unknown"]["name"]
    )
    assert (
        "read from Azure when planned"
        in found["fixed/tenant"]["_unknown"]["properties.displayName"]
    )
    assert "the time of the apply" in found["fixed/time"]["_unknown"]["properties.displayName"]


def test_existing_services_and_accounts_from_data_sources(tmp_path: Path) -> None:
    write(
        tmp_path / "main.tf",
        """
data "azurerm_api_management" "gw" {
  name                = "shared-gw"
  resource_group_name = "rg"
}

data "azurerm_cognitive_account" "ai" {
  name                = "shared-aoai"
  resource_group_name = "rg"
}

resource "azurerm_api_management_api" "chat" {
  name                = "chat"
  api_management_id   = data.azurerm_api_management.gw.id
  resource_group_name = "rg"
  revision            = "1"
  path                = "openai"
  service_url         = "${data.azurerm_cognitive_account.ai.endpoint}openai"
}
""",
    )
    estate = terraform.load(tmp_path)
    (service,) = estate.services
    assert service.name == "shared-gw"
    assert "declared 'existing' at main.tf:2" in service.elsewhere[0]
    (api,) = service.apis
    (why,) = [w for k, w in api.unknown if k == "service_url"]
    assert "Microsoft.CognitiveServices/accounts (data source) 'shared-aoai'" in why
    assert audit_of(estate).apis[0].llm


# ------------------------------------------------------------------------------ hostile input


def test_values_that_grow_without_bound_stop_growing(tmp_path: Path) -> None:
    doubling = [f'  a{i} = "${{local.a{i - 1}}}${{local.a{i - 1}}}"' for i in range(1, 64)]
    write(
        tmp_path / "main.tf",
        'locals {\n  a0 = "xy"\n'
        + "\n".join(doubling)
        + "\n}\n"
        + 'resource "azurerm_api_management_named_value" "x" {\n  name = "x"\n'
        + '  api_management_name = "gw"\n  display_name = local.a63\n}\n'
        + 'resource "azurerm_api_management_named_value" "y" {\n  name = "y"\n'
        + '  api_management_name = "gw"\n'
        + '  display_name = replace(local.a21, "x", local.a21)\n}\n',
    )
    found = by_name(terraform.load_resources(tmp_path)[0])
    for name in ("gw/x", "gw/y"):
        assert "MiB is not computed" in found[name]["_unknown"]["properties.displayName"]


def test_loops_too_large_or_modules_that_call_themselves_are_not_expanded(
    tmp_path: Path,
) -> None:
    write(
        tmp_path / "main.tf",
        SERVICE
        + """
resource "azurerm_api_management_product" "many" {
  count               = 1000000000
  product_id          = "p${count.index}"
  api_management_name = azurerm_api_management.gw.name
}

resource "azurerm_api_management_product" "wide" {
  for_each            = toset([for i in range(1024) : "w${i}"])
  product_id          = each.key
  api_management_name = azurerm_api_management.gw.name
}

module "self" {
  source = "./"
}
""",
    )
    loaded = terraform.prepare(tmp_path)
    products = [r["name"] for r in loaded.found if r["type"].endswith("/products")]
    assert "gw/p${count.index}" in products and len(products) == 2
    notes = "\n".join(loaded.notes)
    assert "1000000000 instances are not expanded" in notes
    assert "a loop over 1024 items is not expanded" in notes
    assert "module 'self' calls itself" in notes


def test_a_loop_over_a_loop_not_expanded_and_json_syntax_are_said_not_read(
    tmp_path: Path,
) -> None:
    write(
        tmp_path / "main.tf",
        SERVICE
        + """
variable "regions" {
  type = set(string)
}

resource "azurerm_cognitive_account" "ai" {
  for_each = var.regions
  name     = "aoai-${each.key}"
  kind     = "OpenAI"
}

resource "azurerm_api_management_backend" "ai" {
  for_each            = azurerm_cognitive_account.ai
  name                = each.value.name
  api_management_name = azurerm_api_management.gw.name
  url                 = each.value.endpoint
}
""",
    )
    write(tmp_path / "extra.tf.json", '{"resource": {}}')
    loaded = terraform.prepare(tmp_path)
    (backend,) = [r for r in loaded.found if r["type"].endswith("/backends")]
    # Each value is the accounts' one instance: the backend names the account it stands for.
    assert backend["name"] == "gw/aoai-${each.key}"
    assert "accounts (kind OpenAI) 'aoai-${each.key}'" in backend["_unknown"]["properties.url"]
    partial = "\n".join(loaded.partial["."])  # type: ignore[index]
    assert "the instances of a loop that is not expanded" in partial
    assert "extra.tf.json: Terraform JSON syntax is not read" in partial

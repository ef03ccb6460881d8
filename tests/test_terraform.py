"""The Terraform source: azurerm 4.x/5.x and azapi modules as an estate."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from auditor import report
from auditor.errors import SourceError
from auditor.model import Location
from auditor.sources import terraform
from tests.support import audit_of, findings, line_of

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "terraform"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
SEIGGY = CORPUS / "iac" / "seiggy__apim-chargeback__infra__terraform__modules__gateway__main.tf"
SEIGGY_POLICY = CORPUS / "policies" / "seiggy__apim-chargeback__policies__entra-jwt-policy.xml"

METERED = """<policies>
  <inbound>
    <base />
    <llm-emit-token-metric namespace="${var.namespace}">
      <dimension name="Subscription ID" />
    </llm-emit-token-metric>
  </inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def policy_resource(label: str, content: str, api: str = "chat") -> str:
    return f"""
resource "azurerm_api_management_api_policy" "{label}" {{
  api_name            = "{api}"
  api_management_name = "apim"
  resource_group_name = "rg"
  xml_content         = {content}
}}
"""


# -------------------------------------------------------------------------- (1) a full estate


def test_estate_maps_service_apis_products_and_observability() -> None:
    estate = terraform.load(FIXTURES / "estate")
    assert estate.source_kind == "terraform"
    # What the module declares is trusted as seen.
    assert estate.provides >= terraform.PROVIDES - {"subscriptions"}
    assert estate.read_errors == ()
    (service,) = estate.services
    assert service.name == "contoso-apim"  # local -> "${var.prefix}-apim" -> variable default

    assert service.policy is not None and service.policy.ok
    assert service.policy.path == "main.tf"
    (api,) = service.apis
    assert api.name == "chat"
    assert api.path == "openai"
    # The account's endpoint is only known once deployed: the URL says which account it is.
    assert api.service_url == "${azurerm_cognitive_account.aoai.endpoint}openai"
    (why,) = [w for k, w in api.unknown if k == "service_url"]
    assert (
        "Microsoft.CognitiveServices/accounts (kind OpenAI) 'contoso-aoai'" in why
        and "main.tf:" in why
    )
    assert api.subscription_required is True
    assert api.products == ("team-a",)
    assert [(o.name, o.method) for o in api.operations] == [
        ("chat-completions", "POST"),
        ("embeddings", "POST"),
    ]
    assert api.policy is not None and api.policy.ok  # a <<-XML heredoc, indent stripped

    product = service.products["team-a"]
    assert product.subscription_required is True
    assert product.policy is not None and product.policy.ok
    assert product.policy.path == "policies/team-a-product.xml"  # read through file()
    assert service.fragments["token-metering"].is_fragment
    assert service.backends["aoai"].url == "${azurerm_cognitive_account.aoai.endpoint}openai"

    logger = service.loggers["appinsights"]
    assert logger.logger_type == "applicationInsights"
    assert logger.resource_id == "/providers/Microsoft.Insights/components/appi-contoso"
    (diag,) = service.diagnostics
    assert diag.name == "applicationinsights"
    assert diag.logger == "appinsights"
    assert diag.metrics is None  # azurerm has no metrics argument: never assumed
    assert diag.request_headers == ("x-attribution-id", "x-ms-client-request-id")
    assert diag.location.path == "observability.tf"

    (account,) = estate.ai_accounts  # the ComputerVision account is not an LLM backend
    assert account.name == "contoso-aoai"
    assert "contoso-aoai.openai.azure.com" in account.hosts
    assert account.disable_local_auth is False  # local_auth_enabled = true
    assert account.public_network_access == "Disabled"
    assert account.network_default_action == "Deny"
    (setting,) = estate.diagnostic_settings
    assert (setting.name, setting.account, setting.category_groups) == (
        "to-law",
        "contoso-aoai",
        ("allLogs",),
    )
    assert setting.workspace_id  # a reference to the workspace: set, even if only known later
    (insights,) = estate.app_insights
    assert insights.name == "appi-contoso"
    assert insights.custom_metrics is None


def test_estate_verdicts() -> None:
    audit = audit_of(terraform.load(FIXTURES / "estate"))
    (chat,) = audit.apis
    assert chat.llm
    # Metering comes from the fragment the API includes, the diagnostic cannot enable metrics.
    assert {f.status for f in findings(audit, "COV001")} == {"pass"}
    (cov5,) = findings(audit, "COV005")
    assert cov5.status == "fail" and "is not set" in cov5.message
    assert chat.verdicts["coverage"] == "fail"
    # The account behind the API (named by the unknown endpoint of its backend and service
    # URL) takes keys, and sends allLogs to the workspace.
    (cov8,) = findings(audit, "COV008")
    assert cov8.status == "fail" and "contoso-aoai" in cov8.message
    assert {f.status for f in findings(audit, "COR005")} == {"pass"}
    assert {f.status for f in findings(audit, "COR004")} == {"pass"}


def test_finding_lines_of_a_dedented_heredoc_point_into_the_tf_file() -> None:
    estate = terraform.load(FIXTURES / "estate")
    policy = estate.services[0].apis[0].policy
    assert policy is not None and policy.root is not None and not policy.pinned
    tf = FIXTURES / "estate" / "main.tf"
    start = line_of(tf, 'resource "azurerm_api_management_api_policy"')
    backend = policy.root.find(".//set-backend-service")
    assert backend is not None
    assert policy.location(backend) == Location("main.tf", line_of(tf, "<set-backend", start))
    audit = audit_of(estate)
    (evidence,) = [e for e in audit.apis[0].evidence if e.startswith("policy <llm-emit")]
    start = line_of(tf, 'resource "azurerm_api_management_policy_fragment"')
    assert evidence.endswith(f"main.tf:{line_of(tf, '<llm-emit-token-metric', start)}")


# ------------------------------------------------------------------ (2) the real seiggy module


NEEDS_SEIGGY = pytest.mark.skipif(not SEIGGY.is_file(), reason=f"corpus not found at {SEIGGY}")


@NEEDS_SEIGGY
def test_seiggy_gateway_module_loads_with_unknowns() -> None:
    """The module alone (its variables file is not in the corpus): nothing is guessed."""
    estate = terraform.load(SEIGGY)
    assert estate.read_errors == ()
    (service,) = estate.services
    # Its name is not a literal: the service is this deployment's (the file) alone.
    assert service.name == f"${{var.name_prefix}}-apim ({SEIGGY.name})"
    (api,) = service.apis
    assert api.name == "azure-openai-service-api"
    assert api.subscription_required is False
    assert sorted(service.named_values) == [
        "ContainerAppAudience",
        "ContainerAppUrl",
        "EntraTenantId",
        "ExpectedAudience",
    ]
    # for_each over a known set: one operation per method.
    assert [o.name for o in api.operations] == [
        f"passthrough-{m}" for m in ("delete", "get", "head", "options", "patch", "post", "put")
    ]
    # The azapi policy reads file(var.policy_xml_path): no caller gives the path, so unknown.
    assert api.policy is not None and api.policy.unseen and not api.policy.ok
    assert "var.policy_xml_path" in (api.policy.error or "")
    assert f"{SEIGGY.name}:141" in (api.policy.error or "")
    assert "openAiBackend" in service.backends
    audit = audit_of(estate)
    # Nothing that depends on the unknown policy may pass (body logging is the diagnostics').
    assert "pass" not in audit.apis[0].verdicts.values()
    policy_rules = [f for f in audit.findings if f.api == api.name and f.rule != "STR004"]
    assert policy_rules and all(f.status != "pass" for f in policy_rules if f.signal)
    assert report.to_dict(audit)["source"]["kind"] == "terraform"


@NEEDS_SEIGGY
def test_seiggy_module_with_its_inputs_reads_the_policy(tmp_path: Path) -> None:
    shutil.copy(SEIGGY, tmp_path / "main.tf")
    shutil.copy(SEIGGY_POLICY, write(tmp_path, "policies/entra-jwt-policy.xml", ""))
    write(
        tmp_path,
        "variables.tf",
        'variable "name_prefix" {\n  default = "chargeback"\n}\n'
        'variable "policy_xml_path" {\n  default = "policies/entra-jwt-policy.xml"\n}\n'
        'variable "ai_service_endpoint" {\n'
        '  default = "https://chargeback-ai.cognitiveservices.azure.com/"\n}\n'
        'variable "api_spec_url" {\n  default = ""\n}\n',
    )
    estate = terraform.load(tmp_path)
    (service,) = estate.services
    assert service.name == "chargeback-apim"
    api = service.apis[0]
    assert api.service_url == "https://chargeback-ai.cognitiveservices.azure.com/openai"
    assert api.policy is not None and api.policy.ok
    assert api.policy.path == "policies/entra-jwt-policy.xml"
    assert len(api.operations) == 7
    assert api.spec_link is None  # dynamic "import" over [] (api_spec_url is "")
    audit = audit_of(estate)
    assert audit.apis[0].llm
    located = [f for f in audit.findings if f.location and f.location.path == api.policy.path]
    assert located and all(f.location and f.location.line for f in located)


# ------------------------------------------------------------------------ (3) broken files


def test_broken_hcl_is_located_and_other_files_still_load() -> None:
    estate = terraform.load(FIXTURES / "broken")
    (error,) = estate.read_errors
    assert error.location.path == "broken.tf"
    assert error.location.line == line_of(FIXTURES / "broken" / "broken.tf", "= =")
    assert "invalid HCL" in error.message
    assert [a.name for a in estate.services[0].apis] == ["chat"]
    assert findings(audit_of(estate), "AUD002")[0].location == error.location


def test_oversized_and_undecodable_files_are_refused(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "broken" / "good.tf", tmp_path / "good.tf")
    with (tmp_path / "big.tf").open("wb") as fh:
        fh.truncate(terraform.MAX_TF_BYTES + 1)
    (tmp_path / "latin1.tf").write_bytes(b'locals {\n  a = "caf\xe9"\n}\n')
    estate = terraform.load(tmp_path)
    errors = {e.location.path: e.message for e in estate.read_errors}
    assert "over the 8 MiB limit" in errors["big.tf"]
    assert "UTF-8" in errors["latin1.tf"]
    assert estate.services[0].apis[0].name == "chat"


def test_nothing_to_read_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        terraform.load(tmp_path / "missing")
    write(tmp_path, "README.md", "no terraform here")
    with pytest.raises(SourceError):
        terraform.load(tmp_path)


# -------------------------------------------------------------- (4) heredoc finding locations


def test_unmetered_heredoc_policy_points_at_inbound_in_the_tf_file() -> None:
    audit = audit_of(terraform.load(FIXTURES / "unmetered"))
    (cov,) = findings(audit, "COV001")
    assert cov.status == "fail"
    assert cov.location is not None
    assert cov.location.path == "main.tf"
    assert cov.location.line == line_of(FIXTURES / "unmetered" / "main.tf", "<inbound>")


# --------------------------------------------------------------------------- (5) secrets


SECRETS = (
    "SECRET-IKEY-7f3a9c1e-0000-4b1d-9e8f-123456789abc",
    "SECRET-EH-KEY-abc123=",
    "SECRET-PRIMARY-KEY-111111",
    "SECRET-SECONDARY-KEY-222222",
    "SECRET-NAMED-VALUE-333333",
    "SECRET-BACKEND-HEADER-444444",
    "SECRET-BACKEND-QUERY-555555",
    "SECRET-AZAPI-IKEY-666666",
    "SECRET-AZAPI-NV-777777",
)


def test_secrets_never_reach_the_estate_or_the_report() -> None:
    found, _errors, notes = terraform.load_resources(FIXTURES / "secrets")
    estate = terraform.load(FIXTURES / "secrets")
    service = estate.services[0]
    assert sorted(service.loggers) == ["ai-logger", "azapi-logger", "hub-logger"]
    assert service.loggers["hub-logger"].logger_type == "azureEventHub"
    assert sorted(service.named_values) == ["aoai-key", "azapi-nv"]
    assert [(s.scope_kind, s.scope_name) for s in service.subscriptions] == [("product", "team-b")]
    # The policy's reference to the named value is refused and kept as the expression text.
    policy = service.apis[0].policy
    assert policy is not None and policy.ok
    assert "${azurerm_api_management_named_value.aoai_key.value}" in (policy.text or "")
    dumped = "\n".join(
        [
            repr(estate),
            json.dumps(report.to_dict(audit_of(estate))),
            json.dumps(found),
            *notes,
        ]
    )
    leaked = [s for s in SECRETS if s in dumped]
    assert leaked == []


def test_sensitive_variables_are_not_read_into_policies(tmp_path: Path) -> None:
    write(
        tmp_path,
        "main.tf",
        'variable "api_key" {\n  default = "SECRET-VAR-888"\n}\n'
        'variable "token_header" {\n  default = "SECRET-VAR-999"\n  sensitive = true\n}\n'
        + policy_resource(
            "p",
            '<<XML\n<policies><inbound><set-header name="${var.token_header}">'
            "<value>${var.api_key}</value></set-header></inbound></policies>\nXML",
        ),
    )
    estate = terraform.load(tmp_path)
    assert "SECRET-VAR" not in repr(estate)


# ---------------------------------------------------------------------------- (6) azapi


def test_azapi_policy_in_a_jsonencode_body() -> None:
    folder = FIXTURES / "azapi"
    estate = terraform.load(folder)
    (service,) = estate.services
    assert service.name == "gw-apim"  # from the parent id in a variable default
    (api,) = service.apis  # the storage account is not part of the estate
    assert api.service_url == "https://gw-aoai.openai.azure.com/openai"
    policy = api.policy  # parent_id "<api id>;rev=1" is the API itself
    assert policy is not None and policy.ok
    metric = policy.root.find(".//llm-emit-token-metric") if policy.root is not None else None
    assert metric is not None
    start = line_of(folder / "main.tf", 'resource "azapi_resource" "chat_policy"')
    assert policy.location(metric).line == line_of(folder / "main.tf", "<llm-emit-token", start)
    assert service.fragments["usage-log"].path == "policies/usage-log.xml"
    (diag,) = service.diagnostics
    assert (diag.logger, diag.metrics) == ("appinsights", True)  # azapi can set metrics
    audit = audit_of(estate)
    assert {f.status for f in findings(audit, "COV005")} == {"pass"}
    # The module declares no Azure OpenAI account: the bypass check (COV008) cannot run, so
    # coverage is unknown for that reason alone, never pass.
    assert audit.apis[0].verdicts["coverage"] == "unknown"
    blockers = {f.rule for f in audit.findings if f.signal == "coverage" and f.status == "skip"}
    assert blockers <= {"COV008", "COV009"}


# ------------------------------------------------------------- references, files and layout


def test_file_targets_missing_escaping_or_templated(tmp_path: Path) -> None:
    root = tmp_path / "infra"
    write(tmp_path, "outside.xml", METERED)
    write(root, "policies/metered.tftpl", METERED)
    write(
        root,
        "main.tf",
        policy_resource("missing", 'file("${path.module}/policies/nope.xml")', "a")
        + policy_resource("escape", 'file("${path.module}/../outside.xml")', "b")
        + policy_resource(
            "templated",
            'templatefile("${path.module}/policies/metered.tftpl", { namespace = "ai" })',
            "c",
        )
        + policy_resource("comma", 'templatefile("${path.module}/policies/a,b.xml", {})', "d")
        + policy_resource("folder", 'file("${path.module}")', "e")
        + policy_resource("linked", 'file("${path.module}/policies/link.xml")', "f"),
    )
    write(root, "policies/a,b.xml", METERED)
    (root / "policies" / "link.xml").symlink_to(tmp_path / "outside.xml")
    found, errors, notes = terraform.load_resources(root)
    props = {r["name"]: r["properties"] for r in found}
    assert props["apim/d/policy"]["value"] == METERED  # a comma in the path is not a separator
    assert props["apim/e/policy"]["unresolved"].endswith("'.' is not a file")
    assert "outside the scanned folder" in props["apim/f/policy"]["unresolved"]
    assert "'policies/nope.xml' is not a file" in props["apim/a/policy"]["unresolved"]
    assert "outside the scanned folder" in props["apim/b/policy"]["unresolved"]
    # A template variable it is not given stays a placeholder (and says where and why).
    assert "${var.namespace}" in props["apim/c/policy"]["value"]
    (why,) = [r["_unknown"]["properties.value"] for r in found if r["name"] == "apim/c/policy"]
    assert "'var' is not among the variables given to templatefile(" in why
    assert "policies/metered.tftpl:4" in why
    assert any("they read as ${...} in it" in n for n in notes)
    assert errors == []


def test_variables_locals_revisions_and_old_log_blocks(tmp_path: Path) -> None:
    write(
        tmp_path,
        "locals.tf",
        'variable "namespace" {\n  default = "usage"\n}\n'
        'variable "apim_name" {\n  type = string\n}\n'
        "locals {\n  policy = <<XML\n" + METERED + "\nXML\n}\n",
    )
    write(
        tmp_path,
        "main.tf",
        """
resource "azurerm_api_management_api" "chat" {
  name                = "chat"
  api_management_name = var.apim_name
  resource_group_name = "rg"
  revision            = "1"
  path                = "openai"
  service_url         = "https://x.openai.azure.com/openai"
}

resource "azurerm_api_management_api" "chat_v2" {
  name                = "chat"
  api_management_name = var.apim_name
  resource_group_name = "rg"
  revision            = "2"
  source_api_id       = "${azurerm_api_management_api.chat.id};rev=1"
  path                = "openai"
}

resource "azurerm_api_management_api_policy" "chat" {
  api_name            = azurerm_api_management_api.chat.name
  api_management_name = var.apim_name
  resource_group_name = "rg"
  xml_content         = local.policy
}

resource "azurerm_ai_services" "legacy" {
  name                = "legacy-ai"
  location            = "westeurope"
  resource_group_name = "rg"
  sku_name            = "S0"
  local_auth_enabled  = false
}

resource "azurerm_monitor_diagnostic_setting" "legacy" {
  name                       = "legacy"
  target_resource_id         = azurerm_ai_services.legacy.id
  log_analytics_workspace_id = data.azurerm_log_analytics_workspace.shared.id

  log {
    category = "Audit"
    enabled  = true
  }
  log {
    category = "RequestResponse"
    enabled  = false
  }
}
""",
    )
    estate = terraform.load(tmp_path)
    (service,) = estate.services
    assert service.name == "${var.apim_name} (.)"  # this deployment's, its name not a literal
    found = terraform.load_resources(tmp_path)[0]
    (chat,) = [r for r in found if r["type"].endswith("/apis")]
    assert "var.apim_name has no value (no default" in chat["_unknown"]["name"]
    (api,) = service.apis  # the revision made from chat;rev=1 is skipped
    policy = api.policy
    assert policy is not None and policy.ok and policy.path == "locals.tf"
    metric = policy.root.find(".//llm-emit-token-metric") if policy.root is not None else None
    assert metric is not None and metric.get("namespace") == "usage"  # interpolated default
    assert policy.location(metric).line == line_of(tmp_path / "locals.tf", "<llm-emit-token")
    (account,) = estate.ai_accounts
    assert (account.name, account.disable_local_auth) == ("legacy-ai", True)
    (setting,) = estate.diagnostic_settings
    assert setting.categories == ("Audit",)
    assert setting.workspace_id == "${data.azurerm_log_analytics_workspace.shared.id}"


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_find_files_skips_hidden_and_linked_folders(tmp_path: Path) -> None:
    write(tmp_path, "b.tf", "")
    write(tmp_path, "mod/a.tf", "")
    write(tmp_path, ".terraform/modules/x/main.tf", "")
    write(tmp_path, ".hidden/main.tf", "")
    write(tmp_path, "mod/notes.txt", "")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    write(outside, "evil.tf", "")
    (tmp_path / "linked").symlink_to(outside, target_is_directory=True)
    (tmp_path / "evil.tf").symlink_to(outside / "evil.tf")
    found = [p.relative_to(tmp_path).as_posix() for p in terraform.find_files(tmp_path)]
    assert found == ["b.tf", "mod/a.tf"]


def test_a_locals_cycle_is_unknown_not_a_hang(tmp_path: Path) -> None:
    write(
        tmp_path,
        "main.tf",
        'locals {\n  a = local.b\n  b = "x${local.a}"\n  c = "${local.a}y"\n}\n'
        + policy_resource("p", "local.c"),
    )
    found, _, notes = terraform.load_resources(tmp_path)
    (policy,) = [r for r in found if r["name"] == "apim/chat/policy"]
    assert "refers to itself" in policy["properties"]["unresolved"]
    assert any("refers to itself" in n for n in notes)


def test_a_name_written_alike_in_many_blocks_resolves_alike_and_each_unresolved_one_says_where(
    tmp_path: Path,
) -> None:
    blocks = "".join(
        f'resource "azurerm_api_management_api" "{label}" {{\n'
        f"  api_management_name = {svc}\n"
        f'  name                = "{label}"\n'
        "}\n"
        for label, svc in (
            ("a", "azurerm_api_management.gw.name"),
            ("b", "azurerm_api_management.gw.name"),
            ("c", "var.missing"),
            ("d", "var.missing"),
        )
    )
    main = write(
        tmp_path, "main.tf", 'resource "azurerm_api_management" "gw" {\n  name = "gw"\n}\n' + blocks
    )
    found, _, notes = terraform.load_resources(tmp_path)
    names = sorted(r["name"] for r in found if r["type"].endswith("/apis"))
    assert names == ["${var.missing}/c", "${var.missing}/d", "gw/a", "gw/b"]
    # Each block whose name is not known says why, and is shown at its own line.
    by_label = {r["name"].rsplit("/", 1)[-1]: r for r in found}
    for label in ("c", "d"):
        assert by_label[label]["_origin"]["line"] == line_of(main, f'"{label}"')
        assert "variable 'missing' is not declared" in by_label[label]["_unknown"]["name"]

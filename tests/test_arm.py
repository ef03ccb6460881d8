"""The ARM template source: nested children, symbolic names, deployments, expressions, secrets."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from auditor import engine, report, rules
from auditor.errors import SourceError
from auditor.model import Estate
from auditor.sources import arm
from auditor.sources.iac.values import Unknown
from tests.support import HANG_SECONDS

FIXTURES = Path(__file__).parent / "fixtures" / "arm"
ESTATE = FIXTURES / "estate"
SYMBOLIC = FIXTURES / "symbolic"
SECRET = "SECRET-"  # every secret in the fixtures starts with this


def value_line(file: Path, after: str) -> int:
    """The line of the first '"value": "<' at or after the first line containing ``after``."""
    lines = file.read_text("utf-8").splitlines()
    start = next(i for i, text in enumerate(lines) if after in text)
    return next(i + 1 for i in range(start, len(lines)) if '"value": "<' in lines[i])


def verdicts(estate: Estate) -> dict[str, dict[str, str]]:
    audit = engine.run(estate, rules.load())
    return {a.id: a.verdicts for a in audit.apis if a.llm}


def test_is_template() -> None:
    schema = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
    assert arm.is_template({"$schema": schema})
    assert arm.is_template({"contentVersion": "1.0.0.0", "resources": []})
    assert not arm.is_template({"$schema": schema.replace("Template", "Parameters")})
    assert not arm.is_template({"resources": []})
    assert not arm.is_template([])


def test_find_files_skips_parameters_hidden_and_linked_folders(tmp_path: Path) -> None:
    shutil.copytree(ESTATE, tmp_path / "infra")
    (tmp_path / ".git").mkdir()
    shutil.copy(ESTATE / "azuredeploy.json", tmp_path / ".git" / "t.json")
    (tmp_path / "node_modules").mkdir()
    shutil.copy(ESTATE / "azuredeploy.json", tmp_path / "node_modules" / "t.json")
    (tmp_path / "package.json").write_text('{"name": "x", "resources": []}', "utf-8")
    (tmp_path / "linked").symlink_to(tmp_path / "infra")
    assert arm.find_files(tmp_path) == [tmp_path / "infra" / "azuredeploy.json"]


def test_estate_shape_from_nested_children_and_parameters_file() -> None:
    estate = arm.load(ESTATE)
    assert estate.source_kind == "arm"
    assert estate.provides == arm.PROVIDES
    assert estate.read_errors == ()
    assert "azuredeploy.json: parameter values from azuredeploy.parameters.json" in estate.notes
    (svc,) = estate.services
    assert svc.name == "apim-contoso"
    assert [a.name for a in svc.apis] == ["chat", "legacy"]
    chat = svc.apis[0]
    # The account name comes from the parameters file, through a format() variable.
    assert chat.service_url == "https://contoso-eastus.openai.azure.com/openai"
    assert chat.products == ("team-finance",)
    assert [o.name for o in chat.operations] == ["chat-completions-create"]
    assert chat.policy is not None and chat.policy.ok
    assert svc.apis[1].products == ("team-finance",)  # through products/apiLinks
    assert sorted(svc.fragments) == ["attribution-header", "llm-metering"]
    assert svc.backends["aoai-eastus"].url == chat.service_url
    assert svc.loggers["appinsights"].resource_id == (
        "/providers/Microsoft.Insights/components/appi-apim-contoso"
    )
    (diag,) = svc.diagnostics
    assert (diag.name, diag.logger, diag.metrics) == ("applicationinsights", "appinsights", True)
    assert diag.request_headers == ("x-attribution-id",)
    (sub,) = svc.subscriptions
    assert (sub.scope_kind, sub.scope_name, sub.active) == ("product", "team-finance", True)
    assert svc.named_values == ("aoai-key",)
    (account,) = estate.ai_accounts
    assert account.name == "contoso-eastus"
    assert "contoso-eastus.openai.azure.com" in account.hosts
    assert (account.disable_local_auth, account.public_network_access) == (True, "Disabled")
    (setting,) = estate.diagnostic_settings
    assert (setting.account, setting.category_groups) == ("contoso-eastus", ("allLogs",))
    assert setting.workspace_id and setting.workspace_id.endswith("/law-contoso")
    (component,) = estate.app_insights
    assert (component.name, component.custom_metrics) == ("appi-apim-contoso", "WithDimensions")
    # An API points at the line of its resource object (the '{' before its "type").
    lines = (ESTATE / "azuredeploy.json").read_text("utf-8").splitlines()
    at = next(i for i, t in enumerate(lines) if t.strip() == '"type": "apis",')
    assert lines[at + 2].strip() == '"name": "chat",' and lines[at - 1].strip() == "{"
    assert (chat.location.path, chat.location.line) == ("azuredeploy.json", at)


def test_verdicts_of_the_estate() -> None:
    assert verdicts(arm.load(ESTATE)) == {
        "apim-contoso/chat": {
            "coverage": "pass",
            "identity": "pass",
            "streaming": "pass",
            "correlation": "pass",
        },
        # No token metric runs: coverage fails; identity and streaming cannot pass.
        "apim-contoso/legacy": {
            "coverage": "fail",
            "identity": "unknown",
            "streaming": "unknown",
            "correlation": "pass",
        },
    }


def test_policy_findings_point_at_the_value_line() -> None:
    audit = engine.run(arm.load(ESTATE), rules.load())
    template = ESTATE / "azuredeploy.json"
    (cov,) = [f for f in audit.findings if f.rule == "COV001" and f.status == "fail"]
    assert cov.api == "legacy"
    assert cov.location is not None
    assert (cov.location.path, cov.location.line) == (
        "azuredeploy.json",
        value_line(template, "'legacy', 'policy')]"),
    )
    # A statement on line 2 of a fragment is still reported at the fragment's "value" line.
    (metric,) = [f for f in audit.findings if f.rule == "STR002" and f.status == "fail"]
    assert metric.location is not None
    assert metric.location.line == value_line(template, '"name": "llm-metering"')


def test_a_broken_embedded_policy_is_reported_at_its_value_line_also_from_a_snapshot(
    tmp_path: Path,
) -> None:
    from auditor.sources import snapshot

    template = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
        "deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.ApiManagement/service/policies",
                "apiVersion": "2024-05-01",
                "name": "gw/policy",
                "properties": {
                    "format": "rawxml",
                    # Broken on the XML's third line, which is not a line of the JSON file.
                    "value": "<policies>\n<inbound>\n<oops></inbound>\n</policies>",
                },
            }
        ],
    }
    file = tmp_path / "main.json"
    file.write_text(json.dumps(template, indent=2), encoding="utf-8")
    where = value_line(file, '"name": "gw/policy"')

    def unreadable(estate: Estate) -> list[tuple[str | None, int | None]]:
        audit = engine.run(estate, rules.load())
        return [
            (f.location.path, f.location.line)
            for f in audit.findings
            if f.rule == "AUD001" and f.location
        ]

    estate = arm.load(tmp_path)
    assert unreadable(estate) == [("main.json", where)]
    stored = tmp_path / "estate.snapshot.json"
    stored.write_text(snapshot.dumps(estate), encoding="utf-8")
    assert unreadable(snapshot.load(stored)) == [("main.json", where)]


def test_secrets_never_reach_the_estate_or_the_report() -> None:
    for source in (ESTATE, SYMBOLIC):
        estate = arm.load(source)
        audit = engine.run(estate, rules.load())
        assert SECRET not in repr(estate)
        assert SECRET not in json.dumps(report.to_dict(audit))
    found, _errors, _notes = arm.load_resources(ESTATE)
    assert SECRET not in repr(found)
    assert "SECRET-SUBSCRIPTION-KEY" in (ESTATE / "azuredeploy.json").read_text()  # it was there


def test_language_version_2_with_nested_deployment_and_copy_loop() -> None:
    estate = arm.load(SYMBOLIC)
    (svc,) = estate.services
    assert svc.name == "apim-symbolic"
    # The APIs come from a nested deployment in inner scope, named with the passed parameter.
    assert [a.name for a in svc.apis] == ["chat", "completions", "embeddings"]
    # The copy loop over a parameter default links two APIs to the product.
    by_name = {a.name: a for a in svc.apis}
    assert by_name["chat"].products == by_name["embeddings"].products == ("team-a",)
    assert svc.products["team-a"].display_name == "[Team A]"  # '[[' escapes a literal '['
    (setting,) = estate.diagnostic_settings
    assert setting.account == "aoai-symbolic"
    assert setting.categories == ("RequestResponse", "Audit")
    (account,) = estate.ai_accounts
    assert account.disable_local_auth is False


def test_linked_and_unresolved_policies_are_unknown_never_pass() -> None:
    estate = arm.load(SYMBOLIC)
    apis = {a.name: a for a in estate.services[0].apis}
    linked, hidden = apis["completions"].policy, apis["embeddings"].policy
    assert linked is not None and linked.unseen and "rawxml-link" in (linked.error or "")
    assert hidden is not None and hidden.unseen
    assert "parameter 'policyXml' has no value" in (hidden.error or "")
    assert any("policyXml" in n for n in estate.notes)
    got = verdicts(estate)
    for api in ("apim-symbolic/completions", "apim-symbolic/embeddings"):
        # The policies are not visible: identity, streaming and correlation stay unknown.
        assert {got[api][s] for s in ("identity", "streaming", "correlation")} == {"unknown"}
        # Coverage fails all the same: the account behind the APIs takes keys and open traffic,
        # a bypass that no policy can close (COV008).
        assert got[api]["coverage"] == "fail"
        assert "diagnostics" not in estate.provides
    assert got["apim-symbolic/chat"]["identity"] == "pass"


def test_broken_json_is_a_located_read_error_and_others_still_load(tmp_path: Path) -> None:
    shutil.copytree(ESTATE, tmp_path, dirs_exist_ok=True)
    broken = (ESTATE / "azuredeploy.json").read_text().replace('"kind": "web",', '"kind": "web"')
    (tmp_path / "broken.json").write_text(broken, "utf-8")
    estate = arm.load(tmp_path)
    (error,) = estate.read_errors
    assert error.location.path == "broken.json"
    assert error.location.line == 1 + broken.splitlines().index('      "kind": "web"') + 1
    assert "invalid JSON" in error.message
    assert [a.name for a in estate.services[0].apis] == ["chat", "legacy"]


def test_expressions() -> None:
    ctx = arm.scope_for(
        {
            "parameters": {"svc": {"defaultValue": "apim"}, "free": {"type": "string"}},
            "variables": {
                "v": "[concat(parameters('svc'), '-', 'x')]",
                "loop": "[variables('loop')]",
            },
        }
    )
    assert ctx.value("[variables('v')]") == "apim-x"
    assert ctx.value("[format('{0}/{1}', parameters('svc'), 'api')]") == "apim/api"
    assert ctx.value("[toLower(replace('A-B', '-', '_'))]") == "a_b"
    assert ctx.value("[resourceId('sub', 'rg', 'Microsoft.X/y/z', 'a', 'b')]") == (
        "/providers/Microsoft.X/y/a/z/b"
    )
    assert ctx.value("[last(split('a/b/c', '/'))]") == "c"
    assert ctx.value("[if(equals(parameters('svc'), 'apim'), 'yes', reference('x').y)]") == "yes"
    assert ctx.value("[[not an expression]") == "[not an expression]"
    assert ctx.value("['it''s']") == "it's"
    assert ctx.value({"a": ["[parameters('svc')]"]}) == {"a": ["apim"]}
    name = ctx.value("[concat(parameters('free'), '/chat')]")
    assert isinstance(name, Unknown)
    assert name.text == "${free}/chat"  # the resolved part keeps its '/'
    assert "no value" in name.why and name.nonempty
    odd = ctx.value("[last(split(parameters('free'), '/'))]")
    assert isinstance(odd, Unknown) and "/" not in odd.text  # never splits a name
    suffix = ctx.value("[uniqueString(resourceGroup().id)]")
    assert isinstance(suffix, Unknown) and suffix.nonempty  # one value per deployment
    assert suffix == ctx.value("[uniqueString(resourceGroup().id)]")
    assert isinstance(ctx.value("[variables('loop')]"), Unknown)
    assert isinstance(ctx.value("[concat('a']"), Unknown)
    # An id whose service is unknown keeps its known segments: the logger's name is known.
    logger = ctx.value(
        "[resourceId(resourceGroup().name, 'Microsoft.ApiManagement/service/loggers', "
        "parameters('free'), 'appinsights-logger')]"
    )
    assert isinstance(logger, Unknown)
    assert logger.text.rsplit("/", 1)[-1] == "appinsights-logger"


def _template(tmp_path: Path, template: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    (tmp_path / "t.json").write_text(json.dumps(template, indent=2), "utf-8")
    found, _errors, notes = arm.load_resources(tmp_path / "t.json")
    return found, notes


def test_unresolved_names_keep_the_expression_and_a_note(tmp_path: Path) -> None:
    template = {
        "contentVersion": "1.0.0.0",
        "parameters": {"svc": {"type": "string"}},
        "resources": [
            {
                "type": "Microsoft.ApiManagement/service/apis",
                "name": "[format('{0}/chat', parameters('svc'))]",
                "properties": {"path": "chat"},
            },
            {"type": "Microsoft.Storage/storageAccounts", "name": "ignored"},
        ],
    }
    (api,), _notes = _template(tmp_path, template)
    assert api["name"] == "${svc}/chat"
    assert api["_origin"] == {"path": "t.json", "line": 9}
    assert api["_deployment"] == "t.json"
    assert "parameter 'svc' has no value" in api["_unknown"]["name"]
    (svc,) = arm.load(tmp_path / "t.json").services
    # A service named by an unknown value is its deployment's alone.
    assert svc.name == "${svc} (t.json)"
    assert svc.elsewhere == ("the service itself is not declared in this source",)


def test_workspace_children_and_unknown_types(tmp_path: Path) -> None:
    template = {
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.ApiManagement/service/workspaces",
                "name": "gw/team-a",
                "resources": [
                    {"type": "policies", "name": "policy", "properties": {"value": "<policies/>"}},
                    {"type": "apis", "name": "chat", "properties": {"path": "a/chat"}},
                ],
            },
            {
                "type": "Microsoft.ApiManagement/service/authorizationServers",
                "name": "gw/oauth",
                "properties": {"clientSecret": "SECRET-CLIENT"},
            },
        ],
    }
    found, _ = _template(tmp_path, template)
    assert [(r["type"], r["name"]) for r in found] == [
        ("Microsoft.ApiManagement/service/workspaces", "gw/team-a"),
        ("Microsoft.ApiManagement/service/workspaces/policies", "gw/team-a/policy"),
        ("Microsoft.ApiManagement/service/workspaces/apis", "gw/team-a/chat"),
    ]  # types no check reads are not kept at all
    assert SECRET not in repr(found)


def test_legacy_nested_diagnostic_setting_type(tmp_path: Path) -> None:
    template = {
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.CognitiveServices/accounts/providers/diagnosticSettings",
                "name": "aoai/Microsoft.Insights/to-law",
                "properties": {"workspaceId": "/w", "logs": [{"categoryGroup": "allLogs"}]},
            }
        ],
    }
    (found,), _ = _template(tmp_path, template)
    assert (found["name"], found["scope"]) == ("to-law", "/accounts/aoai")


def test_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        arm.load(tmp_path / "missing")
    (tmp_path / "x.json").write_text('{"a": 1}', "utf-8")
    with pytest.raises(SourceError, match="no ARM templates"):
        arm.load(tmp_path)


def test_object_spans_skip_braces_in_strings_and_never_scan_twice() -> None:
    text = '{"a": {"b": "}{\\"{"}, "c": [{"d": 1}]}'
    data = arm.parse_json(text)
    assert text[slice(*data.span)] == text
    assert text[slice(*data["a"].span)] == '{"b": "}{\\"{"}'
    assert text[slice(*data["c"][0].span)] == '{"d": 1}'
    # Documents that are not objects get no spans: their long tails would be scanned again from
    # every position (quadratic).
    start = time.perf_counter()
    assert arm.parse_json('[{}, "' + "x" * 2_000_000 + '"]')[0].span == (0, 0)
    assert arm.parse_json('"' + "x" * 2_000_000 + '"') == "x" * 2_000_000
    # Nor are the blanks after an object's closing brace.
    assert arm.parse_json('{"a": {}}' + " " * 2_000_000)["a"].span == (6, 8)
    assert time.perf_counter() - start < HANG_SECONDS


def test_a_reference_cycle_gives_the_same_values_whichever_name_is_asked_first() -> None:
    """In a scan in parts each process evaluates its own resources, so names are asked for in
    other orders: every name on a cycle refers to itself, whatever the order."""
    template = {
        "variables": {
            "a": "[variables('b')]",
            "b": "[concat('x', variables('a'))]",
            "c": "[concat(variables('a'), 'y')]",
        }
    }
    seen = set()
    for order in (["a", "b", "c"], ["b", "a", "c"], ["c", "b", "a"]):
        ctx = arm.scope_for(template)
        got = {name: ctx.get("variables", name) for name in order}
        seen.add(tuple(sorted((k, v.text, v.why) for k, v in got.items())))
    assert seen == {
        (
            ("a", "${variables('a')}", "variable 'a' refers to itself"),
            ("b", "${variables('b')}", "variable 'b' refers to itself"),
            ("c", "${variables('a')}y", "variable 'a' refers to itself"),
        )
    }

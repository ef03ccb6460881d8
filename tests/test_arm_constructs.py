"""ARM templates as real repositories write them: reference(), resourceId() with a resource group,
nested and linked deployments, copy loops and conditions, evaluated with the shared evaluator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auditor import engine, rules
from auditor.sources import arm
from tests.support import write

POLICY = (
    '<policies><inbound><base /><llm-emit-token-metric><dimension name="Subscription ID" />'
    "</llm-emit-token-metric></inbound></policies>"
)


def template(resources: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        **extra,
        "resources": resources,
    }


def test_references_linked_and_nested_deployments_copy_loops_and_conditions(
    tmp_path: Path,
) -> None:
    main = template(
        [
            {
                "type": "Microsoft.ApiManagement/service",
                "apiVersion": "2024-05-01",
                "name": "[parameters('apimName')]",
                "properties": {},
            },
            {
                "type": "Microsoft.ApiManagement/service/apis",
                "apiVersion": "2024-05-01",
                "name": "[format('{0}/{1}', parameters('apimName'), parameters('teams')[copyIndex()])]",
                "copy": {"name": "apis", "count": "[length(parameters('teams'))]"},
                "properties": {
                    "path": "[concat(parameters('teams')[copyIndex()], '/openai')]",
                    "serviceUrl": "[reference(resourceId('Microsoft.CognitiveServices/accounts', 'aoai'), '2024-10-01').endpoint]",
                },
            },
            {
                "type": "Microsoft.ApiManagement/service/diagnostics",
                "apiVersion": "2024-05-01",
                "name": "[format('{0}/applicationinsights', parameters('apimName'))]",
                "condition": "[parameters('withDiagnostics')]",
                "properties": {
                    "loggerId": "[resourceId(resourceGroup().name, 'Microsoft.ApiManagement/service/loggers', parameters('apimName'), 'ai')]",
                    "metrics": True,
                },
            },
            {
                "type": "Microsoft.ApiManagement/service/loggers",
                "apiVersion": "2024-05-01",
                "name": "[format('{0}/ai', parameters('apimName'))]",
                "condition": "[equals(parameters('env'), 'prod')]",
                "properties": {"loggerType": "applicationInsights"},
            },
            {
                "type": "Microsoft.Resources/deployments",
                "apiVersion": "2022-09-01",
                "name": "policies",
                "properties": {
                    "mode": "Incremental",
                    "templateLink": {"relativePath": "policies.json"},
                    "parameters": {"apimName": {"value": "[parameters('apimName')]"}},
                },
            },
            {
                "type": "Microsoft.Resources/deployments",
                "apiVersion": "2022-09-01",
                "name": "inline",
                "properties": {
                    "mode": "Incremental",
                    "expressionEvaluationOptions": {"scope": "inner"},
                    "parameters": {"service": {"value": "[parameters('apimName')]"}},
                    "template": template(
                        [
                            {
                                "type": "Microsoft.ApiManagement/service/apis",
                                "apiVersion": "2024-05-01",
                                "name": "[concat(parameters('service'), '/nested')]",
                                "properties": {"path": "nested"},
                            }
                        ],
                        parameters={"service": {"type": "string"}},
                    ),
                },
            },
        ],
        parameters={
            "apimName": {"type": "string", "defaultValue": "gw"},
            "teams": {"type": "array", "defaultValue": ["finance", "marketing"]},
            "withDiagnostics": {"type": "bool"},
            "env": {"type": "string", "defaultValue": "prod"},
        },
    )
    linked = template(
        [
            {
                "type": "Microsoft.ApiManagement/service/apis/policies",
                "apiVersion": "2024-05-01",
                "name": "[concat(parameters('apimName'), '/finance/policy')]",
                "properties": {"format": "rawxml", "value": POLICY},
            }
        ],
        parameters={"apimName": {"type": "string"}},
    )
    write(tmp_path / "main.json", json.dumps(main, indent=2))
    write(tmp_path / "policies.json", json.dumps(linked, indent=2))
    estate = arm.load(tmp_path)
    (svc,) = estate.services
    apis = {a.name: a for a in svc.apis}
    # The copy loop over a parameter's default, the inner-scope nested template.
    assert sorted(apis) == ["finance", "marketing", "nested"]
    # The linked template (read once, as the main template's module) holds the policy.
    assert apis["finance"].policy is not None and apis["finance"].policy.path == "policies.json"
    # reference() is only known once deployed, and says which account's endpoint it is.
    why = dict(apis["finance"].unknown)["service_url"]
    assert "Microsoft.CognitiveServices/accounts" in why
    # A condition the template cannot decide is kept; one it can decide is applied.
    (diag,) = svc.diagnostics
    assert diag.condition is not None and "withDiagnostics" in diag.condition
    assert diag.logger == "ai" and not diag.unknown  # resourceGroup().name does not matter
    assert svc.loggers["ai"].condition is None
    result = engine.run(estate, rules.load())
    cov005 = [f for f in result.findings if f.rule == "COV005" and f.api == "finance"]
    # Metrics land only if the diagnostic is deployed: unknown, quoting the condition.
    assert [f.status for f in cov005] == ["skip"]
    assert "withDiagnostics" in cov005[0].message

"""The Bicep source: parent chains, nested children, loadTextContent, modules, parity with ARM."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from auditor import engine, report, rules
from auditor.errors import SourceError
from auditor.model import Estate
from auditor.sources import arm, bicep
from auditor.sources.bicep.parse import parse

FIXTURES = Path(__file__).parent / "fixtures"
ESTATE = FIXTURES / "bicep" / "estate"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "iac"
ONBOARD = (
    CORPUS / "Azure-Samples__ai-hub-gateway-solution-accelerator__infra__usecase-onboarding__"
    "modules__apimOnboardService.bicep"
)
SECRET = "SECRET-"

POLICY = """<policies>
  <inbound>
    <base />
    <llm-emit-token-metric namespace="ai">
      <dimension name="Subscription ID" />
    </llm-emit-token-metric>
  </inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>
"""
HEAD = """param apimName string = 'apim'

resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: apimName
}
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def audit_of(estate: Estate) -> engine.Audit:
    return engine.run(estate, rules.load())


def line_of(file: Path, text: str) -> int:
    return 1 + next(i for i, t in enumerate(file.read_text("utf-8").splitlines()) if text in t)


def test_estate_shape() -> None:
    estate = bicep.load(ESTATE)
    assert (estate.source_kind, estate.provides) == ("bicep", arm.PROVIDES)
    assert estate.read_errors == ()
    (svc,) = estate.services
    assert svc.name == "apim-contoso"  # the module's parameter, passed as apim.name
    chat, legacy = svc.apis
    assert (chat.name, legacy.name) == ("chat", "legacy")
    assert chat.service_url == "https://contoso-eastus.openai.azure.com/openai"  # interpolation
    assert [o.name for o in chat.operations] == ["chat-completions-create"]  # nested child
    assert chat.products == legacy.products == ("team-finance",)
    assert chat.policy is not None and chat.policy.path == "policies/chat.xml"
    assert sorted(svc.fragments) == ["attribution-header", "llm-metering"]
    assert svc.loggers["appinsights"].resource_id == (
        "/providers/Microsoft.Insights/components/appi-apim-contoso"
    )
    (diag,) = svc.diagnostics
    assert (diag.logger, diag.metrics) == ("appinsights", True)  # loggerId: logger.id
    (sub,) = svc.subscriptions
    assert (sub.scope_kind, sub.scope_name) == ("product", "team-finance")  # scope: product.id
    assert svc.named_values == ("aoai-key",)
    (setting,) = estate.diagnostic_settings  # scope: aoai
    assert (setting.account, setting.category_groups) == ("contoso-eastus", ("allLogs",))
    (component,) = estate.app_insights
    assert component.custom_metrics == "WithDimensions"
    (account,) = estate.ai_accounts
    assert account.disable_local_auth is True
    gateway = ESTATE / "modules" / "gateway.bicep"
    assert chat.location.path == "modules/gateway.bicep"
    assert chat.location.line == line_of(gateway, "resource chatApi ")


def test_same_estate_as_arm_json_gives_the_same_verdicts() -> None:
    from_arm = audit_of(arm.load(FIXTURES / "arm" / "estate"))
    from_bicep = audit_of(bicep.load(ESTATE))
    per_api = {a.id: a.verdicts for a in from_arm.apis}
    assert per_api == {a.id: a.verdicts for a in from_bicep.apis}
    assert per_api["apim-contoso/chat"] == dict.fromkeys(per_api["apim-contoso/chat"], "pass")
    assert per_api["apim-contoso/legacy"]["coverage"] == "fail"

    def outcomes(audit: engine.Audit) -> set[tuple[str, str, str | None]]:
        return {(f.rule, f.status, f.api) for f in audit.findings}

    assert outcomes(from_arm) == outcomes(from_bicep)


def test_findings_point_into_the_policy_text() -> None:
    audit = audit_of(bicep.load(ESTATE))
    gateway = ESTATE / "modules" / "gateway.bicep"
    (cov,) = [f for f in audit.findings if f.rule == "COV001" and f.status == "fail"]
    # A ''' literal keeps its lines: the finding is on the legacy policy's <inbound> line.
    start = line_of(gateway, "resource legacyPolicy ")
    inbound = next(
        i + 1
        for i, t in enumerate(gateway.read_text().splitlines())
        if i >= start and "<inbound>" in t
    )
    assert cov.location is not None
    assert (cov.location.path, cov.location.line) == ("modules/gateway.bicep", inbound)
    # loadTextContent: the statement's own line in the loaded file.
    (metric,) = [f for f in audit.findings if f.rule == "STR002" and f.status == "fail"]
    assert metric.location is not None
    assert (metric.location.path, metric.location.line) == ("policies/llm-metering.xml", 2)


def test_secrets_never_reach_the_estate_or_the_report() -> None:
    estate = bicep.load(ESTATE)
    assert SECRET not in repr(estate)
    assert SECRET not in json.dumps(report.to_dict(audit_of(estate)))
    assert SECRET not in repr(bicep.load_resources(ESTATE))


def test_three_nested_children_are_all_kept(tmp_path: Path) -> None:
    # pycep-parser 0.7.1 alone keeps only the last nested child of a resource.
    write(tmp_path, "policy.xml", POLICY)
    write(
        tmp_path,
        "main.bicep",
        HEAD
        + """
resource api 'Microsoft.ApiManagement/service/apis@2024-05-01' = {
  parent: apim
  name: 'chat'
  properties: {
    path: 'chat'
  }

  resource policy 'policies' = {
    name: 'policy'
    properties: {
      format: 'rawxml'
      value: loadTextContent('policy.xml')
    }
  }

  resource create 'operations' = {
    name: 'create'
    properties: {
      method: 'POST'
    }

    resource createPolicy 'policies@2024-05-01' = {
      name: 'policy'
      properties: {
        format: 'rawxml'
        value: loadTextContent('policy.xml')
      }
    }
  }

  resource list 'operations' = {
    name: 'list'
    properties: {
      method: 'GET'
    }
  }
}
""",
    )
    found, errors, _notes = bicep.load_resources(tmp_path)
    assert errors == []
    assert sorted((r["type"], r["name"]) for r in found if not r.get("_existing")) == [
        ("Microsoft.ApiManagement/service/apis", "apim/chat"),
        ("Microsoft.ApiManagement/service/apis/operations", "apim/chat/create"),
        ("Microsoft.ApiManagement/service/apis/operations", "apim/chat/list"),
        ("Microsoft.ApiManagement/service/apis/operations/policies", "apim/chat/create/policy"),
        ("Microsoft.ApiManagement/service/apis/policies", "apim/chat/policy"),
    ]
    (api,) = bicep.load(tmp_path).services[0].apis
    assert [(o.name, o.method, o.policy is not None) for o in api.operations] == [
        ("create", "POST", True),
        ("list", "GET", False),
    ]


def test_loops_conditions_and_interpolation(tmp_path: Path) -> None:
    main = write(
        tmp_path,
        "main.bicep",
        HEAD
        + """param apiNames array = [
  'chat'
  'embeddings'
]
param deployLegacy bool = false
param unknownList array
var suffix = 'v1'

resource apis 'Microsoft.ApiManagement/service/apis@2024-05-01' = [for (name, i) in apiNames: {
  parent: apim
  name: '${name}-${suffix}'
  properties: {
    path: 'p${i}'
    displayName: 'it\\'s ${toUpper(name)}'
  }
}]

resource legacy 'Microsoft.ApiManagement/service/apis@2024-05-01' = if (deployLegacy) {
  parent: apim
  name: 'legacy'
}

resource more 'Microsoft.ApiManagement/service/apis@2024-05-01' = [for n in unknownList: {
  parent: apim
  name: n
}]
""",
    )
    estate = bicep.load(tmp_path)
    apis = estate.services[0].apis
    # The loop over a parameter without a value is not expanded: one copy with unknown values
    # stands for its items (its name is unknown), so nothing it declares is said not to exist.
    assert [(a.name, a.path, a.display_name) for a in apis] == [
        ("${n}", None, "${n}"),
        ("chat-v1", "p0", "it's CHAT"),
        ("embeddings-v1", "p1", "it's EMBEDDINGS"),
    ]
    assert apis[1].location.line == line_of(main, "resource apis ")
    assert any("loop over unknownList is not expanded" in n for n in estate.notes)


def test_single_quoted_and_unresolved_policies(tmp_path: Path) -> None:
    inline = POLICY.replace("\n", "\\n")
    main = write(
        tmp_path,
        "main.bicep",
        HEAD
        + f"""param policyXml string

resource inline 'Microsoft.ApiManagement/service/apis@2024-05-01' = {{
  parent: apim
  name: 'inline'
  properties: {{
    path: 'inline'
    serviceUrl: 'https://aoai.openai.azure.com/openai'
  }}
}}

resource inlinePolicy 'Microsoft.ApiManagement/service/apis/policies@2024-05-01' = {{
  parent: inline
  name: 'policy'
  properties: {{
    value: '{inline}'
  }}
}}

resource given 'Microsoft.ApiManagement/service/apis@2024-05-01' = {{
  parent: apim
  name: 'given'
  properties: {{
    path: 'given'
    serviceUrl: 'https://aoai.openai.azure.com/openai'
  }}
}}

resource givenPolicy 'Microsoft.ApiManagement/service/apis/policies@2024-05-01' = {{
  parent: given
  name: 'policy'
  properties: {{
    format: 'rawxml'
    value: replace(policyXml, '{{id}}', 'x')
  }}
}}

resource outside 'Microsoft.ApiManagement/service/apis@2024-05-01' = {{
  parent: apim
  name: 'outside'
  properties: {{
    path: 'outside'
    serviceUrl: 'https://aoai.openai.azure.com/openai'
  }}
}}

resource outsidePolicy 'Microsoft.ApiManagement/service/apis/policies@2024-05-01' = {{
  parent: outside
  name: 'policy'
  properties: {{
    value: loadTextContent('../secrets/policy.xml')
  }}
}}
""",
    )
    write(tmp_path.parent, "secrets/policy.xml", POLICY)
    estate = bicep.load(tmp_path)
    apis = {a.name: a for a in estate.services[0].apis}
    one_line = apis["inline"].policy
    assert one_line is not None and one_line.ok
    audit = audit_of(estate)
    # A single-quoted policy is one line of the file: its statements are on the value line
    # (the metric is on line 4 of the XML).
    (metric,) = [f for f in audit.findings if f.api == "inline" and f.rule == "STR002"]
    assert metric.location is not None
    assert metric.location.line == line_of(main, "value: '<policies>")
    for name, why in (("given", "parameter 'policyXml' has no value"), ("outside", "outside")):
        doc = apis[name].policy
        assert doc is not None and doc.unseen and why in (doc.error or "")
        got = next(a.verdicts for a in audit.apis if a.api.name == name)
        assert "pass" not in {got["identity"], got["streaming"], got["correlation"]}
    assert any("outside the scanned folder" in n for n in estate.notes)


def test_modules_are_read_through_their_callers(tmp_path: Path) -> None:
    write(
        tmp_path,
        "main.bicep",
        """module first './mod/api.bicep' = {
  name: 'first'
  params: {
    apiName: 'one'
  }
}

module second 'mod/api.bicep' = {
  name: 'second'
  params: {
    apiName: 'two'
  }
}

module shared 'br/public:avm/res/web/site:0.1.0' = {
  name: 'avm'
}
""",
    )
    write(
        tmp_path,
        "mod/api.bicep",
        """param apiName string

resource api 'Microsoft.ApiManagement/service/apis@2024-05-01' = {
  name: 'gw/${apiName}'
  properties: {
    path: apiName
  }
}
""",
    )
    estate = bicep.load(tmp_path)
    # Not read on its own too (that would add an API named '${apiName}').
    assert [a.name for a in estate.services[0].apis] == ["one", "two"]
    assert estate.services[0].apis[0].location.path == "mod/api.bicep"
    assert any("from a registry" in n and "is not read" in n for n in estate.notes)


def test_a_syntax_error_is_located_and_the_rest_of_the_file_is_read(tmp_path: Path) -> None:
    shutil.copytree(ESTATE, tmp_path, dirs_exist_ok=True)
    write(
        tmp_path,
        "broken.bicep",
        "param a string = 'x'\n\nresource r 'T@1' = {\n  name: = 3\n}\n\n"
        "resource api 'Microsoft.ApiManagement/service/apis@2024-05-01' = {\n"
        "  name: 'other/after-the-error'\n}\n",
    )
    estate = bicep.load(tmp_path)
    assert estate.read_errors == ()
    assert any(n.startswith("broken.bicep:4: Bicep not understood here") for n in estate.notes)
    names = {(s.name, a.name) for s in estate.services for a in s.apis}
    assert ("other", "after-the-error") in names  # declared after the error: still read
    assert {("apim-contoso", "chat"), ("apim-contoso", "legacy")} <= names


def test_a_syntax_error_in_an_apim_resource_is_a_read_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        "main.bicep",
        "resource api 'Microsoft.ApiManagement/service/apis@2024-05-01' = {\n  name: = 3\n}\n",
    )
    (error,) = bicep.load(tmp_path).read_errors
    assert (error.location.path, error.location.line) == ("main.bicep", 2)
    assert "not read" in error.message


@pytest.mark.skipif(not ONBOARD.is_file(), reason=f"corpus not found at {ONBOARD}")
def test_real_corpus_file_loads() -> None:
    estate = bicep.load(ONBOARD)
    assert estate.read_errors == ()
    (svc,) = estate.services
    # A parameter without a default: kept as written, and the service is this deployment's.
    assert svc.name == f"${{apimName}} ({ONBOARD.name})"
    (product,) = svc.products.values()
    # empty(productPolicyXml) ? defaultPolicy : productPolicyXml, with productPolicyXml = ''
    assert product.policy is not None and product.policy.ok
    (sub,) = svc.subscriptions
    assert (sub.scope_kind, sub.scope_name) == ("product", "${productId}")  # scope: product.id
    assert any("apiResourceIds" in n for n in estate.notes)  # the loop it cannot expand
    audit_of(estate)


def test_operators_bind_as_bicep_binds_them(tmp_path: Path) -> None:
    # pycep-parser read "env == 'prod' ? a : b" as "env == ('prod' ? a : b)"; the grammar does not.
    write(
        tmp_path,
        "main.bicep",
        HEAD
        + """param env string = 'prod'

resource guessed 'Microsoft.ApiManagement/service/apis@2024-05-01' = {
  parent: apim
  name: env == 'prod' ? 'chat' : 'dev-chat'
}

resource bracketed 'Microsoft.ApiManagement/service/apis@2024-05-01' = {
  parent: apim
  name: (env == 'prod') ? 'embeddings' : 'dev-embeddings'
}

resource negated 'Microsoft.ApiManagement/service/apis@2024-05-01' = {
  parent: apim
  name: !empty(env) ? 'completions' : 'none'
}
""",
    )
    found, _errors, _notes = bicep.load_resources(tmp_path)
    names = sorted(r["name"] for r in found if not r.get("_existing"))
    assert names == ["apim/chat", "apim/completions", "apim/embeddings"]


def test_strings_escapes_and_interpolation() -> None:
    (decl,) = parse("var v = 'a\\'b\\n\\$c \\u{41}'").decls
    assert decl.value == ("lit", "a'b\n$c A")
    (decl,) = parse("var v = 'x-${f('}')}-${y}'").decls
    assert decl.value is not None and decl.value[0] == "tmpl"
    assert [p[0] for p in decl.value[1]] == ["lit", "call", "lit", "sym"]
    (decl,) = parse("var v = '''\n<policies>\n  it's ${not} interpolated\n</policies>\n'''\n").decls
    assert decl.value == ("src", "<policies>\n  it's ${not} interpolated\n</policies>\n", 2)


def test_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        bicep.load(tmp_path / "missing")
    with pytest.raises(SourceError, match="no .bicep files"):
        bicep.load(tmp_path)

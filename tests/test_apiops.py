"""The APIOps source: layouts v5, v6 and v7, revisions, workspaces, repos holding trees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor import engine, rules
from auditor.errors import SourceError
from auditor.sources import apiops, layout

CORPUS_TREE = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "iac"
SAMPLE = CORPUS_TREE / "Azure__apiops__SampleArtifacts"

METERED = """<policies>
  <inbound>
    <base />
    <set-header name="x-attribution-id" exists-action="override">
      <value>@(context.Subscription.Id)</value>
    </set-header>
    <llm-emit-token-metric namespace="ai">
      <dimension name="Subscription ID" />
    </llm-emit-token-metric>
  </inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>
"""


def write(root: Path, rel: str, content: object) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")


def make_tree(root: Path, *, v5: bool = False, absolute_ids: bool = False) -> None:
    logger_id = (
        "/subscriptions/0/resourceGroups/rg/providers/Microsoft.ApiManagement/service/s/loggers/ai"
        if absolute_ids
        else "/loggers/ai"
    )
    write(
        root,
        "loggers/ai/loggerInformation.json",
        {"properties": {"loggerType": "applicationInsights"}},
    )
    write(
        root,
        "diagnostics/applicationinsights/diagnosticInformation.json",
        {
            "properties": {
                "loggerId": logger_id,
                "metrics": True,
                "backend": {"request": {"headers": ["x-attribution-id"]}},
            }
        },
    )
    write(
        root,
        "apis/chat/apiInformation.json",
        {"properties": {"path": "chat", "serviceUrl": "https://x.openai.azure.com/openai"}},
    )
    write(root, "apis/chat/policy.xml", METERED)
    write(root, "apis/chat;rev=2/apiInformation.json", {"properties": {"isCurrent": False}})
    write(root, "apis/chat;rev=2/policy.xml", "<policies><inbound /></policies>")
    write(root, "products/gold/productInformation.json", {"properties": {"displayName": "Gold"}})
    if v5:
        write(root, "products/gold/apis.json", [{"name": "chat"}])
    else:
        write(root, "products/gold/apis/chat/productApiInformation.json", {})
    write(
        root,
        "subscriptions/s1/subscriptionInformation.json",
        {"properties": {"scope": "/products/gold", "state": "active"}},
    )


@pytest.mark.parametrize(
    ("v5", "absolute_ids"), [(False, False), (True, False), (False, True)], ids=["v7", "v5", "v6"]
)
def test_layouts_load_the_same_estate(tmp_path: Path, v5: bool, absolute_ids: bool) -> None:
    make_tree(tmp_path, v5=v5, absolute_ids=absolute_ids)
    estate = apiops.load(tmp_path)
    service = estate.services[0]
    assert [a.name for a in service.apis] == ["chat"]
    assert service.apis[0].products == ("gold",)
    assert service.diagnostics[0].logger == "ai"
    audit = engine.run(estate, rules.load())
    assert {f.status for f in audit.findings if f.rule in ("COV001", "COV005")} == {"pass"}
    # An APIOps tree cannot show the Azure OpenAI account or App Insights (COV008, COV009).
    assert audit.apis[0].verdicts["coverage"] == "unknown"
    unseen = {f.rule for f in audit.findings if f.signal == "coverage" and f.status == "skip"}
    assert unseen == {"COV008", "COV009"}


def test_revisions_only_on_request(tmp_path: Path) -> None:
    make_tree(tmp_path)
    names = [a.name for a in apiops.load(tmp_path, include_revisions=True).services[0].apis]
    assert names == ["chat", "chat;rev=2"]


def test_repo_holding_several_trees(tmp_path: Path) -> None:
    make_tree(tmp_path / "envs" / "dev" / "apimartifacts")
    make_tree(tmp_path / "envs" / "prod" / "apimartifacts")
    estate = apiops.load(tmp_path)
    assert [s.name for s in estate.services] == ["dev", "prod"]
    assert estate.services[0].apis[0].policy is not None
    assert estate.services[0].apis[0].policy.path == "envs/dev/apimartifacts/apis/chat/policy.xml"


def test_trees_are_found_in_sorted_real_folders_only(tmp_path: Path) -> None:
    make_tree(tmp_path / "b" / "apimartifacts")
    make_tree(tmp_path / "a" / "x" / "apimartifacts")
    make_tree(tmp_path / ".hidden" / "apimartifacts")
    make_tree(tmp_path / "node_modules" / "apimartifacts")
    (tmp_path / "linked").symlink_to(tmp_path / "b")
    (tmp_path / "file.tf").write_text("")
    assert layout.find_roots(tmp_path) == [
        tmp_path / "a" / "x" / "apimartifacts",
        tmp_path / "b" / "apimartifacts",
    ]
    assert layout.find_roots(tmp_path, max_depth=1) == []


def test_workspace_apis_inherit_the_workspace_policy(tmp_path: Path) -> None:
    make_tree(tmp_path)
    write(tmp_path, "workspaces/team-a/policy.xml", METERED)
    write(
        tmp_path,
        "workspaces/team-a/apis/ws-chat/apiInformation.json",
        {"properties": {"serviceUrl": "https://y.openai.azure.com"}},
    )
    write(
        tmp_path,
        "workspaces/team-a/apis/ws-chat/policy.xml",
        "<policies><inbound><base /></inbound><backend><base /></backend>"
        "<outbound><base /></outbound><on-error><base /></on-error></policies>",
    )
    audit = engine.run(apiops.load(tmp_path), rules.load())
    ws = next(a for a in audit.apis if a.api.name == "ws-chat")
    assert ws.id.endswith("team-a/ws-chat")
    # The workspace policy meters: the API inherits it through <base />.
    cov = [f for f in audit.findings if f.api == "ws-chat" and f.rule == "COV001"]
    assert {f.status for f in cov} == {"pass"}


def test_broken_information_file_is_located_and_blocks_pass(tmp_path: Path) -> None:
    make_tree(tmp_path)
    write(tmp_path, "apis/chat/apiInformation.json", '{\n  "properties": {\n    "path": ,\n}')
    audit = engine.run(apiops.load(tmp_path), rules.load())
    errors = [f for f in audit.findings if f.status == "error"]
    assert errors and errors[0].location is not None
    assert errors[0].location.path == "apis/chat/apiInformation.json"
    assert errors[0].location.line == 3
    assert "pass" not in audit.apis[0].verdicts.values()


def test_named_value_values_never_enter_the_model(tmp_path: Path) -> None:
    make_tree(tmp_path)
    write(
        tmp_path,
        "named values/key/namedValueInformation.json",
        {"properties": {"displayName": "key", "value": "sup3r-s3cret", "secret": False}},
    )
    estate = apiops.load(tmp_path)
    assert estate.services[0].named_values == ("key",)
    assert "sup3r-s3cret" not in repr(estate)


def test_no_artifacts_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    with pytest.raises(SourceError, match="no APIOps artifacts"):
        apiops.load(tmp_path)


def test_scope_patterns_in_rules_yaml(tmp_path: Path) -> None:
    make_tree(tmp_path)
    write(tmp_path, "apis/crm/apiInformation.json", {"properties": {"serviceUrl": "https://crm"}})
    catalog = rules.load()
    base = engine.run(apiops.load(tmp_path), catalog)
    assert {a.api.name: a.llm for a in base.apis} == {"chat": True, "crm": False}
    forced = type(catalog)(catalog.rules, include=("crm",), exclude=("chat",))
    audit = engine.run(apiops.load(tmp_path), forced)
    assert {a.api.name: a.llm for a in audit.apis} == {"chat": False, "crm": True}


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="shared corpus not present")
def test_apiops_sample_artifacts() -> None:
    estate = apiops.load(SAMPLE)
    service = estate.services[0]
    names = [a.name for a in service.apis]
    assert "revisioned-api;rev=2" not in names
    assert {"basic-api", "revisioned-api", "graphql-api"} <= set(names)
    assert set(service.fragments) == {"policyFragment1", "policyFragment2"}
    basic = next(a for a in service.apis if a.name == "basic-api")
    assert basic.products == ("product1",)
    assert {op.name for op in basic.operations} == {"create-item", "get-items"}
    kinds = {s.name: (s.scope_kind, s.scope_name) for s in service.subscriptions}
    assert kinds["subscription2"] == ("api", "basic-api")
    assert not estate.read_errors
    # None of the sample APIs fronts an LLM: they are listed, never judged.
    audit = engine.run(estate, rules.load())
    assert not any(a.llm for a in audit.apis)

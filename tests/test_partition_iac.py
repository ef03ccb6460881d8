"""Large IaC sources (a snapshot, an ARM template, Terraform) are audited in parts by forked
workers with the serial report, byte for byte.

The APIOps estate of tests/test_partition.py (inline ignores, unreadable documents at API and
service level, a waiver) is stored as a snapshot and rewritten as an ARM template; the Terraform
repository is written here, with notes that only the process evaluating an API's resources can
write (they must all reach the report, in the serial order).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from test_partition import estate, needs_fork, scan

from auditor import cli, partition, sources
from auditor.model import note_order
from auditor.sources.parts import Part

__all__ = ["estate"]  # the fixture, shared with test_partition

API_COUNT = 220  # over the parallel threshold


@pytest.fixture
def split_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = partition.run
    monkeypatch.setattr(
        partition, "run", lambda *a, **k: calls.append(k["workers"]) or real(*a, **k)
    )
    return calls


def same_report_serial_and_split(source: Path, tmp_path: Path, calls: list[int]) -> str:
    assert scan(source, tmp_path / "serial.json", 1) == 0
    assert calls == []
    assert scan(source, tmp_path / "split.json", 2) == 0
    assert calls == [2]
    serial = (tmp_path / "serial.json").read_text(encoding="utf-8")
    assert (tmp_path / "split.json").read_text(encoding="utf-8") == serial
    return serial


def snapshot_of(tree: Path, out: Path) -> Path:
    assert cli.main(["snapshot", str(tree), "-o", str(out)]) == 0
    return out


@needs_fork
def test_split_scan_of_a_snapshot(estate: Path, tmp_path: Path, split_calls: list[int]) -> None:
    snap = snapshot_of(estate, estate.parent / "estate.snapshot.json")
    report = same_report_serial_and_split(snap, tmp_path, split_calls)
    assert '"kind": "inline"' in report and '"kind": "waiver"' in report
    assert "apis/crm-05/policy.xml" in report  # an unreadable API policy (AUD001)
    assert "products/orphan-product/policy.xml" in report  # one no API reports


@needs_fork
def test_split_scan_of_an_arm_template(
    estate: Path, tmp_path: Path, split_calls: list[int]
) -> None:
    template = arm_template_of(estate, tmp_path)
    # A second unreadable product policy in the same file, of a product with APIs: the orphan
    # one above must still be reported on its own (documents are told apart by line too).
    linked = next(
        r
        for r in template["resources"]
        if r["type"].lower().endswith("products/policies") and "orphan" not in r["name"]
    )
    linked["properties"] = {"format": "xml", "value": "<policies><inbound>\n"}
    # Notes that only the process auditing an API writes (a policy text not known offline),
    # and an operation nested in its API's resource (named relative to it).
    api_policies = [r for r in template["resources"] if r["type"].lower().endswith("apis/policies")]
    for res in api_policies[::40]:
        res["properties"] = {"format": "rawxml", "value": "[parameters('notGiven')]"}
    api = next(r for r in template["resources"] if r["type"].lower().endswith("/apis"))
    api["resources"] = [
        {
            "type": "operations",
            "apiVersion": "2024-05-01",
            "name": "nested-op",
            "properties": {"method": "GET", "urlTemplate": "/nested"},
        }
    ]
    # The only diagnostic belongs to one API: every process must still know that the template
    # declares diagnostics (from the type of a resource it does not evaluate).
    diagnostics = [r for r in template["resources"] if r["type"].lower().endswith("/diagnostics")]
    template["resources"] = [r for r in template["resources"] if r not in diagnostics]
    service = api["name"].split("/")[0]
    template["resources"].append(
        {
            "type": "Microsoft.ApiManagement/service/apis/diagnostics",
            "apiVersion": "2024-05-01",
            "name": f"{api['name']}/applicationinsights",
            "properties": {"loggerId": f"/loggers/{service}-appinsights"},
        }
    )
    folder = estate.parent / "arm"
    folder.mkdir(exist_ok=True)
    (folder / "main.json").write_text(json.dumps(template, indent=2), encoding="utf-8")
    # A parameter file: its note has no line, and comes first in the order of evaluation.
    (folder / "main.parameters.json").write_text('{"parameters": {"unused": {"value": 1}}}')
    report = same_report_serial_and_split(folder, tmp_path, split_calls)
    assert '"kind": "inline"' in report and '"kind": "waiver"' in report
    unreadable = [f for f in json.loads(report)["findings"] if f["rule"] == "AUD001"]
    assert len({f["location"]["line"] for f in unreadable if f["api"] is None}) == 2
    assert json.loads(report)["apis"][-1]["name"] == "usage-eventhub-24"
    notes = json.loads(report)["notes"]
    assert len([n for n in notes if "policy text is not known offline" in n]) == len(
        api_policies[::40]
    )
    assert notes == sorted(notes, key=note_order)
    assert "main.json: parameter values from main.parameters.json" in notes
    nested = next(a for a in json.loads(report)["apis"] if a["name"] == api["name"].split("/")[1])
    assert "nested-op" in nested["operations"]


def arm_template_of(tree: Path, tmp_path: Path) -> dict[str, Any]:
    """The estate at ``tree`` as one ARM template (through its snapshot)."""
    snap = json.loads(snapshot_of(tree, tmp_path / "snap.json").read_text(encoding="utf-8"))
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
        "deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {"type": r["type"], "apiVersion": "2024-05-01", "name": r["name"], **_body(r)}
            for r in snap["resources"]
        ],
    }


def _body(res: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in res.items() if k in ("properties", "scope")}


GLOBAL = """<policies>
  <inbound>
    <set-header name="x-attribution-id" exists-action="override">
      <value>@(context.Subscription.Id)</value>
    </set-header>
    <llm-emit-token-metric namespace="llm">
      <dimension name="Subscription ID" />
    </llm-emit-token-metric>
  </inbound>
  <backend><forward-request /></backend>
  <outbound />
  <on-error />
</policies>
"""

API = """<policies>
  <inbound>{extra}
    <set-backend-service base-url="https://contoso.openai.azure.com/openai" />
  </inbound>
  <backend><base /></backend>
  <outbound><base /></outbound>
  <on-error><base /></on-error>
</policies>
"""


def terraform_repo(root: Path) -> Path:
    """A Terraform repository of ``API_COUNT`` APIs: shared resources first, then per API an
    API, its policy (a file, or a heredoc), an operation and the operation's policy."""
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "global.xml").write_text(GLOBAL, encoding="utf-8")
    blocks = [
        'variable "unset" {\n  type = string\n}\n',
        'resource "azurerm_api_management" "gw" {\n  name = "gw"\n}\n',
        'resource "azurerm_api_management_policy" "gw" {\n'
        "  api_management_id = azurerm_api_management.gw.id\n"
        '  xml_content = file("${path.module}/policies/global.xml")\n}\n',
        'resource "azurerm_api_management_logger" "ai" {\n'
        "  api_management_name = azurerm_api_management.gw.name\n"
        '  name = "ai"\n  resource_id = "/subscriptions/s/providers/'
        'Microsoft.Insights/components/ai"\n  application_insights {\n'
        '    connection_string = "InstrumentationKey=00000000-canary"\n  }\n}\n',
    ]
    for i in range(API_COUNT):
        name = f"api-{i:03d}"
        extra = "" if i == 17 else "\n    <base />"
        policy = API.format(extra=extra)
        if i == 17:  # the metering of the global scope is dropped, and that is accepted
            note = "<policies>\n  <!-- auditor: ignore[COV001] accepted by the platform team -->"
            policy = policy.replace("<policies>", note, 1)
        if i == 31:
            policy = "<policies><inbound>\n"  # unreadable (AUD001)
        (root / "policies" / f"{name}.xml").write_text(policy, encoding="utf-8")
        label = name.replace("-", "_")
        svc = "  api_management_name = azurerm_api_management.gw.name\n"
        ref = f"  api_name = azurerm_api_management_api.{label}.name\n"
        blocks.append(
            f'resource "azurerm_api_management_api" "{label}" {{\n{svc}'
            f'  name = "{name}"\n  path = "{name}"\n  revision = "1"\n'
            '  service_url = "https://contoso.openai.azure.com/openai"\n}\n'
        )
        if i % 2:
            value = f'file("${{path.module}}/policies/{name}.xml")'
        else:
            unset = "${var.unset}" if i == 44 else ""  # a heredoc note, this API only
            value = f"<<XML\n{API.format(extra=extra + unset)}XML"
        blocks.append(
            f'resource "azurerm_api_management_api_policy" "{label}" {{\n{svc}{ref}'
            f"  xml_content = {value}\n}}\n"
        )
        if i == 5:  # the only diagnostic: every process must know diagnostics are declared
            blocks.append(
                f'resource "azurerm_api_management_api_diagnostic" "{label}" {{\n{svc}{ref}'
                '  identifier = "applicationinsights"\n'
                "  api_management_logger_id = azurerm_api_management_logger.ai.id\n}\n"
            )
        method = "var.unset" if i in (3, 150) else '"POST"'  # an argument note, this API only
        blocks.append(
            f'resource "azurerm_api_management_api_operation" "{label}" {{\n{svc}{ref}'
            f'  operation_id = "chat-completions-create"\n  method = {method}\n'
            '  url_template = "/deployments/{deployment-id}/chat/completions"\n}\n'
        )
    (root / "main.tf").write_text("\n".join(blocks), encoding="utf-8")
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    (root.parent / "waivers.yaml").write_text(
        "waivers:\n  - rule: COV005\n    target: api-1*\n    reason: test\n"
        f"    owner: me\n    expires: {expires}\n",
        encoding="utf-8",
    )
    return root


@needs_fork
def test_split_scan_of_terraform(tmp_path: Path, split_calls: list[int]) -> None:
    repo = terraform_repo(tmp_path / "repo")
    report = same_report_serial_and_split(repo, tmp_path, split_calls)
    data = json.loads(report)
    assert len(data["apis"]) == API_COUNT
    notes = data["notes"]
    # Read once before the split: every note once, in file order.
    assert sum("they read as ${...} in it" in n and "var.unset" in n for n in notes) == 1
    assert notes == sorted(notes, key=lambda n: int(n.split(":")[1]))
    # The operations whose method is unknown say why, where their verdicts rest on it.
    ops = [
        op for a in data["apis"] if a["name"] in ("api-003", "api-150") for op in a["operations"]
    ]
    assert ops == ["chat-completions-create", "chat-completions-create"]
    assert '"kind": "inline"' in report and '"kind": "waiver"' in report
    assert "policies/api-031.xml" in report
    assert "canary" not in report


def test_parts_share_out_every_api_once_by_rank(estate: Path, tmp_path: Path) -> None:
    tf = sources.splittable(terraform_repo(tmp_path / "repo"))
    folder = tmp_path / "arm"
    folder.mkdir()
    (folder / "main.json").write_text(json.dumps(arm_template_of(estate, tmp_path)))
    template = sources.splittable(folder)
    snap = sources.splittable(snapshot_of(estate, tmp_path / "estate.snapshot.json"))
    for source in (tf, template, snap):
        assert source is not None
        every = sorted(a.name for s in source.estate().services for a in s.apis)
        for count in (2, 3):
            names = [
                sorted(a.name for s in source.estate(Part(i, count)).services for a in s.apis)
                for i in range(count)
            ]
            assert sorted(n for part in names for n in part) == every
            # The APIs sorted by name are dealt out in turn, part 0 taking one more in 20:
            # exactly the shares of folder numbers.
            ranks = range(len(every))
            assert [len(p) for p in names] == [
                sum(Part(i, count).has(r) for r in ranks) for i in range(count)
            ]


def test_a_part_whose_roster_is_not_the_source_s_apis_is_loaded_whole(tmp_path: Path) -> None:
    from auditor.sources import resources
    from auditor.sources.parts import WholeOnly

    apim = "Microsoft.ApiManagement/service"
    found = [
        {"type": apim, "name": "gw"},
        *({"type": f"{apim}/apis", "name": f"gw/api-{i}", "properties": {}} for i in range(3)),
    ]
    loaded = resources.Loaded(found, "snapshot", "x")
    wrong = Part(0, 2, roster={(None, "api-0"): 0, (None, "api-1"): 1})
    with pytest.raises(WholeOnly):
        loaded.estate(wrong)
    right = Part(0, 2, roster=resources.api_roster(found))
    assert [a.name for a in loaded.estate(right).services[0].apis] == ["api-0", "api-2"]

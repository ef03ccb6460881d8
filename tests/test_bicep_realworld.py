"""Bicep as real repositories write it, from the outside (the command line, the JSON report).

Two shapes of ayuina/apim-aoai-sample (the second real-world batch), in small files of their own:
an array whose first item is a call (``[loadTextContent(...) ...]``: every API was missed), and
children of a loop over items only known at deployment, attached by ``parent: apis[i]`` (the
metering policy counted for no API, so coverage and correlation failed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support import METERED, write
from support import run_auditor as run

CORRELATED = METERED.replace(
    "  </inbound>",
    '    <set-header name="x-correlation-id" exists-action="override">\n'
    "      <value>@(context.RequestId.ToString())</value>\n"
    "    </set-header>\n  </inbound>",
)

SERVICE = """resource apim 'Microsoft.ApiManagement/service@2024-05-01' = {
  name: 'apim-contoso'
  location: 'eastus'
  sku: { name: 'Developer', capacity: 1 }
  properties: { publisherEmail: 'a@contoso.com', publisherName: 'Contoso' }
}

resource appi 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-contoso'
  location: 'eastus'
  kind: 'web'
  properties: { Application_Type: 'web', CustomMetricsOptedInType: 'WithDimensions' }
}

resource logger 'Microsoft.ApiManagement/service/loggers@2024-05-01' = {
  parent: apim
  name: 'appinsights'
  properties: {
    loggerType: 'applicationInsights'
    resourceId: appi.id
    credentials: { instrumentationKey: appi.properties.InstrumentationKey }
  }
}
"""

API_LOOP = """
resource apis 'Microsoft.ApiManagement/service/apis@2024-05-01' = [for (n, i) in names: {
  parent: apim
  name: 'openai-${n}'
  properties: {
    displayName: 'OpenAI ${n}'
    path: 'openai/${n}'
    protocols: [ 'https' ]
    serviceUrl: 'https://contoso.openai.azure.com/openai'
  }
}]
"""

CHILD_LOOPS = """
resource policies 'APIS/policies@2024-05-01' = [for (n, i) in POLICY_ITEMS: {
  parent: apis[i]
  name: 'policy'
  properties: {
    format: 'rawxml'
    value: loadTextContent('policy.xml')
  }
}]

resource diagnostics 'APIS/diagnostics@2024-05-01' = [for (n, idx) in DIAG_ITEMS: {
  parent: apis[idx]
  name: 'applicationinsights'
  properties: {
    loggerId: logger.id
    metrics: true
    frontend: { request: { headers: [ 'x-correlation-id' ] } }
  }
}]
"""


def bicep(text: str) -> str:
    """``APIS/...`` is short for the type of an API's children (keeps the lines short)."""
    return text.replace("'APIS/", "'Microsoft.ApiManagement/service/apis/")


def scan(root: Path) -> dict[str, Any]:
    proc = run("scan", ".", "--format", "json", "-o", "r.json", cwd=root)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    report: dict[str, Any] = json.loads((root / "r.json").read_text("utf-8"))
    return report


def verdicts(report: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {a["name"]: a["signals"] for a in report["apis"]}


def statuses(report: dict[str, Any], api: str) -> dict[str, str]:
    return {f["rule"]: f["status"] for f in report["findings"] if f["api"] == api}


# --- an array whose items are calls ---------------------------------------------------------------


def test_an_array_of_calls_one_a_line_gives_every_item(tmp_path: Path) -> None:
    write(tmp_path / "specs" / "v1.json", '{"info": {"version": "2024-02-01"}}')
    write(tmp_path / "specs" / "v2.json", '{"info": {"version": "2024-06-01"}}')
    write(tmp_path / "policy.xml", METERED)
    write(
        tmp_path / "main.bicep",
        SERVICE
        + bicep("""
var specs = [
  loadTextContent('./specs/v1.json')
  loadTextContent('./specs/v2.json')
]

resource apis 'Microsoft.ApiManagement/service/apis@2024-05-01' = [for spec in specs: {
  parent: apim
  name: 'openai-${json(spec).info.version}'
  properties: {
    path: 'openai'
    serviceUrl: 'https://contoso.openai.azure.com/openai'
  }
}]

resource policies 'APIS/policies@2024-05-01' = [for (spec, i) in specs: {
  parent: apis[i]
  name: 'policy'
  properties: {
    format: 'rawxml'
    value: loadTextContent('policy.xml')
  }
}]
"""),
    )
    report = scan(tmp_path)
    assert sorted(verdicts(report)) == ["openai-2024-02-01", "openai-2024-06-01"]
    assert not [n for n in report["notes"] if "not declared" in n], report["notes"]
    for api in verdicts(report):
        assert statuses(report, api)["COV001"] == "pass"


def test_array_items_split_by_lines_and_commas_only(tmp_path: Path) -> None:
    """Calls first on a line or before a comma are calls; an index after an item belongs to
    it; a name, then a bracketed item on the next line, are two items (not a call)."""
    write(tmp_path / "policy.xml", METERED)
    write(
        tmp_path / "main.bicep",
        SERVICE
        + """
var first = 'c'
var extra = [ 'd' ]
var calls = [toLower('A'), toLower('B')]
var lines = [
  first
  #disable-next-line BCP321
  ('e')
  extra[0]
  sys.toLower('F')
]
var names = concat(calls, lines)
"""
        + API_LOOP,
    )
    report = scan(tmp_path)
    assert sorted(verdicts(report)) == [f"openai-{c}" for c in "abcdef"]
    assert not [n for n in report["notes"] if "not declared" in n], report["notes"]


# --- children of a loop over items known at deployment --------------------------------------------


def children(tmp_path: Path, names: str, policy_items: str, diag_items: str) -> dict[str, Any]:
    write(tmp_path / "policy.xml", CORRELATED)
    loops = bicep(CHILD_LOOPS).replace("POLICY_ITEMS", policy_items)
    loops = loops.replace("DIAG_ITEMS", diag_items)
    write(tmp_path / "main.bicep", f"{names}\n{SERVICE}{API_LOOP}{loops}")
    return scan(tmp_path)


def test_children_indexed_by_the_same_unknown_loop_belong_to_its_stand_in(tmp_path: Path) -> None:
    report = children(tmp_path / "unknown", "param names array", "names", "names")
    ((api, signals),) = verdicts(report).items()
    assert api == "openai-${n}"
    rules = statuses(report, api)
    # the policy meters and sets the header, the diagnostic covers the API and logs it
    assert (rules["COV001"], rules["COR001"], rules["COV005"]) == ("pass", "pass", "pass")
    assert "fail" not in signals.values()
    # the same as when the items are known
    known = children(tmp_path / "known", "param names array = [ 'a', 'b' ]", "names", "names")
    assert verdicts(known) == {"openai-a": signals, "openai-b": signals}


def test_a_child_whose_parent_copy_is_not_known_makes_unknown_not_fail(tmp_path: Path) -> None:
    """``apis[i]`` with ``i`` of a loop over other items: the child may belong to the API."""
    report = children(tmp_path, "param names array\nparam others array", "others", "others")
    ((api, signals),) = verdicts(report).items()
    assert signals["coverage"] == "unknown" and signals["correlation"] == "unknown"
    assert "fail" not in signals.values()
    cov001 = next(f for f in report["findings"] if f["rule"] == "COV001")
    assert cov001["status"] != "fail"
    assert "which copy of a loop is the parent is not known offline" in cov001["message"]

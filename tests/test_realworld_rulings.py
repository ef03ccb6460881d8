"""Rulings from the second real-world batch (tests/realworld.md): what real trees showed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import run_auditor, write

METERED = """<policies>
  <inbound>
    <base />
    <llm-emit-token-metric namespace="ai">
      <dimension name="Subscription ID" />
    </llm-emit-token-metric>
  </inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>
"""

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

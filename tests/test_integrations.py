"""CI integrations: the GitHub action, the Azure Pipelines template and the pre-commit hook are
valid YAML, and the command lines they contain really run against the demo estate."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from lxml import etree

from auditor.sources import demo_path

ROOT = Path(__file__).resolve().parents[1]
BIN = str(Path(sys.executable).parent)


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=full, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(demo_path(), tmp_path / "apim")
    return tmp_path


def test_github_action_runs_the_gate_and_writes_sarif(repo: Path) -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    steps = {s.get("id") or s.get("name"): s for s in action["runs"]["steps"]}
    assert "github/codeql-action/upload-sarif" in steps["Upload SARIF"]["uses"]
    scan = steps["scan"]
    out = repo / "github_output"
    env = {
        "AUDITOR_SOURCE": "apim",
        "AUDITOR_FAIL_ON": action["inputs"]["fail-on"]["default"],
        "AUDITOR_WAIVERS": "",
        "AUDITOR_BASELINE": "",
        "AUDITOR_SARIF": action["inputs"]["sarif-file"]["default"],
        "GITHUB_OUTPUT": str(out),
    }
    proc = bash(scan["run"], repo, env)
    assert proc.returncode == 0, proc.stderr  # the step records the code; the gate step fails
    assert out.read_text().strip() == "exit-code=1"  # the demo has high findings
    sarif = json.loads((repo / env["AUDITOR_SARIF"]).read_text(encoding="utf-8"))
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    # Paths are relative to the repository root (where the job runs), so GitHub finds the files.
    uris = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["runs"][0]["results"]
        for loc in r["locations"]
    }
    assert "apim/apis/assistants-header-team/policy.xml" in uris
    assert all((repo / u).is_file() for u in uris if not u.startswith("auditor/estate/")), uris
    gate = bash(steps["Gate"]["run"], repo, {"AUDITOR_EXIT": "1"})
    assert gate.returncode == 1


def test_github_action_passes_with_fail_on_never(repo: Path) -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    scan = next(s for s in action["runs"]["steps"] if s.get("id") == "scan")
    out = repo / "github_output"
    env = {
        "AUDITOR_SOURCE": "apim",
        "AUDITOR_FAIL_ON": "never",
        "AUDITOR_WAIVERS": "",
        "AUDITOR_BASELINE": "",
        "AUDITOR_SARIF": "out.sarif",
        "GITHUB_OUTPUT": str(out),
    }
    bash(scan["run"], repo, env)
    assert out.read_text().strip() == "exit-code=0"


def _expand(script: str, params: dict[str, str], temp: Path) -> str:
    script = re.sub(r"\$\{\{\s*parameters\.(\w+)\s*\}\}", lambda m: params[m.group(1)], script)
    return script.replace("$(Agent.TempDirectory)", str(temp))


def test_azure_pipelines_template_publishes_junit_and_gates(repo: Path) -> None:
    template = yaml.safe_load(
        (ROOT / "ci" / "azure-pipelines" / "attribution-auditor.yml").read_text(encoding="utf-8")
    )
    params = {p["name"]: str(p["default"]) for p in template["parameters"]}
    params["source"] = "apim"
    tasks = [s.get("task") for s in template["steps"] if "task" in s]
    assert tasks == ["UsePythonVersion@0", "PublishTestResults@2"]
    publish = next(s for s in template["steps"] if s.get("task") == "PublishTestResults@2")
    assert publish["inputs"]["testResultsFormat"] == "JUnit"
    assert publish["condition"] == "always()"
    audit = next(
        s for s in template["steps"] if s.get("displayName") == "Audit LLM cost attribution"
    )
    proc = bash(_expand(audit["script"], params, repo), repo, {})
    assert proc.returncode == 1, proc.stderr
    results = _expand(publish["inputs"]["testResultsFiles"], params, repo)
    root = etree.parse(results).getroot()
    assert root.tag == "testsuites" and int(root.get("failures", "0")) > 0
    params["failOn"] = "never"
    assert bash(_expand(audit["script"], params, repo), repo, {}).returncode == 0


def test_pre_commit_hook_runs(repo: Path) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    re.compile(hook["files"])
    command = " ".join([hook["entry"], *hook["args"]])
    proc = bash(command, repo / "apim", {})
    assert proc.returncode == 1, proc.stderr
    assert "gate: FAILED" in proc.stderr

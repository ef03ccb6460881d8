"""The command line, tested from the outside: real subprocesses, exit codes, files and outputs.

Exit codes under test: 0 the gate passed; 1 a failing finding at or above ``--fail-on`` (default
``high``) or any ``error`` finding; 2 a usage error or a source that cannot be read at all.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import HANG_SECONDS, write
from support import run_auditor as run

import auditor
from auditor.cli import main

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "auditor" / "demo" / "contoso-ai-gateway"
EXPECTED_MD = REPO / "auditor" / "demo" / "EXPECTED.md"
RULES_YAML = REPO / "rules.yaml"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
POLICIES = CORPUS / "policies"
APIOPS_SAMPLE = CORPUS / "iac" / "Azure__apiops__SampleArtifacts"
MISMATCHED = (
    "Azure-Samples__ai-hub-gateway-solution-accelerator__infra__modules__apim__policies__"
    "frag-llm-usage.xml"
)
CANARY = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
SECRETS = ("literal-secret-value-123", "s3cr3t-named-value", "ikey-0000-secret")
SIGNALS = ("coverage", "identity", "streaming", "correlation")
REPORT_KEYS = {"schema_version", "tool", "source", "score", "signals", "apis", "findings"}

INTACT_POLICY = """\
<policies>
  <inbound>
    <base />
    <set-header name="x-attribution-id" exists-action="override">
      <value>@(context.Subscription.Id)</value>
    </set-header>
    <llm-emit-token-metric namespace="llm">
      <dimension name="Subscription ID" />
    </llm-emit-token-metric>
  </inbound>
  <backend><base /></backend>
  <outbound><base /></outbound>
  <on-error><base /></on-error>
</policies>
"""
# An LLM API (Azure OpenAI backend) with neither metering nor a correlation header.
UNMETERED_POLICY = """\
<policies>
  <inbound>
    <base />
    <set-backend-service base-url="https://contoso.openai.azure.com/openai" />
  </inbound>
  <backend><base /></backend>
  <outbound><base /></outbound>
  <on-error><base /></on-error>
</policies>
"""
TREE_POLICY = INTACT_POLICY.replace(
    "  </inbound>",
    '    <set-backend-service base-url="https://contoso.openai.azure.com/openai" />\n  </inbound>',
)


# --- helpers ------------------------------------------------------------------------------------


def scan_json(source: str | Path, cwd: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    proc = run("scan", source, "--format", "json", *extra, cwd=cwd)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def write_json(path: Path, data: Any) -> Path:
    return write(path, json.dumps(data, indent=2) + "\n")


def make_tree(root: Path, apis: tuple[str, ...] = ("alpha", "beta")) -> Path:
    """A small APIOps v7 tree: metered LLM APIs in one product, with literal secrets planted in
    the backend credentials, a named value and the logger (none of which may ever be printed)."""
    for name in apis:
        write_json(
            root / "apis" / name / "apiInformation.json",
            {
                "properties": {
                    "displayName": name,
                    "path": name,
                    "serviceUrl": "https://contoso.openai.azure.com/openai",
                    "subscriptionRequired": True,
                    "isCurrent": True,
                }
            },
        )
        write(root / "apis" / name / "policy.xml", TREE_POLICY)
        write_json(root / "products" / "team" / "apis" / name / "productApiInformation.json", {})
    write_json(
        root / "products" / "team" / "productInformation.json",
        {"properties": {"displayName": "Team", "subscriptionRequired": True}},
    )
    write_json(
        root / "subscriptions" / "team-app" / "subscriptionInformation.json",
        {"properties": {"scope": "/products/team", "state": "active"}},
    )
    write_json(
        root / "diagnostics" / "applicationinsights" / "diagnosticInformation.json",
        {
            "properties": {
                "loggerId": "/loggers/appinsights",
                "metrics": True,
                "frontend": {"request": {"headers": ["x-attribution-id"]}},
                "backend": {"request": {"headers": ["x-attribution-id"]}},
            }
        },
    )
    write_json(
        root / "loggers" / "appinsights" / "loggerInformation.json",
        {
            "properties": {
                "loggerType": "applicationInsights",
                "credentials": {"instrumentationKey": "ikey-0000-secret"},
            }
        },
    )
    write_json(
        root / "backends" / "aoai" / "backendInformation.json",
        {
            "properties": {
                "url": "https://contoso.openai.azure.com/openai",
                "protocol": "http",
                "credentials": {"header": {"api-key": ["literal-secret-value-123"]}},
            }
        },
    )
    write_json(
        root / "named values" / "aoai-key" / "namedValueInformation.json",
        {"properties": {"displayName": "aoai-key", "secret": False, "value": "s3cr3t-named-value"}},
    )
    write(
        root / "policy.xml",
        "<policies>\n  <inbound />\n  <backend>\n    <forward-request />\n  </backend>\n"
        "  <outbound />\n  <on-error />\n</policies>\n",
    )
    return root


def api_by_name(report: dict[str, Any], name: str) -> dict[str, Any]:
    hits = [a for a in report["apis"] if a["name"] == name]
    assert len(hits) == 1, f"API {name!r} not in report: {[a['id'] for a in report['apis']]}"
    return hits[0]


def no_temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or ".tmp" in p.name)


# --- usage and exit code 2 ----------------------------------------------------------------------


def test_version(tmp_path: Path) -> None:
    proc = run("--version", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"attribution-auditor {auditor.__version__}"


def test_no_arguments_is_a_usage_error(tmp_path: Path) -> None:
    proc = run(cwd=tmp_path)
    assert proc.returncode == 2
    assert "usage: auditor" in proc.stderr
    assert proc.stdout == ""


def test_unknown_subcommand_is_a_usage_error(tmp_path: Path) -> None:
    proc = run("frobnicate", cwd=tmp_path)
    assert proc.returncode == 2
    assert "frobnicate" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_scan_missing_path(tmp_path: Path) -> None:
    proc = run("scan", "no/such/policy.xml", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "no/such/policy.xml" in lines[0]


def test_scan_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = run("scan", "empty", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "empty" in proc.stderr and "no APIOps artifacts" in proc.stderr


@pytest.mark.parametrize("option", ["--rules", "--waivers", "--baseline"])
def test_a_bad_configuration_file_is_reported_before_a_bad_source(
    tmp_path: Path, option: str
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.yaml").write_text("rules: [\n", encoding="utf-8")
    proc = run("scan", "empty", "--source-type", "terraform", option, "bad.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("auditor: ") and "bad.yaml" in proc.stderr, proc.stderr
    assert "no Terraform" not in proc.stderr


def test_unknown_fail_on_value_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path / "p.xml", INTACT_POLICY)
    proc = run("scan", "p.xml", "--fail-on", "sometimes", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--fail-on" in proc.stderr


# --- the gate -----------------------------------------------------------------------------------


def test_intact_single_policy_passes_gate_but_is_not_a_pass(tmp_path: Path) -> None:
    write(tmp_path / "intact.xml", INTACT_POLICY)
    rc, report, stderr = scan_json("intact.xml", tmp_path)
    assert rc == 0, stderr
    assert "gate: passed" in stderr
    assert report["source"]["kind"] == "file"
    [api] = report["apis"]
    assert api["llm"] is True
    # A single file cannot show diagnostics/products: coverage must stay unknown, never pass.
    assert api["signals"]["coverage"] == "unknown"
    coverage = next(s for s in report["signals"] if s["id"] == "coverage")
    assert coverage["status"] == "unknown"
    assert not any(f["status"] == "error" for f in report["findings"])
    skipped = [f for f in report["findings"] if f["status"] == "skip"]
    assert skipped, "rules needing diagnostics/products should be reported as skipped"


def test_unmetered_policy_fails_gate(tmp_path: Path) -> None:
    write(tmp_path / "unmetered.xml", UNMETERED_POLICY)
    rc, report, stderr = scan_json("unmetered.xml", tmp_path)
    assert rc == 1
    assert "gate: FAILED" in stderr
    [api] = report["apis"]
    assert api["signals"]["coverage"] == "fail"
    cov = [f for f in report["findings"] if f["rule"] == "COV001" and f["status"] == "fail"]
    assert cov and cov[0]["location"]["path"] == "unmetered.xml"
    fails = [f for f in report["findings"] if f["status"] == "fail"]
    assert {f["severity"] for f in fails} <= {"info", "low", "medium", "high"}, "no critical"


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [("never", 0), ("critical", 0), ("high", 1), ("medium", 1), ("info", 1)],
)
def test_fail_on_threshold(tmp_path: Path, fail_on: str, code: int) -> None:
    write(tmp_path / "unmetered.xml", UNMETERED_POLICY)
    proc = run("scan", "unmetered.xml", "--fail-on", fail_on, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr
    assert ("gate: passed" if code == 0 else "gate: FAILED") in proc.stderr


# --- report files -------------------------------------------------------------------------------


def test_output_json_file(tmp_path: Path) -> None:
    write(tmp_path / "unmetered.xml", UNMETERED_POLICY)
    out = tmp_path / "out"
    out.mkdir()
    proc = run("scan", "unmetered.xml", "-o", "out/report.json", cwd=tmp_path)
    assert proc.returncode == 1
    assert "wrote out/report.json" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["report.json"], "temp files left behind"
    text = (out / "report.json").read_text(encoding="utf-8")
    report = json.loads(text)  # complete: parses to the end
    assert report["schema_version"] == 1
    assert report.keys() >= REPORT_KEYS
    assert report["tool"] == {"name": "attribution-auditor", "version": auditor.__version__}
    assert report["source"]["kind"] == "file"
    assert [s["id"] for s in report["signals"]] == list(SIGNALS)
    for f in report["findings"]:
        assert {"rule", "signal", "severity", "status", "location", "message"} <= f.keys()
    # Same content as --format json on stdout; stdout got the text summary instead.
    assert text == run("scan", "unmetered.xml", "--format", "json", cwd=tmp_path).stdout
    assert proc.stdout.startswith("attribution-auditor ")


def test_output_md_file(tmp_path: Path) -> None:
    write(tmp_path / "unmetered.xml", UNMETERED_POLICY)
    out = tmp_path / "out"
    proc = run("scan", "unmetered.xml", "--output", "out/report.md", cwd=tmp_path)
    assert proc.returncode == 1
    assert sorted(p.name for p in out.iterdir()) == ["report.md"], "temp files left behind"
    text = (out / "report.md").read_text(encoding="utf-8")
    assert text.startswith("# ")
    assert "| coverage |" in text and "COV001" in text
    assert text.endswith("\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    assert text == run("scan", "unmetered.xml", "--format", "md", cwd=tmp_path).stdout


def test_output_into_existing_directory_is_a_clean_error(tmp_path: Path) -> None:
    write(tmp_path / "unmetered.xml", UNMETERED_POLICY)
    (tmp_path / "report.json").mkdir()
    proc = run("scan", "unmetered.xml", "-o", "report.json", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "report.json" in proc.stderr
    assert no_temp_files(tmp_path) == []
    assert list((tmp_path / "report.json").iterdir()) == []


def test_output_error_names_the_requested_path(tmp_path: Path) -> None:
    write(tmp_path / "unmetered.xml", UNMETERED_POLICY)
    (tmp_path / "report.json").mkdir()
    proc = run("scan", "unmetered.xml", "-o", "report.json", cwd=tmp_path)
    assert proc.returncode == 2
    assert ".tmp" not in proc.stderr, proc.stderr


def test_output_file_respects_umask(tmp_path: Path) -> None:
    write(tmp_path / "unmetered.xml", UNMETERED_POLICY)
    old = os.umask(0o022)
    try:
        run("scan", "unmetered.xml", "-o", "report.json", cwd=tmp_path)
    finally:
        os.umask(old)
    assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o644


# --- the demo estate against EXPECTED.md --------------------------------------------------------


def expected_verdicts() -> dict[str, dict[str, str]]:
    """The 'Verdicts' table of EXPECTED.md: API -> signal -> cell text (bold/markers removed)."""
    text = EXPECTED_MD.read_text(encoding="utf-8")
    section = text.split("## Verdicts", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, dict[str, str]] = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`([^`]+)`\s*\|", line)
        if not m:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 6, line
        rows[m[1]] = {s: cells[2 + i].replace("*", "") for i, s in enumerate(SIGNALS)}
    assert len(rows) == 10, rows.keys()
    return rows


@pytest.fixture(scope="module")
def demo_json(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, int]:
    cwd = tmp_path_factory.mktemp("demo-scan")
    first = run("scan", DEMO, "--format", "json", cwd=cwd)
    second = run("scan", DEMO, "--format", "json", cwd=cwd)
    assert "Traceback" not in first.stderr, first.stderr
    return first.stdout, second.stdout, first.returncode


def test_demo_scan_matches_expected_verdicts(demo_json: tuple[str, str, int]) -> None:
    report = json.loads(demo_json[0])
    assert demo_json[2] == 1
    by_name = {a["name"]: a for a in report["apis"]}
    problems = []
    for api, cells in expected_verdicts().items():
        if ";rev=" in api or api == "crm":
            continue
        got = by_name[api]
        assert got["llm"] is True, api
        for signal, cell in cells.items():
            verdict = got["signals"][signal]
            if cell.startswith("fail"):
                # Footnote 1 allows `unknown` (never pass) for identity where nothing is metered.
                allowed = {"fail", "unknown"} if "¹" in cell else {"fail"}
            elif cell.startswith("unknown"):
                allowed = {"unknown"}
            else:
                assert cell.startswith("pass"), cell
                allowed = {"pass", "unknown"}  # EXPECTED lists where unknown is legitimate
            if verdict not in allowed:
                problems.append(f"{api}/{signal}: got {verdict}, EXPECTED says {cell!r}")
    assert problems == []


def test_demo_scan_scope(demo_json: tuple[str, str, int]) -> None:
    report = json.loads(demo_json[0])
    crm = api_by_name(report, "crm")
    assert crm["llm"] is False
    assert crm["signals"] == {}
    assert not [f for f in report["findings"] if f["api"] == "crm" and f["status"] == "fail"]
    names = {a["name"] for a in report["apis"]}
    assert not any(";rev=" in n for n in names)
    assert "chat-finance;rev=2" not in demo_json[0]
    assert len([a for a in report["apis"] if a["llm"]]) == 8


def test_demo_scan_is_deterministic(demo_json: tuple[str, str, int]) -> None:
    assert demo_json[0] == demo_json[1]


_MISSING_BASE_OP = "apis/chat-missing-base/operations/chat-completions-create/policy.xml"
_DIAG = "apis/gpt-legacy/diagnostics/applicationinsights/diagnosticInformation.json"
# EXPECTED.md "Failing findings": api, signal, severity, path, line.
_FINDINGS = [
    ("completions-partner", "coverage", "high", "products/partners/policy.xml", 4),
    ("gpt-legacy", "coverage", "high", "apis/gpt-legacy/policy.xml", 6),
    ("gpt-legacy", "coverage", "high", _DIAG, 6),
    ("gpt-legacy", "streaming", "medium", _DIAG, 19),
    ("chat-missing-base", "coverage", "high", _MISSING_BASE_OP, 2),
    ("chat-missing-base", "correlation", "high", _MISSING_BASE_OP, 2),
    ("assistants-header-team", "identity", "high", "apis/assistants-header-team/policy.xml", 6),
    ("assistants-header-team", "identity", "medium", "apis/assistants-header-team/policy.xml", 6),
    ("usage-eventhub", "streaming", "high", "apis/usage-eventhub/policy.xml", 11),
    ("embeddings-spoofable", "correlation", "high", "apis/embeddings-spoofable/policy.xml", 4),
]


def _finding_id(row: tuple[str, str, str, str, int]) -> str:
    api, signal, severity, path, line = row
    return f"{api}-{signal}-{severity}-{Path(path).name}:{line}"


@pytest.mark.parametrize(
    ("api", "signal", "severity", "path", "line"),
    [pytest.param(*row, id=_finding_id(row)) for row in _FINDINGS],
)
def test_demo_failing_findings_are_located(
    demo_json: tuple[str, str, int], api: str, signal: str, severity: str, path: str, line: int
) -> None:
    report = json.loads(demo_json[0])
    mine = [
        f
        for f in report["findings"]
        if f["api"] == api and f["signal"] == signal and f["status"] == "fail"
    ]
    assert any(f["severity"] == severity for f in mine), mine
    places = [
        (loc["path"], loc["line"])
        for f in mine
        if f["severity"] == severity
        for loc in [f["location"], *f["evidence"]]
        if loc
    ]
    assert any(p.endswith(path) and n == line for p, n in places), places


def test_demo_command_writes_reports_under_cwd(tmp_path: Path) -> None:
    proc = run("demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    md = tmp_path / "reports" / "demo-gap-report.md"
    js = tmp_path / "reports" / "demo-gap-report.json"
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [js.name, md.name]
    report = json.loads(js.read_text(encoding="utf-8"))
    assert report["schema_version"] == 1
    assert str(DEMO) not in js.read_text(encoding="utf-8"), "machine-specific path in report"
    assert md.read_text(encoding="utf-8").startswith("# ")
    assert "reports/demo-gap-report.md" in proc.stderr
    everything = proc.stdout + proc.stderr + md.read_text() + js.read_text()
    assert CANARY not in everything


# --- rules and explain --------------------------------------------------------------------------


def test_rules_lists_every_rule(tmp_path: Path) -> None:
    ids = [r["id"] for r in yaml.safe_load(RULES_YAML.read_text(encoding="utf-8"))["rules"]]
    assert len(ids) > 10
    proc = run("rules", cwd=tmp_path)
    assert proc.returncode == 0
    listed = [line.split()[0] for line in proc.stdout.splitlines()[1:] if line.strip()]
    assert listed == ids


def test_explain_rule(tmp_path: Path) -> None:
    proc = run("explain", "COV001", cwd=tmp_path)
    assert proc.returncode == 0
    out = proc.stdout
    assert out.startswith("COV001 ")
    for part in ("Why:", "Fix:", "Fails:", "Passes:"):
        assert part in out, part
    assert run("explain", "cov001", cwd=tmp_path).stdout == out


def test_explain_unknown_rule(tmp_path: Path) -> None:
    proc = run("explain", "NOPE", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "NOPE" in proc.stderr and "Traceback" not in proc.stderr


# --- secrets never leak -------------------------------------------------------------------------


def _all_outputs(source: Path, cwd: Path) -> str:
    """stdout+stderr of scan in every format, plus the -o files."""
    parts = []
    for fmt in ("text", "json", "md"):
        proc = run("scan", source, "--format", fmt, cwd=cwd)
        assert proc.returncode in (0, 1), proc.stderr
        parts += [proc.stdout, proc.stderr]
    for name in ("r.md", "r.json"):
        proc = run("scan", source, "-o", cwd / name, cwd=cwd)
        parts += [proc.stdout, proc.stderr, (cwd / name).read_text(encoding="utf-8")]
    return "\n".join(parts)


def test_demo_canary_never_printed(tmp_path: Path) -> None:
    nv = DEMO / "named values" / "Logger-Credentials--appinsights" / "namedValueInformation.json"
    assert CANARY in nv.read_text(encoding="utf-8"), "the canary moved: update this test"
    everything = _all_outputs(DEMO, tmp_path)
    assert CANARY not in everything


def test_literal_secrets_in_tree_never_printed(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "apim")
    everything = _all_outputs(tree, tmp_path)
    assert "alpha" in everything  # the tree was really audited
    for secret in SECRETS:
        assert secret not in everything, secret


# --- the shared corpus --------------------------------------------------------------------------


def corpus_files() -> list[Any]:
    if not POLICIES.is_dir():
        return [pytest.param(None, id="no-corpus")]
    return [pytest.param(p, id=p.name) for p in sorted(POLICIES.iterdir()) if p.is_file()]


@pytest.mark.parametrize("path", corpus_files())
def test_corpus_policy_scans_without_crash(
    path: Path | None, capsys: pytest.CaptureFixture[str]
) -> None:
    if path is None:
        pytest.skip(f"shared corpus not found at {POLICIES}")
    rc = main(["scan", str(path), "--format", "json"])  # in-process: fast; a crash raises here
    out, err = capsys.readouterr()
    assert rc in (0, 1, 2), err
    assert "Traceback" not in err
    if rc == 2:
        # A policy file that cannot be read is the whole source: said at its line, no report.
        assert err.startswith(f"auditor: {path.name}:"), err
        assert path.name != MISMATCHED or f"{MISMATCHED}:62" in err
        return
    report = json.loads(out)
    assert len(report["apis"]) == 1
    errors = [f for f in report["findings"] if f["status"] == "error"]
    if errors:
        assert rc == 1, "an error finding must fail the gate"
        assert all(f["location"] and f["location"]["path"] for f in errors)
    if path.name == MISMATCHED:
        assert rc == 1
        assert any(f["location"]["line"] == 62 for f in errors), errors


def test_corpus_mismatched_file_as_subprocess(tmp_path: Path) -> None:
    path = POLICIES / MISMATCHED
    if not path.is_file():
        pytest.skip(f"corpus file not found: {path}")
    proc = run("scan", path, cwd=tmp_path)
    assert proc.returncode == 2  # nothing left to judge: the one file cannot be read
    assert "Traceback" not in proc.stderr
    assert f"{MISMATCHED}:62" in proc.stderr


def test_corpus_apiops_sample_tree(tmp_path: Path) -> None:
    if not APIOPS_SAMPLE.is_dir():
        pytest.skip(f"APIOps sample tree not found at {APIOPS_SAMPLE}")
    assert (APIOPS_SAMPLE / "apis" / "revisioned-api;rev=2").is_dir()
    rc, report, stderr = scan_json(APIOPS_SAMPLE, tmp_path)
    assert rc in (0, 1), stderr
    assert report["source"]["kind"] == "apiops"
    names = {a["name"] for a in report["apis"]}
    on_disk = {p.name for p in (APIOPS_SAMPLE / "apis").iterdir() if p.is_dir()}
    assert names == {n for n in on_disk if ";rev=" not in n}
    assert "revisioned-api" in names and "revisioned-api;rev=2" not in names
    _, with_revs, _ = scan_json(APIOPS_SAMPLE, tmp_path, "--include-revisions")
    assert "revisioned-api;rev=2" in {a["name"] for a in with_revs["apis"]}


def test_a_report_on_standard_output_arrives_whole(tmp_path: Path) -> None:
    """The process ends without tearing the interpreter down: output must be flushed first."""
    demo = str(DEMO)
    piped = run("scan", demo, "--format", "json", "--fail-on", "never", cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    written = run("scan", demo, "-o", "r.json", "--fail-on", "never", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert piped.stdout == (tmp_path / "r.json").read_text(encoding="utf-8")
    assert len(piped.stdout) > 65536  # more than a pipe holds at once


@pytest.mark.parametrize(
    "args",
    [
        ["rules"],
        ["explain", "COV001"],
        ["scan", str(DEMO)],
        ["scan", str(DEMO), "--format", "json"],
        ["effective", str(DEMO), "chat-finance"],
        ["fix", str(DEMO), "--dry-run"],
    ],
    ids=["rules", "explain", "scan-text", "scan-json", "effective", "fix"],
)
def test_a_closed_pipe_ends_quietly_with_status_0(args: list[str], tmp_path: Path) -> None:
    """``auditor ... | head``: the reader is gone before (or while) the output is written."""
    import os
    import subprocess

    read, write = os.pipe()
    os.close(read)  # the reader went away: every write to the pipe fails (EPIPE)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "auditor", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            timeout=HANG_SECONDS,
            check=False,
        )
    finally:
        os.close(write)
    assert proc.returncode == 0, proc.stderr
    assert "Broken pipe" not in proc.stderr and "Traceback" not in proc.stderr

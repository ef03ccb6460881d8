"""Hostile and broken inputs, through the real CLI: each gives a clear, located error (or a clean
exit 2), never a crash, a hang, a leak or a blow-up, and nothing else of the estate is lost."""

from __future__ import annotations

import json
import os
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import run_auditor, write

from tests.support import HANG_SECONDS

MiB = 1024 * 1024
POLICY = """\
<policies>
  <inbound>
    <base />
    <set-header name="x-attribution-id" exists-action="override">
      <value>@(context.Subscription.Id)</value>
    </set-header>
    <llm-emit-token-metric namespace="llm">
      <dimension name="Subscription ID" />
    </llm-emit-token-metric>
    <set-backend-service base-url="https://contoso.openai.azure.com/openai" />
  </inbound>
  <backend><base /></backend>
  <outbound><base /></outbound>
  <on-error><base /></on-error>
</policies>
"""
SPEC = """\
openapi: 3.0.1
info: {title: api, version: '1'}
paths:
  /deployments/{deployment-id}/chat/completions:
    post:
      operationId: chat-completions-create
"""


# --- helpers ------------------------------------------------------------------------------------


class Result:
    """One CLI run: exit code, outputs, wall time and (for --format json) the report."""

    def __init__(self, proc: subprocess.CompletedProcess[str], seconds: float) -> None:
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.seconds = seconds
        self.report: dict[str, Any] = {}
        if self.stdout.startswith("{"):
            self.report = json.loads(self.stdout)

    def errors(self, rule_prefix: str = "AUD") -> list[dict[str, Any]]:
        """Source-level error findings (AUD001 unreadable policy, AUD002 unreadable file)."""
        return [
            f
            for f in self.report["findings"]
            if f["status"] == "error" and f["rule"].startswith(rule_prefix)
        ]

    def error_at(self, path: str) -> dict[str, Any]:
        if self.rc == 2 and not self.report:
            # A single policy file that cannot be read is the whole source: exit 2, the reason
            # at its file and line on stderr (no report).
            m = re.search(
                rf"auditor: {re.escape(path)}(?::(\d+))?: cannot be read: (.*)", self.stderr
            )
            assert m, self.stderr
            line = int(m.group(1)) if m.group(1) else None
            return {"location": {"path": path, "line": line}, "message": m.group(2)}
        hits = [f for f in self.errors() if f["location"] and f["location"]["path"] == path]
        assert hits, f"no error finding at {path}: {self.errors()}"
        return hits[0]

    def verdicts(self, api: str) -> dict[str, str]:
        hits = [a for a in self.report["apis"] if a["name"] == api]
        assert len(hits) == 1, f"API {api!r} missing: {[a['name'] for a in self.report['apis']]}"
        return dict(hits[0]["signals"])


def cli(*args: str | Path, cwd: Path, timeout: float = HANG_SECONDS) -> Result:
    start = time.monotonic()
    proc = run_auditor(*args, cwd=cwd, timeout=timeout)
    result = Result(proc, time.monotonic() - start)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def scan(source: str | Path, cwd: Path, timeout: float = HANG_SECONDS) -> Result:
    return cli("scan", source, "--format", "json", cwd=cwd, timeout=timeout)


def make_tree(root: Path, apis: tuple[str, ...] = ("alpha", "beta")) -> Path:
    """A small APIOps tree: metered LLM APIs in one product, diagnostics with metrics."""
    for name in apis:
        info = {
            "properties": {
                "displayName": name,
                "path": name,
                "serviceUrl": "https://contoso.openai.azure.com/openai",
                "subscriptionRequired": True,
                "isCurrent": True,
            }
        }
        write(root / "apis" / name / "apiInformation.json", json.dumps(info, indent=2) + "\n")
        write(root / "apis" / name / "policy.xml", POLICY)
        write(root / "apis" / name / "specification.yaml", SPEC)
        write(root / "products" / "team" / "apis" / name / "productApiInformation.json", "{}\n")
    product = {"properties": {"displayName": "Team", "subscriptionRequired": True}}
    write(root / "products" / "team" / "productInformation.json", json.dumps(product))
    diag = {
        "properties": {
            "loggerId": "/loggers/appinsights",
            "metrics": True,
            "frontend": {"request": {"headers": ["x-attribution-id"]}},
            "backend": {"request": {"headers": ["x-attribution-id"]}},
        }
    }
    write(
        root / "diagnostics" / "applicationinsights" / "diagnosticInformation.json",
        json.dumps(diag, indent=2),
    )
    logger = {"properties": {"loggerType": "applicationInsights"}}
    write(root / "loggers" / "appinsights" / "loggerInformation.json", json.dumps(logger))
    backend = {"properties": {"url": "https://contoso.openai.azure.com/openai"}}
    write(root / "backends" / "aoai" / "backendInformation.json", json.dumps(backend))
    return root


def assert_intact(result: Result, api: str = "beta") -> None:
    """The untouched API of make_tree() is still audited, with its real verdicts."""
    verdicts = result.verdicts(api)
    assert verdicts["identity"] == "pass", verdicts
    # An APIOps tree cannot show the Azure OpenAI account or Application Insights, so coverage
    # is at best unknown for those reasons only (COV008, COV009), never for the broken input.
    assert verdicts["coverage"] in ("pass", "unknown"), verdicts
    if verdicts["coverage"] == "unknown":
        entry = next(a for a in result.report["apis"] if a["name"] == api)
        rules = {why.split(":", 1)[0] for why in entry["unknown_because"]["coverage"]}
        assert rules <= {"COV008", "COV009"}, entry["unknown_because"]


def assert_not_passed(result: Result, api: str) -> None:
    """An API whose input is unreadable must not get a confident pass."""
    verdicts = result.verdicts(api)
    assert "pass" not in (verdicts["coverage"], verdicts["identity"]), verdicts


def policy_with(inbound: str) -> str:
    return f"<policies>\n  <inbound>\n    <base />\n{inbound}  </inbound>\n</policies>\n"


def max_child_rss_mib() -> float:
    """Peak RSS of any finished child process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return rss / MiB if sys.platform == "darwin" else rss / 1024


# --- XML entity attacks -------------------------------------------------------------------------

XXE = """\
<?xml version="1.0"?>
<!DOCTYPE policies [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<policies>
  <inbound>
    <set-header name="x-attribution-id" exists-action="override">
      <value>&xxe;</value>
    </set-header>
  </inbound>
</policies>
"""


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_xxe_is_refused_and_never_resolved(tmp_path: Path, encoding: str) -> None:
    write(tmp_path / "xxe.xml", XXE.encode(encoding))  # utf-16 carries a BOM
    result = scan("xxe.xml", tmp_path)
    assert result.rc == 2  # nothing left to judge
    err = result.error_at("xxe.xml")
    assert err["location"]["line"] == 2
    assert "DTD" in err["message"] or "entity" in err["message"].lower()
    text = cli("scan", "xxe.xml", cwd=tmp_path)
    assert text.rc == 2
    assert "xxe.xml:2" in text.stderr
    for out in (result.stdout, result.stderr, text.stdout, text.stderr):
        assert "root:" not in out


def test_xinclude_is_not_processed(tmp_path: Path) -> None:
    inbound = (
        '    <xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd" '
        'parse="text" />\n'
    )
    write(tmp_path / "xi.xml", policy_with(inbound))
    result = scan("xi.xml", tmp_path)
    assert result.rc in (0, 1)
    assert "root:" not in result.stdout + result.stderr


def test_billion_laughs_is_refused_quickly_and_small(tmp_path: Path) -> None:
    entities = "".join(f' <!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">\n' for i in range(1, 10))
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE policies [\n <!ENTITY lol0 "lol">\n'
        f'{entities}]>\n<policies>\n  <inbound>\n    <set-header name="x">'
        "<value>&lol9;</value></set-header>\n  </inbound>\n</policies>\n"
    )
    write(tmp_path / "bomb.xml", bomb)
    result = scan("bomb.xml", tmp_path, timeout=HANG_SECONDS)
    assert result.seconds < HANG_SECONDS
    assert result.rc == 2  # nothing left to judge
    err = result.error_at("bomb.xml")
    assert err["location"]["line"] == 2
    assert "lollol" not in result.stdout  # nothing was expanded
    assert max_child_rss_mib() < 300


def test_yaml_alias_bomb_in_specification(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "apim")
    levels = [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 30) + "]" for i in range(1, 10)]
    spec = "openapi: 3.0.1\na0: &a0 [lol, lol]\n" + "\n".join(levels) + "\npaths: {}\n"
    write(tree / "apis" / "alpha" / "specification.yaml", spec)
    result = scan(tree, tmp_path, timeout=HANG_SECONDS)
    assert result.seconds < HANG_SECONDS
    assert result.rc == 1
    err = result.error_at("apis/alpha/specification.yaml")
    assert "alias" in err["message"].lower()
    assert_not_passed(result, "alpha")
    assert_intact(result)
    assert max_child_rss_mib() < 300


# --- size limits --------------------------------------------------------------------------------


def sparse(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.truncate(size)  # instant, no 50 MB written
    return path


@pytest.mark.parametrize(
    "relpath",
    ["apis/alpha/policy.xml", "apis/alpha/apiInformation.json", "apis/alpha/specification.yaml"],
)
def test_huge_file_in_tree_is_refused_and_the_rest_audited(tmp_path: Path, relpath: str) -> None:
    tree = make_tree(tmp_path / "apim")
    (tree / relpath).unlink()
    sparse(tree / relpath, 50 * MiB)
    result = scan(tree, tmp_path, timeout=HANG_SECONDS)
    assert result.seconds < HANG_SECONDS
    assert result.rc == 1
    err = result.error_at(relpath)
    assert "limit" in err["message"], err["message"]
    assert str(50 * MiB) in err["message"], err["message"]
    assert_not_passed(result, "alpha")
    assert_intact(result)
    assert max_child_rss_mib() < 300


def test_huge_single_policy_file(tmp_path: Path) -> None:
    sparse(tmp_path / "big.xml", 50 * MiB)
    result = scan("big.xml", tmp_path, timeout=HANG_SECONDS)
    assert result.seconds < HANG_SECONDS
    assert result.rc == 2  # nothing left to judge
    assert "limit" in result.error_at("big.xml")["message"]


# --- undecodable bytes --------------------------------------------------------------------------


def test_binary_garbage(tmp_path: Path) -> None:
    rng = random.Random(20240601)
    data = rng.randbytes(3000) + b"\x00\x00" + rng.randbytes(500)
    first_nul = data.index(b"\x00")
    write(tmp_path / "garbage.xml", data)
    result = scan("garbage.xml", tmp_path)
    assert result.rc == 2  # nothing left to judge
    err = result.error_at("garbage.xml")
    assert "binary" in err["message"]
    assert err["location"]["line"] == data.count(b"\n", 0, first_nul) + 1


def test_invalid_utf8_in_policy_is_located(tmp_path: Path) -> None:
    data = (
        b"<policies>\n  <inbound>\n    <!-- caf\xe9 -->\n    <base />\n  </inbound>\n</policies>\n"
    )
    write(tmp_path / "latin1.xml", data)
    result = scan("latin1.xml", tmp_path)
    assert result.rc == 2  # nothing left to judge
    err = result.error_at("latin1.xml")
    assert err["location"]["line"] == 3
    assert "UTF-8" in err["message"]
    assert "latin1.xml:3" in cli("scan", "latin1.xml", cwd=tmp_path).stderr


def test_invalid_utf8_in_json_is_located(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "apim")
    info = b'{\n  "properties": {\n    "displayName": "caf\xe9"\n  }\n}\n'
    write(tree / "apis" / "alpha" / "apiInformation.json", info)
    result = scan(tree, tmp_path)
    assert result.rc == 1
    assert_intact(result)
    assert result.error_at("apis/alpha/apiInformation.json")["location"]["line"] == 3


# --- broken JSON / OpenAPI ----------------------------------------------------------------------


def test_broken_api_information_json(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "apim")
    broken = '{\n  "properties": {\n    "displayName": "alpha",\n    "path": alpha\n  }\n}\n'
    write(tree / "apis" / "alpha" / "apiInformation.json", broken)
    result = scan(tree, tmp_path)
    assert result.rc == 1
    err = result.error_at("apis/alpha/apiInformation.json")
    assert err["location"]["line"] == 4
    assert "JSON" in err["message"]
    assert_not_passed(result, "alpha")
    assert_intact(result)
    text = cli("scan", tree, cwd=tmp_path)
    assert "apis/alpha/apiInformation.json:4" in text.stdout


def test_api_information_not_an_object(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "apim")
    write(tree / "apis" / "alpha" / "apiInformation.json", "[1, 2, 3]\n")
    result = scan(tree, tmp_path)
    assert result.rc == 1
    assert result.error_at("apis/alpha/apiInformation.json")["location"]["line"] == 1
    assert_intact(result)


def _yaml_error_line(text: str) -> int:
    try:
        yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        assert exc.problem_mark is not None
        return exc.problem_mark.line + 1
    raise AssertionError("the YAML was meant to be broken")


def _json_error_line(text: str) -> int:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return exc.lineno
    raise AssertionError("the JSON was meant to be broken")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("specification.yaml", "openapi: 3.0.1\npaths:\n  /x:\n    post: a: b\n"),
        ("specification.yaml", "openapi: 3.0.1\npaths:\n  /x: [unclosed\n    post: {}\n"),
        ("specification.json", '{\n  "openapi": "3.0.1",\n  "paths": {,\n'),
    ],
    ids=["yaml-mapping", "yaml-flow", "json"],
)
def test_broken_openapi_specification(tmp_path: Path, name: str, text: str) -> None:
    tree = make_tree(tmp_path / "apim")
    (tree / "apis" / "alpha" / "specification.yaml").unlink()
    write(tree / "apis" / "alpha" / name, text)
    line = _json_error_line(text) if name.endswith(".json") else _yaml_error_line(text)
    result = scan(tree, tmp_path)
    assert result.rc == 1
    err = result.error_at(f"apis/alpha/{name}")
    assert err["location"]["line"] == line
    assert ("YAML" if name.endswith(".yaml") else "JSON") in err["message"]
    assert "\n" not in err["message"]
    assert_not_passed(result, "alpha")
    assert_intact(result)


@pytest.mark.parametrize(
    ("relpath", "data"),
    [
        (
            "diagnostics/applicationinsights/diagnosticInformation.json",
            {
                "properties": {
                    "loggerId": "/loggers/appinsights",
                    "metrics": True,
                    "frontend": {"request": {"headers": 5}},
                }
            },
        ),
        (
            "backends/aoai/backendInformation.json",
            {"properties": {"url": "https://contoso.openai.azure.com", "pool": {"services": 7}}},
        ),
    ],
    ids=["diagnostic-headers", "backend-pool"],
)
def test_wrongly_typed_json_values(tmp_path: Path, relpath: str, data: Any) -> None:
    tree = make_tree(tmp_path / "apim")
    write(tree / relpath, json.dumps(data, indent=2))
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", "scan", str(tree), "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr.strip().splitlines()[-1]
    assert proc.returncode in (0, 1)
    names = {a["name"] for a in json.loads(proc.stdout)["apis"]}
    assert names == {"alpha", "beta"}


# --- policy expressions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inbound", "line"),
    [
        (
            '    <set-header name="x-attribution-id" exists-action="override">\n'
            "      <value>@(context.Subscription.Id</value>\n"
            "    </set-header>\n",
            5,
        ),
        ('    <set-header name="a"><value>@("abc)</value></set-header>\n', 4),
        ("    <set-body>@{\n      var x = 1;\n      return x.ToString();\n    </set-body>\n", 4),
        (
            '    <choose>\n      <when condition="@(context.Request.Method == &quot;POST&quot;"'
            ">\n        <base />\n      </when>\n    </choose>\n",
            5,
        ),
    ],
    ids=["paren-in-text", "string", "block", "condition-attribute"],
)
def test_unterminated_expression_is_located(tmp_path: Path, inbound: str, line: int) -> None:
    write(tmp_path / "expr.xml", policy_with(inbound))
    result = scan("expr.xml", tmp_path)
    assert result.rc == 2  # nothing left to judge
    err = result.error_at("expr.xml")
    assert err["location"]["line"] == line, err
    assert "not terminated" in err["message"]


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    depth = 100_000
    write(tmp_path / "deep.xml", "<policies>\n<inbound>\n" + "<a>" * depth + "</a>" * depth + "\n")
    result = scan("deep.xml", tmp_path, timeout=HANG_SECONDS)
    assert result.seconds < HANG_SECONDS
    assert result.rc == 2  # nothing left to judge
    assert "deeper" in result.error_at("deep.xml")["message"]


# --- the file system ----------------------------------------------------------------------------


def test_symlink_loops_do_not_hang(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    tree = make_tree(repo / "apim")
    os.symlink("..", tree / "apis" / "loop")
    (tree / "apis" / "alpha" / "operations").mkdir()
    os.symlink("../..", tree / "apis" / "alpha" / "operations" / "loop")
    os.symlink(".", repo / "self")
    os.symlink("..", repo / "up")
    result = scan(repo, tmp_path, timeout=HANG_SECONDS)
    assert result.seconds < HANG_SECONDS
    # Links are not followed; a linked operation folder is unseen, so alpha cannot pass.
    assert result.rc == 1
    report = result.report
    alpha = next(a for a in report["apis"] if a["name"] == "alpha")
    assert "pass" not in alpha["signals"].values()
    linked = [f for f in report["findings"] if f["rule"] == "AUD002"]
    assert any("not followed" in f["message"] for f in linked)
    assert_intact(result, "beta")


def test_symlink_loop_without_artifacts(tmp_path: Path) -> None:
    (tmp_path / "repo" / "src").mkdir(parents=True)
    os.symlink("..", tmp_path / "repo" / "src" / "loop")
    result = cli("scan", "repo", cwd=tmp_path, timeout=HANG_SECONDS)
    assert result.seconds < HANG_SECONDS
    assert result.rc == 2


def test_folder_without_apiops_markers(tmp_path: Path) -> None:
    write(tmp_path / "repo" / "src" / "main.py", "print('hi')\n")
    write(tmp_path / "repo" / "apis" / "README.md", "only one marker, no policy.xml\n")
    result = cli("scan", "repo", cwd=tmp_path)
    assert result.rc == 2
    assert result.stdout == ""
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert message.startswith("auditor: repo:")
    assert "no APIOps artifacts" in message


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no mkfifo on this platform")


@needs_fifo
def test_fifo_as_source_is_a_clean_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "policy.xml")
    result = cli("scan", "policy.xml", cwd=tmp_path, timeout=HANG_SECONDS)
    assert result.rc == 2
    assert "policy.xml" in result.stderr and "not a regular file" in result.stderr


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null")
def test_dev_null_as_source_is_a_clean_error(tmp_path: Path) -> None:
    result = cli("scan", "/dev/null", cwd=tmp_path, timeout=HANG_SECONDS)
    assert result.rc == 2
    assert "/dev/null" in result.stderr


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dangling(path: Path) -> None:
    os.symlink("../../../../shared/missing-policy.xml", path)


def _directory(path: Path) -> None:
    path.mkdir()


_UNREADABLE_BUG = (
    "BUG: an operation policy.xml that exists but is not a readable regular file (FIFO, dangling "
    "symlink, directory) is silently treated as absent: no error finding, verdicts pass, exit 0"
)


@pytest.mark.parametrize(
    "make",
    [pytest.param(_fifo, marks=needs_fifo), _dangling, _directory],
    ids=["fifo", "dangling-symlink", "directory"],
)
def test_unreadable_policy_in_tree_is_an_error(tmp_path: Path, make: Any) -> None:
    tree = make_tree(tmp_path / "apim")
    op = tree / "apis" / "alpha" / "operations" / "chat-completions-create"
    op.mkdir(parents=True)
    make(op / "policy.xml")
    result = scan(tree, tmp_path, timeout=HANG_SECONDS)  # must not hang on the FIFO
    assert_intact(result)
    assert result.rc == 1
    assert_not_passed(result, "alpha")
    result.error_at("apis/alpha/operations/chat-completions-create/policy.xml")

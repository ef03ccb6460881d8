"""Hostile IaC input, per format, through the CLI: a clear located error, nothing else lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import HANG_SECONDS

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = {
    "arm": (FIXTURES / "arm" / "estate" / "azuredeploy.json", "azuredeploy.json"),
    "bicep": (FIXTURES / "parity" / "bicep" / "main.bicep", "main.bicep"),
    "terraform": (FIXTURES / "terraform" / "unmetered" / "main.tf", "main.tf"),
}
SUFFIX = {"arm": ".json", "bicep": ".bicep", "terraform": ".tf"}
BROKEN = {
    "arm": '{\n  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/'
    'deploymentTemplate.json#",\n  "contentVersion": "1.0.0.0",\n  "resources": [\n    {,\n',
    "bicep": "resource apim 'Microsoft.ApiManagement/service@2024-05-01' = {\n  name: 'x'\n"
    "  properties: {\n    publisherName: \n",
    "terraform": 'resource "azurerm_api_management" "x" {\n  name = "apim"\n  sku_name = \n',
}


def scan(folder: Path, kind: str) -> tuple[int, dict, str, float]:
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditor",
            "scan",
            str(folder),
            "--source-type",
            kind,
            "--format",
            "json",
            "--fail-on",
            "never",
        ],
        capture_output=True,
        text=True,
        timeout=HANG_SECONDS * 2,
    )
    elapsed = time.perf_counter() - start
    report = json.loads(proc.stdout) if proc.stdout.startswith("{") else {}
    return proc.returncode, report, proc.stderr, elapsed


def good_tree(tmp_path: Path, kind: str) -> Path:
    src, name = GOOD[kind]
    folder = tmp_path / kind
    folder.mkdir()
    (folder / name).write_bytes(src.read_bytes())
    if kind == "bicep":
        (folder / "policies").symlink_to(src.parent / "policies", target_is_directory=True)
        # NOTE: a link to the fixture's policies keeps the test small; links to files are read
    return folder


def errors(report: dict) -> list[dict]:
    return [f for f in report.get("findings", []) if f["status"] == "error"]


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_broken_file_is_located_and_the_rest_still_loads(tmp_path: Path, kind: str) -> None:
    folder = good_tree(tmp_path, kind)
    baseline = scan(folder, kind)[1]
    (folder / f"broken{SUFFIX[kind]}").write_text(BROKEN[kind], encoding="utf-8")
    rc, report, err, _ = scan(folder, kind)
    assert "Traceback" not in err
    (error,) = [e for e in errors(report) if e["location"]["path"] == f"broken{SUFFIX[kind]}"]
    assert error["location"]["line"] is not None and error["location"]["line"] >= 1
    assert {a["name"] for a in report["apis"]} == {a["name"] for a in baseline["apis"]}


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_huge_file_is_refused_quickly(tmp_path: Path, kind: str) -> None:
    folder = good_tree(tmp_path, kind)
    huge = folder / f"huge{SUFFIX[kind]}"
    with huge.open("wb") as fh:
        if kind == "arm":  # only JSON that looks like a template is read as one
            fh.write(BROKEN["arm"].split('\n  "resources"')[0].encode() + b"\n")
        fh.truncate(50 * 1024 * 1024)  # sparse: 50 MB, written instantly
    rc, report, err, elapsed = scan(folder, kind)
    assert elapsed < HANG_SECONDS
    assert "Traceback" not in err
    assert any(e["location"] and e["location"]["path"] == huge.name for e in errors(report))
    assert report["apis"], "the good file must still be audited"


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_binary_garbage_is_an_error_not_a_crash(tmp_path: Path, kind: str) -> None:
    folder = good_tree(tmp_path, kind)
    (folder / f"garbage{SUFFIX[kind]}").write_bytes(os.urandom(4096) + b"\xff\xfe\x00")
    rc, report, err, _ = scan(folder, kind)
    assert rc in (0, 1) and "Traceback" not in err
    assert report["apis"], "the good file must still be audited"
    if kind == "arm":
        return  # JSON that is not a template (package.json, garbage) is not ARM: not read
    assert any(
        e["location"] and e["location"]["path"] == f"garbage{SUFFIX[kind]}" for e in errors(report)
    )


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_symlink_loops_do_not_hang(tmp_path: Path, kind: str) -> None:
    folder = good_tree(tmp_path, kind)
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to(folder, target_is_directory=True)
    rc, report, err, elapsed = scan(folder, kind)
    assert elapsed < HANG_SECONDS and rc in (0, 1) and "Traceback" not in err
    assert report["apis"]


def _growing(kind: str, shape: str, levels: int = 60) -> str:
    """A chain of variables, each twice the one before (``shape``: ``concat`` doubles a list,
    ``nest`` wraps it twice): 2**60 items if computed."""
    names = {"bicep": "v{}", "terraform": "local.v{}", "arm": "variables('v{}')"}[kind]
    lines = []
    for i in range(1, levels):
        prev = names.format(i - 1)
        if kind == "arm":
            body = (
                f"concat({prev}, {prev})" if shape == "concat" else f"createArray({prev}, {prev})"
            )
            lines.append(f'    "v{i}": "[{body}]"')
        else:
            body = f"concat({prev}, {prev})" if shape == "concat" else f"[{prev}, {prev}]"
            lines.append(f"  v{i} = {body}" if kind == "terraform" else f"var v{i} = {body}")
    last = names.format(levels - 1)
    if kind == "bicep":
        return (
            "var v0 = ['x']\n" + "\n".join(lines) + "\n"
            "resource apim 'Microsoft.ApiManagement/service@2024-05-01' = {\n"
            f"  name: 'apim-${{length({last})}}'\n  location: 'westeurope'\n"
            "  sku: { name: 'Developer', capacity: 1 }\n"
            "  properties: { publisherEmail: 'a@b.c', publisherName: 'c' }\n}\n"
        )
    if kind == "terraform":
        return (
            'locals {\n  v0 = ["x"]\n' + "\n".join(lines) + "\n}\n"
            'resource "azurerm_api_management" "apim" {\n'
            f'  name = "apim-${{length({last})}}"\n  sku_name = "Developer_1"\n}}\n'
        )
    return (
        '{\n  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/'
        'deploymentTemplate.json#",\n  "contentVersion": "1.0.0.0",\n  "variables": {\n'
        '    "v0": ["x"],\n' + ",\n".join(lines) + "\n  },\n"
        '  "resources": [{"type": "Microsoft.ApiManagement/service", '
        '"apiVersion": "2024-05-01", '
        f'"name": "[concat(\'apim-\', length({last}))]", "location": "westeurope"}}]\n}}\n'
    )


@pytest.mark.parametrize("shape", ["concat", "nest"])
@pytest.mark.parametrize("kind", sorted(GOOD))
def test_a_value_that_doubles_itself_is_refused_and_the_rest_is_read(
    tmp_path: Path, kind: str, shape: str
) -> None:
    folder = good_tree(tmp_path, kind)
    (folder / "sub").mkdir()
    (folder / "sub" / f"grow{SUFFIX[kind]}").write_text(_growing(kind, shape), encoding="utf-8")
    rc, report, stderr, elapsed = scan(folder, kind)
    assert rc == 0 and "Traceback" not in stderr, stderr[-2000:]
    assert elapsed < HANG_SECONDS
    # The good estate beside it is still judged. A list doubled 59 times is not computed, so
    # its length is unknown (its text cut, not doubled); one nested 59 times still has 2 items.
    assert any(a["llm"] for a in report["apis"])
    names = [s["name"] for s in report["services"]]
    assert max(map(len, names)) < 1000, names
    if shape == "concat":
        assert any(n.startswith("apim-${length(") for n in names), names
    else:
        assert "apim-2" in names, names

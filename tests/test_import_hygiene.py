"""Offline scans never import azure or textual, and --version stays fast."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "auditor" / "demo" / "contoso-ai-gateway"


def python(code: str) -> list[str]:
    """What ``code`` prints, run in a fresh interpreter (which must succeed)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()


def after_demo_scan(tmp_path: Path, report: str) -> str:
    """The last line printed by ``report`` (code that may use ``rc``), run in a fresh
    interpreter after a JSON scan of the demo estate."""
    code = (
        "import gc, sys\n"
        "from auditor.cli import main\n"
        f"rc = main(['scan', {str(DEMO)!r}, '--format', 'json', '-o', {str(tmp_path / 'r.json')!r},"
        " '--fail-on', 'never'])\n" + report
    )
    return python(code)[-1]


def test_offline_scan_imports_no_azure_or_textual(tmp_path: Path) -> None:
    report = (
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('azure', 'textual'))\n"
        "print(rc, bad)\n"
    )
    assert after_demo_scan(tmp_path, report) == "0 []"


def test_each_iac_scan_loads_its_own_grammar_only(tmp_path: Path) -> None:
    """A Terraform scan never loads the Bicep grammar, nor a Bicep scan the HCL one (each is
    a compiled parser that takes time to load)."""
    (tmp_path / "tf").mkdir()
    (tmp_path / "tf" / "main.tf").write_text(
        'resource "azurerm_api_management" "gw" {\n  name = "gw"\n}\n'
    )
    (tmp_path / "bicep").mkdir()
    (tmp_path / "bicep" / "main.bicep").write_text(
        "resource gw 'Microsoft.ApiManagement/service@2024-05-01' = {\n  name: 'gw'\n}\n"
    )
    grammars = "{'tree_sitter_bicep', 'tree_sitter_hcl', 'hcl2', 'lark'}"
    for folder, expected in (("tf", "['tree_sitter_hcl']"), ("bicep", "['tree_sitter_bicep']")):
        code = (
            "import sys\n"
            "from auditor.cli import main\n"
            f"main(['scan', {str(tmp_path / folder)!r}, '--fail-on', 'never'])\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {grammars}))\n"
        )
        assert python(code)[-1] == expected


def test_the_collector_is_back_on_after_a_scan_without_a_pass_over_it(tmp_path: Path) -> None:
    """The scan runs with the cyclic collector off; it is turned back on with the scan's objects
    out of the youngest generation, whose next pass would otherwise walk them all."""
    report = (
        "print(gc.isenabled(), len(gc.get_objects(generation=0)) < 5000,"
        " len(gc.get_objects()) > 20000)\n"
    )
    assert after_demo_scan(tmp_path, report) == "True True True"


def test_a_scan_run_as_a_library_leaves_the_collector_as_it_found_it(tmp_path: Path) -> None:
    """Objects the caller froze stay frozen, and a collector the caller turned off stays off."""
    code = (
        "import gc\n"
        "from auditor.cli import main\n"
        "marker = [[]]\n"
        "gc.freeze()\n"
        f"main(['scan', {str(DEMO)!r}, '-o', {str(tmp_path / 'a.json')!r}, '--fail-on', 'never'])\n"
        "print('RESULT', all(o is not marker for o in gc.get_objects()), gc.isenabled())\n"
        "gc.unfreeze(); gc.disable()\n"
        f"main(['scan', {str(DEMO)!r}, '-o', {str(tmp_path / 'b.json')!r}, '--fail-on', 'never'])\n"
        "print('RESULT', gc.isenabled())\n"
    )
    results = [line for line in python(code) if line.startswith("RESULT")]
    assert results == ["RESULT True True", "RESULT False"]


def test_version_is_light() -> None:
    code = (
        "import sys\nfrom auditor.cli import main\ntry:\n    main(['--version'])\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('lxml', 'yaml'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip().endswith("[]"), out.stdout

"""Offline scans never import azure or textual, and --version stays fast."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "auditor" / "demo" / "contoso-ai-gateway"


def test_offline_scan_imports_no_azure_or_textual(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from auditor.cli import main\n"
        f"rc = main(['scan', {str(DEMO)!r}, '--format', 'json', '-o', {str(tmp_path / 'r.json')!r},"
        " '--fail-on', 'never'])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('azure', 'textual'))\n"
        "print(rc, bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "0 []"


def test_version_is_fast_and_light() -> None:
    code = (
        "import sys\nfrom auditor.cli import main\ntry:\n    main(['--version'])\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('lxml', 'yaml'))))"
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    elapsed = time.perf_counter() - start
    assert out.stdout.strip().endswith("[]"), out.stdout
    assert elapsed < 2.0

"""Helpers shared by the tests that drive the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.engine import Audit, Finding
    from auditor.model import Estate

#: An API policy that meters its calls with a payer (for IaC sources that embed or read it).
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

#: Seconds after which a run counts as hung. NOTE: the tests that use it feed inputs that take
#: milliseconds when read in linear time and minutes otherwise, so a slow or loaded 2-core
#: runner never comes near it: they catch hangs and blow-ups, never measure speed.
HANG_SECONDS = 60.0


def run_auditor(
    *args: str | Path,
    cwd: Path,
    timeout: float = HANG_SECONDS,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m auditor ARGS`` as a real process. The terminal width is pinned
    (``COLUMNS=100``, the width of a pipe) because a test runner may export its own; ``env``
    adds to or overrides the inherited environment."""
    return subprocess.run(
        [sys.executable, "-m", "auditor", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "100", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` (folders made as needed); text as UTF-8."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def audit_of(estate: Estate) -> Audit:
    """The audit of ``estate`` with the bundled rules."""
    from auditor import engine, rules

    return engine.run(estate, rules.load())


def findings(audit: Audit, rule: str, api: str | None = None) -> list[Finding]:
    """The findings of one rule (for one API)."""
    return [f for f in audit.findings if f.rule == rule and (api is None or f.api == api)]


def line_of(file: Path, text: str, start: int = 1) -> int:
    """1-based line of the first line at or after ``start`` that contains ``text``."""
    lines = file.read_text("utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if i >= start and text in line)

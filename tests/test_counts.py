"""One count everywhere: the terminal, the Markdown and HTML reports, the TUI and the gate count
open gaps alike (failing findings of severity medium or higher, not accepted), notes apart."""

from __future__ import annotations

import json
import re
from pathlib import Path

from auditor.counts import counts
from auditor.tui import model
from tests.support import run_auditor

DEMO = Path(__file__).resolve().parents[1] / "auditor" / "demo" / "contoso-ai-gateway"


def test_every_view_counts_the_same_open_gaps(tmp_path: Path) -> None:
    found = {}
    for ext in ("md", "html", "json"):
        proc = run_auditor("scan", DEMO, "-o", tmp_path / f"r.{ext}", cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        found[ext] = (tmp_path / f"r.{ext}").read_text("utf-8")
        terminal, gate = proc.stdout, " ".join(proc.stderr.split())
    report = json.loads(found["json"])
    c = counts(report["findings"])
    assert (c.gaps, c.notes) == (12, 1)
    assert f"{c.gaps} open gap(s) (failing findings of severity medium or higher)" in terminal
    assert f"{c.notes} note(s) (low, info)" in terminal
    assert f"Top gaps (12 of {c.gaps} open:" in terminal
    assert f"## Gaps ({c.gaps} open: failing findings of severity medium or higher)" in found["md"]
    assert f"<h2>Gaps ({c.gaps} open: failing findings" in found["html"]
    assert re.search(rf"of the {c.gaps} open gap\(s\) at or above 'high'", gate), gate
    assert model.summary(report).open == c.gaps and model.summary(report).notes == c.notes
    # The info note is shown as a note, never as a red FAIL.
    (note,) = [f for f in report["findings"] if f["status"] == "fail" and f["severity"] == "info"]
    assert model.status_label(note) == "note"

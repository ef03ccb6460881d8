"""The TUI's logic without Textual: filters, sorting, counts, the estate tree, evidence."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from auditor.tui import evidence, model

Report = dict[str, Any]


def test_model_and_evidence_import_no_textual() -> None:
    code = (
        "import sys\nimport auditor.tui.model, auditor.tui.evidence\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_summary_matches_the_report(demo_report: Report) -> None:
    s = model.summary(demo_report)
    assert s.score == demo_report["score"]
    assert (s.apis, s.llm_apis) == (9, 8)
    # One count everywhere: the open gaps are the failing findings of severity medium or higher
    # (the terminal's, the reports' and the gate's); the info note is counted apart.
    assert s.open == len(model.top_gaps(demo_report)) == 12
    assert s.notes == 1
    assert s.checks == len(demo_report["findings"])
    assert [r.id for r in s.signals] == ["coverage", "identity", "streaming", "correlation"]
    assert s.score_text == f"{demo_report['score']}/100"


def test_top_gaps_are_open_and_worst_first(demo_report: Report) -> None:
    gaps = model.top_gaps(demo_report)
    assert all(f["status"] in ("fail", "error") and not f["suppression"] for f in gaps)
    ranks = [model.severity_rank(f["severity"]) for f in gaps]
    assert ranks == sorted(ranks, reverse=True)
    assert len(model.top_gaps(demo_report, limit=3)) == 3


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (model.Filter(status="all"), lambda f: True),
        (model.Filter(), lambda f: f["status"] != "pass"),
        (model.Filter(status="fail"), lambda f: f["status"] == "fail"),
        (model.Filter(signal="identity", status="all"), lambda f: f["signal"] == "identity"),
        (model.Filter(severity="medium", status="all"), lambda f: f["severity"] == "medium"),
        (model.Filter(api="gpt-legacy", status="all"), lambda f: f["api"] == "gpt-legacy"),
        (
            model.Filter(text="idn002 HEADER", status="all"),
            lambda f: f["rule"] == "IDN002" and "header" in f["message"].lower(),
        ),
    ],
)
def test_filter(demo_report: Report, flt: model.Filter, expected: Any) -> None:
    got = model.filter_findings(demo_report["findings"], flt)
    assert got == [f for f in demo_report["findings"] if expected(f)]
    assert got


def test_suppressed_findings_leave_issues(demo_report: Report) -> None:
    target = next(f for f in demo_report["findings"] if f["status"] == "fail")
    target["suppression"] = {
        "kind": "waiver",
        "reason": "accepted",
        "owner": "ops",
        "expires": "2099-01-01",
    }
    issues = model.filter_findings(demo_report["findings"], model.Filter())
    assert target not in issues
    assert model.filter_findings(demo_report["findings"], model.Filter(status="suppressed")) == [
        target
    ]
    assert model.status_label(target) == "fail (waived)"
    assert model.suppression_text(target) == "waived by ops until 2099-01-01: accepted"
    assert model.counts(demo_report["findings"], "status")["suppressed"] == 1


@pytest.mark.parametrize("key", model.SORT_KEYS)
@pytest.mark.parametrize("descending", [False, True])
def test_sort(demo_report: Report, key: str, descending: bool) -> None:
    out = model.sort_findings(demo_report["findings"], model.Sort(key, descending))
    assert len(out) == len(demo_report["findings"])
    primary = [model.sort_key(key, f) for f in out]
    assert primary == sorted(primary, reverse=descending)


def test_sort_toggles_and_cycles() -> None:
    s = model.Sort()
    assert (s.key, s.descending) == ("severity", True)
    assert s.toggled("severity") == model.Sort("severity", False)
    assert s.toggled("rule") == model.Sort("rule", False)
    assert [s := s.next() for _ in model.SORT_KEYS][-1].key == "severity"


def test_index_select_matches_brute_force(demo_report: Report) -> None:
    index = model.FindingIndex(demo_report["findings"])
    sort = model.Sort("rule", False)
    for text in ("", "c", "co", "cov", "cov0", "cov00", "cov", "header", "header x"):
        for flt in (model.Filter(text=text), model.Filter(text=text, status="all")):
            want = model.sort_findings(model.filter_findings(demo_report["findings"], flt), sort)
            assert index.select(flt, sort) == want, flt


def test_refines() -> None:
    assert model.Filter(text="ab").refines(model.Filter(text="a"))
    assert not model.Filter(text="a").refines(model.Filter(text="ab"))
    assert not model.Filter(text="ab", api="x").refines(model.Filter(text="a"))


def test_estate_tree(demo_report: Report) -> None:
    services = model.estate(demo_report)
    assert [s.name for s in services] == ["contoso-ai-gateway"]
    svc = services[0]
    assert svc.hidden == 1 and len(svc.apis) == 8
    assert "crm" not in [a.name for a in svc.apis]
    partner = next(a for a in svc.apis if a.name == "completions-partner")
    assert [op.name for op in partner.operations] == ["completions-create"]
    assert partner.operations[0].target == "completions-partner/completions-create"
    assert partner.open == 3
    everything = model.estate(demo_report, include_non_llm=True)[0]
    assert len(everything.apis) == 9 and everything.hidden == 0


def test_badges(demo_report: Report) -> None:
    api = next(a for a in demo_report["apis"] if a["name"] == "gpt-legacy")
    assert model.badges(api) == "✗ ? ✗ ✓"
    assert model.badges(api, plain=True) == "F ? F P"
    crm = next(a for a in demo_report["apis"] if a["name"] == "crm")
    assert model.badges(crm, plain=True) == "- - - -"


def test_location_and_cycle() -> None:
    assert model.location_text({"location": {"path": "a.xml", "line": 3}}) == "a.xml:3"
    assert model.location_text({"location": {"path": "a.xml", "line": None}}) == "a.xml"
    assert model.location_text({"location": None}) == "-"
    assert model.cycle(["", "a", "b"], "b") == ""
    assert model.cycle(["", "a"], "zzz") == ""


def test_excerpt_marks_the_line(demo_dir: Path) -> None:
    block = evidence.excerpt(demo_dir, "apis/gpt-legacy/policy.xml", 6, context=2)
    assert [line.gutter for line in block.lines] == ["4", "5", "6", "7", "8"]
    assert block.hit_index == 2
    assert "llm-emit-token-metric" in block.lines[2].text


def test_excerpt_never_leaves_the_source(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "secret.txt").write_text("no\n")
    block = evidence.excerpt(tmp_path / "src", "../secret.txt", 1)
    assert not block.lines and "outside" in block.note


def test_evidence_of_a_saved_report_is_the_file(demo_report: Report, tmp_path: Path) -> None:
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(demo_report))
    source = evidence.EvidenceSource(demo_report, str(saved))
    assert not source.source_mode
    gap = model.top_gaps(demo_report)[0]
    blocks = source.blocks(gap)
    assert len(blocks) == 1 and blocks[0].hit_index is not None


def test_evidence_of_a_source_has_the_effective_policy(demo_report: Report, demo_dir: Path) -> None:
    source = evidence.EvidenceSource(demo_report, str(demo_dir))
    assert source.source_mode
    fails = [f for f in demo_report["findings"] if f["status"] == "fail"]
    gap = next(f for f in fails if f["rule"] == "COR002")
    blocks = source.blocks(gap)
    effective = [b for b in blocks if b.title.startswith("Effective policy")]
    assert effective and any(b.hit_index is not None for b in effective)
    hit = next(b for b in effective if b.hit_index is not None)
    assert hit.lines[hit.hit_index or 0].origin == "api"


def test_evidence_without_files(demo_report: Report) -> None:
    report = copy.deepcopy(demo_report)
    report["source"]["location"] = "Azure (live)"
    source = evidence.EvidenceSource(report, "Azure (live)")
    assert not source.source_mode and source.root is None
    blocks = source.blocks(model.top_gaps(report)[0])
    assert not blocks[0].lines and "not on this machine" in blocks[0].note


def test_remediation_without_a_patch_is_the_rule_s_example_labelled_so() -> None:
    title, diff = evidence.remediation({"rule": "COR002"})
    assert "Example" in title and "not a change to your file" in title
    assert diff is not None and diff.startswith("--- example (fails)")
    assert '-    <set-header name="x-attribution-id" exists-action="skip">' in diff
    assert '+    <set-header name="x-attribution-id" exists-action="override">' in diff
    assert evidence.remediation({"rule": "NOPE999"})[1] is None
    # No internal estate shapes are shown as an example (COR005's context is one).
    assert "{" not in (evidence.remediation({"rule": "COR005"})[1] or "")


def test_remediation_with_a_patch_is_the_diff_of_the_finding_s_own_file(
    demo_report: Report,
) -> None:
    (cor002,) = [f for f in demo_report["findings"] if f["rule"] == "COR002" and f.get("patch")]
    title, diff = evidence.remediation(cor002)
    assert title.startswith("Patch for apis/embeddings-spoofable/policy.xml")
    assert diff is not None and diff.startswith("--- a/apis/embeddings-spoofable/policy.xml")
    (gpt,) = [f for f in demo_report["findings"] if f["rule"] == "COV001"
              and f["target"] == "gpt-legacy" and f["status"] == "fail"]  # fmt: skip
    assert "patch" not in gpt and "Example" in evidence.remediation(gpt)[0]

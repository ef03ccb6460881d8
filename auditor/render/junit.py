"""JUnit XML for CI test tabs (Azure DevOps ``PublishTestResults``, GitHub test reporters).

One ``<testsuite>`` per signal (and ``source`` for the source-level AUD rules), one
``<testcase>`` per finding, that is per (rule, target): ``classname`` is ``"<RULE> <name>"``,
``name`` the target (with its place appended when a rule has several findings on one target, so
names stay unique). What a finding becomes:

- ``fail`` of medium severity or higher: ``<failure>`` (message, place and fix in the text);
- ``fail`` of low or info severity: a passed test case with a ``<system-out>`` note, as such
  findings do not change a verdict;
- ``skip``: ``<skipped>`` with the reason; ``error``: ``<error>``;
- a suppressed ``fail`` or ``error`` (waiver, baseline, inline ignore): ``<skipped>`` whose message
  says so and why, with the details in ``<system-out>``.

Test cases carry ``file`` and ``line`` when the finding has a place (reporters that annotate use
them; the others ignore them). Characters XML cannot hold are dropped.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from auditor.render.text import loc, reason, suppression_label
from auditor.rules import SIGNALS, severity_rank

SOURCE_SUITE = "source"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(value: object) -> str:
    """``value`` as text XML 1.0 can hold (control characters and lone surrogates dropped)."""
    return _NOT_XML.sub("", str(value))


def outcome(finding: dict[str, Any]) -> str:
    """``failure``, ``error``, ``skipped`` or ``passed``: what the finding is as a test case."""
    status = finding["status"]
    if finding.get("suppression") and status in ("fail", "error"):
        return "skipped"
    if status == "error":
        return "error"
    if status == "skip":
        return "skipped"
    if status == "fail" and severity_rank(finding["severity"]) >= severity_rank("medium"):
        return "failure"
    return "passed"


def suite(finding: dict[str, Any]) -> str:
    """The test suite of a finding: its signal, or ``source`` for source-level rules."""
    return str(finding["signal"] or SOURCE_SUITE)


def _details(finding: dict[str, Any]) -> str:
    lines = [str(finding["message"]), f"where: {loc(finding)}"]
    evidence = [e for e in finding.get("evidence") or [] if e.get("path")]
    if evidence:
        lines.append(
            "evidence: "
            + ", ".join(
                f"{e['path']}:{e['line']}" if e.get("line") else e["path"] for e in evidence
            )
        )
    lines.append(f"fix: {finding['fix']}")
    return "\n".join(lines)


def _suppression_note(finding: dict[str, Any]) -> str:
    s = finding["suppression"]
    lines = [
        f"{finding['status']} ({finding['severity']}) accepted by {s.get('kind')}: "
        f"{s.get('reason') or 'no reason given'}"
    ]
    if s.get("owner"):
        lines.append(f"owner: {s['owner']}")
    if s.get("expires"):
        lines.append(f"expires: {s['expires']}")
    return "\n".join(lines) + "\n" + _details(finding)


def counts(findings: list[dict[str, Any]]) -> dict[str, int]:
    """``tests``, ``failures``, ``errors`` and ``skipped`` of a list of findings."""
    kinds = [outcome(f) for f in findings]
    return {
        "tests": len(kinds),
        "failures": kinds.count("failure"),
        "errors": kinds.count("error"),
        "skipped": kinds.count("skipped"),
    }


def _attrs(name: str, findings: list[dict[str, Any]]) -> dict[str, str]:
    return {"name": name} | {k: str(v) for k, v in counts(findings).items()} | {"time": "0"}


def _case(parent: etree._Element, f: dict[str, Any], name: str, classname: str) -> None:
    attrs = {"classname": xml_safe(classname), "name": xml_safe(name), "time": "0"}
    where = f.get("location")
    if where and where.get("path"):
        attrs["file"] = xml_safe(where["path"])
        if where.get("line"):
            attrs["line"] = str(where["line"])
    case = etree.SubElement(parent, "testcase", attrs)
    kind = outcome(f)
    if kind == "failure":
        el = etree.SubElement(
            case, "failure", {"message": xml_safe(f["message"]), "type": xml_safe(f["severity"])}
        )
        el.text = xml_safe(_details(f))
    elif kind == "error":
        el = etree.SubElement(case, "error", {"message": xml_safe(f["message"]), "type": "error"})
        el.text = xml_safe(_details(f))
    elif kind == "skipped" and f.get("suppression"):
        s = f["suppression"]
        message = f"{suppression_label(s)}: {s.get('reason') or 'no reason given'}"
        etree.SubElement(case, "skipped", {"message": xml_safe(message)})
        etree.SubElement(case, "system-out").text = xml_safe(_suppression_note(f))
    elif kind == "skipped":
        etree.SubElement(case, "skipped", {"message": xml_safe(reason(f))})
    elif f["status"] == "fail":
        note = f"note ({f['severity']}, does not change a verdict): {_details(f)}"
        etree.SubElement(case, "system-out").text = xml_safe(note)


def render(report: dict[str, Any]) -> str:
    """The findings as JUnit XML (deterministic: report order within each suite)."""
    names = {r["id"]: r["name"] for r in report.get("rules", [])}
    findings: list[dict[str, Any]] = report["findings"]
    order = [*SIGNALS, SOURCE_SUITE]
    groups: dict[str, list[dict[str, Any]]] = {s: [] for s in SIGNALS}
    for f in findings:
        groups.setdefault(suite(f), []).append(f)
    pairs: dict[tuple[str, str], int] = {}
    for f in findings:
        pairs[(f["rule"], f["target"])] = pairs.get((f["rule"], f["target"]), 0) + 1
    root = etree.Element("testsuites", _attrs("attribution-auditor", findings))
    for name in sorted(groups, key=lambda s: (order.index(s) if s in order else len(order), s)):
        mine = groups[name]
        el = etree.SubElement(root, "testsuite", _attrs(name, mine))
        for f in mine:
            classname = f"{f['rule']} {names.get(f['rule'], '')}".strip()
            case = f["target"]
            if pairs[(f["rule"], f["target"])] > 1:
                case += f" ({loc(f)})" if f.get("location") else f" #{f['fingerprint'][:8]}"
            _case(el, f, case, classname)
    xml: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return xml.decode("utf-8")

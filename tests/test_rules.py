"""The rule catalog: ids tie rules.yaml, checks and examples together; every example behaves."""

from __future__ import annotations

import pytest

import checks
from auditor import rules
from auditor.errors import RuleError
from auditor.examples import run_example
from auditor.rules import severity_rank

CATALOG = rules.load()
SIGNAL_RULES = [r for r in CATALOG.rules if r.signal is not None]


def test_every_signal_has_rules() -> None:
    assert {r.signal for r in SIGNAL_RULES} == set(rules.SIGNALS)


def test_catalog_and_registry_agree() -> None:
    registry = checks.registry()
    assert {r.id for r in SIGNAL_RULES} == set(registry)


def test_ids_follow_the_signal_prefix() -> None:
    prefix = {"coverage": "COV", "identity": "IDN", "streaming": "STR", "correlation": "COR"}
    for rule in SIGNAL_RULES:
        assert rule.id.startswith(prefix[rule.signal]), rule.id


@pytest.mark.parametrize("rule", SIGNAL_RULES, ids=lambda r: r.id)
def test_fail_example_fails(rule: rules.Rule) -> None:
    findings = run_example(rule, "fail", CATALOG)
    assert findings, "the rule produced no finding on its fail example"
    statuses = {f.status for f in findings}
    assert statuses == {"fail"}, [(f.status, f.message) for f in findings]


@pytest.mark.parametrize("rule", SIGNAL_RULES, ids=lambda r: r.id)
def test_pass_example_passes(rule: rules.Rule) -> None:
    findings = run_example(rule, "pass", CATALOG)
    assert findings, "the rule produced no finding on its pass example"
    assert {f.status for f in findings} == {"pass"}, [(f.status, f.message) for f in findings]


@pytest.mark.parametrize("rule", SIGNAL_RULES, ids=lambda r: r.id)
def test_fail_example_changes_the_verdict_unless_a_note(rule: rules.Rule) -> None:
    """Info/low rules are notes: they never change a verdict; the others must."""
    from auditor.engine import run
    from auditor.examples import example_spec
    from auditor.sources import inline

    audit = run(inline.build(example_spec(rule, "fail")), CATALOG)
    verdict = audit.apis[0].verdicts[rule.signal]
    if severity_rank(rule.severity) >= 2:
        assert verdict == "fail"
    else:
        assert verdict != "fail" or any(
            f.status == "fail" and severity_rank(f.severity) >= 2 and f.rule != rule.id
            for f in audit.findings
        )


def test_unknown_rule_keys_are_rejected(tmp_path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "rules:\n  - {id: X1, name: x, signal: coverage, severity: high, target: api,"
        " title: t, why: w, fix: f, colour: red}\n"
    )
    with pytest.raises(RuleError, match="unknown keys"):
        rules.load(bad)


def test_rule_without_check_is_rejected(tmp_path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "rules:\n  - {id: ZZZ999, name: x, signal: coverage, severity: high, target: api,"
        " title: t, why: w, fix: f, fail_example: a, pass_example: b}\n"
    )
    with pytest.raises(RuleError, match="no check registered for ZZZ999"):
        rules.load(bad)

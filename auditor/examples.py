"""Running a rule's documented examples: the fail example must fail and the pass example pass."""

from __future__ import annotations

from typing import Any

from auditor.engine import Finding, run
from auditor.rules import Catalog, Rule
from auditor.sources import inline


def example_spec(rule: Rule, which: str) -> dict[str, Any]:
    """The inline estate spec of the rule's ``fail`` or ``pass`` example."""
    context = {k: v for k, v in rule.example_context.items() if k not in ("fail", "pass")}
    context.update(rule.example_context.get(which) or {})
    context["policy"] = rule.fail_example if which == "fail" else rule.pass_example
    return context


def run_example(rule: Rule, which: str, catalog: Catalog) -> list[Finding]:
    """Findings of ``rule`` on one of its examples."""
    estate = inline.build(example_spec(rule, which))
    only = Catalog(tuple(r for r in catalog.rules if r.id == rule.id or r.signal is None))
    return [f for f in run(estate, only).findings if f.rule == rule.id]

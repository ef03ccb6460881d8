"""Effective-policy semantics: <base /> placement, fragments, choose, return-response, routes.

Most tests build the scope chain by hand with :func:`read_policy_text` and
:func:`build_effective`; the end-to-end ones go through ``inline.build`` and ``engine.run``.
"""

from __future__ import annotations

from typing import Any

import pytest

from auditor import engine, rules
from auditor.effective import Effective, Stmt, build_effective, terminates
from auditor.policy import PolicyDoc, read_policy_text
from auditor.sources import inline
from checks._common import meter_reach, reach

CATALOG = rules.load()

METER = (
    '<llm-emit-token-metric namespace="llm"><dimension name="Subscription ID" />'
    "</llm-emit-token-metric>"
)
RETURN = '<return-response><set-status code="429" reason="Too many" /></return-response>'
ALL_BASE = "<backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>"


# --------------------------------------------------------------------------------------------
# helpers


def var(name: str) -> str:
    """A harmless, uniquely named statement."""
    return f'<set-variable name="{name}" value="1" />'


def policy(
    inbound: str = "<base />",
    backend: str = "<base />",
    outbound: str = "<base />",
    on_error: str = "<base />",
) -> str:
    return (
        f"<policies><inbound>{inbound}</inbound><backend>{backend}</backend>"
        f"<outbound>{outbound}</outbound><on-error>{on_error}</on-error></policies>"
    )


def doc(text: str, scope: str, path: str | None = None) -> PolicyDoc:
    d = read_policy_text(text, scope=scope, path=path or f"{scope}.xml")
    assert d.ok, d.error
    return d


def frag(text: str, fid: str) -> PolicyDoc:
    return doc(f"<fragment>{text}</fragment>", "fragment", f"fragments/{fid}.xml")


def effective(
    *,
    global_: str | None = None,
    workspace: str | None = None,
    product: str | None = None,
    api: str | None = None,
    operation: str | None = None,
    fragments: dict[str, str] | None = None,
    fragments_known: bool = True,
) -> Effective:
    chain: list[PolicyDoc | None] = [
        doc(global_, "global") if global_ is not None else None,
        doc(workspace, "workspace") if workspace is not None else None,
        doc(product, "product") if product is not None else None,
        doc(api, "api") if api is not None else None,
        doc(operation, "operation") if operation is not None else None,
    ]
    frags = {fid: frag(text, fid) for fid, text in (fragments or {}).items()}
    return build_effective(chain, frags, fragments_known=fragments_known)


def names(eff: Effective, section: str = "inbound", **kw: Any) -> list[str]:
    """``name`` attributes of the walked statements (unnamed ones by tag)."""
    return [s.el.get("name") or s.tag for s in eff.walk(section, **kw)]


def by_name(eff: Effective, name: str, *, reachable_only: bool = True) -> Stmt:
    found = [s for s in eff.walk(reachable_only=reachable_only) if s.el.get("name") == name]
    assert len(found) == 1, [s.tag for s in eff.walk(reachable_only=False)]
    return found[0]


def is_token_metric(stmt: Stmt) -> bool:
    return stmt.tag == "llm-emit-token-metric"


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line that contains ``needle``."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    assert hits, needle
    return hits[0]


def audit(spec: dict[str, Any]) -> engine.Audit:
    return engine.run(inline.build(spec), CATALOG)


def verdicts(spec: dict[str, Any]) -> dict[str, str]:
    result = audit(spec)
    (api,) = result.apis
    assert api.llm
    return api.verdicts


def findings(result: engine.Audit, rule: str) -> list[engine.Finding]:
    out = [f for f in result.findings if f.rule == rule]
    assert out, f"no {rule} finding"
    return out


def one(result: engine.Audit, rule: str) -> engine.Finding:
    (f,) = findings(result, rule)
    return f


# A full, realistic spec: everything coverage needs is visible and fine.
GOOD_DIAGNOSTICS: dict[str, Any] = {
    # Everything coverage needs to be proven: diagnostics with metrics, an App Insights that
    # keeps dimensions, and a locked-down Azure OpenAI account behind the API.
    "diagnostics": [{"name": "applicationinsights", "loggerId": "/loggers/ai", "metrics": True}],
    "loggers": {"ai": "applicationInsights"},
    "logger_resources": {"ai": "/providers/Microsoft.Insights/components/ai"},
    "app_insights": [{"name": "ai", "custom_metrics": "WithDimensions"}],
    "service_url": "https://contoso.openai.azure.com/openai",
    "ai_accounts": [
        {
            "name": "contoso",
            "hosts": ["contoso.openai.azure.com"],
            "disable_local_auth": True,
            "public_network_access": "Disabled",
        }
    ],
}

RAW_API_POLICY = """<policies>
  <inbound>
    <base />
    <set-variable name="team" value="@(context.Request.Headers.GetValueOrDefault("x-team",""))" />
    <set-variable name="isStream" value="@{
        var body = context.Request.Body?.As<JObject>(preserveContent: true);
        var s = body?["stream"]?.Value<bool>() ?? false;
        // "quotes" && <generics> in a comment
        return s && body != null;
    }" />
    <llm-emit-token-metric namespace="llm">
      <dimension name="Subscription ID" />
      <dimension name="Team" value="@((string)context.Variables["team"])" />
    </llm-emit-token-metric>
  </inbound>
  <backend><base /></backend>
  <outbound><base /></outbound>
  <on-error><base /></on-error>
</policies>
"""


# --------------------------------------------------------------------------------------------
# 1. <base /> placement and inheritance


def test_base_first_at_every_scope_orders_global_product_api_operation() -> None:
    eff = effective(
        global_=policy(var("g")),
        product=policy("<base />" + var("p")),
        api=policy("<base />" + var("a")),
        operation=policy("<base />" + var("o")),
    )
    assert names(eff) == ["g", "p", "a", "o"]
    assert [s.scope for s in eff.walk("inbound")] == ["global", "product", "api", "operation"]
    assert eff.drops == ()
    assert eff.problems == ()


def test_workspace_sits_between_global_and_product() -> None:
    eff = effective(
        global_=policy(var("g")),
        workspace=policy("<base />" + var("w")),
        product=policy("<base />" + var("p")),
        api=policy("<base />" + var("a")),
    )
    assert names(eff) == ["g", "w", "p", "a"]


def test_base_in_the_middle_puts_parent_statements_at_that_position() -> None:
    eff = effective(
        global_=policy(var("g")),
        api=policy(var("a1") + "<base />" + var("a2")),
        operation=policy(var("o1") + "<base />" + var("o2")),
    )
    assert names(eff) == ["o1", "a1", "g", "a2", "o2"]


def test_base_last_runs_parent_statements_after_own() -> None:
    eff = effective(global_=policy(var("g")), api=policy(var("a") + "<base />"))
    assert names(eff) == ["a", "g"]


def test_base_and_include_fragment_elements_are_not_statements() -> None:
    eff = effective(
        api=policy('<base /><include-fragment fragment-id="f" />'),
        fragments={"f": var("x")},
    )
    assert [s.tag for s in eff.walk()] == ["set-variable"]


def test_section_without_base_drops_parent_statements_of_that_section_only() -> None:
    eff = effective(
        global_=policy(var("g-in"), outbound=var("g-out"), on_error=var("g-err")),
        api=policy(var("a-in"), outbound="<base />" + var("a-out")),
    )
    assert names(eff, "inbound") == ["a-in"]
    assert names(eff, "outbound") == ["g-out", "a-out"]
    assert names(eff, "on-error") == ["g-err"]
    assert [d.section for d in eff.drops] == ["inbound"]


def test_drop_records_dropped_tag_scope_pairs_and_dropping_section_location() -> None:
    api_text = "<policies>\n  <inbound>\n    <base />\n  </inbound>\n</policies>"
    op_text = "<policies>\n\n  <inbound>\n    " + var("o") + "\n  </inbound>\n</policies>"
    eff = effective(
        global_=policy(METER),
        product=policy("<base />" + '<rate-limit calls="5" renewal-period="60" />'),
        api=api_text,
        operation=op_text,
    )
    inbound = [d for d in eff.drops if d.section == "inbound"]
    assert len(inbound) == 1
    drop = inbound[0]
    assert set(drop.dropped) == {("llm-emit-token-metric", "global"), ("rate-limit", "product")}
    assert drop.dropped_by.path == "operation.xml"
    assert drop.dropped_by.line == 3  # the <inbound> without <base />
    assert names(eff) == ["o"]


def test_drop_lists_statements_inside_parent_branches() -> None:
    eff = effective(
        api=policy(
            '<base /><choose><when condition="@(true)">' + METER + "</when></choose>",
        ),
        operation=policy(var("o")),
    )
    (drop,) = eff.drops
    assert ("choose", "api") in drop.dropped
    assert ("llm-emit-token-metric", "api") in drop.dropped


def test_section_without_base_and_nothing_to_inherit_records_no_drop() -> None:
    eff = effective(api=policy("<base />"), operation=policy(var("o")))
    assert eff.drops == ()
    assert names(eff) == ["o"]


def test_missing_document_at_a_scope_is_transparent() -> None:
    eff = effective(global_=policy(var("g")), operation=policy("<base />" + var("o")))
    assert names(eff) == ["g", "o"]
    assert eff.drops == ()


def test_missing_documents_everywhere_give_an_empty_effective_policy() -> None:
    eff = effective()
    assert list(eff.walk()) == []
    assert eff.drops == () and eff.problems == () and eff.dead == []


def test_missing_intermediate_document_still_lets_operation_drop_global() -> None:
    eff = effective(global_=policy(METER), operation=policy(var("o")))
    (drop,) = eff.drops
    assert drop.dropped == (("llm-emit-token-metric", "global"),)
    assert drop.dropped_by.path == "operation.xml"


def test_present_document_without_a_section_drops_parent_statements_of_that_section() -> None:
    eff = effective(
        global_=policy(var("g-in"), outbound=var("g-out")),
        api="<policies>\n  <inbound><base />" + var("a") + "</inbound>\n</policies>",
    )
    assert names(eff, "inbound") == ["g-in", "a"]
    assert names(eff, "outbound") == []
    (drop,) = eff.drops
    assert drop.section == "outbound"
    assert drop.dropped == (("set-variable", "global"),)
    assert drop.dropped_by.path == "api.xml"
    assert drop.dropped_by.line == 1  # the document itself: there is no section to point at


def test_global_base_means_nothing() -> None:
    eff = effective(global_=policy("<base />" + var("g")), api=policy("<base />" + var("a")))
    assert names(eff) == ["g", "a"]
    assert eff.drops == () and eff.problems == ()


def test_global_without_base_needs_nothing() -> None:
    eff = effective(global_=policy(var("g")))
    assert names(eff) == ["g"]
    assert eff.drops == ()


def test_product_without_base_drops_global_on_the_product_route() -> None:
    eff = effective(
        global_=policy(METER), product=policy(var("p")), api=policy("<base />" + var("a"))
    )
    assert names(eff) == ["p", "a"]
    (drop,) = eff.drops
    assert drop.dropped == (("llm-emit-token-metric", "global"),)
    assert drop.dropped_by.path == "product.xml"


def test_unreadable_document_at_a_scope_is_a_problem() -> None:
    bad = read_policy_text("<policies><inbound><base /></inbound>", scope="api", path="api.xml")
    assert not bad.ok
    eff = build_effective([doc(policy(METER), "global"), bad, None], {})
    assert eff.problems
    assert all("api policy cannot be read" in p.message for p in eff.problems)
    assert eff.problems[0].location.path == "api.xml"
    assert list(eff.walk()) == []


# --------------------------------------------------------------------------------------------
# 2. Fragments


def test_include_fragment_is_replaced_by_fragment_statements() -> None:
    fragment_text = "<fragment>\n  " + var("f1") + "\n\n  " + METER + "\n</fragment>"
    api = doc(
        policy("<base />" + var("a1") + '<include-fragment fragment-id="x" />' + var("a2")), "api"
    )
    frag_doc = doc(fragment_text, "fragment", "fragments/x.xml")
    eff = build_effective([None, api, None], {"x": frag_doc})
    assert [s.el.get("name") or s.tag for s in eff.walk()] == [
        "a1",
        "f1",
        "llm-emit-token-metric",
        "a2",
    ]
    inlined = [s for s in eff.walk() if s.fragment is not None]
    assert len(inlined) == 2
    for stmt in inlined:
        assert stmt.fragment == "x"
        assert stmt.scope == "api"
        assert stmt.doc is frag_doc
        assert not stmt.conditional
    meter = next(s for s in inlined if is_token_metric(s))
    assert meter.location.path == "fragments/x.xml"
    assert meter.location.line == 4
    assert by_name(eff, "a1").fragment is None
    assert frag_doc in eff.docs
    assert meter_reach(eff) == "always"


def test_fragment_statements_take_the_scope_of_the_including_document() -> None:
    eff = effective(
        product=policy('<base /><include-fragment fragment-id="m" />'),
        operation=policy('<base /><include-fragment fragment-id="m" />'),
        fragments={"m": var("v")},
    )
    assert [(s.scope, s.fragment) for s in eff.walk()] == [("product", "m"), ("operation", "m")]


def test_include_fragment_inside_when_makes_fragment_statements_conditional() -> None:
    cond = '@(context.Request.Headers.GetValueOrDefault("x-llm", "") == "yes")'
    eff = effective(
        api=policy(
            f"<base /><choose><when condition='{cond}'>"
            '<include-fragment fragment-id="meter" /></when></choose>'
        ),
        fragments={"meter": METER},
    )
    (stmt,) = [s for s in eff.walk() if is_token_metric(s)]
    assert stmt.fragment == "meter"
    assert stmt.conditional
    assert stmt.conditions == (cond,)
    assert meter_reach(eff) == "partial"


def test_fragment_with_choose_accumulates_conditions_of_the_including_branch() -> None:
    eff = effective(
        api=policy(
            '<base /><choose><when condition="@(outer)">'
            '<include-fragment fragment-id="f" /></when></choose>'
        ),
        fragments={
            "f": '<choose><when condition="@(inner)">' + var("deep") + "</when></choose>",
        },
    )
    assert by_name(eff, "deep").conditions == ("@(outer)", "@(inner)")


def test_unknown_fragment_id_gives_a_problem_at_the_include() -> None:
    text = "<policies>\n  <inbound>\n    <base />\n    <include-fragment fragment-id='gone' />\n"
    text += "  </inbound>\n</policies>"
    eff = effective(api=text, fragments={})
    (problem,) = eff.problems
    assert "'gone'" in problem.message
    assert "not in this source" in problem.message
    assert problem.location.path == "api.xml"
    assert problem.location.line == 4


def test_fragment_that_the_source_cannot_show_is_unresolved_not_missing() -> None:
    eff = effective(
        api=policy('<base /><include-fragment fragment-id="f" />'), fragments_known=False
    )
    (problem,) = eff.problems
    assert "cannot be resolved" in problem.message


def test_unknown_fragment_makes_verdicts_unknown_never_pass() -> None:
    result = audit(
        {
            "policy": policy("<base />" + METER + '<include-fragment fragment-id="gone" />'),
            "fragments": {},
        }
    )
    (api,) = result.apis
    assert api.verdicts["coverage"] == "unknown"
    assert "pass" not in api.verdicts.values()
    cov001 = one(result, "COV001")
    assert cov001.status == "skip"
    assert "'gone'" in cov001.message
    # The missing fragment itself is an error once (the gate fails closed), not once per rule.
    errors = [f for f in result.findings if f.status == "error"]
    assert [f.rule for f in errors] == ["AUD003"]
    assert "'gone'" in errors[0].message


def test_unreadable_fragment_gives_a_problem() -> None:
    bad = read_policy_text(
        '<fragment>\n  <set-header name="x">\n</fragment>', scope="fragment", path="fragments/b.xml"
    )
    assert not bad.ok
    api = doc(policy('<base /><include-fragment fragment-id="b" />'), "api")
    eff = build_effective([api], {"b": bad})
    (problem,) = eff.problems
    assert "fragment 'b' cannot be read" in problem.message
    assert problem.location.path == "fragments/b.xml"


def test_unreadable_fragment_makes_verdicts_unknown_never_pass() -> None:
    result = audit(
        {
            "policy": policy("<base />" + METER + '<include-fragment fragment-id="b" />'),
            "fragments": {"b": '<fragment><set-header name="x"></fragment>'},
        }
    )
    (api,) = result.apis
    assert api.verdicts["coverage"] == "unknown"
    assert "pass" not in api.verdicts.values()
    assert one(result, "COV001").status == "skip"
    assert any(f.rule == "AUD001" and f.status == "error" for f in result.findings)


def test_fragment_including_another_fragment_gives_a_problem_and_nothing_runs() -> None:
    eff = effective(
        api=policy('<base /><include-fragment fragment-id="outer" />'),
        fragments={
            "outer": var("o") + '<include-fragment fragment-id="inner" />',
            "inner": METER,
        },
    )
    (problem,) = eff.problems
    assert "'inner'" in problem.message
    assert "inside a fragment" in problem.message
    assert problem.location.path == "fragments/outer.xml"
    assert names(eff) == ["o"]


def test_nested_fragment_through_the_engine_is_unknown() -> None:
    result = audit(
        {
            "policy": policy('<base /><include-fragment fragment-id="outer" />'),
            "fragments": {
                "outer": '<fragment><include-fragment fragment-id="inner" /></fragment>',
                "inner": f"<fragment>{METER}</fragment>",
            },
        }
    )
    assert not any(f.rule == "AUD001" for f in result.findings)  # both fragments are readable
    assert result.apis[0].verdicts["coverage"] == "unknown"
    cov001 = one(result, "COV001")
    assert cov001.status == "skip"
    assert "included from inside a fragment" in cov001.message
    assert any(f.rule == "AUD003" and f.status == "error" for f in result.findings)


def test_base_inside_a_fragment_does_not_reinsert_parent_statements() -> None:
    eff = effective(
        global_=policy(var("g")),
        api=policy('<base /><include-fragment fragment-id="f" />'),
        fragments={"f": "<base />" + var("f")},
    )
    assert names(eff) == ["g", "f"]


# --------------------------------------------------------------------------------------------
# 3. choose / when / otherwise


CHOOSE = (
    "<choose>"
    '<when condition="@(context.Request.Headers.GetValueOrDefault('
    '&quot;a&quot;,&quot;&quot;) == &quot;1&quot;)">' + var("w1") + "</when>"
    '<when condition="@(context.Subscription != null &amp;&amp; context.Product != null)">'
    + var("w2")
    + "</when>"
    "<otherwise>" + var("ow") + "</otherwise>"
    "</choose>"
)


def test_when_statements_carry_their_condition() -> None:
    eff = effective(api=policy("<base />" + CHOOSE + var("after")))
    w1 = by_name(eff, "w1")
    assert w1.conditions == ('@(context.Request.Headers.GetValueOrDefault("a","") == "1")',)
    assert w1.conditional
    assert not by_name(eff, "after").conditional


def test_later_when_carries_negation_of_previous_conditions() -> None:
    eff = effective(api=policy(CHOOSE))
    c1 = by_name(eff, "w1").conditions[0]
    w2 = by_name(eff, "w2")
    assert w2.conditions == (
        f"not ({c1})",
        "@(context.Subscription != null && context.Product != null)",
    )
    c2 = w2.conditions[-1]
    assert by_name(eff, "ow").conditions == (f"not ({c1})", f"not ({c2})")


def test_branches_of_a_choose_are_recorded_with_conditions_and_otherwise() -> None:
    eff = effective(api=policy(CHOOSE))
    (choose,) = eff.find("choose")
    assert [b.condition is None for b in choose.branches] == [False, False, True]
    assert [[s.el.get("name") for s in b.stmts] for b in choose.branches] == [
        ["w1"],
        ["w2"],
        ["ow"],
    ]


def test_nested_choose_accumulates_conditions() -> None:
    eff = effective(
        api=policy(
            '<choose><when condition="@(a)"><choose><when condition="@(b)">'
            + var("deep")
            + "</when></choose></when></choose>"
        )
    )
    assert by_name(eff, "deep").conditions == ("@(a)", "@(b)")


def test_walk_yields_branch_statements_in_document_order() -> None:
    eff = effective(api=policy(var("before") + CHOOSE + var("after")))
    assert names(eff) == ["before", "choose", "w1", "w2", "ow", "after"]
    assert [s.el.get("name") for s in eff.find("set-variable")] == [
        "before",
        "w1",
        "w2",
        "ow",
        "after",
    ]


def test_base_inside_when_makes_parent_statements_conditional() -> None:
    eff = effective(
        global_=policy(var("g")),
        api=policy('<choose><when condition="@(c)"><base /></when></choose>'),
    )
    assert by_name(eff, "g").conditions == ("@(c)",)


def _meter_choose(when1: str, when2: str, otherwise: str | None) -> Effective:
    other = f"<otherwise>{otherwise}</otherwise>" if otherwise is not None else ""
    return effective(
        api=policy(
            f'<base /><choose><when condition="@(a)">{when1}</when>'
            f'<when condition="@(b)">{when2}</when>{other}</choose>'
        )
    )


def test_reach_is_partial_when_only_some_branches_meter() -> None:
    eff = _meter_choose(METER, var("x"), METER)
    assert reach(eff.sections["inbound"], is_token_metric) == "partial"
    assert meter_reach(eff) == "partial"


def test_reach_is_always_when_every_branch_including_otherwise_meters() -> None:
    eff = _meter_choose(METER, METER, METER)
    assert reach(eff.sections["inbound"], is_token_metric) == "always"
    assert meter_reach(eff) == "always"


def test_reach_is_partial_without_otherwise_even_when_every_when_meters() -> None:
    eff = _meter_choose(METER, METER, None)
    assert meter_reach(eff) == "partial"


def test_reach_is_partial_when_otherwise_is_empty() -> None:
    eff = _meter_choose(METER, METER, "")
    assert meter_reach(eff) == "partial"


def test_reach_is_never_without_any_meter() -> None:
    eff = _meter_choose(var("x"), var("y"), var("z"))
    assert meter_reach(eff) == "never"


def test_unconditional_meter_next_to_a_choose_is_always() -> None:
    eff = effective(api=policy("<base />" + CHOOSE + METER))
    assert meter_reach(eff) == "always"


def test_conditional_metering_fails_coverage_through_the_engine() -> None:
    spec = {
        "policy": policy(
            "<base /><choose>"
            '<when condition="@(context.Request.Headers.GetValueOrDefault("x-llm","") == "1")">'
            + METER
            + "</when></choose>"
        ),
    }
    result = audit(spec)
    assert one(result, "COV001").status == "pass"
    cov002 = one(result, "COV002")
    assert cov002.status == "fail"
    assert cov002.severity == "medium"
    assert "x-llm" in cov002.message
    assert result.apis[0].verdicts["coverage"] == "fail"


# --------------------------------------------------------------------------------------------
# 4. return-response


def test_statements_after_unconditional_return_response_are_unreachable() -> None:
    eff = effective(api=policy("<base />" + var("before") + RETURN + METER + var("after")))
    assert names(eff) == ["before", "return-response"]
    assert eff.find("llm-emit-token-metric") == []
    dead = [s.el.get("name") or s.tag for s in eff.dead]
    assert dead == ["llm-emit-token-metric", "after"]
    assert all(not s.reachable for s in eff.dead)
    assert meter_reach(eff) == "never"
    walked_all = names(eff, reachable_only=False)
    assert walked_all == ["before", "return-response", "llm-emit-token-metric", "after"]


def test_return_response_in_inbound_makes_backend_and_outbound_unreachable() -> None:
    eff = effective(
        api=policy(
            RETURN,
            backend='<forward-request timeout="60" />',
            outbound=var("out"),
            on_error=var("err"),
        )
    )
    assert list(eff.walk("backend")) == []
    assert list(eff.walk("outbound")) == []
    assert names(eff, "on-error") == ["err"]
    assert {s.tag for s in eff.dead} == {"forward-request", "set-variable"}
    assert [s.section for s in eff.dead] == ["backend", "outbound"]


def test_return_response_inside_when_does_not_make_later_statements_unreachable() -> None:
    eff = effective(
        api=policy(
            '<base /><choose><when condition="@(context.Request.Headers.ContainsKey("x-block"))">'
            + RETURN
            + var("in-branch-after")
            + "</when></choose>"
            + METER,
            outbound=var("out"),
        )
    )
    assert eff.find("llm-emit-token-metric")
    assert names(eff, "outbound") == ["out"]
    assert meter_reach(eff) == "always"
    # inside the branch, what follows the return-response is dead
    assert [s.el.get("name") for s in eff.dead] == ["in-branch-after"]


def test_choose_where_every_branch_returns_with_otherwise_ends_the_request() -> None:
    eff = effective(
        api=policy(
            '<choose><when condition="@(a)">'
            + RETURN
            + "</when><otherwise>"
            + RETURN
            + "</otherwise></choose>"
            + METER,
            outbound=var("out"),
        )
    )
    assert eff.find("llm-emit-token-metric") == []
    assert list(eff.walk("outbound")) == []
    assert [s.tag for s in eff.dead] == ["llm-emit-token-metric", "set-variable"]
    assert terminates(eff.sections["inbound"])


def test_choose_where_every_when_returns_but_no_otherwise_does_not_end_the_request() -> None:
    eff = effective(
        api=policy(
            '<choose><when condition="@(a)">'
            + RETURN
            + '</when><when condition="@(b)">'
            + RETURN
            + "</when></choose>"
            + METER
        )
    )
    assert eff.find("llm-emit-token-metric")
    assert eff.dead == []
    assert not terminates(eff.sections["inbound"])


def test_nested_choose_that_always_returns_ends_the_request() -> None:
    inner = (
        '<choose><when condition="@(b)">'
        + RETURN
        + "</when><otherwise>"
        + RETURN
        + "</otherwise></choose>"
    )
    eff = effective(
        api=policy(
            f'<choose><when condition="@(a)">{inner}</when><otherwise>{RETURN}</otherwise></choose>'
            + var("after")
        )
    )
    assert [s.el.get("name") for s in eff.dead] == ["after"]


def test_return_response_in_parent_kills_child_statements_after_base_only() -> None:
    eff = effective(
        api=policy(RETURN),
        operation=policy(var("before-base") + "<base />" + var("after-base")),
    )
    assert names(eff) == ["before-base", "return-response"]
    assert [s.el.get("name") for s in eff.dead] == ["after-base"]


def test_terminates_on_plain_statements() -> None:
    eff = effective(api=policy(var("a") + RETURN))
    assert terminates(eff.sections["inbound"])
    assert not terminates(effective(api=policy(var("a"))).sections["inbound"])


def test_meter_after_return_response_fails_coverage_and_says_why() -> None:
    text = "<policies>\n  <inbound>\n    <base />\n    " + RETURN + "\n    " + METER + "\n"
    text += "  </inbound>\n</policies>"
    result = audit({"policy": text})
    cov001 = one(result, "COV001")
    assert cov001.status == "fail"
    assert "never runs" in cov001.message
    assert "return-response" in cov001.message
    assert cov001.location is not None and cov001.location.line == 5
    assert result.apis[0].verdicts["coverage"] == "fail"


# --------------------------------------------------------------------------------------------
# 5. Containers


@pytest.mark.parametrize(
    "container",
    [
        '<retry condition="@(context.Response.StatusCode == 429)" count="3" interval="1">',
        '<limit-concurrency key="@(context.Subscription.Id)" max-count="4">',
    ],
)
def test_children_of_containers_are_walked(container: str) -> None:
    close = "</" + container[1:].split(" ", 1)[0] + ">"
    eff = effective(api=policy("<base />" + container + var("inner") + METER + close))
    (outer,) = [s for s in eff.walk() if s.tag in ("retry", "limit-concurrency")]
    assert [c.el.get("name") or c.tag for c in outer.children] == [
        "inner",
        "llm-emit-token-metric",
    ]
    assert names(eff)[1:] == ["inner", "llm-emit-token-metric"]
    assert meter_reach(eff) == "always"
    assert all(not c.conditional for c in outer.children)


def test_choose_and_fragment_inside_a_container_are_expanded() -> None:
    eff = effective(
        api=policy(
            '<retry condition="@(true)" count="2" interval="1">'
            '<include-fragment fragment-id="f" />'
            '<choose><when condition="@(x)">' + var("w") + "</when></choose>"
            "</retry>"
        ),
        fragments={"f": var("fv")},
    )
    assert by_name(eff, "fv").fragment == "f"
    assert by_name(eff, "w").conditions == ("@(x)",)


def test_container_after_return_response_is_dead_with_its_children() -> None:
    eff = effective(
        api=policy(
            RETURN + '<retry condition="@(true)" count="2" interval="1">' + METER + "</retry>"
        )
    )
    assert eff.find("llm-emit-token-metric") == []
    assert [s.tag for s in eff.dead] == ["retry", "llm-emit-token-metric"]


# --------------------------------------------------------------------------------------------
# 6. Comments


def test_commented_out_meter_is_not_a_statement() -> None:
    eff = effective(api=policy("<base /><!-- " + METER + " -->"))
    assert list(eff.walk()) == []
    assert meter_reach(eff) == "never"


COMMENTED = """<policies>
  <inbound>
    <base />
    <set-variable name="user" value="@{
        var auth = context.Request.Headers.GetValueOrDefault("Authorization", "");
        return auth.Length > 0 && auth.StartsWith("Bearer ") ? "jwt" : "none";
    }" />
    <!--
    <llm-emit-token-metric namespace="llm">
      <dimension name="Subscription ID" />
    </llm-emit-token-metric>
    -->
  </inbound>
  <backend><base /></backend>
  <outbound><base /></outbound>
  <on-error><base /></on-error>
</policies>
"""


def test_commented_out_meter_fails_coverage_and_points_at_the_comment() -> None:
    result = audit({"policy": COMMENTED})
    cov001 = one(result, "COV001")
    assert cov001.status == "fail"
    assert "commented out" in cov001.message
    assert line_of(COMMENTED, "<!--") == 8
    meter_line = line_of(COMMENTED, "<llm-emit-token-metric")
    assert meter_line == 9  # the commented-out policy itself, inside the comment
    assert f"policy.xml:{meter_line}" in cov001.message
    assert cov001.location is not None and cov001.location.line == meter_line
    assert result.apis[0].verdicts["coverage"] == "fail"


# --------------------------------------------------------------------------------------------
# 7. Product routes


def _api_op(spec: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    estate = inline.build(spec)
    service = estate.services[0]
    api = service.apis[0]
    return service, api, api.operations[0], estate


def test_api_in_two_products_gets_one_route_per_product_plus_a_productless_route() -> None:
    spec = {
        "policy": policy("<base />" + var("a")),
        "products": {
            "A": policy("<base />" + var("pa")),
            "B": policy("<base />" + var("pb")),
        },
        "subscriptions": [],
    }
    service, api, op, estate = _api_op(spec)
    routes = engine.routes_for(service, api, op, estate)
    assert [r.product for r in routes] == ["A", "B", None]
    assert [names(r.eff) for r in routes] == [["pa", "a"], ["pb", "a"], ["a"]]
    # Only the built-in all-access subscription goes around the products: a low note.
    assert routes[-1].severity == "low"
    assert "built-in all-access subscription" in routes[-1].label
    assert "'A'" in routes[0].label


def test_source_without_products_gives_one_route_without_product_policy() -> None:
    service, api, op, estate = _api_op({"policy": policy("<base />" + var("a"))})
    (route,) = engine.routes_for(service, api, op, estate)
    assert route.product is None
    assert route.label == "every call"
    assert names(route.eff) == ["a"]


def test_api_in_no_product_gets_a_high_severity_productless_route() -> None:
    service, api, op, estate = _api_op({"policy": policy(), "products": {}, "subscriptions": []})
    (route,) = engine.routes_for(service, api, op, estate)
    assert route.product is None
    assert route.severity == "high"
    assert "in no product" in route.label


PRODUCT_METERS = {
    "policy": policy("<base />" + var("a")),
    "products": {"A": policy("<base />" + METER), "B": policy("<base />" + METER)},
}


def test_product_only_metering_passes_cov001_and_is_a_low_cov004_note() -> None:
    # Only the built-in all-access subscription goes around the products: an administrator's
    # credential, a low note that does not change the verdict (signals.md).
    result = audit({**PRODUCT_METERS, "subscriptions": [], "subscription_required": True})
    assert one(result, "COV001").status == "pass"
    cov004 = one(result, "COV004")
    assert cov004.status == "fail"
    assert cov004.severity == "low"
    assert "'A'" in cov004.message and "'B'" in cov004.message
    assert cov004.location is not None and cov004.location.path == "products/A.xml"
    assert result.apis[0].verdicts["coverage"] != "fail"


def test_product_only_metering_is_unknown_when_the_source_does_not_say_if_keys_are_needed() -> None:
    result = audit({**PRODUCT_METERS, "subscriptions": [], "subscription_required": None})
    cov004 = one(result, "COV004")
    assert cov004.status == "skip"
    assert "does not say whether the API requires a subscription" in cov004.message
    assert result.apis[0].verdicts["coverage"] == "unknown"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"subscriptions": [{"name": "direct", "scope": "/apis/example-api"}]}, "'direct'"),
        (
            {
                "subscriptions": [
                    {
                        "name": "everything",
                        "scope": "/subscriptions/0000/resourceGroups/rg/providers/"
                        "Microsoft.ApiManagement/service/svc/apis",
                    }
                ]
            },
            "'everything'",
        ),
        ({"subscriptions": [], "subscription_required": False}, "does not require a subscription"),
    ],
    ids=["api-scoped-subscription", "all-apis-subscription", "subscription-not-required"],
)
def test_product_only_metering_is_high_when_a_direct_route_exists(
    extra: dict[str, Any], reason: str
) -> None:
    result = audit({**PRODUCT_METERS, **extra})
    assert one(result, "COV001").status == "pass"
    cov004 = one(result, "COV004")
    assert cov004.status == "fail"
    assert cov004.severity == "high"
    assert reason in cov004.message


@pytest.mark.parametrize(
    "sub",
    [
        {"name": "other", "scope": "/apis/another-api"},
        {"name": "product-sub", "scope": "/products/A"},
        {"name": "old", "scope": "/apis/example-api", "state": "suspended"},
    ],
    ids=["other-api", "product-scoped", "suspended"],
)
def test_product_only_metering_is_low_when_no_direct_subscription_applies(
    sub: dict[str, str],
) -> None:
    result = audit({**PRODUCT_METERS, "subscriptions": [sub], "subscription_required": True})
    cov004 = one(result, "COV004")
    assert cov004.status == "fail"
    assert cov004.severity == "low"


def test_metering_at_api_scope_passes_cov001_and_cov004() -> None:
    result = audit(
        {
            "policy": RAW_API_POLICY,
            "products": {"A": policy("<base />" + var("pa")), "B": None},
            "subscriptions": [{"name": "direct", "scope": "/apis/example-api"}],
            "subscription_required": False,
        }
    )
    assert one(result, "COV001").status == "pass"
    assert one(result, "COV004").status == "pass"


def test_metering_in_only_one_of_two_products_fails_cov001_for_the_other() -> None:
    result = audit(
        {
            "policy": policy("<base />"),
            "products": {"A": policy("<base />" + METER), "B": None},
            "subscriptions": [],
        }
    )
    cov001 = one(result, "COV001")
    assert cov001.status == "fail"
    assert "product 'B'" in cov001.message
    assert "product 'A'" not in cov001.message


def test_product_policy_without_base_cannot_drop_api_scope_metering() -> None:
    # The product sits above the API: an API-scope meter is never dropped by the product.
    result = audit(
        {
            "policy": policy("<base />" + METER),
            "products": {"A": policy(var("pa"))},
            "subscriptions": [],
        }
    )
    assert one(result, "COV001").status == "pass"
    assert one(result, "COV004").status == "pass"


# --------------------------------------------------------------------------------------------
# 8. Line numbers


RAW_LINES = """<policies>
  <inbound>
    <base />
    <set-variable name="body" value="@{
        var body = context.Request.Body.As<JObject>(preserveContent: true);
        var model = body["model"]?.ToString() ?? "gpt-4o";
        return model != "" && model.Length < 64 ? model : "other";
    }" />
    <set-body>@{
        var b = context.Request.Body.As<JObject>(true);
        if (b["stream"] != null && (bool)b["stream"]) { b["stream_options"] = new JObject(); }
        var list = new List<string> { "a", "b" };
        return b.ToString();
    }</set-body>
    <choose>
      <when condition="@(context.Request.Headers.GetValueOrDefault("x-team","") != "" && true)">
        <set-variable name="in-when" value="@((string)context.Variables["body"])" />
      </when>
    </choose>
    <set-variable
        name="split-tag"
        value="@(context.Subscription?.Id ?? "anonymous")" />
    <llm-emit-token-metric namespace="llm">
      <dimension name="Subscription ID" />
      <dimension name="Model" value="@((string)context.Variables["body"])" />
    </llm-emit-token-metric>
  </inbound>
</policies>
"""


def test_statement_lines_match_the_original_rawxml_text() -> None:
    eff = effective(api=RAW_LINES)
    expected = {
        "body": 4,
        "in-when": 17,
        "split-tag": 20,  # the line of the opening '<', not of the name attribute
    }
    for name, line in expected.items():
        assert by_name(eff, name).location.line == line, name
    assert line_of(RAW_LINES, 'name="in-when"') == 17
    (meter,) = eff.find("llm-emit-token-metric")
    assert meter.location.line == line_of(RAW_LINES, "<llm-emit-token-metric") == 23
    (body,) = eff.find("set-body")
    assert body.location.line == line_of(RAW_LINES, "<set-body>") == 9
    (choose,) = eff.find("choose")
    assert choose.location.line == 15
    assert choose.branches[0].location.line == 16
    assert meter.location.path == "api.xml"


def test_statement_lines_in_a_fragment_point_into_the_fragment_file() -> None:
    fragment_text = """<fragment>
  <set-variable name="calc" value="@{
      var x = context.Request.Headers.GetValueOrDefault("x-a", "");
      return x == "" ? "none" : x;
  }" />
  <llm-emit-token-metric namespace="llm">
    <dimension name="User ID" />
  </llm-emit-token-metric>
</fragment>"""
    api = doc(policy('<base /><include-fragment fragment-id="m" />'), "api")
    fdoc = doc(fragment_text, "fragment", "fragments/m.xml")
    eff = build_effective([api], {"m": fdoc})
    (meter,) = eff.find("llm-emit-token-metric")
    assert str(meter.location) == "fragments/m.xml:6"
    assert by_name(eff, "calc").location.line == 2


def test_line_offset_is_added_to_statement_lines() -> None:
    text = "<policies>\n  <inbound>\n    " + METER + "\n  </inbound>\n</policies>"
    d = read_policy_text(text, scope="api", path="template.json", line_offset=40)
    eff = build_effective([d], {})
    (meter,) = eff.find("llm-emit-token-metric")
    assert meter.location.line == 43


# --------------------------------------------------------------------------------------------
# 9. End to end through the engine


def test_e2e_everything_fine_passes_coverage() -> None:
    spec = {
        "global": policy(
            '<cors allow-credentials="false"><allowed-origins><origin>*</origin>'
            "</allowed-origins></cors>"
        ),
        "policy": RAW_API_POLICY,
        "operation": policy(),
        "products": {"A": None},
        "subscriptions": [],
        "subscription_required": True,
        **GOOD_DIAGNOSTICS,
    }
    result = audit(spec)
    assert result.apis[0].verdicts["coverage"] == "pass"
    coverage = [f for f in result.findings if f.signal == "coverage"]
    assert {f.status for f in coverage} == {"pass"}


def test_e2e_operation_without_base_drops_api_metering() -> None:
    spec = {
        "policy": RAW_API_POLICY,
        "operation": policy(
            '<set-header name="x-request-id" exists-action="override">'
            "<value>@(context.RequestId.ToString())</value></set-header>"
        ),
        "products": {"A": None},
        "subscriptions": [],
        "subscription_required": True,
        **GOOD_DIAGNOSTICS,
    }
    result = audit(spec)
    assert result.apis[0].verdicts["coverage"] == "fail"
    cov001 = one(result, "COV001")
    assert cov001.status == "fail"
    assert cov001.severity == "high"
    assert "api-scope token-metric policy is dropped" in cov001.message
    assert "operation.xml:1 has no <base /> in <inbound>" in cov001.message


def test_e2e_global_metering_dropped_by_api_without_base() -> None:
    spec = {
        "global": policy(METER),
        "policy": policy(var("a")),
        "products": {"A": None},
        "subscriptions": [],
        **GOOD_DIAGNOSTICS,
    }
    result = audit(spec)
    assert result.apis[0].verdicts["coverage"] == "fail"
    assert "global-scope token-metric policy is dropped" in one(result, "COV001").message


def test_e2e_global_metering_inherited_with_base_passes() -> None:
    spec = {
        "global": policy(METER),
        "policy": policy("<base />" + var("a")),
        "operation": policy("<base />"),
        "products": {"A": None},
        "subscriptions": [],
        **GOOD_DIAGNOSTICS,
    }
    assert verdicts(spec)["coverage"] == "pass"


def test_e2e_missing_outbound_section_does_not_affect_inbound_metering() -> None:
    spec = {
        "policy": policy("<base />" + METER),
        "operation": "<policies><inbound><base /></inbound></policies>",
        "products": {"A": None},
        "subscriptions": [],
        **GOOD_DIAGNOSTICS,
    }
    assert verdicts(spec)["coverage"] == "pass"


def test_e2e_metering_only_in_outbound_fails_coverage() -> None:
    result = audit({"policy": policy("<base />", outbound="<base />" + METER)})
    assert one(result, "COV001").status == "fail"
    assert one(result, "COV003").status == "fail"
    assert result.apis[0].verdicts["coverage"] == "fail"


def test_e2e_fragment_metering_passes_coverage() -> None:
    spec = {
        "policy": policy('<base /><include-fragment fragment-id="meter" />'),
        "fragments": {"meter": f"<fragment>{METER}</fragment>"},
        "products": {"A": None},
        "subscriptions": [],
        **GOOD_DIAGNOSTICS,
    }
    assert verdicts(spec)["coverage"] == "pass"


# --------------------------------------------------------------------------------------------
# Bugs (strict xfail: they start failing loudly once fixed)


def test_unknown_fragment_in_a_dropped_parent_section_does_not_mask_the_fail() -> None:
    spec = {
        "policy": policy("<base />" + METER + '<include-fragment fragment-id="gone" />'),
        "operation": policy(var("o")),
        "fragments": {},
    }
    result = audit(spec)
    assert one(result, "COV001").status == "fail"
    assert result.apis[0].verdicts["coverage"] == "fail"


STREAM_GUARD = """<policies>
  <inbound>
    <base />
    <choose>
      <when condition="@(context.Request.Body.As<JObject>(true)["stream"]?.Value<bool>() == true)">
        <return-response>
          <set-status code="400" reason="Streaming not allowed" />
        </return-response>
      </when>
      <otherwise>
        <llm-emit-token-metric namespace="llm">
          <dimension name="Subscription ID" />
        </llm-emit-token-metric>
      </otherwise>
    </choose>
  </inbound>
  <backend><base /></backend>
  <outbound><base /></outbound>
  <on-error><base /></on-error>
</policies>
"""


def test_branch_that_returns_before_the_backend_needs_no_metering() -> None:
    eff = effective(api=STREAM_GUARD)
    assert meter_reach(eff) == "always"
    result = audit({"policy": STREAM_GUARD})
    assert one(result, "COV002").status == "pass"
    assert result.apis[0].verdicts["coverage"] != "fail"

"""The shared IaC core as the Terraform reader uses it: template parts that keep their place,
a language's own operators and refusals, the line check of embedded policies, and a patch
that says where a diagnostic's metrics flag is."""

from __future__ import annotations

from typing import Any

from auditor.sources import resources
from auditor.sources.iac.expr import Budget, Refused, Scope
from auditor.sources.iac.lower import pin_embedded
from auditor.sources.iac.values import Sourced, Unknown, origin_of


def scope(**functions: Any) -> Scope:
    class Lang(Scope):
        pass

    Lang.functions = functions
    return Lang("main.tf", Budget())


def test_a_source_node_with_template_parts_keeps_its_first_line() -> None:
    node = ("src", [("lit", "<a>"), ("sym", "v"), ("lit", "</a>\n")], 7)
    s = scope()
    with s.bound({"v": "x"}):
        known = s.eval(node)
    assert known == "<a>x</a>\n" and isinstance(known, Sourced)
    assert origin_of(known) == ("main.tf", 7)
    unknown = s.eval(node)  # 'v' is not known here
    assert isinstance(unknown, Unknown) and unknown.text == "<a>${v}</a>\n"
    assert origin_of(unknown) == ("main.tf", 7)


def test_a_language_may_change_an_operator() -> None:
    node = ("op", "/", [("lit", 5), ("lit", 2)])
    assert scope().eval(node) == 2  # ARM and Bicep: integer division
    s = scope()
    s.operators = {"/": lambda a, b: a / b}
    assert s.eval(node) == 2.5


def test_a_function_that_refuses_gives_an_unknown_with_its_reason() -> None:
    def secret(*args: Any) -> Any:
        raise Refused("a secret: never read")

    value = scope(secret=secret).eval(("at", 3, ("call", "secret", [("lit", "x")])))
    assert isinstance(value, Unknown)
    assert (value.text, value.why, value.where) == (
        "${secret('x')}",
        "a secret: never read",
        "main.tf:3",
    )


def test_embedded_policies_are_pinned_only_when_their_lines_are_not_the_files() -> None:
    text = "x = <<-XML\n    <a>\n      <b n='${var.n}'/>\n    </a>\n    XML\ny = \"<a><b/></a>\"\n"
    found = [
        {
            "type": "Microsoft.ApiManagement/service/apis/policies",
            "name": name,
            "properties": {"value": value},
            "_origin": {"path": "main.tf", "line": line},
        }
        for name, value, line in (
            ("flush", "<a>\n  <b n='1'/>\n</a>\n", 2),  # indentation stripped, ${} filled
            ("inline", "<a>\n<b/>\n</a>", 6),  # a one-line string holding three lines
        )
    ]
    pin_embedded(found, {"main.tf": text})
    assert [r["_origin"].get("pinned") for r in found] == [None, True]


def test_a_patch_may_say_where_the_metrics_flag_of_a_diagnostic_is() -> None:
    apim = "Microsoft.ApiManagement/service"
    found = [
        {"type": apim, "name": "gw"},
        {
            "type": f"{apim}/diagnostics",
            "name": "gw/applicationinsights",
            "properties": {"loggerId": "/loggers/ai", "metrics": True},
            "_origin": {"path": "main.tf", "line": 10},
            "_lines": {"metrics": {"path": "patches.tf", "line": 4}},
        },
    ]
    estate = resources.Loaded(found, "terraform", "x").estate()
    (diag,) = estate.services[0].diagnostics
    assert (diag.location.path, diag.location.line) == ("main.tf", 10)
    assert diag.metrics_location is not None
    assert (diag.metrics_location.path, diag.metrics_location.line) == ("patches.tf", 4)


def test_a_text_over_the_limit_is_not_computed() -> None:
    from auditor.sources.iac.values import MAX_TEXT, joined

    half = "x" * (MAX_TEXT // 2 + 1)
    value = joined([half, half])
    assert isinstance(value, Unknown) and "is not computed" in value.why
    assert joined(["a", "b"]) == "ab"

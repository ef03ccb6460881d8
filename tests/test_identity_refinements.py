"""Identity rules on shapes met in real gateways (the Terraform AI gateway landing zone): a
fallback on one dimension while another names the payer, and a variable that only tests a
secret header."""

from __future__ import annotations

from typing import Any

from auditor import engine, rules
from auditor.sources import inline

CATALOG = rules.load()
REST = "<backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>"


def audit(inbound: str, *, subscription_required: bool | None = True) -> engine.Audit:
    spec: dict[str, Any] = {
        "policy": f"<policies><inbound><base />{inbound}</inbound>{REST}</policies>",
        "subscriptions": [],
        "subscription_required": subscription_required,
    }
    return engine.run(inline.build(spec), CATALOG)


def failing(result: engine.Audit, rule: str) -> list[engine.Finding]:
    return [f for f in result.findings if f.rule == rule and f.status == "fail"]


def meter(*dimensions: str) -> str:
    return f'<llm-emit-token-metric namespace="llm">{"".join(dimensions)}</llm-emit-token-metric>'


PRODUCT_FALLBACK = (
    '<dimension name="productName" value="@(context.Product?.Name ?? &quot;Portal-Admin&quot;)" />'
)
SUBSCRIPTION = (
    '<dimension name="appId" value="@(context.Subscription?.Id ?? &quot;Portal-Admin-Sub&quot;)" />'
)


def test_a_fallback_beside_a_dimension_that_always_names_the_payer_is_a_note() -> None:
    result = audit(meter(PRODUCT_FALLBACK, SUBSCRIPTION))
    (note,) = failing(result, "IDN003")
    assert note.severity == "low"
    assert "'appId' still names the payer" in note.message
    assert result.apis[0].verdicts["identity"] == "pass"


def test_the_same_fallback_alone_is_a_gap() -> None:
    result = audit(meter(PRODUCT_FALLBACK))
    (gap,) = failing(result, "IDN003")
    assert gap.severity == "medium" and "Portal-Admin" in gap.message
    assert result.apis[0].verdicts["identity"] == "fail"


def test_a_caller_header_that_falls_back_beside_the_subscription_stays_a_gap() -> None:
    # The per-user split is lost for every caller who leaves the header out (blue-octopus).
    user = (
        '<dimension name="User ID" value="@(context.Request.Headers.GetValueOrDefault('
        '&quot;x-user-id&quot;,&quot;N/A&quot;))" />'
    )
    result = audit(meter('<dimension name="Subscription ID" />', user))
    (gap,) = failing(result, "IDN003")
    assert gap.severity == "medium" and "'N/A'" in gap.message


def test_the_subscription_names_nobody_when_the_api_may_be_called_without_one() -> None:
    # Without a required subscription, appId can fall back too: nothing always names the payer.
    result = audit(meter(PRODUCT_FALLBACK, SUBSCRIPTION), subscription_required=False)
    assert {f.severity for f in failing(result, "IDN003")} == {"medium"}


AUTH_TYPE = """<set-variable name="auth-type" value="@{
    var apiKey = context.Request.Headers.GetValueOrDefault(&quot;api-key&quot;, String.Empty);
    var auth = context.Request.Headers.GetValueOrDefault(&quot;Authorization&quot;, String.Empty);
    if (!string.IsNullOrEmpty(apiKey)) { return &quot;api-key&quot;; }
    if (auth.StartsWith(&quot;Bearer &quot;)) { return &quot;jwt&quot;; }
    return &quot;none&quot;;
}" />
<set-variable name="user" value="@(context.Subscription?.Name ?? &quot;anonymous&quot;)" />"""
TRACE = (
    '<trace source="auth" severity="information"><message>@($"auth: '
    "{context.Variables.GetValueOrDefault&lt;string&gt;(&quot;auth-type&quot;, &quot;none&quot;)} "
    "user: {context.Variables.GetValueOrDefault&lt;string&gt;(&quot;user&quot;, &quot;-&quot;)}"
    '")</message></trace>'
)


def test_a_variable_that_only_tests_a_secret_header_records_no_secret() -> None:
    result = audit(AUTH_TYPE + TRACE + meter('<dimension name="Subscription ID" />'))
    assert failing(result, "IDN007") == []


def test_a_variable_that_returns_the_secret_header_is_recorded() -> None:
    leaky = AUTH_TYPE.replace("return &quot;api-key&quot;;", "return apiKey;")
    result = audit(leaky + TRACE + meter('<dimension name="Subscription ID" />'))
    # NOTE: which of the two headers it returns is C# data flow; both are said (conservative).
    gaps = failing(result, "IDN007")
    assert any("api-key" in f.message for f in gaps) and {f.severity for f in gaps} == {"high"}


def test_a_secret_header_read_straight_into_a_trace_is_recorded() -> None:
    trace = (
        '<trace source="t"><message>@(context.Request.Headers.GetValueOrDefault('
        "&quot;Authorization&quot;, &quot;&quot;))</message></trace>"
    )
    result = audit(trace + meter('<dimension name="Subscription ID" />'))
    assert ["the raw Authorization header" in f.message for f in failing(result, "IDN007")] == [
        True
    ]

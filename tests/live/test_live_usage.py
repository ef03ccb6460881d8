"""``--usage`` against the fake Azure: the measured figures equal the hand-computed ones of
auditor/demo/EXPECTED.md, only reads are sent, and what cannot be read is unknown, never 0."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from fake_arm import CANARIES
from fake_usage import FakeAzure, with_audio
from live_helpers import options, report_of

from auditor.render.money import money_line
from auditor.sources import live
from auditor.usage import gap
from auditor.usage.period import Period

NOVEMBER = Period(date(2026, 11, 1), date(2026, 12, 1))
READ_POSTS = ("/providers/microsoft.costmanagement/query",)


def measure(fake: FakeAzure, **kw: Any) -> dict[str, Any]:
    estate = live.load(options(fake, usage=NOVEMBER, logs_endpoint=fake.url, **kw))
    g = gap.measure(estate)
    assert g is not None
    report = report_of(estate)
    report["usage"] = g.report()
    return report


def totals(report: dict[str, Any]) -> dict[str, Any]:
    return dict(report["usage"]["totals"])


def test_figures_equal_the_hand_computed_ones(fake_azure: FakeAzure) -> None:
    t = totals(measure(fake_azure))
    # auditor/demo/EXPECTED.md, "Money"
    assert t["tokens"] == 767_574_000
    assert t["attributed_tokens"] == 534_450_000
    assert t["unattributed_tokens"] == 233_124_000
    assert t["bypass_tokens"] == 127_500_000
    assert t["unpriced_tokens"] == 193_500_000
    assert Decimal(str(t["cost"])) == Decimal("12216.222")
    assert Decimal(str(t["attributed_cost"])) == Decimal("5728.632")
    assert Decimal(str(t["unattributed_cost"])) == Decimal("871.59")
    assert Decimal(str(t["bypass_cost"])) == Decimal("510")
    assert Decimal(str(t["idle_cost"])) == Decimal("5616")
    assert t["monthly_run_rate"] == t["cost"]  # a whole calendar month


def test_live_usage_equals_the_demo_snapshot_of_it(fake_azure: FakeAzure) -> None:
    """The live collection reads back exactly what the fake serves (the demo's document)."""
    estate = live.load(options(fake_azure, usage=NOVEMBER, logs_endpoint=fake_azure.url))
    assert estate.usage is not None
    got, want = estate.usage.to_json(), fake_azure.truth.to_json()
    for key in ("period", "deployments", "platform", "audio", "utilization", "metered", "gateway"):
        assert got[key] == want[key], key


def test_only_reads_are_sent(fake_azure: FakeAzure) -> None:
    measure(fake_azure)
    sent = fake_azure.gets()
    assert sent
    for r in sent:
        low = r.path.lower()
        if r.method == "GET":
            continue
        assert r.method == "POST", r
        assert low.endswith(READ_POSTS) or (low.startswith("/v1/") and low.endswith("/query")), r
        assert not any(x in low for x in ("listkeys", "listsecrets", "/register"))
    posts = [r for r in sent if r.method == "POST"]
    # one Cost Management query per subscription, one Log Analytics query per component and
    # per APIM service: the count the README gives
    assert len(posts) == 3
    usage_gets = [r for r in sent if "/deployments" in r.path or "/metrics" in r.path]
    assert len(usage_gets) == 3 + 3 + 1  # deployments and token metrics per account, PTU once


def test_metrics_queries_ask_for_every_series(fake_azure: FakeAzure) -> None:
    measure(fake_azure)
    for r in fake_azure.gets():
        if r.path.endswith("/providers/Microsoft.Insights/metrics"):
            assert r.query["interval"] == "P1D"
            assert r.query["$filter"] == "ModelDeploymentName eq '*'"
            assert int(r.query["top"]) > 10  # the default would cut at 10 deployments
            assert r.query["timespan"] == NOVEMBER.timespan()
            names = r.query["metricnames"].split(",")
            if "GeneratedTokens" in names:  # audio rides on the text tokens' request
                assert names[2:] == ["AudioPromptTokens", "AudioCompletionTokens"]


def test_kql_aggregates_in_log_analytics(fake_azure: FakeAzure) -> None:
    measure(fake_azure)
    queries = [json.loads(r.body)["query"] for r in fake_azure.gets() if r.path.startswith("/v1")]
    assert len(queries) == 2
    for kql in queries:
        assert "summarize" in kql.splitlines()[-1]  # the last step aggregates: no raw rows
    metrics = next(q for q in queries if "customMetrics" in q)
    for dim in ("Deployment", "Subscription ID", "Team"):
        assert f'customDimensions["{dim}"]' in metrics
    assert "valueSum" in metrics


def test_cost_management_403_falls_back_to_list_prices_and_says_so(
    fake_azure: FakeAzure,
) -> None:
    fake_azure.fail(r"/providers/Microsoft\.CostManagement/query$", 403, method="POST")
    usage = measure(fake_azure)["usage"]
    assert usage["cost_basis"] == "list"
    assert "403" in usage["cost_basis_reason"]
    assert any("Cost Management" in n and "403" in n for n in usage["notes"])
    assert usage["price_source"]["cost_management"][0]["status"] == "forbidden"
    assert Decimal(str(usage["totals"]["cost"])) == Decimal("12216.222")


def test_log_analytics_403_leaves_attribution_unknown(fake_azure: FakeAzure) -> None:
    fake_azure.fail(r"^/v1/.*/components/.*/query$", 403, method="POST")
    report = measure(fake_azure)
    usage = report["usage"]
    t = usage["totals"]
    assert usage["attribution"] == "unknown"
    for key in ("attributed_tokens", "unattributed_tokens", "unattributed_share"):
        assert t[key] is None, key  # never 0 % or 100 %
    assert t["tokens"] == 767_574_000  # the platform side is still measured
    assert t["bypass_tokens"] == 127_500_000  # the LLM log still tells bypass apart
    assert usage["payers"] == []
    assert any("403" in u["reason"] for u in usage["unknown"])
    assert money_line(usage).startswith("Attribution unknown")
    # the measured rules say nothing rather than guess; static verdicts do not move
    assert not any(f["rule"] == "IDN009" for f in report["findings"])


def test_no_log_analytics_at_all_leaves_bypass_unknown_too(fake_azure: FakeAzure) -> None:
    fake_azure.fail(r"^/v1/", 403, method="POST")
    t = totals(measure(fake_azure))
    assert t["bypass_tokens"] is None and t["attributed_tokens"] is None
    assert t["unknown_tokens"] == t["tokens"]


def test_without_an_llm_log_bypass_is_an_upper_bound(fake_azure: FakeAzure) -> None:
    fake_azure.llm_absent = True
    report = measure(fake_azure)
    usage = report["usage"]
    assert usage["totals"]["bypass_is_upper_bound"] is True
    assert "up to" in money_line(usage)
    part = next(p for p in usage["unknown"] if p["what"].startswith("llm-log"))
    assert "upper bound" in part["reason"]
    bypass = [f for f in report["findings"] if f["rule"] == "COV010" and f["status"] == "fail"]
    assert bypass and {f["severity"] for f in bypass} == {"medium"}


def test_actual_cost_is_shared_by_measured_tokens(fake_azure: FakeAzure) -> None:
    rid = next(
        d.account_id for d in fake_azure.truth.deployments if d.account == "contoso-partners"
    )
    for day in NOVEMBER.each_day():
        weekend = day.weekday() >= 5
        cin, cout = ("2.50", "1.20") if weekend else ("6.10", "3.40")
        fake_azure.costs += [
            (day.isoformat(), rid, "gpt 4o 0806 Inp glbl Tokens", Decimal(cin)),
            (day.isoformat(), rid, "gpt 4o 0806 Outp glbl Tokens", Decimal(cout)),
        ]
    fake_azure.costs.append(("2026-11-02", rid, "Some Future Meter", Decimal("1.00")))
    fake_azure.cost_page_size = 7  # pages followed through nextLink
    usage = measure(fake_azure)["usage"]
    partners = next(
        d
        for d in usage["deployments"]
        if d["account"] == "contoso-partners" and d["deployment"] == "gpt-4o"
    )
    assert partners["cost_basis"] == "actual"
    assert Decimal(str(partners["cost"])) == Decimal("232.8")
    assert Decimal(str(partners["bypass_cost"])) == Decimal("153")
    assert Decimal(str(partners["attributed_cost"])) == Decimal("58.8")
    meter = next(d for d in usage["deployments"] if d["deployment"].startswith("(meter:"))
    assert meter["cost"] == 1.0 and meter["unattributed_cost"] == 1.0
    assert usage["cost_basis"] == "estimate"  # actual for partners, list for the others
    assert Decimal(str(usage["totals"]["cost"])) == Decimal("11662.522")
    pages = [r for r in fake_azure.gets() if r.path.endswith("CostManagement/query")]
    assert len(pages) == -(-61 // 7)


def test_no_secret_reaches_the_usage_or_the_report(fake_azure: FakeAzure) -> None:
    from auditor.render import RENDERERS

    report = measure(fake_azure)
    for fmt in ("json", "md", "html", "text", "focus"):
        text = RENDERERS[fmt](report)
        for canary in CANARIES.values():
            assert canary not in text, fmt


@pytest.mark.parametrize("kind", ["platform", "deployments"])
def test_an_unreadable_account_is_left_out_with_its_reason(
    fake_azure: FakeAzure, kind: str
) -> None:
    pattern = (
        r"contoso-partners/providers/Microsoft\.Insights/metrics$"
        if kind == "platform"
        else r"contoso-partners/deployments$"
    )
    fake_azure.fail(pattern, 403)
    usage = measure(fake_azure)["usage"]
    assert usage["totals"]["tokens"] == 767_574_000 - 191_700_000
    left = [d for d in usage["deployments"] if d["account"] == "contoso-partners"]
    assert all(d["tokens"] is None and d["cost"] is None for d in left)
    assert any("contoso-partners" in u["what"] and "403" in u["reason"] for u in usage["unknown"])


# ---------------------------------------------------------------- audio tokens


def voice(usage: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in usage["deployments"] if d["deployment"] == "voice")


def test_audio_tokens_are_priced_at_the_audio_price(fake_azure: FakeAzure) -> None:
    """A realtime deployment (gpt-4o-realtime-preview 2024-12-17, Global: text $5 / $20,
    audio $40 / $80 per 1M) with the audio taken to be inside the text metrics' counts:

    - Nov 2: prompt 1,000,000 of which audio 600,000; generated 400,000 of which audio 300,000:
      text 400,000 x 5 + 100,000 x 20 = $4.00; audio 600,000 x 40 + 300,000 x 80 = $48.00
    - Nov 3: prompt 200,000 (no audio); generated 100,000 of which audio 50,000:
      text 200,000 x 5 + 50,000 x 20 = $2.00; audio 50,000 x 80 = $4.00
    - Nov 4: prompt 100,000 but audio prompt 300,000: more audio than prompt, so not inside
      that day; counted on top: tokens 400,000; text 100,000 x 5 = $0.50, audio 300,000 x 40
      = $12.00

    Tokens 1,400,000 + 300,000 + 400,000 = 2,100,000 (audio 1,250,000), cost $70.50, all bypass
    (no gateway in front of it). Counted apart on Nov 2 and 3 too, 950,000 tokens more at the
    text price: 600,000 x 5 + 300,000 x 20 + 50,000 x 20 = $10.00 more.
    """
    fake_azure.truth = with_audio(fake_azure.truth)
    usage = measure(fake_azure)["usage"]
    v = voice(usage)
    assert (v["tokens"], v["audio_tokens"], v["bypass_tokens"]) == (2_100_000, 1_250_000, 2_100_000)
    assert Decimal(str(v["cost"])) == Decimal("70.5") == Decimal(str(v["bypass_cost"]))
    assert v["unpriced_tokens"] == 0 and v["cost_basis"] == "list"
    t = usage["totals"]
    # the demo's figures (auditor/demo/EXPECTED.md) plus the voice deployment's
    assert t["tokens"] == 767_574_000 + 2_100_000
    assert t["audio_tokens"] == 1_250_000
    assert t["bypass_tokens"] == 127_500_000 + 2_100_000
    assert t["attributed_tokens"] == 534_450_000
    assert Decimal(str(t["cost"])) == Decimal("12216.222") + Decimal("70.5")
    assert Decimal(str(t["unattributed_cost"])) == Decimal("871.59") + Decimal("70.5")
    rows = [
        dict(zip(usage["allocation"]["columns"], r, strict=True))
        for r in usage["allocation"]["rows"]
    ]
    mine = [(r["day"], r["token_class"], r["input"], r["output"], r["cost"]) for r in rows
            if r["deployment"] == "voice"]  # fmt: skip
    assert mine == [
        ("2026-11-02", "audio", 600_000, 300_000, 48.0),
        ("2026-11-02", "text", 400_000, 100_000, 4.0),
        ("2026-11-03", "audio", 0, 50_000, 4.0),
        ("2026-11-03", "text", 200_000, 50_000, 2.0),
        ("2026-11-04", "audio", 300_000, 0, 12.0),
        ("2026-11-04", "text", 100_000, 0, 0.5),
    ]
    a = usage["audio"]
    assert (a["tokens"], a["measured"], a["on_top_tokens"]) == (1_250_000, True, 300_000)
    assert a["if_counted_apart"] == {"extra_tokens": 950_000, "extra_cost": 10.0}
    assert any("taken to be counted inside" in x for x in usage["tolerances"])
    assert any("950,000 tokens more than reported, ≈ USD 10.00 more" in n for n in usage["notes"])
    assert any("on 1 deployment-day(s)" in n and "300,000" in n for n in usage["notes"])


def test_audio_rows_in_the_focus_export(fake_azure: FakeAzure) -> None:
    import csv
    import io

    from auditor.render import RENDERERS

    fake_azure.truth = with_audio(fake_azure.truth)
    report = measure(fake_azure)
    rows = list(csv.DictReader(io.StringIO(RENDERERS["focus"](report))))
    audio = [r for r in rows if r["x_TokenClass"] == "audio"]
    assert {r["ResourceName"] for r in audio} == {"voice"}
    assert sum(Decimal(r["EffectiveCost"]) for r in audio) == Decimal("64")  # 48 + 4 + 12
    assert sum(int(r["ConsumedQuantity"]) for r in audio) == 1_250_000
    assert all("audio tokens" in r["ChargeDescription"] for r in audio)
    total = sum(Decimal(r["EffectiveCost"]) for r in rows)
    assert total == Decimal(str(report["usage"]["totals"]["cost"]))


@pytest.mark.parametrize("fault", ["metric error", "refused"])
def test_an_audio_failure_keeps_the_text_tokens(fake_azure: FakeAzure, fault: str) -> None:
    fake_azure.truth = with_audio(fake_azure.truth)
    if fault == "refused":
        fake_azure.audio_refused = True  # a 400 for the request that names audio metrics
    else:
        fake_azure.audio_error = "InternalServerError"  # the audio metrics fail in the reply
    usage = measure(fake_azure)["usage"]
    t = usage["totals"]
    assert t["tokens"] == 767_574_000 + 1_400_000 + 300_000 + 100_000  # text tokens kept
    assert t["audio_tokens"] is None  # unknown, never 0
    v = voice(usage)
    assert v["audio_tokens"] is None and v["tokens"] == 1_800_000
    # without the audio split, the realtime tokens are priced as text (and said so):
    # 1,300,000 x 5 + 500,000 x 20 = $16.50
    assert Decimal(str(v["cost"])) == Decimal("16.5")
    assert Decimal(str(t["cost"])) == Decimal("12216.222") + Decimal("16.5")
    assert {u["what"] for u in usage["unknown"]} >= {
        "audio contoso-eastus",
        "audio contoso-partners",
        "audio contoso-westus",
    }
    why = next(u["reason"] for u in usage["unknown"] if u["what"] == "audio contoso-westus")
    assert ("InternalServerError" if fault == "metric error" else "400") in why
    assert any("audio tokens could not be read" in n for n in usage["notes"])
    assert usage["audio"]["measured"] is False
    metrics = [r for r in fake_azure.gets() if r.path.endswith("/Microsoft.Insights/metrics")]
    # one GET per account, once more without audio where it was refused, PTU once
    assert len(metrics) == 3 + (3 if fault == "refused" else 0) + 1


def test_audio_without_an_audio_price_is_unpriced_never_text(fake_azure: FakeAzure) -> None:
    """gpt-realtime-mini 2025-12-15 with negotiated text prices only ($0.60 / $2.40 per 1M):
    its text tokens are priced (Nov 2: 400,000 x 0.6 + 100,000 x 2.4 = $0.48; Nov 3: 200,000
    x 0.6 + 50,000 x 2.4 = $0.24; Nov 4: 100,000 x 0.6 = $0.06: $0.78), its 1,250,000 audio
    tokens unpriced."""
    from auditor.usage.prices import from_csv

    fake_azure.truth = with_audio(fake_azure.truth, "gpt-realtime-mini", "2025-12-15")
    table = from_csv(
        "model,version,sku,region,class,price,unit\n"
        "gpt-realtime-mini,2025-12-15,GlobalStandard,,input,0.60,1M\n"
        "gpt-realtime-mini,2025-12-15,GlobalStandard,,output,2.40,1M\n",
        "negotiated.csv",
    )
    estate = live.load(options(fake_azure, usage=NOVEMBER, logs_endpoint=fake_azure.url))
    g = gap.measure(estate, table)
    assert g is not None
    usage = g.report()
    v = voice(usage)
    assert v["unpriced_tokens"] == 1_250_000 and v["audio_tokens"] == 1_250_000
    assert Decimal(str(v["cost"])) == Decimal("0.78")
    assert v["cost_basis"] == "list"
    assert any("1,250,000 audio tokens unpriced" in n and "never priced as text" in n
               for n in v["notes"])  # fmt: skip
    assert usage["totals"]["unpriced_tokens"] == 193_500_000 + 1_250_000
    rows = [
        dict(zip(usage["allocation"]["columns"], r, strict=True))
        for r in usage["allocation"]["rows"]
    ]
    audio = [r for r in rows if r["deployment"] == "voice" and r["token_class"] == "audio"]
    assert audio and all(r["cost"] is None and r["basis"] == "unpriced" for r in audio)

"""Measured usage offline: periods, prices and meters, exact splits, the gap's rules of thumb made
explicit, the stored document, KQL quoting, metrics and cost replies, FOCUS columns, and a
snapshot that holds usage replayed without Azure."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from auditor import sources
from auditor.cli import main
from auditor.errors import AuditorError
from auditor.usage import costs, gap, gateway, platform, prices
from auditor.usage.allocate import split_int, split_money
from auditor.usage.measured import Deployment, Metered, Part, Usage, UsageError
from auditor.usage.options import attach_file, demo_usage_path
from auditor.usage.period import Period, PeriodError, parse

TODAY = date(2026, 12, 7)
NOV = Period(date(2026, 11, 1), date(2026, 12, 1))


# ---------------------------------------------------------------- period


def test_periods() -> None:
    assert parse("30d", TODAY) == Period(date(2026, 11, 7), TODAY)
    assert parse("2026-11-01..2026-12-01", TODAY) == NOV
    assert NOV.days == 30 and NOV.month_factor() == 1.0
    assert [(c.start, c.end) for c in Period(date(2026, 9, 6), TODAY).chunks()] == [
        (date(2026, 9, 6), date(2026, 10, 6)),
        (date(2026, 10, 6), date(2026, 11, 5)),
        (date(2026, 11, 5), date(2026, 12, 5)),
        (date(2026, 12, 5), TODAY),
    ]
    across = Period(date(2026, 11, 15), date(2026, 12, 15))
    assert across.month_factor() == pytest.approx(30.4375 / 30)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("0d", "between 1d"),
        ("94d", "93 days"),
        ("2026-12-01..2026-11-01", "END must come after"),
        ("2026-11-01..2026-12-08", "END may be today"),
        ("2026-08-01..2026-09-01", "93 days"),
        ("last month", "give a number of days"),
        ("2026-02-30..2026-03-01", "day is out of range"),
    ],
)
def test_bad_periods(text: str, why: str) -> None:
    with pytest.raises(PeriodError, match=why):
        parse(text, TODAY)


# ---------------------------------------------------------------- prices and meters


@pytest.mark.parametrize(
    ("meter", "parsed"),
    [
        ("gpt 4.1 mini Inp glbl Tokens", ("gpt-4.1-mini", None, "GlobalStandard", "input")),
        ("gpt 4o 0513 Input global Tokens", ("gpt-4o", "0513", "GlobalStandard", "input")),
        ("gpt-4o-mini-0718-Inp-glbl Tokens", ("gpt-4o-mini", "0718", "GlobalStandard", "input")),
        ("GPT 5 Mini Inpt Glbl 1M Tokens", ("gpt-5-mini", None, "GlobalStandard", "input")),
        ("o3 Inpt DZone 1M Tokens", ("o3", None, "DataZoneStandard", "input")),
        (
            "gpt 4.1 mini cached Inp glbl Tokens",
            ("gpt-4.1-mini", None, "GlobalStandard", "cached_input"),
        ),
        ("gpt 4.1 mini Batch Outp glbl Tokens", ("gpt-4.1-mini", None, "GlobalBatch", "output")),
        ("gpt 4o Outp Data Zone Tokens", ("gpt-4o", None, "DataZoneStandard", "output")),
        ("gpt 4.1 Inp regnl Tokens", ("gpt-4.1", None, "Standard", "input")),
        (
            "Provisioned Managed Data Zone Unit",
            (None, None, "DataZoneProvisionedManaged", "ptu_hour"),
        ),
        ("5.4 pp inp Gl 1M Tokens", None),  # priority tier: not priced
        ("gpt 5 ShortCo Inp Gl Tokens", None),  # context band: not priced
        ("Some Future Meter", None),
    ],
)
def test_meter_names_are_parsed_word_by_word(meter: str, parsed: Any) -> None:
    got = prices.parse_meter(meter)
    assert (None if got is None else (got.model, got.version, got.sku, got.token_class)) == parsed


@pytest.mark.parametrize(
    ("meter", "parsed"),
    [
        # the realtime and audio models' meters (Retail Prices API names seen in the wild)
        (
            "gpt-4o-rt-aud-1217 Inp glbl Tokens",
            ("gpt-4o-realtime-preview", "1217", "GlobalStandard", "audio_input"),
        ),
        (
            "gpt-4o-rt-aud-1217 Outp glbl Tokens",
            ("gpt-4o-realtime-preview", "1217", "GlobalStandard", "audio_output"),
        ),
        (
            "gpt-4o-rt-txt-1217 Inp glbl Tokens",
            ("gpt-4o-realtime-preview", "1217", "GlobalStandard", "input"),
        ),
        (
            "gpt4o realtimePrvw audio outp glbl Tokens",
            ("gpt-4o-realtime-preview", None, "GlobalStandard", "audio_output"),
        ),
        (
            "gpt4omini-rt-aud1217 Inp glbl Tokens",
            ("gpt-4o-mini-realtime-preview", "1217", "GlobalStandard", "audio_input"),
        ),
        (
            "gpt-4o-aud-1217 Inp glbl Tokens",
            ("gpt-4o-audio-preview", "1217", "GlobalStandard", "audio_input"),
        ),
        (
            "gpt-4o-aud-1217-txt Outp glbl Tokens",
            ("gpt-4o-audio-preview", "1217", "GlobalStandard", "output"),
        ),
        ("gpt aud 0828 Inp glbl Tokens", ("gpt-audio", "0828", "GlobalStandard", "audio_input")),
        ("gpt aud 0828 txt Inp glbl Tokens", ("gpt-audio", "0828", "GlobalStandard", "input")),
        (
            "gpt rt aud 0828 Outp glbl Tokens",
            ("gpt-realtime", "0828", "GlobalStandard", "audio_output"),
        ),
        (
            "gpt rt aud mn in gl 1215 1M Tokens",
            ("gpt-realtime-mini", "1215", "GlobalStandard", "audio_input"),
        ),
        (
            "gpt-realtime-2 Audio inp Gl 1M Tokens",
            ("gpt-realtime-2", None, "GlobalStandard", "audio_input"),
        ),
        (
            "gpt-4o-mini-tts-aud-out-glbl Tokens",
            ("gpt-4o-mini-tts", None, "GlobalStandard", "audio_output"),
        ),
        ("gpt-4o-rt-aud-1217 cchd Inp glbl Tokens", None),  # cached audio: no class here
        ("gpt rt img 0828 Inp glbl Tokens", None),  # image tokens: not counted apart
    ],
)
def test_audio_meter_names_are_their_own_class(meter: str, parsed: Any) -> None:
    got = prices.parse_meter(meter)
    assert (None if got is None else (got.model, got.version, got.sku, got.token_class)) == parsed


def test_audio_prices_are_never_the_text_price() -> None:
    table = prices.bundled()
    rt = ("gpt-4o-realtime-preview", "2024-12-17", "GlobalStandard", "eastus2")
    classes = ("input", "output", "audio_input", "audio_output")
    got = {cls: table.lookup(*rt, cls) for cls in classes}
    assert {cls: p.amount if p else None for cls, p in got.items()} == {
        "input": Decimal("5.00"),
        "output": Decimal("20.00"),
        "audio_input": Decimal("40.00"),
        "audio_output": Decimal("80.00"),
    }
    assert all(p is not None and "LiteLLM 1.110.2" in p.source for p in got.values())
    # a text model has no audio price: its audio tokens stay unpriced
    assert table.lookup("gpt-4o", "2024-08-06", "GlobalStandard", "eastus", "audio_input") is None
    audio = [p for p in table.prices if p.token_class in prices.AUDIO_CLASSES]
    assert audio and all(p.sku in ("GlobalStandard", "DataZoneStandard") for p in audio)


def test_bundled_table_only_holds_published_prices() -> None:
    table = prices.bundled()
    assert table.as_of == "2026-09-07" and table.currency == "USD"
    assert all(p.source for p in table.prices)
    # regional Standard prices vary by region and none is published in the facts: none here
    assert not any(p.sku == "Standard" for p in table.prices)
    gpt4o = table.lookup("gpt-4o", "2024-08-06", "GlobalStandard", "eastus", "output")
    assert gpt4o is not None and gpt4o.amount == Decimal("10.00")
    assert table.lookup("gpt-4o", "2024-11-20", "GlobalStandard", "eastus", "input") is None
    assert table.lookup("gpt-4.1", "2025-04-14", "GlobalStandard", "eastus", "input") is None
    ptu = table.lookup("gpt-4.1", "2025-04-14", "GlobalProvisionedManaged", "eastus", "ptu_hour")
    assert ptu is not None and ptu.amount == Decimal("1.00")
    assert table.lookup("gpt-4.1", None, "ProvisionedManaged", "eastus", "ptu_hour") is None


def test_region_specific_prices_are_borrowed_only_for_global_types() -> None:
    items = [
        {"meterName": "gpt 4.1 Inp regnl Tokens", "unitOfMeasure": "1K", "retailPrice": 0.0022,
         "armRegionName": "eastus", "type": "Consumption"},
        {"meterName": "gpt 4.1 Inp glbl Tokens", "unitOfMeasure": "1M", "retailPrice": 2,
         "armRegionName": "swedencentral", "type": "Consumption"},
    ]  # fmt: skip
    table = prices.from_retail(items, source="test", location="t")
    assert table.lookup("gpt-4.1", None, "Standard", "eastus", "input").amount == Decimal("2.2")  # type: ignore[union-attr]
    assert table.lookup("gpt-4.1", None, "Standard", "westus", "input") is None
    glbl = table.lookup("gpt-4.1", None, "GlobalStandard", "westus", "input")
    assert glbl is not None and glbl.region == "swedencentral"


def test_retail_items_latest_price_wins_and_reservations_are_ignored() -> None:
    base = {"meterName": "gpt 4.1 mini Inp glbl Tokens", "unitOfMeasure": "1K",
            "armRegionName": "eastus", "type": "Consumption"}  # fmt: skip
    table = prices.from_retail(
        [
            base | {"retailPrice": 0.0005, "effectiveStartDate": "2025-01-01"},
            base | {"retailPrice": 0.0004, "effectiveStartDate": "2025-06-01"},
            base | {"retailPrice": 99, "type": "Reservation"},
        ],
        source="test",
        location="t",
    )
    assert [p.amount for p in table.prices] == [Decimal("0.4")]


def test_price_files(tmp_path: Path) -> None:
    good = tmp_path / "p.csv"
    good.write_text(
        "model,version,sku,region,class,price,unit\n"
        "gpt-4o,,GlobalStandard,,input,0.002,1K\n"
        ",,GlobalProvisionedManaged,,ptu_hour,0.9,hour\n",
        encoding="utf-8",
    )
    table = prices.load(good)
    assert {(p.model, p.token_class): p.amount for p in table.prices} == {
        ("gpt-4o", "input"): Decimal("2"),
        (None, "ptu_hour"): Decimal("0.9"),
    }
    retail = tmp_path / "retail.json"
    retail.write_text(json.dumps({"Items": [{"meterName": "gpt 4o Inp glbl Tokens",
        "unitOfMeasure": "1M", "retailPrice": 2.5, "type": "Consumption"}]}))  # fmt: skip
    assert prices.load(retail).prices[0].amount == Decimal("2.5")
    ours = tmp_path / "ours.json"
    ours.write_text(prices.dumps(table), encoding="utf-8")
    assert set(prices.load(ours).prices) == set(table.prices)
    good.write_text(
        "model,version,sku,region,class,price,unit\n"
        "gpt-realtime,2025-08-28,GlobalStandard,,audio_input,0.03,1K\n"
        "gpt-realtime,2025-08-28,GlobalStandard,,audio_output,60,1M\n",
        encoding="utf-8",
    )
    assert {p.token_class: p.amount for p in prices.load(good).prices} == {
        "audio_input": Decimal("30"),
        "audio_output": Decimal("60"),
    }
    retail.write_text(json.dumps({"Items": [{"meterName": "gpt rt aud 0828 Inp glbl Tokens",
        "unitOfMeasure": "1K", "retailPrice": 0.032, "type": "Consumption"}]}))  # fmt: skip
    (audio,) = prices.load(retail).prices
    assert (audio.model, audio.token_class, audio.amount) == ("gpt-realtime", "audio_input", 32)
    for bad, why in (
        ("model,sku\nx,y\n", "columns missing"),
        ("model,version,sku,region,class,price,unit\nx,,GlobalStandard,,input,-1,1M\n", "price"),
        ("model,version,sku,region,class,price,unit\nx,,GlobalStandard,,input,1,1G\n", "unit"),
        ("model,version,sku,region,class,price,unit\nx,,,,input,1,1M\n", "sku"),
    ):
        good.write_text(bad, encoding="utf-8")
        with pytest.raises(prices.PriceError, match=why):
            prices.load(good)


# ---------------------------------------------------------------- exact splits


def test_splits_add_up() -> None:
    assert split_int(10, [1, 1, 1]) == [4, 3, 3]
    assert split_int(7, [0, 0]) == [4, 3]
    assert sum(split_int(1_000_003, [3, 5, 7, 11])) == 1_000_003
    parts = split_money(Decimal("100"), [1, 1, 1])
    assert sum(parts) == Decimal("100") and parts[0] == Decimal("33.333334")
    assert split_money(Decimal("0.0000004"), [1]) == [Decimal("0")]


# ---------------------------------------------------------------- the stored document


def test_usage_document_round_trips_and_is_validated() -> None:
    raw = json.loads(demo_usage_path().read_text(encoding="utf-8"))
    usage = Usage.from_json(raw)
    assert Usage.from_json(usage.to_json()).to_json() == usage.to_json()
    bad = json.loads(json.dumps(raw))
    bad["platform"]["rows"][0][2] = "2026-12-01"  # the end is excluded
    with pytest.raises(UsageError, match="outside the usage period"):
        Usage.from_json(bad)
    bad = json.loads(json.dumps(raw))
    bad["platform"]["rows"][0][3] = -1
    with pytest.raises(UsageError, match="whole number"):
        Usage.from_json(bad)
    with pytest.raises(UsageError, match="version"):
        Usage.from_json({"version": 2})


# ---------------------------------------------------------------- the gap's judgements


@pytest.mark.parametrize(
    ("dimension", "value", "ok"),
    [
        ("Subscription ID", "finance-app", True),
        ("Subscription ID", "master", False),
        ("Team", "master", True),
        ("Team", "", False),
        ("Team", "unknown", False),
        ("Team", "N/A", False),
        ("Team", "10.1.2.3", False),
        ("Team", "2001:db8::1", False),
    ],
)
def test_payer_values_that_name_nobody(dimension: str, value: str, ok: bool) -> None:
    assert gap.names_somebody(dimension, value)[0] is ok


def one_day(**over: Any) -> Usage:
    """One account, one deployment, one day: 1,000,000 / 100,000 platform tokens."""
    base: dict[str, Any] = {
        "period": Period(date(2026, 11, 2), date(2026, 11, 3)),
        "deployments": (
            Deployment("contoso", "gpt-4o", "gpt-4o", "2024-08-06", "GlobalStandard", 100),
        ),
        "parts": (
            Part("platform", "contoso", "read"),
            Part("metrics", "appi", "read"),
            Part("llm-log", "example", "read"),
        ),
        "platform": (("contoso", "gpt-4o", "2026-11-02", 1_000_000, 100_000),),
        "gateway": (
            (
                "example",
                "2026-11-02",
                "example-api",
                "contoso.openai.azure.com",
                "gpt-4o",
                "gpt-4o",
                1_000_000,
                100_000,
            ),
        ),
        "metered": (
            Metered(
                "appi",
                ("example",),
                ("Deployment", "Subscription ID"),
                (("2026-11-02", "example-api", ("gpt-4o", "team-a"), 1_200_000, 100_000),),
            ),
        ),
    }
    return Usage(**(base | over))


def inline_gap(usage: Usage, **spec: Any) -> gap.Gap:
    from auditor.sources import inline

    policy = (
        "<policies><inbound><base /><llm-emit-token-metric namespace='ai'>"
        "<dimension name='Subscription ID' /><dimension name='API ID' />"
        "<dimension name='Deployment' value='@(context.Request.MatchedParameters"
        '.GetValueOrDefault("deployment-id", ""))\' />'
        "</llm-emit-token-metric></inbound><backend><base /></backend>"
        "<outbound><base /></outbound><on-error><base /></on-error></policies>"
    )
    estate = inline.build(
        {"policy": policy, "service_url": "https://contoso.openai.azure.com/openai"} | spec
    )
    result = gap.measure(replace(estate, usage=usage))
    assert result is not None
    return result


def test_a_gateway_that_counts_more_than_the_platform_is_scaled_down_and_said_so() -> None:
    g = inline_gap(one_day())
    t = g.report()["totals"]
    assert t["tokens"] == 1_100_000 and t["attributed_tokens"] == 1_100_000
    assert any("200,000 tokens more than the platform" in n for n in g.notes)


def test_ptu_hours_start_when_the_deployment_was_created() -> None:
    ptu = Deployment(
        "contoso",
        "gpt-4.1-ptu",
        "gpt-4.1",
        "2025-04-14",
        "GlobalProvisionedManaged",
        15,
        created="2026-11-02T18:00:00Z",
    )
    usage = one_day(deployments=(ptu,), platform=(), gateway=(), metered=())
    g = inline_gap(usage)
    d = g.report()["deployments"][0]
    # 6 hours x 15 PTU x $1.00, nothing ran: all of it idle
    assert d["cost"] == 90.0 and d["idle_cost"] == 90.0


def test_ptu_without_a_utilization_reading_leaves_idle_unknown() -> None:
    ptu = Deployment("contoso", "gpt-4o", "gpt-4.1", None, "GlobalProvisionedManaged", 15)
    g = inline_gap(one_day(deployments=(ptu,)))
    d = g.report()["deployments"][0]
    assert d["cost"] == 360.0 and d["idle_cost"] is None
    assert any("idle capacity unknown" in n for n in d["notes"])


def test_an_unpriced_deployment_is_never_priced_at_zero() -> None:
    other = Deployment("contoso", "gpt-4o", "gpt-4.1", "2025-04-14", "Standard", 10)
    report = inline_gap(one_day(deployments=(other,))).report()
    d = report["deployments"][0]
    assert d["cost"] is None and d["cost_basis"] == "unpriced"
    assert report["totals"]["unpriced_tokens"] == 1_100_000
    assert report["apis"][0]["cost"] is None


def realtime_day(**over: Any) -> Usage:
    """:func:`one_day` on a realtime deployment (gpt-4o-realtime-preview 2024-12-17, Global:
    text $5 / $20, audio $40 / $80 per 1M) that two payers share through the gateway, with
    500,000 of its 1,000,000 prompt tokens and 50,000 of its 100,000 generated tokens audio."""
    rt = Deployment(
        "contoso", "voice", "gpt-4o-realtime-preview", "2024-12-17", "GlobalStandard", 10,
        account_id="/subscriptions/s/resourceGroups/r/providers/"
        "Microsoft.CognitiveServices/accounts/contoso",
    )  # fmt: skip
    metered = Metered(
        "appi",
        ("example",),
        ("Deployment", "Subscription ID"),
        (
            ("2026-11-02", "example-api", ("voice", "team-a"), 600_000, 60_000),
            ("2026-11-02", "example-api", ("voice", "team-b"), 400_000, 40_000),
        ),
    )
    base: dict[str, Any] = {
        "deployments": (rt,),
        "parts": (
            Part("platform", "contoso", "read"),
            Part("audio", "contoso", "read"),
            Part("metrics", "appi", "read"),
            Part("llm-log", "example", "read"),
        ),
        "platform": (("contoso", "voice", "2026-11-02", 1_000_000, 100_000),),
        "audio": (("contoso", "voice", "2026-11-02", 500_000, 50_000),),
        "gateway": (),
        "metered": (metered,),
    }
    return one_day(**(base | over))


def test_audio_is_shared_by_the_payers_and_priced_apart() -> None:
    """The cell's audio is shared by the payers' tokens (an estimate: no gateway figure tells a
    payer's audio apart): team-a 600,000 / 60,000 tokens of which 300,000 / 30,000 audio,
    team-b 400,000 / 40,000 of which 200,000 / 20,000.

    team-a: text 300,000 x 5 + 30,000 x 20 = $2.10, audio 300,000 x 40 + 30,000 x 80 = $14.40
    team-b: text 200,000 x 5 + 20,000 x 20 = $1.40, audio 200,000 x 40 + 20,000 x 80 = $9.60
    """
    report = inline_gap(realtime_day()).report()
    payers = {p["value"]: (p["tokens"], p["cost"]) for p in report["payers"]}
    assert payers == {"team-a": (660_000, 16.5), "team-b": (440_000, 11.0)}
    assert report["totals"]["cost"] == 27.5 and report["totals"]["audio_tokens"] == 550_000
    cols = report["allocation"]["columns"]
    rows = [dict(zip(cols, r, strict=True)) for r in report["allocation"]["rows"]]
    audio = {r["payer"]: (r["input"], r["output"], r["cost"], r["estimate"])
             for r in rows if r["token_class"] == "audio"}  # fmt: skip
    assert audio == {
        "team-a": (300_000, 30_000, 14.4, True),
        "team-b": (200_000, 20_000, 9.6, True),
    }


@pytest.mark.parametrize("measured", [True, False])
def test_cost_management_audio_meters_go_to_the_audio_rows(measured: bool) -> None:
    """Billed cost on the realtime model's meters: text $5 + $2, audio $20 + $4. With audio
    measured the audio rows carry the audio meters; without it, no cent is lost: it goes with
    the text tokens."""
    rid = "/subscriptions/s/resourceGroups/r/providers/Microsoft.CognitiveServices/accounts/contoso"
    costs = tuple(
        ("2026-11-02", rid, meter, Decimal(c))
        for meter, c in (
            ("gpt-4o-rt-txt-1217 Inp glbl Tokens", "5"),
            ("gpt-4o-rt-txt-1217 Outp glbl Tokens", "2"),
            ("gpt-4o-rt-aud-1217 Inp glbl Tokens", "20"),
            ("gpt-4o-rt-aud-1217 Outp glbl Tokens", "4"),
        )
    )
    parts = [
        Part("platform", "contoso", "read"),
        Part("metrics", "appi", "read"),
        Part("llm-log", "example", "read"),
        Part("costs", "/subscriptions/s", "read"),
    ]
    if measured:
        parts.append(Part("audio", "contoso", "read"))
    usage = realtime_day(parts=tuple(parts), costs=costs, cost_currency="USD")
    report = inline_gap(usage).report()
    assert report["cost_basis"] == "actual" and report["totals"]["cost"] == 31.0
    cols = report["allocation"]["columns"]
    rows = [dict(zip(cols, r, strict=True)) for r in report["allocation"]["rows"]]
    by_kind: dict[str, float] = {}
    for r in rows:
        by_kind[r["token_class"]] = by_kind.get(r["token_class"], 0) + r["cost"]
    if measured:
        assert by_kind == pytest.approx({"audio": 24.0, "text": 7.0})
        assert report["totals"]["audio_tokens"] == 550_000
        # a billed cost does not move with the assumption on audio
        assert report["audio"]["if_counted_apart"] == {"extra_tokens": 550_000, "extra_cost": 0.0}
    else:
        assert by_kind == pytest.approx({"text": 31.0})
        assert report["totals"]["audio_tokens"] is None
        assert report["deployments"][0]["audio_tokens"] is None


def test_a_snapshot_from_before_audio_loads_with_audio_not_measured() -> None:
    raw = json.loads(demo_usage_path().read_text(encoding="utf-8"))
    old = json.loads(json.dumps(raw))
    del old["audio"]
    old["parts"] = [p for p in old["parts"] if p["kind"] != "audio"]
    new, before = inline_gap_of(raw), inline_gap_of(old)
    for key in ("tokens", "cost", "attributed_tokens", "unattributed_cost", "bypass_tokens"):
        assert before["totals"][key] == new["totals"][key], key
    assert new["totals"]["audio_tokens"] == 0  # read, and none found
    assert before["totals"]["audio_tokens"] is None  # not measured: unknown, not 0
    assert all(d["audio_tokens"] is None for d in before["deployments"])
    assert before["audio"]["measured"] is False and new["audio"]["measured"] is True
    assert any(
        "audio tokens were not measured for contoso-eastus, contoso-partners, contoso-westus" in n
        and "unknown, not zero" in n
        for n in before["notes"]
    )
    assert not any("audio" in n for n in new["notes"])


def inline_gap_of(raw: dict[str, Any]) -> dict[str, Any]:
    from auditor import sources

    estate = replace(sources.load(sources.demo_path()), usage=Usage.from_json(raw))
    result = gap.measure(estate)
    assert result is not None
    return result.report()


# ---------------------------------------------------------------- queries and replies


def test_kql_quotes_names_from_the_policies() -> None:
    hostile = 'Team"]) | project secret = 1 //\n'
    kql = gateway.metrics_query(NOV, [hostile, "Subscription ID"])
    assert 'customDimensions["Team\\"]) | project secret = 1 //\\n"]' in kql
    assert kql.count("\n") == 5  # the newline in the name did not start a statement
    assert kql.splitlines()[-1].startswith("| summarize")


def test_metric_replies() -> None:
    def line(dep: str, total: float | None) -> dict[str, Any]:
        point: dict[str, Any] = {"timeStamp": "2026-11-01T00:00:00Z"}
        if total is not None:
            point["total"] = total
        return {
            "metadatavalues": [{"name": {"value": "modeldeploymentname"}, "value": dep}],
            "data": [point],
        }

    body = {"value": [{"name": {"value": "GeneratedTokens"}, "errorCode": "Success",
                       "timeseries": [line("a", 12.0), line("b", None)]}]}  # fmt: skip
    assert platform.series(body, 50, NOV, platform.total) == {
        "GeneratedTokens": {("a", "2026-11-01"): 12.0, ("b", "2026-11-01"): 0.0}
    }
    with pytest.raises(platform.MetricsError, match="as many as top"):
        platform.series(body, 2, NOV, platform.total)
    body["value"][0]["errorCode"] = "Throttled"  # type: ignore[index]
    with pytest.raises(platform.MetricsError, match="Throttled"):
        platform.series(body, 50, NOV, platform.total)


def test_audio_metric_problems_leave_the_text_tokens() -> None:
    def metric(name: str, code: str = "Success", lines: int = 1) -> dict[str, Any]:
        line = {
            "metadatavalues": [{"name": {"value": "modeldeploymentname"}, "value": "voice"}],
            "data": [{"timeStamp": "2026-11-01T00:00:00Z", "total": 7.0}],
        }
        return {"name": {"value": name}, "errorCode": code, "timeseries": [line] * lines}

    body = {"value": [metric("GeneratedTokens"), metric("AudioPromptTokens", "Throttled"),
                      metric("AudioCompletionTokens", lines=3)]}  # fmt: skip
    failed: dict[str, str] = {}
    found = platform.series(body, 3, NOV, platform.total, platform.AUDIO_METRICS, failed)
    assert found == {"GeneratedTokens": {("voice", "2026-11-01"): 7.0}}
    assert "Throttled" in failed["AudioPromptTokens"]
    assert "as many as top=3" in failed["AudioCompletionTokens"]
    with pytest.raises(platform.MetricsError, match="Throttled"):
        platform.series(body, 3, NOV, platform.total)  # not optional: the reply is unusable


def test_cost_replies() -> None:
    names = ("PreTaxCost", "UsageDate", "ResourceId", "Meter", "Currency")
    reply = {
        "properties": {
            "columns": [{"name": n} for n in names],
            "rows": [[1.5, 20261102, "/x", "m", "EUR"]],
            "nextLink": "https://h/next",
        }
    }
    assert costs.rows(reply) == (
        [("2026-11-02", "/x", "m", Decimal("1.5"))],
        "EUR",
        "https://h/next",
    )
    with pytest.raises(costs.CostError, match="columns"):
        costs.rows({"properties": {"columns": [{"name": "Cost"}], "rows": []}})
    body = costs.body(NOV)
    assert body["timePeriod"] == {"from": "2026-11-01T00:00:00Z", "to": "2026-11-30T23:59:59Z"}
    assert costs.QUERY_PATH.match("/subscriptions/s/providers/Microsoft.CostManagement/query")
    assert not costs.QUERY_PATH.match("/subscriptions/s/providers/Microsoft.Foo/query")


# ---------------------------------------------------------------- FOCUS


def demo_report(tmp_path: Path) -> dict[str, Any]:
    assert main(["demo", "--out-dir", str(tmp_path)]) == 0
    report: dict[str, Any] = json.loads((tmp_path / "demo-gap-report.json").read_text("utf-8"))
    return report


#: FOCUS 1.2's mandatory columns (facts doc §6.2).
FOCUS_12_MANDATORY = re.findall(
    r"\w+",
    """BilledCost BillingAccountId BillingAccountName BillingCurrency BillingPeriodEnd
    BillingPeriodStart ChargeCategory ChargeClass ChargeDescription ChargePeriodEnd
    ChargePeriodStart ContractedCost EffectiveCost InvoiceIssuerName ListCost PricingQuantity
    PricingUnit ProviderName PublisherName ServiceCategory ServiceName""",
)


def test_focus_columns(tmp_path: Path) -> None:
    from auditor.render import RENDERERS

    text = RENDERERS["focus"](demo_report(tmp_path))
    rows = list(csv.DictReader(io.StringIO(text)))
    header = text.splitlines()[0].split(",")
    assert set(FOCUS_12_MANDATORY) <= set(header)
    firsts = [h for h in header if not h.startswith("x_")]
    assert header[: len(firsts)] == firsts  # x_ columns after every FOCUS column
    for r in rows:
        for col in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
            Decimal(r[col])  # never empty
        assert r["ChargeCategory"] == "Usage" and r["BillingCurrency"] == "USD"
        assert json.loads(r["Tags"]) == (
            {r["x_PayerDimension"]: r["x_Payer"]}
            if r["x_AttributionStatus"] == "attributed"
            else {}
        )
    days = {r["ChargePeriodStart"][:10] for r in rows}
    assert len(days) == 30


def test_focus_without_usage_is_a_clear_error() -> None:
    from auditor.render import RENDERERS

    with pytest.raises(AuditorError, match="needs measured usage"):
        RENDERERS["focus"]({"source": {}, "findings": []})


# ---------------------------------------------------------------- offline replay


def test_a_snapshot_with_usage_replays_offline(tmp_path: Path) -> None:
    from auditor.sources import snapshot

    estate = attach_file(sources.load(sources.demo_path()), demo_usage_path())
    snap = tmp_path / "estate.json"
    snap.write_text(snapshot.dumps(estate), encoding="utf-8")
    assert snapshot.load(snap).usage == estate.usage
    code = (
        "import sys\n"
        "from auditor.cli import main\n"
        f"rc = main(['scan', {str(snap)!r}, '--format', 'focus', '-o', "
        f"{str(tmp_path / 'a.csv')!r}, '--fail-on', 'never'])\n"
        "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('azure', 'textual')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stderr
    assert out.stdout.startswith("30.4 % of tokens")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "a.csv").read_text(encoding="utf-8"))))
    assert sum(Decimal(r["EffectiveCost"]) for r in rows) == Decimal("12216.222")


def test_prices_without_usage_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "p.json"
    table.write_text(prices.dumps(prices.bundled()), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "auditor", "scan", str(sources.demo_path()), "--prices", str(table)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "holds no measured usage" in out.stderr


def test_money_sections(tmp_path: Path) -> None:
    from auditor.render import RENDERERS

    report = demo_report(tmp_path)
    html, md, text = (RENDERERS[f](report) for f in ("html", "md", "text"))
    assert html.index('id="money"') < html.index('id="signals"')
    chart = html[html.index('<svg class="chart"') : html.index("</svg>", html.index("chart"))]
    for d in ("contoso-eastus/gpt-4.1-ptu", "contoso-partners/gpt-4o", "contoso-westus/gpt-4o"):
        assert d in chart
    assert "contoso-eastus/gpt-35-turbo-instruct" not in chart  # unpriced: no bar
    assert 'fill="#8c959f"><title>Idle PTU capacity: $5,616.00' in chart
    assert md.index("## Money") < md.index("## Signals")
    assert "| `Team=6c1f0d5e-0a71-4b8e-9c55-3f2e8a9b7d10` | 116,250,000 | $3,672.00 |" in md
    lines = text.splitlines()
    assert lines[0].startswith("30.4 % of tokens")
    assert lines.index("Top leaking APIs:") < next(
        n for n, line in enumerate(lines) if line.startswith("attribution-auditor")
    )

"""``--usage``, ``--prices``, ``--format focus`` and ``auditor prices`` from the outside: CLI runs
in a fresh interpreter against the fake Azure, report and snapshot files read back."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from fake_arm import CANARIES, SUB
from fake_usage import FakeAzure, demo_truth, moved, with_audio
from test_live_cli import cli_env

from auditor.usage.period import Period, today_utc


@pytest.fixture
def recent(fake_azure: FakeAzure) -> str:
    """The demo's usage moved to the 30 days before today (a period the CLI accepts)."""
    end = today_utc()
    start = end - timedelta(days=30)
    fake_azure.truth = moved(demo_truth(), start)
    return f"{start.isoformat()}..{end.isoformat()}"


def auditor(fake: FakeAzure, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "auditor", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=cli_env(fake))


def live(fake: FakeAzure, period: str) -> list[str]:
    return [
        "--azure",
        "--arm-endpoint",
        fake.url,
        "--logs-endpoint",
        fake.url,
        "--subscription",
        SUB,
        "--usage",
        period,
    ]


def usage_of(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["usage"]
    return data


def test_scan_opens_with_the_money_line(fake_azure: FakeAzure, recent: str, tmp_path: Path) -> None:
    out = auditor(fake_azure, "scan", *live(fake_azure, recent), "-o", str(tmp_path / "r.json"))
    assert out.returncode == 1, out.stderr  # the demo's gaps fail the gate
    usage = usage_of(tmp_path / "r.json")
    first = out.stdout.splitlines()[0]
    # the run-rate scales the period to its month (or to an average month across two)
    factor = Decimal(str(Period.from_json(usage["period"]).month_factor()))
    monthly = (Decimal("871.59") * factor).quantize(Decimal(1), ROUND_HALF_UP)
    bypass = (Decimal("510") * factor).quantize(Decimal(1), ROUND_HALF_UP)
    assert first == (
        f"30.4 % of tokens (≈ ${monthly:,} a month) cannot be charged to a team; "
        f"${bypass:,} of it bypasses the gateway"
    )
    assert "Top leaking APIs:" in out.stdout
    assert usage["period"]["end"] == recent.split("..")[1]
    assert usage["totals"]["tokens"] == 767_574_000
    assert Decimal(str(usage["totals"]["cost"])) == Decimal("12216.222")
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["schema_version"] == 1
    assert list(report)[-1] == "usage"


def test_focus_export_sums_to_the_total(fake_azure: FakeAzure, recent: str, tmp_path: Path) -> None:
    out = auditor(
        fake_azure,
        "scan",
        *live(fake_azure, recent),
        "--format",
        "focus",
        "-o",
        str(tmp_path / "allocation.csv"),
        "--fail-on",
        "never",
    )
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "allocation.csv").read_text("utf-8"))))
    assert sum(Decimal(r["EffectiveCost"]) for r in rows) == Decimal("12216.222")
    assert {r["x_AttributionStatus"] for r in rows} == {
        "attributed",
        "unattributed",
        "bypass",
        "idle",
    }
    assert all(r["ServiceName"] == "Foundry Models" for r in rows)
    assert out.stdout.startswith("30.4 % of tokens")  # the summary still goes to the terminal


def test_snapshot_replays_the_same_figures(
    fake_azure: FakeAzure, recent: str, tmp_path: Path
) -> None:
    snap, first, replay = tmp_path / "estate.json", tmp_path / "a.json", tmp_path / "b.json"
    out = auditor(fake_azure, "snapshot", *live(fake_azure, recent), "-o", str(snap))
    assert out.returncode == 0, out.stderr
    assert "cannot be charged to a team" in out.stderr
    text = snap.read_text(encoding="utf-8")
    assert json.loads(text)["usage"]["prices"]["prices"]
    for canary in CANARIES.values():
        assert canary not in text
    assert auditor(fake_azure, "scan", *live(fake_azure, recent), "-o", str(first)).returncode == 1
    fake_azure.stop()  # the replay needs no Azure
    assert auditor(fake_azure, "scan", str(snap), "-o", str(replay)).returncode == 1
    a, b = usage_of(first), usage_of(replay)
    for key in ("totals", "deployments", "payers", "apis", "allocation", "cost_basis"):
        assert a[key] == b[key], key
    assert b["price_source"]["kind"] == "stored"


def test_a_snapshot_keeps_the_audio_tokens_and_replays_them(
    fake_azure: FakeAzure, recent: str, tmp_path: Path
) -> None:
    fake_azure.truth = with_audio(fake_azure.truth)
    snap, first, replay = tmp_path / "estate.json", tmp_path / "a.json", tmp_path / "b.json"
    out = auditor(fake_azure, "snapshot", *live(fake_azure, recent), "-o", str(snap))
    assert out.returncode == 0, out.stderr
    stored = json.loads(snap.read_text(encoding="utf-8"))["usage"]
    assert sorted(r[3] + r[4] for r in stored["audio"]["rows"]) == [50_000, 300_000, 900_000]
    assert {(p["key"], p["status"]) for p in stored["parts"] if p["kind"] == "audio"} == {
        ("contoso-eastus", "read"),
        ("contoso-partners", "read"),
        ("contoso-westus", "read"),
    }
    # the audio price the figures used is stored with them
    assert {p["class"] for p in stored["prices"]["prices"]} >= {"audio_input", "audio_output"}
    assert auditor(fake_azure, "scan", *live(fake_azure, recent), "-o", str(first)).returncode == 1
    fake_azure.stop()  # the replay needs no Azure
    assert auditor(fake_azure, "scan", str(snap), "-o", str(replay)).returncode == 1
    a, b = usage_of(first), usage_of(replay)
    assert a["totals"]["audio_tokens"] == 1_250_000
    for key in ("totals", "deployments", "allocation", "audio", "notes", "tolerances"):
        if key == "notes":  # the live run's note on its own request count is not replayed
            a[key] = [n for n in a[key] if not n.startswith("usage:")]
            b[key] = [n for n in b[key] if not n.startswith("usage:")]
        assert a[key] == b[key], key


def test_negotiated_prices(fake_azure: FakeAzure, recent: str, tmp_path: Path) -> None:
    prices = tmp_path / "negotiated.csv"
    prices.write_text(
        "model,version,sku,region,class,price,unit\n"
        "gpt-4o,2024-08-06,GlobalStandard,,input,2.00,1M\n"
        "gpt-4o,2024-08-06,GlobalStandard,,output,0.008,1K\n",
        encoding="utf-8",
    )
    report = tmp_path / "r.json"
    out = auditor(
        fake_azure,
        "scan",
        *live(fake_azure, recent),
        "--prices",
        str(prices),
        "-o",
        str(report),
    )
    assert out.returncode == 1, out.stderr
    usage = usage_of(report)
    # gpt-4o: 283,020,000 input and 67,584,000 output tokens at 2.00 and 8.00 per 1M instead
    # of 2.50 and 10.00; the rest keeps the bundled prices (the file has only gpt-4o)
    assert Decimal(str(usage["totals"]["cost"])) == Decimal("10832.832") + Decimal("1106.712")
    assert usage["price_source"]["kind"] == "file"
    rows = usage["allocation"]["rows"]
    at = usage["allocation"]["columns"]
    cost, listed = at.index("cost"), at.index("list_cost")
    assert any(r[cost] is not None and r[listed] > r[cost] for r in rows)  # list stays listed
    # a snapshot taken with the negotiated prices replays them, list prices included
    snap, replay = tmp_path / "estate.json", tmp_path / "replay.json"
    made = auditor(
        fake_azure, "snapshot", *live(fake_azure, recent), "--prices", str(prices), "-o", str(snap)
    )
    assert made.returncode == 0, made.stderr
    assert auditor(fake_azure, "scan", str(snap), "-o", str(replay)).returncode == 1
    again = usage_of(replay)
    assert again["totals"] == usage["totals"]
    assert again["allocation"] == usage["allocation"]


def test_usage_needs_a_live_scan(fake_azure: FakeAzure, tmp_path: Path) -> None:
    from auditor.sources import demo_path

    out = auditor(fake_azure, "scan", str(demo_path()), "--usage", "30d")
    assert out.returncode == 2
    assert "--usage measures a live estate" in out.stderr
    bad = auditor(fake_azure, "scan", *live(fake_azure, "2020-01-01..2020-02-01"))
    assert bad.returncode == 2 and "93 days" in bad.stderr
    assert fake_azure.gets() == []  # refused before any request


RETAIL = [
    {
        "meterName": "gpt 4.1 mini Inp glbl Tokens",
        "unitOfMeasure": "1K",
        "retailPrice": 0.0004,
        "armRegionName": "swedencentral",
        "type": "Consumption",
        "currencyCode": "USD",
        "productName": "Azure OpenAI",
        "effectiveStartDate": "2025-05-01T00:00:00Z",
    },
    {
        "meterName": "gpt 4.1 mini Outp glbl Tokens",
        "unitOfMeasure": "1K",
        "retailPrice": 0.0016,
        "armRegionName": "swedencentral",
        "type": "Consumption",
        "currencyCode": "USD",
        "productName": "Azure OpenAI",
        "effectiveStartDate": "2025-05-01T00:00:00Z",
    },
    {
        "meterName": "GPT 5 Mini Inpt Glbl 1M Tokens",
        "unitOfMeasure": "1M",
        "retailPrice": 0.25,
        "armRegionName": "swedencentral",
        "type": "Consumption",
        "currencyCode": "USD",
        "productName": "Azure OpenAI GPT5",
        "effectiveStartDate": "2025-08-07T00:00:00Z",
    },
    {
        "meterName": "5.4 pp inp Gl 1M Tokens",
        "unitOfMeasure": "1M",
        "retailPrice": 9.99,
        "armRegionName": "swedencentral",
        "type": "Consumption",
        "currencyCode": "USD",
        "productName": "Azure OpenAI",
    },
    {
        "meterName": "Provisioned Managed Global Unit",
        "unitOfMeasure": "1 Hour",
        "retailPrice": 1.0,
        "armRegionName": "swedencentral",
        "type": "Consumption",
        "currencyCode": "USD",
        "productName": "Azure OpenAI",
    },
    {
        "meterName": "Provisioned Managed Global Unit",
        "unitOfMeasure": "1/Hour",
        "retailPrice": 260,
        "armRegionName": "swedencentral",
        "type": "Reservation",
        "currencyCode": "USD",
        "productName": "Azure AI Foundry Provisioned Throughput Reservation",
    },
]


@pytest.mark.parametrize("links", [True, False])
def test_prices_update_pages_through_the_retail_api(
    fake_azure: FakeAzure, tmp_path: Path, links: bool
) -> None:
    fake_azure.retail_items = RETAIL
    fake_azure.retail_page_size = 2
    fake_azure.retail_no_links = not links
    target = tmp_path / "prices.json"
    endpoint = f"{fake_azure.url}/api/retail/prices"
    out = auditor(fake_azure, "prices", "update", "--endpoint", endpoint, "-o", str(target))
    assert out.returncode == 0, out.stderr
    table = json.loads(target.read_text(encoding="utf-8"))
    got = {(p["model"], p["sku"], p["class"]): p["price"] for p in table["prices"]}
    assert got == {
        ("gpt-4.1-mini", "GlobalStandard", "input"): "0.4",
        ("gpt-4.1-mini", "GlobalStandard", "output"): "1.6",
        ("gpt-5-mini", "GlobalStandard", "input"): "0.25",
        (None, "GlobalProvisionedManaged", "ptu_hour"): "1",
    }
    sent = [r for r in fake_azure.gets() if r.path == "/api/retail/prices"]
    # 6 items by 2: three pages through NextPageLink; without links, $skip until a short page
    assert len(sent) == (3 if links else 4)
    assert "serviceName eq 'Foundry Models'" in sent[0].query["$filter"]
    assert all("Authorization" not in r.headers for r in sent)  # a public API: no token sent
    shown = auditor(fake_azure, "prices", "show", "--prices", str(target))
    assert shown.returncode == 0 and "gpt-5-mini" in shown.stdout


def test_prices_update_refuses_an_http_endpoint(fake_azure: FakeAzure, tmp_path: Path) -> None:
    out = auditor(
        fake_azure, "prices", "update", "--endpoint", "http://127.0.0.1:9/x", "-o", "p.json"
    )
    assert out.returncode == 2 and "https://" in out.stderr


def test_prices_update_reads_audio_meters_as_their_own_class(
    fake_azure: FakeAzure, tmp_path: Path
) -> None:
    def item(meter: str, price: float, unit: str = "1K") -> dict[str, Any]:
        return {
            "meterName": meter,
            "unitOfMeasure": unit,
            "retailPrice": price,
            "armRegionName": "eastus2",
            "type": "Consumption",
            "currencyCode": "USD",
            "productName": "Azure OpenAI Media",
            "effectiveStartDate": "2025-08-28T00:00:00Z",
        }

    fake_azure.retail_items = [
        item("gpt rt txt 0828 Inp glbl Tokens", 0.004),
        item("gpt rt txt 0828 Outp glbl Tokens", 0.016),
        item("gpt rt aud 0828 Inp glbl Tokens", 0.032),
        item("gpt rt aud 0828 Outp glbl Tokens", 0.064),
        item("gpt rt aud 0828 cchd Inp glbl Tokens", 0.0004),  # cached audio: no class here
        item("gpt-realtime-2 Audio inp Gl 1M Tokens", 32, "1M"),
    ]
    target = tmp_path / "prices.json"
    endpoint = f"{fake_azure.url}/api/retail/prices"
    out = auditor(fake_azure, "prices", "update", "--endpoint", endpoint, "-o", str(target))
    assert out.returncode == 0, out.stderr
    table = json.loads(target.read_text(encoding="utf-8"))
    got = {(p["model"], p["version"], p["class"]): p["price"] for p in table["prices"]}
    # per-1K meters x 1000 = per 1M; the audio meters keep their own (8x) price
    assert got == {
        ("gpt-realtime", "0828", "input"): "4",
        ("gpt-realtime", "0828", "output"): "16",
        ("gpt-realtime", "0828", "audio_input"): "32",
        ("gpt-realtime", "0828", "audio_output"): "64",
        ("gpt-realtime-2", None, "audio_input"): "32",
    }
    shown = auditor(fake_azure, "prices", "show", "--prices", str(target))
    assert shown.returncode == 0 and "audio_output" in shown.stdout

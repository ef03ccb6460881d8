"""Benchmark usage collection (``--usage``) against the fake Azure with a fixed latency per request.

Usage (from the repository root, in the project venv with the ``live`` and test extras)::

    python bench/bench_usage.py [--accounts 20] [--deployments 10] [--days 90] [--payers 500]
                                [--latency 0.1] [--concurrency 8] [--cost-page 1000]

The fake (``tests/live/fake_usage.py`` on ``tests/live/fake_arm.py``: HTTPS on 127.0.0.1) serves
one APIM service with one metered API per account (payer ``Subscription ID``, ``Deployment``
dimension), ``--accounts`` Azure OpenAI accounts of ``--deployments`` deployments each (the
first one provisioned, 15 PTU), and ``--days`` days of usage: platform token metrics per
deployment and day, PTU utilization, the gateway's token metrics for ``--payers`` payers (each
on two deployments of its account), the gateway's LLM log, and Cost Management rows (input and
output meter per deployment and day, in pages of ``--cost-page``). Every request waits
``--latency`` seconds in the server.

Printed: the usage collection's requests (Resource Manager and Log Analytics, and as predicted
by the README's formula), its wall time against the ideal ``requests x latency / concurrency``
(requests that depend on one another cannot all overlap: metrics come after an account's
deployments list, and Cost Management's pages one after another, on a lane of their own), the
rows measured, the time to compute the gap, and how much the usage adds to the JSON report (the
allocation rows are most of it).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "live")]

from fake_arm import RG, SUB, TOKEN  # noqa: E402
from fake_usage import FakeAzure  # noqa: E402

from auditor import engine, rules  # noqa: E402
from auditor.render import RENDERERS  # noqa: E402
from auditor.report import to_dict  # noqa: E402
from auditor.sources import live  # noqa: E402
from auditor.sources.live.credentials import StaticTokenCredential  # noqa: E402
from auditor.usage import gap  # noqa: E402
from auditor.usage.measured import Deployment, Metered, Part, Usage  # noqa: E402
from auditor.usage.period import Period, today_utc  # noqa: E402

T = "Microsoft.ApiManagement/service"
SERVICE = "apim-bench"
COMPONENT = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Insights/components/appi"
POLICY = """<policies>
  <inbound>
    <base />
    <llm-emit-token-metric namespace="ai">
      <dimension name="Subscription ID" />
      <dimension name="API ID" />
      <dimension name="Deployment"
        value="@(context.Request.MatchedParameters.GetValueOrDefault("deployment-id", ""))" />
    </llm-emit-token-metric>
  </inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>"""


def resources(accounts: int) -> list[dict[str, Any]]:
    """The estate the fake serves: one service, one API per account, the accounts."""
    out: list[dict[str, Any]] = [
        {"type": T, "name": SERVICE},
        {
            "type": f"{T}/loggers",
            "name": f"{SERVICE}/appinsights",
            "properties": {"loggerType": "applicationInsights", "resourceId": COMPONENT},
        },
        {
            "type": f"{T}/diagnostics",
            "name": f"{SERVICE}/applicationinsights",
            "properties": {"loggerId": "/loggers/appinsights", "metrics": True},
        },
    ]
    for a in range(accounts):
        api = f"chat-{a:02d}"
        out += [
            {
                "type": f"{T}/apis",
                "name": f"{SERVICE}/{api}",
                "properties": {
                    "displayName": api,
                    "path": api,
                    "serviceUrl": f"https://aoai-{a:02d}.openai.azure.com/openai",
                    "subscriptionRequired": True,
                    "type": "http",
                },
            },
            {
                "type": f"{T}/apis/policies",
                "name": f"{SERVICE}/{api}/policy",
                "properties": {"format": "rawxml", "value": POLICY},
            },
            {
                "type": f"{T}/apis/operations",
                "name": f"{SERVICE}/{api}/chat",
                "properties": {
                    "method": "POST",
                    "urlTemplate": "/deployments/{deployment-id}/chat/completions",
                },
            },
            {
                "type": "Microsoft.CognitiveServices/accounts",
                "name": f"aoai-{a:02d}",
                "properties": {
                    "endpoints": {"OpenAI": f"https://aoai-{a:02d}.openai.azure.com/"},
                    "disableLocalAuth": True,
                    "publicNetworkAccess": "Disabled",
                },
            },
        ]
    return out


def truth(
    accounts: int, deployments: int, days: int, payers: int
) -> tuple[Usage, list[tuple[str, str, str, Decimal]]]:
    """The measured usage the fake answers with, and its Cost Management rows."""
    end = today_utc()
    period = Period(end - timedelta(days=days), end)
    deps, platform, util, metered, log, costs = [], [], [], [], [], []
    prov = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers"
    for a in range(accounts):
        acct = f"aoai-{a:02d}"
        rid = f"{prov}/Microsoft.CognitiveServices/accounts/{acct}"
        for d in range(deployments):
            ptu = d == 0
            deps.append(
                Deployment(
                    acct,
                    f"dep-{d}",
                    "gpt-4.1" if ptu else "gpt-4o",
                    "2025-04-14" if ptu else "2024-08-06",
                    "GlobalProvisionedManaged" if ptu else "GlobalStandard",
                    15 if ptu else 100,
                    "eastus",
                    rid,
                    "2026-01-01T00:00:00Z",
                )
            )
    mine = [[p for p in range(payers) if p % accounts == a] for a in range(accounts)]
    for day in period.each_day():
        d_text = day.isoformat()
        for a in range(accounts):
            acct = f"aoai-{a:02d}"
            rid = f"{prov}/Microsoft.CognitiveServices/accounts/{acct}"
            per_dep: dict[int, list[int]] = {}
            for p in mine[a]:
                for d in (p % deployments, (p + 1) % deployments):
                    i, o = 100_000 + 10 * p, 20_000 + p
                    metered.append((d_text, f"chat-{a:02d}", (f"dep-{d}", f"payer-{p:03d}"), i, o))
                    have = per_dep.setdefault(d, [0, 0])
                    have[0] += i
                    have[1] += o
            for d in range(deployments):
                i, o = per_dep.get(d, [0, 0])
                bypass = (5_000, 1_000) if a % 4 == 0 else (0, 0)
                platform.append((acct, f"dep-{d}", d_text, i + bypass[0], o + bypass[1]))
                log.append(
                    (SERVICE, d_text, f"chat-{a:02d}", f"{acct}.openai.azure.com",
                     f"dep-{d}", "gpt-4o", i, o)
                )  # fmt: skip
                if d == 0:
                    util.append((acct, "dep-0", d_text, 55.0))
                else:
                    costs += [
                        (d_text, rid, "gpt 4o 0806 Inp glbl Tokens", Decimal(i) * 25 / 10**7),
                        (d_text, rid, "gpt 4o 0806 Outp glbl Tokens", Decimal(o) / 10**5),
                    ]
    usage = Usage(
        period=period,
        deployments=tuple(deps),
        parts=(Part("metrics", COMPONENT, "read"),),
        platform=tuple(platform),
        utilization=tuple(util),
        metered=(
            Metered(COMPONENT, (SERVICE,), ("Deployment", "Subscription ID"), tuple(metered)),
        ),
        gateway=tuple(log),
    )
    return usage, costs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=20)
    ap.add_argument("--deployments", type=int, default=10)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--payers", type=int, default=500)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--cost-page", type=int, default=1000)
    args = ap.parse_args()

    usage, costs = truth(args.accounts, args.deployments, args.days, args.payers)
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeAzure(resources(args.accounts), truth=usage, costs=costs)
        fake.cost_page_size = args.cost_page
        fake.start(Path(tmp))
        try:
            opts = live.LiveOptions(
                subscriptions=(SUB,),
                arm_endpoint=fake.url,
                ca_bundle=fake.ca_path,
                credential=StaticTokenCredential(TOKEN),
                concurrency=args.concurrency,
                usage=usage.period,
                logs_endpoint=fake.url,
            )
            plain = live.load(replace(opts, usage=None))
            fake.reset()
            fake.latency = args.latency
            started = time.monotonic()
            estate = live.load(opts)
            total = time.monotonic() - started
        finally:
            fake.stop()
    measured = estate.usage
    assert measured is not None
    note = next(n for n in measured.notes if n.startswith("usage:"))
    counts = re.match(r"usage: (\d+) Resource Manager and (\d+) Log Analytics", note)
    assert counts is not None
    usage_requests = int(counts[1]) + int(counts[2])
    chunks = math.ceil(args.days / 30)
    cost_pages = max(1, math.ceil(len(costs) / args.cost_page))
    predicted = 1 + cost_pages + args.accounts * (1 + 2 * chunks) + 2
    print(
        f"tenant: {args.accounts} accounts x {args.deployments} deployments ({args.accounts} "
        f"PTU), {args.days} days, {args.payers} payers; latency {args.latency * 1000:.0f} ms, "
        f"concurrency {args.concurrency}"
    )
    print(
        f"usage collection: {usage_requests} requests (predicted {predicted}: 1 account list + "
        f"{cost_pages} Cost Management pages + {args.accounts} x (1 deployments + {chunks} token "
        f"+ {chunks} PTU metric chunks) + 2 Log Analytics queries); {note}"
    )
    ideal = usage_requests * args.latency / args.concurrency
    print(
        f"  ideal {ideal:.1f} s (requests x latency / concurrency); whole live scan {total:.1f} s"
    )
    print(
        f"measured rows: {len(measured.platform):,} platform, "
        f"{sum(len(m.rows) for m in measured.metered):,} token-metric, "
        f"{len(measured.gateway):,} LLM-log, {len(measured.costs):,} cost"
    )
    started = time.monotonic()
    g = gap.measure(estate)
    assert g is not None
    block = g.report()
    print(f"gap computation: {time.monotonic() - started:.2f} s, {len(g.rows):,} allocation rows")
    base = to_dict(engine.run(plain, rules.load()))
    without = len(RENDERERS["json"](base).encode())
    base["usage"] = block
    with_usage = len(RENDERERS["json"](base).encode())
    allocation = len(json.dumps(block["allocation"]).encode())
    print(
        f"JSON report: {without:,} bytes without usage, {with_usage:,} with "
        f"(+{with_usage - without:,}; the allocation rows are {allocation:,})"
    )
    t = block["totals"]
    print(
        f"figures: {t['tokens']:,} tokens, cost {t['cost']:,.2f} ({block['cost_basis']}), "
        f"unattributed share {t['unattributed_share']}"
    )


if __name__ == "__main__":
    main()

"""The demo's measured usage (November 2026), built from a few daily figures per API and payer.

``python tests/demo_usage.py`` writes ``auditor/demo/contoso-usage.json``; a test checks that the
committed file is exactly what this script makes, and ``auditor/demo/EXPECTED.md`` computes the
money figures from the same daily figures by hand. Weekdays and weekend days differ (November
2026 has 21 weekdays and 9 weekend days), everything else is constant, so every total is
``21 x weekday + 9 x weekend``.

The story: Finance and Marketing use the pooled chat API through their subscriptions (a
little traffic with the built-in all-access subscription ``master``); Marketing's assistants
send a team header (``unknown`` when missing); a partner calls the partners' account directly
with a key (bypass), another through an API-scoped subscription that runs no metering; the
Responses API runs on a 15-PTU deployment; the legacy instruct model and the Event Hub API are
not metered at all.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "auditor" / "demo" / "contoso-usage.json"
SUB = "00000000-0000-0000-0000-000000000000"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-contoso-ai-gateway/providers"
COMPONENT = f"{RG}/Microsoft.Insights/components/appi-contoso-ai-gateway"
SERVICE = "contoso-ai-gateway"
START, END = date(2026, 11, 1), date(2026, 12, 1)
HR = "6c1f0d5e-0a71-4b8e-9c55-3f2e8a9b7d10"
LEGAL = "b2a7e4c9-5d3f-4e21-8f6a-1c9d0e7b3a55"

ACCOUNTS = {"contoso-eastus": "eastus", "contoso-westus": "westus", "contoso-partners": "eastus"}
DEPLOYMENTS = [
    ("contoso-eastus", "gpt-4o", "gpt-4o", "2024-08-06", "GlobalStandard", 450),
    ("contoso-eastus", "gpt-4.1-mini", "gpt-4.1-mini", "2025-04-14", "GlobalStandard", 1000),
    ("contoso-eastus", "gpt-4.1-ptu", "gpt-4.1", "2025-04-14", "GlobalProvisionedManaged", 15),
    ("contoso-eastus", "gpt-35-turbo-instruct", "gpt-35-turbo-instruct", "0914", "Standard", 120),
    ("contoso-eastus", "text-embedding-3-small", "text-embedding-3-small", "1", "Standard", 350),
    ("contoso-westus", "gpt-4o", "gpt-4o", "2024-08-06", "GlobalStandard", 450),
    ("contoso-partners", "gpt-4o", "gpt-4o", "2024-08-06", "GlobalStandard", 300),
]
MODEL_NAMES = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-ptu": "gpt-4.1-2025-04-14",
    "gpt-35-turbo-instruct": "gpt-35-turbo-instruct",
    "text-embedding-3-small": "text-embedding-3-small",
}

#: (API, account, deployment, metric dimensions or None when not metered,
#:  weekday (prompt, completion), weekend (prompt, completion)) per day.
TRAFFIC: list[tuple[str, str, str, dict[str, str] | None, tuple[int, int], tuple[int, int]]] = [
    # chat-finance: the pool splits gpt-4o evenly over East US and West US
    *(
        (
            "chat-finance",
            acct,
            "gpt-4o",
            {"Subscription ID": "finance-app", "Deployment": "gpt-4o"},
            (1_500_000, 300_000),
            (300_000, 60_000),
        )
        for acct in ("contoso-eastus", "contoso-westus")
    ),
    *(
        (
            "chat-finance",
            acct,
            "gpt-4o",
            {"Subscription ID": "master", "Deployment": "gpt-4o"},
            (10_000, 2_000),
            (0, 0),
        )
        for acct in ("contoso-eastus", "contoso-westus")
    ),
    (
        "chat-finance",
        "contoso-eastus",
        "gpt-4.1-mini",
        {"Subscription ID": "marketing-app", "Deployment": "gpt-4.1-mini"},
        (2_000_000, 400_000),
        (400_000, 80_000),
    ),
    # chat-missing-base: embeddings metered, the chat operation (no <base />) not
    (
        "chat-missing-base",
        "contoso-eastus",
        "text-embedding-3-small",
        {"Subscription ID": "marketing-app", "Deployment": "text-embedding-3-small"},
        (5_000_000, 0),
        (1_000_000, 0),
    ),
    ("chat-missing-base", "contoso-eastus", "gpt-4o", None, (1_000_000, 200_000), (0, 0)),
    # assistants-header-team: the caller's x-team-id header, "unknown" when missing
    (
        "assistants-header-team",
        "contoso-eastus",
        "gpt-4o",
        {"Team": "marketing"},
        (800_000, 160_000),
        (200_000, 40_000),
    ),
    (
        "assistants-header-team",
        "contoso-eastus",
        "gpt-4o",
        {"Team": "sales"},
        (400_000, 80_000),
        (0, 0),
    ),
    (
        "assistants-header-team",
        "contoso-eastus",
        "gpt-4o",
        {"Team": "unknown"},
        (200_000, 40_000),
        (100_000, 20_000),
    ),
    # completions-partner: metered through the partners product only
    (
        "completions-partner",
        "contoso-partners",
        "gpt-4o",
        {"Subscription ID": "partner-acme", "Deployment": "gpt-4o"},
        (1_500_000, 500_000),
        (500_000, 100_000),
    ),
    ("completions-partner", "contoso-partners", "gpt-4o", None, (600_000, 200_000), (0, 0)),
    # usage-eventhub: usage goes to Event Hub, not to the metrics store
    ("usage-eventhub", "contoso-eastus", "gpt-4o", None, (500_000, 100_000), (0, 0)),
    (
        "embeddings-spoofable",
        "contoso-eastus",
        "text-embedding-3-small",
        {"Subscription ID": "finance-app", "Deployment": "text-embedding-3-small"},
        (3_000_000, 0),
        (500_000, 0),
    ),
    # responses-entra on the PTU deployment; the metric has no API ID dimension
    (
        "responses-entra",
        "contoso-eastus",
        "gpt-4.1-ptu",
        {"Team": HR, "Subscription ID": "marketing-app"},
        (4_000_000, 1_000_000),
        (1_000_000, 250_000),
    ),
    (
        "responses-entra",
        "contoso-eastus",
        "gpt-4.1-ptu",
        {"Team": LEGAL, "Subscription ID": "marketing-app"},
        (2_000_000, 500_000),
        (0, 0),
    ),
    # gpt-legacy: metering commented out; batch jobs run every day
    (
        "gpt-legacy",
        "contoso-eastus",
        "gpt-35-turbo-instruct",
        None,
        (300_000, 100_000),
        (300_000, 100_000),
    ),
]
#: Calls made with the partners' account key, around the gateway.
BYPASS = {("contoso-partners", "gpt-4o"): ((4_000_000, 1_000_000), (2_000_000, 500_000))}
#: Average PTU utilization (%), weekday and weekend.
UTILIZATION = {("contoso-eastus", "gpt-4.1-ptu"): (60.0, 20.0)}
DIMENSIONS = ("Deployment", "Subscription ID", "Team")


def days() -> list[date]:
    return [START + timedelta(days=n) for n in range((END - START).days)]


def weekend(day: date) -> bool:
    return day.weekday() >= 5


def build() -> dict[str, Any]:
    platform: dict[tuple[str, str, str], list[int]] = {}
    metered: dict[tuple[str, str, tuple[str, ...]], list[int]] = {}
    gateway: dict[tuple[str, str, str, str], list[int]] = {}
    for day in days():
        d = day.isoformat()
        for api, acct, dep, dims, wd, we in TRAFFIC:
            i, o = we if weekend(day) else wd
            if not (i or o):
                continue
            _add(platform, (acct, dep, d), i, o)
            _add(gateway, (d, api, f"{acct}.openai.azure.com", dep), i, o)
            if dims is not None:
                api_dim = "" if api == "responses-entra" else api
                values = tuple(dims.get(name, "") for name in DIMENSIONS)
                _add(metered, (d, api_dim, values), i, o)
        for (acct, dep), (wd, we) in BYPASS.items():
            i, o = we if weekend(day) else wd
            _add(platform, (acct, dep, d), i, o)
    parts = []
    for acct in ACCOUNTS:
        parts += [
            {"kind": "deployments", "key": acct, "status": "read", "reason": ""},
            {"kind": "platform", "key": acct, "status": "read", "reason": ""},
            # NOTE: the audio token metrics were read and no deployment had audio (none of
            # the demo's models takes it): measured zero, not "not measured".
            {"kind": "audio", "key": acct, "status": "read", "reason": ""},
        ]
    parts += [
        {"kind": "utilization", "key": "contoso-eastus", "status": "read", "reason": ""},
        {"kind": "metrics", "key": COMPONENT, "status": "read", "reason": ""},
        {"kind": "llm-log", "key": SERVICE, "status": "read", "reason": ""},
        {
            "kind": "costs",
            "key": f"/subscriptions/{SUB}",
            "status": "forbidden",
            "reason": "403 AuthorizationFailed: the identity has no Cost Management Reader role",
        },
    ]
    doc = {
        "version": 1,
        "period": {"start": START.isoformat(), "end": END.isoformat()},
        "parts": parts,
        "deployments": [
            {
                "account": acct,
                "account_id": f"{RG}/Microsoft.CognitiveServices/accounts/{acct}",
                "region": ACCOUNTS[acct],
                "name": name,
                "model": model,
                "version": version,
                "sku": sku,
                "capacity": capacity,
                "created": "2026-06-02T09:30:00Z",
            }
            for acct, name, model, version, sku, capacity in DEPLOYMENTS
        ],
        "platform": {"rows": [[*k, *v] for k, v in platform.items()]},
        "utilization": {
            "rows": [
                [acct, dep, day.isoformat(), we if weekend(day) else wd]
                for (acct, dep), (wd, we) in UTILIZATION.items()
                for day in days()
            ]
        },
        "metered": [
            {
                "component": COMPONENT,
                "services": [SERVICE],
                "dimensions": list(DIMENSIONS),
                "rows": [[d, api, *vals, *v] for (d, api, vals), v in metered.items()],
            }
        ],
        "gateway": {
            "rows": [
                [SERVICE, d, api, host, dep, MODEL_NAMES[dep], *v]
                for (d, api, host, dep), v in gateway.items()
            ]
        },
        "costs": {"currency": None, "rows": []},
        "prices": None,
        "notes": [
            "demo: measured usage of the bundled demo estate for November 2026 (made-up figures "
            "that follow the demo's configuration; see auditor/demo/EXPECTED.md)"
        ],
    }
    from auditor.usage.measured import Usage

    return Usage.from_json(doc).to_json()


def _add(store: dict[Any, list[int]], key: Any, i: int, o: int) -> None:
    have = store.setdefault(key, [0, 0])
    have[0] += i
    have[1] += o


def text() -> str:
    from auditor.usage.measured import dumps

    return dumps(build()) + "\n"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    TARGET.write_text(text(), encoding="utf-8", newline="\n")
    print(f"wrote {TARGET}")

"""Benchmark the live scan against a fake Resource Manager with a fixed latency per request.

Usage (from the repository root, in the project venv with the ``live`` and test extras)::

    python bench/bench_live.py [--services 5] [--apis 200] [--ops 5] [--latency 0.1]
                               [--concurrency 16] [--page-size 100]

The fake Resource Manager (``tests/live/fake_arm.py``, HTTPS on 127.0.0.1 with a throwaway CA)
serves a generated estate: per service a global policy, ``--products`` products (each with a
policy and API links), ``--fragments`` policy fragments, an Application Insights and an Azure
Monitor logger, two diagnostics, two backends, subscriptions, and ``--apis`` APIs with a policy,
an Application Insights diagnostic and ``--ops`` operations (every other one with a policy); plus
two Azure OpenAI accounts with a diagnostic setting and one App Insights component. Every request
waits ``--latency`` seconds in the server.

Printed: requests made (and predicted by the formula below), wall time, the ideal time
``requests x latency / concurrency`` and the ratio wall / ideal (target <= 1.3), and the peak of
requests in flight (must not exceed ``--concurrency``).

Request formula (one subscription given, no workspaces)::

    total = 2 + X + C + sum over services of
            9 + 2P + F + sum over APIs of (3 + O)
            + extra pages: ceil(n / page) - 1 for every collection of n > page items

    2: APIM services list + AI accounts list;  X: diagnostic-settings list per OpenAI/AIServices
    account;  C: one GET per distinct App Insights component named by a logger;
    9 per service: global policy, APIs, products, subscriptions, policy fragments, loggers,
    backends, diagnostics, workspaces;  P products: policy + API links each;  F fragments: one
    rawxml GET each;  per API: policy, operations list, diagnostics list, + one policy GET per
    operation (O).  A workspace adds 7 + 2P_w + F_w + its APIs' (3 + O) the same way (its
    policy, APIs, products, subscriptions, fragments, loggers, backends); listing every
    subscription (no --subscription) adds 1. Retries add what they retry.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "live")]

from fake_arm import RG, SUB, TOKEN, FakeArm  # noqa: E402

from auditor.sources import live  # noqa: E402
from auditor.sources.live.credentials import StaticTokenCredential  # noqa: E402

TARGET_RATIO = 1.3
T = "Microsoft.ApiManagement/service"
COMPONENT = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Insights/components/appi"

API_POLICY = """<policies>
  <inbound>
    <base />
    <llm-emit-token-metric namespace="ai">
      <dimension name="Subscription ID" />
    </llm-emit-token-metric>
    <set-header name="x-attribution-id" exists-action="override">
      <value>@(context.Subscription.Id)</value>
    </set-header>
    <set-backend-service backend-id="aoai-{n}" />
  </inbound>
  <backend><base /></backend>
  <outbound><base /></outbound>
  <on-error><base /></on-error>
</policies>"""
OP_POLICY = (
    '<policies><inbound><base /><set-query-parameter name="api-version" '
    'exists-action="skip"><value>2024-10-21</value></set-query-parameter></inbound>'
    "<backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>"
    "</policies>"
)
GLOBAL = (
    '<policies><inbound><include-fragment fragment-id="frag-0" /></inbound><backend>'
    "<forward-request /></backend><outbound /><on-error /></policies>"
)


def _policy(rtype: str, name: str, text: str) -> dict[str, Any]:
    return {"type": rtype, "name": name, "properties": {"format": "rawxml", "value": text}}


def estate(
    services: int, apis: int, ops: int, products: int, fragments: int
) -> list[dict[str, Any]]:
    """The generated resources (snapshot shape, as the fake serves them)."""
    out: list[dict[str, Any]] = []
    for s in range(services):
        svc = f"apim-{s}"
        out += [{"type": T, "name": svc}, _policy(f"{T}/policies", f"{svc}/policy", GLOBAL)]
        for f in range(fragments):
            text = '<fragment><set-variable name="f" value="1" /></fragment>'
            out.append(_policy(f"{T}/policyFragments", f"{svc}/frag-{f}", text))
        for p in range(products):
            out.append(
                {
                    "type": f"{T}/products",
                    "name": f"{svc}/team-{p}",
                    "properties": {"displayName": f"Team {p}", "subscriptionRequired": True},
                }
            )
            out.append(_policy(f"{T}/products/policies", f"{svc}/team-{p}/policy", OP_POLICY))
            out.append(
                {
                    "type": f"{T}/subscriptions",
                    "name": f"{svc}/sub-{p}",
                    "properties": {"scope": f"/products/team-{p}", "state": "active"},
                }
            )
        out += [
            {
                "type": f"{T}/loggers",
                "name": f"{svc}/appinsights",
                "properties": {"loggerType": "applicationInsights", "resourceId": COMPONENT},
            },
            {
                "type": f"{T}/loggers",
                "name": f"{svc}/azuremonitor",
                "properties": {"loggerType": "azureMonitor"},
            },
            {
                "type": f"{T}/diagnostics",
                "name": f"{svc}/applicationinsights",
                "properties": {"loggerId": "/loggers/appinsights", "metrics": True},
            },
            {
                "type": f"{T}/diagnostics",
                "name": f"{svc}/azuremonitor",
                "properties": {"loggerId": "/loggers/azuremonitor"},
            },
        ]
        for b in range(2):
            out.append(
                {
                    "type": f"{T}/backends",
                    "name": f"{svc}/aoai-{b}",
                    "properties": {"url": f"https://aoai-{b}.openai.azure.com/openai"},
                }
            )
        for a in range(apis):
            api = f"chat-{a:04d}"
            out.append(
                {
                    "type": f"{T}/apis",
                    "name": f"{svc}/{api}",
                    "properties": {
                        "displayName": api,
                        "path": f"{api}/openai",
                        "serviceUrl": f"https://aoai-{a % 2}.openai.azure.com/openai",
                        "subscriptionRequired": True,
                        "type": "http",
                    },
                }
            )
            out.append({"type": f"{T}/products/apis", "name": f"{svc}/team-{a % products}/{api}"})
            out.append(
                _policy(f"{T}/apis/policies", f"{svc}/{api}/policy", API_POLICY.format(n=a % 2))
            )
            out.append(
                {
                    "type": f"{T}/apis/diagnostics",
                    "name": f"{svc}/{api}/applicationinsights",
                    "properties": {"loggerId": "/loggers/appinsights", "metrics": True},
                }
            )
            for o in range(ops):
                op = f"op-{o}"
                out.append(
                    {
                        "type": f"{T}/apis/operations",
                        "name": f"{svc}/{api}/{op}",
                        "properties": {"method": "POST", "urlTemplate": f"/deployments/{{d}}/{op}"},
                    }
                )
                if o % 2 == 0:
                    out.append(
                        _policy(
                            f"{T}/apis/operations/policies", f"{svc}/{api}/{op}/policy", OP_POLICY
                        )
                    )
    for b in range(2):
        out.append(
            {
                "type": "Microsoft.CognitiveServices/accounts",
                "name": f"aoai-{b}",
                "properties": {
                    "endpoints": {"OpenAI": f"https://aoai-{b}.openai.azure.com/"},
                    "disableLocalAuth": True,
                    "publicNetworkAccess": "Disabled",
                },
            }
        )
        out.append(
            {
                "type": "Microsoft.Insights/diagnosticSettings",
                "name": "to-law",
                "scope": f"/providers/Microsoft.CognitiveServices/accounts/aoai-{b}",
                "properties": {
                    "workspaceId": "/subscriptions/x/workspaces/law",
                    "logs": [{"categoryGroup": "allLogs", "enabled": True}],
                },
            }
        )
    out.append(
        {
            "type": "Microsoft.Insights/components",
            "name": "appi",
            "id": COMPONENT,
            "properties": {"CustomMetricsOptedInType": "WithDimensions"},
        }
    )
    return out


def predicted(args: argparse.Namespace) -> int:
    """The request formula of the module docstring for the generated estate."""

    def pages(n: int) -> int:
        return max(1, math.ceil(n / args.page_size))

    accounts, components = 2, 1
    links_per_product = [
        sum(1 for a in range(args.apis) if a % args.products == p) for p in range(args.products)
    ]
    per_service = (
        9
        + 2 * args.products
        + args.fragments
        + args.apis * (3 + args.ops)
        + (pages(args.apis) - 1)
        + sum(pages(n) - 1 for n in links_per_product)
    )
    return pages(args.services) + 1 + accounts + components + args.services * per_service


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--services", type=int, default=5)
    ap.add_argument("--apis", type=int, default=200)
    ap.add_argument("--ops", type=int, default=5)
    ap.add_argument("--products", type=int, default=3)
    ap.add_argument("--fragments", type=int, default=2)
    ap.add_argument("--latency", type=float, default=0.1, help="seconds per request (server)")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--page-size", type=int, default=100, help="items per collection page")
    args = ap.parse_args()

    resources = estate(args.services, args.apis, args.ops, args.products, args.fragments)
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeArm(resources, latency=args.latency, page_size=args.page_size).start(Path(tmp))
        try:
            options = live.LiveOptions(
                subscriptions=(SUB,),
                arm_endpoint=fake.url,
                ca_bundle=fake.ca_path,
                concurrency=args.concurrency,
                credential=StaticTokenCredential(TOKEN),
            )
            start = time.perf_counter()
            est = live.load(options)
            wall = time.perf_counter() - start
        finally:
            fake.stop()
    made = len(fake.requests)
    ideal = made * args.latency / args.concurrency
    ratio = wall / ideal if ideal else float("nan")
    expect = predicted(args)
    apis = sum(len(s.apis) for s in est.services)
    print(
        f"estate: {args.services} services x {args.apis} APIs x {args.ops} operations "
        f"({apis} APIs read, {len(est.read_errors)} read errors)"
    )
    print(f"latency {args.latency * 1000:.0f} ms/request, concurrency {args.concurrency}")
    match = "OK" if made == expect else "MISMATCH"
    print(f"requests: {made} (predicted by the formula: {expect}) {match}")
    print(f"wall: {wall:.2f} s; ideal (requests x latency / concurrency): {ideal:.2f} s")
    verdict = "OK" if ratio <= TARGET_RATIO else "ABOVE TARGET"
    print(f"ratio wall/ideal: {ratio:.3f} (target <= {TARGET_RATIO}) {verdict}")
    print(f"peak requests in flight: {fake.max_in_flight} (cap {args.concurrency})")
    print(f"estate notes: {est.notes[0]}")
    ok = made == expect and ratio <= TARGET_RATIO and fake.max_in_flight <= args.concurrency
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

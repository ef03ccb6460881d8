"""At 80x24 nothing is cut that cannot be reached: every screen, on the demo and on a larger,
wordier estate, checked by :func:`tuisupport.cut_off` (text that needs more room than it has,
clipped widgets nothing scrolls to, footer keys past the edge)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets._footer import FooterKey
from tuisupport import cut_off, screen_lines, settle

from auditor.tui.app import AuditorApp
from auditor.tui.screens import (
    DetailScreen,
    ExportScreen,
    FindingsScreen,
    HelpScreen,
    MoneyScreen,
    OverviewScreen,
)

Report = dict[str, Any]
SMALL = (80, 24)
LONG_SERVICE = "apim-${uniqueString(subscription().id, resourceGroup().id)} (labs/lab/main.bicep)"


@pytest.fixture(scope="module")
def money_report(scan_demo: Callable[..., Report]) -> Report:
    from auditor.usage.options import demo_usage_path

    return scan_demo(usage_file=demo_usage_path())


def wordy(report: Report, copies: int = 6) -> Report:
    """The demo made larger and wordier: each API six times under long names in a service whose
    name is a Bicep expression, findings at deep paths, many warnings and source limits."""
    big = copy.deepcopy(report)
    apis, findings = [], []
    for n in range(copies):
        for api in report["apis"]:
            name = f"{api['name']}-westeurope-production-{n:03}"
            apis.append(
                {**api, "name": name, "id": f"{LONG_SERVICE}/{name}", "service": LONG_SERVICE}
            )
            for f in report["findings"]:
                if f["api"] != api["name"]:
                    continue
                g = copy.deepcopy(f)
                g.update(api=name, service=LONG_SERVICE)
                g["target"] = str(f["target"]).replace(api["name"], name, 1)
                g["message"] = str(f["message"]).replace(api["name"], name)
                if g.get("location"):
                    g["location"]["path"] = (
                        f"infra/environments/production/westeurope/apim/{name}/"
                        + g["location"]["path"]
                    )
                g["fingerprint"] = f"{g['fingerprint']}-{n}"
                findings.append(g)
    big["apis"], big["findings"] = apis, findings
    big["warnings"] = [
        f"waiver {n} for rule COV00{n} on 'chat-finance-westeurope-production-00{n}' matched "
        "nothing in this scan; it may name an API that was renamed or removed"
        for n in range(6)
    ]
    big["expired_waivers"] = [
        {
            "rule": "IDN002",
            "target": f"embeddings-spoofable-{n}",
            "owner": "x",
            "expires": "2026-01-01",
        }
        for n in range(2)
    ]
    big["limits"] = [
        {
            "count": 70 + n,
            "kind": f"loops over items only known at deployment, kind {n}",
            "limits": True,
        }
        for n in range(5)
    ]
    return big


def check(app: AuditorApp, where: str, seen: dict[str, list[str]]) -> None:
    seen[where] = cut_off(app)
    if any(isinstance(w, FooterKey) for w in app.screen.query(FooterKey)):
        keys = {k.key for k in app.screen.query(FooterKey)}
        assert "question_mark" in keys, f"{where}: the help key is not in the footer"


async def visit_every_screen(app: AuditorApp, pilot: Any) -> dict[str, list[str]]:
    """Overview (list and tree), findings (long filter), detail (both panes), money, export
    (refusing an unknown extension: its longest words), help, and a failed rescan's header."""
    seen: dict[str, list[str]] = {}
    await settle(pilot)
    assert isinstance(app.screen, OverviewScreen)
    check(app, "overview", seen)
    await pilot.press("tab", "down", "down", "space")  # the tree: an API opened
    check(app, "overview, tree", seen)
    await pilot.press("n")
    check(app, "overview, non-LLM shown", seen)
    await pilot.press("f", "g", "v", "v", "slash", *"chat", "enter")
    await settle(pilot)
    assert isinstance(app.screen, FindingsScreen)
    check(app, "findings, filtered", seen)
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(app.screen, DetailScreen)
    check(app, "detail", seen)
    await pilot.press("tab")
    check(app, "detail, policy", seen)
    await pilot.press("escape")
    if app.report is not None and app.report.get("usage"):
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, MoneyScreen)
        check(app, "money", seen)
    await pilot.press("e")
    await pilot.pause()
    assert isinstance(app.screen, ExportScreen)
    field = app.screen.query_one("#export-path")
    field.value = "reports/from-the-tui/attribution-report-for-the-whole-estate.weird"  # type: ignore[attr-defined]
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(app.screen, ExportScreen)
    check(app, "export, refused", seen)
    await pilot.press("escape", "question_mark")
    await pilot.pause()
    assert isinstance(app.screen, HelpScreen)
    check(app, "help", seen)
    await pilot.press("escape", "o", "r")
    await settle(pilot)
    assert "STALE" in screen_lines(app)[0]
    check(app, "overview, stale", seen)
    return seen


@pytest.mark.asyncio
@pytest.mark.parametrize("estate", ["demo", "wordy"])
async def test_nothing_is_cut_at_80x24_that_cannot_be_reached(
    make: Callable[..., AuditorApp],
    make_loader: Any,
    money_report: Report,
    tmp_path: Path,
    estate: str,
) -> None:
    report = copy.deepcopy(money_report) if estate == "demo" else wordy(money_report)
    label = tmp_path.joinpath("checkouts", "platform-team", "ai-gateway-landing-zone", "infra")
    label.mkdir(parents=True)
    app = make(label=str(label), report=report, load=make_loader(report, fail=True))
    async with app.run_test(size=SMALL) as pilot:
        seen = await visit_every_screen(app, pilot)
    assert {where: cut for where, cut in seen.items() if cut} == {}
    assert len(seen) == 10

"""The money view, driven with Textual's Pilot: the demo report with its measured usage."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Select, Static

from auditor.tui.app import AuditorApp
from auditor.tui.screens import ExportScreen, HelpScreen, MoneyScreen, OverviewScreen

Report = dict[str, Any]
SMALL = (80, 24)
BIG = (120, 40)


@pytest.fixture(scope="module")
def money_report(scan_demo: Callable[..., Report]) -> Report:
    from auditor.usage.options import demo_usage_path

    return scan_demo(usage_file=demo_usage_path())


def rows(app: AuditorApp, selector: str) -> list[list[str]]:
    table = app.screen.query_one(selector, DataTable)
    return [[str(c) for c in table.get_row_at(n)] for n in range(table.row_count)]


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [BIG, SMALL])
async def test_money_view(make: Callable[..., AuditorApp], money_report: Report, size: Any) -> None:
    app = make(report=money_report)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, MoneyScreen)
        line = str(app.screen.query_one("#money-line", Static).render())
        assert line == (
            "30.4 % of tokens (≈ $872 a month) cannot be charged to a team; "
            "$510 of it bypasses the gateway"
        )
        details = str(app.screen.query_one("#money-details", Static).render())
        assert "$12,216.22" in details and "idle PTU capacity $5,616.00" in details
        deployments = {r[0]: r for r in rows(app, "#money-deployments")}
        assert deployments["contoso-partners/gpt-4o"][5] == "127,500,000"  # bypass tokens
        assert deployments["contoso-eastus/gpt-4.1-ptu"][7] == "$5,616.00"  # idle
        assert deployments["contoso-eastus/gpt-35-turbo-instruct"][6] == "–"  # unpriced
        payers = rows(app, "#money-payers")
        assert payers[0][:3] == [
            "Team=6c1f0d5e-0a71-4b8e-9c55-3f2e8a9b7d10",
            "116,250,000",
            "$3,672.00",
        ]
        leaks = rows(app, "#money-apis")
        assert leaks[0][0] == "contoso-ai-gateway/assistants-header-team"
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)


@pytest.mark.asyncio
async def test_money_key_only_with_usage(
    make: Callable[..., AuditorApp], money_report: Report
) -> None:
    app = make()  # the demo report without usage
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)  # nothing to show: the key does nothing
    app = make(report=money_report)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "who pays, what cannot be charged" in str(
            app.screen.query_one("#help-text", Static).render()
        )


@pytest.mark.asyncio
async def test_export_focus_from_the_tui(
    make: Callable[..., AuditorApp], money_report: Report, tmp_path: Path
) -> None:
    app = make(report=money_report)
    target = tmp_path / "allocation.csv"
    async with app.run_test(size=BIG) as pilot:
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)
        app.screen.query_one("#export-format", Select).value = "focus"
        await pilot.pause()
        app.screen.query_one("#export-path", Input).value = str(target)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
    data = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert sum(Decimal(r["EffectiveCost"]) for r in data) == Decimal("12216.222")

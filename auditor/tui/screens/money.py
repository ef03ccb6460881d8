"""The money view: what the measured usage cost, who pays, and what cannot be charged.

It shows the report's ``usage`` object through the same words and figures as the file reports
(:mod:`auditor.render.money`): the headline, the basis, then tables per deployment, per payer
and per leaking API. A report without usage says how to get it.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import DataTable, Header, Static

from auditor.render.money import (
    amount,
    deployment_label,
    detail_lines,
    leaking_apis,
    money_line,
    payer_rows,
    percent,
    tokens,
)
from auditor.tui.screens.base import ReportScreen
from auditor.tui.widgets import KeyFooter

NO_USAGE = (
    "No measured usage in this report. Scan with --azure --usage 30d (or open a snapshot or a "
    "saved report that holds it) to see tokens and money per deployment, payer and API."
)


class MoneyScreen(ReportScreen):
    """Tokens and money of the measured period."""

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="body"):
            yield Static(id="money-line")
            yield Static(id="money-details")
            yield Static("By deployment", classes="section-title")
            yield DataTable(id="money-deployments", cursor_type="row", zebra_stripes=True)
            yield Static("By payer", classes="section-title")
            yield DataTable(id="money-payers", cursor_type="row", zebra_stripes=True)
            yield Static("APIs with unattributed tokens", classes="section-title")
            yield DataTable(id="money-apis", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def show_report(self) -> None:
        report = self.auditor.report
        assert report is not None
        usage: dict[str, Any] | None = report.get("usage")
        line = self.query_one("#money-line", Static)
        details = self.query_one("#money-details", Static)
        tables = self.query(DataTable)
        for t in tables:
            t.clear(columns=True)
        if not usage:
            line.update(Content(NO_USAGE))
            details.display = False
            for t in tables:
                t.display = False
            for title in self.query(".section-title"):
                title.display = False
            return
        line.update(Content.styled(money_line(usage), "bold $warning"))
        details.update(Content("\n".join(detail_lines(usage))))
        cur = usage["currency"]
        deps = self.query_one("#money-deployments", DataTable)
        deps.add_columns(
            "deployment",
            "model",
            "type",
            "tokens",
            "unattributed",
            "bypass",
            "cost",
            "idle",
            "basis",
        )
        for d in usage.get("deployments", []):
            deps.add_row(
                deployment_label(d),
                d["model"] or "?",
                d["sku"] or "?",
                tokens(d["tokens"]),
                tokens(d["unattributed_tokens"]),
                tokens(d["bypass_tokens"]),
                _cost(d["cost"], cur),
                _cost(d["idle_cost"], cur),
                d["cost_basis"],
            )
        payers = self.query_one("#money-payers", DataTable)
        payers.add_columns("payer", "tokens", "cost", "share")
        for row in payer_rows(usage, limit=len(usage.get("payers", []))):
            payers.add_row(*row)
        apis = self.query_one("#money-apis", DataTable)
        apis.add_columns("API", "tokens", "unattributed", "share", "cost", "payer dimension")
        for a in leaking_apis(usage, limit=len(usage.get("apis", []))):
            apis.add_row(
                a["id"],
                tokens(a["tokens"]),
                tokens(a["unattributed_tokens"]),
                percent(a["unattributed_share"]),
                _cost(a["unattributed_cost"], cur),
                f"{a['payer_dimension'] or 'none'} ({a['payer_trust']})",
            )


def _cost(value: float | None, currency: str) -> str:
    return "–" if value is None else amount(value, currency)

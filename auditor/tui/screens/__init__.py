"""The screens: overview, findings, money, finding detail, help and the export dialog."""

from __future__ import annotations

from auditor.tui.screens.detail import DetailScreen
from auditor.tui.screens.export import ExportScreen
from auditor.tui.screens.findings import FindingsScreen
from auditor.tui.screens.help import HelpScreen
from auditor.tui.screens.money import MoneyScreen
from auditor.tui.screens.overview import OverviewScreen

__all__ = [
    "DetailScreen",
    "ExportScreen",
    "FindingsScreen",
    "HelpScreen",
    "MoneyScreen",
    "OverviewScreen",
]

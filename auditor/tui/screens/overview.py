"""The overview: score, the four signal gauges, the top gaps and the estate tree."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Header, Static

from auditor.rules import SIGNALS
from auditor.tui import model
from auditor.tui.screens.base import ReportScreen
from auditor.tui.widgets import (
    GAP_COLUMNS,
    EstateTree,
    FindingsTable,
    KeyFooter,
    Notices,
    SignalGauge,
    badge_legend,
)


class OverviewScreen(ReportScreen):
    """Where the TUI opens: how attributable the estate is, and where it is not."""

    AUTO_FOCUS = "#gaps"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy_fix", "Copy fix", show=False, tooltip="Copy the highlighted gap's fix"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            with Vertical(id="estate-pane"):
                yield Static("Estate", classes="pane-title", id="estate-title")
                yield EstateTree(id="estate")
                yield Static(id="estate-legend")
            with Vertical(id="summary-pane"):
                yield Static(id="score")
                with Notices(id="warnings-box"):
                    yield Static(id="warnings")
                with Vertical(id="gauges"):
                    for signal in SIGNALS:
                        yield SignalGauge(id=f"gauge-{signal}")
                yield Static("Top gaps", classes="pane-title", id="gaps-title")
                yield FindingsTable(
                    GAP_COLUMNS, empty="No open gaps: every failing finding is accepted.", id="gaps"
                )
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self.watch(self.app, "show_non_llm", lambda _: self._fill_tree())

    def show_report(self) -> None:
        report = self.auditor.report
        assert report is not None
        s = model.summary(report)
        self.query_one("#score", Static).update(
            Content.assemble(
                "Score ",
                (s.score_text, "bold $accent"),
                f" · {s.llm_apis} of {s.apis} APIs front an LLM",
                (f" · {s.undecided} undecided" if s.undecided else "", "bold $warning"),
                "\n",
                (f"{s.open} open gaps", "bold $error" if s.open else "$success"),
                " (failing, medium or higher)",
                (f" · {s.unreadable} unreadable" if s.unreadable else "", "bold $error"),
                f" · {s.notes} notes · {s.suppressed} accepted · {s.unknown} unknown",
                f" · {s.checks} checks",
            )
        )
        notes = [f"⚠ {w}" for w in report.get("warnings", [])] + [
            f"⚠ waiver {w['rule']} '{w['target']}' expired on {w['expires']}"
            for w in report.get("expired_waivers", [])
        ]
        if s.limits:
            notes.append(f"⚠ not shown by the source: {'; '.join(s.limits)}")
        # NOTE: every note, in a box of three rows that scrolls: cut to fit, the rest was lost.
        self.query_one("#warnings", Static).update(Content("\n".join(notes)))
        self.query_one("#warnings-box").display = bool(notes)
        for row in s.signals:
            self.query(f"#gauge-{row.id}").first(SignalGauge).row = row
        gaps = model.top_gaps(report)
        self.query_one("#gaps-title", Static).update(
            f"Top gaps ({len(gaps)})  enter opens one · f lists all"
        )
        self.query_one("#gaps", FindingsTable).set_rows(gaps)
        self._fill_tree()

    def _fill_tree(self) -> None:
        report = self.auditor.report
        if report is None:
            return
        services = model.estate(report, include_non_llm=self.auditor.show_non_llm)
        hidden = sum(s.hidden for s in services)
        title = "Estate" + (f"  (n shows {hidden} non-LLM)" if hidden else "")
        self.query_one("#estate-title", Static).update(title)
        self.query_one(EstateTree).populate(services, plain=self.app.no_color)
        self.query_one("#estate-legend", Static).update(badge_legend(self.app.no_color))

    def on_estate_tree_chosen(self, event: EstateTree.Chosen) -> None:
        ref = event.ref
        text = ref.target if ref.kind == "operation" and ref.target else ""
        self.auditor.show_findings(api=ref.api, text=text)

    def on_findings_table_selected(self, event: FindingsTable.Selected) -> None:
        self.auditor.open_finding(event.finding, event.table.rows)

    def action_copy_fix(self) -> None:
        finding = self.query_one("#gaps", FindingsTable).current
        if finding is not None:
            self.auditor.copy_fix(finding)

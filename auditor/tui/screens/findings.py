"""Every finding in a sortable, filterable table, with incremental search."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Header, Input, Select, Static

from auditor.rules import SEVERITIES, SIGNALS
from auditor.tui import model
from auditor.tui.screens.base import ReportScreen
from auditor.tui.widgets import FindingsTable, KeyFooter, Notices

ANY = ""
_STATUS_LABELS = {
    "issues": "issues (open)",
    "fail": "fail",
    "error": "error",
    "skip": "skip (unknown)",
    "pass": "pass",
    "suppressed": "suppressed",
    "all": "any status",
}


_ANY_LABEL = {"signal": "any signal", "severity": "any severity", "api": "any API"}


class FindingsScreen(ReportScreen):
    """The findings table; the filters are the four selects plus the search text."""

    AUTO_FOCUS = "#findings"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash", "search", "Search", tooltip="Search as you type: rule, API, message, file"
        ),
        # NOTE: s is said in the status line and the help; the footer is full at 80 columns.
        Binding("s", "sort_next", "Sort", show=False, tooltip="Sort by the next column"),
        Binding("S", "sort_reverse", "Reverse", show=False, tooltip="Reverse the sort order"),
        Binding("g", "cycle('signal')", "Signal", show=False, tooltip="Next signal filter"),
        Binding("v", "cycle('severity')", "Severity", show=False, tooltip="Next severity filter"),
        Binding("u", "cycle('status')", "Status", show=False, tooltip="Next status filter"),
        Binding(
            "a",
            "filter_api",
            "This API",
            show=False,
            tooltip="Only the highlighted finding's API (again: any API)",
        ),
        Binding("x", "clear_filters", "Clear filters", show=False, tooltip="Reset every filter"),
        Binding("c", "copy_fix", "Copy fix", tooltip="Copy the highlighted finding's fix"),
        Binding("escape", "escape", "Clear search", show=False, tooltip="Clear the search text"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sort = model.Sort()
        self.choices: dict[str, list[str]] = {
            "signal": [ANY, *SIGNALS, "source"],
            "severity": [ANY, *reversed(SEVERITIES)],
            "status": list(_STATUS_LABELS),
            "api": [ANY],
        }

    def options(self, name: str) -> list[tuple[str, str]]:
        """(label, value) pairs of one filter's select."""
        if name == "status":
            return [(_STATUS_LABELS[v], v) for v in self.choices[name]]
        return [(_ANY_LABEL[name] if v == ANY else v, v) for v in self.choices[name]]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="body"):
            with Horizontal(id="filters"):
                for name in ("signal", "severity", "status", "api"):
                    yield Select(
                        self.options(name),
                        value="issues" if name == "status" else ANY,
                        allow_blank=False,
                        compact=True,
                        id=f"filter-{name}",
                    )
            yield Input(
                placeholder="search rule, API, message, file…  (enter: table, esc: clear)",
                compact=True,
                id="search",
            )
            yield FindingsTable(id="findings")
            # NOTE: the highlighted finding's message and fix, in a few rows that scroll when
            # they run longer (enter shows the whole finding).
            with Notices(id="preview-box"):
                yield Static(id="preview")
            yield Static(id="findings-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#search", Input).display = False
        super().on_mount()

    def on_screen_resume(self) -> None:
        self.apply_pending()

    # -- filters -----------------------------------------------------------------------------

    def current_filter(self) -> model.Filter:
        def value(name: str) -> str | None:
            v = self.query_one(f"#filter-{name}", Select).value
            return v if isinstance(v, str) and v != ANY else None

        return model.Filter(
            signal=value("signal"),
            severity=value("severity"),
            status=value("status") or "all",
            api=value("api"),
            text=self.query_one("#search", Input).value,
        )

    def apply_pending(self) -> None:
        """Apply a filter the app asked for (the estate tree chose an API or operation)."""
        pending = self.auditor.pending_filter
        if pending is None or self.auditor.report is None:
            return
        self.auditor.pending_filter = None
        api, text = pending
        with self.prevent(Select.Changed, Input.Changed):
            self._set_api_options()
            self.query_one("#filter-api", Select).value = api or ANY
            self.query_one("#filter-status", Select).value = "all" if text else "issues"
            search = self.query_one("#search", Input)
            search.value = text
            search.display = bool(text)
        self.refresh_table()

    def show_report(self) -> None:
        with self.prevent(Select.Changed):
            self._set_api_options()
        self.apply_pending()
        self.refresh_table()

    def _set_api_options(self) -> None:
        report = self.auditor.report
        if report is None:
            return
        select = self.query_one("#filter-api", Select)
        current = select.value
        names = model.api_names(report)
        self.choices["api"] = [ANY, *names]
        select.set_options(self.options("api"))
        select.value = current if current in names else ANY

    def refresh_table(self) -> None:
        index = self.auditor.index
        if index is None:
            return
        flt = self.current_filter()
        rows = index.select(flt, self.sort)
        self.query_one("#findings", FindingsTable).set_rows(rows, self.sort)
        arrow = "▼" if self.sort.descending else "▲"
        self.query_one("#findings-status", Static).update(
            Content.assemble(
                (f"{len(rows)} of {len(index.findings)} findings", "bold"),
                f" · {flt.describe()} · sorted by {self.sort.key} {arrow} (s, S)",
            )
        )

    @on(Select.Changed)
    @on(Input.Changed, "#search")
    def _filters_changed(self) -> None:
        self.refresh_table()

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.query_one("#findings", FindingsTable).focus()

    def on_findings_table_highlighted(self, event: FindingsTable.Highlighted) -> None:
        preview = self.query_one("#preview", Static)
        self.query_one("#preview-box").scroll_home(animate=False)
        f = event.finding
        if f is None:
            preview.update("")
            return
        preview.update(
            Content.assemble(
                (f"{f['rule']} ", "bold"),
                str(f.get("message", "")),
                "\n",
                ("fix: ", "bold $success"),
                str(f.get("fix", "")),
            )
        )

    def on_findings_table_selected(self, event: FindingsTable.Selected) -> None:
        self.auditor.open_finding(event.finding, event.table.rows)

    def on_findings_table_sort_requested(self, event: FindingsTable.SortRequested) -> None:
        self.sort = self.sort.toggled(event.key)
        self.refresh_table()

    # -- actions -----------------------------------------------------------------------------

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.display = True
        search.focus()

    def action_escape(self) -> None:
        search = self.query_one("#search", Input)
        if search.value or search.display:
            search.value = ""
            search.display = False
        self.query_one("#findings", FindingsTable).focus()

    def action_sort_next(self) -> None:
        self.sort = self.sort.next()
        self.refresh_table()

    def action_sort_reverse(self) -> None:
        self.sort = model.Sort(self.sort.key, not self.sort.descending)
        self.refresh_table()

    def action_cycle(self, name: str) -> None:
        select: Select[str] = self.query_one(f"#filter-{name}", Select)
        current = select.value if isinstance(select.value, str) else ANY
        select.value = str(model.cycle(self.choices[name], current))

    def action_filter_api(self) -> None:
        select: Select[str] = self.query_one("#filter-api", Select)
        finding = self.query_one("#findings", FindingsTable).current
        if select.value != ANY:
            select.value = ANY
        elif finding is not None and finding.get("api"):
            select.value = str(finding["api"])

    def action_clear_filters(self) -> None:
        with self.prevent(Select.Changed, Input.Changed):
            for name in ("signal", "severity", "api"):
                self.query_one(f"#filter-{name}", Select).value = ANY
            self.query_one("#filter-status", Select).value = "issues"
            self.query_one("#search", Input).value = ""
            self.query_one("#search", Input).display = False
        self.refresh_table()

    def action_copy_fix(self) -> None:
        finding = self.query_one("#findings", FindingsTable).current
        if finding is not None:
            self.auditor.copy_fix(finding)

"""Every key binding, read from the bindings themselves so the list cannot go stale."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.actions import parse
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from auditor.rules import SIGNALS
from auditor.tui import model

if TYPE_CHECKING:
    from textual.app import App

EXTRA = {
    "Everywhere": [("tab / shift+tab", "Move between panes and filters")],
    "Tables": [
        ("↑ ↓ / j k", "Move the cursor"),
        ("pgup pgdn home end", "Page, first, last"),
        ("enter / click", "Open the finding (click a header to sort by it)"),
    ],
    "Estate tree": [
        ("enter / click", "Show the findings of the API or operation"),
        ("space", "Expand or collapse"),
    ],
}


def binding_rows(app: App[object], bindings: list[BindingType]) -> list[tuple[str, str]]:
    rows = []
    for b in bindings:
        if not isinstance(b, Binding):
            continue
        _, name, params = parse(b.action)
        offered = getattr(app, "offered", None)
        if offered is not None and not offered(name, params):
            continue  # a key that does nothing with this report (money without usage)
        keys = " / ".join(
            app.get_key_display(Binding(k.strip(), b.action)) for k in b.key.split(",")
        )
        rows.append((keys, b.tooltip or b.description))
    return rows


def source_rows(label: str, report: dict[str, object] | None) -> list[tuple[str, str]]:
    """What the app was opened on, whole (the header may cut it), and what the report scanned
    when that is something else (a saved report names its source)."""
    from auditor.sources import DEMO_LOCATION, is_demo

    rows = [("Opened on", DEMO_LOCATION if is_demo(label) else label)]
    source = report.get("source") if report else None
    if isinstance(source, dict):
        location = str(source.get("location") or "")
        shown = DEMO_LOCATION if is_demo(location) else location
        if shown and shown != rows[0][1] and not is_demo(label):
            rows.append(("Scanned", shown))
        if source.get("kind"):
            rows.append(("Source kind", str(source["kind"])))
    return rows


class HelpScreen(ModalScreen[None]):
    """A modal list of the key bindings per screen, and the badge legend."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "app.pop_screen", "Close help"),
    ]

    def compose(self) -> ComposeResult:
        from auditor.tui.app import AuditorApp
        from auditor.tui.screens.detail import DetailScreen
        from auditor.tui.screens.export import ExportScreen
        from auditor.tui.screens.findings import FindingsScreen
        from auditor.tui.screens.overview import OverviewScreen

        groups = {
            "Everywhere": binding_rows(self.app, AuditorApp.BINDINGS),
            "Overview": binding_rows(self.app, OverviewScreen.BINDINGS),
            "Findings": binding_rows(self.app, FindingsScreen.BINDINGS),
            "Finding detail": binding_rows(self.app, DetailScreen.BINDINGS),
            "Export dialog": binding_rows(self.app, ExportScreen.BINDINGS)
            + [("enter", "Write the file")],
        }
        for name, rows in EXTRA.items():
            groups.setdefault(name, []).extend(rows)
        app = cast("AuditorApp", self.app)
        parts: list[Content] = [Content.styled("Report", "bold $accent")]
        parts.extend(
            Content.assemble((f"  {k:<20}", "bold"), v)
            for k, v in source_rows(app.label, app.report)
        )
        parts.append(Content(""))
        for name, rows in groups.items():
            parts.append(Content.styled(name, "bold $accent"))
            parts.extend(Content.assemble((f"  {keys:<20}", "bold"), desc) for keys, desc in rows)
            parts.append(Content(""))
        plain = self.app.no_color
        legend = ", ".join(f"{model.badge(kind, plain)} {kind}" for kind in model.LEGEND)
        parts.append(Content.styled("Badges (estate tree)", "bold $accent"))
        parts.append(
            Content(
                f"  One mark per signal, in the order {', '.join(SIGNALS)}: {legend} "
                "(n/a: the API fronts no LLM)"
            )
        )
        with Vertical(id="help-dialog"):
            yield Static("Help  (escape or ? closes)", classes="pane-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(Content("\n").join(parts), id="help-text")

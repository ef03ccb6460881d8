"""A small dialog: where to write the report, and in which format."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

FORMATS = ("md", "html", "json", "sarif", "junit", "csv")
SUFFIX = {
    "md": ".md",
    "html": ".html",
    "json": ".json",
    "sarif": ".sarif",
    "junit": ".xml",
    "csv": ".csv",
    "focus": ".csv",
}


class ExportScreen(ModalScreen[tuple[Path, str] | None]):
    """Dismisses with ``(path, format)``, or ``None`` when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without writing")
    ]

    def __init__(
        self,
        path: str = "attribution-report.md",
        fmt: str = "md",
        formats: tuple[str, ...] = FORMATS,
    ) -> None:
        super().__init__()
        self.path = path
        self.fmt = fmt
        self.formats = formats

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog"):
            yield Label("Export the report", classes="pane-title")
            yield Label("File")
            yield Input(value=self.path, id="export-path")
            yield Label("Format")
            yield Select(
                [(f, f) for f in self.formats],
                value=self.fmt,
                allow_blank=False,
                id="export-format",
            )
            with Horizontal(id="export-buttons"):
                yield Button("Export", variant="primary", id="export-ok")
                yield Button("Cancel", id="export-cancel")

    @on(Select.Changed, "#export-format")
    def _format_changed(self, event: Select.Changed) -> None:
        """Keep the file's extension in step with the format, unless the user chose another."""
        fmt = str(event.value)
        path_input = self.query_one("#export-path", Input)
        path = Path(path_input.value)
        if path.suffix.lower() in SUFFIX.values() or not path.suffix:
            path_input.value = str(path.with_suffix(SUFFIX[fmt]))

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-ok")
    def _submit(self) -> None:
        value = self.query_one("#export-path", Input).value.strip()
        if not value:
            self.notify("Give a file name.", severity="warning")
            return
        fmt = str(self.query_one("#export-format", Select).value)
        self.dismiss((Path(value).expanduser(), fmt))

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

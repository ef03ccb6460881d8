"""A small dialog: where to write the report, and in which format.

The format follows the file's extension, as ``auditor scan -o FILE`` does (the same table,
:data:`auditor.render.EXTENSIONS`), unless one is chosen: a chosen format wins, as ``--format``
does. An extension that says no format, with none chosen, is refused in the dialog with the
CLI's words.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from auditor.render import SUFFIXES, format_for, unknown_extension

AUTO = "auto"
"""The format choice that means: the one the file's extension says."""
FORMATS = ("md", "html", "json", "sarif", "junit", "csv", "text")
NAMES = {
    "md": "Markdown",
    "html": "HTML",
    "json": "JSON",
    "sarif": "SARIF",
    "junit": "JUnit XML",
    "csv": "CSV, API x signal matrix",
    "text": "plain text",
    "focus": "FOCUS cost-allocation CSV",
}


class ExportScreen(ModalScreen[tuple[Path, str] | None]):
    """Dismisses with ``(path, format)``, or ``None`` when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without writing")
    ]

    def __init__(
        self,
        path: str = "attribution-report.md",
        fmt: str = AUTO,
        formats: tuple[str, ...] = FORMATS,
    ) -> None:
        super().__init__()
        self.path = path
        self.fmt = fmt
        self.formats = formats

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog"):
            yield Label("Export the report", classes="pane-title")
            yield Label("File (.md .html .json .sarif .xml .csv .txt)")
            yield Input(value=self.path, id="export-path")
            yield Label("Format")
            yield Select(
                [("from the file's extension", AUTO)]
                + [(f"{f}: {NAMES.get(f, f)}", f) for f in self.formats],
                value=self.fmt,
                allow_blank=False,
                id="export-format",
            )
            yield Static(id="export-says")
            with Horizontal(id="export-buttons"):
                yield Button("Export", variant="primary", id="export-ok")
                yield Button("Cancel", id="export-cancel")

    def on_mount(self) -> None:
        self._say()

    def choice(self) -> tuple[Path | None, str | None, str]:
        """(path, format, what the dialog says about them); format None when it cannot write."""
        value = self.query_one("#export-path", Input).value.strip()
        if not value:
            return None, None, "Give a file name."
        path = Path(value).expanduser()
        chosen = str(self.query_one("#export-format", Select).value)
        if chosen != AUTO:
            return path, chosen, f"Writes {NAMES.get(chosen, chosen)} (chosen) to {path.name}"
        fmt = format_for(path)
        if fmt is None:
            return path, None, f"{unknown_extension(path)}; or choose a format"
        return path, fmt, f"Writes {NAMES.get(fmt, fmt)}, as its extension {path.suffix} says"

    def _say(self) -> bool:
        """Show what Export would write; False when it would write nothing."""
        _, fmt, said = self.choice()
        says = self.query_one("#export-says", Static)
        says.update(Content(said))
        says.set_class(fmt is None, "-refused")
        return fmt is not None

    @on(Select.Changed, "#export-format")
    def _format_changed(self, event: Select.Changed) -> None:
        """A chosen format renames a known extension to its own, so name and content agree; an
        extension nobody knows is the user's and stays."""
        fmt = str(event.value)
        path_input = self.query_one("#export-path", Input)
        value = path_input.value.strip()
        if fmt != AUTO and value:
            path = Path(value)
            if path.name and (format_for(path) is not None or not path.suffix):
                path_input.value = str(path.with_suffix(SUFFIXES[fmt]))
        self._say()

    @on(Input.Changed, "#export-path")
    def _path_changed(self) -> None:
        self._say()

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-ok")
    def _submit(self) -> None:
        path, fmt, _ = self.choice()
        if not self._say() or path is None or fmt is None:
            self.app.bell()
            return
        self.dismiss((path, fmt))

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

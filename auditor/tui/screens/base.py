"""What every screen shares: access to the app's state and a redraw when the report changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen

if TYPE_CHECKING:
    from auditor.tui.app import AuditorApp


class ReportScreen(Screen[None]):
    """A screen that draws the current report and redraws when a rescan swaps it."""

    @property
    def auditor(self) -> AuditorApp:
        return cast("AuditorApp", self.app)

    def on_mount(self) -> None:
        self.watch(self.app, "generation", self._generation_changed, init=True)
        self.watch(self.app, "loading", self._loading_changed, init=True)

    def _generation_changed(self, generation: int) -> None:
        if self.auditor.report is not None:
            self.show_report()

    def _loading_changed(self, loading: bool) -> None:
        body = self.query("#body")
        if body:
            body.first().loading = loading
        if not loading:
            # NOTE: nothing under the loading indicator can hold focus, so after a long first
            # scan nothing had it: enter and c did nothing until a click.
            self.call_after_refresh(self._focus_first)

    def _focus_first(self) -> None:
        if self.focused is None and self.AUTO_FOCUS:
            for widget in self.query(self.AUTO_FOCUS):
                if widget.focusable:
                    widget.focus()
                    break

    def show_report(self) -> None:
        """Draw ``self.auditor.report``; called on mount and after every (re)scan."""

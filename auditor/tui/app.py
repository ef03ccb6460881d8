"""The App: state, key bindings, the load worker and the wiring between screens.

The report is loaded by ``load()`` in a worker thread (a live scan can take minutes), which posts
``ReportLoaded`` back; the app swaps the report in and bumps ``generation``, which every screen
watches. Everything the screens show is computed by :mod:`auditor.tui.model`.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.timer import Timer

from auditor.tui import model
from auditor.tui.evidence import EvidenceSource
from auditor.tui.messages import ExportDone, LoadFailed, ReportLoaded
from auditor.tui.screens import (
    DetailScreen,
    ExportScreen,
    FindingsScreen,
    HelpScreen,
    MoneyScreen,
    OverviewScreen,
)
from auditor.tui.screens.export import FORMATS

Loader = Callable[[], dict[str, Any]]
THEMES = ("textual-dark", "textual-light")


#: How long an error notice stays: until dismissed, in practice (a day).
STICKY = 24 * 3600.0
#: How long a copy notice stays: long enough to read the file's path off it.
COPY_NOTICE = 20.0
#: Cells of the header that are not its title: the icon (8) and clock space (10) Textual's
#: Header keeps on either side, and the " — " between the title and the sub-title.
HEADER_CHROME = 8 + 10 + 3


def source_name(label: str) -> str:
    """What the app was opened on, as a reader names it: the demo by name, not by its folder."""
    from auditor.sources import DEMO_NAME, is_demo

    return DEMO_NAME if label and is_demo(label) else label


def fit_left(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, cut at the start: a path's last folders name it."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ""
    return "…" + set_cell_size(text[::-1], width - 1)[::-1]


class AuditorApp(App[int]):
    """Triage an attribution report: overview, findings, one finding's evidence."""

    CSS_PATH = "app.tcss"
    TITLE = "attribution-auditor"
    MODES: ClassVar[dict[str, Any]] = {
        "overview": OverviewScreen,
        "findings": FindingsScreen,
        "money": MoneyScreen,
    }
    DEFAULT_MODE = "overview"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", tooltip="Show this list of keys"),
        Binding("o,1", "mode('overview')", "Overview", tooltip="Score, signals, top gaps, estate"),
        Binding("f,2", "mode('findings')", "Findings", tooltip="Every finding: filter and sort"),
        Binding(
            "m,3",
            "mode('money')",
            "Money",
            tooltip="Measured tokens and money: who pays, what cannot be charged",
        ),
        Binding("r", "rescan", "Rescan", tooltip="Run the scan again (in the background)"),
        Binding("e", "export", "Export", tooltip="Write the report as md, html, json, sarif, ..."),
        # NOTE: n and t are in the help and not in the footer, which at 80 columns holds the
        # keys of the screen and the views; the estate pane's title says what n shows.
        Binding(
            "n",
            "toggle_non_llm",
            "Non-LLM",
            show=False,
            tooltip="Show or hide APIs that front no LLM",
        ),
        Binding("t", "toggle_theme", "Theme", show=False, tooltip="Switch between dark and light"),
    ]

    stale: str | None = None
    """Why the report shown is not the current one (the last rescan failed)."""
    generation: reactive[int] = reactive(0)
    """Bumped each time a report is swapped in; screens redraw on it."""
    loading: reactive[bool] = reactive(False)
    show_non_llm: reactive[bool] = reactive(False)

    def __init__(self, load: Loader, label: str, report: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.loader = load
        self.label = label
        """A source path, a saved report or ``Azure (live)``: evidence is read from it."""
        self.shown = source_name(label)
        """The label as the header shows it."""
        self.status = ""
        self.report: dict[str, Any] | None = None
        self.index: model.FindingIndex | None = None
        self.evidence: EvidenceSource | None = None
        self.pending_filter: tuple[str | None, str] | None = None
        self._initial = report
        self._started = 0.0
        self._ticker: Timer | None = None
        self._clipboard_dir: Path | None = None
        self.sub_title = self.shown
        self.theme = THEMES[0]

    def on_mount(self) -> None:
        if self._initial is not None:
            self.set_report(self._initial)
            self._initial = None
        else:
            self.action_rescan()

    def on_resize(self, event: events.Resize) -> None:
        # NOTE: called before App's own handler records the new size.
        self.say_status(self.status, event.size.width)

    def say_status(self, status: str = "", width: int | None = None) -> None:
        """Show what the app was opened on and ``status`` in the header; when they do not fit,
        the label gives way from its start, so the status (STALE, scanning) is always whole."""
        self.status = status
        suffix = f" · {status}" if status else ""
        width = self.size.width if width is None else width
        room = width - HEADER_CHROME - cell_len(self.title) - cell_len(suffix)
        self.sub_title = (fit_left(self.shown, room) + suffix).removeprefix(" · ")

    def set_report(self, report: dict[str, Any]) -> None:
        self.report = report
        self.index = model.FindingIndex(report["findings"])
        self.evidence = EvidenceSource(report, self.label)
        self.say_status()
        self.generation += 1
        self.refresh_bindings()
        self._prepare(self.index)

    def offered(self, action: str, parameters: tuple[object, ...]) -> bool:
        """Whether a key does anything with this report: the money view needs measured usage."""
        if action == "mode" and parameters == ("money",):
            return bool(self.report and self.report.get("usage"))
        return True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.offered(action, parameters):
            return False
        # NOTE: the key of the view already on screen does nothing; left out of the footer, it
        # leaves room for the others at 80 columns (the help still lists it).
        return not (action == "mode" and parameters == (self.current_mode,))

    @work(thread=True, group="prepare")
    def _prepare(self, index: model.FindingIndex) -> None:
        """Build the search text, sort orders and filter sets off the UI thread."""
        index.prepare()
        # NOTE: the report and its index are a million long-lived objects and list slots for
        # 100,000 findings; every full collection of the cyclic GC walks them all, a 100-300 ms
        # pause in the middle of typing. Frozen, they are skipped; reference counting still
        # frees them when a rescan drops them (they hold no reference cycles).
        gc.freeze()

    # -- loading -----------------------------------------------------------------------------

    def action_rescan(self) -> None:
        if self.loading:
            self.notify("A scan is already running.", severity="warning")
            return
        self.loading = True
        self._started = time.monotonic()
        self._tick()
        self._ticker = self.set_interval(0.5, self._tick)
        self._load()

    def _tick(self) -> None:
        elapsed = time.monotonic() - self._started
        verb = "rescanning" if self.report is not None else "scanning"
        self.say_status(f"{verb}… {elapsed:.0f} s")

    @work(thread=True, exclusive=True, group="load")
    def _load(self) -> None:
        started = time.monotonic()
        try:
            report = self.loader()
        except Exception as exc:  # any failure of a scan is shown, not raised
            from auditor.errors import AuditorError

            # NOTE: worded as the CLI words it (auditor: <why>), so the same failure reads alike
            # from `auditor scan` and `auditor tui`.
            plain = isinstance(exc, AuditorError | OSError)
            why = f"{exc}" if plain else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, OSError) and exc.strerror:
                why = f"{exc.filename or ''}: {exc.strerror}"
            self.post_message(LoadFailed(why))
            return
        self.post_message(ReportLoaded(report, time.monotonic() - started))

    def _done_loading(self) -> None:
        self.loading = False
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self.say_status()

    def on_report_loaded(self, message: ReportLoaded) -> None:
        self._done_loading()
        first = self.report is None
        self.stale = None
        self.clear_notifications()
        self.set_report(message.report)
        if not first:
            n = model.summary(message.report).open
            self.notify(f"Rescanned in {message.seconds:.1f} s: {n} open gaps.", title="Rescan")

    def on_load_failed(self, message: LoadFailed) -> None:
        self._done_loading()
        if self.report is None:
            # Nothing to show: the TUI ends as `auditor scan` would, with its message.
            self.exit(return_code=2, message=f"auditor: {message.error}")
            return
        # NOTE: the previous report stays, marked stale, and the error stays on screen until it
        # is dismissed (a click) or a scan succeeds: a glance must never take it for current.
        self.stale = message.error
        self.say_status("STALE: rescan failed (r retries)")
        self.notify(
            f"{message.error}\nThe report shown is from the last scan that ran. Press r to "
            "try again; click this to dismiss it.",
            title="Rescan failed",
            severity="error",
            timeout=STICKY,
        )

    # -- navigation --------------------------------------------------------------------------

    async def action_mode(self, mode: str) -> None:
        await self.switch_mode(mode)

    def show_findings(self, api: str | None = None, text: str = "") -> None:
        """Open the findings with a filter (from the estate tree)."""
        self.pending_filter = (api, text)
        if self.current_mode == "findings":
            screen = self.screen
            if isinstance(screen, FindingsScreen):
                screen.apply_pending()
        else:
            self.switch_mode("findings")

    def open_finding(self, finding: model.Finding, siblings: list[model.Finding]) -> None:
        self.push_screen(DetailScreen(finding, siblings))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    # -- actions -----------------------------------------------------------------------------

    def copy_fix(self, finding: model.Finding) -> None:
        text = str(finding.get("fix") or "")
        if not text:
            self.notify(f"{finding['rule']} has no fix to copy.", severity="warning")
            return
        self.copy_text(text, f"The fix for {finding['rule']}")

    def copy_text(self, text: str, what: str) -> None:
        """Put ``text`` on the clipboard through the terminal and in :meth:`clipboard_file`,
        and say where it went.

        The terminal route is OSC 52 (``App.copy_to_clipboard``); whether the terminal took it,
        the app cannot know (many ignore it, tmux needs set-clipboard), so the file is written
        every time and named in the notice. Headless, or when the terminal write fails, only
        the file holds it, and the notice says so.
        """
        why_not: str | None = None
        if self._driver is None or self.is_headless:
            why_not = "no terminal to send it through (headless)"
        else:
            try:
                self.copy_to_clipboard(text)
            except Exception as exc:  # a terminal write that fails must not lose the text
                why_not = f"the terminal could not take it ({type(exc).__name__}: {exc})"
        try:
            path = self.clipboard_file()
            from auditor.files import write_atomic

            write_atomic(path, text if text.endswith("\n") else text + "\n")
        except OSError as exc:
            if why_not is not None:
                self.notify(
                    f"{what} was not copied: {why_not}, and {exc.filename or 'the file'}: "
                    f"{exc.strerror or exc}.",
                    title="Not copied",
                    severity="error",
                )
            else:
                self.notify(
                    f"{what} was sent to the clipboard through the terminal (OSC 52; a terminal "
                    f"that ignores it drops it). No copy in a file: {exc.strerror or exc}.",
                    title="Copied",
                    severity="warning",
                )
            return
        if why_not is None:
            self.notify(
                f"{what} was sent to the clipboard through the terminal (OSC 52; a terminal "
                f"that ignores it drops it), and saved in\n{path}",
                title="Copied",
                timeout=COPY_NOTICE,
            )
        else:
            self.notify(
                f"Not on the clipboard: {why_not}. {what} is saved in\n{path}",
                title="Copied to a file",
                severity="warning",
                timeout=COPY_NOTICE,
            )

    def clipboard_file(self) -> Path:
        """Where copied text is saved as well: ``clipboard.txt`` in a folder of this session's
        own under the system's temporary folder (made private, 0700, on first use), so no other
        user can read or plant it. It stays after the app ends, to be opened later."""
        if self._clipboard_dir is None:
            import tempfile

            # NOTE: a short name, so the path fits a line of the notice at 80 columns.
            self._clipboard_dir = Path(tempfile.mkdtemp(prefix="auditor-"))
        return self._clipboard_dir / "clipboard.txt"

    def action_toggle_non_llm(self) -> None:
        self.show_non_llm = not self.show_non_llm
        shown = "shown" if self.show_non_llm else "hidden"
        self.notify(f"APIs that front no LLM are {shown} in the estate tree.")

    def action_toggle_theme(self) -> None:
        self.theme = THEMES[1] if self.theme == THEMES[0] else THEMES[0]

    def action_export(self) -> None:
        if self.report is None:
            self.notify("Nothing to export yet.", severity="warning")
            return
        if not isinstance(self.screen, ExportScreen):
            formats = FORMATS + (("focus",) if self.report.get("usage") else ())
            self.push_screen(ExportScreen(formats=formats), self._export_chosen)

    def _export_chosen(self, choice: tuple[Path, str] | None) -> None:
        if choice is not None and self.report is not None:
            self._export(self.report, *choice)

    @work(thread=True, group="export")
    def _export(self, report: dict[str, Any], path: Path, fmt: str) -> None:
        from auditor.files import write_atomic
        from auditor.render import RENDERERS

        try:
            write_atomic(path, RENDERERS[fmt](report))
        except OSError as exc:
            self.post_message(ExportDone(str(path), exc.strerror or str(exc)))
            return
        self.post_message(ExportDone(str(path)))

    def on_export_done(self, message: ExportDone) -> None:
        if message.error:
            self.notify(f"{message.path}: {message.error}", title="Export failed", severity="error")
        else:
            self.notify(f"Wrote {message.path}", title="Exported")

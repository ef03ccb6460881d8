"""The interactive TUI (``auditor tui``): a thin Textual view over the JSON report.

Only :mod:`auditor.cli` imports this package, inside the ``tui`` command, so offline scans never
load Textual. The view draws what :mod:`auditor.tui.model` computes from the report dict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditor.tui.app import AuditorApp


def make_app(
    load: Callable[[], dict[str, Any]], label: str, report: dict[str, Any] | None = None
) -> AuditorApp:
    """The app, ready to run; with ``report`` it opens on it instead of calling ``load()`` first.

    ``load`` is called again (in a worker thread) on every rescan. ``label`` says what the app
    was opened on: a source path, a saved report or ``Azure (live)``.
    """
    from auditor.tui.app import AuditorApp

    return AuditorApp(load, label, report)


def run(load: Callable[[], dict[str, Any]], label: str) -> int:
    """Run the TUI until the user quits; the report is loaded in the background. Returns the
    exit status: 2 when the first scan could not run (its message printed, as the CLI does)."""
    app = make_app(load, label)
    app.run()
    return int(app.return_code or 0)

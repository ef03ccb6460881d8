"""What a user sees: the running app's screen as lines of text, as the terminal would show it."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console


def screen_lines(app: Any) -> list[str]:
    """Every row of the terminal, the modal screens over the ones beneath included."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system=None,
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    # NOTE: the compositor's full frame, as App.export_screenshot draws it for SVG snapshots.
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)  # noqa: SLF001
    )
    return console.export_text(styles=False).splitlines()[:height]

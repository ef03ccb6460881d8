"""What a user sees: the running app's screen as lines of text, as the terminal would show it."""

from __future__ import annotations

import contextlib
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


def cut_off(app: Any) -> list[str]:
    """What on the top screen is cut and cannot be reached: text that needs more rows (or, not
    wrapping, more columns) than its widget has, a widget clipped by a container that neither
    scrolls nor takes focus (the keys could not bring it into view), a footer key past the
    right edge. Tables and trees are not judged here: their rows scroll and open."""
    from textual.errors import NoWidget
    from textual.widgets import Label, Static
    from textual.widgets._footer import FooterKey
    from textual.widgets._header import HeaderTitle

    screen = app.screen
    width = app.size.width
    found: list[str] = []

    def reachable(widget: Any) -> bool:
        return any(
            (a.max_scroll_y > 0 or a.max_scroll_x > 0) and a.focusable
            for a in widget.ancestors
            if hasattr(a, "max_scroll_y")
        )

    for widget in screen.query("*"):
        if not widget.display or not widget.visible:
            continue
        if not isinstance(widget, Static | Label | HeaderTitle | FooterKey):
            continue
        if any(not a.display for a in widget.ancestors if hasattr(a, "display")):
            continue
        try:
            geometry = screen.find_widget(widget)
        except NoWidget:
            if not reachable(widget):
                found.append(f"{widget!r} is not on screen and nothing scrolls to it")
            continue
        region = geometry.region
        if isinstance(widget, FooterKey):
            if region.right > width:
                found.append(f"footer key {widget.key!r} ends at column {region.right}")
            continue
        if not geometry.clip.contains_region(region) and not reachable(widget):
            found.append(f"{widget!r} is clipped to {geometry.clip} and nothing scrolls to it")
        box = widget.content_region
        container = widget.parent.size if widget.parent is not None else app.size
        rows = widget.get_content_height(container, app.size, box.width)
        if rows > box.height:
            found.append(f"{widget!r} needs {rows} rows and has {box.height}")
        if widget.styles.text_wrap == "nowrap":
            cols = widget.get_content_width(container, app.size)
            if cols > box.width and not reachable(widget):
                found.append(f"{widget!r} needs {cols} columns and has {box.width}")
    return found


#: Pauses after which a scan still running counts as hung (a condition is awaited, never a time:
#: on a loaded machine the messages of a finished worker may take many turns of the loop).
SETTLE_TURNS = 600


async def settle(pilot: Any, *, turns: int = 2) -> None:
    """Wait until the app's scan has finished and its messages are handled: the workers are
    done and the app is no longer loading (it may have exited: a first scan that fails ends
    it), then let ``turns`` more pauses pass for the screens to refresh."""
    from textual.worker import WorkerCancelled

    app = pilot.app
    # NOTE: a first scan that fails ends the app, and an ending app cancels the workers still
    # winding down (3 runs in 120 on a loaded machine); the test judges how it ended.
    with contextlib.suppress(WorkerCancelled):
        await app.workers.wait_for_complete()
    for _ in range(SETTLE_TURNS):
        if not app.loading or app.return_code is not None or not app.is_running:
            break
        await pilot.pause(0.05)
    else:
        raise AssertionError("the scan's result was never handled")
    for _ in range(turns):
        await pilot.pause()


async def until(pilot: Any, holds: Any, what: str) -> None:
    """Pause until ``holds()`` is true (a resize or a message may take several turns of the
    loop on a loaded machine); fail saying ``what`` was awaited if it never is."""
    for _ in range(SETTLE_TURNS):
        if holds():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never happened: {what}")

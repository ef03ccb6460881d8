"""How the TUI looks: SVG screenshots compared with the accepted ones in ``__snapshots__``.

A change here is a change to what users see; review the SVG diff (open the files in a browser)
and accept it with ``pytest tests/tui --snapshot-update``. The behaviour is tested in
``test_tui_app.py``; these only pin the looks of the main screens at two terminal sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

Make = Callable[..., Any]


async def _settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_overview(snap_compare: Any, make: Make) -> None:
    assert snap_compare(make(), terminal_size=(120, 40))


def test_overview_small(snap_compare: Any, make: Make) -> None:
    assert snap_compare(make(), terminal_size=(80, 24))


def test_findings_filtered(snap_compare: Any, make: Make) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        # identity findings of every status that mention 'assistants'
        await pilot.press("f", "g", "g", *"uuuuuu", "slash", *"assistants", "enter")
        await _settle(pilot)

    assert snap_compare(make(), terminal_size=(120, 40), run_before=run_before)


def test_finding_detail(snap_compare: Any, make: Make) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("down", "down", "enter")
        await _settle(pilot)

    assert snap_compare(make(), terminal_size=(120, 40), run_before=run_before)


def test_help_small(snap_compare: Any, make: Make) -> None:
    assert snap_compare(make(), terminal_size=(80, 24), press=["question_mark"])

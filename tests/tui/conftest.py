"""Fixtures for the TUI tests: the demo report, a counting loader, and frozen timing.

The pilot tests drive the app headless (``App.run_test``); the snapshot tests compare SVG
screenshots (pytest-textual-snapshot). Anything that depends on time is frozen here: a blinking
cursor makes snapshot tests nondeterministic.
"""

from __future__ import annotations

import argparse
import copy
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

Report = dict[str, Any]
LABEL = "demo-gap-report.json"
"""A saved-report label: the app shows file excerpts, not the effective policy."""


def demo_scan(**extra: Any) -> Report:
    """The demo estate's report, as the CLI makes it (``extra``: more CLI arguments)."""
    from auditor.cli import _report
    from auditor.sources import demo_path

    return _report(
        argparse.Namespace(
            source=demo_path(),
            source_type="auto",
            include_revisions=False,
            rules=None,
            waivers=None,
            baseline=None,
            **extra,
        )
    )


@pytest.fixture(scope="session")
def scan_demo() -> Callable[..., Report]:
    """:func:`demo_scan`, for tests that need the demo with more arguments."""
    return demo_scan


@pytest.fixture(scope="session")
def _demo_report() -> Report:
    return demo_scan()


@pytest.fixture
def demo_report(_demo_report: Report) -> Report:
    """A fresh copy of the demo estate's report (its location is the bundled demo folder)."""
    return copy.deepcopy(_demo_report)


class CountingLoader:
    """A ``load`` callable that counts its calls and can be held until released."""

    def __init__(self, report: Report, hold: bool = False, fail: bool = False) -> None:
        self.report = report
        self.calls = 0
        self.fail = fail
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self) -> Report:
        self.calls += 1
        self.release.wait(10)
        if self.fail:
            raise RuntimeError("Resource Manager said no")
        return copy.deepcopy(self.report)


@pytest.fixture
def make_loader() -> type[CountingLoader]:
    return CountingLoader


@pytest.fixture
def loader(demo_report: Report) -> CountingLoader:
    return CountingLoader(demo_report)


@pytest.fixture
def make(demo_report: Report, loader: CountingLoader) -> Callable[..., Any]:
    """``make()`` builds the app on the demo report, as ``auditor tui report.json`` would."""
    from auditor.tui import make_app

    def build(label: str = LABEL, report: Report | None = None, load: Any = None) -> Any:
        return make_app(load or loader, label, demo_report if report is None else report)

    return build


@pytest.fixture(autouse=True)
def _frozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from textual.widgets import Input

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    yield


@pytest.fixture
def demo_dir() -> Path:
    from auditor.sources import demo_path

    return demo_path()

"""Report renderers: each is a pure function from the JSON report dict to text."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import PurePath
from typing import Any

Renderer = Callable[[dict[str, Any]], str]

_MODULES = {
    "text": "text",
    "md": "markdown",
    "json": "jsonout",
    "sarif": "sarif",
    "junit": "junit",
    "html": "html",
    "csv": "csvout",
    "focus": "focus",
}


class _Renderers(Mapping[str, Renderer]):
    """Format name -> renderer, each module imported when first used (a scan writes one or two
    formats; importing all of them was a quarter of the CLI's start-up)."""

    def __getitem__(self, fmt: str) -> Renderer:
        module = importlib.import_module(f"auditor.render.{_MODULES[fmt]}")
        render: Renderer = module.render
        return render

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


RENDERERS: Mapping[str, Renderer] = _Renderers()
EXTENSIONS = {
    ".md": "md",
    ".markdown": "md",
    ".json": "json",
    ".txt": "text",
    ".sarif": "sarif",
    ".xml": "junit",
    ".html": "html",
    ".htm": "html",
    ".csv": "csv",
}
#: The extension a file of each format gets when the format is chosen (the first one above);
#: FOCUS is CSV, so its files end in .csv, while a .csv file alone means the findings CSV.
SUFFIXES = {
    **{fmt: ext for ext, fmt in reversed(EXTENSIONS.items())},
    "focus": ".csv",
}


def format_for(path: PurePath) -> str | None:
    """The format a report file's extension says, or None when it says none."""
    return EXTENSIONS.get(path.suffix.lower())


def unknown_extension(path: PurePath) -> str:
    """Why ``path`` says no format: the CLI (``-o``) and the TUI's export refuse it alike."""
    known = ", ".join(sorted(EXTENSIONS))
    what = f"unknown report extension '{path.suffix}'" if path.suffix else "no report extension"
    return f"{path}: {what} (one of {known})"

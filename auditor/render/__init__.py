"""Report renderers: each is a pure function from the JSON report dict to text."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
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

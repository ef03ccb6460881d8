"""Report renderers: each is a pure function from the JSON report dict to text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auditor.render import csvout, html, jsonout, junit, markdown, sarif, text

RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "text": text.render,
    "md": markdown.render,
    "json": jsonout.render,
    "sarif": sarif.render,
    "junit": junit.render,
    "html": html.render,
    "csv": csvout.render,
}
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

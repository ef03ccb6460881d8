"""Report renderers: each is a pure function from the JSON report dict to text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auditor.render import jsonout, markdown, text

RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "text": text.render,
    "md": markdown.render,
    "json": jsonout.render,
}
EXTENSIONS = {".md": "md", ".markdown": "md", ".json": "json", ".txt": "text"}

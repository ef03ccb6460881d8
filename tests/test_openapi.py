"""The quick OpenAPI reader agrees with the full YAML parser, and falls back when unsure."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from auditor.sources import demo_path
from auditor.sources.openapi import _METHODS, quick_operations

SPECS = sorted(demo_path().rglob("specification.yaml"))

TRICKY = {
    "no-operation-id": "openapi: 3.0.1\npaths:\n  /a:\n    get:\n      summary: x\n    post:\n"
    "      operationId: make-a\n",
    "quoted": "paths:\n  \"/b/{id}\":\n    put:\n      operationId: 'put-b'\n"
    "      parameters:\n        - name: id\n          in: path\n",
    "nested-operationId-in-callback": "paths:\n  /c:\n    post:\n      operationId: c\n"
    "      x-extra:\n        operationId: not-this\n",
    "nested-first": "paths:\n  /e:\n    get:\n      x-extra:\n        operationId: no\n"
    "      operationId: yes-e\n",
    "after-paths": "paths:\n  /d:\n    get:\n      operationId: d\ncomponents:\n  schemas: {}\n",
}
FALLBACK = {
    "flow": "paths: {/a: {get: {operationId: a}}}\n",
    "anchor": "paths:\n  /a:\n    get: &op\n      operationId: a\n",
    "tabs": "paths:\n\t/a:\n",
    "merge": "paths:\n  /a:\n    <<: *base\n",
}


def full(text: str) -> list[tuple[str, str, str]]:
    spec = yaml.safe_load(text)
    out = []
    for path, item in (spec.get("paths") or {}).items():
        for method in _METHODS:
            op = item.get(method) if isinstance(item, dict) else None
            if isinstance(op, dict):
                out.append((str(op.get("operationId") or f"{method}-{path}"), method.upper(), path))
    return out


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.parent.name)
def test_quick_matches_full_on_the_demo(spec: Path) -> None:
    text = spec.read_text(encoding="utf-8")
    assert sorted(quick_operations(text) or []) == sorted(full(text))


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_quick_matches_full_on_tricky_specs(name: str) -> None:
    assert sorted(quick_operations(TRICKY[name]) or []) == sorted(full(TRICKY[name]))


@pytest.mark.parametrize("name", sorted(FALLBACK))
def test_unusual_yaml_falls_back_to_the_full_parser(name: str) -> None:
    assert quick_operations(FALLBACK[name]) is None


def _uncached(text: str) -> tuple[tuple[str, str, str], ...] | None:
    found = quick_operations(text)
    return None if found is None else tuple({q[0]: q for q in found}.values())


@pytest.mark.parametrize(
    "text",
    [
        *(p.read_text(encoding="utf-8") for p in SPECS),
        *TRICKY.values(),
        "openapi: 3.0.1\ninfo:\n  title: t\npaths:\n  /a:\n    get:\n      operationId: a\n"
        "components:\n  schemas: {}\npaths:\n  /b:\n    get:\n      operationId: b\n",
        "paths:\n  /a:\n    get:\n      operationId: a\nnot a key\n  /b:\n    get:\n"
        "      operationId: b\n# comment\n- item\ninfo:\n  title: x\n",
        "'paths':\n  /q:\n    post:\n      operationId: quoted-key\n",
    ],
)
def test_the_paths_block_reads_as_the_whole_spec(text: str) -> None:
    from auditor.sources.openapi import _read_operations

    expected = _uncached(text)
    if expected is not None:
        assert _read_operations(text, ".yaml") == expected


def test_specs_that_differ_outside_their_paths_share_one_reading() -> None:
    from auditor.sources.openapi import _quick_cached, _read_operations

    base = SPECS[0].read_text(encoding="utf-8")
    assert "paths:" in base and "title:" in base
    before = _quick_cached.cache_info()
    for team in ("finance", "marketing", "research"):
        text = base.replace("title:", f"title: {team} ", 1)
        assert _read_operations(text, ".yaml") == _uncached(text)
    after = _quick_cached.cache_info()
    assert after.hits - before.hits >= 2

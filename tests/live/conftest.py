"""Fixtures of the live-scan tests: the demo estate served by a fake Resource Manager."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# NOTE: the live scan is an optional extra; without it (or without trustme) these tests are
# reported as skipped, not as errors.
pytest.importorskip("azure.mgmt.core", reason="the 'live' extra is not installed")
pytest.importorskip("azure.identity", reason="the 'live' extra is not installed")
pytest.importorskip("trustme", reason="trustme (test extra) is not installed")

from fake_arm import FakeArm  # noqa: E402

from auditor import engine, rules, sources  # noqa: E402
from auditor.model import Estate  # noqa: E402
from auditor.report import to_dict  # noqa: E402
from auditor.sources import snapshot  # noqa: E402


@pytest.fixture(scope="session")
def demo_estate() -> Estate:
    return sources.load(sources.demo_path())


@pytest.fixture(scope="session")
def demo_report(demo_estate: Estate) -> dict[str, Any]:
    return to_dict(engine.run(demo_estate, rules.load()))


@pytest.fixture(scope="session")
def demo_resources(demo_estate: Estate) -> list[dict[str, Any]]:
    return snapshot.to_resources(demo_estate)


def _serve(kind: type[FakeArm], resources: list[dict[str, Any]], tmp: Path) -> Iterator[Any]:
    server = kind(copy.deepcopy(resources)).start(tmp)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake(demo_resources: list[dict[str, Any]], tmp_path: Path) -> Iterator[FakeArm]:
    yield from _serve(FakeArm, demo_resources, tmp_path)


@pytest.fixture
def fake_azure(demo_resources: list[dict[str, Any]], tmp_path: Path) -> Iterator[Any]:
    """The demo estate on the fake Resource Manager, with the demo's usage behind it."""
    from fake_usage import FakeAzure

    yield from _serve(FakeAzure, demo_resources, tmp_path)

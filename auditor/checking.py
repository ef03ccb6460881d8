"""What check modules import: the ``@check`` registry, contexts and outcomes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from auditor.effective import Effective
from auditor.model import Api, Estate, Location, Operation, Service


@dataclass(slots=True)
class Outcome:
    """One verdict of a check on its target; not changed once made (not a frozen dataclass
    for speed, as :class:`auditor.engine.Finding`)."""

    status: str
    """``pass``, ``fail`` or ``skip`` (could not be evaluated)."""
    message: str
    location: Location | None = None
    severity: str | None = None
    """Overrides the rule's severity for this finding (e.g. a weaker variant of the gap)."""
    evidence: tuple[Location, ...] = ()
    certain: bool = False
    """Holds whatever the policies that could not be read say (an API-level outcome that rests
    on the diagnostics alone): it is kept where the policies make other outcomes unknown."""


def passed(message: str, at: Location | None = None) -> Outcome:
    """The target meets the rule."""
    return Outcome("pass", message, at)


def failed(
    message: str,
    at: Location | None = None,
    *,
    severity: str | None = None,
    evidence: Iterable[Location] = (),
    certain: bool = False,
) -> Outcome:
    """The target breaks the rule."""
    return Outcome("fail", message, at, severity, tuple(evidence), certain)


def skipped(message: str, at: Location | None = None) -> Outcome:
    """The rule cannot be evaluated on this target (an unknown, never a pass)."""
    return Outcome("skip", message, at)


@dataclass(eq=False)
class Route:
    """A way a call reaches an operation: through one product, or with no product policy."""

    product: str | None
    label: str
    eff: Effective
    severity: str | None = None
    """For the product-less route: how bad a gap only on this route is."""
    doubt: str | None = None
    """For the product-less route: why it may be worse than its severity says (unknown)."""


@dataclass(eq=False)
class OpContext:
    """An LLM operation with the effective policy of each route."""

    estate: Estate
    service: Service
    api: Api
    op: Operation
    routes: list[Route]
    params: dict[str, Any] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)
    """Per-operation cache for checks (every rule asks for the same meters)."""

    @cached_property
    def label(self) -> str:
        """``api`` or ``api/operation`` for messages; ``api (...)`` for the operations an
        unseen specification imports beside the declared ones."""
        if self.op.name != "*":
            return f"{self.api.name}/{self.op.name}"
        if self.api.operations:
            return f"{self.api.name} (operations its specification imports)"
        return self.api.name


@dataclass(eq=False)
class ApiContext:
    """An LLM API with its operations (for API-level rules)."""

    estate: Estate
    service: Service
    api: Api
    ops: list[OpContext]
    params: dict[str, Any] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)
    """Per-API cache for checks (two rules ask for the accounts behind the API)."""


CheckResult = Outcome | list[Outcome]

REGISTRY: dict[str, Callable[..., CheckResult]] = {}


def check(rule_id: str) -> Callable[[Callable[..., CheckResult]], Callable[..., CheckResult]]:
    """Register a check function under its rule id (the rule's YAML says what it targets)."""

    def register(fn: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
        if rule_id in REGISTRY:
            raise ValueError(f"two checks registered for {rule_id}")
        REGISTRY[rule_id] = fn
        return fn

    return register

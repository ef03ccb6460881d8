"""Measured usage as read for one period: what a live scan collects and a snapshot stores.

Nothing here is computed: these are the answers of Azure (aggregated there, never raw request
rows), kept so that ``auditor scan estate.json`` replays the same figures. Every part records
whether it was read and, if not, why; :mod:`auditor.usage.gap` turns an unread part into an
``unknown`` figure, never a zero.

Parts (``Part.kind``): ``deployments``, ``platform`` (Azure Monitor token metrics), ``audio``
(its audio token metrics) and ``utilization`` (PTU) per account; ``metrics`` (the gateway's
token metrics, per Application Insights component); ``llm-log`` (the gateway's own LLM log, per
APIM service); ``costs`` (Cost Management, per subscription).

Audio tokens (``AudioPromptTokens`` / ``AudioCompletionTokens``) are kept apart from the platform
tokens, as Azure reports them. A document stored before they were collected has no ``audio``
part: its audio is *not measured* (unknown), never zero; an account whose ``audio`` part is
``read`` had no audio on the days without a row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from auditor.errors import AuditorError
from auditor.usage.period import Period, PeriodError
from auditor.usage.prices import PriceError, PriceTable, from_json

VERSION = 1
PART_KINDS = ("deployments", "platform", "audio", "utilization", "metrics", "llm-log", "costs")
STATUSES = ("read", "unknown", "forbidden", "absent")
"""``read``; ``unknown`` (failed); ``forbidden`` (403); ``absent`` (nothing to read there, such
as an APIM service without LLM logs)."""


class UsageError(AuditorError):
    """A stored usage document that cannot be read."""


@dataclass(frozen=True, slots=True)
class Deployment:
    """A model deployment of an Azure OpenAI / AI Services account, as ARM describes it."""

    account: str
    name: str
    model: str | None = None
    version: str | None = None
    sku: str | None = None
    """``sku.name``: Standard, GlobalStandard, DataZoneStandard, *Batch, *ProvisionedManaged."""
    capacity: int | None = None
    """Standard types: units of 1,000 tokens per minute; provisioned types: PTUs."""
    region: str | None = None
    account_id: str = ""
    created: str | None = None
    """``systemData.createdAt`` (PTU hours are counted from then)."""

    @property
    def key(self) -> tuple[str, str]:
        """(account, deployment), lower case."""
        return (self.account.lower(), self.name.lower())

    @property
    def provisioned(self) -> bool:
        """A PTU deployment: billed by the hour, whatever it processes."""
        return bool(self.sku) and "provisioned" in str(self.sku).lower()


@dataclass(frozen=True, slots=True)
class Part:
    """One thing the collection read, or tried to."""

    kind: str
    key: str
    status: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Metered:
    """The gateway's token metrics from one Application Insights component, summed per day,
    API and the values of the dimensions that name a payer or a deployment."""

    component: str
    services: tuple[str, ...]
    dimensions: tuple[str, ...]
    rows: tuple[tuple[str, str, tuple[str, ...], int, int], ...]
    """(day, API ID value, dimension values, prompt tokens, completion tokens)."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Everything measured for one period."""

    period: Period
    deployments: tuple[Deployment, ...] = ()
    parts: tuple[Part, ...] = ()
    platform: tuple[tuple[str, str, str, int, int], ...] = ()
    """(account, deployment, day, prompt tokens, generated tokens)."""
    audio: tuple[tuple[str, str, str, int, int], ...] = ()
    """(account, deployment, day, audio prompt tokens, audio completion tokens); days without
    audio have no row. Measured only for the accounts whose ``audio`` part is ``read``."""
    utilization: tuple[tuple[str, str, str, float], ...] = ()
    """(account, deployment, day, average % of PTU utilization)."""
    metered: tuple[Metered, ...] = ()
    gateway: tuple[tuple[str, str, str, str, str, str, int, int], ...] = ()
    """LLM log: (service, day, API, backend host, deployment, model, prompt, completion)."""
    cost_currency: str | None = None
    costs: tuple[tuple[str, str, str, Decimal], ...] = ()
    """Cost Management: (day, account resource id, meter, amortized cost)."""
    prices: PriceTable | None = None
    """The table the collection was priced with (replays use it unless --prices is given)."""
    list_prices: PriceTable | None = None
    """The list prices beside it when ``prices`` held negotiated ones (for ListCost)."""
    notes: tuple[str, ...] = ()
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)
    """Computed once per estate (see :func:`auditor.usage.gap.measure`)."""

    def part(self, kind: str, key: str) -> Part | None:
        """The part of that kind and key (case-insensitive key)."""
        for p in self.parts:
            if p.kind == kind and p.key.lower() == key.lower():
                return p
        return None

    def parts_of(self, kind: str) -> list[Part]:
        """Every part of one kind."""
        return [p for p in self.parts if p.kind == kind]

    # -------------------------------------------------------------------------- JSON

    def to_json(self) -> dict[str, Any]:
        """The stored form (deterministic: rows sorted)."""
        return {
            "version": VERSION,
            "period": self.period.to_json(),
            "parts": [
                {"kind": p.kind, "key": p.key, "status": p.status, "reason": p.reason}
                for p in sorted(self.parts, key=lambda p: (PART_KINDS.index(p.kind), p.key))
            ],
            "deployments": [
                {
                    "account": d.account,
                    "account_id": d.account_id,
                    "region": d.region,
                    "name": d.name,
                    "model": d.model,
                    "version": d.version,
                    "sku": d.sku,
                    "capacity": d.capacity,
                    "created": d.created,
                }
                for d in sorted(self.deployments, key=lambda d: d.key)
            ],
            "platform": _table(
                ("account", "deployment", "day", "input", "output"), sorted(self.platform)
            ),
            "utilization": _table(
                ("account", "deployment", "day", "average_percent"), sorted(self.utilization)
            ),
            "audio": _table(
                ("account", "deployment", "day", "audio_input", "audio_output"), sorted(self.audio)
            ),
            "metered": [
                {
                    "component": m.component,
                    "services": list(m.services),
                    "dimensions": list(m.dimensions),
                    "columns": ["day", "api", *m.dimensions, "input", "output"],
                    "rows": [[d, a, *vals, i, o] for d, a, vals, i, o in sorted(m.rows)],
                }
                for m in sorted(self.metered, key=lambda m: m.component.lower())
            ],
            "gateway": _table(
                ("service", "day", "api", "host", "deployment", "model", "input", "output"),
                sorted(self.gateway),
            ),
            "costs": {
                "currency": self.cost_currency,
                "columns": ["day", "resource_id", "meter", "cost"],
                "rows": [[d, r, m, str(c)] for d, r, m, c in sorted(self.costs)],
            },
            "prices": self.prices.to_json() if self.prices is not None else None,
            "list_prices": self.list_prices.to_json() if self.list_prices is not None else None,
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, raw: Any, where: str = "usage") -> Usage:
        """Read a stored usage document; anything malformed raises UsageError."""
        if not isinstance(raw, dict):
            raise UsageError(f"{where}: not an object")
        if raw.get("version") != VERSION:
            raise UsageError(f"{where}: usage version {raw.get('version')} is not supported")
        try:
            period = Period.from_json(raw.get("period"))
        except PeriodError as exc:
            raise UsageError(f"{where}: {exc}") from exc
        days = {d.isoformat() for d in period.each_day()}
        parts = []
        for p in _objects(raw.get("parts"), f"{where}.parts"):
            kind, status = str(p.get("kind")), str(p.get("status"))
            if kind not in PART_KINDS or status not in STATUSES:
                raise UsageError(f"{where}.parts: unknown kind or status '{kind}'/'{status}'")
            parts.append(Part(kind, str(p.get("key") or ""), status, str(p.get("reason") or "")))
        deployments = tuple(
            Deployment(
                account=_text(d, "account", where),
                name=_text(d, "name", where),
                model=_maybe(d.get("model")),
                version=_maybe(d.get("version")),
                sku=_maybe(d.get("sku")),
                capacity=_int_or_none(d.get("capacity"), f"{where}.deployments"),
                region=_maybe(d.get("region")),
                account_id=str(d.get("account_id") or ""),
                created=_maybe(d.get("created")),
            )
            for d in _objects(raw.get("deployments"), f"{where}.deployments")
        )
        platform = tuple(
            (str(a), str(dep), _day(day, days, where), _count(i, where), _count(o, where))
            for a, dep, day, i, o in _rows(raw.get("platform"), 5, f"{where}.platform")
        )
        utilization = tuple(
            (str(a), str(dep), _day(day, days, where), _percent(v, where))
            for a, dep, day, v in _rows(raw.get("utilization"), 4, f"{where}.utilization")
        )
        # NOTE: documents stored before audio was collected have no "audio" key (nor part).
        audio = tuple(
            (str(a), str(dep), _day(day, days, where), _count(i, where), _count(o, where))
            for a, dep, day, i, o in _rows(raw.get("audio"), 5, f"{where}.audio")
        )
        metered = []
        for m in _objects(raw.get("metered"), f"{where}.metered"):
            dims = tuple(str(x) for x in m.get("dimensions") or [])
            rows = []
            for row in _rows(m, 4 + len(dims), f"{where}.metered"):
                rows.append(
                    (
                        _day(row[0], days, where),
                        str(row[1]),
                        tuple(str(v) for v in row[2 : 2 + len(dims)]),
                        _count(row[-2], where),
                        _count(row[-1], where),
                    )
                )
            metered.append(
                Metered(
                    str(m.get("component") or ""),
                    tuple(str(s) for s in m.get("services") or []),
                    dims,
                    tuple(rows),
                )
            )
        gateway = tuple(
            (
                str(s),
                _day(day, days, where),
                str(api),
                str(host),
                str(dep),
                str(model),
                _count(i, where),
                _count(o, where),
            )
            for s, day, api, host, dep, model, i, o in _rows(
                raw.get("gateway"), 8, f"{where}.gateway"
            )
        )
        raw_costs: dict[str, Any] = raw["costs"] if isinstance(raw.get("costs"), dict) else {}
        costs = tuple(
            (_day(day, days, where), str(rid), str(meter), _money(c, where))
            for day, rid, meter, c in _rows(raw_costs, 4, f"{where}.costs")
        )
        tables: dict[str, PriceTable | None] = {}
        for key in ("prices", "list_prices"):
            tables[key] = None
            if raw.get(key) is not None:
                try:
                    tables[key] = from_json(raw[key], "stored", f"{where}.{key}")
                except PriceError as exc:
                    raise UsageError(str(exc)) from exc
        return cls(
            period=period,
            deployments=deployments,
            parts=tuple(parts),
            platform=platform,
            audio=audio,
            utilization=utilization,
            metered=tuple(metered),
            gateway=gateway,
            cost_currency=_maybe(raw_costs.get("currency")),
            costs=costs,
            prices=tables["prices"],
            list_prices=tables["list_prices"],
            notes=tuple(str(n) for n in raw.get("notes") or []),
        )


def _table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> dict[str, Any]:
    return {"columns": list(columns), "rows": [list(r) for r in rows]}


def _objects(raw: Any, where: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise UsageError(f"{where}: expected a list of objects")
    return raw


def _rows(raw: Any, width: int, where: str) -> list[list[Any]]:
    if raw is None:
        return []
    rows = raw.get("rows") if isinstance(raw, dict) else None
    if rows is None:
        return []
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == width for r in rows):
        raise UsageError(f"{where}: every row must be a list of {width} values")
    return rows


def _text(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise UsageError(f"{where}: '{key}' is required")
    return value


def _maybe(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _int_or_none(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{where}: '{value}' is not a whole number")
    return value


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"{where}: token count '{value}' is not a whole number >= 0")
    return value


def _percent(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise UsageError(f"{where}: utilization '{value}' is not a percentage")
    return float(value)


def _money(value: Any, where: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise UsageError(f"{where}: cost '{value}' is not a number") from exc
    if not amount.is_finite():
        raise UsageError(f"{where}: cost '{value}' is not a number")
    return amount


def _day(value: Any, days: set[str], where: str) -> str:
    text = str(value)
    try:
        date.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(f"{where}: '{text}' is not a day (YYYY-MM-DD)") from exc
    if text not in days:
        raise UsageError(f"{where}: day {text} is outside the usage period")
    return text


def dumps(value: Any, level: int = 0) -> str:
    """JSON text of a usage document with one row or record per line (a month of rows would
    take a line per number with ``indent``), deterministic and diff-friendly."""
    import json

    pad = " " * (level + 1)
    if isinstance(value, dict) and (level < 2 or "rows" in value):
        items = [f"{pad}{json.dumps(k)}: {dumps(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * level + "}" if items else "{}"
    if isinstance(value, list) and value and all(isinstance(v, list | dict) for v in value):
        lines = [
            pad
            + (
                dumps(v, level + 1)
                if isinstance(v, dict) and "rows" in v
                else json.dumps(v, ensure_ascii=False)
            )
            for v in value
        ]
        return "[\n" + ",\n".join(lines) + "\n" + " " * level + "]"
    return json.dumps(value, ensure_ascii=False)

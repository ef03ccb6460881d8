"""The attribution gap, measured: tokens and money per day, deployment, API and payer.

The recipe is the facts doc's §9. Per day and deployment (a *cell*):

1. ``T``, the platform tokens (Azure Monitor ``ProcessedPromptTokens`` / ``GeneratedTokens``):
   every token the deployment processed, whichever way the call came.
2. What the gateway saw: its token metrics (per API and payer value) and, where the APIM
   service keeps LLM logs, its own per-request log. An API's gateway tokens are the larger of
   the two (a log only an API with LLM logging enabled writes; a metric only a metered API
   emits); log tokens beyond the metered ones went *through the gateway, unmetered*.
3. A metered token is *attributed* when the API's payer dimension is one the identity rules
   trust and its value names somebody (not empty, ``unknown``, ``N/A``, a client IP, the
   built-in all-access subscription). Every other gateway token is unattributed.
4. ``bypass = max(0, T - gateway)``: tokens that never went through the gateway. Without the
   LLM log, "gateway" is only what was metered, so bypass is then an upper bound (it may hold
   calls through unmetered APIs) and says so.
5. Money: Cost Management's amortized cost per account, meter and day where it could be read
   (split among the deployments on that meter by their tokens), else list prices. A PTU
   deployment costs its PTUs x hourly rate x hours whatever it processes: the part its
   utilization says was idle is its own bucket (never "unattributed"), the rest is shared by
   utilization-weighted tokens (input + r x output, r from the facts doc §4.5).

Audio tokens (``AudioPromptTokens`` / ``AudioCompletionTokens``) are assumed to be counted
*inside* ``ProcessedPromptTokens`` / ``GeneratedTokens`` (UNCONFIRMED: the metrics' docs do not
say; the API's usage object and the gateway's token metrics count audio inside prompt and
completion tokens). So a cell's audio is part of ``T``, not added to it: each bucket's tokens are
split into a *text* row and an *audio* row (the cell's audio shared by the buckets' tokens, an
estimate per payer: no gateway figure tells audio apart), the audio row priced at the audio
price or *unpriced* when the table has none, never at the text price. The other case stays
visible: where a day's audio exceeds the text metric's count it cannot be inside it and is added
on top (and said), and the report states how many tokens and how much money more the figures
would show were audio counted apart everywhere. An account whose audio was not measured (a
snapshot stored before it was collected, or a failed read) has no audio rows and says so: any
audio inside its tokens is then priced as text.

Whatever could not be read stays ``None`` (unknown) with the reason, never 0. Tokens are whole
numbers and money micro-units, both split with largest remainders, so every total is exactly
the sum of its rows (the FOCUS export's EffectiveCost column sums to ``totals.cost``).
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from auditor.model import Estate
from auditor.usage.allocate import quantize, split_int, split_money
from auditor.usage.attribution import ApiMeter, judge
from auditor.usage.measured import Deployment, Usage
from auditor.usage.prices import (
    AUDIO_CLASSES,
    PTU_HOUR,
    PTU_OUTPUT_WEIGHT,
    PriceTable,
    meter_matches,
    model_key,
    parse_meter,
)
from auditor.usage.prices import bundled as bundled_prices
from checks.identity import FALLBACKS

STATUSES = ("attributed", "unattributed", "bypass", "idle", "unknown")
TOKEN_KINDS = ("text", "audio")
AUDIO_TOLERANCE = (
    "Audio tokens (AudioPromptTokens, AudioCompletionTokens) are taken to be counted inside "
    "ProcessedPromptTokens and GeneratedTokens (not documented): they are priced at the audio "
    "price and the rest at the text price; the notes say what the figures would be were they "
    "counted apart."
)
UNMETERED = "through the gateway, not metered (seen in its LLM log)"
DEFAULT_TOLERANCE = Decimal("0.02")
MILLION = Decimal(1_000_000)
_REV = re.compile(r";rev=\d+$", re.IGNORECASE)
_MASTER = {"master"}

TOLERANCES = (
    "Streamed completions are counted by the gateway as estimates; the platform counts what the "
    "model processed.",
    "Responses with status 400 (content filter) and 408 (time-out) are billed and counted by the "
    "platform; 401 and 429 are neither billed nor processed.",
    "Cached prompt tokens cannot be told apart in the platform metrics of Standard deployments: "
    "list-price figures charge them at the full input price (an upper bound under caching).",
    "Gateway and platform counts that differ by less than the tolerance are within measuring "
    "error.",
)

_COST_SLOT = {"input": 0, "cached_input": 0, "output": 1, "audio_input": 2, "audio_output": 3}
"""Where a meter's cost goes in a deployment's day: text input, text output, audio in, out."""

Cell = tuple[str, str, str]
"""(day, account, deployment), account and deployment lower case."""
Bucket = tuple[str, str, str, str, str]
"""(status, API id, payer dimension, payer value, reason)."""


@dataclass
class Row:
    """One allocation row: a day, a deployment and who (or what) its tokens and money belong to."""

    day: str
    account: str
    deployment: str
    status: str
    api: str
    dimension: str
    payer: str
    reason: str
    input: int
    output: int
    cost: Decimal | None
    list_cost: Decimal | None
    basis: str
    """``actual`` (Cost Management), ``list`` (price table) or ``unpriced``."""
    estimate: bool
    """The split behind the row borrowed a mix (several candidate deployments, or the PTU
    weighting) rather than measuring it."""
    ptu_hours: Decimal | None = None
    token_class: str = "text"
    """``text`` or ``audio`` (the row's share of the cell's audio tokens, priced apart); empty
    on the rows without tokens (idle PTU capacity, a meter no deployment matches)."""

    @property
    def tokens(self) -> int:
        return self.input + self.output


@dataclass
class ApiFigures:
    """One API's measured figures (what the rules read)."""

    id: str
    meter: ApiMeter | None
    tokens: int = 0
    attributed: int | None = 0
    unattributed: int | None = 0
    unmetered: int = 0
    """Gateway tokens its LLM log saw beyond what its token metric counted."""
    cost: Decimal | None = Decimal(0)
    unattributed_cost: Decimal | None = Decimal(0)
    unpriced: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    """Unattributed tokens by why (the first few are shown as evidence)."""
    deployments: set[tuple[str, str]] = field(default_factory=set)
    mix_borrowed: bool = False

    @property
    def metered(self) -> int:
        """Tokens its token metric counted."""
        return self.tokens - self.unmetered

    @property
    def unpaid(self) -> int | None:
        """Metered tokens that name no payer who can be charged."""
        return None if self.unattributed is None else self.unattributed - self.unmetered


@dataclass
class DeploymentFigures:
    """One deployment's measured figures."""

    deployment: Deployment
    tokens: int | None = 0
    gateway: int | None = 0
    attributed: int | None = 0
    unattributed: int | None = 0
    bypass: int | None = 0
    cost: Decimal | None = Decimal(0)
    attributed_cost: Decimal | None = Decimal(0)
    unattributed_cost: Decimal | None = Decimal(0)
    bypass_cost: Decimal | None = Decimal(0)
    idle_cost: Decimal | None = Decimal(0)
    unpriced: int = 0
    audio: int | None = 0
    """Audio tokens among ``tokens``; None when the account's audio was not measured."""
    unpriced_audio: int = 0
    bases: set[str] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)
    read: bool = True
    bypass_upper_bound: bool = False
    idle_unknown: bool = False

    @property
    def bypass_share(self) -> Decimal | None:
        if self.bypass is None or not self.tokens:
            return None
        return Decimal(self.bypass) / Decimal(self.tokens)


@dataclass
class Gap:
    """The computed gap: rows, figures per API and deployment, and the report's usage object."""

    usage: Usage
    table: PriceTable
    rows: list[Row]
    apis: dict[str, ApiFigures]
    deployments: dict[tuple[str, str], DeploymentFigures]
    meters: dict[str, ApiMeter]
    attribution_known: bool
    gateway_log_known: bool
    log_services: set[str]
    """APIM services (lower case) whose LLM log was read."""
    currency: str
    unknown: list[dict[str, str]]
    notes: list[str]
    tolerance: Decimal
    estate: Estate | None = None

    list_table: PriceTable | None = None
    audio: dict[str, Any] = field(default_factory=dict)
    """What the audio figures rest on (see :meth:`_Compute._audio_figures`)."""

    def report(self) -> dict[str, Any]:
        """The JSON report's ``usage`` object."""
        from auditor.usage.summary import usage_report

        return usage_report(self)

    def stored(self) -> Usage:
        """The usage with the prices it was priced with, as a snapshot keeps it."""
        from dataclasses import replace

        wanted = [(d.model, d.version, d.sku, d.region) for d in self.usage.deployments]
        fallback = self.list_table if self.table.kind == "file" else None
        prices = self.table.only_for(wanted, fallback)
        lists = None
        if self.list_table is not None and self.list_table is not self.table:
            lists = self.list_table.only_for(wanted)
        return replace(self.usage, prices=prices, list_prices=lists)


def names_somebody(dimension: str, value: str) -> tuple[bool, str]:
    """Whether a payer value can be charged, and if not, why."""
    text = value.strip()
    if text.lower() in FALLBACKS:
        return False, f"payer value '{text}' names nobody" if text else "no payer value"
    try:
        ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        return False, "payer value is a client IP address"
    if "subscription" in dimension.lower() and text.lower() in _MASTER:
        return False, "the built-in all-access subscription names no team"
    return True, ""


def measure(
    estate: Estate,
    table: PriceTable | None = None,
    *,
    tolerance: Decimal = DEFAULT_TOLERANCE,
) -> Gap | None:
    """The gap of ``estate.usage`` (None without usage), computed once per estate and table."""
    usage = getattr(estate, "usage", None)
    if usage is None:
        return None
    key = f"gap:{id(estate)}:{id(table)}:{tolerance}"
    cached = usage.memo.get(key)
    if cached is not None and cached.estate is estate:
        return cached  # type: ignore[no-any-return]
    gap = _Compute(estate, usage, table, tolerance).run()
    gap.estate = estate
    usage.memo[key] = gap
    usage.memo["last"] = gap
    return gap


def measured(estate: Estate) -> Gap | None:
    """The gap computed last for this estate (the report's), else one with default prices:
    what the measured rules read (their figures are tokens, which prices do not change)."""
    usage = getattr(estate, "usage", None)
    if usage is None:
        return None
    last = usage.memo.get("last")
    if last is not None and last.estate is estate:
        return last  # type: ignore[no-any-return]
    return measure(estate)


def strip_revision(api: str) -> str:
    """``chat;rev=2`` -> ``chat`` (the API ID dimension names the revision)."""
    return _REV.sub("", api.strip())


class _Compute:
    """One run of the recipe (see the module docstring)."""

    def __init__(
        self, estate: Estate, usage: Usage, table: PriceTable | None, tolerance: Decimal
    ) -> None:
        self.estate = estate
        self.usage = usage
        self.table = table or usage.prices or bundled_prices()
        if self.table.kind == "file":
            self.list_table = bundled_prices()
        elif self.table is usage.prices and usage.list_prices is not None:
            self.list_table = usage.list_prices
        else:
            self.list_table = self.table
        self.tolerance = tolerance
        self.notes: list[str] = []
        self.unknown: list[dict[str, str]] = []
        self.meters = {m.id: m for m in judge(estate)}
        self.by_name: dict[tuple[str, str], ApiMeter] = {}
        for m in self.meters.values():
            self.by_name.setdefault((m.service.lower(), m.api.lower()), m)
        self.deps: dict[tuple[str, str], Deployment] = {d.key: d for d in usage.deployments}
        for acct, dep, *_ in (*usage.platform, *usage.audio):
            # NOTE: a deployment deleted during the period still has metrics but no ARM entry;
            # its tokens count, its price is unknown.
            self.deps.setdefault((acct.lower(), dep.lower()), Deployment(acct, dep))
        self.by_account: dict[str, list[Deployment]] = defaultdict(list)
        for key, d in sorted(self.deps.items()):
            self.by_account[key[0]].append(d)
        self.hosts = self._hosts()
        self.platform: dict[Cell, list[int]] = {}
        for acct, dep, day, i, o in usage.platform:
            cell = (day, acct.lower(), dep.lower())
            have = self.platform.setdefault(cell, [0, 0])
            have[0] += i
            have[1] += o
        self.platform_read = {
            p.key.lower() for p in usage.parts_of("platform") if p.status == "read"
        }
        self.audio_read = {p.key.lower() for p in usage.parts_of("audio") if p.status == "read"}
        self.audio: dict[Cell, list[int]] = {}
        self.audio_inside: dict[Cell, list[int]] = {}
        self.audio_on_top = [0, 0]
        """Audio tokens added to the text metrics' count (days where audio exceeded it)."""
        self.audio_on_top_days = 0
        for acct, dep, day, ai, ao in usage.audio:
            if acct.lower() not in self.audio_read:
                continue
            cell = (day, acct.lower(), dep.lower())
            have = self.audio.setdefault(cell, [0, 0])
            have[0] += ai
            have[1] += ao
        for cell, pair in sorted(self.audio.items()):
            t = self.platform.setdefault(cell, [0, 0])
            inside = [0, 0]
            on_top = False
            for cls in (0, 1):
                if pair[cls] > t[cls]:
                    # NOTE: more audio than the text metric counted: there, audio cannot be
                    # inside it (the assumption fails), so it is counted on top, and said.
                    t[cls] += pair[cls]
                    self.audio_on_top[cls] += pair[cls]
                    on_top = True
                else:
                    inside[cls] = pair[cls]
            self.audio_inside[cell] = inside
            self.audio_on_top_days += on_top
        self.util = {
            (day, a.lower(), d.lower()): Decimal(str(v)) for a, d, day, v in usage.utilization
        }
        metrics = usage.parts_of("metrics")
        self.attribution_known = bool(metrics) and all(
            p.status in ("read", "absent") for p in metrics
        )
        logs = usage.parts_of("llm-log")
        self.log_read = {p.key.lower() for p in logs if p.status == "read"}
        self.gateway_log_known = bool(logs) and all(p.status == "read" for p in logs)
        self.currency = self.table.currency
        self._memo: dict[str, dict[str, list[Decimal]] | None] = {}
        self._unmatched: list[tuple[str, str, str, Decimal]] = []
        self._idle_unknown: set[tuple[str, str]] = set()
        self._cands: dict[tuple[Any, ...], list[tuple[str, str]]] = {}
        self._api_memo: dict[tuple[int, str], ApiMeter | None] = {}
        self._prices: dict[tuple[int, tuple[str, str], str], Decimal | None] = {}
        self._on_meter: dict[tuple[str, str, bool], list[Deployment]] = {}
        self.actual = self._actual_costs()

    # ------------------------------------------------------------------ setup

    def _hosts(self) -> dict[str, str]:
        hosts: dict[str, str] = {}
        accounts = {d.account.lower() for d in self.deps.values()}
        for a in self.estate.ai_accounts:
            for h in a.hosts:
                hosts[h.lower()] = a.name.lower()
        for acct in accounts:
            for suffix in (
                ".openai.azure.com",
                ".cognitiveservices.azure.com",
                ".services.ai.azure.com",
            ):
                hosts.setdefault(acct + suffix, acct)
        return hosts

    def _actual_costs(self) -> dict[tuple[str, str], list[tuple[str, Decimal]]]:
        """Cost Management rows by (day, account), when they can be used."""
        parts = self.usage.parts_of("costs")
        read = [p for p in parts if p.status == "read"]
        for p in parts:
            if p.status != "read":
                self.notes.append(
                    f"Cost Management ({p.key}) not read: {p.reason}; list prices are used "
                    "instead (estimates)"
                )
        if not read:
            if not parts:
                self.notes.append("Cost Management was not asked: figures use list prices")
            return {}
        if not self.usage.costs:
            self.notes.append(
                "Cost Management returned no cost for these accounts in the period (its data "
                "lags by hours): list prices are used"
            )
            return {}
        currency = self.usage.cost_currency or self.currency
        if currency.upper() != self.currency.upper():
            self.notes.append(
                f"Cost Management reports {currency}; list prices are in {self.currency}: "
                f"the report is in {currency} and deployments without actual cost are unpriced"
            )
            self.currency = currency
        by_id = {
            d.account_id.lower(): d.account.lower() for d in self.deps.values() if d.account_id
        }
        out: dict[tuple[str, str], list[tuple[str, Decimal]]] = defaultdict(list)
        for day, rid, meter, cost in self.usage.costs:
            acct = by_id.get(rid.lower().rstrip("/"))
            if acct is None:
                # NOTE: Cost Management lower-cases resource ids; match on the account name too.
                acct = rid.rstrip("/").rsplit("/", 1)[-1].lower()
            out[(day, acct)].append((meter, cost))
        return out

    # ------------------------------------------------------------------ prices

    def _price(self, table: PriceTable, d: Deployment, cls: str) -> Decimal | None:
        key = (id(table), d.key, cls)
        if key not in self._prices:
            self._prices[key] = self._lookup(table, d, cls)
        return self._prices[key]

    def _lookup(self, table: PriceTable, d: Deployment, cls: str) -> Decimal | None:
        p = table.lookup(d.model, d.version, d.sku, d.region, cls)
        if p is None and table is self.table and self.list_table is not table:
            # NOTE: a --prices file overrides the list prices it names; the rest stay listed.
            p = self.list_table.lookup(d.model, d.version, d.sku, d.region, cls)
        return p.amount if p is not None else None

    def _ptu_weight(self, d: Deployment) -> tuple[Decimal, bool]:
        """Input tokens one output token counts as on a PTU (and whether that is a guess)."""
        if d.model and model_key(d.model) in PTU_OUTPUT_WEIGHT:
            return PTU_OUTPUT_WEIGHT[model_key(d.model)], False
        for sku in ("GlobalStandard", "DataZoneStandard"):
            pin = self.table.lookup(d.model, d.version, sku, d.region, "input")
            pout = self.table.lookup(d.model, d.version, sku, d.region, "output")
            if pin and pout and pin.amount:
                return pout.amount / pin.amount, True
        return Decimal(1), True

    # ------------------------------------------------------------------ gateway

    def _resolve(self, service: str, api: str) -> ApiMeter | None:
        return self.by_name.get((service.lower(), strip_revision(api).lower()))

    def _candidates(
        self, accounts: Iterable[str] | None, *, name: str = "", model: str = ""
    ) -> list[tuple[str, str]]:
        """Deployments (on ``accounts``, if given) with that name or model, sorted."""
        wanted = tuple(sorted(accounts)) if accounts else None
        key = (wanted, name.lower(), model)
        found = self._cands.get(key)
        if found is None:
            pool = sorted(self.deps.items())
            found = [
                k
                for k, d in pool
                if (wanted is None or k[0] in wanted)
                and (not name or k[1] == name.lower())
                and (not model or (d.model is not None and _same_model(d.model, model)))
            ]
            self._cands[key] = found
        return found

    def _platform_weight(self, day: str, key: tuple[str, str], cls: int | None = None) -> int:
        t = self.platform.get((day, *key))
        if not t:
            return 0
        return t[cls] if cls is not None else t[0] + t[1]

    def _kind_weight(self, day: str, key: tuple[str, str], slot: int) -> int:
        """A deployment's tokens on a day in one cost slot (text input, text output, audio
        input, audio output): text is the platform's count less the audio in it."""
        cell = (day, *key)
        audio = self.audio.get(cell, (0, 0))
        if slot >= 2:
            return audio[slot - 2]
        return self._platform_weight(day, key, slot) - audio[slot]

    def run(self) -> Gap:
        days = [d.isoformat() for d in self.usage.period.each_day()]
        self.unmapped: dict[str, int] = defaultdict(int)
        self.borrowed: set[str] = set()
        log_cells = self._log_cells()
        metered_cells = self._metered_cells(log_cells)
        rows: list[Row] = []
        self.skipped_tokens = 0
        cells = set(self.platform) | set(log_cells) | set(metered_cells)
        for d in self.deps.values():
            if d.provisioned:
                cells.update((day, *d.key) for day in days)
        self.overcount = 0
        for cell in sorted(cells):
            rows.extend(self._cell(cell, log_cells.get(cell, {}), metered_cells.get(cell, {})))
        rows.extend(self._unmatched_meters())
        return self._figures(rows)

    def _log_cells(self) -> dict[Cell, dict[str, list[int]]]:
        """The LLM log's tokens per cell and API id."""
        out: dict[Cell, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for service, day, api_raw, host, dep, model, i, o in self.usage.gateway:
            if service.lower() not in self.log_read:
                continue
            meter = self._resolve(service, api_raw)
            api_id = meter.id if meter else f"{service}/{strip_revision(api_raw) or '?'}"
            acct = self.hosts.get(host.lower()) if host else None
            accounts = [acct] if acct else (list(meter.accounts) if meter else None)
            cands = (
                self._candidates(accounts, name=dep)
                if dep
                else self._candidates(accounts, model=model)
                if model
                else []
            )
            self._place(out, day, api_id, api_id, cands, i, o, None)
        return out

    def _place(
        self,
        out: dict[Cell, Any],
        day: str,
        key: Any,
        api_id: str,
        cands: list[tuple[str, str]],
        i: int,
        o: int,
        weights: list[int] | None,
    ) -> None:
        """Gateway tokens onto their deployments (noted when none, or split between several)."""
        if not cands:
            self.unmapped[api_id] += i + o
            return
        if len(cands) > 1:
            self.borrowed.add(api_id)
        self._spread(out, day, key, cands, i, o, weights)

    def _spread(
        self,
        out: dict[Cell, Any],
        day: str,
        key: Any,
        cands: list[tuple[str, str]],
        i: int,
        o: int,
        weights: list[int] | None,
    ) -> None:
        w = weights or [self._platform_weight(day, c) for c in cands]
        for c, si, so in zip(cands, split_int(i, w), split_int(o, w), strict=True):
            if si or so:
                have = out[(day, *c)][key]
                have[0] += si
                have[1] += so

    def _metered_cells(
        self, log_cells: dict[Cell, dict[str, list[int]]]
    ) -> dict[Cell, dict[Bucket, list[int]]]:
        """The token metrics' tokens per cell and bucket (API, payer, status)."""
        out: dict[Cell, dict[Bucket, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        log_by_api: dict[tuple[str, str], dict[tuple[str, str], int]] = defaultdict(dict)
        for (day, acct, dep), per_api in log_cells.items():
            for api_id, (i, o) in per_api.items():
                log_by_api[(day, api_id)][(acct, dep)] = i + o
        buckets: dict[tuple[Any, ...], Bucket] = {}
        for table in self.usage.metered:
            services = {s.lower() for s in table.services}
            apis = [
                m
                for m in self.meters.values()
                if (not services or m.service.lower() in services)
                and (
                    not m.components or table.component.lower() in {c.lower() for c in m.components}
                )
            ]
            dims = [d.lower() for d in table.dimensions]
            for day, api_raw, vals, i, o in table.rows:
                values = dict(zip(dims, vals, strict=True))
                meter = self._api_of(api_raw, values, apis)
                memo_key = (id(meter), api_raw, vals, table.component)
                bucket = buckets.get(memo_key)
                if bucket is None:
                    bucket = buckets[memo_key] = self._bucket(
                        meter, api_raw, values, table.component
                    )
                cands, weights = self._where(meter, values, day, log_by_api)
                self._place(out, day, bucket, bucket[1], cands, i, o, weights)
        return out

    def _api_of(
        self, api_raw: str, values: dict[str, str], apis: list[ApiMeter]
    ) -> ApiMeter | None:
        name = strip_revision(api_raw).lower()
        if name:
            key = (id(apis), name)
            if key not in self._api_memo:
                found = [m for m in apis if m.api.lower() == name]
                self._api_memo[key] = found[0] if len(found) == 1 else None
            return self._api_memo[key]
        # NOTE: a metric without the "API ID" dimension names no API; its rows belong to the one
        # API of the component that emits such a metric (and fills the row's payer dimension).
        bare = [m for m in apis if m.metered and not m.has_api_dimension]
        if len(bare) > 1:
            bare = [m for m in bare if m.payer and values.get(m.payer.lower())]
        return bare[0] if len(bare) == 1 else None

    def _bucket(
        self, meter: ApiMeter | None, api_raw: str, values: dict[str, str], component: str
    ) -> Bucket:
        if meter is None:
            name = strip_revision(api_raw) or "(no API ID)"
            where = component.rsplit("/", 1)[-1]
            return (
                "unattributed",
                f"?/{name}",
                "",
                "",
                f"metric rows in {where} that name no API of this estate",
            )
        if meter.payer is None:
            return ("unattributed", meter.id, "", "", "the token metric names no payer")
        value = values.get(meter.payer.lower(), "")
        if meter.payer_kind != "trusted":
            return ("unattributed", meter.id, meter.payer, value, f"payer {meter.payer_why}")
        ok, why = names_somebody(meter.payer, value)
        if not ok:
            return ("unattributed", meter.id, meter.payer, value, why)
        return ("attributed", meter.id, meter.payer, value, "")

    def _where(
        self,
        meter: ApiMeter | None,
        values: dict[str, str],
        day: str,
        log_by_api: dict[tuple[str, str], dict[tuple[str, str], int]],
    ) -> tuple[list[tuple[str, str]], list[int] | None]:
        """Which deployments a metric row's tokens went to, and the weights of a split."""
        accounts = list(meter.accounts) if meter and meter.accounts else None
        dep = (
            values.get(meter.deployment_dimension.lower(), "")
            if meter and (meter.deployment_dimension)
            else ""
        )
        model = (
            values.get(meter.model_dimension.lower(), "")
            if meter and (meter.model_dimension)
            else ""
        )
        if dep:
            cands = self._candidates(accounts, name=dep)
        elif model:
            cands = self._candidates(accounts, model=model)
        elif meter and meter.fixed_deployment:
            cands = self._candidates(accounts, name=meter.fixed_deployment)
        else:
            cands = []
        logged = log_by_api.get((day, meter.id), {}) if meter else {}
        if not cands and logged:
            # NOTE: the API's own LLM log says which deployments served it that day: a far
            # better split than the account's platform mix.
            cands = sorted(logged)
        if not cands and meter is not None and meter.accounts:
            cands = self._candidates(meter.accounts)
        if len(cands) > 1 and logged and any(logged.get(c) for c in cands):
            return cands, [logged.get(c, 0) for c in cands]
        return cands, None

    # ------------------------------------------------------------------ one cell

    def _cell(
        self, cell: Cell, logged: dict[str, list[int]], metered: dict[Bucket, list[int]]
    ) -> list[Row]:
        day, acct, dep = cell
        d = self.deps.get((acct, dep)) or Deployment(acct, dep)
        if acct not in self.platform_read:
            self.skipped_tokens += sum(i + o for i, o in logged.values())
            self.skipped_tokens += sum(i + o for i, o in metered.values())
            return []
        t_in, t_out = self.platform.get(cell, [0, 0])
        buckets: dict[Bucket, list[int]] = {}
        metered_api: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        if self.attribution_known:
            for b, (i, o) in metered.items():
                buckets[b] = [i, o]
                metered_api[b[1]][0] += i
                metered_api[b[1]][1] += o
        for api_id, (li, lo) in logged.items():
            mi, mo = metered_api.get(api_id, (0, 0))
            extra = [max(0, li - mi), max(0, lo - mo)]
            if not any(extra):
                continue
            status = "unattributed" if self.attribution_known else "unknown"
            reason = (
                UNMETERED
                if self.attribution_known
                else "through the gateway; the token metrics could not be read"
            )
            buckets[(status, api_id, "", "", reason)] = extra
        g_in = sum(v[0] for v in buckets.values())
        g_out = sum(v[1] for v in buckets.values())
        upper = not self._log_known_for(acct)
        if not self.attribution_known and upper:
            buckets = {
                (
                    "unknown",
                    "",
                    "",
                    "",
                    "neither the token metrics nor the gateway's LLM log could be read",
                ): [t_in, t_out]
            }
        else:
            b_in, b_out = max(0, t_in - g_in), max(0, t_out - g_out)
            if b_in or b_out:
                reason = (
                    "never went through the gateway"
                    if not upper
                    else "not seen by the gateway's token metrics (no LLM log: may include calls "
                    "through unmetered APIs)"
                )
                buckets[("bypass", "", "", "", reason)] = [b_in, b_out]
            self.overcount += max(0, g_in - t_in) + max(0, g_out - t_out)
            buckets = _fit(buckets, t_in, t_out)
        return self._price_cell(day, d, buckets)

    def _log_known_for(self, acct: str) -> bool:
        """Every APIM service in front of the account keeps a readable LLM log."""
        services = {m.service.lower() for m in self.meters.values() if acct in m.accounts}
        if not services:
            return self.gateway_log_known
        return all(s in self.log_read for s in services)

    # ------------------------------------------------------------------ money

    def _price_cell(self, day: str, d: Deployment, buckets: dict[Bucket, list[int]]) -> list[Row]:
        ordered = sorted(buckets.items(), key=lambda kv: (STATUSES.index(kv[0][0]), kv[0][1:]))
        items = self._by_kind((day, *d.key), [(b, v) for b, v in ordered if v[0] or v[1]])
        if d.provisioned:
            return self._ptu(day, d, items)
        actual = self._actual_for(day, d)
        if actual is not None:
            # NOTE: a meter's cost with no tokens of its kind that day (audio metered, audio
            # not measured) goes with the other kind's tokens rather than be lost.
            have = {kind: any(k == kind for _, k, _ in items) for kind in TOKEN_KINDS}
            if not have["audio"]:
                actual = [actual[0] + actual[2], actual[1] + actual[3], Decimal(0), Decimal(0)]
            elif not have["text"]:
                actual = [Decimal(0), Decimal(0), actual[0] + actual[2], actual[1] + actual[3]]
        rows: list[Row] = []
        for n, kind in enumerate(TOKEN_KINDS):
            mine = [(b, v) for b, k, v in items if k == kind]
            if not mine:
                continue
            classes = ("input", "output") if kind == "text" else AUDIO_CLASSES
            p_in, p_out = (self._price(self.table, d, c) for c in classes)
            l_in, l_out = (self._price(self.list_table, d, c) for c in classes)
            costs: list[Decimal | None]
            if actual is not None:
                ins = split_money(actual[2 * n], [v[0] for _, v in mine])
                outs = split_money(actual[2 * n + 1], [v[1] for _, v in mine])
                costs = [x + y for x, y in zip(ins, outs, strict=True)]
                basis = "actual"
            elif p_in is not None and p_out is not None and self.currency == self.table.currency:
                exact = [(i * p_in + o * p_out) / MILLION for _, (i, o) in mine]
                costs = list(split_money(sum(exact, Decimal(0)), exact))
                basis = "list"
            else:
                costs = [None] * len(mine)
                basis = "unpriced"
            list_ok = l_in is not None and l_out is not None
            mixed = kind == "audio" and len(mine) > 1  # the audio split per payer is borrowed
            for m, (b, (i, o)) in enumerate(mine):
                list_cost = (
                    quantize((i * (l_in or 0) + o * (l_out or 0)) / MILLION)
                    if list_ok
                    else costs[m]
                )
                priced = list_cost if basis != "unpriced" else None
                estimate = b[1] in self.borrowed or mixed
                rows.append(
                    _row(day, d, b, i, o, costs[m], priced, basis, estimate, token_class=kind)
                )
        return rows

    def _by_kind(
        self, cell: Cell, items: list[tuple[Bucket, list[int]]]
    ) -> list[tuple[Bucket, str, list[int]]]:
        """Each bucket's tokens as a text part and an audio part: the cell's audio shared by the
        buckets' input and output tokens (no gateway figure tells a payer's audio apart)."""
        audio = self.audio.get(cell)
        if not audio or not items:
            return [(b, "text", v) for b, v in items]
        a_in = split_int(audio[0], [v[0] for _, v in items])
        a_out = split_int(audio[1], [v[1] for _, v in items])
        out: list[tuple[Bucket, str, list[int]]] = []
        for (b, (i, o)), ai, ao in zip(items, a_in, a_out, strict=True):
            if i - ai or o - ao:
                out.append((b, "text", [i - ai, o - ao]))
            if ai or ao:
                out.append((b, "audio", [ai, ao]))
        return out

    def _actual_for(self, day: str, d: Deployment) -> list[Decimal] | None:
        """Cost Management's input, output, audio input and audio output cost of a
        pay-as-you-go deployment on a day."""
        shares = self._actual_day(day, d.account.lower())
        return shares.get(d.key[1]) if shares is not None else None

    def _actual_day(self, day: str, acct: str) -> dict[str, list[Decimal]] | None:
        key = f"{day}:{acct}"
        if key in self._memo:
            return self._memo[key]
        rows = self.actual.get((day, acct))
        result: dict[str, list[Decimal]] | None = None
        if rows:
            result = {}
            deps = [d for d in self.by_account.get(acct, []) if not d.provisioned]
            leftover: list[tuple[str, Decimal]] = []
            for meter_name, cost in rows:
                meter = parse_meter(meter_name)
                if meter is None or meter.token_class == PTU_HOUR:
                    if meter is None:
                        leftover.append((meter_name, cost))
                    continue
                cls = _COST_SLOT[meter.token_class]
                on = self._deployments_on(acct, meter_name, False)
                if not on:
                    leftover.append((meter_name, cost))
                    continue
                weights = [self._kind_weight(day, d.key, cls) for d in on]
                for d, part in zip(on, split_money(cost, weights), strict=True):
                    result.setdefault(d.key[1], [Decimal(0)] * 4)[cls] += part
            self._leftovers(day, acct, leftover, deps, result)
        self._memo[key] = result
        return result

    def _deployments_on(self, acct: str, meter_name: str, provisioned: bool) -> list[Deployment]:
        """The account's (provisioned or pay-as-you-go) deployments that bill on a meter."""
        key = (acct, meter_name, provisioned)
        found = self._on_meter.get(key)
        if found is None:
            meter = parse_meter(meter_name)
            found = [
                d
                for d in self.by_account.get(acct, [])
                if d.provisioned == provisioned
                and meter is not None
                and meter_matches(meter, d.model, d.version, d.sku)
            ]
            self._on_meter[key] = found
        return found

    def _leftovers(
        self,
        day: str,
        acct: str,
        leftover: list[tuple[str, Decimal]],
        deps: list[Deployment],
        result: dict[str, list[Decimal]],
    ) -> None:
        """Meters no deployment matched: shared among the account's deployments that have
        tokens but no matched meter (their meter name was not recognised), else kept as an
        account-level charge of their own."""
        if not leftover:
            return
        orphans = [d for d in deps if d.key[1] not in result and self._platform_weight(day, d.key)]
        for meter_name, cost in leftover:
            if orphans:
                weights = [self._platform_weight(day, d.key) for d in orphans]
                for d, part in zip(orphans, split_money(cost, weights), strict=True):
                    result[d.key[1]] = [part, Decimal(0), Decimal(0), Decimal(0)]
            else:
                self._unmatched.append((day, acct, meter_name, cost))

    def _unmatched_meters(self) -> list[Row]:
        rows = []
        for day, acct, meter_name, cost in sorted(self._unmatched):
            name = next((d.account for d in self.by_account.get(acct, [])), acct)
            rows.append(
                Row(
                    day,
                    name,
                    f"(meter: {meter_name})",
                    "unattributed",
                    "",
                    "",
                    "",
                    "Cost Management meter no deployment of the account matches",
                    0,
                    0,
                    quantize(cost),
                    quantize(cost),
                    "actual",
                    False,
                    None,
                    "",  # no tokens: no token class
                )
            )
        return rows

    def _ptu_cost(self, day: str, d: Deployment) -> tuple[Decimal | None, Decimal, str]:
        """A PTU deployment's cost on a day, its PTU-hours, and the basis."""
        hours = _hours_on(day, d.created)
        ptu_hours = Decimal(d.capacity or 0) * hours
        rows = self.actual.get((day, d.key[0]))
        if rows:
            total = Decimal(0)
            matched = False
            for meter_name, cost in rows:
                meter = parse_meter(meter_name)
                if meter is None or meter.token_class != PTU_HOUR:
                    continue
                on = self._deployments_on(d.key[0], meter_name, True)
                if d in on:
                    matched = True
                    weights = [Decimal(x.capacity or 0) for x in on]
                    total += split_money(cost, weights)[on.index(d)]
            if matched:
                return total, ptu_hours, "actual"
        rate = self._price(self.table, d, PTU_HOUR)
        if rate is None or d.capacity is None or self.currency != self.table.currency:
            return None, ptu_hours, "unpriced"
        return ptu_hours * rate, ptu_hours, "list"

    def _ptu(
        self, day: str, d: Deployment, items: list[tuple[Bucket, str, list[int]]]
    ) -> list[Row]:
        cost, ptu_hours, basis = self._ptu_cost(day, d)
        r, guessed = self._ptu_weight(d)
        # NOTE: audio tokens weigh as text tokens do here: how PTU utilization counts audio is
        # not documented; the PTU cost is fixed either way, only its split by payer moves.
        weights = [Decimal(i) + r * Decimal(o) for _, _, (i, o) in items]
        util = self.util.get((day, *d.key))
        idle_share: Decimal | None
        if not any(weights):
            idle_share = Decimal(1)  # nothing processed that day: all of it was idle
        elif util is not None:
            idle_share = max(Decimal(0), min(Decimal(1), 1 - util / 100))
        else:
            idle_share = None
            self._idle_unknown.add(d.key)
        shares: list[Decimal | None] = [None] * len(items)
        hours: list[Decimal | None] = [None] * len(items)
        idle = idle_hours = Decimal(0)
        if idle_share is None:
            hours = list(split_money(ptu_hours, weights))
            if cost is not None:
                shares = list(split_money(cost, weights))
        else:
            idle_hours = quantize(ptu_hours * idle_share)
            if any(weights):
                hours = list(split_money(ptu_hours - idle_hours, weights))
            if cost is not None:
                total = quantize(cost)
                idle = quantize(total * idle_share)
                if any(weights):
                    shares = list(split_money(total - idle, weights))
        rows = [
            _row(
                day,
                d,
                b,
                i,
                o,
                shares[n],
                shares[n],
                basis,
                guessed or b[1] in self.borrowed or kind == "audio",
                hours[n],
                token_class=kind,
            )
            for n, (b, kind, (i, o)) in enumerate(items)
        ]
        if idle_share is not None and cost is not None and idle:
            percent = quantize(idle_share * 100).normalize()
            rows.append(
                Row(
                    day,
                    d.account,
                    d.name,
                    "idle",
                    "",
                    "",
                    "",
                    f"unused PTU capacity ({percent:f} % idle)",
                    0,
                    0,
                    idle,
                    idle,
                    basis,
                    False,
                    idle_hours,
                    "",  # no tokens: no token class
                )
            )
        return rows

    # ------------------------------------------------------------------ figures

    def _figures(self, rows: list[Row]) -> Gap:
        apis: dict[str, ApiFigures] = {}
        deps: dict[tuple[str, str], DeploymentFigures] = {}
        for d in sorted(self.deps.values(), key=lambda d: d.key):
            f = DeploymentFigures(d)
            if d.key[0] not in self.platform_read:
                part = self.usage.part("platform", d.account)
                f.read = False
                f.tokens = f.gateway = f.attributed = f.unattributed = f.bypass = None
                f.cost = f.attributed_cost = f.unattributed_cost = f.bypass_cost = None
                f.idle_cost = None
                f.reasons.append(
                    f"platform metrics not read: {part.reason if part else 'not collected'}"
                )
            elif d.key[0] not in self.audio_read:
                f.audio = None  # not measured: unknown, never 0
            deps[d.key] = f
        for row in rows:
            key = (row.account.lower(), row.deployment.lower())
            f = deps.get(key) or deps.setdefault(
                key, DeploymentFigures(Deployment(row.account, row.deployment))
            )
            _add_row(f, row)
            if row.api and row.status != "bypass":
                a = apis.get(row.api) or apis.setdefault(
                    row.api, ApiFigures(row.api, self.meters.get(row.api))
                )
                _add_api_row(a, row)
                a.deployments.add(key)
        for api_id, figures in apis.items():
            figures.mix_borrowed = api_id in self.borrowed
            if not self.attribution_known:
                figures.attributed = figures.unattributed = None
                figures.unattributed_cost = None
            if figures.unpriced == figures.tokens:
                figures.cost = figures.unattributed_cost = None
        for key in self._idle_unknown:
            if key in deps:
                # NOTE: on the days without a utilization reading the whole PTU cost was shared
                # by tokens, so how much of it sat idle is unknown, not 0.
                deps[key].idle_unknown = True
                deps[key].idle_cost = None
        for f in deps.values():
            if f.bases == {"unpriced"}:
                f.cost = f.attributed_cost = f.unattributed_cost = None
                f.bypass_cost = f.idle_cost = None
            if f.read and not self._log_known_for(f.deployment.key[0]):
                f.bypass_upper_bound = True
            if not self.attribution_known and f.read:
                f.attributed = f.unattributed = None
                f.attributed_cost = f.unattributed_cost = None
                if not self._log_known_for(f.deployment.key[0]):
                    f.bypass = None
                    f.bypass_cost = None
        self._unknowns()
        audio = self._audio_figures(rows)
        return Gap(
            usage=self.usage,
            table=self.table,
            rows=rows,
            apis=apis,
            deployments=deps,
            meters=self.meters,
            attribution_known=self.attribution_known,
            gateway_log_known=self.gateway_log_known,
            log_services=self.log_read,
            currency=self.currency,
            unknown=self.unknown,
            notes=self._all_notes(),
            tolerance=self.tolerance,
            list_table=self.list_table,
            audio=audio,
        )

    def _audio_figures(self, rows: list[Row]) -> dict[str, Any]:
        """What the audio figures rest on, and the notes that say it: the assumption (audio
        inside the text metrics), where the data contradicts it, what the figures would be in
        the other case, and which accounts' audio was not measured."""
        read = sorted(
            {d.account for d in self.deps.values() if d.key[0] in self.platform_read},
            key=str.lower,
        )
        missing = [a for a in read if a.lower() not in self.audio_read]
        tokens = sum(r.tokens for r in rows if r.token_class == "audio")
        extra_tokens = 0
        extra_cost = Decimal(0)
        complete = True
        for (day, acct, dep), (ai, ao) in sorted(self.audio_inside.items()):
            if acct not in self.platform_read or not (ai or ao):
                continue
            extra_tokens += ai + ao
            d = self.deps[(acct, dep)]
            if d.provisioned or self._actual_for(day, d) is not None:
                continue  # a fixed or billed cost does not move with the token count
            p_in, p_out = self._price(self.table, d, "input"), self._price(self.table, d, "output")
            if p_in is None or p_out is None:
                complete = False
                continue
            extra_cost += (ai * p_in + ao * p_out) / MILLION
        if tokens:
            if extra_cost:
                money = f"≈ {self.currency} {quantize(extra_cost):,.2f} more at the text price"
                money += "" if complete else " (at least: some text prices are unknown)"
            elif not complete:
                money = "at a cost the price table cannot tell (no text price)"
            else:
                money = "at no cost more (a fixed PTU cost, or Cost Management's billed cost)"
            apart = (
                f"; were they counted apart, the deployments processed {extra_tokens:,} tokens "
                f"more than reported, {money}"
                if extra_tokens
                else ""
            )
            self.notes.append(
                f"{tokens:,} audio tokens are priced at their audio price (unpriced where the "
                "price table has none), taken to be inside the platform's prompt and completion "
                f"tokens{apart}"
            )
        on_top = sum(self.audio_on_top)
        if on_top:
            self.notes.append(
                f"on {self.audio_on_top_days:,} deployment-day(s) the audio tokens exceeded the "
                "text metrics' count, so there they cannot be inside it: "
                f"{on_top:,} audio tokens were added to the platform tokens"
            )
        if missing:
            stored = [a for a in missing if self.usage.part("audio", a) is None]
            failed = [a for a in missing if a not in stored]
            if stored:
                self.notes.append(
                    "audio tokens were not measured for " + ", ".join(stored) + " (stored "
                    "before they were collected): unknown, not zero; any audio inside their "
                    "tokens is priced at the text price"
                )
            if failed:
                self.notes.append(
                    "audio tokens could not be read for " + ", ".join(failed) + " (see "
                    "unknown): their text tokens are counted; any audio inside them is priced "
                    "at the text price"
                )
        return {
            "measured": bool(read) and not missing,
            "tokens": tokens if read and not missing else None,
            "on_top_tokens": on_top,
            "if_apart_tokens": extra_tokens,
            "if_apart_cost": quantize(extra_cost) if complete else None,
        }

    def _unknowns(self) -> None:
        for p in self.usage.parts:
            absent_log = p.kind == "llm-log" and p.status == "absent"
            if (p.status in ("unknown", "forbidden") or absent_log) and p.kind != "costs":
                self.unknown.append({"what": f"{p.kind} {p.key}", "reason": p.reason or p.status})
        if not self.usage.parts_of("metrics"):
            self.unknown.append(
                {
                    "what": "token metrics",
                    "reason": "no Application Insights component receives the gateway's token "
                    "metrics, so nothing could be read",
                }
            )

    def _all_notes(self) -> list[str]:
        notes = list(self.usage.notes) + self.notes
        if self.skipped_tokens:
            notes.append(
                f"{self.skipped_tokens:,} gateway tokens went to accounts whose platform metrics "
                "could not be read; they are left out of every figure"
            )
        for api_id, n in sorted(self.unmapped.items()):
            notes.append(
                f"{n:,} gateway tokens of {api_id} could not be matched to a deployment and are "
                "left out of every figure"
            )
        if self.borrowed:
            notes.append(
                "tokens split between several deployments by the API's measured mix (its LLM "
                "log, else the platform tokens), an estimate for each payer: "
                + ", ".join(sorted(self.borrowed))
            )
        if self.overcount:
            notes.append(
                f"the gateway counted {self.overcount:,} tokens more than the platform processed "
                "(streaming estimates, retries): gateway figures are scaled down to the platform's"
            )
        return notes


def _row(
    day: str,
    d: Deployment,
    b: Bucket,
    i: int,
    o: int,
    cost: Decimal | None,
    list_cost: Decimal | None,
    basis: str,
    estimate: bool,
    hours: Decimal | None = None,
    *,
    token_class: str = "text",
) -> Row:
    """The allocation row of one bucket of a deployment's day."""
    status, api, dimension, payer, reason = b
    return Row(
        day,
        d.account,
        d.name,
        status,
        api,
        dimension,
        payer,
        reason,
        i,
        o,
        cost,
        list_cost,
        basis,
        estimate,
        hours,
        token_class,
    )


def _fit(buckets: dict[Bucket, list[int]], t_in: int, t_out: int) -> dict[Bucket, list[int]]:
    """Buckets scaled down to the platform's count where the gateway counted more."""
    out = {b: list(v) for b, v in buckets.items()}
    keys = sorted(out)
    for cls, total in ((0, t_in), (1, t_out)):
        have = sum(out[b][cls] for b in keys)
        if have > total:
            for b, n in zip(keys, split_int(total, [out[b][cls] for b in keys]), strict=True):
                out[b][cls] = n
    return out


def _add_api_row(a: ApiFigures, row: Row) -> None:
    a.tokens += row.tokens
    if row.cost is not None and a.cost is not None:
        a.cost += row.cost
    elif row.cost is None:
        a.unpriced += row.tokens
    if row.reason == UNMETERED:
        a.unmetered += row.tokens
    if row.status == "attributed" and a.attributed is not None:
        a.attributed += row.tokens
    elif row.status == "unattributed" and a.unattributed is not None:
        a.unattributed += row.tokens
        a.reasons[row.reason] = a.reasons.get(row.reason, 0) + row.tokens
        if a.unattributed_cost is not None and row.cost is not None:
            a.unattributed_cost += row.cost


def _add_row(f: DeploymentFigures, row: Row) -> None:
    f.bases.add(row.basis)
    if row.token_class == "audio" and f.audio is not None:
        f.audio += row.tokens
    if row.status != "idle":
        if f.tokens is not None:
            f.tokens += row.tokens
        if row.cost is None:
            f.unpriced += row.tokens
            if row.token_class == "audio":
                f.unpriced_audio += row.tokens
    if row.status in ("attributed", "unattributed", "unknown") and f.gateway is not None:
        f.gateway += row.tokens
    cost = row.cost
    if cost is not None:
        f.cost = (f.cost or Decimal(0)) + cost
    if row.status == "attributed":
        f.attributed = (f.attributed or 0) + row.tokens
        if cost is not None:
            f.attributed_cost = (f.attributed_cost or Decimal(0)) + cost
    elif row.status in ("unattributed", "bypass"):
        f.unattributed = (f.unattributed or 0) + row.tokens
        if cost is not None:
            f.unattributed_cost = (f.unattributed_cost or Decimal(0)) + cost
        if row.status == "bypass":
            f.bypass = (f.bypass or 0) + row.tokens
            if cost is not None:
                f.bypass_cost = (f.bypass_cost or Decimal(0)) + cost
    elif row.status == "idle" and cost is not None:
        f.idle_cost = (f.idle_cost or Decimal(0)) + cost


def _same_model(have: str, want: str) -> bool:
    """A deployment's model against a model dimension or LLM-log ModelName, which may carry the
    version (``gpt-4o-2024-08-06``)."""
    a, b = model_key(have), model_key(want)
    return a == b or b.startswith(a + "-") and bool(re.match(r"^\d{4}", b[len(a) + 1 :]))


def _hours_on(day: str, created: str | None) -> Decimal:
    """Hours of ``day`` a deployment existed (PTU hours are prorated from its creation)."""
    if not created:
        return Decimal(24)
    try:
        when = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return Decimal(24)
    this = date.fromisoformat(day)
    if when.date() > this:
        return Decimal(0)
    if when.date() < this:
        return Decimal(24)
    minutes = 24 * 60 - (when.hour * 60 + when.minute)
    return Decimal(minutes) / Decimal(60)

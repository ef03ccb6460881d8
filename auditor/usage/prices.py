"""List prices: the bundled dated table, ``--prices FILE``, and Retail Prices API meter parsing.

A price is looked up by the deployment's model, version, deployment type (``sku.name``), region
and token class (``input``, ``cached_input``, ``output``, ``audio_input``, ``audio_output``) or
``ptu_hour`` for provisioned deployments. Audio tokens (realtime and audio models) bill on meters
of their own, at many times the text price: they are priced with the audio classes only, never
with the text price (a model without an audio price leaves its audio tokens unpriced). Where no
price is known the figure is *unpriced*: it is never given an invented number. Three file shapes
are read:

- our own table (``{"format": "attribution-auditor-prices", ...}``, what ``auditor prices
  update`` writes and what is bundled in ``data/prices.json``);
- the Azure Retail Prices API's JSON (``{"Items": [...]}``), meters parsed by :func:`parse_meter`;
- a simple CSV: ``model,version,sku,region,class,price,unit`` (unit ``1M``, ``1K`` or ``hour``;
  empty version/region mean any), for negotiated prices.

Meter names are inconsistent (``gpt 4.1 mini Inp glbl Tokens``, ``gpt-4o-mini-0718-Inp-glbl
Tokens``, ``o3 Inpt DZone 1M Tokens``): they are parsed word by word rather than matched to one
shape (facts doc §4.1). ``1K`` prices are turned into per-1M prices. Audio meters (community
observations of the Retail Prices API, not a Microsoft list) say the modality with a word
(``gpt-4o-rt-aud-1217 Inp glbl Tokens``, ``gpt-realtime-2 Audio inp Gl 1M Tokens``, ``gpt rt txt
0828 Inp glbl Tokens``), except in the audio models' own names (``gpt aud 0828 Inp glbl Tokens``
is gpt-audio's audio input; ``gpt aud 0828 txt Inp glbl Tokens`` its text input).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from auditor.errors import AuditorError

FORMAT = "attribution-auditor-prices"
TOKEN_CLASSES = ("input", "cached_input", "output", "audio_input", "audio_output")
AUDIO_CLASSES = ("audio_input", "audio_output")
PTU_HOUR = "ptu_hour"
CLASSES = (*TOKEN_CLASSES, PTU_HOUR)
PROVISIONED = {
    "Global": "GlobalProvisionedManaged",
    "Data Zone": "DataZoneProvisionedManaged",
    "Regional": "ProvisionedManaged",
}
#: PTU utilization weight of one output token, in input tokens (facts doc §4.5: "gpt-5 and
#: gpt-5-mini, 1 output token counts as 8 input tokens ... gpt-4.1 ... 4").
PTU_OUTPUT_WEIGHT = {"gpt-4.1": Decimal(4), "gpt-5": Decimal(8), "gpt-5-mini": Decimal(8)}
_MILLION = Decimal(1_000_000)

_INPUT = {"inp", "input", "inpt", "in"}
_OUTPUT = {"outp", "output", "outpt", "opt", "out"}
_CACHED = {"cached", "cchd", "cd"}
_GLOBAL = {"glbl", "global", "gl"}
_DATAZONE = {"dzone", "dz"}
_REGIONAL = {"regnl", "regional"}
_NOISE = {"tokens", "token", "1m", "1k", "std"}
_AUDIO = {"aud", "audio"}
_TEXT = {"txt", "text"}
#: Abbreviations of model words in meter names, as ARM spells them in model names.
_ALIASES = {
    "rt": ("realtime",),
    "realtimeprvw": ("realtime", "preview"),
    "prvw": ("preview",),
    "mn": ("mini",),
    "trscb": ("transcribe",),
    "tcrb": ("transcribe",),
    "gpt4o": ("gpt", "4o"),
    "gpt4omini": ("gpt", "4o", "mini"),
}
#: The audio models' names begin with the word "audio" after these (gpt-audio, gpt-4o-audio-
#: preview, gpt-4o-mini-audio-preview): there "aud" is the model, elsewhere the modality.
_AUDIO_FAMILIES = (("gpt",), ("gpt", "4o"), ("gpt", "4o", "mini"))
#: gpt-4o's realtime and audio models exist only as previews; their meters drop the word.
_PREVIEW_ONLY = {"gpt-4o-realtime", "gpt-4o-mini-realtime", "gpt-4o-audio", "gpt-4o-mini-audio"}
#: Words of meters this tool does not price: priority processing (no tier dimension on the
#: token metrics), context-length bands, fine-tuning, hosting and image tokens (no metric
#: counts them apart).
_UNPRICED_WORDS = {"pp", "shortco", "longco", "ft", "hosting", "training", "grader", "img"}
_MMDD = re.compile(r"^\d{4}$")
_GLUED = re.compile(r"^(aud|txt)(\d{4})$")


class PriceError(AuditorError):
    """A price file that cannot be read."""


@dataclass(frozen=True, slots=True)
class Price:
    """One list price."""

    model: str | None
    """ARM model name, lower case (``gpt-4.1-mini``); None for any (PTU hours)."""
    version: str | None
    """ARM model version (``2024-08-06``) or a meter's ``MMDD``; None for any."""
    sku: str
    """Deployment type: ARM ``sku.name`` (``GlobalStandard``, ``GlobalProvisionedManaged``...)."""
    region: str | None
    """``armRegionName``; None for any."""
    token_class: str
    """``input``, ``cached_input``, ``output``, ``audio_input``, ``audio_output`` (per 1M
    tokens) or ``ptu_hour`` (per PTU-hour)."""
    amount: Decimal
    meter: str | None = None
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        """The table entry."""
        return {
            "model": self.model,
            "version": self.version,
            "sku": self.sku,
            "region": self.region,
            "class": self.token_class,
            "price": str(self.amount),
            "meter": self.meter,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices in one currency, with where they come from and as of when."""

    currency: str
    as_of: str
    source: str
    prices: tuple[Price, ...]
    kind: str = "bundled"
    """``bundled``, ``file`` (--prices) or ``stored`` (the table a snapshot was priced with)."""
    location: str = ""

    def lookup(
        self,
        model: str | None,
        version: str | None,
        sku: str | None,
        region: str | None,
        token_class: str,
    ) -> Price | None:
        """The most specific price for a deployment and token class, or None (unpriced).

        An exact region wins over any region; a region-specific price of another region is
        used only for Global and Data Zone types (their price does not depend on the region);
        regional ``Standard`` prices differ by region and are never borrowed.
        """
        if not sku:
            return None
        want_model = model_key(model) if model else None
        best: tuple[tuple[int, int, str], Price] | None = None
        for p in self.prices:
            if p.token_class != token_class or p.sku.lower() != sku.lower():
                continue
            if p.model is not None and (want_model is None or model_key(p.model) != want_model):
                continue
            if p.version is not None and not version_matches(p.version, version):
                continue
            if p.region is None:
                region_rank = 1
            elif region and p.region.lower() == region.lower():
                region_rank = 2
            elif not sku.lower().startswith("standard") and sku.lower() != "provisionedmanaged":
                region_rank = 0
            else:
                continue
            rank = (region_rank, 1 if p.version is not None else 0, p.region or "")
            if best is None or _better(rank, best[0]):
                best = (rank, p)
        return best[1] if best else None

    def describe(self) -> dict[str, Any]:
        """The ``price_source`` object of the report."""
        return {
            "kind": self.kind,
            "currency": self.currency,
            "as_of": self.as_of,
            "source": self.source,
            "location": self.location,
            "entries": len(self.prices),
        }

    def to_json(self) -> dict[str, Any]:
        """The table as a file (deterministic order)."""
        return {
            "format": FORMAT,
            "version": 1,
            "currency": self.currency,
            "as_of": self.as_of,
            "source": self.source,
            "prices": [p.to_json() for p in sorted(self.prices, key=_order)],
        }

    def only_for(
        self,
        wanted: Iterable[tuple[str | None, str | None, str | None, str | None]],
        fallback: PriceTable | None = None,
    ) -> PriceTable:
        """The entries a set of deployments (model, version, sku, region) use, from this table
        or else ``fallback``: what a snapshot stores so that it replays with the same prices."""
        keep: dict[Price, None] = {}
        for model, version, sku, region in wanted:
            for cls in CLASSES:
                p = self.lookup(model, version, sku, region, cls)
                if p is None and fallback is not None:
                    p = fallback.lookup(model, version, sku, region, cls)
                if p is not None:
                    keep[p] = None
        source = self.source if fallback is None else f"{self.source}; else {fallback.source}"
        return replace(self, prices=tuple(sorted(keep, key=_order)), source=source)


def _better(rank: tuple[int, int, str], other: tuple[int, int, str]) -> bool:
    # NOTE: higher region and version ranks win; among borrowed regions the alphabetically
    # first one, so the choice does not depend on the file's order.
    if rank[:2] != other[:2]:
        return rank[:2] > other[:2]
    return rank[2] < other[2]


def _order(p: Price) -> tuple[str, ...]:
    return (
        p.model or "",
        p.version or "",
        p.sku,
        p.region or "",
        str(CLASSES.index(p.token_class)),
        p.meter or "",
    )


@functools.cache
def model_key(name: str) -> str:
    """A model name as prices and deployments compare it: lower case, words joined by '-'."""
    words = [w for w in re.split(r"[\s_\-]+", name.strip().lower()) if w]
    return "-".join(words)


def version_matches(price_version: str, version: str | None) -> bool:
    """A price's version (ISO date or meter ``MMDD``) against a deployment's model version."""
    if version is None:
        return False
    if price_version == version:
        return True
    if _MMDD.match(price_version):
        parts = version.split("-")
        return len(parts) == 3 and parts[1] + parts[2] == price_version
    return False


def per_million(token_class: str) -> bool:
    """True for the classes priced per 1M tokens (all but PTU hours)."""
    return token_class in TOKEN_CLASSES


# ---------------------------------------------------------------------------------------------
# meters


@dataclass(frozen=True, slots=True)
class Meter:
    """What a meter name says: model, version (``MMDD``), deployment type and token class."""

    model: str | None
    version: str | None
    sku: str
    token_class: str


@functools.cache
def parse_meter(name: str) -> Meter | None:
    """A Retail Prices / Cost Management meter name, or None when it is not a token or PTU-hour
    meter this tool prices (priority tier, context bands, fine-tuning, reservations, cached
    audio, image tokens...)."""
    text = " ".join(name.split())
    m = re.match(r"^Provisioned Managed (Global|Data Zone|Regional) Unit$", text, re.IGNORECASE)
    if m:
        scope = next(k for k in PROVISIONED if k.lower() == m[1].lower())
        return Meter(None, None, PROVISIONED[scope], PTU_HOUR)
    words = _words(text)
    if any(w in _UNPRICED_WORDS for w in words):
        return None
    model_words: list[str] = []
    version: str | None = None
    cls: str | None = None
    kind: str | None = None
    cached = batch = False
    modality: str | None = None
    for w in words:
        if w in _CACHED:
            cached = True
        elif w in _INPUT:
            cls = "input"
        elif w in _OUTPUT:
            cls = "output"
        elif w in _GLOBAL:
            kind = "global"
        elif w in _DATAZONE:
            kind = "datazone"
        elif w in _REGIONAL:
            kind = "regional"
        elif w == "batch":
            batch = True
        elif w in _TEXT:
            modality = "text"
        elif w in _AUDIO and tuple(model_words) not in _AUDIO_FAMILIES:
            modality = modality or "audio"
        elif _MMDD.match(w) and model_words and version is None:
            # NOTE: newer meters put the version last ("gpt rt aud mn in gl 1215 1M Tokens").
            version = w
        elif cls is None and kind is None and not cached and not batch:
            model_words.append("audio" if w in _AUDIO else w)
        else:
            return None  # a word after the class or type that this parser does not know
    if cls is None or kind is None or not model_words:
        return None
    if modality is None and "audio" in model_words:
        modality = "audio"  # gpt-audio's own meters name no modality for audio tokens
    if modality == "audio":
        if cached or batch:
            return None  # cached and batch audio have no class of their own here
        cls = f"audio_{cls}"
    elif cached:
        if cls != "input" or batch:
            return None
        cls = "cached_input"
    sku = {
        ("global", False): "GlobalStandard",
        ("global", True): "GlobalBatch",
        ("datazone", False): "DataZoneStandard",
        ("datazone", True): "DataZoneBatch",
        ("regional", False): "Standard",
    }.get((kind, batch))
    if sku is None:
        return None
    model = model_key(" ".join(model_words))
    if model in _PREVIEW_ONLY:
        model += "-preview"
    return Meter(model, version, sku, cls)


def _words(text: str) -> list[str]:
    """A meter name's words, lower case, noise dropped, abbreviations spelled out."""
    out: list[str] = []
    for w in re.split(r"[\s\-]+", text.lower()):
        if not w or w in _NOISE:
            continue
        glued = _GLUED.match(w)
        if glued:
            out += [glued[1], glued[2]]
        elif w == "zone" and out and out[-1] == "data":
            out[-1] = "dzone"  # "data zone" is two words
        else:
            out += _ALIASES.get(w, (w,))
    return out


def meter_matches(meter: Meter, model: str | None, version: str | None, sku: str | None) -> bool:
    """True when a deployment (model, version, sku) bills on ``meter``."""
    if sku is None or meter.sku.lower() != sku.lower():
        return False
    if meter.model is None:
        return True
    if model is None:
        return False
    have = model_key(model)
    # NOTE: newer meters drop the "gpt" prefix ("5.4 pp inp Gl 1M Tokens", "o3 Inpt ...").
    if meter.model != have and f"gpt-{meter.model}" != have:
        return False
    return meter.version is None or version_matches(meter.version, version)


# ---------------------------------------------------------------------------------------------
# reading tables


def bundled_path() -> Path:
    """The dated table shipped with the tool."""
    return Path(__file__).resolve().parent / "data" / "prices.json"


def bundled() -> PriceTable:
    """The bundled table."""
    return _from_table(_read_json(bundled_path()), "bundled", str(bundled_path().name))


def load(path: Path) -> PriceTable:
    """A ``--prices`` file: our table, the Retail Prices API's JSON, or the simple CSV."""
    if path.suffix.lower() == ".csv":
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise PriceError(f"{path}: cannot read prices: {exc.strerror or exc}") from exc
        return from_csv(text, str(path))
    doc = _read_json(path)
    if isinstance(doc, dict) and doc.get("format") == FORMAT:
        return _from_table(doc, "file", str(path))
    if isinstance(doc, dict) and isinstance(doc.get("Items"), list):
        return from_retail(
            doc["Items"],
            source=f"Azure Retail Prices API items in {path.name}",
            location=str(path),
            kind="file",
        )
    raise PriceError(
        f"{path}: not a price table (expected an attribution-auditor price table, the Retail "
        "Prices API's JSON with 'Items', or a CSV)"
    )


def from_json(doc: Any, kind: str, location: str) -> PriceTable:
    """A table stored inside a usage document (what a snapshot was priced with)."""
    return _from_table(doc, kind, location)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PriceError(f"{path}: cannot read prices: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PriceError(f"{path}: invalid price JSON: {exc}") from exc


def _decimal(value: Any, where: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise PriceError(f"{where}: '{value}' is not a price") from exc
    if not amount.is_finite() or amount < 0:
        raise PriceError(f"{where}: '{value}' is not a price")
    return amount


def _opt(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _from_table(doc: Any, kind: str, location: str) -> PriceTable:
    if not isinstance(doc, dict) or not isinstance(doc.get("prices"), list):
        raise PriceError(f"{location}: a price table needs a 'prices' list")
    prices = []
    for n, raw in enumerate(doc["prices"]):
        where = f"{location}: prices[{n}]"
        if not isinstance(raw, dict):
            raise PriceError(f"{where}: not an object")
        cls = str(raw.get("class") or "")
        if cls not in CLASSES:
            raise PriceError(f"{where}: class must be one of {', '.join(CLASSES)}")
        sku = _opt(raw.get("sku"))
        if sku is None:
            raise PriceError(f"{where}: 'sku' (the deployment type) is required")
        model = _opt(raw.get("model"))
        prices.append(
            Price(
                model_key(model) if model else None,
                _opt(raw.get("version")),
                sku,
                _opt(raw.get("region")),
                cls,
                _decimal(raw.get("price"), where),
                _opt(raw.get("meter")),
                str(raw.get("source") or ""),
            )
        )
    return PriceTable(
        str(doc.get("currency") or "USD"),
        str(doc.get("as_of") or ""),
        str(doc.get("source") or location),
        tuple(prices),
        kind,
        location,
    )


_CSV_COLUMNS = ("model", "version", "sku", "region", "class", "price", "unit")


def from_csv(text: str, location: str) -> PriceTable:
    """The simple CSV (header ``model,version,sku,region,class,price,unit[,currency]``)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in _CSV_COLUMNS if c not in header]
    if missing:
        raise PriceError(f"{location}: CSV columns missing: {', '.join(missing)}")
    prices = []
    currencies = set()
    for n, row in enumerate(reader, start=2):
        r = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k}
        where = f"{location}:{n}"
        cls = r["class"].lower()
        if cls not in CLASSES:
            raise PriceError(f"{where}: class must be one of {', '.join(CLASSES)}")
        if not r["sku"]:
            raise PriceError(f"{where}: 'sku' (the deployment type) is required")
        amount = _decimal(r["price"], where)
        unit = r["unit"].lower().replace(" ", "")
        if cls == PTU_HOUR:
            if unit not in ("hour", "1hour", "ptu-hour"):
                raise PriceError(f"{where}: a ptu_hour price needs unit 'hour'")
        elif unit == "1k":
            amount *= 1000
        elif unit != "1m":
            raise PriceError(f"{where}: unit must be 1M or 1K for token prices")
        currencies.add((r.get("currency") or "USD").upper())
        prices.append(
            Price(
                model_key(r["model"]) if r["model"] else None,
                r["version"] or None,
                r["sku"],
                r["region"] or None,
                cls,
                _tidy(amount),
                None,
                f"{Path(location).name}:{n}",
            )
        )
    if len(currencies) > 1:
        raise PriceError(f"{location}: one currency per file ({', '.join(sorted(currencies))})")
    return PriceTable(
        currencies.pop() if currencies else "USD",
        "",
        f"prices from {Path(location).name}",
        tuple(prices),
        "file",
        location,
    )


def from_retail(
    items: Iterable[Mapping[str, Any]],
    *,
    source: str,
    location: str,
    kind: str = "file",
    as_of: str | None = None,
) -> PriceTable:
    """Retail Prices API items as a table: Consumption rows whose meter this tool can parse;
    of several rows for one meter and region, the latest ``effectiveStartDate`` wins."""
    latest: dict[tuple[str, str, str], tuple[str, Price]] = {}
    currencies = set()
    for item in items:
        if str(item.get("type") or "Consumption") != "Consumption":
            continue  # reservations and savings plans are not list prices per use
        meter_name = str(item.get("meterName") or "")
        meter = parse_meter(meter_name)
        if meter is None:
            continue
        unit = str(item.get("unitOfMeasure") or "").replace(" ", "").lower()
        try:
            amount = Decimal(str(item.get("retailPrice", item.get("unitPrice"))))
        except (InvalidOperation, ValueError):
            continue
        if meter.token_class == PTU_HOUR:
            if unit not in ("1hour", "1/hour", "hour"):
                continue
        elif unit == "1k":
            amount *= 1000
        elif unit != "1m":
            continue
        region = _opt(item.get("armRegionName"))
        currencies.add(str(item.get("currencyCode") or "USD"))
        price = Price(
            meter.model,
            meter.version,
            meter.sku,
            region,
            meter.token_class,
            _tidy(amount),
            meter_name,
            f"Azure Retail Prices API {meter_name} ({region or 'any region'}, "
            f"from {item.get('effectiveStartDate') or 'unknown date'})",
        )
        key = (meter_name.lower(), (region or "").lower(), str(item.get("productName") or ""))
        started = str(item.get("effectiveStartDate") or "")
        if key not in latest or started > latest[key][0]:
            latest[key] = (started, price)
    if len(currencies) > 1:
        raise PriceError(f"{location}: one currency per table ({', '.join(sorted(currencies))})")
    return PriceTable(
        currencies.pop() if currencies else "USD",
        as_of or date.today().isoformat(),
        source,
        tuple(sorted((p for _, p in latest.values()), key=_order)),
        kind,
        location,
    )


def _tidy(amount: Decimal) -> Decimal:
    """``0.4000`` -> ``0.4``, ``1.00`` -> ``1`` (never ``1E+1``)."""
    if amount == amount.to_integral():
        return amount.quantize(Decimal(1))
    return amount.normalize()


def dumps(table: PriceTable) -> str:
    """A table as a file's text."""
    return json.dumps(table.to_json(), indent=1, ensure_ascii=False) + "\n"

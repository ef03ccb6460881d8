"""The command line's side of measured usage: options, pricing a loaded estate, ``auditor prices``.

Kept out of :mod:`auditor.cli` so the money feature is one import there: the options are
registered by :func:`add_live_options` / :func:`add_price_option`, :func:`gap_for` prices the
estate (before the engine runs, so the measured rules read the same figures as the report) and
:func:`cmd_prices` is ``auditor prices``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.errors import AuditorError

if TYPE_CHECKING:
    from auditor.model import Estate
    from auditor.usage.gap import Gap


def add_live_options(group: argparse._ArgumentGroup) -> None:
    """``--usage`` and ``--logs-endpoint`` in the live-scan group."""
    group.add_argument(
        "--usage",
        metavar="PERIOD",
        help="also measure token usage and cost for PERIOD: '30d' (the last 30 whole days) or "
        "START..END dates (END not included), e.g. 2026-11-01..2026-12-01",
    )
    group.add_argument(
        "--logs-endpoint",
        metavar="URL",
        help="another Log Analytics query endpoint (default: the --cloud's)",
    )


def add_price_option(parser: argparse.ArgumentParser) -> None:
    """``--prices FILE``."""
    parser.add_argument(
        "--prices",
        type=Path,
        metavar="FILE",
        help="prices that replace the bundled list prices where they give one (negotiated "
        "prices): a table written by 'auditor prices update', Retail Prices API JSON, or CSV "
        "(model,version,sku,region,class,price,unit)",
    )


def attach_file(estate: Estate, path: Path) -> Estate:
    """``estate`` with the measured usage stored in ``path`` (the demo's)."""
    import json

    from auditor.usage.measured import Usage, UsageError

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AuditorError(f"{path}: cannot read measured usage: {exc}") from exc
    try:
        return replace(estate, usage=Usage.from_json(raw, str(path)))
    except UsageError as exc:
        raise AuditorError(str(exc)) from exc


def gap_for(estate: Estate, args: argparse.Namespace) -> Gap | None:
    """The gap of the estate's measured usage, priced with ``--prices`` if given."""
    prices = getattr(args, "prices", None)
    if estate.usage is None:
        if prices is not None:
            raise AuditorError(
                f"--prices {prices}: this source holds no measured usage to price (measure it "
                "with --azure --usage, and keep it with 'auditor snapshot')"
            )
        return None
    from auditor.usage import gap
    from auditor.usage.prices import load

    table = load(prices) if prices is not None else None
    return gap.measure(estate, table)


def demo_usage_path() -> Path:
    """The demo estate's measured usage (November 2026)."""
    return Path(__file__).resolve().parents[1] / "demo" / "contoso-usage.json"


def cmd_prices(args: argparse.Namespace) -> int:
    """``auditor prices show|update``."""
    from auditor.files import write_atomic
    from auditor.usage import prices

    if args.prices_command == "update":
        from auditor.usage import retail

        table, fetched = retail.update(
            args.endpoint, region=args.region, currency=args.currency, ca_bundle=args.ca_bundle
        )
        if not table.prices:
            raise AuditorError(
                f"the Retail Prices API returned {len(fetched.items)} item(s) in {fetched.pages} "
                "page(s) but no token or PTU meter this tool can read; nothing written"
            )
        write_atomic(args.output, prices.dumps(table))
        print(
            f"wrote {args.output}: {len(table.prices)} prices from {len(fetched.items)} items "
            f"in {fetched.pages} page(s); use it with --prices {args.output}",
            file=sys.stderr,
        )
        return 0
    table = prices.load(args.prices) if args.prices else prices.bundled()
    sys.stdout.write(_show(table))
    return 0


def _show(table: Any) -> str:
    out = [
        f"{table.kind} price table, {table.currency}, as of {table.as_of or 'unknown'}",
        f"source: {table.source}",
        "",
        f"{'model':<24} {'version':<11} {'type':<26} {'region':<14} {'class':<13} price",
    ]
    for p in sorted(table.prices, key=lambda p: (p.model or "", p.sku, p.token_class)):
        unit = "per PTU-hour" if p.token_class == "ptu_hour" else "per 1M tokens"
        out.append(
            f"{p.model or '(any)':<24} {p.version or '(any)':<11} {p.sku:<26} "
            f"{p.region or '(any)':<14} {p.token_class:<13} {p.amount} {unit}"
        )
    return "\n".join(out) + "\n"


def add_prices_command(sub: Any) -> None:
    """The ``prices`` command and its ``show`` / ``update`` sub-commands."""
    from auditor.usage.retail import ENDPOINT

    cmd = sub.add_parser("prices", help="show or refresh the list prices used for money figures")
    actions = cmd.add_subparsers(dest="prices_command", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the price table in use")
    add_price_option(show)
    update = actions.add_parser(
        "update", help="read the Azure Retail Prices API (Foundry Models) into a price table"
    )
    update.add_argument(
        "-o", "--output", type=Path, default=Path("prices.json"), help="file to write"
    )
    update.add_argument("--region", help="only this region (armRegionName, e.g. eastus)")
    update.add_argument("--currency", default="USD", help="currency code (default: USD)")
    update.add_argument(
        "--endpoint", default=ENDPOINT, help=f"the Retail Prices API (default: {ENDPOINT})"
    )
    update.add_argument("--ca-bundle", help="CA bundle to trust (default: the system's)")

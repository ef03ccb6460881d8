"""Exact splits: whole tokens and micro-dollars shared out so that the parts add up to the whole.

Every figure of the money report is a sum of allocation rows, so a share is never rounded on its
own: the largest-remainder method hands out the rounding units, ties broken by position (the
callers give a stable order), and the parts always sum to the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

QUANTUM = Decimal("0.000001")
"""Money is kept to the micro-unit of the currency (FOCUS cost columns take decimals)."""


def split_int(total: int, weights: Sequence[int | Decimal]) -> list[int]:
    """``total`` shared in proportion to ``weights``; equal shares when every weight is 0."""
    if not weights:
        return []
    w = [Decimal(x) for x in weights]
    whole = sum(w)
    if whole <= 0:
        w = [Decimal(1)] * len(weights)
        whole = Decimal(len(weights))
    exact = [Decimal(total) * x / whole for x in w]
    parts = [int(x) for x in exact]
    left = total - sum(parts)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return parts


def quantize(amount: Decimal) -> Decimal:
    """``amount`` to the micro-unit (half to even)."""
    return amount.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


def split_money(total: Decimal, weights: Sequence[int | Decimal]) -> list[Decimal]:
    """``total`` (rounded to the micro-unit first) shared in proportion to ``weights``."""
    units = int(quantize(total) / QUANTUM)
    sign = -1 if units < 0 else 1
    return [sign * QUANTUM * n for n in split_int(abs(units), weights)]

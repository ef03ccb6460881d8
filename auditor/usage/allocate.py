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
    n = len(weights)
    if n == 0:
        return []
    if n == 1:
        return [total]
    if all(isinstance(x, int) for x in weights):
        # NOTE: whole numbers (token counts) are split in integer arithmetic: exact, and an
        # order of magnitude faster than Decimal on the allocation's hundred thousand cells.
        ints = [int(x) for x in weights]
        whole = sum(ints)
        if whole <= 0:
            ints, whole = [1] * n, n
        parts = [total * w // whole for w in ints]
        rests = [total * w % whole for w in ints]
    else:
        w = [Decimal(x) for x in weights]
        dec_whole = sum(w)
        if dec_whole <= 0:
            w, dec_whole = [Decimal(1)] * n, Decimal(n)
        exact = [Decimal(total) * x / dec_whole for x in w]
        parts = [int(x) for x in exact]
        rests = [x - p for x, p in zip(exact, parts, strict=True)]  # type: ignore[misc]
    left = total - sum(parts)
    order = sorted(range(n), key=lambda i: (-rests[i], i))
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

"""Exact decimal text for the trading schemas (bytes/decimal, scale 12)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

_SCALE_12 = Decimal(1).scaleb(-12)


def decimal_text(value: Decimal) -> str:
    """``Decimal("64123.500")`` -> ``"64123.5"``; never an exponent, at most 12 decimals."""
    q = value.quantize(_SCALE_12, rounding=ROUND_HALF_EVEN)
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def price_decimal(x: float, places: int = 2) -> Decimal:
    return Decimal(f"{x:.{places}f}")

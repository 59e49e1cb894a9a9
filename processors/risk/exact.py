"""Exact money arithmetic for the risk processors.

* Tick prices are doubles on the wire; they become the decimals they were written as, the value of
  their shortest round-tripping text ``Decimal(repr(x))`` (67691.41, not the binary expansion
  67691.410000000003...), through a faster path that gives the same value (:func:`price_decimal`).
* Products and sums run in :data:`EXACT` (100 significant digits): the products and sums of the
  contracts' decimals (28 digits, scale 12) never round there, so PnL has no drift.
* The one division of the position fold (the cost basis that leaves a partially closed position) is
  rounded to :data:`COST_QUANTUM` (1e-24); that amount moves from the cost basis to the realized PnL,
  so realized + unrealized always equals the cash flows marked to market, exactly.
* Records carry decimals of scale 12 (:func:`wire`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow

EXACT = Context(prec=100, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999,
                traps=[InvalidOperation, DivisionByZero, Overflow])
ZERO = Decimal(0)
ONE = Decimal(1)
TEN_THOUSAND = Decimal(10_000)
HUNDRED = Decimal(100)
TWO = Decimal(2)
HALF = Decimal("0.5")
WIRE_QUANTUM = Decimal("1e-12")
COST_QUANTUM = Decimal("1e-24")
WIRE_LIMIT = Decimal("1e16")  # decimal(28, 12) holds |x| < 10^16
_WIRE_MAX = Decimal("9999999999999999.999999999999")
_WIRE_MIN = -_WIRE_MAX
MAX_PRICE = 1e15  # ticks priced at or above it (or NaN, or <= 0) are ignored: they cannot be booked


_FAST_LIMIT = 33_554_432.0  # 2**25: below it a double's ulp is < 1e-8
_E8 = Decimal("1e-8")
_HALF_E8 = Decimal("5e-9")


def price_decimal(x: float) -> Decimal:
    """A tick's double as the decimal it was written as: the value of ``Decimal(repr(x))``.

    Fast path: when ``n x 1e-8`` (n = round(x x 1e8)) converts back to ``x``, it is that decimal — below
    2**25 a double's ulp is under 1e-8, so no other multiple of 1e-8 (in particular not the shortest
    repr, which has no more digits) maps to the same double. Otherwise ``Decimal(repr(x))``.
    """
    if -_FAST_LIMIT < x < _FAST_LIMIT:
        n = round(x * 1e8)
        if n / 1e8 == x:
            return EXACT.multiply(Decimal(n), _E8)
    return Decimal(repr(x))


def mid_decimal(bid: float, ask: float) -> Decimal:
    """(bid + ask) / 2 of the decimals the doubles were written as, exactly."""
    if 0.0 < bid < _FAST_LIMIT and 0.0 < ask < _FAST_LIMIT:
        nb = round(bid * 1e8)
        na = round(ask * 1e8)
        if nb / 1e8 == bid and na / 1e8 == ask:
            return EXACT.multiply(Decimal(nb + na), _HALF_E8)
    return EXACT.multiply(EXACT.add(Decimal(repr(bid)), Decimal(repr(ask))), HALF)


def wire(x: Decimal) -> Decimal:
    """``x`` for a decimal(28, 12) field: rounded half-even to 12 places, saturating at the largest
    magnitude 28 digits hold (only absurd inputs get there)."""
    if x.adjusted() < 15:
        return EXACT.quantize(x, WIRE_QUANTUM)
    if x.adjusted() < 16:
        rounded = EXACT.quantize(x, WIRE_QUANTUM)
        if rounded.adjusted() < 16:
            return rounded
    return _WIRE_MAX if x > 0 else _WIRE_MIN


def ratio(numerator: Decimal, denominator: Decimal, scale: Decimal) -> Decimal:
    """numerator / denominator x scale for a record (scale 12); 0 for a zero denominator."""
    if not denominator:
        return ZERO
    return wire(EXACT.multiply(EXACT.divide(numerator, denominator), scale))


def show(x: Decimal | None) -> str:
    """A decimal for people: no exponent, no trailing zeros."""
    if x is None:
        return "-"
    text = f"{x:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text

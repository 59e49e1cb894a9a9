"""The pre-trade check of an OrderSubmitted: approved, or rejected with a machine-readable reason.

Checks, in this order (the first failing one is the reason):

1. ``TRADING_HALTED``: the account's trading state on the venue is HALTED (by a breaker or an operator's risk mode).
2. ``INVALID_QUANTITY`` (quantity <= 0), ``INVALID_PRICE`` (a LIMIT order without a positive price).
3. ``TRADING_REDUCING``: the state is REDUCING and the order does not reduce the position: it must be
   on the opposite side of a non-zero position, and its quantity plus the unfilled quantity of the
   account's open orders on that side must not exceed the position (a reduce may close, never flip).
4. ``QUANTITY_STEP``: the quantity is not a multiple of the symbol's lot step.
5. ``NO_REFERENCE_PRICE`` (no tick of the symbol yet), ``STALE_REFERENCE_PRICE`` (the latest tick is
   older than ``max_reference_age_s`` on event time): the checks below need the current mid.
6. ``PRICE_BAND``: a LIMIT price with ``|price - mid| x 100 > band_pct x mid``.
7. ``MIN_NOTIONAL`` / ``MAX_NOTIONAL``: quantity x (limit price, or the mid for market orders) below the
   minimum or above the maximum.
8. ``INSUFFICIENT_BALANCE``: a BUY's notional above the available quote balance, a SELL's quantity
   above the available base balance (balance minus what open orders reserve).

All comparisons are exact decimals. An approved order is reserved in the account's funds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple

from processors.risk.config import GateConfig
from processors.risk.exact import EXACT, HUNDRED, WIRE_LIMIT, show
from processors.risk.funds import AccountFunds, assets_of
from processors.risk.market import Market

ACTIVE = "ACTIVE"
REDUCING = "REDUCING"
HALTED = "HALTED"

TRADING_HALTED = "TRADING_HALTED"
INVALID_QUANTITY = "INVALID_QUANTITY"
INVALID_PRICE = "INVALID_PRICE"
TRADING_REDUCING = "TRADING_REDUCING"
QUANTITY_STEP = "QUANTITY_STEP"
NO_REFERENCE_PRICE = "NO_REFERENCE_PRICE"
STALE_REFERENCE_PRICE = "STALE_REFERENCE_PRICE"
PRICE_BAND = "PRICE_BAND"
MIN_NOTIONAL = "MIN_NOTIONAL"
MAX_NOTIONAL = "MAX_NOTIONAL"
INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
REASONS: tuple[str, ...] = (
    TRADING_HALTED, INVALID_QUANTITY, INVALID_PRICE, TRADING_REDUCING, QUANTITY_STEP, NO_REFERENCE_PRICE,
    STALE_REFERENCE_PRICE, PRICE_BAND, MIN_NOTIONAL, MAX_NOTIONAL, INSUFFICIENT_BALANCE,
)
#: reasons that are a risk limit being exceeded (they raise a ``risk_limit_exceeded`` alert)
LIMIT_REASONS = frozenset({PRICE_BAND, MAX_NOTIONAL, INSUFFICIENT_BALANCE})


class Decision(NamedTuple):
    reason: str | None  # None: approved
    message: str
    reference: Decimal | None = None  # the mid the checks used
    notional: Decimal | None = None
    value: Decimal | None = None  # the measured figure of a limit rejection (for alerts)
    limit: Decimal | None = None


def reduces_position(position: Decimal, buy: bool, quantity: Decimal, pending: Decimal) -> bool:
    if not position or buy != (position < 0):
        return False
    return EXACT.add(quantity, pending) <= EXACT.abs(position)


def check_order(order: dict[str, Any], state: str, position: Decimal, funds: AccountFunds, mark: Market | None,
                now: int, gate: GateConfig) -> Decision:
    symbol = order["symbol"]
    buy = order["side"] == "BUY"
    quantity: Decimal = order["quantity"]
    price: Decimal | None = order["price"]
    limit = order["order_type"] == "LIMIT"
    if state == HALTED:
        return Decision(TRADING_HALTED,
                        "trading is halted on the venue (a circuit breaker is not closed, or an operator halted it)")
    if not 0 < quantity < WIRE_LIMIT:
        return Decision(INVALID_QUANTITY, f"quantity {show(quantity)} is not positive (or not a decimal(28, 12))")
    if limit and (price is None or not 0 < price < WIRE_LIMIT):
        return Decision(INVALID_PRICE, "a LIMIT order needs a positive price")
    if state == REDUCING and not reduces_position(position, buy, quantity, funds.pending_quantity(symbol, buy)):
        return Decision(TRADING_REDUCING, f"only orders reducing the position ({show(position)}) pass while REDUCING")
    step = gate.step_of(symbol)
    if EXACT.remainder(quantity, step):
        return Decision(QUANTITY_STEP, f"quantity {show(quantity)} is not a multiple of the lot step {show(step)}")
    if mark is None:
        return Decision(NO_REFERENCE_PRICE, f"no tick of {symbol} yet")
    age = now - mark.t
    if age > gate.max_reference_age_us:
        return Decision(STALE_REFERENCE_PRICE, f"the latest tick of {symbol} is {age / 1e6:.3f} s old")
    mid = mark.exact()
    if limit:
        assert price is not None
        off = EXACT.abs(EXACT.subtract(price, mid))
        band = gate.price_band_pct
        if EXACT.multiply(off, HUNDRED) > EXACT.multiply(band, mid):
            pct = EXACT.divide(EXACT.multiply(off, HUNDRED), mid)
            message = f"price {show(price)} is {pct:.4f} % from the mid {show(mid)} (band {show(band)} %)"
            return Decision(PRICE_BAND, message, mid, None, pct, band)
    notional = EXACT.multiply(quantity, price if limit else mid)  # type: ignore[arg-type]
    if notional < gate.min_notional:
        message = f"notional {show(notional)} is below the minimum {show(gate.min_notional)}"
        return Decision(MIN_NOTIONAL, message, mid, notional, notional, gate.min_notional)
    if notional > gate.max_notional:
        message = f"notional {show(notional)} is above the maximum {show(gate.max_notional)}"
        return Decision(MAX_NOTIONAL, message, mid, notional, notional, gate.max_notional)
    base, quote = assets_of(symbol)
    if buy:
        available = funds.available(quote)
        if notional > available:
            message = f"needs {show(notional)} {quote}, {show(available)} available"
            return Decision(INSUFFICIENT_BALANCE, message, mid, notional, notional, available)
    else:
        available = funds.available(base)
        if quantity > available:
            message = f"needs {show(quantity)} {base}, {show(available)} available"
            return Decision(INSUFFICIENT_BALANCE, message, mid, notional, quantity, available)
    return Decision(None, "", mid, notional)

"""Balances, reservations and open orders of one account on one venue (spot semantics).

Balances start from the config (per asset; zero when not listed) and follow every fill of the
account, approved or not (fills are facts): a BUY adds the quantity to the base asset and takes
``quantity x price + fee`` from the quote asset; a SELL the reverse (the fee is in the quote currency,
as the OrderFilled contract says). Symbols are ``BASE/QUOTE``.

Orders the gate approved stay open until canceled, rejected by the venue or completely filled; their
unfilled quantity is reserved — a BUY reserves ``remaining x limit price`` (market orders: the
reference price of the decision) of the quote asset, a SELL ``remaining`` of the base asset — and is
not available to later orders. ``pending`` is the unfilled quantity of open orders per symbol and side
(what the REDUCING check adds to an order before comparing it with the position).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from processors.risk.exact import EXACT, ZERO


def assets_of(symbol: str) -> tuple[str, str]:
    base, _, quote = symbol.partition("/")
    return base, quote


class OpenOrder:
    __slots__ = ("symbol", "buy", "remaining", "price")

    def __init__(self, symbol: str, buy: bool, remaining: Decimal, price: Decimal):
        self.symbol = symbol
        self.buy = buy
        self.remaining = remaining
        self.price = price


class AccountFunds:
    __slots__ = ("balances", "reserved", "orders", "pending")

    def __init__(self, balances: dict[str, Decimal]):
        self.balances: dict[str, Decimal] = dict(balances)
        self.reserved: dict[str, Decimal] = {}
        self.orders: dict[str, OpenOrder] = {}  # by client_order_id
        self.pending: dict[tuple[str, bool], Decimal] = {}

    def available(self, asset: str) -> Decimal:
        return EXACT.subtract(self.balances.get(asset, ZERO), self.reserved.get(asset, ZERO))

    def pending_quantity(self, symbol: str, buy: bool) -> Decimal:
        return self.pending.get((symbol, buy), ZERO)

    # ------------------------------------------------------------------ orders
    def open(self, client_order_id: str, symbol: str, buy: bool, quantity: Decimal, price: Decimal) -> None:
        if client_order_id in self.orders:
            return
        order = self.orders[client_order_id] = OpenOrder(symbol, buy, quantity, price)
        self._reserve(order, quantity, 1)

    def close(self, client_order_id: str) -> None:
        """Canceled or rejected by the venue: the unfilled quantity is released."""
        order = self.orders.pop(client_order_id, None)
        if order is not None:
            self._reserve(order, order.remaining, -1)

    def _reserve(self, order: OpenOrder, quantity: Decimal, sign: int) -> None:
        base, quote = assets_of(order.symbol)
        if order.buy:
            asset, amount = quote, EXACT.multiply(quantity, order.price)
        else:
            asset, amount = base, quantity
        if sign < 0:
            amount = EXACT.minus(amount)
            quantity = EXACT.minus(quantity)
        self.reserved[asset] = EXACT.add(self.reserved.get(asset, ZERO), amount)
        key = (order.symbol, order.buy)
        self.pending[key] = EXACT.add(self.pending.get(key, ZERO), quantity)

    # ------------------------------------------------------------------ fills
    def fill(self, client_order_id: str, symbol: str, buy: bool, price: Decimal, quantity: Decimal,
             fee: Decimal) -> None:
        base, quote = assets_of(symbol)
        notional = EXACT.multiply(quantity, price)
        bal = self.balances
        if buy:
            bal[base] = EXACT.add(bal.get(base, ZERO), quantity)
            bal[quote] = EXACT.subtract(EXACT.subtract(bal.get(quote, ZERO), notional), fee)
        else:
            bal[base] = EXACT.subtract(bal.get(base, ZERO), quantity)
            bal[quote] = EXACT.subtract(EXACT.add(bal.get(quote, ZERO), notional), fee)
        order = self.orders.get(client_order_id)
        if order is None:
            return
        filled = quantity if quantity < order.remaining else order.remaining
        self._reserve(order, filled, -1)
        order.remaining = EXACT.subtract(order.remaining, filled)
        if order.remaining <= 0:
            del self.orders[client_order_id]

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        return {
            "balances": {a: str(v) for a, v in sorted(self.balances.items())},
            "orders": {c: [o.symbol, o.buy, str(o.remaining), str(o.price)] for c, o in self.orders.items()},
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> AccountFunds:
        funds = cls({a: Decimal(v) for a, v in state["balances"].items()})
        for coid, (symbol, buy, remaining, price) in state["orders"].items():
            funds.open(coid, symbol, buy, Decimal(remaining), Decimal(price))
        return funds

"""A position of one account in one venue:symbol: a fold of its fills, average-cost method, exact.

State: the signed quantity (long > 0, short < 0), the signed cost basis of the open quantity (the
sum of what its entries cost, so the average entry price is ``cost / quantity``), the cumulative
realized PnL (before fees) and the cumulative fees (quote currency, as the contract says; negative
for rebates).

A fill on the side of the position (or on a flat one) adds ``quantity x price`` to the cost basis:
the average entry price becomes the quantity-weighted mean. A fill against the position closes
``min(fill, |position|)`` at the average entry price: that share of the cost basis leaves the position
and ``closed x price - share`` (sign-adjusted for shorts) becomes realized PnL — the average entry price
of what remains is unchanged. The rest of a fill larger than the position opens the other side at the
fill price (a flip). Fees never touch the cost basis.

Exactness: everything but the closed share of the cost basis is a product or a sum of the contracts'
decimals, computed without rounding (:data:`processors.risk.exact.EXACT`). The share of a partial close
is rounded to 1e-24, and exactly that amount moves from the cost basis to realized PnL, so
``realized + (quantity x mark - cost) == -sum(signed fills x price) + quantity x mark`` holds exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from processors.risk.exact import COST_QUANTUM, EXACT, ZERO, wire


class Position:
    __slots__ = ("symbol", "quantity", "cost", "realized", "fees", "last_price", "quantity_f", "cost_f",
                 "next_mark_update", "opened_realized", "closed_pnl", "_wired")

    def __init__(self, symbol: str):
        self.symbol = symbol
        self.quantity = ZERO
        self.cost = ZERO
        self.realized = ZERO
        self.fees = ZERO
        self.last_price: Decimal | None = None  # of the latest fill: the mark before the first tick
        self.quantity_f = 0.0  # float shadows for the per-tick fast path (never booked)
        self.cost_f = 0.0
        self.next_mark_update = 0  # event time from which a MARK PositionUpdate may be emitted
        self.opened_realized = ZERO  # realized PnL when the current position opened
        self.closed_pnl = ZERO  # realized PnL (before fees) of the last position that was closed
        self._wired: tuple[Decimal, Decimal | None, Decimal, Decimal] | None = None  # see wired()

    def apply(self, buy: bool, price: Decimal, quantity: Decimal, fee: Decimal) -> Decimal:
        """Folds one fill; returns the realized PnL (before fees) it produced."""
        held = self.quantity
        realized = ZERO
        if not held or (held > 0) == buy:
            signed = quantity if buy else EXACT.minus(quantity)
            self.cost = EXACT.add(self.cost, EXACT.multiply(signed, price))
            self.quantity = EXACT.add(held, signed)
        else:
            size = EXACT.abs(held)
            closed = quantity if quantity < size else size
            if closed == size:
                share = self.cost
            else:
                share = EXACT.quantize(EXACT.divide(EXACT.multiply(self.cost, closed), size), COST_QUANTUM)
            proceeds = EXACT.multiply(closed, price)
            realized = EXACT.subtract(proceeds if held > 0 else EXACT.minus(proceeds), share)
            self.cost = EXACT.subtract(self.cost, share)
            self.quantity = EXACT.add(held, EXACT.minus(closed) if held > 0 else closed)
            self.realized = EXACT.add(self.realized, realized)
            if not self.quantity:
                self.closed_pnl = EXACT.subtract(self.realized, self.opened_realized)
                self.opened_realized = self.realized
            rest = EXACT.subtract(quantity, closed)
            if rest > 0:  # flip: the rest opens the other side at the fill price
                self.quantity = rest if buy else EXACT.minus(rest)
                self.cost = EXACT.multiply(self.quantity, price)
        self.fees = EXACT.add(self.fees, fee)
        self.last_price = price
        self.quantity_f = float(self.quantity)
        self.cost_f = float(self.cost)
        self._wired = None
        return realized

    def unrealized(self, mark: Decimal) -> Decimal:
        return EXACT.subtract(EXACT.multiply(self.quantity, mark), self.cost)

    def average_price(self) -> Decimal | None:
        if not self.quantity:
            return None
        return EXACT.divide(self.cost, self.quantity)

    def wired(self) -> tuple[Decimal, Decimal | None, Decimal, Decimal]:
        """Quantity, average entry price (None when flat), realized PnL and fees as record fields
        (scale 12): they change only with a fill, so they are computed once per fill, not per mark."""
        found = self._wired
        if found is None:
            average = self.average_price()
            found = self._wired = (wire(self.quantity), None if average is None else wire(average),
                                   wire(self.realized), wire(self.fees))
        return found

    # ------------------------------------------------------------------ state
    def snapshot(self) -> list[Any]:
        return [str(self.quantity), str(self.cost), str(self.realized), str(self.fees),
                None if self.last_price is None else str(self.last_price), self.next_mark_update,
                str(self.opened_realized), str(self.closed_pnl)]

    @classmethod
    def restore(cls, symbol: str, state: list[Any]) -> Position:
        p = cls(symbol)
        quantity, cost, realized, fees, last_price, p.next_mark_update, opened, closed = state
        p.quantity, p.cost, p.realized, p.fees = Decimal(quantity), Decimal(cost), Decimal(realized), Decimal(fees)
        p.last_price = None if last_price is None else Decimal(last_price)
        p.opened_realized, p.closed_pnl = Decimal(opened), Decimal(closed)
        p.quantity_f = float(p.quantity)
        p.cost_f = float(p.cost)
        return p

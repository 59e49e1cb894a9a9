"""One venue:symbol as the risk processor of its venue sees it: the latest price (what positions are
marked to and orders are checked against), its spread and volatility breakers, and the accounts
holding a position in it."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from processors.risk.exact import mid_decimal
from processors.risk.market_breakers import SpreadBreaker, VolatilityBreaker

if TYPE_CHECKING:
    from processors.risk.positions import Position


class Market:
    """The latest usable tick: its mid as a double for the hot path, and exactly on demand.

    mid = (bid + ask) / 2; a tick without both sides uses its last price (stored as bid = ask = last).
    ``t`` is the tick's own event time (the reference-price age is measured from it).
    """

    __slots__ = ("symbol", "t", "bid", "ask", "mid", "event_id", "_exact", "spread", "volatility", "holders")

    def __init__(self, symbol: str, spread: SpreadBreaker, volatility: VolatilityBreaker):
        self.symbol = symbol
        self.t = 0
        self.bid = self.ask = self.mid = 0.0
        self.event_id = ""
        self._exact: Decimal | None = None
        self.spread = spread
        self.volatility = volatility
        # (AccountBook, Position) of the accounts with a position in it, by account. The books are typed
        # Any: processors.risk.equity imports this module, not the other way round (no import cycle).
        self.holders: list[tuple[Any, Position]] = []

    def update(self, t: int, bid: float, ask: float, event_id: str) -> None:
        self.t = t
        self.bid = bid
        self.ask = ask
        self.mid = (bid + ask) * 0.5
        self.event_id = event_id
        self._exact = None

    def exact(self) -> Decimal:
        """The mid of the decimals the doubles were written as (computed once per tick)."""
        found = self._exact
        if found is None:
            found = self._exact = mid_decimal(self.bid, self.ask)
        return found

    def snapshot(self) -> dict[str, Any]:
        return {
            "price": [self.t, self.bid, self.ask, self.event_id],
            "spread": self.spread.snapshot(),
            "volatility": self.volatility.snapshot(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        t, bid, ask, event_id = state["price"]
        self.update(t, bid, ask, event_id)
        self.spread.restore(state["spread"])
        self.volatility.restore(state["volatility"])

"""An account on one venue: its positions, equity, peak equity, drawdown and drawdown breaker.

equity = starting equity (config, quote currency) + realized PnL - fees + unrealized PnL, summed over
the account's symbols on the venue; open positions are marked to the mid of their symbol's latest tick
(to the last fill price before the first tick). The peak is the highest equity ever evaluated,
starting at the starting equity. drawdown = (peak - equity) / peak x 10,000 bps, measured only while
the peak is positive. The drawdown breaker violates when ``(peak - equity) x 10,000 > threshold x peak``
(exact decimals, no division).

An evaluation — one drawdown observation — happens after every fill of the account on the venue and
on every tick of a symbol it holds (a flat account's equity does not move with prices). Per tick, a
float evaluation decides unless the equity comes within 1e-9 (relative) of the peak or of the
threshold; then, and to set a new peak, the equity is computed exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from processors.risk.breaker import CircuitBreaker, Timing
from processors.risk.exact import EXACT, TEN_THOUSAND, ZERO, ratio, wire
from processors.risk.market import Market
from processors.risk.positions import Position

_TOLERANCE = 1e-9


class DrawdownBreaker(CircuitBreaker):
    __slots__ = ("venue", "account", "scope", "name", "threshold")
    kind = "DRAWDOWN"
    unit = "bps"

    def __init__(self, venue: str, account: str, threshold_bps: Decimal, timing: Timing):
        super().__init__(timing)
        self.venue = venue
        self.account = account
        self.scope = f"{account}@{venue}"
        self.name = f"DRAWDOWN:{self.scope}"
        self.threshold = threshold_bps


class AccountBook:
    __slots__ = ("account", "venue", "start", "realized_net", "peak", "positions", "open", "breaker",
                 "_base_f", "_base_abs", "_peak_f", "_threshold_f", "_tolerance_f", "_terms",
                 "_wired_peak")

    def __init__(self, account: str, venue: str, starting_equity: Decimal, breaker: DrawdownBreaker):
        self.account = account
        self.venue = venue
        self.start = starting_equity
        self.realized_net = ZERO  # realized PnL - fees, all symbols
        self.peak = starting_equity
        self._wired_peak: tuple[Decimal, Decimal] | None = None  # (peak, wire(peak)), see wired_peak()
        self.positions: dict[str, Position] = {}
        self.open: list[Position] = []  # positions with a quantity, by symbol
        self.breaker = breaker
        self._base_f = float(starting_equity)
        self._base_abs = abs(self._base_f)
        self._peak_f = float(starting_equity)
        self._threshold_f = float(breaker.threshold)
        self._tolerance_f = _TOLERANCE * (10_000.0 + self._threshold_f)  # x (size + |peak|): see evaluate()
        # per open position: its market (None before its first tick), symbol, quantity, cost, |quantity|,
        # |cost| (floats) and the last fill price
        self._terms: list[tuple[Market | None, str, float, float, float, float, float]] = []

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol)
        return pos

    def fill(self, symbol: str, buy: bool, price: Decimal, quantity: Decimal, fee: Decimal,
             markets: dict[str, Market] | None = None) -> tuple[Position, Decimal]:
        """Folds a fill into its position; returns the position and the realized PnL of the fill."""
        pos = self.position(symbol)
        was_open = bool(pos.quantity)
        realized = pos.apply(buy, price, quantity, fee)
        self.realized_net = EXACT.add(self.realized_net, EXACT.subtract(realized, fee))
        if was_open != bool(pos.quantity):
            self.open = sorted((p for p in self.positions.values() if p.quantity), key=lambda p: p.symbol)
        self.attach(markets or {})
        return pos, realized

    def attach(self, markets: dict[str, Market]) -> None:
        """Rebuilds the float shadows of the exact state that the per-tick evaluation uses, with the
        markets of the open positions (call again when a held symbol's market appears)."""
        self._base_f = float(EXACT.add(self.start, self.realized_net))
        self._base_abs = abs(self._base_f)
        self._peak_f = float(self.peak)
        self._terms = [(markets.get(p.symbol), p.symbol, p.quantity_f, p.cost_f, abs(p.quantity_f), abs(p.cost_f),
                        float(p.last_price or 0)) for p in self.open]

    # ------------------------------------------------------------------ valuation
    def equity(self, markets: dict[str, Market]) -> Decimal:
        return self.valuation(markets, None)[0]

    def valuation(self, markets: dict[str, Market], symbol: str | None) -> tuple[Decimal, Decimal, Decimal | None]:
        """The exact equity, and the unrealized PnL and mark of ``symbol``'s position (0 and its last
        fill price, or None, when it is flat)."""
        total = EXACT.add(self.start, self.realized_net)
        unrealized = ZERO
        mark = None
        for pos in self.open:
            market = markets.get(pos.symbol)
            price = market.exact() if market is not None else pos.last_price
            assert price is not None  # an open position had a fill
            value = pos.unrealized(price)
            total = EXACT.add(total, value)
            if pos.symbol == symbol:
                unrealized, mark = value, price
        if mark is None and symbol is not None:
            pos = self.positions.get(symbol)
            market = markets.get(symbol)
            mark = market.exact() if market is not None else (pos.last_price if pos is not None else None)
        return total, unrealized, mark

    def wired_peak(self) -> Decimal:
        """The peak equity as a record field (scale 12), computed once per new peak."""
        peak = self.peak
        cached = self._wired_peak
        if cached is None or cached[0] is not peak:
            cached = self._wired_peak = (peak, wire(peak))
        return cached[1]

    def drawdown_bps(self, equity: Decimal) -> Decimal:
        if self.peak <= 0:
            return ZERO
        return ratio(EXACT.subtract(self.peak, equity), self.peak, TEN_THOUSAND)

    def evaluate(self, markets: dict[str, Market]) -> bool | None:
        """One drawdown observation: updates the peak; True/False = the drawdown violates or not; None
        when no drawdown is measurable (the peak is not positive)."""
        total = self._base_f
        size = self._base_abs
        for market, symbol, quantity, cost, quantity_abs, cost_abs, last in self._terms:
            if market is None:
                market = markets.get(symbol)
            mid = market.mid if market is not None else last
            total += quantity * mid - cost
            size += quantity_abs * mid + cost_abs
        peak_f = self._peak_f
        if total >= peak_f - _TOLERANCE * size:
            return self.evaluate_exact(self.equity(markets))
        if peak_f <= 0.0 and self.peak <= 0:
            return None
        gap = (peak_f - total) * 10_000.0 - self._threshold_f * peak_f
        tolerance = self._tolerance_f * (size + abs(peak_f))
        if gap < -tolerance:
            return False
        if gap > tolerance:
            return True
        return self.evaluate_exact(self.equity(markets))

    def evaluate_exact(self, equity: Decimal) -> bool | None:
        if equity > self.peak:
            self.peak = equity
            self._peak_f = float(equity)
        peak = self.peak
        if peak <= 0:
            return None
        return EXACT.multiply(EXACT.subtract(peak, equity), TEN_THOUSAND) > EXACT.multiply(
            self.breaker.threshold, peak
        )

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        return {
            "start": str(self.start),
            "realized_net": str(self.realized_net),
            "peak": str(self.peak),
            "positions": {s: p.snapshot() for s, p in sorted(self.positions.items())},
            "breaker": self.breaker.machine_snapshot(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.start = Decimal(state["start"])
        self.realized_net = Decimal(state["realized_net"])
        self.peak = Decimal(state["peak"])
        self.positions = {s: Position.restore(s, p) for s, p in state["positions"].items()}
        self.open = sorted((p for p in self.positions.values() if p.quantity), key=lambda p: p.symbol)
        self.breaker.machine_restore(state["breaker"])
        self.attach({})

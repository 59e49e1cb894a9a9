"""Order flow of the market-making account: quotes around each venue's mid, fills, cancels, rejects.

Quotes are placed on every venue:symbol every few minutes, each a BUY below and a SELL above the
venue's own mid, skewed against inventory. A resting order fills when the venue's feed trades
through its price (so fills follow the crypto path), otherwise it is canceled when the quote is
refreshed. The scenario's crash makes bids fill all the way down: the book gets long while the
price falls, which is the day's drawdown episode; afterwards the strategy cuts part of the
position with reduce-only market orders.
"""

from __future__ import annotations

import heapq
import random
import uuid
from bisect import bisect_right
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from streams.generator.clock import MINUTE, SECOND, iso
from streams.generator.config import ACCOUNT, CRYPTO_SYMBOLS, CRYPTO_VENUES, MARKET_MAKER
from streams.generator.decimals import decimal_text, price_decimal
from streams.generator.marketdata.crypto import CryptoDay
from streams.generator.marketdata.ticks import TickSeries
from streams.generator.trading.scenario import CryptoScenario

STRATEGY = "mm-spread-v1"
FEE_CURRENCY = "USDT"
_FEE_QUANTUM = Decimal("0.00000001")
# (maker, taker) fee rates; a negative maker fee is a rebate.
FEE_RATES: dict[str, tuple[Decimal, Decimal]] = {
    "binance": (Decimal("0.0001"), Decimal("0.0004")),
    "kraken": (Decimal("0.00016"), Decimal("0.0004")),
    "coinbase": (Decimal("-0.00005"), Decimal("0.0005")),
}
_ACK_MEDIAN_MS = {"binance": 38.0, "kraken": 72.0, "coinbase": 55.0}
_LOT = {"BTC/USDT": (0.01, 0.06, 4), "ETH/USDT": (0.3, 2.0, 3)}  # low, high, decimals
_REJECT_MESSAGES = {
    "PRICE_FILTER": "Filter failure: PRICE_FILTER",
    "RATE_LIMIT": "Too many requests; order rate limit exceeded",
    "INSUFFICIENT_BALANCE": "Account has insufficient balance for requested action.",
    "SERVICE_UNAVAILABLE": "503 Service Unavailable",
}


@dataclass
class _Book:
    """Positions per venue:symbol: what the venue holds, and what the strategy has been told.

    Fills reach the strategy when their time has passed, except while its fill stream lags (the
    crash): then they queue up and the strategy keeps quoting on a stale position.
    """

    actual: dict[str, float] = field(default_factory=dict)
    known: dict[str, float] = field(default_factory=dict)
    pending: list[tuple[int, int, str, float]] = field(default_factory=list)
    delayed: list[tuple[str, float]] = field(default_factory=list)
    _n: int = 0

    def add_fill(self, t: int, source: str, signed_qty: float) -> None:
        self._n += 1
        heapq.heappush(self.pending, (t, self._n, source, signed_qty))

    def advance(self, t: int, lagging: bool) -> None:
        while self.pending and self.pending[0][0] <= t:
            _, _, source, qty = heapq.heappop(self.pending)
            self.actual[source] = self.actual.get(source, 0.0) + qty
            self.delayed.append((source, qty))
        if not lagging:
            for source, qty in self.delayed:
                self.known[source] = self.known.get(source, 0.0) + qty
            self.delayed.clear()

    def venue_notional(self, venue: str, mids: dict[str, float]) -> float:
        return sum(self.actual.get(f"{venue}:{s}", 0.0) * mids.get(f"{venue}:{s}", 0.0) for s in CRYPTO_SYMBOLS)


class _Ids:
    """Venue-style order and trade identifiers, unique within the day."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.counters = {v: rng.randint(10**10, 4 * 10**10) for v in CRYPTO_VENUES}
        self.trades = {"binance": rng.randint(3 * 10**9, 4 * 10**9), "coinbase": rng.randint(5 * 10**8, 9 * 10**8)}
        self.seen: set[str] = set()

    def _kraken(self, prefix: str) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        while True:
            body = "".join(self.rng.choice(alphabet) for _ in range(16))
            text = f"{prefix}{body[:5]}-{body[5:10]}-{body[10:]}"
            if text not in self.seen:
                self.seen.add(text)
                return text

    def venue_order_id(self, venue: str) -> str:
        if venue == "kraken":
            return self._kraken("O")
        if venue == "coinbase":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self.counters[venue] += self.rng.randint(1, 4000)
        return str(self.counters[venue])

    def trade_id(self, venue: str) -> str:
        if venue == "kraken":
            return self._kraken("T")
        self.trades[venue] += self.rng.randint(1, 900)
        return str(self.trades[venue])


@dataclass
class OrderFlow:
    events: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)
    episode: dict[str, Any] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        return [r for _, _, r in sorted(self.events, key=lambda e: (e[0], e[1]))]


class _Order:
    """One order's events, numbered in lifecycle order."""

    def __init__(self, flow: OrderFlow, venue: str, symbol: str, client_order_id: str):
        self.flow, self.venue, self.symbol, self.coid = flow, venue, symbol, client_order_id
        self.n = 0

    def emit(self, kind: str, record_type: str, t: int, **fields: Any) -> None:
        self.n += 1
        record = {
            "type": record_type,
            "event_id": f"{self.coid}:{kind}:{self.n}",
            "event_time": iso(t),
            "account": ACCOUNT,
            "venue": self.venue,
            "symbol": self.symbol,
            "client_order_id": self.coid,
            **fields,
        }
        self.flow.events.append((t, len(self.flow.events), record))


class MarketMaker:
    def __init__(self, rng: random.Random, crypto: CryptoDay, scenario: CryptoScenario):
        self.rng, self.crypto, self.scenario = rng, crypto, scenario
        self.ids = _Ids(rng)
        self.book = _Book()
        self.flow = OrderFlow()
        self.order_counter = 0
        self.mids: dict[str, float] = {}

    # ------------------------------------------------------------------ helpers
    def _coid(self, venue: str, symbol: str) -> str:
        self.order_counter += 1
        return f"{ACCOUNT}-{venue}-{symbol.split('/')[0].lower()}-{self.order_counter:06d}"

    def _ack_ms(self, venue: str, t: int) -> float:
        if venue == self.scenario.latency_venue and t in self.scenario.latency_spike:
            return round(self.rng.uniform(550.0, 2_800.0), 1)
        return round(min(450.0, max(8.0, _ACK_MEDIAN_MS[venue] * self.rng.lognormvariate(0.0, 0.35))), 1)

    def _reject_reason(self, venue: str, side: str, t: int) -> str | None:
        if venue == self.scenario.outage_venue and t in self.scenario.outage and self.rng.random() < 0.85:
            return "SERVICE_UNAVAILABLE"
        if venue == self.scenario.latency_venue and t in self.scenario.latency_spike and self.rng.random() < 0.25:
            return "RATE_LIMIT"
        exposure = self.book.venue_notional(venue, self.mids)
        cap = MARKET_MAKER.inventory_cap_usdt
        if (side == "BUY" and exposure > cap) or (side == "SELL" and exposure < -cap):
            return "INSUFFICIENT_BALANCE"
        draw = self.rng.random()
        if draw < 0.006:
            return "PRICE_FILTER"
        if draw < 0.010:
            return "RATE_LIMIT"
        if draw < 0.013:
            return "INSUFFICIENT_BALANCE"
        return None

    def _fill(
        self, order: _Order, t: int, side: str, price: Decimal, qty: Decimal, liquidity: str, venue_order_id: str
    ) -> None:
        maker, taker = FEE_RATES[order.venue]
        rate = maker if liquidity == "MAKER" else taker
        fee = (price * qty * rate).quantize(_FEE_QUANTUM, rounding=ROUND_HALF_EVEN)
        order.emit(
            "filled",
            "OrderFilled",
            t,
            venue_order_id=venue_order_id,
            trade_id=self.ids.trade_id(order.venue),
            side=side,
            fill_price=decimal_text(price),
            fill_quantity=decimal_text(qty),
            fee=decimal_text(fee),
            fee_currency=FEE_CURRENCY,
            liquidity=liquidity,
        )
        signed = float(qty) if side == "BUY" else -float(qty)
        self.book.add_fill(t, order.venue + ":" + order.symbol, signed)

    # ------------------------------------------------------------------ one limit order
    def _limit_order(self, feed: TickSeries, t: int, side: str, price: Decimal, qty: Decimal) -> None:
        venue, symbol = feed.venue, feed.symbol
        order = _Order(self.flow, venue, symbol, self._coid(venue, symbol))
        order.emit(
            "submitted",
            "OrderSubmitted",
            t,
            side=side,
            order_type="LIMIT",
            price=decimal_text(price),
            quantity=decimal_text(qty),
            reduce_only=False,
            strategy=STRATEGY,
        )
        ack_ms = self._ack_ms(venue, t)
        t_ack = t + int(ack_ms * 1000)
        reason = self._reject_reason(venue, side, t)
        if reason is not None:
            order.emit(
                "rejected",
                "OrderRejected",
                t_ack,
                rejected_by="VENUE",
                reason=reason,
                message=_REJECT_MESSAGES[reason],
            )
            return
        venue_order_id = self.ids.venue_order_id(venue)
        order.emit("accepted", "OrderAccepted", t_ack, venue_order_id=venue_order_id, ack_latency_ms=ack_ms)

        expires = t + self.rng.randint(20, 75) * SECOND
        remaining = qty
        fills = 0
        lot = Decimal(1).scaleb(-_LOT[symbol][2])
        limit = float(price)
        last_fill_t = t_ack
        j = bisect_right(feed.times, t_ack)
        while j < len(feed.times) and feed.times[j] < expires and remaining > 0:
            traded = feed.lasts[j]
            if (side == "BUY" and traded <= limit) or (side == "SELL" and traded >= limit):
                if fills == 0 and self.rng.random() < 0.3:
                    share = Decimal(str(round(self.rng.uniform(0.25, 0.75), 2)))
                    part = (qty * share).quantize(lot, rounding=ROUND_HALF_EVEN)
                    part = max(lot, min(part, qty - lot))
                else:
                    part = remaining
                fill_t = max(last_fill_t + 1000, feed.times[j] + self.rng.randint(1, 30) * 1000)
                self._fill(order, fill_t, side, price, part, "MAKER", venue_order_id)
                remaining -= part
                fills += 1
                last_fill_t = fill_t
                if remaining > 0 and self.rng.random() < 0.5:
                    break  # the rest stays unfilled until the quote is refreshed
            j += 1
        if remaining > 0:
            cancel_t = max(expires, last_fill_t + 1000) + int(self._ack_ms(venue, expires) * 1000)
            order.emit(
                "canceled",
                "OrderCanceled",
                cancel_t,
                venue_order_id=venue_order_id,
                reason="QUOTE_REFRESH" if fills == 0 else "QUOTE_REFRESH_PARTIAL",
            )

    # ------------------------------------------------------------------ reduce-only exit
    def _market_exit(self, feed: TickSeries, t: int, qty: Decimal) -> None:
        venue, symbol = feed.venue, feed.symbol
        order = _Order(self.flow, venue, symbol, self._coid(venue, symbol))
        order.emit(
            "submitted",
            "OrderSubmitted",
            t,
            side="SELL",
            order_type="MARKET",
            price=None,
            quantity=decimal_text(qty),
            reduce_only=True,
            strategy=STRATEGY,
        )
        ack_ms = self._ack_ms(venue, t)
        t_ack = t + int(ack_ms * 1000)
        venue_order_id = self.ids.venue_order_id(venue)
        order.emit("accepted", "OrderAccepted", t_ack, venue_order_id=venue_order_id, ack_latency_ms=ack_ms)
        i = max(0, bisect_right(feed.times, t_ack) - 1)
        self._fill(order, t_ack + 2000, "SELL", price_decimal(feed.bids[i]), qty, "TAKER", venue_order_id)

    # ------------------------------------------------------------------ the day
    def run(self) -> OrderFlow:
        day = self.scenario.day
        cycles: list[tuple[int, int]] = []
        for k in range(len(self.crypto.series)):
            t = day.start + int(self.rng.expovariate(1.0) * MARKET_MAKER.mean_cycle_s * SECOND)
            while t < day.end - 2 * MINUTE:
                cycles.append((t, k))
                # The strategy re-quotes much more often while the market is running (the crash).
                pace = 6.0 if t in self.scenario.crash else 1.0
                t += int(self.rng.uniform(0.3, 1.7) * MARKET_MAKER.mean_cycle_s * SECOND / pace)
        exit_at = self.scenario.crash.end + self.rng.randint(4, 12) * MINUTE
        cycles.append((exit_at, -1))
        cycles.sort()
        for t, k in cycles:
            self.book.advance(t, lagging=t in self.scenario.crash)
            if k < 0:
                self._cut_inventory(t)
                continue
            feed = self.crypto.series[k]
            i = bisect_right(feed.times, t) - 1
            if i < 0 or t - feed.times[i] > 30 * SECOND:
                continue  # stale book (quiet feed): do not quote blind
            mid = (feed.bids[i] + feed.asks[i]) / 2.0
            self.mids[feed.source] = mid
            position = self.book.known.get(feed.source, 0.0)
            half = self.rng.uniform(MARKET_MAKER.half_spread_bps_low, MARKET_MAKER.half_spread_bps_high)
            if t in self.scenario.crash:
                half *= 2.0  # wider quotes in a fast market
            # Lean against inventory, by at most 0.8 of a half-spread (the ask stays above the mid).
            lean = max(-0.8, min(0.8, (position * mid) / MARKET_MAKER.soft_inventory_usdt))
            skew_bps = -half * lean
            bid = price_decimal(mid * (1.0 + (skew_bps - half) / 1e4))
            ask = price_decimal(mid * (1.0 + (skew_bps + half) / 1e4))
            low, high, places = _LOT[feed.symbol]
            for side, price, offset_ms in (("BUY", bid, 0), ("SELL", ask, 1 + self.rng.randint(0, 3))):
                qty = Decimal(f"{self.rng.uniform(low, high):.{places}f}")
                self._limit_order(feed, t + offset_ms * 1000, side, price, qty)
        return self.flow

    def _cut_inventory(self, t: int) -> None:
        cut = []
        for feed in self.crypto.series:
            position = self.book.actual.get(feed.source, 0.0)
            places = _LOT[feed.symbol][2]
            qty = Decimal(f"{position * 0.5:.{places}f}")
            if position * self.mids.get(feed.source, 0.0) > 5_000.0 and qty > 0:
                self._market_exit(feed, t + len(cut) * 150_000, qty)
                cut.append({"source": feed.source, "quantity": decimal_text(qty)})
        self.flow.episode = {"drawdown_cut": {"at": iso(t), "orders": cut}}


def generate_orders(rng: random.Random, crypto: CryptoDay, scenario: CryptoScenario) -> OrderFlow:
    return MarketMaker(rng, crypto, scenario).run()

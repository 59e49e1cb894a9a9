"""Builders for the paper-venue tests, and the closed loop in process: orders → risk gate → paper venue →
fills → positions (both pipelines' in-process runners, the paper venue's lifecycle fed back to the risk)."""

from __future__ import annotations

from collections import deque
from typing import Any

from processors import topics
from processors.core import Emit, Record
from processors.risk import InProcessRisk, RiskConfig
from processors.venue import InProcessPaper, PaperVenueConfig
from tests.support.risk_events import Event, encode_all, wire


def approved(t: int, coid: str, side: str, quantity: str, price: str | None = None, *, venue: str = "binance",
             symbol: str = "BTC/USDT", account: str = "mm-1") -> Event:
    """An OrderApproved as the risk gate writes it for the OrderSubmitted ``<coid>:submitted``."""
    return wire("OrderApproved", event_id=f"risk:{coid}:submitted", event_time=t, account=account, venue=venue,
                symbol=symbol, client_order_id=coid, side=side, quantity=quantity, price=price,
                reference_price="100", notional="100", trading_state="ACTIVE", caused_by=f"{coid}:submitted")


def cancel_requested(t: int, coid: str, *, venue: str = "binance", symbol: str = "BTC/USDT", account: str = "mm-1",
                     key: str = "k1") -> Event:
    """An OrderCancelRequested as the risk owner writes it for the CANCEL_ORDER command ``cmd:<key>``."""
    return wire("OrderCancelRequested", event_id=f"risk:cancel:cmd:{key}", event_time=t, account=account, venue=venue,
                symbol=symbol, client_order_id=coid, requested_by="ops", caused_by=f"cmd:{key}")


class Paper:
    """The paper venue's two stages in process (one partition unless told): ``(topic, (schema, record))``
    inputs; returns and keeps the lifecycle events (``trading.orders.v1``), each checked against its contract."""

    def __init__(self, config: PaperVenueConfig | None = None, partitions: int = 1):
        self.run = InProcessPaper(config or PaperVenueConfig(), partitions)
        self.out: list[Emit] = []

    def feed(self, *events: tuple[str, Event]) -> list[Emit]:
        got = self.run.run_events((topic, schema, record) for topic, (schema, record) in events)
        return self._keep(got)

    def advance(self, now_us: int) -> list[Emit]:
        return self._keep(self.run.advance(now_us))

    def _keep(self, emits: list[Emit]) -> list[Emit]:
        encode_all(emits)
        mine = [e for e in emits if e.topic == topics.ORDERS]
        self.out.extend(mine)
        return mine

    def ticks(self, t: int, bid: float | None, ask: float | None, **fields: Any) -> list[Emit]:
        from tests.support.risk_events import tick

        return self.feed((topics.TICKS, tick(t, bid, ask, **fields)))

    def order(self, *args: Any, **kwargs: Any) -> list[Emit]:
        return self.feed((topics.DECISIONS, approved(*args, **kwargs)))

    def cancel(self, *args: Any, **kwargs: Any) -> list[Emit]:
        return self.feed((topics.DECISIONS, cancel_requested(*args, **kwargs)))


def brief(emits: list[Emit]) -> list[tuple]:
    """(schema, event_time, and the figures that matter) of lifecycle events, for exact comparisons."""
    out: list[tuple] = []
    for e in emits:
        r = e.record
        if e.schema == "OrderFilled":
            out.append(("OrderFilled", r["event_time"], r["client_order_id"], r["side"], f"{r['fill_price']:f}",
                        f"{r['fill_quantity']:f}", f"{r['fee']:f}", r["liquidity"]))
        elif e.schema == "OrderRejected":
            out.append(("OrderRejected", r["event_time"], r["client_order_id"], r["rejected_by"], r["reason"]))
        elif e.schema == "OrderCanceled":
            out.append(("OrderCanceled", r["event_time"], r["client_order_id"], r["reason"]))
        else:
            out.append((e.schema, r["event_time"], r["client_order_id"]))
    return out


class ClosedLoop:
    """The risk pipeline and the paper venue in process, wired as the workers are through Kafka: inputs
    (OrderSubmitted, PriceTick, VenueHealth, Command) go to the risk pipeline and the ticks to the paper venue too;
    every decision goes to the paper venue and every lifecycle event it writes goes back to the risk
    pipeline, at once (first in, first out)."""

    def __init__(self, risk: RiskConfig, paper: PaperVenueConfig | None = None):
        self.risk = InProcessRisk(risk, 1)
        self.paper = InProcessPaper(paper or PaperVenueConfig(), 1)
        self.out: list[Emit] = []

    def feed(self, schema: str, record: Record) -> None:
        queue: deque[tuple[str, str, Record]] = deque()
        topic = topics.TICKS if schema in ("PriceTick", "Heartbeat") else (
            topics.VENUE_HEALTH if schema == "VenueHealth" else
            topics.RISK_COMMANDS if schema == "Command" else topics.ORDERS)
        queue.append((topic, schema, record))
        while queue:
            topic, schema, record = queue.popleft()
            emitted: list[Emit] = []
            if topic in (topics.TICKS, topics.VENUE_HEALTH, topics.ORDERS, topics.RISK_COMMANDS):
                emitted += self.risk.feed(schema, record)
            if topic in (topics.TICKS, topics.DECISIONS):
                emitted += [e for e in self.paper.run_events([(topic, schema, record)]) if e.topic == topics.ORDERS]
            encode_all(emitted)
            self.out.extend(emitted)
            queue.extend((e.topic, e.schema, e.record) for e in emitted
                         if e.topic in (topics.DECISIONS, topics.ORDERS))

    def run(self, events: list[Event]) -> list[Emit]:
        for schema, record in events:
            self.feed(schema, record)
        return self.out

    def records(self, schema: str) -> list[Record]:
        return [e.record for e in self.out if e.schema == schema]

"""The paper venue of one ``venue:symbol``: executes the risk gate's approved orders against the tick stream.

Fed, in the repartition topic's order (``paper.inputs.v1``, :mod:`processors.venue.pipeline`), the key's
``OrderApproved`` decisions, ``OrderCancelRequested`` s and ``PriceTick`` s; emits the order lifecycle the
risk pipeline consumes — ``OrderAccepted``, ``OrderFilled`` (partial and full, with the fee),
``OrderCanceled`` (time in force, an operator's cancel), ``OrderRejected`` (rejected_by VENUE) — to
``trading.orders.v1``, keyed ``venue:symbol``.

Rules (event time only):

* **Latency.** An order approved at t reaches the venue at ``t + latency``: it is accepted then
  (``OrderAccepted`` stamped ``t + latency``, ``ack_latency_ms`` = the latency), or rejected then if the
  symbol is not listed (``UNKNOWN_SYMBOL``). Arrival happens at the first event of the key at or after it,
  or by the partition's timer.
* **Top of book.** A tick is the book: BUY fills at its ask, SELL at its bid (its ``last`` when that side
  is missing). Only a tick at or after the order's arrival can fill it; a tick older than the key's latest
  tick is late and ignored (the book does not go back in time).
* **Market orders** fill at the book. **Limit orders** fill only when the book crosses them (ask <= limit for
  a BUY, bid >= limit for a SELL). An order the first tick after arrival crosses is a taker: it fills at the
  book's price (never worse than its limit) with the taker fee, also on later ticks; one that rested first is
  a maker: it fills at its limit price, with the maker fee, when the book reaches it.
* **Partial fills.** A tick offers ``max_fill_quantity`` per side (None: unlimited), shared by the open orders
  in arrival order (first come, first served).
* **Fees.** ``price x quantity x bps / 10,000`` in the symbol's quote currency, rounded to the contract's 12
  places.
* **Time in force.** An order not fully filled ``time_in_force`` after arrival is canceled (``EXPIRED``),
  stamped with the expiry.
* **Cancel requests** (an operator's CANCEL_ORDER, ``OrderCancelRequested``) act at the request's event time,
  after the arrivals and expiries due by then: the order (same account and client order id) is canceled with
  what it has not filled (``OrderCanceled``, reason ``USER``, stamped with the request) — also one that has
  not reached the venue yet. A request for an order the venue no longer holds (filled, expired, rejected,
  canceled, or never approved here) changes nothing and emits nothing: the order's final event is already
  on ``trading.orders.v1``.

Ids derive from the order and the fill sequence: ``paper:<approval caused_by>:accepted|fill:<n>|canceled|
rejected``; ``venue_order_id`` is ``paper:<approval caused_by>``. Same inputs, same outputs, byte for byte.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Self

from processors import topics
from processors.commands import USER_CANCELED
from processors.core import Emit, KeyedProcessor, Record
from processors.risk.exact import EXACT, MAX_PRICE, TEN_THOUSAND, price_decimal, wire
from processors.risk.funds import assets_of
from processors.venue.config import PaperVenueConfig

SNAPSHOT_VERSION = 1
UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
EXPIRED = "EXPIRED"
# before arrival; arrived, no tick met yet; a maker (rested first); a taker (marketable at its first tick)
PENDING, NEW, RESTING, TAKING = "PENDING", "NEW", "RESTING", "TAKING"


class PaperOrder:
    """An approved order at the paper venue: pending (not arrived yet), then open until filled or expired."""

    __slots__ = ("ref", "account", "client_order_id", "buy", "quantity", "price", "arrival", "expiry", "filled",
                 "fills", "status")

    def __init__(self, ref: str, account: str, client_order_id: str, buy: bool, quantity: Decimal,
                 price: Decimal | None, arrival: int, expiry: int | None, filled: Decimal = Decimal(0),
                 fills: int = 0, status: str = PENDING):
        self.ref = ref
        self.account = account
        self.client_order_id = client_order_id
        self.buy = buy
        self.quantity = quantity
        self.price = price  # None: a market order
        self.arrival = arrival
        self.expiry = expiry
        self.filled = filled
        self.fills = fills
        self.status = status

    @property
    def remaining(self) -> Decimal:
        return EXACT.subtract(self.quantity, self.filled)

    def snapshot(self) -> list[Any]:
        return [self.ref, self.account, self.client_order_id, self.buy, str(self.quantity),
                None if self.price is None else str(self.price), self.arrival, self.expiry, str(self.filled),
                self.fills, self.status]

    @classmethod
    def restore(cls, s: list[Any]) -> PaperOrder:
        return cls(s[0], s[1], s[2], s[3], Decimal(s[4]), None if s[5] is None else Decimal(s[5]), s[6], s[7],
                   Decimal(s[8]), s[9], s[10])


def _side_price(tick: Record, buy: bool) -> float | None:
    """The book price a BUY (the ask) or a SELL (the bid) trades at, else the last trade; None without one."""
    for value in (tick["ask"] if buy else tick["bid"], tick["last"]):
        if value is not None and 0.0 < value < MAX_PRICE:  # (False for NaN)
            return value
    return None


class PaperVenueProcessor(KeyedProcessor):
    def __init__(self, key: str, config: PaperVenueConfig | None = None):
        super().__init__(key)
        self.config = config = config or PaperVenueConfig()
        self.venue, _, self.symbol = key.partition(":")
        self.listed = config.lists(self.venue, self.symbol)
        fees = config.fees_for(self.venue)
        self.maker_bps, self.taker_bps = fees.maker_bps, fees.taker_bps
        self.fee_currency = assets_of(self.symbol)[1] or self.symbol
        self.orders: list[PaperOrder] = []  # pending and open, in approval order
        self.last_tick: int | None = None  # event time of the latest (non-late) tick
        self.late_ticks = 0

    # ------------------------------------------------------------------ contract
    def on_event(self, schema: str, record: Record) -> list[Emit]:
        t = record["event_time"]
        out: list[Emit] = []
        self._due(t, out)
        if schema == "OrderApproved":
            self._approved(record, out)
            self._due(t, out)  # a zero latency, or an approval that arrives after its time (live edge)
        elif schema == "PriceTick":
            self._tick(record, out)
        elif schema == "OrderCancelRequested":
            self._cancel(record, out)
        return out

    def next_timer(self) -> int | None:
        return min((at for o in self.orders if (at := self._next_time(o)) is not None), default=None)

    def on_timer(self, now_us: int) -> list[Emit]:
        out: list[Emit] = []
        self._due(now_us, out)
        return out

    # ------------------------------------------------------------------ orders
    def _approved(self, r: Record, out: list[Emit]) -> None:
        coid = r["client_order_id"]
        if any(o.client_order_id == coid for o in self.orders):
            return  # a repeat of an order still at the venue (the gate decides an open order once)
        arrival = r["event_time"] + self.config.latency_us
        tif = self.config.time_in_force_us
        self.orders.append(PaperOrder(r["caused_by"], r["account"], coid, r["side"] == "BUY", r["quantity"],
                                      r["price"], arrival, None if tif is None else arrival + tif))

    def _cancel(self, r: Record, out: list[Emit]) -> None:
        account, coid = r["account"], r["client_order_id"]
        for o in self.orders:
            if o.client_order_id == coid and o.account == account:
                self._canceled(o, r["event_time"], USER_CANCELED, out)
                self.orders = [x for x in self.orders if x is not o]
                return

    def _due(self, now: int, out: list[Emit]) -> None:
        """Arrivals and expiries due by ``now``, in (time, approval) order, each stamped with its own time."""
        due = sorted((at, i, o) for i, o in enumerate(self.orders)
                     if (at := self._next_time(o)) is not None and at <= now)
        if not due:
            return
        gone: set[int] = set()
        for at, _, o in due:
            if o.status == PENDING:
                if not self.listed:
                    out.append(self._emit("OrderRejected", self._head(o, "rejected", at) | {
                        "rejected_by": "VENUE", "reason": UNKNOWN_SYMBOL,
                        "message": f"{self.symbol} is not listed on the paper venue {self.venue}"}))
                    gone.add(id(o))
                    continue
                o.status = NEW if o.price is not None else TAKING  # a limit order: decided by its first tick
                out.append(self._emit("OrderAccepted", self._head(o, "accepted", at) | {
                    "venue_order_id": self._venue_order_id(o), "ack_latency_ms": self.config.latency_ms}))
                if o.expiry is None or o.expiry > now:
                    continue
                at = o.expiry
            self._expire(o, at, out)
            gone.add(id(o))
        if gone:
            self.orders = [o for o in self.orders if id(o) not in gone]

    @staticmethod
    def _next_time(o: PaperOrder) -> int | None:
        """When the order next changes without a tick: its arrival, else its expiry."""
        return o.arrival if o.status == PENDING else o.expiry

    def _expire(self, o: PaperOrder, at: int, out: list[Emit]) -> None:
        self._canceled(o, at, EXPIRED, out)

    def _canceled(self, o: PaperOrder, at: int, reason: str, out: list[Emit]) -> None:
        out.append(self._emit("OrderCanceled", self._head(o, "canceled", at) | {
            "venue_order_id": self._venue_order_id(o), "reason": reason}))

    # ------------------------------------------------------------------ ticks
    def _tick(self, r: Record, out: list[Emit]) -> None:
        t = r["event_time"]
        if self.last_tick is not None and t < self.last_tick:
            self.late_ticks += 1  # the book does not go back in time
            return
        self.last_tick = t
        if not self.orders:
            return
        cap = self.config.max_fill_quantity
        offered = {True: cap, False: cap}  # per side: what the tick still offers (None: unlimited)
        done: set[int] = set()
        for o in self.orders:
            if o.status == PENDING or t < o.arrival:  # (a tick older than the order's arrival: the live edge)
                continue
            book = _side_price(r, o.buy)
            if book is None:
                continue
            book_price = price_decimal(book)
            limit = o.price
            crosses = limit is None or (book_price <= limit if o.buy else book_price >= limit)
            if o.status == NEW:  # the first tick the order meets decides taker or maker
                o.status = TAKING if crosses else RESTING
            if not crosses:
                continue
            left = offered[o.buy]
            if left is not None and left <= 0:
                continue
            remaining = o.remaining
            quantity = remaining if left is None or remaining <= left else left
            if left is not None:
                offered[o.buy] = EXACT.subtract(left, quantity)
            taker = o.status == TAKING
            price = book_price if taker or limit is None else limit
            o.fills += 1
            o.filled = EXACT.add(o.filled, quantity)
            fee = wire(EXACT.divide(EXACT.multiply(EXACT.multiply(price, quantity),
                                                   self.taker_bps if taker else self.maker_bps), TEN_THOUSAND))
            n = o.fills
            out.append(self._emit("OrderFilled", self._head(o, f"fill:{n}", t) | {
                "venue_order_id": self._venue_order_id(o), "trade_id": f"paper:{o.ref}:{n}",
                "side": "BUY" if o.buy else "SELL", "fill_price": wire(price), "fill_quantity": wire(quantity),
                "fee": fee, "fee_currency": self.fee_currency, "liquidity": "TAKER" if taker else "MAKER"}))
            if not o.remaining:
                done.add(id(o))
        if done:
            self.orders = [o for o in self.orders if id(o) not in done]

    # ------------------------------------------------------------------ records
    def _venue_order_id(self, o: PaperOrder) -> str:
        return f"paper:{o.ref}"

    def _head(self, o: PaperOrder, what: str, t: int) -> Record:
        return {"event_id": f"paper:{o.ref}:{what}", "event_time": t, "account": o.account, "venue": self.venue,
                "symbol": self.symbol, "client_order_id": o.client_order_id}

    def _emit(self, schema: str, record: Record) -> Emit:
        return Emit(topics.ORDERS, self.key, schema, record)

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        return {"version": SNAPSHOT_VERSION, "orders": [o.snapshot() for o in self.orders],
                "last_tick": self.last_tick, "late_ticks": self.late_ticks}

    @classmethod
    def restore(cls, key: str, state: dict[str, Any], **config: Any) -> Self:
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"paper venue snapshot version {state.get('version')!r}, expected {SNAPSHOT_VERSION}")
        proc = cls(key, config.get("config"))
        proc.orders = [PaperOrder.restore(s) for s in state["orders"]]
        proc.last_tick = state["last_tick"]
        proc.late_ticks = state["late_ticks"]
        return proc

"""The ccxt execution adapter (``mercado venue ccxt``): approved orders to an exchange, its answers as events.

It reads ``OrderApproved`` decisions of its venue from ``risk.order-decisions.v1`` (read_committed, one consumer
group per venue), places each through ccxt's async client (an operator's ``OrderCancelRequested`` on the same topic
cancels the order it placed: ``OrderCanceled`` reason ``USER``) and writes the order's life on ``trading.orders.v1``:
``OrderAccepted`` (with the submit-to-ack latency), ``OrderFilled`` per exchange trade, ``OrderCanceled``,
``OrderRejected`` (``rejected_by`` VENUE, a reason code) — and every failed request as
``VenueHealth(probe='order', ok=false)`` on ``trading.venue-health.v1``. The risk pipeline's error-rate breaker
counts those failures, the rejections and the acceptances; its latency breaker reads ``ack_latency_ms``.

**Exactly once.** The events and the consumed offsets of the decisions are committed in one transaction
(:class:`~streams.feeds.writer.FeedWriter`, one transactional id per venue: a restarted adapter fences its
predecessor). Placing an order is not transactional, so it is made idempotent: the exchange's client order id is
derived from the order (:func:`~streams.execution.orders.venue_client_order_id`), and before an order is sent
again — after a timeout or a cut connection, or when a restarted adapter reads a decision it may already have
acted on (one before the decisions' end at start) — the exchange is asked for it by that id: found, it is
accepted, never placed twice. At start the adapter reads back the records it wrote (the tail of
``trading.orders.v1``) so the orders still open keep being followed and no record is written twice.

**Errors** (:func:`~streams.execution.orders.classify`): ccxt's ``NetworkError`` family (timeouts, 429/418 rate
limits, maintenance) is retried with jittered exponential backoff until it succeeds or the adapter stops (a
stopped adapter leaves the decision uncommitted: the next one takes it up); an ``ExchangeError`` (insufficient
funds, an invalid order, an unknown symbol, …) is final: an ``OrderRejected`` with the reason.

Open orders are polled every ``poll_interval_s`` (``fetch_order``, then the order's trades when it filled more);
with ``cancel_on_shutdown`` they are canceled on SIGTERM, and their last fills and cancellation written.
"""

from __future__ import annotations

import asyncio
import signal
import time
from decimal import Decimal
from typing import Any

import structlog

from processors import topics
from processors.commands import USER_CANCELED
from streams.config import Settings
from streams.execution.orders import (
    FINAL,
    OrderBook,
    TrackedOrder,
    accepted,
    canceled,
    classify,
    filled,
    rejected,
    venue_client_order_id,
)
from streams.feeds.ccxt_feed import ccxt_client, credentials
from streams.feeds.core import Backoff, FeedEvent, venue_health
from streams.feeds.writer import FeedWriter, tail_messages

log = structlog.get_logger("mercado.venue")

_TERMINAL = {"canceled", "cancelled", "expired", "rejected"}


def now_us() -> int:
    return time.time_ns() // 1000


class CcxtExecution:
    """One exchange through ccxt: place, look up, follow and cancel orders; every outcome as events (``emit``)."""

    def __init__(self, exchange: str, *, venue: str | None = None, api_url: str | None = None,
                 timeout_s: float = 10.0, backoff: Backoff | None = None, options: dict[str, Any] | None = None):
        self.exchange_id = exchange
        self.venue = venue or exchange
        self.api_url = api_url
        self.timeout_s = timeout_s
        self.options = options
        self.backoff = backoff or Backoff(0.5, 10.0)
        self.book = OrderBook(self.venue)
        self.client: Any = ccxt_client(exchange, api_url=api_url, timeout_s=timeout_s, options=options,
                                       creds=credentials(exchange, prefix="MERCADO_VENUE"))
        self.pending: list[FeedEvent] = []
        # failed requests are written at once (not with the order they concern, which may wait long)
        self.health: Any = self.pending.append
        self.stop = asyncio.Event()
        self.placed = 0  # create_order calls that the exchange answered (tests, logs)

    def emit(self, event: FeedEvent) -> None:
        self.pending.append(event)

    def _failure(self, what: str, message: str) -> None:
        self.health(venue_health(self.venue, "order", now_us(), ok=False, error=f"{what}: {message}"[:500]))

    async def _pause(self, rate_limited: bool) -> bool:
        """The backoff's next delay (at least a second after a rate limit); False when stopped meanwhile."""
        delay = self.backoff.next_delay()
        if rate_limited:
            delay = max(delay, 1.0)
        try:
            await asyncio.wait_for(self.stop.wait(), delay)
        except TimeoutError:
            return True
        return False

    async def connect(self) -> None:
        """Loads the markets, retrying (each failure a health event) until it works or the adapter stops."""
        while not self.stop.is_set():
            try:
                await self.client.load_markets()
                self.backoff.reset()
                return
            except Exception as exc:  # noqa: BLE001 - reported, retried
                self._failure("load_markets", f"{type(exc).__name__}: {exc}")
                log.warning("venue unreachable", venue=self.venue, error=str(exc)[:300])
                await self._pause(False)

    # ------------------------------------------------------------------ placing
    async def find(self, order: TrackedOrder) -> dict[str, Any] | None:
        """The exchange's order with this client order id, or None when it has none (raises when it cannot say)."""
        import ccxt

        client = self.client
        if client.has.get("fetchOrder"):
            try:
                found = await client.fetch_order(None, order.symbol, {"clientOrderId": order.venue_coid})
            except ccxt.OrderNotFound:
                return None
            return found if found and found.get("id") else None
        for fetch in (client.fetch_open_orders, client.fetch_closed_orders):
            for candidate in await fetch(order.symbol):
                if candidate.get("clientOrderId") == order.venue_coid:
                    return candidate
        return None

    async def submit(self, approval: dict[str, Any], *, maybe_placed: bool) -> bool:
        """Places the approved order (once); True once its fate is written (accepted or rejected), False when the
        adapter stopped first (the decision stays uncommitted and is taken up again after a restart)."""
        order = self.book.track(approval)
        if order.venue_order_id is not None or order.done:
            return True  # a decision read again: it was acted on and written
        price = approval.get("price")
        kind = "limit" if price is not None else "market"
        side = approval["side"].lower()
        amount = float(approval["quantity"])
        limit = float(price) if isinstance(price, Decimal) else price
        look_first = maybe_placed
        ambiguous_before = maybe_placed
        started: float | None = None
        while True:
            try:
                if look_first:
                    found = await self.find(order)
                    if found is not None:
                        self._accepted(order, found, started)
                        return True
                    look_first = False
                if started is None:
                    started = time.perf_counter()
                result = await self.client.create_order(order.symbol, kind, side, amount, limit,
                                                        {"clientOrderId": order.venue_coid})
                self.placed += 1
                self._accepted(order, result, started)
                return True
            except Exception as exc:  # noqa: BLE001 - every failure is classified
                c = classify(exc)
                if c.kind == FINAL:
                    if ambiguous_before:  # e.g. "duplicate order": an earlier attempt may have landed after all
                        try:
                            found = await self.find(order)
                        except Exception as again:  # noqa: BLE001 - cannot tell: look again before anything else
                            self._failure("find", f"{type(again).__name__}: {again}")
                            look_first = True
                            if not await self._pause(False):
                                return False
                            continue
                        if found is not None:
                            self._accepted(order, found, started)
                            return True
                    self.backoff.reset()
                    order.done = True
                    self.emit(rejected(order, now_us(), c.reason, c.message, now_us()))
                    log.info("order rejected", venue=self.venue, order=order.client_order_id, reason=c.reason)
                    return True
                self._failure("create_order" if not look_first else "find", c.message)
                log.warning("order request failed; retrying", venue=self.venue, order=order.client_order_id,
                            error=c.message[:300])
                if c.ambiguous:
                    look_first = ambiguous_before = True
                if not await self._pause(c.rate_limited):
                    return False

    def _accepted(self, order: TrackedOrder, answer: dict[str, Any], started: float | None) -> None:
        self.backoff.reset()
        received = now_us()
        order.venue_order_id = str(answer["id"])
        t = answer.get("timestamp")
        latency = (time.perf_counter() - started) * 1000 if started is not None else None
        self.emit(accepted(order, int(t) * 1000 if isinstance(t, int) else received, order.venue_order_id, latency,
                           received))

    # ------------------------------------------------------------------ following
    async def follow(self, order: TrackedOrder, *, reason: str | None = None) -> None:
        """Reads the order's state: new trades as OrderFilled; a canceled or expired order as OrderCanceled."""
        state = await self.client.fetch_order(order.venue_order_id, order.symbol)
        side = state.get("side")
        if side in ("buy", "sell"):
            order.side = side.upper()
        filled_qty = float(state.get("filled") or 0)
        traded = await self._fills(order) if filled_qty > 0 else 0.0
        # finished only once its trades cover what the exchange says it filled (a trade list can lag the order)
        complete = traded >= filled_qty * (1 - 1e-9)
        status = state.get("status")
        if status == "closed" and complete:
            order.done = True
        elif status in _TERMINAL and complete:
            order.done = True
            self.emit(canceled(order, now_us(), reason or status, now_us()))

    async def _fills(self, order: TrackedOrder) -> float:
        """Writes the order's trades not written yet; returns the quantity of all its trades."""
        client = self.client
        if client.has.get("fetchOrderTrades"):
            trades = await client.fetch_order_trades(order.venue_order_id, order.symbol)
        else:
            trades = [t for t in await client.fetch_my_trades(order.symbol) if str(t.get("order")) ==
                      order.venue_order_id]
        received = now_us()
        total = 0.0
        for trade in sorted(trades, key=lambda t: (t.get("timestamp") or 0, str(t.get("id")))):
            if trade.get("id") is None:
                continue
            total += float(trade.get("amount") or 0)
            trade_id = str(trade["id"])
            if trade_id not in order.fills:
                order.fills.add(trade_id)
                self.emit(filled(order, trade, received))
        return total

    async def follow_open(self) -> None:
        for order in self.book.open_orders():
            try:
                await self.follow(order)
            except Exception as exc:  # noqa: BLE001 - reported, tried again at the next poll
                self._failure("fetch_order", f"{type(exc).__name__}: {exc}")

    async def _cancel_once(self, order: TrackedOrder, reason: str) -> None:
        """Cancels the order on the exchange, then writes its last fills and its cancellation; raises when the
        exchange could not be asked (to be tried again)."""
        try:
            await self.client.cancel_order(order.venue_order_id, order.symbol)
        except Exception as exc:  # noqa: BLE001 - classified
            if classify(exc).kind != FINAL:
                raise
            # refused ("unknown order"): filled or canceled meanwhile; follow() tells which
        await self.follow(order, reason=reason)

    async def cancel(self, request: dict[str, Any]) -> bool:
        """An operator's cancel (``OrderCancelRequested``): the order this adapter placed for ``(account,
        client_order_id)`` is canceled on the exchange, its last fills and its ``OrderCanceled`` (reason ``USER``)
        written; an order it does not hold open (never placed here, rejected, filled, canceled) is left alone.
        Failed requests are retried with the backoff; False when the adapter stopped first (the request stays
        unconsumed and is taken up again after a restart)."""
        order = self.book.get(venue_client_order_id(request["account"], request["client_order_id"]))
        if order is None or order.done or order.venue_order_id is None:
            log.info("cancel for an order not open here", venue=self.venue, order=request["client_order_id"])
            return True
        while True:
            try:
                await self._cancel_once(order, USER_CANCELED)
                self.backoff.reset()
                return True
            except Exception as exc:  # noqa: BLE001 - reported, retried
                c = classify(exc)
                self._failure("cancel_order", c.message)
                if not await self._pause(c.rate_limited):
                    return False

    async def cancel_open(self) -> None:
        """Cancels every open order (shutdown), then writes its last fills and its cancellation."""
        for order in self.book.open_orders():
            for _ in range(3):
                try:
                    await self._cancel_once(order, "shutdown")
                    break
                except Exception as exc:  # noqa: BLE001 - reported; tried twice more
                    self._failure("cancel_order", f"{type(exc).__name__}: {exc}")
            if not order.done:
                log.warning("order left open at shutdown", venue=self.venue, order=order.client_order_id)

    async def close(self) -> None:
        await self.client.close()


class ExecutionRunner:
    """Consumes the decisions, drives a :class:`CcxtExecution`, writes its events with the consumed offsets."""

    def __init__(self, venue: CcxtExecution, settings: Settings, *, cancel_on_shutdown: bool = False,
                 poll_interval_s: float | None = None, from_beginning: bool = False, recover_tail: int = 100_000):
        self.venue = venue
        self.settings = settings
        self.cancel_on_shutdown = cancel_on_shutdown
        self.poll_interval_s = poll_interval_s or settings.feeds.poll_interval_s
        self.from_beginning = from_beginning
        self.recover_tail = recover_tail
        self.feed_id = f"venue-{venue.venue}"
        self.group_id = f"{settings.kafka.topic_prefix}mercado-venue-{venue.venue}"
        self.decisions = 0

    def _consumer(self) -> tuple[Any, dict[int, int]]:
        """The decisions' consumer, assigned every partition from the group's committed offsets; and each
        partition's end at start (a decision before it may have been acted on by a previous process)."""
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

        from streams.kafka.clients import consumer_config

        name = self.settings.topic(topics.DECISIONS)
        consumer = Consumer(consumer_config(self.settings, self.group_id, **{"enable.partition.eof": False}))
        partitions = sorted(consumer.list_topics(name, timeout=30).topics[name].partitions)
        committed = consumer.committed([TopicPartition(name, p) for p in partitions], timeout=30)
        ends = {}
        assign = []
        for tp in committed:
            ends[tp.partition] = consumer.get_watermark_offsets(TopicPartition(name, tp.partition), timeout=30)[1]
            start = tp.offset if tp.offset >= 0 else (OFFSET_BEGINNING if self.from_beginning else OFFSET_END)
            assign.append(TopicPartition(name, tp.partition, start))
        consumer.assign(assign)
        return consumer, ends

    def recover(self, writer: FeedWriter) -> None:
        """Reads back the records this venue's adapter wrote (the last ``recover_tail`` of each partition)."""
        from confluent_kafka import Consumer

        from streams.kafka.clients import end_reader_config

        name = self.settings.topic(topics.ORDERS)
        serde = writer.doors[topics.ORDERS].serde
        consumer = Consumer(end_reader_config(self.settings, f"{self.group_id}-recover"))
        prefix = f"exec:{self.venue.venue}:"
        try:
            partitions = sorted(consumer.list_topics(name, timeout=30).topics[name].partitions)
            for msg in tail_messages(consumer, name, partitions, self.recover_tail):
                schema, record = serde.decode(msg.value())
                if record.get("event_id", "").startswith(prefix):
                    self.venue.book.restore(schema.fullname.rpartition(".")[2], record)
        finally:
            consumer.close()

    async def run(self) -> None:
        from streams.codec.serde import AvroSerde

        loop = asyncio.get_running_loop()
        venue = self.venue
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, venue.stop.set)
            except (NotImplementedError, RuntimeError):  # not the main thread (tests run it in a task)
                pass
        consumer, ends = await loop.run_in_executor(None, self._consumer)
        writer = FeedWriter(self.settings, self.feed_id, topics_written=(topics.ORDERS, topics.VENUE_HEALTH),
                            group_metadata=consumer.consumer_group_metadata())
        venue.health = lambda event: writer.add([event])
        serde = AvroSerde(registry_url=self.settings.kafka.schema_registry_url)
        await loop.run_in_executor(None, self.recover, writer)
        writing_done = asyncio.Event()
        writing = asyncio.create_task(writer.run(writing_done))
        decisions = self.settings.topic(topics.DECISIONS)
        try:
            await venue.connect()
            await venue.follow_open()
            self._hand_over(writer)
            next_poll = loop.time() + self.poll_interval_s
            while not venue.stop.is_set():
                messages = await loop.run_in_executor(None, consumer.consume, 100, 0.1)
                for msg in messages:
                    if msg.error():
                        continue
                    if msg.value() is not None:
                        schema, record = serde.decode(msg.value())
                        name = schema.fullname.rpartition(".")[2]
                        if name in ("OrderApproved", "OrderCancelRequested") and record["venue"] == venue.venue:
                            self.decisions += 1
                            if name == "OrderApproved":
                                done = await venue.submit(
                                    record, maybe_placed=msg.offset() < ends.get(msg.partition(), 0))
                            else:
                                done = await venue.cancel(record)
                            if not done:  # stopped mid-retry: this decision (and what follows) stays unconsumed
                                break
                    # the decision's events and its offset go in the same transaction
                    self._hand_over(writer)
                    writer.mark_consumed(decisions, msg.partition(), msg.offset() + 1)
                    if writing.done():
                        writing.result()  # a failed write stops the adapter
                self._hand_over(writer)
                if loop.time() >= next_poll:
                    next_poll = loop.time() + self.poll_interval_s
                    await venue.follow_open()
                    self._hand_over(writer)
                if writing.done():
                    writing.result()
        finally:
            venue.stop.set()
            if self.cancel_on_shutdown:
                await venue.cancel_open()
            self._hand_over(writer)
            writing_done.set()
            await writing
            await loop.run_in_executor(None, writer.close)
            await loop.run_in_executor(None, consumer.close)
            await venue.close()

    def _hand_over(self, writer: FeedWriter) -> None:
        if self.venue.pending:
            writer.add(self.venue.pending)
            self.venue.pending = []

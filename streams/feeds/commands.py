"""The quote feed's commands: ``REQUEST_BACKFILL`` (``POST /api/v1/commands/feeds/backfill``) acted on by the
feed process that serves the venue (``mercado feed twelvedata``).

The feed consumes ``feeds.commands.v1`` (read_committed, one consumer group per feed, every partition; the
commands of other venues are passed over). When it starts it announces its venue and symbols on
``feeds.served.v1`` (compacted), which the gateway reads to refuse at once a command that no feed would act
on. For each command of its venue it decides
(:func:`processors.commands.backfill_decision`: parameters, a symbol it serves, a range that is over), fetches
the range over REST as the reconnect backfill does (:meth:`TwelveDataQuotes.fetch_backfill`: one-minute bars
as replacement ticks, ids ``{venue}:{symbol}:bf{minute}`` from the venue's timestamps, and their
``BackfillComplete``), drops the ticks the feed already wrote (its dedup, which a restarted feed fills from the
tail of what it wrote) and emits the rest, the marker and the ``CommandResult``.

**Exactly once.** Those events and the command's consumed offset are handed to the feed's transactional writer
together (no ``await`` between ``add`` and ``mark_consumed``, so they are in one batch, one transaction — the
execution adapter's pattern, streams/execution/ccxt_venue.py). A feed killed mid-backfill has committed
neither; its successor (which fences it: same transactional id) reads the command again and writes the same
events with the same ids once. A new feed (no committed offset) reads the command topic from its beginning:
a command written before the feed's first start is not skipped.

Refusals of the source (HTTP 429, errors, timeouts) are retried ``tries`` times with a doubling wait (a
``VenueHealth(probe='backfill', ok=false)`` each), then the command is REJECTED ``source-unavailable``; a
source that has no bar in the range: REJECTED ``not-at-source`` (nothing written but the result).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import structlog

from processors import commands as cmd
from processors import topics
from streams.config import Settings
from streams.feeds.core import FeedEvent, venue_health
from streams.feeds.twelvedata import BackfillRefused, TwelveDataQuotes
from streams.feeds.writer import FeedWriter, Unreadable

log = structlog.get_logger("mercado.feed")

#: what a feed that takes commands writes
TOPICS_WRITTEN = (topics.TICKS, topics.VENUE_HEALTH, topics.COMMAND_RESULTS, topics.FEEDS_SERVED)


def now_us() -> int:
    return time.time_ns() // 1000


def serving_event(venue: str, feed_id: str, symbols: list[str], t_us: int) -> FeedEvent:
    """The feed's announcement of what it serves (feeds.served.v1, compacted by venue): the gateway refuses
    at once a command to a venue that no feed announced, rather than leave it PENDING for an owner that is
    not there (gateway/commands.py ``Commands.served``)."""
    return FeedEvent(topics.FEEDS_SERVED, "FeedServing", {"event_id": f"serving:{venue}:{t_us}", "event_time": t_us,
                                                          "venue": venue, "feed_id": feed_id,
                                                          "symbols": list(symbols)}, t_us)


def result_event(command: dict[str, Any], reason: str | None, message: str, caused: list[str]) -> FeedEvent:
    """The CommandResult, decided at the feed's clock (never before the command's event time)."""
    t = max(now_us(), command["event_time"])
    return FeedEvent(topics.COMMAND_RESULTS, "CommandResult", cmd.command_result(command, t, reason, message, caused),
                     now_us())


class FeedCommands:
    """Consumes the feed's commands and acts on them through ``adapter`` and ``writer``."""

    def __init__(self, adapter: TwelveDataQuotes, settings: Settings, *, tries: int = 3):
        self.adapter = adapter
        self.settings = settings
        self.tries = tries
        self.group_id = f"{settings.kafka.topic_prefix}mercado-feed-{adapter.feed_id}-commands"
        self.topic = settings.topic(topics.FEED_COMMANDS)
        self.handled: list[tuple[str, str]] = []  # (idempotency key, status), in order (tests)
        self.consumer: Any = None
        self.pending_health: list[FeedEvent] = []  # the source's refusals, written with the command's result

    def open(self) -> Any:
        """The commands' consumer, assigned every partition from the group's committed offsets (the beginning
        when none); its ``consumer_group_metadata()`` goes to the writer (blocking)."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        from streams.kafka.clients import consumer_config

        consumer = Consumer(consumer_config(self.settings, self.group_id, **{"enable.partition.eof": False}))
        partitions = sorted(consumer.list_topics(self.topic, timeout=30).topics[self.topic].partitions)
        committed = consumer.committed([TopicPartition(self.topic, p) for p in partitions], timeout=30)
        consumer.assign([TopicPartition(self.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
                         for tp in committed])
        self.consumer = consumer
        return consumer

    async def run(self, writer: FeedWriter, stop: asyncio.Event) -> None:
        from streams.kafka.consumer import default_serde

        loop = asyncio.get_running_loop()
        consumer = self.consumer or await loop.run_in_executor(None, self.open)
        serde = default_serde(self.settings)
        writer.add([serving_event(self.adapter.venue, self.adapter.feed_id, self.adapter.symbols, now_us())])
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.adapter.timeout_s))
        try:
            while not stop.is_set():
                messages = await loop.run_in_executor(None, consumer.consume, 100, 0.2)
                for msg in messages:
                    if msg.error():
                        continue
                    events: list[FeedEvent | Unreadable] = []
                    if msg.value() is not None:
                        try:
                            schema, record = serde.decode(msg.value())
                        except Exception as exc:  # noqa: BLE001 - an undecodable command is a dead letter
                            events = [Unreadable(topics.FEED_COMMANDS, (msg.key() or b"").decode(errors="replace"),
                                                 msg.value(), "undecodable-command", str(exc)[:500], now_us())]
                        else:
                            if (schema.fullname == "mercado.commands.Command" and record["owner"] == cmd.FEEDS
                                    and record["target"] == self.adapter.venue):
                                decided = await self.handle(record, session, stop)
                                if decided is None:  # stopped mid-retry: the command stays unconsumed
                                    return
                                events = decided
                    if stop.is_set():
                        return  # not handed over: the next process acts on it
                    # the command's events and its offset: one batch, one transaction (no await in between)
                    writer.add(events)
                    writer.mark_consumed(self.topic, msg.partition(), msg.offset() + 1)
        finally:
            await session.close()
            await loop.run_in_executor(None, consumer.close)

    async def handle(self, command: dict[str, Any], session: aiohttp.ClientSession, stop: asyncio.Event
                     ) -> list[FeedEvent | Unreadable] | None:
        """The events a command leads to (its result last); None when stopped before deciding."""
        key = command["idempotency_key"]
        if command["kind"] != cmd.REQUEST_BACKFILL:
            return self._done(command, cmd.UNKNOWN_KIND, f"the feed does not act on {command['kind']}", [], [])
        decided = cmd.backfill_decision(command, set(self.adapter.symbols))
        if isinstance(decided, cmd.Rejected):
            return self._done(command, decided.reason, decided.message, [], [])
        symbol, start, end = decided
        wait = self.adapter.retry_s
        failure = ""
        for attempt in range(self.tries):
            try:
                fetched = await self.adapter.fetch_backfill(symbol, start, end, session=session)
                break
            except (BackfillRefused, aiohttp.ClientError, TimeoutError) as exc:
                failure = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("backfill request refused by the source", feed=self.adapter.feed_id, command=key,
                            attempt=attempt + 1, error=failure)
                self.adapter_health(failure)
                if attempt + 1 < self.tries:
                    try:
                        await asyncio.wait_for(stop.wait(), wait)
                        return None
                    except TimeoutError:
                        wait *= 2
        else:
            return self._done(command, cmd.SOURCE_UNAVAILABLE,
                              f"the source refused the range {self.tries} times; last: {failure}", [], [])
        ticks, marker = fetched[:-1], fetched[-1]
        if not ticks:
            return self._done(command, cmd.NOT_AT_SOURCE, f"the source has no bar of {symbol} in the range", [], [])
        dedup = self.adapter.dedup
        fresh = []
        for tick in ticks:
            trade_id = tick.record["event_id"].rpartition(":")[2]
            if not dedup.seen(symbol, trade_id):
                dedup.accept(symbol, trade_id, tick.record["event_time"])
                fresh.append(tick)
        written = [*fresh, marker]
        self.adapter.backfills.append((symbol, start, end, len(fresh)))
        return self._done(command, None, f"{len(ticks)} bar(s) of {symbol} in the range; {len(fresh)} written, "
                          f"{len(ticks) - len(fresh)} already there", [e.record["event_id"] for e in written], written)

    def adapter_health(self, error: str) -> None:
        self.pending_health.append(venue_health(self.adapter.venue, "backfill", now_us(), ok=False, error=error))

    def _done(self, command: dict[str, Any], reason: str | None, message: str, caused: list[str],
              events: list[FeedEvent]) -> list[FeedEvent | Unreadable]:
        self.handled.append((command["idempotency_key"], "ACCEPTED" if reason is None else "REJECTED"))
        health, self.pending_health = self.pending_health, []
        return [*health, *events, result_event(command, reason, message, caused)]


async def run_with_commands(runner: Any, commands: FeedCommands) -> None:
    """A feed (:class:`~streams.feeds.runner.FeedRunner`) and its commands, stopped together."""
    task = asyncio.create_task(commands.run(runner.writer, runner.stop))
    task.add_done_callback(lambda _: runner.stop.set())  # a failed command consumer stops the feed
    try:
        await runner.run()
    finally:
        runner.stop.set()
        await task

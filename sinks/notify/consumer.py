"""The alert notifier behind ``mercado notify``: ``Alert`` events from Kafka to people (webhook, Telegram).

* Its own consumer group (``mercado-notify``) on the alert topics (``md.alerts.v1``, ``risk.alerts.v1`` by
  default): it never holds up a pipeline; a slow or failing channel only delays that channel.
* One worker thread per channel delivers in log order with retries: transient failures (network,
  timeouts, HTTP 5xx, 429) back off exponentially (``retry_initial_s`` doubling up to ``retry_max_s``, or
  the server's Retry-After) and are retried until delivered; permanent ones (other 4xx) are logged and
  recorded as failed. The consumer keeps polling meanwhile; when a channel's queue holds ``max_pending``
  alerts it pauses its partitions (and resumes at half), so memory stays bounded without leaving the group.
* At-least-once with a delivery log (:mod:`sinks.notify.log`, SQLite): offsets are committed only up to
  the first alert some channel has not finished, and every (event id, channel) delivered is recorded and
  skipped afterwards, so a restart — even under a new consumer group — does not resend.
* Alerts below ``min_level`` are skipped. Undecodable messages go to the dead-letter topic.
* Secrets (the bot token, webhook URLs) never reach a log line or an error message.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from infra.redaction import redact
from sinks.notify.channels import Channel, Outcome
from sinks.notify.log import DeliveryLog
from sinks.notify.settings import LEVELS, NotifySettings
from streams.config import Settings

log = structlog.get_logger("mercado.notify")


@dataclass(frozen=True)
class _Item:
    topic: str
    partition: int
    offset: int
    alert: dict[str, Any]


class OffsetTracker:
    """Per partition: the offsets some channel still owes, and the next offset after the last one seen.
    The commit point is the smallest owed offset, else the next one (gaps — skipped or undecodable
    messages — are fine)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owed: dict[tuple[str, int], dict[int, set[str]]] = {}
        self._next: dict[tuple[str, int], int] = {}

    def add(self, topic: str, partition: int, offset: int, channels: set[str]) -> None:
        tp = (topic, partition)
        with self._lock:
            if channels:
                self._owed.setdefault(tp, {})[offset] = set(channels)
            self._next[tp] = max(self._next.get(tp, 0), offset + 1)

    def done(self, topic: str, partition: int, offset: int, channel: str) -> None:
        with self._lock:
            owed = self._owed.get((topic, partition))
            if owed is None or offset not in owed:
                return
            owed[offset].discard(channel)
            if not owed[offset]:
                del owed[offset]

    def commit_points(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return {tp: min(self._owed[tp]) if self._owed.get(tp) else nxt for tp, nxt in self._next.items()}

    def forget(self, tps: list[tuple[str, int]]) -> None:
        with self._lock:
            for tp in tps:
                self._owed.pop(tp, None)
                self._next.pop(tp, None)


@dataclass
class NotifyStats:
    delivered: int = 0
    failed: int = 0
    retries: int = 0
    skipped: int = 0  # already in the delivery log, below the minimum level, or not an Alert
    by_channel: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, what: str, channel: str | None = None) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)
            if channel is not None:
                self.by_channel[channel] = self.by_channel.get(channel, 0) + 1


class ChannelWorker(threading.Thread):
    def __init__(
        self,
        channel: Channel,
        deliveries: DeliveryLog,
        tracker: OffsetTracker,
        stats: NotifyStats,
        stop: threading.Event,
        config: NotifySettings,
    ):
        super().__init__(name=f"notify-{channel.name}", daemon=True)
        self.channel = channel
        self.queue: queue.Queue[_Item] = queue.Queue()
        self._log = deliveries
        self._tracker = tracker
        self._stats = stats
        self._halt = stop
        self._config = config
        self._secrets = config.secrets()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                item = self.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if self._deliver(item):
                self._tracker.done(item.topic, item.partition, item.offset, self.channel.name)

    def _deliver(self, item: _Item) -> bool:
        """True once the alert is delivered or failed for good; False when stopped before."""
        name = self.channel.name
        event_id = item.alert["event_id"]
        if self._log.done(event_id, name):
            return True
        delay = self._config.retry_initial_s
        attempts = 0
        while not self._halt.is_set():
            attempts += 1
            try:
                outcome = self.channel.send(item.alert)
            except Exception as exc:  # a channel bug must not kill the worker: retry like a transient failure
                outcome = Outcome.transient(type(exc).__name__)
            detail = redact(outcome.detail, self._secrets)
            if outcome.delivered or not outcome.retry:
                status = "delivered" if outcome.delivered else "failed"
                self._log.record(event_id, name, status, attempts, detail)
                if outcome.delivered:
                    self._stats.count("delivered", name)
                    log.info("alert delivered", channel=name, event_id=event_id, attempts=attempts)
                else:
                    self._stats.count("failed")
                    log.error(
                        "alert not deliverable", channel=name, event_id=event_id, detail=detail, attempts=attempts
                    )
                return True
            wait = min(outcome.retry_after_s if outcome.retry_after_s is not None else delay, self._config.retry_max_s)
            delay = min(delay * 2, self._config.retry_max_s)
            self._stats.count("retries")
            log.warning(
                "alert delivery failed, retrying",
                channel=name,
                event_id=event_id,
                detail=detail,
                attempt=attempts,
                retry_in_s=round(wait, 3),
            )
            if self._halt.wait(wait):
                return False
        return False


class Notifier:
    """Consumes alerts and feeds the channel workers; see the module docstring."""

    def __init__(self, settings: Settings, config: NotifySettings, channels: list[Channel] | None = None):
        from confluent_kafka import Consumer

        from streams.kafka.clients import consumer_config
        from streams.kafka.consumer import DeadLetterQueue, default_serde

        self.settings = settings
        self.config = config
        self.channels = channels if channels is not None else config.channels()
        if not self.channels:
            raise ValueError("no channel configured: give a webhook URL or a Telegram token and chat id")
        self.deliveries = DeliveryLog(config.log_path(settings))
        self.stats = NotifyStats()
        self.stop = threading.Event()
        self.tracker = OffsetTracker()
        self.workers = [
            ChannelWorker(c, self.deliveries, self.tracker, self.stats, self.stop, config) for c in self.channels
        ]
        self.serde = default_serde(settings)
        self.dead_letters = DeadLetterQueue(settings)
        self.consumer = Consumer(consumer_config(settings, settings.kafka.topic_prefix + config.group))
        self.topics = [settings.topic(t) for t in config.topics]
        self._min_level = LEVELS.index(config.min_level)
        self._committed: dict[tuple[str, int], int] = {}
        self._paused = False

    def run(self, until: Callable[[NotifyStats], bool] | None = None, timeout_s: float | None = None) -> NotifyStats:
        """Runs until :attr:`stop` is set (or ``until(stats)`` holds, or ``timeout_s`` passes); then commits
        what was delivered and closes everything."""
        from confluent_kafka import KafkaError

        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for w in self.workers:
            w.start()
        self.consumer.subscribe(self.topics, on_revoke=self._on_revoke)
        last_commit = time.monotonic()
        try:
            while not self.stop.is_set():
                for msg in self.consumer.consume(500, 0.2):
                    err = msg.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            log.warning("consumer error", error=err.str())
                        continue
                    self._dispatch(msg)
                self._backpressure()
                now = time.monotonic()
                if now - last_commit >= self.config.commit_interval_s:
                    self._commit()
                    last_commit = now
                if until is not None and until(self.stats):
                    break
                if deadline is not None and now > deadline:
                    break
        finally:
            self.stop.set()
            for w in self.workers:
                w.join(timeout=30)
            self._commit()
            self.consumer.close()
            self.dead_letters.flush()
            for c in self.channels:
                c.close()
            self.deliveries.close()
        return self.stats

    def _dispatch(self, msg: Any) -> None:
        from streams.codec.serde import DecodeError

        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        try:
            schema, record = self.serde.decode(msg.value())
        except DecodeError as exc:
            self.dead_letters.send(msg, exc)
            self.tracker.add(topic, partition, offset, set())
            return
        if schema.name != "Alert" or LEVELS.index(record["level"]) < self._min_level:
            self.stats.count("skipped")
            self.tracker.add(topic, partition, offset, set())
            return
        owed = [w for w in self.workers if not self.deliveries.done(record["event_id"], w.channel.name)]
        if not owed:
            self.stats.count("skipped")
        self.tracker.add(topic, partition, offset, {w.channel.name for w in owed})
        item = _Item(topic, partition, offset, record)
        for w in owed:
            w.queue.put(item)

    def _backpressure(self) -> None:
        deepest = max(w.queue.qsize() for w in self.workers)
        if not self._paused and deepest >= self.config.max_pending:
            self.consumer.pause(self.consumer.assignment())
            self._paused = True
            log.warning("channels are behind: consumption paused", pending=deepest)
        elif self._paused and deepest < self.config.max_pending // 2:
            self.consumer.resume(self.consumer.assignment())
            self._paused = False

    def _commit(self, only: list[tuple[str, int]] | None = None) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        points = self.tracker.commit_points()
        offsets = [
            TopicPartition(t, p, o)
            for (t, p), o in sorted(points.items())
            if (only is None or (t, p) in only) and self._committed.get((t, p)) != o
        ]
        if not offsets:
            return
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("offset commit failed", error=str(exc.args[0]))
            return
        for tp in offsets:
            self._committed[(tp.topic, tp.partition)] = tp.offset

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        tps = [(p.topic, p.partition) for p in partitions]
        self._commit(only=tps)
        self.tracker.forget(tps)
        for tp in tps:
            self._committed.pop(tp, None)

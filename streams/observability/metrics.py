"""Prometheus metrics shared by every Mercado process (prometheus-client, default registry).

:func:`serve_metrics` exposes ``http://<metrics_host>:<port>/metrics``. Each process kind has its own
default port so several run side by side on one host; every one is a setting (``MERCADO_METRICS__PORT_SINK=…``):

==========  =======================  =======
kind        setting                  default
==========  =======================  =======
worker      ``metrics_port_worker``  9461
sink        ``metrics_port_sink``    9462
produce     ``metrics_port_produce`` 9463
replay      ``metrics_port_replay``  9464
feed        ``metrics_port_feed``    9465
==========  =======================  =======

Metrics (all names start with ``mercado_``):

* ``mercado_info{kind}`` — which process kind serves the endpoint.
* ``mercado_events_in_total{topic, processor}`` — events consumed.
* ``mercado_events_out_total{topic, processor}`` — events produced (or, for sinks, rows sent to a table).
* ``mercado_processing_lag_seconds{processor}`` — histogram of now − event_time when an event is processed.
* ``mercado_consumer_lag_messages{group, topic, partition}`` — high watermark − consumer position.
* ``mercado_dead_letters_total{topic, reason}`` — messages sent to the dead-letter topic/table, by reason.
* ``mercado_late_ticks_total{venue, symbol}`` — ticks later than the grace period.
* ``mercado_worker_commits_total`` — transactions the native worker committed.
* ``mercado_worker_commit_seconds`` — histogram of the native worker's commit: the state snapshot, the
  input offsets, the produce acks and the transaction's end (the worker does not process meanwhile).
* ``mercado_sink_rows_total{table}`` — rows a sink sent to a table (inserted, revised or already there).
* ``mercado_sink_batches_total`` — batches a sink committed.
* ``mercado_sink_batch_rows`` — histogram of rows per committed batch.
* ``mercado_sink_batch_seconds`` — histogram of the time to write and commit one batch (retries included).
* ``mercado_sink_retries_total{reason}`` — database operations retried after a failure (connection lost, …).
* ``mercado_sink_paused`` — 1 while a sink has paused consumption (database unavailable or slow), else 0.
* ``mercado_sink_unwritten_messages`` — messages a sink consumed but has not committed yet.
* ``mercado_sink_assigned_partitions`` — partitions the sink's consumer owns (changes at each rebalance).
* ``mercado_sink_last_write_timestamp_seconds`` — Unix time of the last successful commit.
* ``mercado_feed_events_total{feed, type}``, ``mercado_feed_duplicates_total{feed}``,
  ``mercado_feed_dead_letters_total{feed}``, ``mercado_feed_reconnects_total{feed, reason}``,
  ``mercado_feed_connected{feed}``, ``mercado_feed_receive_to_commit_seconds{feed}`` — the live feeds
  (``mercado feed``, streams/feeds/).
* ``mercado_process_cpu_seconds_total``, ``mercado_process_resident_memory_bytes``, … — prometheus-client's
  process collector (also exported under its standard ``process_*`` names).
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import (
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)

from streams.config import Settings, get_settings

ProcessKind = Literal["worker", "sink", "produce", "replay", "feed"]

LAG_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_ROWS_BUCKETS = (1, 10, 100, 500, 1000, 2500, 5000, 10_000, 50_000)

disable_created_metrics()  # no ``*_created`` series: they double every counter's output for no use here

INFO = Info("mercado", "Which Mercado process kind serves these metrics.")
EVENTS_IN = Counter("mercado_events_in", "Events consumed.", ["topic", "processor"])
EVENTS_OUT = Counter("mercado_events_out", "Events produced, or rows a sink sent to a table.", ["topic", "processor"])
PROCESSING_LAG = Histogram(
    "mercado_processing_lag_seconds", "now - event_time when an event is processed.", ["processor"],
    buckets=LAG_BUCKETS_S,
)  # fmt: skip
CONSUMER_LAG = Gauge(
    "mercado_consumer_lag_messages", "High watermark minus the consumer's position.", ["group", "topic", "partition"]
)
DEAD_LETTERS = Counter(
    "mercado_dead_letters", "Messages sent to the dead-letter topic, by reason.", ["topic", "reason"]
)
LATE_TICKS = Counter("mercado_late_ticks", "Ticks later than the grace period.", ["venue", "symbol"])
COMMIT_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
WORKER_COMMITS = Counter("mercado_worker_commits", "Transactions the native worker committed.")
WORKER_COMMIT_SECONDS = Histogram(
    "mercado_worker_commit_seconds",
    "The native worker's commit: state snapshot, input offsets, produce acks and the transaction's end.",
    buckets=COMMIT_SECONDS_BUCKETS,
)
SINK_ROWS = Counter(
    "mercado_sink_rows", "Rows a sink sent to a table (inserted, revised or already present).", ["table"]
)
SINK_BATCHES = Counter("mercado_sink_batches", "Batches a sink committed.")
SINK_BATCH_ROWS = Histogram("mercado_sink_batch_rows", "Rows per committed batch.", buckets=BATCH_ROWS_BUCKETS)
SINK_BATCH_SECONDS = Histogram(
    "mercado_sink_batch_seconds", "Time to write and commit one batch, retries included.", buckets=BATCH_SECONDS_BUCKETS
)
SINK_KEY_CONFLICTS = Counter(
    "mercado_sink_key_conflicts",
    "Batches whose direct COPY met an existing or repeated key and were written again through staging + ON CONFLICT.",
    ["table"],
)
SINK_RETRIES = Counter("mercado_sink_retries", "Database operations retried after a failure.", ["reason"])
SINK_PAUSED = Gauge("mercado_sink_paused", "1 while the sink has paused consumption, else 0.")
SINK_UNWRITTEN = Gauge("mercado_sink_unwritten_messages", "Messages the sink consumed but has not committed yet.")
SINK_ASSIGNED = Gauge("mercado_sink_assigned_partitions", "Partitions the sink's consumer owns.")
SINK_LAST_WRITE = Gauge("mercado_sink_last_write_timestamp_seconds", "Unix time of the last successful commit.")
FEED_EVENTS = Counter("mercado_feed_events", "Events a feed wrote (committed), by record type.", ["feed", "type"])
FEED_DUPLICATES = Counter("mercado_feed_duplicates", "Trades a feed received again and dropped (same id).", ["feed"])
FEED_DEAD_LETTERS = Counter(
    "mercado_feed_dead_letters", "Frames a feed could not read and events the door refused (dead-lettered).", ["feed"]
)
FEED_RECONNECTS = Counter("mercado_feed_reconnects", "Reconnections of a feed, by reason.", ["feed", "reason"])
FEED_CONNECTED = Gauge("mercado_feed_connected", "1 while a feed is connected to its venue, else 0.", ["feed"])
FEED_COMMIT_LATENCY = Histogram(
    "mercado_feed_receive_to_commit_seconds", "Frame received to event committed (visible to read_committed).",
    ["feed"], buckets=COMMIT_SECONDS_BUCKETS,
)
PROCESS = ProcessCollector(namespace="mercado", registry=REGISTRY)


def metrics_port(kind: ProcessKind, settings: Settings | None = None) -> int:
    """The configured port of a process kind (``MERCADO_METRICS__PORT_<KIND>``)."""
    settings = settings or get_settings()
    return int(getattr(settings.metrics, f"port_{kind}"))


def serve_metrics(kind: ProcessKind, settings: Settings | None = None, port: int | None = None) -> int:
    """Serve the metrics over HTTP in a daemon thread; returns the port (useful when it was 0: any free one)."""
    settings = settings or get_settings()
    INFO.info({"kind": kind})
    server, _thread = start_http_server(metrics_port(kind, settings) if port is None else port, settings.metrics.host)
    return int(server.server_port)


def try_serve_metrics(kind: ProcessKind, settings: Settings | None = None) -> int | None:
    """Like :func:`serve_metrics` for short command-line runs (produce, replay): a busy port is not a
    reason to fail the run; the metrics are then simply not served (returns ``None``)."""
    try:
        return serve_metrics(kind, settings)
    except OSError:
        return None

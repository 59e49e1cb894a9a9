"""What ``/system/health`` reports: Kafka and PostgreSQL reachable, each pipeline's worker group and the
sink behind their input topics, and every sink table's freshness (the ``pipeline_status`` view).

Kafka does not keep when a group committed: a worker commits its offsets with the time as their metadata
(``streams.engines.live.commit_metadata``), read back here as its last commit; the sink stores its offsets
in PostgreSQL with the time (``mercado_sink_offsets.updated_at``). The blocking Kafka calls run in
a thread, each bounded by a short timeout, so a broker that is down makes health slow by a few seconds,
never hang.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from gateway.db import Database
from gateway.settings import GatewaySettings
from sinks.settings import SinkSettings
from streams.engines.live import committed_at_ms, group_id
from streams.kafka.clients import admin_config, committed_reader_config
from streams.runtime.pipelines import PIPELINES, build_stages

KAFKA_TIMEOUT_S = 3.0


def _kafka_check(settings: GatewaySettings) -> tuple[dict[str, Any], set[str]]:
    started = time.perf_counter()
    try:
        md = AdminClient(admin_config(settings)).list_topics(timeout=KAFKA_TIMEOUT_S)
    except KafkaException as exc:
        return {"ok": False, "detail": f"Kafka at {settings.bootstrap()}: {exc.args[0]}"}, set()
    ms = (time.perf_counter() - started) * 1000
    detail = f"{len(md.brokers)} broker(s) at {settings.bootstrap()}"
    return {"ok": True, "detail": detail, "latency_ms": round(ms, 2)}, set(md.topics)


def _group_lag(settings: GatewaySettings, group: str, topics: list[str], existing: set[str]) -> dict[str, Any]:
    missing = [t for t in topics if t not in existing]
    present = [t for t in topics if t in existing]
    if not present:
        return {"group": group, "lag": None, "partitions": 0, "detail": "its input topics do not exist yet"}
    consumer = Consumer(committed_reader_config(settings, group))
    try:
        md = consumer.list_topics(timeout=KAFKA_TIMEOUT_S)
        tps = [TopicPartition(t, p) for t in present for p in md.topics[t].partitions]
        committed = consumer.committed(tps, timeout=KAFKA_TIMEOUT_S)
        lag, started, last_ms = 0, 0, None
        for tp in committed:
            at = committed_at_ms(tp.metadata)
            if at is not None:
                last_ms = at if last_ms is None else max(last_ms, at)
            _low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=KAFKA_TIMEOUT_S)
            if tp.offset >= 0:
                started += 1
                lag += max(high - tp.offset, 0)
            else:
                lag += high
        detail = "no committed offsets yet" if not started else f"committed on {started}/{len(tps)} partitions"
        if missing:
            detail += f"; missing topics: {', '.join(missing)}"
        last_commit = None if last_ms is None else dt.datetime.fromtimestamp(last_ms / 1000, dt.UTC)
        return {"group": group, "lag": lag, "partitions": len(tps), "last_commit": last_commit, "detail": detail}
    except KafkaException as exc:
        return {"group": group, "lag": None, "partitions": 0, "detail": str(exc.args[0])}
    finally:
        consumer.close()


def _workers(settings: GatewaySettings, existing: set[str]) -> list[dict[str, Any]]:
    out = []
    for pipeline in sorted(PIPELINES):
        topics = sorted({settings.topic(t) for stage in build_stages(pipeline, settings) for t in stage.inputs})
        out.append(_group_lag(settings, group_id(settings, pipeline), topics, existing))
    return out


SINK_SQL = """
SELECT count(*) AS partitions, max(updated_at) AS last_commit,
       coalesce(array_agg(topic) FILTER (WHERE topic IS NOT NULL), '{}') AS topics,
       coalesce(array_agg(partition) FILTER (WHERE topic IS NOT NULL), '{}') AS parts,
       coalesce(array_agg(next_offset) FILTER (WHERE topic IS NOT NULL), '{}') AS offsets
FROM mercado_sink_offsets WHERE consumer_group = $1
"""


def _sink_lag(settings: GatewaySettings, row: Any) -> int | None:
    consumer = Consumer(committed_reader_config(settings, "mercado-api-health"))
    try:
        lag = 0
        for topic, partition, offset in zip(row["topics"], row["parts"], row["offsets"], strict=True):
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=KAFKA_TIMEOUT_S)
            lag += max(high - offset, 0)
        return lag
    except KafkaException:
        return None
    finally:
        consumer.close()


async def health(settings: GatewaySettings, db: Database) -> dict[str, Any]:
    kafka, existing = await asyncio.to_thread(_kafka_check, settings)
    workers = await asyncio.to_thread(_workers, settings, existing) if kafka["ok"] else []
    started = time.perf_counter()
    sink = None
    tables: list[dict[str, Any]] = []
    try:
        await db.fetch("SELECT 1")
        postgres = {"ok": True, "detail": f"schema {settings.db.schema_name!r}",
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2)}  # fmt: skip
        try:
            tables = [dict(r) for r in await db.fetch("SELECT * FROM pipeline_status")]
            group = settings.kafka.topic_prefix + SinkSettings.extend(settings).sink.group
            row = await db.fetchrow(SINK_SQL, group)
            if row is not None and row["partitions"]:
                lag = await asyncio.to_thread(_sink_lag, settings, row) if kafka["ok"] else None
                sink = {"group": group, "lag": lag, "partitions": row["partitions"], "last_commit": row["last_commit"],
                        "detail": "offsets stored in PostgreSQL"}  # fmt: skip
            else:
                sink = {"group": group, "lag": None, "partitions": 0, "detail": "the sink has stored no offsets yet"}
        except Exception as exc:  # noqa: BLE001 — not migrated: reachable, but nothing to report yet
            postgres["detail"] += f"; {getattr(exc, 'detail', exc)}"
    except Exception as exc:  # noqa: BLE001 — any failure to reach it is the answer
        postgres = {"ok": False, "detail": str(getattr(exc, "detail", exc))}
    return {"ok": kafka["ok"] and postgres["ok"], "kafka": kafka, "postgres": postgres, "workers": workers,
            "sink": sink, "tables": tables}  # fmt: skip

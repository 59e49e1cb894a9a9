"""Helpers shared by the benchmarks: timing with repeats, and the JSON result line."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any


def decode_only(serde: Any, blobs: list[bytes]) -> Callable[[], int]:
    """The raw decode baseline: fastavro's ``schemaless_reader`` on every single-object-framed value, with the
    writer schema looked up by its fingerprint (the best hand-written loop with the same library)."""
    from io import BytesIO

    from fastavro import schemaless_reader

    wire = {s.fingerprint_bytes: s.wire for s in serde.schemas}

    def run() -> int:
        for blob in blobs:
            buf = BytesIO(blob)
            buf.seek(10)
            schemaless_reader(buf, wire[blob[2:10]], None)
        return len(blobs)

    return run


def best_rate(fn: Callable[[], int], repeats: int = 3) -> float:
    """Items per second of the fastest of ``repeats`` runs of ``fn`` (which returns its item count).

    The best run is the least disturbed by the machine's noise; baseline and candidate get the same
    treatment, interleaved, so their ratio is what matters.
    """
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        n = fn()
        best = max(best, n / (time.perf_counter() - started))
    return best


def interleaved(candidate: Callable[[], int], baseline: Callable[[], int], repeats: int = 3) -> tuple[float, float]:
    """Best rates of candidate and baseline, run alternately so both see the same machine."""
    c = b = 0.0
    for _ in range(repeats):
        b = max(b, best_rate(baseline, 1))
        c = max(c, best_rate(candidate, 1))
    return c, b


def cpu_interleaved(candidate: Callable[[], int], baseline: Callable[[], int],
                    repeats: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Best (CPU-time, wall-clock) rates of candidate and baseline, run alternately."""
    best: dict[str, list[float]] = {"candidate": [0.0, 0.0], "baseline": [0.0, 0.0]}
    for _ in range(repeats):
        for name, fn in (("baseline", baseline), ("candidate", candidate)):
            cpu, wall = time.process_time(), time.perf_counter()
            n = fn()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            best[name] = [max(best[name][0], n / cpu), max(best[name][1], n / wall)]
    c, b = best["candidate"], best["baseline"]
    return (c[0], c[1]), (b[0], b[1])


def result(bench: str, value: float, baseline: float, unit: str, **extra: object) -> None:
    ratio = value / baseline if baseline else 0.0
    print(f"{bench}: {value:,.0f} {unit} vs baseline {baseline:,.0f} {unit} -> ratio {ratio:.3f}")
    print(json.dumps({"bench": bench, "value": round(value, 1), "baseline": round(baseline, 1),
                      "ratio": round(ratio, 3), "unit": unit, **extra}))


def delete_run_topics(settings: Any, prefixes: list[str], groups: list[str]) -> int:
    """Deletes a run's topics (those under ``prefixes``) and consumer groups; returns how many topics."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from streams.kafka.clients import admin_config

    admin = AdminClient(admin_config(settings))
    names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(tuple(prefixes))]
    futures = list(admin.delete_topics(names, operation_timeout=30).values()) if names else []
    if groups:
        futures += admin.delete_consumer_groups(groups, request_timeout=10).values()
    for fut in futures:
        try:
            fut.result()
        except KafkaException:
            pass
    return len(names)

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


class Run:
    """A bench run's phases (fresh topic prefixes ``<prefix>bench.<name>.<stamp>.<phase>.``) and the processes
    it starts, undone by :meth:`cleanup` (processes stopped, topics and the consumer groups ``groups`` deleted)."""

    def __init__(self, settings: Any, name: str, groups: tuple[str, ...] = ()) -> None:
        self.settings, self.name, self.groups = settings, name, groups
        self.stamp = time.strftime("%Y%m%d%H%M%S")
        self.prefixes: list[str] = []
        self.procs: list[Any] = []
        self.logs = settings.local.state_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def phase(self, name: str, topics: tuple[Any, ...] = (), **overrides: Any) -> Any:
        """The phase's settings (its own topic prefix, ``overrides``), with ``topics`` and every catalogue
        topic created."""
        from streams.kafka.admin import ensure_topics

        prefix = f"{self.settings.kafka.topic_prefix}bench.{self.name}.{self.stamp}.{name}."
        self.prefixes.append(prefix)
        s = self.settings.with_({"kafka__topic_prefix": prefix, **overrides})
        ensure_topics(s, topics)
        ensure_topics(s)
        return s

    def log_path(self, name: str) -> Any:
        return self.logs / f"bench-{self.name}-{self.stamp}-{name}.log"

    def start(self, s: Any, module_args: list[str], env: dict[str, str], name: str) -> Any:
        """``python -m <module_args>`` with the phase's topic prefix (native engine, no metrics port unless
        ``env`` says otherwise), in its own session; its stderr goes to :meth:`log_path`."""
        import os
        import subprocess
        import sys
        from pathlib import Path

        full = {**os.environ, "MERCADO_KAFKA__TOPIC_PREFIX": s.kafka.topic_prefix, "MERCADO_METRICS__PORT_WORKER": "0",
                "MERCADO_WORKER__ENGINE": "native", **env}
        with self.log_path(name).open("ab") as fh:
            proc = subprocess.Popen([sys.executable, "-m", *module_args], cwd=Path(__file__).resolve().parents[1],
                                    env=full, stdout=subprocess.DEVNULL, stderr=fh, start_new_session=True)
        self.procs.append(proc)
        return proc

    def cleanup(self) -> None:
        from infra.processes import stop_group

        for proc in self.procs:
            if proc.poll() is None:
                stop_group(proc, 20)
        delete_run_topics(self.settings, self.prefixes, [f"{p}{g}" for p in self.prefixes for g in self.groups])

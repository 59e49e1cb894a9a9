"""Each pipeline's replay over generated inputs, dumped line by line: every output in production order and
every key's saved state at the end (what the live worker writes to its changelog). Run in child processes
by the test that compares the dumps of processes with different ``PYTHONHASHSEED`` values
(tests/unit/test_hash_seed.py): string hashing is randomized per process, so a decision taken in set or
dict iteration order of strings would make a replay in another process differ from what the live worker
said.

    python -m tests.support.replay_dump run DATA_DIR OUT_DIR [REAL_DATA_DIR]
    python -m tests.support.replay_dump resume DATA_DIR SAVED_DIR OUT_DIR

``run`` writes ``<pipeline>.jsonl`` per pipeline (and ``retail-real.jsonl`` with the real catalogues), and
for the generated inputs the outputs of their first half and the state after it; ``resume`` continues
each from the state another process saved, as a restarted worker would (:func:`run`, :func:`run_resumed`).

The inputs are the generator's JSON Lines files (``write_slice`` cuts windows of a generated day),
coerced and Avro-encoded as the ingest door would, keyed and partitioned as the catalog says, stamped as
produced at their event time, and merged like :class:`streams.engines.replay.KafkaRangeReader` merges
partitions: by (merge key, partition, topic), each partition in its log order. They go through
:func:`streams.engines.replay.run_replay`: the replay's driver, admission, routing and encoders.
"""

from __future__ import annotations

import base64
import heapq
import sys
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from processors import topics
from processors.core import PipelineSpec
from processors.partitioning import partition_of
from schemas.loader import load_schemas
from streams.codec.coerce import record_coercer
from streams.codec.serde import AvroSerde
from streams.config import Settings, get_settings
from streams.engines.replay import InputMessage, run_replay
from streams.kafka.catalog import topic as catalog_topic
from streams.kafka.headers import PRODUCED_AT_HEADER
from streams.runtime.align import merge_keyer
from streams.runtime.driver import Output, PipelineDriver
from streams.runtime.pipelines import build_stages

Event = tuple[str, str, dict[str, Any]]  # (topic, schema, wire-form record)

# the generated day's files each pipeline reads (the recommendations job's history is generated here)
FILES: dict[str, tuple[str, ...]] = {
    "marketdata": (topics.TICKS,),
    "retail": (topics.LISTINGS,),
    "risk": (topics.ORDERS, topics.VENUE_HEALTH, topics.TICKS),
    "scanner": (topics.SCAN_SNAPSHOTS,),
}
PIPELINES = (*FILES, "recommendations", "venue-paper")
REAL = "retail-real"  # the retail pipeline on a pair of real catalogues (when the data is there)


def write_slice(day_dir: Path, out_dir: Path, windows: dict[str, tuple[str, str] | None]) -> None:
    """Copies the lines of the day's files (topic -> window) whose ``event_time`` (ISO-8601 UTC, which sorts
    as text) is in [start, end) into ``out_dir``; a file without a window is copied whole."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, window in windows.items():
        src = day_dir / f"{name}.jsonl"
        with src.open("rb") as fh, (out_dir / src.name).open("wb") as out:
            for line in fh:
                if window is None or window[0] <= orjson.loads(line)["event_time"] < window[1]:
                    out.write(line)


def file_events(path: Path, topic_name: str, only: str | None = None) -> list[Event]:
    """A generated file's rows as wire-form records (the ingest door's coercion), in file order."""
    spec = catalog_topic(topic_name)
    schemas = load_schemas()
    coercers = {name: record_coercer(schemas[name], ignore=frozenset({"type"})) for name in spec.schemas}
    out: list[Event] = []
    with path.open("rb") as fh:
        for line in fh:
            row = orjson.loads(line)
            name = row.get("type") or spec.schemas[0]
            if only is None or name == only:
                out.append((topic_name, name, coercers[name](row)))
    return out


def messages(events: Iterable[Event], serde: AvroSerde, admission: Any) -> Iterator[InputMessage]:
    """The events as the replay's reader yields them: per (topic, partition) in the given order (the log's),
    merged by (merge key, partition, topic) like :class:`~streams.engines.replay.KafkaRangeReader`."""
    merge_key = merge_keyer(admission)
    logs: dict[tuple[str, int], list[InputMessage]] = {}
    encoders: dict[tuple[str, str], Any] = {}
    for topic_name, schema, record in events:
        spec = catalog_topic(topic_name)
        key = spec.key_function(schema)(record)
        p = partition_of(key, spec.partitions)
        enc = encoders.get((schema, topic_name))
        if enc is None:
            enc = encoders[(schema, topic_name)] = serde.encoder(schema, topic_name)
        headers = [(PRODUCED_AT_HEADER, str(record["event_time"]).encode())]
        ts = record["event_time"] // 1000
        log = logs.setdefault((topic_name, p), [])
        log.append(InputMessage(topic_name, p, len(log), ts, enc(record), headers, None, merge_key(ts, headers)))
    yield from heapq.merge(*(logs[tp] for tp in sorted(logs)), key=lambda m: (m.order_ms, m.partition, m.topic))


class Dump:
    """An output sink (:class:`streams.engines.replay.OutputSink`) keeping every output line in order."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.outputs: list[Output] = []

    def write(self, outputs: list[Output]) -> None:
        for o in outputs:
            self.outputs.append(o)
            value = None if o.value is None else base64.b64encode(o.value).decode()
            self.lines.append(orjson.dumps(["out", o.topic, o.key, o.emit.schema, o.timestamp_ms, value]))

    def close(self) -> dict[str, int]:
        return {}


def state_lines(drivers: list[PipelineDriver]) -> list[bytes]:
    """Every key's saved state (:meth:`PipelineDriver.saved_state`, serialized as the worker writes it to
    its changelog: ``orjson.dumps``, key order kept; without the input offsets, which only a driver that
    restored state tracks), stage by stage, partition by partition."""
    lines = []
    for driver in drivers:
        for p in sorted(driver.runtimes):
            for key in driver.runtimes[p].processors:
                saved = driver.saved_state(key, p)
                del saved["offsets"]
                lines.append(orjson.dumps(["state", driver.spec.name, p, key, saved]))
    return lines


def settings_of(pipeline: str) -> Settings:
    """The process settings; the risk gate and the paper venue those of the generated day (the demo's)."""
    settings = get_settings()
    if pipeline in ("risk", "venue-paper"):
        from streams.commands.demo_paper import PAPER
        from streams.generator.trading.risk_setup import day_config

        settings = settings.with_({"risk": day_config(), "paper": PAPER})
    return settings


def stages_of(pipeline: str) -> tuple[list[PipelineSpec], Settings]:
    settings = settings_of(pipeline)
    return build_stages(pipeline, settings), settings


def replay(pipeline: str, events: list[Event], serde: AvroSerde, stop: int | None = None,
           ) -> tuple[Dump, list[PipelineDriver]]:
    """The replay of the events (of the first ``stop`` input messages, merged)."""
    stages, settings = stages_of(pipeline)
    drivers = [PipelineDriver(spec, serde) for spec in stages]
    sink = Dump()
    run_replay(list(messages(events, serde, settings.admission))[:stop], stages, serde, sink, drivers=drivers)
    return sink, drivers


def saved_states(drivers: list[PipelineDriver]) -> list[dict[str, list[list[Any]]]]:
    """Per stage, partition -> its keys' saved states (``[key, saved_state]``): what a restarted worker loads."""
    return [{str(p): [[key, d.saved_state(key, p)] for key in d.runtimes[p].processors] for p in sorted(d.runtimes)}
            for d in drivers]


def resume(pipeline: str, events: list[Event], serde: AvroSerde, saved: list[dict[str, list[list[Any]]]],
           skip: int) -> tuple[Dump, list[PipelineDriver]]:
    """The replay continued from ``saved`` (another process's :func:`saved_states` after the first ``skip``
    input messages), as a restarted worker does: every partition's keys restored, then the rest of the inputs."""
    stages, settings = stages_of(pipeline)
    drivers = []
    for spec, state in zip(stages, saved, strict=True):
        driver = PipelineDriver(spec, serde, lambda p, state=state: [(k, v) for k, v in state.get(str(p), [])])
        for p in state:
            driver.runtime(int(p))  # restored now, not at the partition's next event (the worker's start-up)
        drivers.append(driver)
    sink = Dump()
    rest = list(messages(events, serde, settings.admission))[skip:]
    run_replay(rest, stages, serde, sink, drivers=drivers)
    return sink, drivers


def reco_events() -> list[Event]:
    """A year and a quarter of the recommendations job's generated history for 12 tickers, and a job
    request per trading day of its last month."""
    from processors.recommendations.calendar import TradingCalendar
    from streams.generator.recommendations import HistoryConfig, generate_history, input_events

    config = get_settings().recommendations
    history = generate_history(HistoryConfig(seed=7, start=date(2024, 1, 2), end=date(2025, 3, 31), tickers=12),
                               config)
    days = TradingCalendar(config).trading_days(date(2025, 3, 1), date(2025, 3, 31))
    return list(input_events(history, days, config))


def real_events(root: Path) -> list[Event]:
    """The Amazon-GoogleProducts catalogues as two retailers' listings (``python -m bench.matching_real``)."""
    from bench.matching_real import catalogues
    from streams.commands.retail_evaluate import interleaved_records

    left, right, _truth = catalogues(root)["amazon_google"]
    return [(topics.LISTINGS, "RetailListing", r) for r in interleaved_records(left, right)]


def inputs(pipeline: str, data_dir: Path, serde: AvroSerde) -> tuple[str, list[Event]]:
    """The pipeline to replay for ``pipeline`` (:data:`REAL` is the retail one) and its input events."""
    if pipeline == REAL:
        return "retail", real_events(data_dir)
    if pipeline == "recommendations":
        return pipeline, reco_events()
    if pipeline == "venue-paper":
        # the risk gate's decisions on the day's submissions (a submissions-only day is its lifecycle day's
        # OrderSubmitted lines), then the paper venue on those decisions and the ticks
        ticks = file_events(data_dir / f"{topics.TICKS}.jsonl", topics.TICKS)
        risk_in = (file_events(data_dir / f"{topics.ORDERS}.jsonl", topics.ORDERS, only="OrderSubmitted")
                   + file_events(data_dir / f"{topics.VENUE_HEALTH}.jsonl", topics.VENUE_HEALTH) + ticks)
        risk, _ = replay("risk", risk_in, serde)
        decisions = [(o.topic, o.emit.schema, o.emit.record) for o in risk.outputs if o.topic == topics.DECISIONS]
        return pipeline, decisions + ticks
    return pipeline, [e for name in FILES[pipeline] for e in file_events(data_dir / f"{name}.jsonl", name)]


def _write(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"\n".join(lines) + b"\n")


def run(data_dir: Path, out: Path, real: Path | None) -> None:
    """Per pipeline: ``<pipeline>.jsonl`` (outputs and final state), and for the generated ones the outputs of
    the first half of the inputs (``.half.jsonl``) and the state after it (``.half-state.json``)."""
    serde = AvroSerde()
    out.mkdir(parents=True, exist_ok=True)
    # evidence that the seed took: the test checks that processes given different seeds hash differently
    (out / "hash.txt").write_text(f"{hash('mercado')}\n")
    for name in (*PIPELINES, REAL) if real is not None else PIPELINES:
        pipeline, events = inputs(name, real if name == REAL else data_dir, serde)
        sink, drivers = replay(pipeline, events, serde)
        _write(out / f"{name}.jsonl", sink.lines + state_lines(drivers))
        if name in PIPELINES:
            half = len(events) // 2
            sink, drivers = replay(pipeline, events, serde, stop=half)
            _write(out / f"{name}.half.jsonl", sink.lines)
            (out / f"{name}.half-state.json").write_bytes(orjson.dumps(
                {"inputs": half, "stages": saved_states(drivers)}))


def run_resumed(data_dir: Path, saved_dir: Path, out: Path) -> None:
    """Per generated pipeline: ``<pipeline>.resumed.jsonl``, the outputs of the second half of the inputs and
    the final state, continuing from the state another process saved after the first half."""
    serde = AvroSerde()
    out.mkdir(parents=True, exist_ok=True)
    (out / "hash.txt").write_text(f"{hash('mercado')}\n")
    for name in PIPELINES:
        pipeline, events = inputs(name, data_dir, serde)
        saved = orjson.loads((saved_dir / f"{name}.half-state.json").read_bytes())
        sink, drivers = resume(pipeline, events, serde, saved["stages"], saved["inputs"])
        _write(out / f"{name}.resumed.jsonl", sink.lines + state_lines(drivers))


def main(argv: list[str]) -> None:
    if argv[0] == "run":
        _, data_dir, out, *real = argv
        run(Path(data_dir), Path(out), Path(real[0]) if real else None)
    elif argv[0] == "resume":
        _, data_dir, saved_dir, out = argv
        run_resumed(Path(data_dir), Path(saved_dir), Path(out))
    else:
        raise SystemExit(f"usage: {__doc__}")


if __name__ == "__main__":
    main(sys.argv[1:])

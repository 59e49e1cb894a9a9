"""A real Prometheus scrapes a real worker and sink while a generated day flows through Kafka.

The module fixture runs, on a topic prefix and a database of its own: Prometheus (the repo's config
with this run's ports and a 1 s scrape/evaluation interval, the repo's rules), ``mercado worker`` and
``mercado sink`` as subprocesses, and the day's ticks with three undecodable messages among them.
Then every PromQL expression of the Pipeline dashboard and of the alert rules is evaluated through
Prometheus's HTTP API and compared with what the pipeline really did (events produced, events read
back from the output topics, rows in PostgreSQL), and the Market dashboard's SQL runs on the rows the
sink wrote. The last test stops the processes and sees MercadoProcessDown's expression pick them up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import orjson
import pytest
import yaml
from confluent_kafka import Producer

from infra.processes import stop_group
from sinks.migrate import migrate
from streams.codec.serde import DecodeError
from streams.config import Settings
from streams.ingest.producer import FileProducer
from streams.kafka.admin import ensure_topics
from streams.kafka.clients import producer_config
from streams.kafka.consumer import EventConsumer, default_serde
from streams.observability.settings import MetricsSettings
from tests.support.files import split_lines
from tests.support.observability import (
    PROMETHEUS_CONFIG,
    ROOT,
    RULES_DIR,
    alert_rules,
    create_database,
    drop_database,
    fetch_all,
    free_port,
    panel_query,
    prometheus_queries,
    recording_rules,
    runnable_promql,
    runnable_sql,
    sql_queries,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

DAY = dt.date(2026, 11, 20)  # a Friday: USD/COP session open, crypto 24/7
BOGOTA = ZoneInfo("America/Bogota")
INPUT = "md.ticks.v1"
OUTPUTS = ("md.bars.v1", "md.gaps.v1", "md.indicators.v1", "md.quality.v1", "md.late-ticks.v1", "md.alerts.v1")
TABLES = {
    "md.bars.v1": "md_bars",
    "md.gaps.v1": "md_gaps",
    "md.indicators.v1": "md_indicators",
    "md.quality.v1": "md_data_quality",
    "md.late-ticks.v1": "md_late_ticks",
    "md.alerts.v1": "alerts",
}
# Undecodable messages produced between the day's parts: two kinds, one of them twice (minutes apart).
GARBAGE = (b"not an avro event", b"\xc3\x01" + bytes(8) + b"unknown schema", b"still not an avro event")
PARTS = 4
T = TypeVar("T")


class PrometheusError(AssertionError):
    pass


@dataclass
class PrometheusAPI:
    port: int

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query; the result vector (or a PrometheusError carrying Prometheus's message)."""
        params = {"query": expr} | ({"time": f"{at:.3f}"} if at is not None else {})
        url = f"http://127.0.0.1:{self.port}/api/v1/query?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        if body.get("status") != "success":
            raise PrometheusError(f"{expr}: {body.get('errorType')}: {body.get('error')}")
        assert body["data"]["resultType"] == "vector", expr
        return body["data"]["result"]

    def by(self, expr: str, *labels: str, at: float | None = None) -> dict[tuple[str, ...] | str, float]:
        """``{label values: value}`` (a single label gives plain string keys)."""
        out: dict[tuple[str, ...] | str, float] = {}
        for sample in self.query(expr, at):
            key = tuple(sample["metric"].get(name, "") for name in labels)
            out[key[0] if len(labels) == 1 else key] = float(sample["value"][1])
        return out

    def scalar(self, expr: str) -> float | None:
        result = self.query(expr)
        assert len(result) <= 1, (expr, result)
        return float(result[0]["value"][1]) if result else None

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]


@dataclass
class Processes:
    """Subprocesses of this module, each in its own process group, with their logs."""

    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs[name] = proc
        return proc

    def check_alive(self, *names: str) -> None:
        for name in names:
            code = self.procs[name].poll()
            assert code is None, f"{name} exited with {code}:\n{self.log(name)}"

    def stop(self, name: str, timeout_s: float = 30.0) -> int:
        proc = self.procs[name]
        stop_group(proc, timeout_s)
        return proc.returncode

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")[-4000:]


@dataclass
class LiveRun:
    settings: Settings  # topic prefix and database of this run
    prometheus: PrometheusAPI
    processes: Processes
    ports: dict[str, int]
    ticks: int  # rows of the day's file produced
    instruments: set[tuple[str, str]]  # (venue, symbol) of the day's ticks
    outputs: dict[str, list[dict[str, Any]]]  # logical output topic -> records read back
    dead_letter_reasons: Counter[str]  # reason -> undecodable messages produced
    processed_at: float = 0.0  # Unix time the worker had consumed everything

    @property
    def consumed(self) -> int:
        return self.ticks + sum(self.dead_letter_reasons.values())

    def topic(self, logical: str) -> str:
        return self.settings.topic(logical)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, check: Callable[[], None]) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.5)


def settle(read: Callable[[], T], want: T, timeout_s: float) -> T:
    """``read()`` until it returns ``want`` or time runs out; returns the last value (to assert on)."""
    deadline = time.monotonic() + timeout_s
    while (got := read()) != want and time.monotonic() < deadline:
        time.sleep(0.5)
    return got


def _prometheus_config(path: Path, ports: dict[str, int]) -> None:
    """The repo's config, with this run's ports, 1 s intervals and the repo's rule files."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"].update({"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"})
    config["rule_files"] = [str(RULES_DIR / "*.rules.yml")]
    for job in config["scrape_configs"]:
        kind = job["job_name"].removeprefix("mercado-")
        [static] = job["static_configs"]
        assert static["targets"] == [f"127.0.0.1:{getattr(MetricsSettings(), f'port_{kind}')}"]
        static["targets"] = [f"127.0.0.1:{ports[kind]}"]
    path.write_text(yaml.safe_dump(config))


def _read_outputs(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in OUTPUTS}
    physical = {settings.topic(t): t for t in OUTPUTS}
    with EventConsumer(settings, list(physical)) as consumer:
        for event in consumer.iterate(idle_timeout=10):
            out[physical[event.topic]].append(event.record)
    return out


@pytest.fixture(scope="module")
def day_file(generated_days) -> Path:
    """The generated day's ticks (fx and crypto feeds, which no other domain changes): tests/conftest.py makes
    the day once per session, shared with the other modules."""
    return generated_days(42, DAY)[0] / f"{INPUT}.jsonl"


@pytest.fixture(scope="module")
def live(services: Settings, day_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    work = tmp_path_factory.mktemp("obs-live")
    prefix = f"{services.kafka.topic_prefix}obs{time.time_ns() % 10**12}."  # under the session's prefix
    settings = create_database(services.with_({"kafka__topic_prefix": prefix}), "obs")
    processes = Processes(work)
    try:
        ensure_topics(settings)
        asyncio.run(migrate(settings))
        ports = {kind: free_port() for kind in ("worker", "sink", "produce", "replay", "feed", "prometheus")}
        _prometheus_config(work / "prometheus.yml", ports)
        assert shutil.which("prometheus"), "prometheus is missing: install Debian's prometheus package (./dev does)"
        processes.start("prometheus", [
            "prometheus", f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}", "--storage.tsdb.retention.time=1h",
        ])  # fmt: skip
        prometheus = PrometheusAPI(ports["prometheus"])

        env = {
            **os.environ,
            "MERCADO_KAFKA_BOOTSTRAP": settings.bootstrap(),
            "MERCADO_DATABASE_URL": settings.dsn(),
            "MERCADO_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
            "MERCADO_METRICS__PORT_WORKER": str(ports["worker"]),
            "MERCADO_METRICS__PORT_SINK": str(ports["sink"]),
        }
        cli = [sys.executable, "-m", "streams.commands.cli"]
        processes.start("worker", [*cli, "worker", "--pipeline", "marketdata"], env)
        processes.start("sink", [*cli, "sink"], env)  # they start up while Prometheus does

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ports['prometheus']}/-/ready", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_until(ready, 30, "Prometheus to be ready", lambda: processes.check_alive("prometheus"))

        def alive() -> None:
            processes.check_alive("prometheus", "worker", "sink")

        wait_until(
            lambda: prometheus.by('up{job=~"mercado-worker|mercado-sink"}', "job")
            == {"mercado-worker": 1.0, "mercado-sink": 1.0},
            60, "Prometheus to scrape the worker and the sink", alive,
        )  # fmt: skip

        serde = default_serde(settings)
        reasons: Counter[str] = Counter()
        for garbage in GARBAGE:
            with pytest.raises(DecodeError) as exc:
                serde.decode(garbage)
            reasons[exc.value.reason] += 1
        producer = FileProducer(settings, INPUT)
        raw = Producer(producer_config(settings))
        ticks = 0
        for i, part in enumerate(split_lines(day_file, work, PARTS)):
            ticks += producer.produce_file(part).produced
            if i < len(GARBAGE):
                raw.produce(settings.topic(INPUT), GARBAGE[i], b"garbage")
                assert raw.flush(30) == 0
        instruments = set()
        for line in day_file.open("rb"):
            row = orjson.loads(line)
            if "venue" in row:
                instruments.add((row["venue"], row["symbol"]))

        run = LiveRun(settings, prometheus, processes, ports, ticks, instruments, {}, reasons)
        wait_until(
            lambda: prometheus.scalar('sum(mercado_events_in_total{processor="marketdata"})') == run.consumed,
            150, f"the worker to consume {run.consumed} events", alive,
        )  # fmt: skip
        run.processed_at = time.time()

        def outputs_read_back() -> bool:
            run.outputs = _read_outputs(settings)
            counted = prometheus.by('sum by (topic) (mercado_events_out_total{processor="marketdata"})', "topic")
            return counted == {run.topic(t): float(len(events)) for t, events in run.outputs.items()}

        wait_until(outputs_read_back, 60, "the output topics to hold what the worker counted", alive)
        produced = sum(len(events) for events in run.outputs.values())
        wait_until(
            lambda: prometheus.scalar('sum(mercado_events_in_total{processor="sink"})') == produced
            and prometheus.scalar("sum(mercado_sink_unwritten_messages)") == 0,
            60, f"the sink to commit {produced} messages", alive,
        )  # fmt: skip
        # The sink's lag comes from librdkafka's statistics (every 5 s) on the offsets it commits to Kafka
        # (once a second): it settles at most 1 per partition, the commit marker of the worker's last
        # transaction (the sink's position stops after the last message).
        written = {run.topic(t) for t, events in run.outputs.items() if events}

        def sink_lag_settled() -> bool:
            lag = prometheus.by('mercado_consumer_lag_messages{job="mercado-sink"}', "topic", "partition")
            return {topic for topic, _ in lag} >= written and max(lag.values()) <= 1

        wait_until(sink_lag_settled, 30, "the sink's lag statistics to settle", alive)
        yield run
    finally:
        processes.stop_all()
        drop_database(settings)


# --------------------------------------------------------------------------- the Pipeline dashboard
def test_throughput_panels_show_what_the_pipeline_did(live: LiveRun) -> None:
    prom = live.prometheus
    produced = {t: len(events) for t, events in live.outputs.items()}
    assert produced["md.bars.v1"] > 1000 and produced["md.quality.v1"] > 100
    total_out = sum(produced.values())

    consumed = prom.by(runnable_promql(panel_query("pipeline", "Events consumed (since process start)")), "processor")
    assert consumed == {"marketdata": live.consumed, "sink": total_out}
    assert prom.by(runnable_promql(panel_query("pipeline", "Events produced (since process start)")), "processor") == {
        "marketdata": total_out
    }
    # per topic: the worker's inputs and outputs, the sink's inputs (topics that carried something)
    assert prom.by('sum by (topic) (mercado_events_in_total{processor="marketdata"})', "topic") == {
        live.topic(INPUT): live.consumed
    }
    assert prom.by('sum by (topic) (mercado_events_out_total{processor="marketdata"})', "topic") == {
        live.topic(t): n for t, n in produced.items()
    }
    assert prom.by('sum by (topic) (mercado_events_in_total{processor="sink"})', "topic") == {
        live.topic(t): n for t, n in produced.items() if n
    }
    assert prom.by("sum by (table) (mercado_sink_rows_total)", "table") == {
        TABLES[t]: n for t, n in produced.items() if n
    }
    assert prom.scalar(runnable_promql(panel_query("pipeline", "Dead letters (since process start)"))) == len(GARBAGE)
    assert prom.by("sum by (reason) (mercado_dead_letters_total)", "reason") == dict(live.dead_letter_reasons)
    # one scrape that outlasts its 1 s timeout on a loaded machine is a 0 until the next: read until settled
    up = {"mercado-worker": 1, "mercado-sink": 1, "mercado-produce": 0, "mercado-replay": 0, "mercado-feed": 0}
    assert settle(lambda: prom.by(runnable_promql(panel_query("pipeline", "Targets up")), "job"), up, 10) == up
    assert prom.by(runnable_promql(panel_query("pipeline", "Sink state", "A")), "instance") == {
        f"127.0.0.1:{live.ports['sink']}": 0
    }
    # while the worker was busy, the rate panel showed it
    rates = prom.by(
        runnable_promql(panel_query("pipeline", "Events in / s")), "processor", "topic", at=live.processed_at
    )
    assert rates[("marketdata", live.topic(INPUT))] > 100


def test_every_pipeline_expression_evaluates(live: LiveRun) -> None:
    queries = prometheus_queries("pipeline")
    results = {str(q): live.prometheus.query(runnable_promql(q.text)) for q in queries}
    assert len(results) == 36
    # no late ticks, no sink retries and no key conflicts (every row is new) and no live feed in this run: the
    # only empty results
    feeds = sorted(name for name in results if name.startswith("pipeline / Feed "))
    assert len(feeds) == 7
    assert sorted(name for name, result in results.items() if not result) == sorted([
        "pipeline / Late ticks / A",
        "pipeline / Sink retries and key conflicts / A",
        "pipeline / Sink retries and key conflicts / B",
        *feeds,
    ])


def test_consumer_lag_panel_shows_both_groups_caught_up(live: LiveRun) -> None:
    """The worker's lag is 0; the sink's at most 1 per partition (see the fixture)."""
    prom = live.prometheus
    lag = prom.by(runnable_promql(panel_query("pipeline", "Consumer lag")), "group", "topic")
    prefix = live.settings.kafka.topic_prefix
    assert lag[(f"{prefix}mercado-marketdata", live.topic(INPUT))] == 0
    assert {topic for group, topic in lag if group == f"{prefix}mercado-sink"} >= {
        live.topic(t) for t, events in live.outputs.items() if events
    }
    partitions = prom.by("count by (group, topic) (mercado_consumer_lag_messages)", "group", "topic")
    assert set(partitions) == set(lag)
    assert [key for key, value in lag.items() if value > partitions[key]] == []


# --------------------------------------------------------------------------- alert rules
def test_every_alert_expression_evaluates_and_only_the_dead_letters_fire(live: LiveRun) -> None:
    prom = live.prometheus
    rules = alert_rules()
    for name, rule in recording_rules().items():
        assert len(prom.query(rule["expr"])) == 1, name
    dead = prom.query(rules["MercadoDeadLetters"]["expr"])
    # both kinds, also the one seen once (its series was born at 1: the young-series branch)
    assert sorted((s["metric"]["job"], s["metric"]["topic"], s["metric"]["reason"]) for s in dead) == sorted(
        ("mercado-worker", live.topic(INPUT), reason) for reason in live.dead_letter_reasons
    )
    # the others return nothing; read until they settle, as a scrape that outlasts its 1 s timeout on a loaded
    # machine makes MercadoProcessDown's expression (up == 0, firing only after 1 m of it) true until the next
    quiet = {name: [] for name in rules if name != "MercadoDeadLetters"}
    assert settle(lambda: {name: prom.query(rules[name]["expr"]) for name in quiet}, quiet, 10) == quiet

    groups = prom.get("/api/v1/rules")["groups"]
    loaded = [rule for group in groups for rule in group["rules"]]
    assert sorted(rule["name"] for rule in loaded) == sorted([*rules, *recording_rules()])
    assert [(rule["name"], rule["lastError"]) for rule in loaded if rule["health"] != "ok"] == []
    expected = {("MercadoDeadLetters", "firing", reason) for reason in live.dead_letter_reasons}

    def active() -> set[tuple[str, str, str | None]]:
        alerts = prom.get("/api/v1/alerts")["alerts"]
        return {(a["labels"]["alertname"], a["state"], a["labels"].get("reason")) for a in alerts}

    assert settle(active, expected, 10) == expected
    assert prom.scalar(runnable_promql(panel_query("pipeline", "Firing alerts"))) == len(live.dead_letter_reasons)


def _session_open(at: dt.datetime) -> bool:
    local = at.astimezone(BOGOTA)
    return local.weekday() < 5 and dt.time(8, 0) <= local.time() < dt.time(12, 55)


def test_session_rule_follows_the_bogota_clock(live: LiveRun) -> None:
    """mercado:usdcop_session_open evaluated by Prometheus at instants around the session's edges
    agrees with the America/Bogota wall clock (weekends, open, close)."""
    expr = recording_rules()["mercado:usdcop_session_open"]["expr"]
    friday = dt.datetime.combine(DAY, dt.time(), BOGOTA)
    instants = [
        friday + dt.timedelta(hours=7, minutes=59),
        friday + dt.timedelta(hours=8),
        friday + dt.timedelta(hours=12, minutes=54, seconds=59),
        friday + dt.timedelta(hours=12, minutes=55),
        friday + dt.timedelta(days=1, hours=10),  # Saturday
        friday + dt.timedelta(days=2, hours=10),  # Sunday
        friday + dt.timedelta(days=3, hours=8, minutes=30),  # Monday
        friday + dt.timedelta(days=3, hours=23, minutes=30),  # Monday night: Tuesday in UTC
        dt.datetime.now(dt.UTC).replace(microsecond=0),
    ]
    got = [live.prometheus.query(expr, at.timestamp())[0]["value"][1] for at in instants]
    assert got == ["1" if _session_open(at) else "0" for at in instants]
    assert got[:8] == ["0", "1", "1", "0", "0", "0", "1", "0"]


# --------------------------------------------------------------------------- the Market dashboard
def test_market_dashboard_sql_on_the_rows_the_sink_wrote(live: LiveRun) -> None:
    venue, symbol = "setfx", "USD/COP"
    variables = {"venue": venue, "symbol": symbol, "interval_s": "60"}
    start, end = f"{DAY - dt.timedelta(days=1)}T00:00:00Z", f"{DAY + dt.timedelta(days=2)}T00:00:00Z"
    queries = sql_queries("market")
    rows = dict(zip(
        (q.panel for q in queries),
        fetch_all(live.settings, [runnable_sql(q.text, start, end, variables) for q in queries]),
        strict=True,
    ))  # fmt: skip
    out = live.outputs

    def of_instrument(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in records if (r["venue"], r["symbol"]) == (venue, symbol) and r["interval_s"] == 60]

    assert {(r["venue"], r["symbol"]) for r in rows["Latest prices"]} == live.instruments
    assert len(rows["Latest prices"]) == len(live.instruments) == 7
    assert [r["venue"] for r in rows["variable venue"]] == sorted({v for v, _ in live.instruments})
    assert [r["symbol"] for r in rows["variable symbol"]] == [symbol]
    assert [r["interval_s"] for r in rows["variable interval_s"]] == [60, 300]

    bars = of_instrument(out["md.bars.v1"])
    candles = rows["Bars — $venue $symbol (${interval_s}s)"]
    assert len(candles) == len({b["start"] for b in bars}) > 200
    latest = max(bars, key=lambda b: (b["start"], b["revision"]))
    assert (candles[-1]["close"], candles[-1]["high"], candles[-1]["low"]) == (
        latest["close"], latest["high"], latest["low"]
    )  # fmt: skip
    usdcop = next(r for r in rows["Latest prices"] if (r["venue"], r["symbol"]) == (venue, symbol))
    assert usdcop["price"] == latest["close"]
    assert len(rows["RSI and MACD — $venue $symbol"]) == len(of_instrument(out["md.indicators.v1"]))
    assert len(rows["Close and Bollinger bands — $venue $symbol"]) == len(of_instrument(out["md.indicators.v1"]))

    assert len(rows["Gaps"]) == len(out["md.gaps.v1"]) > 0
    assert sum(r["missing_bars"] for r in rows["Missing bars per hour"]) == sum(
        g["missing_bars"] for g in out["md.gaps.v1"]
    )
    assert len(rows["Alerts"]) == min(500, len(out["md.alerts.v1"]))
    assert {r["level"]: r["alerts"] for r in rows["Alerts by level"]} == dict(
        Counter(a["level"] for a in out["md.alerts.v1"])
    )
    assert len(rows["Data quality by hour"]) == min(500, len(out["md.quality.v1"]))
    assert len(rows["Coverage per hour"]) == len(rows["Feed latency p95 per hour"]) == len(out["md.quality.v1"])
    assert len(rows["Late ticks"]) == len(out["md.late-ticks.v1"]) == 0
    assert len(rows["Daily summary"]) == len(live.instruments) * 1
    status = {r["table_name"]: r["row_count"] for r in rows["Sink tables"]
              if not r["table_name"].startswith(("risk_", "trading_", "retail_"))}  # other pipelines: empty here
    assert status == {
        "md_bars": len({(b["venue"], b["symbol"], b["interval_s"], b["start"]) for b in out["md.bars.v1"]}),
        "md_gaps": len(out["md.gaps.v1"]),
        "md_indicators": len(out["md.indicators.v1"]),
        "md_data_quality": len(out["md.quality.v1"]),
        "md_late_ticks": 0,
        "alerts": len(out["md.alerts.v1"]),
        "mercado_dead_letters": 0,
    }


# --------------------------------------------------------------------------- last: stopping
def test_process_down_expression_sees_the_stopped_processes(live: LiveRun) -> None:
    """Runs last (it stops the worker and the sink): both exit cleanly on SIGTERM, and the
    MercadoProcessDown expression then returns both targets."""
    assert live.processes.stop("sink") == 0, live.processes.log("sink")
    assert live.processes.stop("worker") == 0, live.processes.log("worker")
    expr = alert_rules()["MercadoProcessDown"]["expr"]
    wait_until(
        lambda: set(live.prometheus.by(expr, "job")) == {"mercado-worker", "mercado-sink"},
        60, "MercadoProcessDown's expression to return the worker and the sink",
        lambda: live.processes.check_alive("prometheus"),
    )  # fmt: skip

"""The recommendations job through the real broker: a generated half year of daily inputs and one job
request per trading day, all in the log before the worker starts. The worker's recommendations and job
runs equal `mercado recommend backtest` over the same topics (the replay's code path), also after
`kill -9`s mid-run; every date is answered once and a date requested again adds nothing."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from processors import topics
from processors.recommendations.calendar import TradingCalendar
from processors.recommendations.evaluation import evaluate
from streams.commands.recommend import save_chart
from streams.config import Settings
from streams.engines.recommend import job_request, produce_job_requests, read_topic, run_backtest
from streams.generator.recommendations import HistoryConfig, write_history
from streams.ingest.producer import FileProducer
from streams.kafka.clients import committed_reader_config
from streams.kafka.compacted import read_topic_to_end
from streams.kafka.consumer import end_offsets
from streams.kafka.headers import PROCESSING_HEADER
from tests.integration.test_marketdata_live import (
    ENGINES,
    _assert_same_as_replay,
    _isolated,
    _plain,
    _read_outputs,
    _stop,
)
from tests.integration.test_risk_kafka import _committed_fraction
from tests.support.workers import start_worker

pytestmark = [pytest.mark.kafka]

ROOT = Path(__file__).resolve().parents[2]
HISTORY = HistoryConfig(seed=11, start=dt.date(2023, 1, 2), end=dt.date(2023, 6, 30), tickers=12)
FIRST, LAST = dt.date(2023, 3, 1), dt.date(2023, 6, 30)
# the kill test's: long enough that the worker is still busy at each kill (a few seconds of work)
LONG = HistoryConfig(seed=11, start=dt.date(2023, 1, 2), end=dt.date(2023, 12, 29), tickers=40)
LONG_LAST = dt.date(2023, 12, 29)
OUTPUTS = (topics.RECOMMENDATIONS, topics.JOB_RUNS)
INPUTS = (topics.DAILY_BARS, topics.FUNDAMENTALS, topics.MACRO, topics.SENTIMENT, topics.JOB_REQUESTS)


@pytest.fixture(scope="module")
def history_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reco-history")
    write_history(out, HISTORY)
    return out


@pytest.fixture(scope="module")
def long_history_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reco-long-history")
    write_history(out, LONG)
    return out


def _produce(services: Settings, history_dir: Path, name: str,
             last: dt.date = LAST) -> tuple[Settings, dict[str, list], list[dt.date]]:
    """The history and a job request per trading day in topics of their own; what the backtest gives."""
    settings, days = _produce_inputs(services, history_dir, name, last)
    return settings, _backtest(settings, last), days


def _produce_inputs(services: Settings, history_dir: Path, name: str,
                    last: dt.date = LAST) -> tuple[Settings, list[dt.date]]:
    settings = _isolated(services, name).with_(recommendations__shards=4)
    for topic_name in INPUTS[:-1]:
        FileProducer(settings, topic_name).produce_file(history_dir / f"{topic_name}.jsonl")
    days = TradingCalendar(settings.recommendations).trading_days(FIRST, last)
    produce_job_requests(settings, [job_request(settings, d, "backtest") for d in days])
    return settings, days


def _backtest(settings: Settings, last: dt.date = LAST) -> dict[str, list]:
    sink, _report, _days = run_backtest(settings, FIRST, last)
    expected: dict[str, list] = {t: [] for t in OUTPUTS}
    for e in sink.emits:
        expected[e.topic].append((e.key, e.schema, _plain(e.record)))
    return expected


def _start(settings: Settings, extra_env: dict[str, str] | None = None, engine: str = "native") -> subprocess.Popen:
    return start_worker(settings, "recommendations", engine, extra_env=extra_env)  # settings: 4 shards (_produce)


def _wait(settings: Settings, expected: dict[str, list], worker: subprocess.Popen, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    got: dict[str, list] = {}
    while time.monotonic() < deadline:
        assert worker.poll() is None, f"the worker exited with {worker.returncode}; see .mercado/worker-test.log"
        got = _read_outputs(settings, OUTPUTS)
        if all(len(got[t]) >= len(expected[t]) for t in OUTPUTS):
            return got
        time.sleep(0.5)
    return got


def _wait_until_read(settings: Settings, worker: subprocess.Popen, timeout_s: float = 120) -> None:
    """Until the worker's group has committed every input to its current end (in the transaction of any
    output they caused: exactly-once), instead of a fixed pause that a loaded machine can outlast."""
    ends = end_offsets(settings, [settings.topic(t) for t in INPUTS])
    group = Consumer(committed_reader_config(settings, f"{settings.kafka.topic_prefix}mercado-recommendations"))
    deadline = time.monotonic() + timeout_s
    try:
        while (done := _committed_fraction(settings, group, ends)) < 1:
            assert worker.poll() is None, f"the worker exited with {worker.returncode}"
            assert time.monotonic() < deadline, f"the worker committed only {done:.0%} of the inputs"
            time.sleep(0.05)
    finally:
        group.close()


def _check(live: dict[str, list], expected: dict[str, list], days: list[dt.date], tickers: int = 12) -> None:
    _assert_same_as_replay(live, expected, OUTPUTS)
    recos = [r for _, _, r in live[topics.RECOMMENDATIONS]]
    assert len({r["analysis_date"] for r in recos}) == len(days)  # every date answered
    runs = [(r["run_date"], r["shard"]) for _, _, r in live[topics.JOB_RUNS]]
    assert len(runs) == len(set(runs)) == 4 * len(days)  # one run per date and shard, none twice
    assert len(recos) > 0.8 * tickers * len(days)


@pytest.mark.parametrize("engine", ENGINES)
def test_worker_equals_backtest_and_a_rerun_adds_nothing(services: Settings, history_dir: Path,
                                                          tmp_path: Path, engine: str) -> None:
    settings, days = _produce_inputs(services, history_dir, f"reco-parity-{engine}")
    worker = _start(settings, engine=engine)  # works through the inputs while this process runs the backtest
    try:
        expected = _backtest(settings)
        live = _wait(settings, expected, worker)
        _check(live, expected, days)
        # every JobRun carries its shard's processing time in a header (the payload's duration_ms is null,
        # equal to the backtest's); the sink writes it to job_run_shards.duration_ms
        stamped = read_topic_to_end(settings, [settings.topic(topics.JOB_RUNS)])
        took = [int(dict(m.headers() or [])[PROCESSING_HEADER]) for m in stamped]
        assert len(took) == len(live[topics.JOB_RUNS]) and all(us > 0 for us in took)
        assert all(r["duration_ms"] is None for _, _, r in live[topics.JOB_RUNS])
        # the same date requested again (a manual re-run): the same event id, nothing new
        produce_job_requests(settings, [job_request(settings, days[-1], "backtest")])
        _wait_until_read(settings, worker)  # anything it produced is committed with its offset
        again = _read_outputs(settings, OUTPUTS)
        assert {t: len(v) for t, v in again.items()} == {t: len(v) for t, v in live.items()}
        _assert_same_as_replay(again, expected, OUTPUTS)
    finally:
        _stop(worker)
    # mercado recommend evaluate's figures over the same topics
    recos = [r for _, _, r in expected[topics.RECOMMENDATIONS]]
    result = evaluate(recos, read_topic(settings, topics.DAILY_BARS), config=settings.recommendations)
    assert sum(s.count for s in result.by_label[1].values()) == len(recos)
    assert len(result.ic_by_day[5]) > 0.8 * len(days) and -1 <= result.mean_ic[5] <= 1
    assert len(result.basket_returns["BUY"]) == len(days)
    save_chart(result, tmp_path / "eval.png", "test")
    assert (tmp_path / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_kill_9_mid_run_answers_every_date_once(services: Settings, long_history_dir: Path) -> None:
    """The worker (committing every 50 ms) is SIGKILLed when it has committed a quarter, half and three
    quarters of the inputs, and restarted; at least two of the kills must land mid-run (a restarted
    worker can finish before the next threshold: that kill is skipped)."""
    settings, expected, days = _produce(services, long_history_dir, "reco-kill9", LONG_LAST)
    ends = end_offsets(settings, [settings.topic(t) for t in INPUTS])
    group = Consumer(committed_reader_config(settings, f"{settings.kafka.topic_prefix}mercado-recommendations"))
    env = {"MERCADO_WORKER__COMMIT_INTERVAL_S": "0.05"}
    worker = _start(settings, env)
    kills = []
    try:
        for threshold in (0.25, 0.5, 0.75):
            deadline = time.monotonic() + 180
            while (done := _committed_fraction(settings, group, ends)) < threshold:
                assert worker.poll() is None, f"the worker exited with {worker.returncode}"
                assert time.monotonic() < deadline, f"the worker committed only {done:.0%} of the inputs"
                time.sleep(0.01)
            if done >= 1:
                break
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
            kills.append(done)
            worker = _start(settings, env)
        live = _wait(settings, expected, worker)
    finally:
        _stop(worker)
        group.close()
    assert len(kills) >= 2, f"kills mid-run at {kills}: the worker finished too fast"
    _check(live, expected, days, LONG.tickers)

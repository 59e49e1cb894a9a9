"""The demo's pipeline part: the live worker over the produced day, and what it found per symbol."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from rich.table import Table

from infra.processes import stop_group
from processors import topics
from streams.config import PROJECT_ROOT, Settings
from streams.kafka.clients import committed_reader_config
from streams.kafka.consumer import EventConsumer, data_end_offsets

ROOT = PROJECT_ROOT


def start_worker(settings: Settings, pipeline: str, log: Path, extra_env: dict[str, str] | None = None
                 ) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MERCADO_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix, **(extra_env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "streams.commands.cli", "worker", "--pipeline", pipeline],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"), start_new_session=True,
    )


def stop_process(proc: subprocess.Popen, timeout_s: float = 30) -> None:
    stop_group(proc, timeout_s)


def wait_until_consumed(
    settings: Settings, group: str, topics: list[str], proc: subprocess.Popen, timeout_s: float, on_progress=None
) -> bool:
    """True once the group's committed offsets reach every partition's last message (the worker commits
    its outputs in the same transaction, so they are all visible then)."""
    ends = data_end_offsets(settings, topics)
    total = sum(ends.values())
    c = Consumer(committed_reader_config(settings, group))
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None:
            committed = c.committed([TopicPartition(t, p) for t, p in ends], timeout=10)
            done = sum(max(tp.offset, 0) for tp in committed)
            if on_progress:
                on_progress(done, total)
            if done >= total:
                return True
            time.sleep(1)
        return False
    finally:
        c.close()


# The retail and risk workers serve their metrics next to the market-data worker's port.
EXTRA_WORKERS: dict[str, int] = {"retail": 4, "risk": 5, "scanner": 6}  # pipeline -> offset from metrics_port_worker
RECOMMENDATIONS_PORT_OFFSET = 7


def _extra_env(settings: Settings, pipeline: str) -> dict[str, str]:
    env = {"MERCADO_METRICS__PORT_WORKER": str(settings.metrics.port_worker + EXTRA_WORKERS[pipeline])}
    if pipeline == "risk":  # the account, venues and lots of the generated order flow
        from streams.generator.trading.risk_setup import day_config

        env["MERCADO_RISK"] = day_config().model_dump_json()
    return env


def wait_for_pipeline(settings: Settings, pipeline: str, proc: subprocess.Popen, timeout_s: float) -> bool:
    """True once the worker's group has consumed every input of every stage, intermediate topics
    included (their ends move while earlier stages run, so the check must hold twice in a row)."""
    from streams.runtime.pipelines import build_stages

    topics = sorted({settings.topic(t) for stage in build_stages(pipeline, settings) for t in stage.inputs})
    group = f"{settings.kafka.topic_prefix}mercado-{pipeline}"
    deadline = time.monotonic() + timeout_s
    settled = 0
    while time.monotonic() < deadline and proc.poll() is None:
        remaining = max(1.0, deadline - time.monotonic())
        if not wait_until_consumed(settings, group, topics, proc, remaining):
            return False
        settled += 1
        if settled == 2:
            return True
        time.sleep(2)
    return False


def run_marketdata(settings: Settings, console: Console) -> int:
    log = settings.local.state_dir / "logs" / "demo-worker.log"
    group = f"{settings.kafka.topic_prefix}mercado-marketdata"
    worker = start_worker(settings, "marketdata", log)
    others = {name: start_worker(settings, name, settings.local.state_dir / "logs" / f"demo-worker-{name}.log",
                                 _extra_env(settings, name)) for name in EXTRA_WORKERS}
    try:
        with console.status("mercado worker: bars, gaps, indicators, alerts, data quality…") as st:
            done = wait_until_consumed(
                settings, group, [settings.topic(topics.TICKS)], worker, 600,
                lambda d, t: st.update(f"mercado worker (metrics on http://{settings.metrics.host}:"
                                       f"{settings.metrics.port_worker}/metrics): {d:,}/{t:,} events"),
            )
        if not done:
            console.print(f"[bold red]the worker did not finish the day[/] (log: {log})")
            return 1
        outputs = (topics.BARS, topics.GAPS, topics.MD_ALERTS, topics.QUALITY, topics.LATE_TICKS)
        physical = {settings.topic(t): t for t in outputs}
        per_key: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
        with EventConsumer(settings, list(physical)) as consumer:
            for ev in consumer.iterate(idle_timeout=10):
                per_key[ev.key or "?"][physical[ev.topic]].append(ev.record)
        stop_process(worker)
        console.print(_market_table(per_key))
        for name, proc in others.items():
            port = settings.metrics.port_worker + EXTRA_WORKERS[name]
            with console.status(f"mercado worker --pipeline {name} (metrics on http://{settings.metrics.host}:"
                                f"{port}/metrics)…"):
                if not wait_for_pipeline(settings, name, proc, 900):
                    console.print(f"[bold red]the {name} worker did not finish the day[/] "
                                  f"(log: {settings.local.state_dir / 'logs' / f'demo-worker-{name}.log'})")
                    return 1
            console.print(f"mercado worker --pipeline {name}: the day is processed", highlight=False)
            if name == "scanner":
                scanner_report(settings, console)
    finally:
        for proc in (worker, *others.values()):
            stop_process(proc)
    return 0


def _market_table(per_key: dict[str, dict[str, list[dict]]]) -> Table:
    table = Table("symbol", "1m bars", "5m bars", "last close", "gaps (bars)", "alerts (worst)",
                  "coverage", "ticks", "late", title="What the market-data pipeline found")
    levels = ["INFO", "WARNING", "ERROR", "CRITICAL"]
    for key in sorted(per_key):
        t = per_key[key]
        bars = t[topics.BARS]
        one = [b for b in bars if b["interval_s"] == 60]
        five = [b for b in bars if b["interval_s"] == 300]
        last = max(one, key=lambda b: b["start"])["close"] if one else None
        gaps = t[topics.GAPS]
        alerts = t[topics.MD_ALERTS]
        worst = max((a["level"] for a in alerts), key=levels.index, default="-")
        quality = t[topics.QUALITY]
        expected = sum(q["expected_bars"] for q in quality)
        present = sum(q["present_bars"] for q in quality)
        table.add_row(
            key, f"{len(one):,}", f"{len(five):,}", f"{last:,.2f}" if last is not None else "-",
            f"{len(gaps)} ({sum(g['missing_bars'] for g in gaps)})", f"{len(alerts)} ({worst})",
            f"{100 * present / expected:.1f}%" if expected else "-",
            f"{sum(q['tick_count'] for q in quality):,}", f"{len(t[topics.LATE_TICKS])}",
        )
    return table


def scanner_report(settings: Settings, console: Console, top: int = 5) -> None:
    """The scanner's board at the close of each session (its persisted close entries) and the day's alerts."""
    physical = {settings.topic(t): t for t in (topics.SCAN_TOP, topics.SCAN_ALERTS)}
    closes: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    alerts: list[dict] = []
    with EventConsumer(settings, list(physical)) as consumer:
        for ev in consumer.iterate(idle_timeout=10):
            if physical[ev.topic] == topics.SCAN_ALERTS:
                alerts.append(ev.record)
            elif ev.record["trigger"] == "close":
                closes[(ev.record["trading_day"], ev.record["session"], ev.record["category"])].append(ev.record)
    order = {"PRE_MARKET": 0, "REGULAR": 1, "POST_MARKET": 2}
    for day, session in sorted({(d, s) for d, s, _ in closes}, key=lambda k: (k[0], order.get(k[1], 3))):
        table = Table("category", *(f"#{i}" for i in range(1, top + 1)),
                      title=f"Scanner board at the close of {session} {day} (ticker, change %)", title_justify="left")
        for (d, s, category), entries in sorted(closes.items()):
            if (d, s) == (day, session):
                lines = sorted(entries, key=lambda r: r["rank"])[:top]
                table.add_row(category, *(f"{r['ticker']} {r['change_pct']:+.1f}" for r in lines))
        console.print(table)
    kinds = defaultdict(int)
    for a in alerts:
        kinds[a["kind"]] += 1
    console.print(f"scanner alerts of the day: {len(alerts):,} ("
                  + ", ".join(f"{k} {n:,}" for k, n in sorted(kinds.items())) + ")", highlight=False)
    table = Table("time (UTC)", "session", "kind", "message", "suppressed", title="Scanner alerts (first of each kind)",
                  title_justify="left")
    seen: set[str] = set()
    for a in sorted(alerts, key=lambda r: r["event_time"]):
        if a["kind"] not in seen:
            seen.add(a["kind"])
            when = time.strftime("%H:%M:%S", time.gmtime(a["event_time"] // 1_000_000))
            table.add_row(when, a["session"], a["kind"], a["message"], str(a["suppressed_count"]))
    console.print(table)


def run_recommendations(settings: Settings, console: Console, day: dt.date, seed: int) -> int:
    """The daily recommendations job for the demo day: a generated year of daily inputs (40 BYMA shares and
    CEDEARs), the day's JobRequested, the worker, and the day's top BUY and SELL."""
    from processors.recommendations.calendar import TradingCalendar
    from streams.commands.recommend import print_top
    from streams.engines.recommend import job_request, produce_job_requests, read_topic
    from streams.generator.recommendations import HistoryConfig, write_history
    from streams.ingest.producer import FileProducer

    calendar = TradingCalendar(settings.recommendations)
    run_day = day
    while not calendar.is_trading_day(run_day):
        run_day -= dt.timedelta(days=1)
    data_dir = settings.local.state_dir / "demo" / f"reco-{run_day.isoformat()}-seed{seed}"
    history = HistoryConfig(seed=seed, start=run_day - dt.timedelta(days=400), end=run_day - dt.timedelta(days=1),
                            tickers=40)
    with console.status("recommendations: generating and producing a year of daily inputs…"):
        for topic_name in write_history(data_dir, history):
            FileProducer(settings, topic_name).produce_file(data_dir / f"{topic_name}.jsonl")
        produce_job_requests(settings, [job_request(settings, run_day, "manual")])
    log = settings.local.state_dir / "logs" / "demo-worker-recommendations.log"
    port = settings.metrics.port_worker + RECOMMENDATIONS_PORT_OFFSET
    worker = start_worker(settings, "recommendations", log, {"MERCADO_METRICS__PORT_WORKER": str(port)})
    try:
        with console.status(f"mercado worker --pipeline recommendations (metrics on http://{settings.metrics.host}:"
                            f"{port}/metrics)…"):
            if not wait_for_pipeline(settings, "recommendations", worker, 600):
                console.print(f"[bold red]the recommendations worker did not finish[/] (log: {log})")
                return 1
    finally:
        stop_process(worker)
    recos = [r for r in read_topic(settings, topics.RECOMMENDATIONS) if r["analysis_date"] == run_day.isoformat()]
    runs = [r for r in read_topic(settings, topics.JOB_RUNS) if r["run_date"] == run_day.isoformat()]
    console.print(f"daily recommendations for {run_day} (cutoff 06:00 Buenos Aires): {len(recos)} tickers, "
                  f"{sum(r['errors_count'] for r in runs)} ticker errors, {len(runs)} shard runs", highlight=False)
    print_top(recos, run_day.isoformat())
    return 0

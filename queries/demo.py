"""The demo's sink step: ``mercado sink`` over the run's derived topics, then rows from the views.

Registered as a ``mercado.demo`` entry point, so the demo (in streams/) runs it without importing
sinks by name.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sinks.database import connect
from sinks.runner import default_topics
from sinks.settings import SinkSettings
from sinks.tables import load_mappings
from streams.config import Settings
from streams.kafka.consumer import data_end_offsets

ROOT = Path(__file__).resolve().parent.parent


async def _stored_offsets(settings: Settings, group: str) -> dict[tuple[str, int], int]:
    conn = await connect(settings, "mercado-demo")
    try:
        rows = await conn.fetch(
            "SELECT topic, partition, next_offset FROM mercado_sink_offsets WHERE consumer_group = $1", group
        )
        return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
    except Exception:  # the table appears with the first migration
        return {}
    finally:
        await conn.close()


async def _query(settings: Settings, sql: str) -> list[Any]:
    conn = await connect(settings, "mercado-demo")
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


def _table(title: str, rows: list[Any], limit: int = 10) -> Table:
    table = Table(*(rows[0].keys() if rows else ["(no rows)"]), title=title)
    for r in rows[:limit]:
        table.add_row(*(f"{v:,.4f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v) for v in r.values()))
    return table


def run_sink_step(settings: Settings, console: Console) -> int:
    # the sink prefixes its group like its topics
    group = settings.kafka.topic_prefix + SinkSettings.extend(settings).sink.group
    topics = [settings.topic(t) for t in default_topics(load_mappings())]
    ends = {tp: n for tp, n in data_end_offsets(settings, topics).items() if n > 0}  # worker topics end in a marker
    log = settings.local.state_dir / "logs" / "demo-sink.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MERCADO_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.commands.cli", "sink", "--migrate"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"), start_new_session=True,
    )
    try:
        with console.status("mercado sink: writing the derived events into PostgreSQL…") as st:
            deadline = time.monotonic() + 300
            while True:
                stored = asyncio.run(_stored_offsets(settings, group))
                done = sum(min(stored.get(tp, 0), n) for tp, n in ends.items())
                st.update(f"mercado sink (metrics on http://{settings.metrics.host}:{settings.metrics.port_sink}"
                          f"/metrics): {done:,}/{sum(ends.values()):,} events")
                if done >= sum(ends.values()):
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    console.print(f"[bold red]the sink did not finish[/] (log: {log})")
                    return 1
                time.sleep(1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)
    console.print(_table("latest_market_data", asyncio.run(_query(
        settings, "SELECT venue, symbol, price, as_of FROM latest_market_data ORDER BY venue, symbol"))))
    console.print(_table("intraday_summary", asyncio.run(_query(
        settings, "SELECT venue, symbol, day, open, high, low, close, change_pct, bar_count FROM intraday_summary "
        "ORDER BY venue, symbol, day LIMIT 10"))))
    console.print(_table("data_quality_monitor (worst hours)", asyncio.run(_query(
        settings, "SELECT venue, symbol, hour_start, coverage_pct, missing_bars, gap_count, tick_count, late_ticks "
        "FROM data_quality_monitor ORDER BY coverage_pct NULLS LAST LIMIT 5"))))
    console.print(_table("pipeline_status", asyncio.run(_query(settings, "SELECT * FROM pipeline_status"))))
    from queries.retail import OpportunitiesUnavailable, print_top_opportunities
    from queries.risk import RiskStatusError, print_risk_summary

    try:
        print_top_opportunities(settings, console, limit=10)
        print_risk_summary(settings, console)
    except (OpportunitiesUnavailable, RiskStatusError) as exc:
        console.print(f"[bold red]{exc}[/]")
        return 1
    console.print(
        f"Metrics: worker http://{settings.metrics.host}:{settings.metrics.port_worker}/metrics, sink "
        f"http://{settings.metrics.host}:{settings.metrics.port_sink}/metrics (while they run); Prometheus "
        "config and alert rules in infra/prometheus/, Grafana dashboards in infra/grafana/.",
        highlight=False,
    )
    return 0

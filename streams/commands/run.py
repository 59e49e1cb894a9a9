"""`mercado worker | replay`: a pipeline live (exactly-once) or over a recorded range."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.table import Table

from streams.commands.app import (
    app,
    console,
    err_console,
    fail,
    parse_time,
    progress_bar,
)
from streams.config import get_settings


# --------------------------------------------------------------------------- live worker
@app.command()
def worker(
    pipeline: str = typer.Option("marketdata", "--pipeline", help="Which processors to run."),
    engine: str | None = typer.Option(
        None,
        "--engine",
        help="native (one confluent-kafka loop) or faust (a faust-streaming app); default: MERCADO_WORKER__ENGINE, "
        "else native. Both keep the same state and produce the same events.",
    ),
    loglevel: str = typer.Option("warn", "--loglevel", help="faust engine only: crit, error, warn, info or debug"),
) -> None:
    """Run a pipeline live (exactly-once; state in a changelog topic) until stopped."""
    from streams.runtime.pipelines import PIPELINES, build_stages

    if pipeline not in PIPELINES:
        raise fail(f"unknown pipeline {pipeline!r}; known: {', '.join(sorted(PIPELINES))}")
    settings = get_settings()
    try:  # configuration errors (e.g. a venue without a calendar) at start-up, by name, before any input
        build_stages(pipeline, settings)
    except ValueError as exc:
        raise fail(str(exc)) from None
    engine = engine or settings.worker.engine
    if engine == "faust":
        _require_faust()
        from streams.engines.faust_engine import run_worker

        run_worker(settings, pipeline, loglevel)
    elif engine == "native":
        from streams.engines.native import WorkerFailed, run_native_worker
        from streams.observability.logs import configure_logging

        configure_logging()
        try:
            run_native_worker(settings, pipeline)
        except WorkerFailed as exc:
            fail(str(exc))
            # Straight out: a client may still be blocked inside librdkafka, and destroying it at interpreter
            # exit could block too. Nothing is lost: the next worker of this id aborts the open transaction.
            sys.stderr.flush()
            os._exit(1)
    else:
        raise fail(f"unknown engine {engine!r}; known: native, faust")


FAUST_EXTRA_MISSING = "the faust engine needs the faust extra (missing: {missing}): pip install -e '.[faust]'"


def _require_faust() -> None:
    """faust-streaming and aiokafka are the optional extra [faust]; without them, one line saying so."""
    import importlib.util

    missing = [name for name in ("faust", "aiokafka") if importlib.util.find_spec(name) is None]
    if missing:
        from rich.markup import escape

        raise fail(escape(FAUST_EXTRA_MISSING.format(missing=", ".join(missing))))


# --------------------------------------------------------------------------- replay / backtest
@app.command()
def replay(
    inputs: list[str] | None = typer.Option(None, "--input", help="Input topic(s); default: the pipeline's."),
    start: str | None = typer.Option(None, "--from", help="Event time to start at (ISO-8601; default: oldest)."),
    end: str | None = typer.Option(None, "--to", help="Event time to stop before (default: the end)."),
    pipeline: str = typer.Option("marketdata", "--pipeline", help="Which processors to run."),
    out: Path | None = typer.Option(None, "--out", help="Write outputs as Parquet files into this directory."),
    prefix: str | None = typer.Option(None, "--to-topic-prefix", help="Produce outputs to <prefix><topic>."),
) -> None:
    """Backtest: run a pipeline's processors over a time range of its input topics."""
    from streams.engines.replay import KafkaRangeReader, ParquetOutput, TopicOutput, run_replay
    from streams.kafka.consumer import default_serde
    from streams.runtime.pipelines import UnknownPipeline, build_stages

    if (out is None) == (prefix is None):
        raise fail("give exactly one of --out DIR or --to-topic-prefix PREFIX")
    settings = get_settings()
    try:
        stages = build_stages(pipeline, settings, inputs)
    except (UnknownPipeline, ValueError) as exc:
        raise fail(str(exc)) from None
    outputs = tuple(dict.fromkeys(t for stage in stages for t in stage.outputs))
    start_ms, end_ms = parse_time(start, "--from"), parse_time(end, "--to")
    from streams.observability.metrics import try_serve_metrics

    try_serve_metrics("replay", settings)
    serde = default_serde(settings)
    inputs = inputs or list(stages[0].inputs)
    try:
        reader = KafkaRangeReader(settings, [settings.topic(t) for t in inputs], start_ms, end_ms, serde)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    sink = ParquetOutput(out, serde) if out is not None else TopicOutput(settings, prefix or "", outputs)
    with progress_bar() as bar:
        task = bar.add_task(f"replay {pipeline}", total=reader.total)
        report = run_replay(
            iter(reader),
            stages,
            serde,
            sink,
            total=reader.total,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    reader.close()
    table = Table("output", "events", title=f"replay {pipeline}: {report.inputs:,} inputs, {report.rate:,.0f}/s")
    for name, n in sorted(report.outputs.items()):
        table.add_row(str(out / f"{name}.parquet") if out else name, f"{n:,}")
    console.print(table)
    if report.rejected:
        reasons = ", ".join(f"{reason}: {n:,}" for reason, n in sorted(report.reasons.items()))
        err_console.print(
            f"[yellow]{report.rejected:,} input message(s) were refused and skipped ({reasons}); "
            "the live worker writes them to the dead-letter topic[/]"
        )

"""`mercado produce | consume | dead-letters | backfill`: events into and out of the topics."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import typer
from rich.table import Table

from processors import topics
from streams.commands.app import (
    MAX_AHEAD_HELP,
    app,
    console,
    door_settings,
    err_console,
    fail,
    iso,
    parse_time,
    progress_bar,
)
from streams.config import get_settings


@app.command()
def produce(
    topic: str = typer.Argument(..., help="Catalog topic, e.g. md.ticks.v1"),
    file: Path = typer.Argument(..., help="CSV, JSON Lines or Parquet file", exists=True, dir_okay=False),
    skip_bad: Path | None = typer.Option(
        None, "--skip-bad", help="Write bad rows to this file and go on (exit status is still 1)."
    ),
    fmt: str | None = typer.Option(None, "--format", help="csv, jsonl or parquet (default: from extension)"),
    max_ahead: float | None = typer.Option(None, "--max-ahead", metavar="SECONDS", min=0, help=MAX_AHEAD_HELP),
) -> None:
    """Validate every row of FILE against TOPIC's schema and the admission rules (README: What Mercado
    refuses), encode it and produce it (idempotent producer)."""
    from streams.ingest.files import FileFormatError
    from streams.ingest.producer import BadRowError, DeliveryError, FileProducer
    from streams.kafka.catalog import UnknownTopic
    from streams.observability.metrics import try_serve_metrics

    try_serve_metrics("produce", get_settings())
    try:
        producer = FileProducer(door_settings(max_ahead), topic)
    except (UnknownTopic, ValueError) as exc:
        raise fail(str(exc)) from None
    with progress_bar() as bar:
        task = bar.add_task(f"{topic}", total=None)
        try:
            report = producer.produce_file(
                file,
                fmt=fmt,
                rejects=skip_bad,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        except BadRowError as exc:
            raise fail(
                f"{exc}\n{exc.produced} row(s) before it were produced; fix the row and produce the file again "
                "(event ids are deterministic, so repeated rows are duplicates by event_id), "
                "or pass --skip-bad REJECTS_FILE."
            ) from None
        except (FileFormatError, DeliveryError) as exc:
            raise fail(str(exc)) from None
    console.print(
        f"{report.produced:,} events produced to {topic} in {report.elapsed_s:.2f} s "
        f"({report.rate:,.0f} events/s)"
        + (f"; {report.rejected:,} rejected into {report.rejects_path}" if report.rejected else ""),
        highlight=False,
    )
    if report.rejected:
        raise typer.Exit(1)


@app.command()
def consume(
    topic: str = typer.Argument(..., help="Topic to read"),
    from_beginning: bool = typer.Option(False, "--from-beginning", help="Start at the oldest message."),
    max_events: int | None = typer.Option(None, "--max", help="Stop after N events."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line (for scripts)."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep waiting for new events."),
) -> None:
    """Print decoded events (like kcat for Avro). Without --follow, stops at the end of the topic."""
    from streams.kafka.consumer import EventConsumer

    try:
        settings = get_settings()
        consumer = EventConsumer(settings, [settings.topic(topic)], from_beginning=from_beginning)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    out = sys.stdout.buffer
    n = 0
    with consumer:
        for ev in consumer.iterate(max_events=max_events, follow=follow or not from_beginning):
            n += 1
            if as_json:
                doc = {
                    "topic": ev.topic,
                    "partition": ev.partition,
                    "offset": ev.offset,
                    "key": ev.key,
                    "schema": ev.schema.name,
                    "value": ev.record,
                }
                out.write(orjson.dumps(doc, default=str) + b"\n")
            else:
                console.print(
                    f"[dim]{ev.partition}:{ev.offset}[/] [cyan]{ev.key}[/] [bold]{ev.schema.name}[/] "
                    + orjson.dumps(ev.record, default=str).decode(),
                    highlight=False,
                    soft_wrap=True,
                )
        for dl in consumer.rejected:
            err_console.print(f"[yellow]undecodable[/] {dl.topic}[{dl.partition}]@{dl.offset}: {dl.reason}: {dl.error}")
    out.flush()
    if not as_json:
        err_console.print(f"{n} event(s)" + (f", {len(consumer.rejected)} undecodable" if consumer.rejected else ""))


@app.command("dead-letters")
def dead_letters(
    max_events: int = typer.Option(100, "--max", help="Show at most this many (the oldest first)."),
    reason: str | None = typer.Option(None, "--reason", help="Only this reason, e.g. event-time-ahead."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """What the pipelines refused: each dead letter's reason, origin and record (mercado.deadletter.v1)."""
    from streams.codec.serde import DecodeError
    from streams.engines.replay import KafkaRangeReader
    from streams.kafka.catalog import DEAD_LETTER_TOPIC
    from streams.kafka.consumer import default_serde
    from streams.kafka.dead_letters import DLQ_PREFIX

    settings = get_settings()
    serde = default_serde(settings)
    try:
        reader = KafkaRangeReader(settings, [settings.topic(DEAD_LETTER_TOPIC)], None, None)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    shown = 0
    out = sys.stdout.buffer
    for m in reader:
        meta = {
            name[len(DLQ_PREFIX) :]: value.decode(errors="replace")
            for name, value in m.headers or ()
            if name.startswith(DLQ_PREFIX)
        }
        if reason is not None and meta.get("reason") != reason:
            continue
        try:
            schema, record = serde.decode(m.value)
            value: object = {"schema": schema.name, "record": record}
        except DecodeError as exc:
            value = {"undecodable": exc.reason, "bytes": len(m.value or b"")}
        if as_json:
            out.write(orjson.dumps({**meta, "value": value}, default=str) + b"\n")
        else:
            console.print(
                f"[bold]{meta.get('reason', '?')}[/] {meta.get('topic')}[{meta.get('partition')}]"
                f"@{meta.get('offset')}: {meta.get('error', '')}\n  " + orjson.dumps(value, default=str).decode(),
                highlight=False,
                soft_wrap=True,
            )
        shown += 1
        if shown >= max_events:
            break
    reader.close()
    out.flush()
    if not as_json:
        err_console.print(f"{shown} dead letter(s) shown")


@app.command()
def backfill(
    topic: str = typer.Argument(..., help=topics.TICKS),
    file: Path = typer.Argument(..., help="Replacement ticks (CSV, JSON Lines, Parquet)", exists=True, dir_okay=False),
    backfill_id: str | None = typer.Option(None, "--id", help="Default: a hash of the file (re-runs: same ids)."),
    start: str | None = typer.Option(None, "--from", help="Range start (default: each symbol's first tick)."),
    end: str | None = typer.Option(None, "--to", help="Range end, exclusive (default: after each symbol's last tick)."),
    max_ahead: float | None = typer.Option(None, "--max-ahead", metavar="SECONDS", min=0, help=MAX_AHEAD_HELP),
) -> None:
    """Produce replacement ticks for a past range; bars of the range are re-emitted as revisions."""
    from streams.ingest.backfill import run_backfill
    from streams.ingest.files import FileFormatError
    from streams.ingest.producer import BadRowError, DeliveryError

    start_ms, end_ms = parse_time(start, "--from"), parse_time(end, "--to")
    try:
        report = run_backfill(
            door_settings(max_ahead),
            topic,
            file,
            backfill_id=backfill_id,
            start_us=None if start_ms is None else start_ms * 1000,
            end_us=None if end_ms is None else end_ms * 1000,
        )
    except (BadRowError, FileFormatError, DeliveryError, ValueError) as exc:
        raise fail(str(exc)) from None
    table = Table("symbol", "ticks", "from", "to", title=f"backfill {report.backfill_id}")
    for key, span in sorted(report.spans.items()):
        table.add_row(key, f"{span.ticks:,}", iso(span.start), iso(span.end))
    console.print(table)

"""The ``mercado`` command line (typer + rich)."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from processors import topics
from streams.commands.retail_evaluate import retail_app
from streams.config import Settings, get_settings

app = typer.Typer(
    name="mercado",
    help="Mercado: event-sourced market stream processing on Apache Kafka.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
topics_app = typer.Typer(help="The topic catalog.", no_args_is_help=True)
schemas_app = typer.Typer(help="Avro contracts: compatibility and release.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(schemas_app, name="schemas")
app.add_typer(retail_app, name="retail")

console = Console()
if not console.is_terminal:  # piped or in CI: tables wide enough to read in a log
    console = Console(width=160)
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _settings() -> Settings:
    return get_settings()


MAX_AHEAD_HELP = (
    "Refuse rows whose event time is more than SECONDS ahead of the wall clock "
    "(default: MERCADO_ADMISSION__MAX_AHEAD_S, 300)."
)


def _door_settings(max_ahead: float | None) -> Settings:
    """The settings of a door (produce, backfill), with ``--max-ahead`` applied to the admission bounds."""
    settings = _settings()
    if max_ahead is None:
        return settings
    from processors.admission import AdmissionConfig

    admission = AdmissionConfig.model_validate({**settings.admission.model_dump(), "max_ahead_s": max_ahead})
    return settings.model_copy(update={"admission": admission})


# --------------------------------------------------------------------------- infrastructure
@app.command()
def up() -> None:
    """Start the local Kafka broker and PostgreSQL (or check the configured ones); print settings."""
    from infra.local import InfraError
    from infra.local import up as infra_up

    try:
        with console.status("starting Kafka (KRaft) and PostgreSQL…"):
            conn = infra_up(_settings())
    except InfraError as exc:
        raise fail(str(exc)) from None
    table = Table(title="Mercado services", show_header=False)
    for k, v in conn.items():
        table.add_row(k, str(v))
    console.print(table)
    console.print(
        "export MERCADO_KAFKA_BOOTSTRAP={kafka_bootstrap} MERCADO_DATABASE_URL={database_url}".format(**conn),
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def down() -> None:
    """Stop the local Kafka broker and PostgreSQL started by `mercado up`."""
    from infra.local import InfraError
    from infra.local import down as infra_down

    try:
        infra_down(_settings())
    except InfraError as exc:
        raise fail(str(exc)) from None
    console.print("stopped")


@app.command()
def status() -> None:
    """Show which services run."""
    from infra.local import status as infra_status

    table = Table("service", "state", "address", "pid")
    for row in infra_status(_settings()):
        table.add_row(row.service, str(row.state), row.address, str(row.pid or "-"))
    console.print(table)


# --------------------------------------------------------------------------- catalog and schemas
@topics_app.command("create")
def topics_create() -> None:
    """Create the catalog's missing topics; report differences in existing ones."""
    from streams.kafka.admin import ensure_topics

    states = ensure_topics(_settings())
    table = Table("topic", "state", "differences")
    for st in states:
        color = {"created": "green", "exists": "dim", "differs": "yellow"}[st.action]
        table.add_row(st.name, f"[{color}]{st.action}[/]", st.detail)
    console.print(table)


@topics_app.command("list")
def topics_list() -> None:
    """Print the topic catalog."""
    from streams.kafka.catalog import all_topics

    table = Table("topic", "key", "schemas", "partitions", "cleanup", "retention (days)", "what")
    for t in all_topics():
        table.add_row(
            t.name,
            ":".join(t.key_fields) or "-",
            ", ".join(t.schemas) or "raw bytes",
            str(t.partitions),
            t.cleanup_policy,
            f"{t.retention_ms / 86_400_000:g}",
            t.description,
        )
    console.print(table)


@schemas_app.command("check")
def schemas_check() -> None:
    """Fail (exit 1) when a contract changed incompatibly with its last released version."""
    from schemas import SchemaLoadError, load_directory
    from schemas.compat import check, load_registry
    from schemas.loader import SCHEMA_DIR

    try:
        current = load_directory(SCHEMA_DIR)
    except SchemaLoadError as exc:
        raise fail(str(exc)) from None
    findings = check(current, load_registry())
    table = Table("schema", "status", "detail")
    for f in findings:
        color = {"unchanged": "dim", "new": "cyan", "compatible": "green", "incompatible": "bold red"}[f.status]
        table.add_row(f.fullname, f"[{color}]{f.status}[/]", f.detail)
    console.print(table)
    bad = [f for f in findings if not f.ok]
    if bad:
        raise fail(f"{len(bad)} incompatible schema change(s): " + " / ".join(f"{b.fullname}: {b.detail}" for b in bad))
    pending = [f for f in findings if f.status in ("new", "compatible")]
    if pending:
        console.print(f"{len(pending)} schema(s) not released yet: run `mercado schemas release` to record them.")


@schemas_app.command("release")
def schemas_release() -> None:
    """Record new and compatibly changed contracts as new versions in schemas/registry.json."""
    from schemas import load_schemas
    from schemas.compat import register

    findings = register(load_schemas())
    bad = [f for f in findings if not f.ok]
    if bad:
        raise fail("nothing released; incompatible: " + " / ".join(f"{b.fullname}: {b.detail}" for b in bad))
    released = [f.fullname for f in findings if f.status in ("new", "compatible")]
    console.print(f"released {len(released)} schema version(s)" + (": " + ", ".join(released) if released else ""))


# --------------------------------------------------------------------------- produce / consume
def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not err_console.is_terminal,
    )


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

    try_serve_metrics("produce", _settings())
    try:
        producer = FileProducer(_door_settings(max_ahead), topic)
    except (UnknownTopic, ValueError) as exc:
        raise fail(str(exc)) from None
    with _progress() as bar:
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
        settings = _settings()
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

    settings = _settings()
    serde = default_serde(settings)
    try:
        reader = KafkaRangeReader(settings, [settings.topic(DEAD_LETTER_TOPIC)], None, None)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    shown = 0
    out = sys.stdout.buffer
    for m in reader:
        meta = {name[len(DLQ_PREFIX):]: value.decode(errors="replace")
                for name, value in m.headers or () if name.startswith(DLQ_PREFIX)}
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
            console.print(f"[bold]{meta.get('reason', '?')}[/] {meta.get('topic')}[{meta.get('partition')}]"
                          f"@{meta.get('offset')}: {meta.get('error', '')}\n  "
                          + orjson.dumps(value, default=str).decode(), highlight=False, soft_wrap=True)
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

    start_ms, end_ms = _parse_time(start, "--from"), _parse_time(end, "--to")
    try:
        report = run_backfill(
            _door_settings(max_ahead), topic, file, backfill_id=backfill_id,
            start_us=None if start_ms is None else start_ms * 1000, end_us=None if end_ms is None else end_ms * 1000,
        )
    except (BadRowError, FileFormatError, DeliveryError, ValueError) as exc:
        raise fail(str(exc)) from None
    table = Table("symbol", "ticks", "from", "to", title=f"backfill {report.backfill_id}")
    for key, span in sorted(report.spans.items()):
        table.add_row(key, f"{span.ticks:,}", _iso(span.start), _iso(span.end))
    console.print(table)


def _iso(micros: int) -> str:
    return dt.datetime.fromtimestamp(micros / 1e6, dt.UTC).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- live worker
@app.command()
def worker(
    pipeline: str = typer.Option("marketdata", "--pipeline", help="Which processors to run."),
    engine: str | None = typer.Option(
        None, "--engine",
        help="native (one confluent-kafka loop) or faust (a faust-streaming app); default: MERCADO_WORKER_ENGINE, "
        "else native. Both keep the same state and produce the same events.",
    ),
    loglevel: str = typer.Option("warn", "--loglevel", help="faust engine only: crit, error, warn, info or debug"),
) -> None:
    """Run a pipeline live (exactly-once; state in a changelog topic) until stopped."""
    from streams.runtime.pipelines import PIPELINES

    if pipeline not in PIPELINES:
        raise fail(f"unknown pipeline {pipeline!r}; known: {', '.join(sorted(PIPELINES))}")
    settings = _settings()
    engine = engine or settings.worker_engine
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
def _parse_time(text: str | None, option: str) -> int | None:
    """ISO-8601 (naive = UTC) or integer microseconds -> milliseconds."""
    if text is None:
        return None
    from streams.codec.coerce import RowError, timestamp_micros

    try:
        return timestamp_micros(text) // 1000
    except RowError:
        raise fail(f"{option} {text!r} is not an ISO-8601 time (e.g. 2026-11-20T13:00:00Z)") from None


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
    settings = _settings()
    try:
        stages = build_stages(pipeline, settings, inputs)
    except (UnknownPipeline, ValueError) as exc:
        raise fail(str(exc)) from None
    outputs = tuple(dict.fromkeys(t for stage in stages for t in stage.outputs))
    start_ms, end_ms = _parse_time(start, "--from"), _parse_time(end, "--to")
    from streams.observability.metrics import try_serve_metrics

    try_serve_metrics("replay", settings)
    serde = default_serde(settings)
    inputs = inputs or list(stages[0].inputs)
    try:
        reader = KafkaRangeReader(settings, [settings.topic(t) for t in inputs], start_ms, end_ms, serde)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    sink = ParquetOutput(out, serde) if out is not None else TopicOutput(settings, prefix or "", outputs)
    with _progress() as bar:
        task = bar.add_task(f"replay {pipeline}", total=reader.total)
        report = run_replay(
            iter(reader), stages, serde, sink, total=reader.total,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    reader.close()
    table = Table("output", "events", title=f"replay {pipeline}: {report.inputs:,} inputs, {report.rate:,.0f}/s")
    for name, n in sorted(report.outputs.items()):
        table.add_row(str(out / f"{name}.parquet") if out else name, f"{n:,}")
    console.print(table)
    if report.rejected:
        reasons = ", ".join(f"{reason}: {n:,}" for reason, n in sorted(report.reasons.items()))
        err_console.print(f"[yellow]{report.rejected:,} input message(s) were refused and skipped ({reasons}); "
                          "the live worker writes them to the dead-letter topic[/]")


# --------------------------------------------------------------------------- sample data and demo
@app.command()
def generate(
    out_dir: Path = typer.Argument(..., help="Directory for one file per topic"),
    seed: int = typer.Option(42, "--seed", help="Same seed, same bytes."),
    day: str = typer.Option("2026-11-20", "--day", help="YYYY-MM-DD (UTC day)"),
) -> None:
    """Write a realistic, seeded sample market day for every domain."""
    from streams.generator import generate_day

    try:
        the_day = dt.date.fromisoformat(day)
    except ValueError:
        raise fail(f"--day {day!r} is not a date (YYYY-MM-DD)") from None
    with console.status(f"generating {the_day} (seed {seed})…") as st:
        manifest = generate_day(out_dir, seed, the_day, progress=lambda what, n: st.update(f"{what}: {n:,}"))
    table = Table("file", "events", title=f"{the_day} · seed {seed} → {out_dir}")
    for name, info in sorted(manifest_files(manifest).items()):
        table.add_row(name, f"{info['lines']:,}")
    console.print(table)


def manifest_files(manifest: object) -> dict[str, dict]:
    files = getattr(manifest, "files", None)
    if files is None and isinstance(manifest, dict):
        files = manifest["files"]
    return {k: (v if isinstance(v, dict) else vars(v)) for k, v in dict(files).items()}


@app.command()
def demo(
    seed: int = typer.Option(42, "--seed"),
    day: str = typer.Option("2026-11-20", "--day", help="YYYY-MM-DD"),
) -> None:
    """Start the services, create topics, generate a day, produce it, read it back, print a summary."""
    from streams.commands.demo import run_demo

    try:
        the_day = dt.date.fromisoformat(day)
    except ValueError:
        raise fail(f"--day {day!r} is not a date (YYYY-MM-DD)") from None
    code = run_demo(_settings(), seed=seed, day=the_day, console=console)
    raise typer.Exit(code)


def _register_plugins() -> None:
    """Commands of packages layered above streams (e.g. ``sinks``) register through the
    ``mercado.commands`` entry-point group, so streams never imports them by name."""
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group="mercado.commands"), key=lambda e: e.name):
        target = ep.load()
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=ep.name)
        else:
            app.command(name=ep.name)(target)


_register_plugins()

if __name__ == "__main__":
    app()

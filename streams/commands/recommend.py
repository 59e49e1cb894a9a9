"""`mercado recommend run | backtest | history | schedule` and `mercado jobs`: the daily recommendations job."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import orjson
import typer
from rich.table import Table

from processors import topics
from streams.commands.app import app, console, err_console, fail
from streams.config import get_settings

recommend_app = typer.Typer(help="The daily recommendations job (BUY / HOLD / SELL per ticker, point in time).",
                            no_args_is_help=True)
app.add_typer(recommend_app, name="recommend")


def _date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option}: {text!r} is not a date (YYYY-MM-DD)") from None


@recommend_app.command("generate")
def generate(
    out: Path = typer.Argument(..., help="Directory for one JSON Lines file per input topic."),
    seed: int = typer.Option(42, "--seed"),
    start: str = typer.Option("2021-01-04", "--from", help="First day (YYYY-MM-DD)."),
    end: str = typer.Option("2025-12-31", "--to", help="Last day (YYYY-MM-DD)."),
    tickers: int = typer.Option(40, "--tickers", min=1, help="Universe size (BYMA shares and CEDEARs)."),
) -> None:
    """Seeded years of daily bars, fundamentals, macro values and sentiment (for `mercado produce`)."""
    from streams.generator.recommendations import HistoryConfig, write_history

    first, last = _date(start, "--from"), _date(end, "--to")
    assert first is not None and last is not None
    files = write_history(out, HistoryConfig(seed=seed, start=first, end=last, tickers=tickers))
    for topic_name, entry in files.items():
        console.print(f"{out / (topic_name + '.jsonl')}: {entry.lines:,} rows -> mercado produce {topic_name} …")


@recommend_app.command("run")
def run(as_of: str | None = typer.Option(None, "--as-of", help="Run date (YYYY-MM-DD); default: the latest "
                                         "scheduled one.")) -> None:
    """Request the run of a date (a JobRequested at its cutoff); `mercado worker --pipeline recommendations`
    answers it. A date already run is not run again (same event ids)."""
    from processors.recommendations.calendar import TradingCalendar
    from processors.recommendations.schedule import latest_fire
    from streams.engines.recommend import job_request, produce_job_requests

    settings = get_settings()
    calendar = TradingCalendar(settings.recommendations)
    day = _date(as_of, "--as-of")
    if day is None:
        fire = latest_fire(calendar, dt.datetime.now(dt.UTC))
        if fire is None:
            raise fail("no scheduled run in the last year")
        day = fire.date()
    if not calendar.is_trading_day(day):
        raise fail(f"{day} is not a BYMA trading day ({calendar.holiday(day) or 'weekend'})")
    record = job_request(settings, day, "manual")
    if record["cutoff"] > time.time_ns() // 1000:
        raise fail(f"the cutoff of {day} has not come yet")
    produce_job_requests(settings, [record])
    cutoff = dt.datetime.fromtimestamp(record["cutoff"] / 1e6, dt.UTC)
    console.print(f"requested {record['event_id']} (cutoff {cutoff})")


@recommend_app.command("backtest")
def backtest(
    start: str = typer.Option(..., "--from", help="First run date (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--to", help="Last run date (YYYY-MM-DD)."),
    out: Path | None = typer.Option(None, "--out", help="Write recommendations and job runs here (JSON Lines)."),
) -> None:
    """Every trading day of the range as the job would have answered it: the input topics up to each
    cutoff, through the worker's processors (the replay's code path)."""
    from streams.engines.recommend import run_backtest

    first, last = _date(start, "--from"), _date(end, "--to")
    assert first is not None and last is not None
    if first > last:
        raise fail("--from is after --to")
    settings = get_settings()
    started = time.perf_counter()
    try:
        sink, report, days = run_backtest(settings, first, last)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    elapsed = time.perf_counter() - started
    recos = [e.record for e in sink.emits if e.schema == "Recommendation"]
    runs = [e.record for e in sink.emits if e.schema == "JobRun"]
    if out is not None:
        with out.open("wb") as fh:
            for e in sink.emits:
                fh.write(orjson.dumps({"topic": e.topic, "key": e.key, "schema": e.schema, "record": e.record},
                                      option=orjson.OPT_SORT_KEYS) + b"\n")
    errors = sum(r["errors_count"] for r in runs)
    console.print(f"{len(days)} trading days, {len(recos):,} recommendations, {errors:,} ticker errors, "
                  f"{report.inputs:,} inputs ({report.rejected:,} refused) in {elapsed:.1f} s")
    if recos:
        print_top(recos, recos[-1]["analysis_date"])


def print_top(recos: list[dict], day: str, n: int = 5) -> None:
    """The day's top BUY and SELL recommendations by score."""
    of_day = [r for r in recos if r["analysis_date"] == day]
    for label, reverse in (("BUY", True), ("SELL", False)):
        rows = sorted((r for r in of_day if r["recommendation"] == label), key=lambda r: r["total_score"],
                      reverse=reverse)[:n]
        table = Table(title=f"{day}: top {label}")
        for col in ("ticker", "score", "confidence", "price", "target", "risk", "summary"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["ticker"], f"{r['total_score']:.1f}", f"{r['confidence']:.0f}",
                          f"{r['current_price']:,.2f}", f"{r['target_price']:,.2f}", r["risk_level"], r["summary"])
        console.print(table)


@recommend_app.command("evaluate")
def evaluate_command(
    start: str = typer.Option(..., "--from", help="First run date (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--to", help="Last run date (YYYY-MM-DD)."),
    chart: Path = typer.Option(Path("recommendations-evaluation.png"), "--chart", help="PNG of the baskets."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON object."),
) -> None:
    """How good were the recommendations of the range (backtested, the worker's code path): forward returns
    after 1, 5, 10 and 20 bars per label, the information coefficient, returns per score quintile, and a
    chart of the BUY and SELL baskets against the equally weighted universe."""
    from processors.recommendations.evaluation import evaluate
    from streams.engines.recommend import read_topic, run_backtest

    first, last = _date(start, "--from"), _date(end, "--to")
    assert first is not None and last is not None
    settings = get_settings()
    try:
        sink, _report, _days = run_backtest(settings, first, last)
        bars = read_topic(settings, topics.DAILY_BARS)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    recos = [e.record for e in sink.emits if e.schema == "Recommendation"]
    result = evaluate(recos, bars, config=settings.recommendations)
    save_chart(result, chart, f"{first} .. {last}")
    if as_json:
        console.print_json(orjson.dumps(result.as_dict()).decode())
        return
    table = Table(title=f"forward returns per label ({len(recos):,} recommendations, {len(result.days)} days)")
    for col in ("bars", "label", "n", "mean", "median", "hit > 0", "beats universe"):
        table.add_column(col)
    for k, labels in result.by_label.items():
        for label, st in labels.items():
            table.add_row(str(k), label, f"{st.count:,}", f"{st.mean:+.2%}", f"{st.median:+.2%}",
                          f"{st.hit_rate:.1%}", f"{st.beat_benchmark:.1%}")
    console.print(table)
    ic = Table(title="information coefficient (Spearman, score vs forward return) and quintiles (low -> high)")
    for col in ("bars", "mean IC", "days", "Q1", "Q2", "Q3", "Q4", "Q5"):
        ic.add_column(col)
    for k in result.horizons:
        mean = result.mean_ic[k]
        ic.add_row(str(k), "-" if mean is None else f"{mean:+.3f}", str(len(result.ic_by_day[k])),
                   *("-" if q is None else f"{q:+.2%}" for q in result.quintiles[k]))
    console.print(ic)
    growth = {name: (v[-1] if v else 1.0) for name, v in result.cumulative().items()}
    console.print("cumulative (1-bar returns, daily rebalanced): "
                  + ", ".join(f"{name} {value - 1:+.1%}" for name, value in growth.items()) + f"; chart: {chart}")


def save_chart(result: object, path: Path, title: str) -> None:
    """Cumulative growth of the BUY and SELL baskets and the benchmark (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cumulative = result.cumulative()  # type: ignore[attr-defined]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for name, style in (("BUY", "-"), ("SELL", "-"), ("benchmark", "--")):
        ax.plot(cumulative.get(name, []), style, label=name)
    ax.set_title(f"Recommendations {title}: baskets vs the equally weighted universe")
    ax.set_xlabel("trading day")
    ax.set_ylabel("growth of 1")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@recommend_app.command("history")
def history(ticker: str = typer.Argument(..., help="e.g. GGAL"),
            last: int = typer.Option(20, "--last", help="Show the latest N dates.")) -> None:
    """A ticker's recommendations over time (reco.recommendations.v1)."""
    from streams.engines.recommend import read_topic

    try:
        rows = [r for r in read_topic(get_settings(), topics.RECOMMENDATIONS) if r["ticker"] == ticker]
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    latest = {r["analysis_date"]: r for r in rows}  # one per date (re-runs carry the same id)
    table = Table(title=f"{ticker}: recommendations")
    for col in ("date", "label", "score", "conf.", "tech", "fund", "macro", "sent", "price", "target", "risk"):
        table.add_column(col)

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f}"

    for day in sorted(latest)[-last:]:
        r = latest[day]
        table.add_row(day, r["recommendation"], f(r["total_score"]), f(r["confidence"]), f(r["technical_score"]),
                      f(r["fundamental_score"]), f(r["macro_score"]), f(r["sentiment_score"]),
                      f"{r['current_price']:,.2f}", f"{r['target_price']:,.2f}", r["risk_level"])
    console.print(table)
    if not latest:
        err_console.print(f"no recommendation for {ticker}")


@recommend_app.command("schedule")
def schedule(once: bool = typer.Option(False, "--once", help="Request the due run (if any) and exit."),
             lock: Path = typer.Option(Path(".mercado/recommend-schedule.lock"), "--lock",
                                       help="At most one scheduler holds this file's lock.")) -> None:
    """The job's schedule at the edge: on each trading day at the cron time (Buenos Aires), request that
    day's run; after downtime, the latest missed run once (coalesced)."""
    import fcntl

    from processors.recommendations.calendar import TradingCalendar
    from processors.recommendations.schedule import due_run, next_fire
    from streams.engines.recommend import job_request, last_requested, produce_job_requests

    settings = get_settings()
    calendar = TradingCalendar(settings.recommendations)
    lock.parent.mkdir(parents=True, exist_ok=True)
    handle = lock.open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise fail(f"another scheduler holds {lock}") from None
    last = last_requested(settings)
    while True:
        now = dt.datetime.now(dt.UTC)
        due = due_run(calendar, now, last)
        if due is not None:
            produce_job_requests(settings, [job_request(settings, due.run_date, due.trigger)])
            console.print(f"{now.isoformat()}: requested {due.run_date} ({due.trigger})")
            last = due.run_date
        if once:
            return
        wait = (next_fire(calendar, now) - now).total_seconds()
        time.sleep(max(1.0, min(wait, 3600.0)))


@app.command("jobs")
def jobs(last: int = typer.Option(20, "--last", help="Show the latest N runs.")) -> None:
    """Runs of the daily job: status, shards done, tickers processed, errors (reco.job-runs.v1)."""
    from streams.engines.recommend import read_topic

    try:
        records = read_topic(get_settings(), topics.JOB_RUNS)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    runs: dict[tuple[str, str], dict[int, dict]] = {}
    for r in records:
        runs.setdefault((r["job"], r["run_date"]), {})[r["shard"]] = r
    table = Table(title="job runs")
    for col in ("job", "run date", "status", "shards", "tickers", "errors", "trigger", "first errors"):
        table.add_column(col)
    for (job, day), shards in sorted(runs.items(), key=lambda kv: kv[0][1])[-last:]:
        any_shard = next(iter(shards.values()))
        total = any_shard["shards"]
        failed = any(s["status"] == "FAILED" for s in shards.values())
        status = "RUNNING" if len(shards) < total else "FAILED" if failed else "COMPLETED"
        errors = [e for s in shards.values() for e in s["errors"]]
        table.add_row(job, day, status, f"{len(shards)}/{total}", str(sum(s["tickers_processed"] for s in
                                                                          shards.values())),
                      str(len(errors)), any_shard["trigger"],
                      "; ".join(f"{e['ticker']}: {e['reason']}" for e in errors[:3]))
    console.print(table)

"""The two stages' processors: the router (inputs → shards of tickers) and the shard that runs the job.

The job needs every ticker at one instant (the cutoff) and the macro values for all of them, while its
state must stay per ticker and spread over workers. So tickers are hashed into ``shards`` keyed groups
(murmur2, like Kafka's partitioner): the router sends each ticker's bars, fundamentals and sentiment to
its shard, and a copy of every macro value and job request to every shard (``shard`` set on the copy).
A shard holds its tickers' incremental states (:class:`~processors.recommendations.state.TickerState`)
and the macro values; on a ``JobRequested`` it answers for each of its tickers from what was known at
the cutoff and reports its part of the run (``JobRun``, one per shard).

Point in time: the shard reads ``reco.inputs.v1`` in position order, which is the event-time order of
the inputs (docs/architecture.md, "Scale-out"), so a job's bars are those at or before its cutoff;
fundamentals and macro values are used only when ``available_at`` <= cutoff (later ones wait, and
are named in the run's details), sentiment when its event time is. A ticker whose last bar is after
the cutoff (a request that arrived after newer bars were folded) fails with ``state-after-cutoff``:
past dates are answered by ``mercado recommend backtest``, which folds only what precedes each cutoff.
"""

from __future__ import annotations

import hashlib
from datetime import date
from functools import lru_cache
from typing import Any, Self

import orjson

from processors import commands as cmd
from processors import topics
from processors.core import Emit, KeyedProcessor, Record
from processors.partitioning import partition_of
from processors.recommendations import scoring
from processors.recommendations.calendar import TradingCalendar
from processors.recommendations.config import RecommendationsConfig
from processors.recommendations.schedule import job_request
from processors.recommendations.state import TickerState

DAY_US = 86_400_000_000
_TICKER_RECORDS = frozenset({"DailyBar", "FundamentalSnapshot", "SentimentScore"})


class Shards:
    """Which shard a ticker is in (cached), and the shards' keys."""

    def __init__(self, count: int):
        self.count = count
        self.keys = tuple(shard_key(i) for i in range(count))
        self._of: dict[str, str] = {}

    def of(self, ticker: str) -> str:
        key = self._of.get(ticker)
        if key is None:
            key = self._of[ticker] = self.keys[partition_of(ticker, self.count)]
        return key


def shard_key(i: int) -> str:
    return f"shard-{i:04d}"


def shard_index(key: str) -> int:
    return int(key.rpartition("-")[2])


def input_key(schema: str, record: Record) -> str:
    """The key an input has on its own topic (the router's processor key)."""
    if schema in _TICKER_RECORDS:
        return record["ticker"]
    if schema == "MacroIndicator":
        return record["indicator"]
    if schema == "Command":
        return record["target"]
    return record["job"]


class RouteProcessor(KeyedProcessor):
    """Stateless: each input to its ticker's shard; macro values and job requests to every shard; an
    operator's RUN_DAILY_JOB command (``reco.commands.v1``, mercado api) becomes the date's JobRequested
    (the one ``mercado recommend run`` writes, trigger ``manual``) to every shard, with its CommandResult."""

    def __init__(self, key: str, shards: Shards, config: RecommendationsConfig | None = None):
        super().__init__(key)
        self.shards = shards
        self.config = config or RecommendationsConfig()
        self._calendar: TradingCalendar | None = None

    def on_event(self, schema: str, record: Record) -> list[Emit]:
        if schema in _TICKER_RECORDS:
            return [Emit(topics.RECO_INPUTS, self.shards.of(record["ticker"]), schema, record)]
        if schema == "Command":
            return self._command(record)
        return self._to_every_shard(schema, record)

    def _to_every_shard(self, schema: str, record: Record) -> list[Emit]:
        return [Emit(topics.RECO_INPUTS, key, schema, {**record, "shard": i})
                for i, key in enumerate(self.shards.keys)]

    def _command(self, c: Record) -> list[Emit]:
        """RUN_DAILY_JOB {run_date}: decided at the command's event time (a cutoff not reached yet then is
        rejected, live and in a replay alike)."""
        out: list[Emit] = []
        reason, message = self._job_request(c, out)
        caused = [out[0].record["event_id"]] if out else []
        result = cmd.command_result(c, c["event_time"], reason, message, caused)
        return [*out, Emit(topics.COMMAND_RESULTS, c["idempotency_key"], "CommandResult", result)]

    def _job_request(self, c: Record, out: list[Emit]) -> tuple[str | None, str]:
        if c["kind"] != cmd.RUN_DAILY_JOB:
            return cmd.UNKNOWN_KIND, f"the recommendations pipeline does not handle {c['kind']}"
        job = self.config.job
        if c["target"] != job:
            return cmd.UNKNOWN_JOB, f"no job {c['target']} (this pipeline runs {job})"
        try:
            day = date.fromisoformat(cmd.text(c["params"], "run_date") or "")
        except ValueError:
            return cmd.INVALID_PARAMETER, f"run_date {c['params'].get('run_date')!r} is not a date (YYYY-MM-DD)"
        calendar = self._calendar = self._calendar or TradingCalendar(self.config)
        if not calendar.is_trading_day(day):
            return cmd.NOT_A_TRADING_DAY, f"{day} is not a trading day ({calendar.holiday(day) or 'weekend'})"
        request = job_request(day, self.config, "manual")
        if request["cutoff"] > c["event_time"]:
            return cmd.CUTOFF_NOT_REACHED, f"the cutoff of {day} ({request['cutoff']} µs) has not come yet"
        out.extend(self._to_every_shard("JobRequested", request))
        return None, f"run of {day} requested (JobRequested {request['event_id']})"

    def snapshot(self) -> dict[str, Any]:
        return {}

    @classmethod
    def restore(cls, key: str, state: dict[str, Any], **config: Any) -> Self:
        return cls(key, config["shards"], config.get("config"))


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)


class ShardProcessor(KeyedProcessor):
    """The tickers of one shard and the macro values; runs the job for them on a ``JobRequested``."""

    def __init__(self, key: str, config: RecommendationsConfig):
        super().__init__(key)
        self.config = config
        self.index = shard_index(key)
        self.tickers: dict[str, TickerState] = {}
        self.macro: dict[str, list[Record]] = {}  # indicator -> values not superseded (some after a cutoff)
        self.last_run: str | None = None  # run_date of the latest run
        self.last_cutoff: int | None = None
        self.skipped_requests = 0  # requests for a date at or before the latest run (idempotent re-runs)
        self.decide = scoring.Decider(config)

    def ticker(self, name: str) -> TickerState:
        state = self.tickers.get(name)
        if state is None:
            state = self.tickers[name] = TickerState(name, self.config)
        return state

    def on_event(self, schema: str, record: Record) -> list[Emit]:
        if schema == "DailyBar":
            state = self.tickers.get(record["ticker"])
            (state or self.ticker(record["ticker"])).on_bar(record)
        elif schema == "FundamentalSnapshot":
            self.ticker(record["ticker"]).on_fundamentals(record)
        elif schema == "SentimentScore":
            self.ticker(record["ticker"]).on_sentiment(record)
        elif schema == "MacroIndicator":
            values = self.macro.setdefault(record["indicator"], [])
            values.append(record)
            values.sort(key=lambda v: (v["available_at"], v["period"], v["event_id"]))
        elif schema == "JobRequested":
            return self.run(record)
        return []

    # ------------------------------------------------------------------ the job
    def _macro_at(self, cutoff: int) -> tuple[dict[str, float], list[str], list[str]]:
        oldest = cutoff - self.config.macro_max_age_days * DAY_US
        values: dict[str, float] = {}
        used: list[str] = []
        later: list[str] = []
        for name in sorted(self.macro):
            entries = self.macro[name]
            if len(entries) == 1 and entries[0]["available_at"] <= cutoff:  # the usual case: one value, known
                if entries[0]["available_at"] >= oldest:
                    values[name] = entries[0]["value"]
                    used.append(entries[0]["event_id"])
                continue
            known = [v for v in entries if v["available_at"] <= cutoff]
            waiting = [v for v in entries if v["available_at"] > cutoff]
            self.macro[name] = known[-1:] + waiting
            later.extend(v["event_id"] for v in waiting)
            if known and known[-1]["available_at"] >= oldest:
                values[name] = known[-1]["value"]
                used.append(known[-1]["event_id"])
        return values, used, later

    def run(self, job: Record) -> list[Emit]:
        cutoff, run_date = job["cutoff"], job["run_date"]
        if self.last_cutoff is not None and cutoff <= self.last_cutoff:
            self.skipped_requests += 1  # this date (or a later one) already ran: the same events exist
            return []
        self.last_run, self.last_cutoff = run_date, cutoff
        macro, macro_ids, macro_later = self._macro_at(cutoff)
        context = _RunContext(job, self.config, self.decide, macro, macro_ids, macro_later)
        out: list[Emit] = []
        errors: list[Record] = []
        for name in sorted(self.tickers):
            state = self.tickers[name]
            result = recommend(state, context)
            if type(result) is dict:
                out.append(Emit(topics.RECOMMENDATIONS, f"{run_date}:{name}", "Recommendation", result))
            else:
                errors.append({"ticker": name, "reason": result[0], "message": result[1]})
            state.issues = []
        processed = len(out)
        status = "FAILED" if errors and not processed else "COMPLETED"
        # keyed per shard: a key's events come from one task, so their order is the same live and in replay
        out.append(Emit(topics.JOB_RUNS, f"{job['job']}:{run_date}:{self.index}", "JobRun", {
            "event_id": f"jobrun:{job['job']}:{run_date}:{self.index}:{status}",
            "event_time": cutoff,
            "job": job["job"],
            "run_date": run_date,
            "cutoff": cutoff,
            "shard": self.index,
            "shards": self.config.shards,
            "status": status,
            "trigger": job["trigger"],
            "tickers_processed": processed,
            "errors_count": len(errors),
            "errors": errors,
            "model_version": self.config.model_version,
            "duration_ms": None,
        }))
        return out

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        return {
            "tickers": {name: t.snapshot() for name, t in sorted(self.tickers.items())},
            "macro": self.macro,
            "last_run": self.last_run,
            "last_cutoff": self.last_cutoff,
            "skipped_requests": self.skipped_requests,
        }

    @classmethod
    def restore(cls, key: str, state: dict[str, Any], **config: Any) -> Self:
        proc = cls(key, config["config"])
        proc.tickers = {name: TickerState.restore(name, t, proc.config) for name, t in state["tickers"].items()}
        proc.macro = {name: list(v) for name, v in state["macro"].items()}
        proc.last_run, proc.last_cutoff = state["last_run"], state["last_cutoff"]
        proc.skipped_requests = state["skipped_requests"]
        return proc


class _RunContext:
    """What one run shares across the tickers of a shard: the job, and the macro analysis per market
    (it depends only on the market), computed once."""

    def __init__(self, job: Record, config: RecommendationsConfig, decide: scoring.Decider, macro: dict[str, float],
                 macro_ids: list[str], macro_later: list[str]):
        self.job = job
        self.config = config
        self.decide = decide
        self.cutoff: int = job["cutoff"]
        self.run_date: str = job["run_date"]
        self.run_day = date.fromisoformat(self.run_date).toordinal()
        self.macro_ids = macro_ids
        self.oldest_fundamentals = self.cutoff - config.fundamentals_max_age_days * DAY_US
        self.oldest_sentiment = self.cutoff - config.sentiment_max_age_days * DAY_US
        self._macro_raw = _json(macro)
        self._macro_meta = _json({"event_ids": macro_ids, "not_yet_available": macro_later})
        self._macro = macro
        self._by_market: dict[str, tuple[float | None, Record]] = {}
        self.hash_head = f"{config.model_version}|{self.cutoff}|{','.join(macro_ids)}"

    def macro(self, market: str) -> tuple[float | None, Record]:
        """(score, analysis detail) of the macro analysis for a ticker of ``market``."""
        found = self._by_market.get(market)
        if found is None:
            parts = scoring.macro_components(self._macro, market)
            score = scoring.score_of(list(parts.values()))
            found = self._by_market[market] = (score, {
                "analysis_type": "macro", "score": _r(score), "raw_data": self._macro_raw,
                "indicators": _json(parts), "metadata": self._macro_meta})
        return found


_FUND_RAW = ("pe", "pb", "roe", "debt_to_equity", "revenue_growth", "profit_margin", "period_end", "available_at")
# the technical analysis' metadata, {"bar_hash": ..., "units": ...} as _json writes it
_TECH_META_HEAD, _TECH_META_TAIL = _json({"bar_hash": "\0", "units": "adjusted to the first bar"}).split("\\u0000")


@lru_cache(maxsize=4096)
def _ordinal(day: str) -> int:
    return date.fromisoformat(day).toordinal()


# The analysis details are JSON text on the record. The parts that depend only on an input event (the
# fundamental snapshot, the sentiment score) are built once per event and reused by every later run
# while that event is the one in use (the memo sits on the ticker's state, outside its snapshot: it is
# rebuilt from the same event after a restore, with the same bytes).


def _fundamental(s: TickerState, ctx: _RunContext) -> tuple[float | None, Record, str | None]:
    """(score, analysis detail, event id used) of the fundamental analysis."""
    fund, later = s.fundamentals_at(ctx.cutoff)
    stale = fund is not None and fund["available_at"] < ctx.oldest_fundamentals
    memo = s.fund_memo
    if memo is not None and memo[0] is fund and memo[1] == stale and not later and not memo[2]:
        return memo[3]
    meta: dict[str, Any] = {"not_yet_available": [f["event_id"] for f in later]}
    parts: dict[str, float] = {}
    raw: dict[str, Any] = {}
    used = None
    if fund is not None:
        used = meta["event_id"] = fund["event_id"]
        raw = {k: fund[k] for k in _FUND_RAW}
        if stale:
            meta["stale"] = True
        else:
            parts = scoring.fundamental_components(fund["pe"], fund["pb"], fund["roe"], fund["debt_to_equity"],
                                                   fund["revenue_growth"], fund["profit_margin"])
    score = scoring.score_of(list(parts.values()))
    found = (score, {"analysis_type": "fundamental", "score": _r(score), "raw_data": _json(raw),
                     "indicators": _json(parts), "metadata": _json(meta)}, used)
    s.fund_memo = (fund, stale, bool(later), found)
    return found


def _sentiment(s: TickerState, ctx: _RunContext) -> tuple[float | None, Record, str | None]:
    """(score, analysis detail, event id used) of the sentiment analysis."""
    sent = s.sentiment_at(ctx.cutoff)
    stale = sent is not None and sent["event_time"] < ctx.oldest_sentiment
    memo = s.sent_memo
    if memo is not None and memo[0] is sent and memo[1] == stale:
        return memo[2]
    score = None
    meta: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    used = None
    if sent is not None:
        used = meta["event_id"] = sent["event_id"]
        raw = {"date": sent["date"], "score": sent["score"], "articles": sent["articles"]}
        if stale:
            meta["stale"] = True
        else:
            score = scoring.sentiment_score(sent["score"])
    found = (score, {"analysis_type": "sentiment", "score": _r(score), "raw_data": _json(raw),
                     "indicators": "{}", "metadata": _json(meta)}, used)
    s.sent_memo = (sent, stale, found)
    return found


def recommend(s: TickerState, ctx: _RunContext) -> Record | tuple[str, str]:
    """One ticker's Recommendation at the run's cutoff, or (reason, message) when it gets none."""
    cfg = ctx.config
    cutoff, run_date = ctx.cutoff, ctx.run_date
    last_date, last_close = s.last_date, s.last_close
    if s.last_time is None or last_close is None or s.last_adjusted is None or last_date is None:
        return "no-bars", "no daily bar folded yet" + _excluded(s)
    if s.last_time > cutoff:
        return "state-after-cutoff", (f"bars up to {last_date} already folded, after the cutoff of {run_date}; "
                                      "use mercado recommend backtest for past dates")
    if ctx.run_day - _ordinal(last_date) > cfg.max_bar_age_days:
        return "stale-bars", (f"last bar {last_date}, more than {cfg.max_bar_age_days} days before {run_date}"
                              + _excluded(s))
    if s.bars < cfg.min_bars:
        return "insufficient-history", f"{s.bars} bars, {cfg.min_bars} needed" + _excluded(s)

    values = s.technical.values
    close = s.last_adjusted
    tech_score, components = scoring.technical(close, values)
    sma20, sma50, sma200, rsi, macd, signal, hist, atr, up, mid, low = values
    atr_pct = atr / close if atr else None
    bb_width = (up - low) / mid if up is not None and low is not None and mid else None

    fund_score, fund_detail, fund_id = _fundamental(s, ctx)
    macro_score, macro_detail = ctx.macro(s.market)
    sent_score, sent_detail, sent_id = _sentiment(s, ctx)

    if tech_score is None and fund_score is None and macro_score is None and sent_score is None:
        return "no-score", "no analysis had inputs" + _excluded(s)
    label, total, confidence, target, risk = ctx.decide(tech_score, fund_score, macro_score, sent_score, last_close,
                                                        atr_pct, bb_width, sma200 is not None)

    digest = hashlib.blake2b(f"{ctx.hash_head}|{s.bar_hash}|{s.bars}|{fund_id}|{sent_id}".encode(), digest_size=8)
    parts = [f"tech {tech_score:.0f}"] if tech_score is not None else []
    if fund_score is not None:
        parts.append(f"fund {fund_score:.0f}")
    if macro_score is not None:
        parts.append(f"macr {macro_score:.0f}")
    if sent_score is not None:
        parts.append(f"sent {sent_score:.0f}")
    trend = "up" if components.get("trend", 0.0) > 0 else "down"
    momentum = f"trend {trend}, RSI {rsi:.0f}, " if rsi is not None else ""
    summary = (f"{label} {s.ticker} at {last_close:,.2f}: score {total:.1f} ({', '.join(parts)}); "
               f"{momentum}{risk.lower()} risk, target {target:,.2f}")
    # the indicators' keys in sorted order (as _json writes them), the components' sorted by the option
    indicators = {"atr": atr, "atr_pct": atr_pct, "bb_lower": low, "bb_middle": mid, "bb_upper": up,
                  "bb_width": bb_width, "components": components, "macd": macd, "macd_hist": hist,
                  "macd_signal": signal, "rsi": rsi, "sma20": sma20, "sma200": sma200, "sma50": sma50}
    tech_score_r = None if tech_score is None else round(tech_score, 2)
    details = [
        {"analysis_type": "technical", "score": tech_score_r,
         # keys in sorted order, as _json writes them
         "raw_data": orjson.dumps({"adjusted_close": close, "adjustment_factor": s.factor, "bars": s.bars,
                                   "close": last_close, "last_date": last_date}).decode(),
         "indicators": orjson.dumps(indicators, option=orjson.OPT_SORT_KEYS).decode(),
         "metadata": _TECH_META_HEAD + s.bar_hash + _TECH_META_TAIL},  # (bar_hash: hex digits)
        fund_detail,
        macro_detail,
        sent_detail,
    ]
    return {
        "event_id": f"reco:{run_date}:{s.ticker}:{cfg.model_version}",
        "event_time": cutoff,
        "analysis_date": run_date,
        "ticker": s.ticker,
        "market": s.market,
        "recommendation": label,
        "total_score": round(total, 2),
        "confidence": round(confidence, 2),
        "technical_score": tech_score_r,
        "fundamental_score": fund_detail["score"],
        "macro_score": macro_detail["score"],
        "sentiment_score": sent_detail["score"],
        "current_price": last_close,
        "target_price": target,
        "risk_level": risk,
        "summary": summary,
        "last_bar_date": last_date,
        "cutoff": cutoff,
        "inputs_hash": digest.hexdigest(),
        "model_version": cfg.model_version,
        "data_issues": list(s.issues),
        "analysis_details": details,
    }


def _excluded(s: TickerState) -> str:
    return f" (excluded: {'; '.join(s.issues)})" if s.issues else ""

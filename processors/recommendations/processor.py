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
from datetime import date, timedelta
from typing import Any, Self

import orjson

from processors import topics
from processors.core import Emit, KeyedProcessor, Record
from processors.partitioning import partition_of
from processors.recommendations import scoring
from processors.recommendations.config import RecommendationsConfig
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
    return record["job"]


class RouteProcessor(KeyedProcessor):
    """Stateless: each input to its ticker's shard; macro values and job requests to every shard."""

    def __init__(self, key: str, shards: Shards):
        super().__init__(key)
        self.shards = shards

    def on_event(self, schema: str, record: Record) -> list[Emit]:
        if schema in _TICKER_RECORDS:
            return [Emit(topics.RECO_INPUTS, self.shards.of(record["ticker"]), schema, record)]
        return [Emit(topics.RECO_INPUTS, key, schema, {**record, "shard": i})
                for i, key in enumerate(self.shards.keys)]

    def snapshot(self) -> dict[str, Any]:
        return {}

    @classmethod
    def restore(cls, key: str, state: dict[str, Any], **config: Any) -> Self:
        return cls(key, config["shards"])


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

    def ticker(self, name: str) -> TickerState:
        state = self.tickers.get(name)
        if state is None:
            state = self.tickers[name] = TickerState(name, self.config)
        return state

    def on_event(self, schema: str, record: Record) -> list[Emit]:
        if schema == "DailyBar":
            self.ticker(record["ticker"]).on_bar(record)
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
        out: list[Emit] = []
        errors: list[Record] = []
        for name in sorted(self.tickers):
            state = self.tickers[name]
            result = self.recommend(state, job, macro, macro_ids, macro_later)
            if isinstance(result, dict):
                out.append(Emit(topics.RECOMMENDATIONS, f"{run_date}:{name}", "Recommendation", result))
            else:
                errors.append({"ticker": name, "reason": result[0], "message": result[1]})
            state.issues = []
        processed = len(out)
        status = "FAILED" if errors and not processed else "COMPLETED"
        out.append(Emit(topics.JOB_RUNS, f"{job['job']}:{run_date}", "JobRun", {
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

    def recommend(self, s: TickerState, job: Record, macro: dict[str, float], macro_ids: list[str],
                  macro_later: list[str]) -> Record | tuple[str, str]:
        """One ticker's Recommendation, or (reason, message) when it gets none."""
        cfg = self.config
        cutoff, run_date = job["cutoff"], job["run_date"]
        issues = "; ".join(s.issues)
        suffix = f" (excluded: {issues})" if issues else ""
        if s.last_time is None or s.last_close is None or s.last_adjusted is None:
            return "no-bars", "no daily bar folded yet" + suffix
        if s.last_time > cutoff:
            return "state-after-cutoff", (f"bars up to {s.last_date} already folded, after the cutoff of {run_date}; "
                                          "use mercado recommend backtest for past dates")
        if date.fromisoformat(run_date) - date.fromisoformat(s.last_date) > timedelta(days=cfg.max_bar_age_days):
            return "stale-bars", (f"last bar {s.last_date}, more than {cfg.max_bar_age_days} days before {run_date}"
                                  + suffix)
        if s.bars < cfg.min_bars:
            return "insufficient-history", f"{s.bars} bars, {cfg.min_bars} needed" + suffix

        values = s.technical.values
        close = s.last_adjusted
        tech = scoring.technical_score(close, values)
        sma20, sma50, sma200, rsi, macd, signal, hist, atr, up, mid, low = values
        atr_pct = atr / close if atr else None
        bb_width = (up - low) / mid if up is not None and low is not None and mid else None

        fund, fund_later = s.fundamentals_at(cutoff)
        fund_meta: dict[str, Any] = {"not_yet_available": [f["event_id"] for f in fund_later]}
        fund_parts: dict[str, float] = {}
        fund_raw: dict[str, Any] = {}
        if fund is not None:
            fund_raw = {k: fund[k] for k in ("pe", "pb", "roe", "debt_to_equity", "revenue_growth", "profit_margin",
                                             "period_end", "available_at")}
            fund_meta["event_id"] = fund["event_id"]
            if fund["available_at"] < cutoff - cfg.fundamentals_max_age_days * DAY_US:
                fund_meta["stale"] = True
            else:
                fund_parts = scoring.fundamental_components(fund["pe"], fund["pb"], fund["roe"],
                                                            fund["debt_to_equity"], fund["revenue_growth"],
                                                            fund["profit_margin"])
        fund_score = scoring.score_of(list(fund_parts.values()))

        macro_parts = scoring.macro_components(macro, s.market)
        macro_score = scoring.score_of(list(macro_parts.values()))

        sent = s.sentiment_at(cutoff)
        sent_score = None
        sent_meta: dict[str, Any] = {}
        if sent is not None:
            sent_meta["event_id"] = sent["event_id"]
            if sent["event_time"] >= cutoff - cfg.sentiment_max_age_days * DAY_US:
                sent_score = scoring.sentiment_score(sent["score"])
            else:
                sent_meta["stale"] = True

        scores = {"technical": tech.score, "fundamental": fund_score, "macro": macro_score, "sentiment": sent_score}
        if all(v is None for v in scores.values()):
            return "no-score", "no analysis had inputs" + suffix
        d = scoring.decide(scores, cfg, s.last_close, atr_pct, bb_width, sma200 is not None)

        inputs_hash = hashlib.sha256(_json([
            cfg.model_version, cutoff, s.bar_hash, s.bars, fund_meta.get("event_id"), sent_meta.get("event_id"),
            macro_ids,
        ]).encode()).hexdigest()[:16]
        trend = "up" if tech.components.get("trend", 0.0) > 0 else "down"
        parts = ", ".join(f"{k[:4]} {v:.0f}" for k, v in scores.items() if v is not None)
        summary = (f"{d.label} {s.ticker} at {s.last_close:,.2f}: score {d.total:.1f} ({parts}); "
                   f"trend {trend}, RSI {rsi:.0f}, {d.risk.lower()} risk, target {d.target:,.2f}"
                   if rsi is not None else
                   f"{d.label} {s.ticker} at {s.last_close:,.2f}: score {d.total:.1f} ({parts}); "
                   f"{d.risk.lower()} risk, target {d.target:,.2f}")
        indicators = dict(zip(("sma20", "sma50", "sma200", "rsi", "macd", "macd_signal", "macd_hist", "atr",
                               "bb_upper", "bb_middle", "bb_lower"), values, strict=True))
        details = [
            {"analysis_type": "technical", "score": _r(tech.score),
             "raw_data": _json({"close": s.last_close, "adjusted_close": close, "adjustment_factor": s.factor,
                                "bars": s.bars, "last_date": s.last_date}),
             "indicators": _json({**indicators, "atr_pct": atr_pct, "bb_width": bb_width,
                                  "components": tech.components}),
             "metadata": _json({"bar_hash": s.bar_hash, "units": "adjusted to the first bar"})},
            {"analysis_type": "fundamental", "score": _r(fund_score), "raw_data": _json(fund_raw),
             "indicators": _json(fund_parts), "metadata": _json(fund_meta)},
            {"analysis_type": "macro", "score": _r(macro_score), "raw_data": _json(macro),
             "indicators": _json(macro_parts), "metadata": _json({"event_ids": macro_ids,
                                                                 "not_yet_available": macro_later})},
            {"analysis_type": "sentiment", "score": _r(sent_score),
             "raw_data": _json({} if sent is None else {k: sent[k] for k in ("date", "score", "articles")}),
             "indicators": _json({}), "metadata": _json(sent_meta)},
        ]
        return {
            "event_id": f"reco:{run_date}:{s.ticker}:{cfg.model_version}",
            "event_time": cutoff,
            "analysis_date": run_date,
            "ticker": s.ticker,
            "market": s.market,
            "recommendation": d.label,
            "total_score": _r(d.total),
            "confidence": _r(d.confidence),
            "technical_score": _r(tech.score),
            "fundamental_score": _r(fund_score),
            "macro_score": _r(macro_score),
            "sentiment_score": _r(sent_score),
            "current_price": s.last_close,
            "target_price": d.target,
            "risk_level": d.risk,
            "summary": summary,
            "last_bar_date": s.last_date,
            "cutoff": cutoff,
            "inputs_hash": inputs_hash,
            "model_version": cfg.model_version,
            "data_issues": list(s.issues),
            "analysis_details": details,
        }

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

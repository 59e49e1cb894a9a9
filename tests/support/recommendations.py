"""Builders of the recommendations job's inputs (hand-built series) and a runner over them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from processors import topics
from processors.core import Emit
from processors.recommendations import InProcessRecommendations, RecommendationsConfig
from processors.recommendations.calendar import TradingCalendar
from streams.generator.recommendations import input_events

Event = tuple[str, str, dict[str, Any]]  # (topic, schema, record)


def bar(ticker: str, day: date, close: float, *, high: float | None = None, low: float | None = None,
        split_ratio: float = 1.0, dividend: float = 0.0, market: str = "BYMA",
        config: RecommendationsConfig | None = None, event_id: str | None = None) -> dict[str, Any]:
    cal = TradingCalendar(config)
    return {"event_id": event_id or f"dbar:{ticker}:{day}", "event_time": cal.close_us(day), "ticker": ticker,
            "market": market, "date": day.isoformat(), "open": close,
            "high": high if high is not None else close * 1.01, "low": low if low is not None else close * 0.99,
            "close": close, "volume": 1000.0, "currency": "ARS",
            "split_ratio": split_ratio, "dividend": dividend}


def events_of(history: dict[str, list[dict[str, Any]]], days: Iterable[date],
              config: RecommendationsConfig | None = None) -> list[Event]:
    """Every input and a job request per day, merged in event-time order (each topic's list keeps its order)."""
    return list(input_events(history, days, config))


def run(events: Sequence[Event], config: RecommendationsConfig | None = None) -> list[Emit]:
    """The job's outputs (recommendations and job runs; not the repartition topic's records)."""
    pipeline = InProcessRecommendations(config)
    out: list[Emit] = []
    for topic, schema, record in events:
        out.extend(e for e in pipeline.feed(topic, schema, record) if e.topic != topics.RECO_INPUTS)
    return out


def recommendations(out: Iterable[Emit]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e.record["analysis_date"], e.record["ticker"]): e.record for e in out if e.schema == "Recommendation"}

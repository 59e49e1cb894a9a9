"""Output topics of the market-data pipeline and the builders of their records (wire form)."""

from __future__ import annotations

from processors import topics
from processors.core import Record

OUTPUT_TOPICS: tuple[str, ...] = (
    topics.BARS,
    topics.GAPS,
    topics.INDICATORS,
    topics.QUALITY,
    topics.LATE_TICKS,
    topics.MD_ALERTS,
)

PRICE_TICK_FIELDS: tuple[str, ...] = (
    "event_id", "event_time", "venue", "symbol", "bid", "ask", "last", "volume", "sequence", "backfill_id",
)


def bar_event_id(venue: str, symbol: str, interval_s: int, start_us: int, revision: int) -> str:
    return f"bar:{venue}:{symbol}:{interval_s}:{start_us}:r{revision}"


def gap_record(
    venue: str, symbol: str, interval_s: int, start: int, end: int, missing_bars: int, session: str, watermark: int
) -> Record:
    return {
        "event_id": f"gap:{venue}:{symbol}:{interval_s}:{start}",
        "event_time": watermark,
        "venue": venue,
        "symbol": symbol,
        "interval_s": interval_s,
        "start": start,
        "end": end,
        "missing_bars": missing_bars,
        "session": session,
    }


def late_tick_record(tick: Record, watermark: int) -> Record:
    """The LateTick of a live tick; ``tick`` is copied down to the PriceTick fields."""
    t = tick["event_time"]
    return {
        "event_id": f"late:{tick['event_id']}",
        "event_time": t,
        "venue": tick["venue"],
        "symbol": tick["symbol"],
        "watermark": watermark,
        "lateness_us": watermark - t,
        "tick": {name: tick.get(name) for name in PRICE_TICK_FIELDS},
    }


def indicator_record(bar: Record, values: tuple[float | None, ...]) -> Record:
    sma, ema, rsi, macd, macd_signal, macd_hist, bb_upper, bb_middle, bb_lower, atr = values
    return {
        "event_id": f"ind:{bar['event_id']}",
        "event_time": bar["event_time"],
        "venue": bar["venue"],
        "symbol": bar["symbol"],
        "interval_s": bar["interval_s"],
        "bar_start": bar["start"],
        "bar_event_id": bar["event_id"],
        "close": bar["close"],
        "sma": sma,
        "ema": ema,
        "rsi": rsi,
        "macd": macd,
        "macd_signal": macd_signal,
        "macd_hist": macd_hist,
        "bb_upper": bb_upper,
        "bb_middle": bb_middle,
        "bb_lower": bb_lower,
        "atr": atr,
    }

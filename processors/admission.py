"""What Mercado admits: event-time bounds and the domain rules of each input record type.

One home for every door (``mercado produce``, ``mercado backfill``, later the feed adapters and the
gateway's commands) and for the runtime that drives the processors (events that reached a topic anyway:
another producer, an old topic). Pure: the caller passes the reference time — the wall clock at a door,
the producer's stamp (a header in the log) or the partition's event-time clock in a processor — so live
and replay decide the same.

Event time:

* before ``floor`` (default 2000-01-01): refused everywhere (a seconds/milliseconds mix-up lands in 1970);
* more than ``max_ahead_s`` (default 5 min) after the time the event was produced: refused at the door
  (against the wall clock) and in the runtime (against the ``mercado-produced-us`` stamp the producer
  wrote beside it);
* without a producer's stamp, more than ``max_jump_s`` (default 7 days) ahead of its partition's clock
  (the highest event time admitted there): refused in the runtime, and it moves no clock.

Domain rules (:func:`domain_violations`): no NaN or infinity anywhere, prices > 0 (a retail listing's ≥ 0: a
0 on a retailer's page is a glitch the retail pipeline reports), a quote's bid ≤ ask,
volumes and quantities ≥ 0 (order quantities > 0), latencies ≥ 0, a range's start ≤ end. They are data
(``_RULES``), read by the check of one record and by :func:`batch_admitted`, the same check over the
columns of a whole batch (the producer's Parquet fast path).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(t_us: int) -> str:
    """Microseconds since the epoch as ISO-8601 UTC (``…Z``), for messages; out-of-range values as numbers."""
    try:
        return datetime.fromtimestamp(t_us / 1_000_000, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return f"{t_us} µs"


class AdmissionConfig(BaseModel):
    """Event-time bounds (``MERCADO_ADMISSION__MAX_AHEAD_S``, ``__MAX_JUMP_S``, ``__FLOOR``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_ahead_s: float = Field(default=300.0, ge=0)
    max_jump_s: float = Field(default=7 * 86_400.0, gt=0)
    floor: datetime = datetime(2000, 1, 1, tzinfo=UTC)

    @property
    def max_ahead_us(self) -> int:
        return round(self.max_ahead_s * 1_000_000)

    @property
    def max_jump_us(self) -> int:
        return round(self.max_jump_s * 1_000_000)

    @property
    def floor_us(self) -> int:
        floor = self.floor if self.floor.tzinfo else self.floor.replace(tzinfo=UTC)
        delta = floor - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class Refused(ValueError):
    """An event that is not admitted. ``reason`` is a short machine-readable code (the dead-letter
    header ``mercado.dlq.reason`` and the metric's label), ``message`` says what is wrong."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class Violation(NamedTuple):
    """A rule an event breaks: the field (dotted path, ``rows[3].price``) and what is wrong."""

    field: str
    message: str


@lru_cache(maxsize=64)
def _bounds_us(floor: datetime, max_ahead_s: float) -> tuple[int, int]:
    return AdmissionConfig(floor=floor, max_ahead_s=max_ahead_s).floor_us, round(max_ahead_s * 1_000_000)


@lru_cache(maxsize=64)
def bounds_us(config: AdmissionConfig) -> tuple[int, int, int]:
    """(floor, max ahead, max jump) in µs: what the per-event fast paths compare with (the runtime, the merges)."""
    return config.floor_us, config.max_ahead_us, config.max_jump_us


def time_violation(t_us: int, produced_us: int | None, config: AdmissionConfig) -> Violation | None:
    """The event-time check of a door (``produced_us`` = now) or of a stamped event in the runtime."""
    floor_us, max_ahead_us = _bounds_us(config.floor, config.max_ahead_s)  # cached: this runs per row
    if t_us < floor_us:
        return Violation("event_time", f"{iso(t_us)} is before the floor {iso(floor_us)}")
    if produced_us is not None and t_us > produced_us + max_ahead_us:
        return Violation("event_time", f"{iso(t_us)} is {(t_us - produced_us) / 1e6:,.0f} s ahead of the time it "
                                       f"was produced ({iso(produced_us)}; bound {config.max_ahead_s:g} s)")
    return None


def jump_violation(t_us: int, clock_us: int | None, config: AdmissionConfig) -> Violation | None:
    """The runtime's check of an unstamped event: how far ahead of its partition's clock it is."""
    if clock_us is not None and t_us > clock_us + config.max_jump_us:
        return Violation("event_time", f"{iso(t_us)} is {(t_us - clock_us) / 86_400e6:,.1f} days ahead of its "
                                       f"partition's clock ({iso(clock_us)}; bound {config.max_jump_s:g} s)")
    return None


# ---------------------------------------------------------------------------------------------- domain
def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Decimal):
        return value.is_finite()
    return True


_PLAIN = frozenset({str, int, bool, bytes, type(None)})  # never a non-finite number, nothing inside
_ORDINARY = frozenset({float, int})  # compared directly (a Decimal NaN raises when compared)


def _non_finite(record: Any, path: str, out: list[Violation]) -> None:
    if isinstance(record, dict):
        for name, value in record.items():
            kind = type(value)  # the common cases first, without building the field's path (per row at a door)
            if kind is float:
                if value - value == 0.0:  # finite (NaN and ±inf give NaN)
                    continue
            elif kind in _PLAIN:
                continue
            if not name.startswith("_"):
                _non_finite(value, f"{path}.{name}" if path else name, out)
    elif isinstance(record, list):
        for i, value in enumerate(record):
            _non_finite(value, f"{path}[{i}]", out)
    elif not _finite(record):
        out.append(Violation(path, f"{record} is not a finite number"))


class _Order(NamedTuple):
    """``low <= high`` (both present and finite), else the message ``says(low, high)`` on ``low``."""

    low: str
    high: str
    says: Callable[[Any, Any], str]


class _Rules(NamedTuple):
    """The domain rules of one record type, as data: :func:`domain_violations` checks one record with
    them and :func:`batch_admitted` a columnar batch, so the two cannot disagree."""

    positive: tuple[str, ...] = ()  # > 0 when present (null: no value, nothing to check)
    not_negative: tuple[str, ...] = ()  # >= 0 when present
    ordered: tuple[_Order, ...] = ()
    rows: _Rules | None = None  # the rules of each item of the ``rows`` array


_RULES: dict[str, _Rules] = {
    "PriceTick": _Rules(
        positive=("bid", "ask", "last"),
        not_negative=("volume", "sequence"),
        ordered=(_Order("bid", "ask", lambda bid, ask: f"crossed quote: bid {bid} > ask {ask}"),),
    ),
    "BackfillComplete": _Rules(
        not_negative=("tick_count",),
        ordered=(_Order("start", "end", lambda start, end: f"{iso(start)} is after end {iso(end)}"),),
    ),
    # A listing's price of 0 is what a retailer's page showed (a glitch the retail pipeline exists to
    # report, processors/retail/glitches.py non_positive_price), not a corrupt record: >= 0, not > 0.
    "RetailListing": _Rules(not_negative=("price_normal", "price_offer", "price_card", "rating", "reviews_count")),
    "ScanSnapshot": _Rules(
        rows=_Rules(
            positive=("price", "prev_close", "high", "low"),
            not_negative=("volume", "avg_volume", "relative_volume", "market_cap", "float_shares"),
        )
    ),
    "OrderSubmitted": _Rules(positive=("quantity", "price")),
    "OrderFilled": _Rules(positive=("fill_price", "fill_quantity")),
    "OrderAccepted": _Rules(not_negative=("ack_latency_ms",)),
    "VenueHealth": _Rules(not_negative=("latency_ms",)),
    "DailyBar": _Rules(
        positive=("open", "high", "low", "close", "split_ratio"),
        not_negative=("volume", "dividend"),
        ordered=(_Order("low", "high", lambda low, high: f"low {low} > high {high}"),),
    ),
    "SentimentScore": _Rules(not_negative=("articles",)),
}


def _apply(rules: _Rules, r: dict[str, Any], out: list[Violation], prefix: str = "") -> None:
    # A non-finite value breaks only the finite rule (reported by _non_finite). The common case, a
    # plain number that passes, is answered by one comparison (this runs per row at a door).
    for name in rules.positive:
        value = r.get(name)
        if value is None or (type(value) in _ORDINARY and value > 0):
            continue
        if _finite(value) and not value > 0:
            out.append(Violation(prefix + name, f"{value} must be > 0"))
    for name in rules.not_negative:
        value = r.get(name)
        if value is None or (type(value) in _ORDINARY and value >= 0):
            continue
        if _finite(value) and value < 0:
            out.append(Violation(prefix + name, f"{value} must be >= 0"))
    for order in rules.ordered:
        low, high = r.get(order.low), r.get(order.high)
        if low is not None and high is not None and _finite(low) and _finite(high) and low > high:
            out.append(Violation(prefix + order.low, order.says(low, high)))
    if rules.rows is not None:
        for i, row in enumerate(r.get("rows") or ()):
            if isinstance(row, dict):
                _apply(rules.rows, row, out, f"{prefix}rows[{i}].")


def domain_violations(schema: str, record: dict[str, Any]) -> list[Violation]:
    """Every rule the record breaks (empty: admitted). ``schema`` is the record's name (namespace optional)."""
    out: list[Violation] = []
    _non_finite(record, "", out)
    rules = _RULES.get(schema.rpartition(".")[2])
    if rules is not None:
        _apply(rules, record, out)
    return out


def violations(schema: str, record: dict[str, Any], now_us: int, config: AdmissionConfig) -> list[Violation]:
    """A door's whole check of one record at wall-clock time ``now_us``: its event time, then its domain."""
    out = domain_violations(schema, record)
    t = record.get("event_time")
    if isinstance(t, int):
        bad = time_violation(t, now_us, config)
        if bad is not None:
            out.insert(0, bad)
    return out


# ---------------------------------------------------------------------------------------------- batches
Column = tuple[Any, Any]  # (numpy array of a field's values, numpy bool array of its non-null rows or None)


def _flagged(bad: Any, *valid: Any) -> bool:
    for mask in valid:
        if mask is not None:
            bad = bad & mask
    return bool(bad.any())


def batch_admitted(schema: str, columns: Mapping[str, Column], now_us: int, config: AdmissionConfig) -> bool:
    """Whether :func:`violations` admits every row of a columnar batch of one record type (the producer's
    Parquet fast path), by a few numpy operations per rule: the same bounds and rules, over whole columns.

    ``columns`` maps each numeric field of the batch to ``(values, valid)``: its values as a numpy array
    (nulls may hold anything, e.g. NaN) and which rows are not null (None: no nulls). It must hold
    ``event_time``; a field absent from the batch takes its schema default, and no default breaks a rule.
    False says nothing about which row: the caller then checks the batch row by row, which names it."""
    event_time = columns.get("event_time")
    if event_time is None:
        return False
    t = event_time[0]
    if len(t) and (_flagged(t < config.floor_us, event_time[1])
                   or _flagged(t > now_us + config.max_ahead_us, event_time[1])):
        return False
    for values, valid in columns.values():
        if values.dtype.kind == "f" and _flagged(~np.isfinite(values), valid):
            return False
    rules = _RULES.get(schema.rpartition(".")[2])
    if rules is None:
        return True
    if rules.rows is not None:
        return False  # nested records: only the row check sees them
    for name in rules.positive:
        column = columns.get(name)
        if column is not None and _flagged(~(column[0] > 0), column[1]):
            return False
    for name in rules.not_negative:
        column = columns.get(name)
        if column is not None and _flagged(column[0] < 0, column[1]):
            return False
    for order in rules.ordered:
        low, high = columns.get(order.low), columns.get(order.high)
        if low is not None and high is not None and _flagged(low[0] > high[0], low[1], high[1]):
            return False
    return True

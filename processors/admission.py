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

Domain rules (:func:`domain_violations`): no NaN or infinity anywhere, prices > 0, a quote's bid ≤ ask,
volumes and quantities ≥ 0 (order quantities > 0), latencies ≥ 0, a range's start ≤ end.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

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


def time_violation(t_us: int, produced_us: int | None, config: AdmissionConfig) -> Violation | None:
    """The event-time check of a door (``produced_us`` = now) or of a stamped event in the runtime."""
    if t_us < config.floor_us:
        return Violation("event_time", f"{iso(t_us)} is before the floor {iso(config.floor_us)}")
    if produced_us is not None and t_us > produced_us + config.max_ahead_us:
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


def _non_finite(record: Any, path: str, out: list[Violation]) -> None:
    if isinstance(record, dict):
        for name, value in record.items():
            if not name.startswith("_"):
                _non_finite(value, f"{path}.{name}" if path else name, out)
    elif isinstance(record, list):
        for i, value in enumerate(record):
            _non_finite(value, f"{path}[{i}]", out)
    elif not _finite(record):
        out.append(Violation(path, f"{record} is not a finite number"))


def _positive(record: dict[str, Any], names: tuple[str, ...], out: list[Violation], prefix: str = "") -> None:
    for name in names:
        value = record.get(name)
        if value is not None and _finite(value) and not value > 0:
            out.append(Violation(prefix + name, f"{value} must be > 0"))


def _not_negative(record: dict[str, Any], names: tuple[str, ...], out: list[Violation], prefix: str = "") -> None:
    for name in names:
        value = record.get(name)
        if value is not None and _finite(value) and value < 0:
            out.append(Violation(prefix + name, f"{value} must be >= 0"))


def _price_tick(r: dict[str, Any], out: list[Violation]) -> None:
    _positive(r, ("bid", "ask", "last"), out)
    _not_negative(r, ("volume", "sequence"), out)
    bid, ask = r.get("bid"), r.get("ask")
    if bid is not None and ask is not None and _finite(bid) and _finite(ask) and bid > ask:
        out.append(Violation("bid", f"crossed quote: bid {bid} > ask {ask}"))


def _range(r: dict[str, Any], out: list[Violation]) -> None:
    if r["start"] > r["end"]:
        out.append(Violation("start", f"{iso(r['start'])} is after end {iso(r['end'])}"))
    _not_negative(r, ("tick_count",), out)


def _listing(r: dict[str, Any], out: list[Violation]) -> None:
    _positive(r, ("price_normal", "price_offer", "price_card"), out)
    _not_negative(r, ("rating", "reviews_count"), out)


def _scan(r: dict[str, Any], out: list[Violation]) -> None:
    for i, row in enumerate(r.get("rows") or ()):
        if isinstance(row, dict):
            _positive(row, ("price", "prev_close", "high", "low"), out, f"rows[{i}].")
            _not_negative(row, ("volume", "avg_volume", "relative_volume", "market_cap", "float_shares"), out,
                          f"rows[{i}].")


def _submitted(r: dict[str, Any], out: list[Violation]) -> None:
    _positive(r, ("quantity", "price"), out)


def _filled(r: dict[str, Any], out: list[Violation]) -> None:
    _positive(r, ("fill_price", "fill_quantity"), out)


def _health(r: dict[str, Any], out: list[Violation]) -> None:
    _not_negative(r, ("latency_ms",), out)


def _accepted(r: dict[str, Any], out: list[Violation]) -> None:
    _not_negative(r, ("ack_latency_ms",), out)


_RULES = {
    "PriceTick": _price_tick,
    "BackfillComplete": _range,
    "RetailListing": _listing,
    "ScanSnapshot": _scan,
    "OrderSubmitted": _submitted,
    "OrderFilled": _filled,
    "OrderAccepted": _accepted,
    "VenueHealth": _health,
}


def domain_violations(schema: str, record: dict[str, Any]) -> list[Violation]:
    """Every rule the record breaks (empty: admitted). ``schema`` is the record's name (namespace optional)."""
    out: list[Violation] = []
    _non_finite(record, "", out)
    rule = _RULES.get(schema.rpartition(".")[2])
    if rule is not None:
        rule(record, out)
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

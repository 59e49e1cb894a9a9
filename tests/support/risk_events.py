"""Builders of the risk pipeline's input events (wire form, through the file coercer) for the risk tests,
and the checks that they and every output record fit their contracts."""

from __future__ import annotations

from typing import Any

from processors.core import Emit, Record
from processors.risk import InProcessRisk, RiskConfig
from schemas.loader import load_schemas
from streams.codec.coerce import record_coercer
from streams.codec.serde import AvroSerde

T0 = 1_795_132_800_000_000  # 2026-11-20T00:00:00Z
S = 1_000_000  # µs per second
MS = 1_000
Event = tuple[str, Record]

_SCHEMAS = load_schemas()
_COERCERS: dict[str, Any] = {}
_SERDE = AvroSerde()
_seq = [0]


def wire(name: str, **fields: Any) -> Event:
    coerce = _COERCERS.get(name)
    if coerce is None:
        coerce = _COERCERS[name] = record_coercer(_SCHEMAS[name])
    return name, coerce(fields)


def tick(t: int, bid: float | None, ask: float | None, *, venue: str = "binance", symbol: str = "BTC/USDT",
         last: float | None = None, event_id: str | None = None, backfill_id: str | None = None) -> Event:
    _seq[0] += 1
    return wire("PriceTick", event_id=event_id or f"{venue}:{symbol}:{_seq[0]}", event_time=t, venue=venue,
                symbol=symbol, bid=bid, ask=ask, last=last, sequence=_seq[0], backfill_id=backfill_id)


def probe(t: int, latency_ms: float, ok: bool = True, *, venue: str = "binance", error: str | None = None) -> Event:
    return wire("VenueHealth", event_id=f"{venue}:ping:{t}", event_time=t, venue=venue, latency_ms=latency_ms, ok=ok,
                error=error if error is not None or ok else "HTTP 503")


def heartbeat(t: int, source: str = "binance:BTC/USDT") -> Event:
    return wire("Heartbeat", event_id=f"hb:{source}:{t}", event_time=t, source=source)


def _order(name: str, t: int, coid: str, kind: str, venue: str, symbol: str, account: str, **fields: Any) -> Event:
    return wire(name, event_id=f"{coid}:{kind}:{t}", event_time=t, account=account, venue=venue, symbol=symbol,
                client_order_id=coid, **fields)


def submitted(t: int, coid: str, side: str, quantity: str, price: str | None = None, *, order_type: str = "LIMIT",
              venue: str = "binance", symbol: str = "BTC/USDT", account: str = "mm-1",
              reduce_only: bool = False) -> Event:
    return _order("OrderSubmitted", t, coid, "submitted", venue, symbol, account, side=side, order_type=order_type,
                  price=price, quantity=quantity, reduce_only=reduce_only, strategy="test")


def accepted(t: int, coid: str, ack_latency_ms: float | None = 20.0, *, venue: str = "binance",
             symbol: str = "BTC/USDT", account: str = "mm-1") -> Event:
    return _order("OrderAccepted", t, coid, "accepted", venue, symbol, account, venue_order_id=f"v-{coid}",
                  ack_latency_ms=ack_latency_ms)


def rejected(t: int, coid: str, reason: str = "RATE_LIMIT", *, by: str = "VENUE", venue: str = "binance",
             symbol: str = "BTC/USDT", account: str = "mm-1") -> Event:
    return _order("OrderRejected", t, coid, "rejected", venue, symbol, account, rejected_by=by, reason=reason)


def filled(t: int, coid: str, side: str, price: str, quantity: str, fee: str = "0", *, venue: str = "binance",
           symbol: str = "BTC/USDT", account: str = "mm-1", trade: str | None = None) -> Event:
    return _order("OrderFilled", t, coid, f"filled-{trade or t}", venue, symbol, account, venue_order_id=f"v-{coid}",
                  trade_id=trade or f"tr-{coid}-{t}", side=side, fill_price=price, fill_quantity=quantity, fee=fee,
                  fee_currency="USDT", liquidity="MAKER")


def canceled(t: int, coid: str, *, venue: str = "binance", symbol: str = "BTC/USDT", account: str = "mm-1") -> Event:
    return _order("OrderCanceled", t, coid, "canceled", venue, symbol, account, venue_order_id=f"v-{coid}",
                  reason="QUOTE_REFRESH")


def encode_all(emits: list[Emit]) -> None:
    """Every output encodes with its contract (raises naming the field otherwise)."""
    for e in emits:
        _SERDE.encode(e.schema, e.record)


class Run:
    """Both risk stages in-process (one partition unless told), collecting every output."""

    def __init__(self, config: RiskConfig | None = None, partitions: int = 1):
        self.risk = InProcessRisk(config or RiskConfig(), partitions)
        self.out: list[Emit] = []

    def __call__(self, *events: Event) -> list[Emit]:
        got: list[Emit] = []
        for schema, record in events:
            got.extend(self.risk.feed(schema, record))
        self.out.extend(got)
        encode_all(got)
        return got

    def records(self, schema: str, emits: list[Emit] | None = None) -> list[Record]:
        return [e.record for e in (self.out if emits is None else emits) if e.schema == schema]

    def transitions(self, emits: list[Emit] | None = None) -> list[tuple[str, str, str, int]]:
        """(breaker:scope, from, to, event_time) of the BreakerTransitions."""
        return [(f"{r['breaker']}:{r['scope']}", r["from_state"], r["to_state"], r["event_time"])
                for r in self.records("BreakerTransition", emits)]


def command(t: int, kind: str, key: str, *, venue: str = "binance", actor: str = "ops", **params: str) -> Event:
    """An operator's command to the risk pipeline (what gateway/commands.py writes to risk.commands.v1)."""
    return wire("Command", event_id=f"cmd:{key}", event_time=t, idempotency_key=key, actor=actor, kind=kind,
                owner="risk", target=venue, params=params, body_sha256="0" * 64)

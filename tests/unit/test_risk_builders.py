"""The risk tests' event builders (tests/support/risk_events.py) make records that fit their contracts."""

from __future__ import annotations

from decimal import Decimal

from tests.support.risk_events import (
    _SERDE,
    T0,
    accepted,
    canceled,
    filled,
    heartbeat,
    probe,
    rejected,
    submitted,
    tick,
)


def test_builders_make_records_that_fit_their_contracts() -> None:
    events = [
        tick(T0, 100.0, 100.1), tick(T0, None, None, last=100.05), probe(T0, 12.5), probe(T0, 2000.0, ok=False),
        heartbeat(T0), submitted(T0, "c1", "BUY", "0.5", "100"), submitted(T0, "c2", "SELL", "1", order_type="MARKET"),
        accepted(T0, "c1"), rejected(T0, "c1"), filled(T0, "c1", "BUY", "100", "0.25", "-0.01"), canceled(T0, "c1"),
    ]
    for name, record in events:
        schema, back = _SERDE.decode(_SERDE.encode(name, record))
        assert schema.name == name and back == record
    assert events[5][1]["quantity"] == Decimal("0.5")

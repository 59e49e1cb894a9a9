"""The ccxt execution adapter without Kafka: its pure parts, then the adapter itself against a local server
speaking Binance's spot order API (streams/feeds/loopback.py) — fills, partial fills, a rejection for
insufficient balance, a 429 then success, a timeout after the exchange took the order, a restart in the middle
of an order, cancel on shutdown. The Kafka side (events and offsets in one transaction, kill -9) is in
tests/integration/test_execution_kafka.py."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.codec.serde import AvroSerde
from streams.execution.ccxt_venue import CcxtExecution
from streams.execution.orders import (
    FINAL,
    RETRY,
    OrderBook,
    TrackedOrder,
    accepted,
    canceled,
    classify,
    filled,
    rejected,
    venue_client_order_id,
)
from streams.feeds.core import Backoff
from streams.feeds.loopback import FakeBinance

BINANCE_COID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


# ---------------------------------------------------------------------- pure parts
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=80))
def test_the_client_order_id_is_derived_from_the_order_and_fits_binance(account: str, coid: str) -> None:
    out = venue_client_order_id(account, coid)
    assert out == venue_client_order_id(account, coid)
    assert BINANCE_COID.match(out) and len(out) == 32
    assert out != venue_client_order_id(account + "x", coid)
    assert out != venue_client_order_id(account, coid + "x")


def test_the_client_order_id_does_not_confuse_the_account_and_the_order() -> None:
    assert venue_client_order_id("ab", "c") != venue_client_order_id("a", "bc")


@pytest.mark.parametrize(("exc", "kind", "reason", "ambiguous", "rate_limited"), [
    (ccxt.RequestTimeout("t"), RETRY, "RequestTimeout", True, False),
    (ccxt.NetworkError("n"), RETRY, "NetworkError", True, False),
    (ccxt.RateLimitExceeded("r"), RETRY, "RateLimitExceeded", False, True),
    (ccxt.DDoSProtection("d"), RETRY, "DDoSProtection", False, True),
    (ccxt.OnMaintenance("m"), RETRY, "OnMaintenance", False, False),
    (ccxt.InsufficientFunds("f"), FINAL, "INSUFFICIENT_FUNDS", False, False),
    (ccxt.OrderImmediatelyFillable("p"), FINAL, "WOULD_TAKE", False, False),
    (ccxt.OrderNotFound("o"), FINAL, "INVALID_ORDER", False, False),
    (ccxt.InvalidOrder("i"), FINAL, "INVALID_ORDER", False, False),
    (ccxt.BadSymbol("s"), FINAL, "BAD_SYMBOL", False, False),
    (ccxt.AuthenticationError("a"), FINAL, "AUTHENTICATION", False, False),
    (ccxt.ExchangeError("e"), FINAL, "EXCHANGE_ERROR", False, False),
    (ValueError("a parser bug"), RETRY, "ValueError", True, False),
])
def test_ccxt_errors_are_retried_or_final(exc: Exception, kind: str, reason: str, ambiguous: bool,
                                          rate_limited: bool) -> None:
    c = classify(exc)
    assert (c.kind, c.reason, c.ambiguous, c.rate_limited) == (kind, reason, ambiguous, rate_limited)
    assert c.message.startswith(type(exc).__name__ + ": ")


def _order() -> TrackedOrder:
    return TrackedOrder("acc", "binance", "BTC/USDT", "o-1", venue_client_order_id("acc", "o-1"), "SELL", "42")


def test_lifecycle_records_fit_their_schemas_with_deterministic_ids() -> None:
    serde = AvroSerde()
    order = _order()
    trade = {"id": "77", "timestamp": 1_700_000_000_123, "price": 101.5, "amount": 0.25, "order": "42",
             "fee": {"cost": 0.0253750, "currency": "USDT"}, "takerOrMaker": "maker"}
    events = [accepted(order, 5, "42", 3.5, 9), filled(order, trade, 9), canceled(order, 6, "shutdown", 9),
              rejected(order, 7, "INSUFFICIENT_FUNDS", "no money", 9)]
    for event in events:
        schema, back = serde.decode(serde.encode(event.schema, event.record))
        assert schema.fullname == f"mercado.trading.{event.schema}" and back == event.record
        assert event.key == "binance:BTC/USDT"
    fill = events[1].record
    assert fill["event_id"] == f"exec:binance:{order.venue_coid}:fill:77"
    assert fill["event_time"] == 1_700_000_000_123_000
    assert (fill["fill_price"], fill["fill_quantity"], fill["fee"]) == (
        Decimal("101.500000000000"), Decimal("0.250000000000"), Decimal("0.025375000000"))
    assert (fill["side"], fill["liquidity"], fill["fee_currency"]) == ("SELL", "MAKER", "USDT")
    assert events[0].record["event_id"] == f"exec:binance:{order.venue_coid}:accepted"
    assert events[3].record["rejected_by"] == "VENUE"
    assert filled(order, trade, 1).record == filled(order, trade, 2).record  # the same trade, the same record


def test_the_book_is_rebuilt_from_the_records_it_wrote() -> None:
    order = _order()
    other = TrackedOrder("acc", "binance", "BTC/USDT", "o-2", venue_client_order_id("acc", "o-2"), "BUY", "43")
    trade = {"id": "77", "timestamp": 1, "price": 1, "amount": 1, "fee": None}
    book = OrderBook("binance")
    for event in [accepted(order, 1, "42", None, 1), filled(order, trade, 1), accepted(other, 1, "43", None, 1),
                  canceled(other, 2, None, 2)]:
        book.restore(event.schema, event.record)
    book.restore("OrderAccepted", {**accepted(order, 1, "42", None, 1).record, "event_id": "paper:x:accepted"})
    restored = book.get(order.venue_coid)
    assert restored is not None and restored.venue_order_id == "42" and restored.fills == {"77"}
    assert restored.side == "SELL" and restored.client_order_id == "o-1"
    assert [o.client_order_id for o in book.open_orders()] == ["o-1"]  # o-2 was canceled
    assert len(book.orders) == 2  # a record of another writer is not ours


# ---------------------------------------------------------------------- the adapter against a local exchange
def approval(coid: str, qty: str = "0.5", price: str | None = "100", side: str = "BUY") -> dict[str, Any]:
    return {"event_id": f"risk:{coid}", "event_time": 1, "account": "acc", "venue": "binance", "symbol": "BTC/USDT",
            "client_order_id": coid, "side": side, "quantity": Decimal(qty),
            "price": Decimal(price) if price is not None else None}


@pytest.fixture
async def exchange(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MERCADO_VENUE_BINANCE_API_KEY", "test-key")
    monkeypatch.setenv("MERCADO_VENUE_BINANCE_SECRET", "test-secret")
    server = FakeBinance()
    url = await server.start()
    adapters: list[CcxtExecution] = []

    async def adapter(timeout_s: float = 5.0) -> CcxtExecution:
        # a generous request timeout: a loaded machine must not turn a slow answer into "venue unreachable"
        # (seen once: an extra VenueHealth event); the test of a timeout asks for a short one
        venue = CcxtExecution("binance", api_url=url + "/api/v3", timeout_s=timeout_s, backoff=Backoff(0.01, 0.05))
        await venue.connect()
        adapters.append(venue)
        return venue

    yield server, adapter
    for venue in adapters:
        await venue.close()
    await server.stop()


def _kinds(venue: CcxtExecution) -> list[str]:
    return [e.schema for e in venue.pending]


def _posts(server: FakeBinance) -> list[str]:
    return [r for r in server.requests if r.startswith("POST")]


async def test_an_order_is_accepted_then_filled_in_parts(exchange: Any) -> None:
    server, make = exchange
    venue = await make()
    assert await venue.submit(approval("o1", qty="0.5", price="100"), maybe_placed=False)
    coid = venue_client_order_id("acc", "o1")
    assert _posts(server) == [f"POST /api/v3/order {coid}"]  # the derived id is the exchange's client id
    server.fill(coid, 0.2, 99.5)
    await venue.follow_open()
    await venue.follow_open()  # nothing new: nothing written
    server.fill(coid, 0.3, 99.75, maker=True)
    await venue.follow_open()
    assert _kinds(venue) == ["OrderAccepted", "OrderFilled", "OrderFilled"]
    ack, first, second = (e.record for e in venue.pending)
    assert ack["venue_order_id"] == "1" and ack["client_order_id"] == "o1" and ack["ack_latency_ms"] > 0
    assert (first["fill_quantity"], first["fill_price"], first["liquidity"]) == (
        Decimal("0.2"), Decimal("99.5"), "TAKER")
    assert (second["fill_quantity"], second["fee"], second["liquidity"]) == (
        Decimal("0.3"), Decimal("0.02992500"), "MAKER")
    assert first["side"] == "BUY" and first["trade_id"] != second["trade_id"]
    assert venue.book.open_orders() == []  # filled: no longer followed


async def test_insufficient_balance_is_a_venue_rejection_with_its_reason(exchange: Any) -> None:
    server, make = exchange
    venue = await make()
    server.quote_balance = 10.0
    assert await venue.submit(approval("o2", qty="1", price="100"), maybe_placed=False)
    [event] = venue.pending
    assert event.schema == "OrderRejected"
    assert (event.record["rejected_by"], event.record["reason"]) == ("VENUE", "INSUFFICIENT_FUNDS")
    assert "insufficient balance" in event.record["message"]
    assert await venue.submit(approval("o2", qty="1", price="100"), maybe_placed=False)  # read again: decided
    assert len(venue.pending) == 1 and len(_posts(server)) == 1


async def test_a_rate_limit_is_retried_and_reported_as_a_failed_request(exchange: Any) -> None:
    server, make = exchange
    venue = await make()
    server.order_faults.append("429")
    assert await venue.submit(approval("o3"), maybe_placed=False)
    assert _kinds(venue) == ["VenueHealth", "OrderAccepted"]
    health = venue.pending[0].record
    assert (health["probe"], health["ok"]) == ("order", False) and "429" in health["error"]
    assert len(server.orders) == 1 and len(_posts(server)) == 2
    # a rate limit is a refusal before the exchange acted: no lookup was needed before sending again
    assert not any(r.startswith("GET /api/v3/order") for r in server.requests)


async def test_a_timeout_after_the_exchange_took_the_order_never_places_it_twice(exchange: Any) -> None:
    server, make = exchange
    venue = await make(timeout_s=0.5)
    server.order_faults.append("stall")
    server.stall_s = 1.0  # longer than the client's 0.5 s timeout
    assert await venue.submit(approval("o4"), maybe_placed=False)
    coid = venue_client_order_id("acc", "o4")
    assert len(server.orders) == 1 and _posts(server) == [f"POST /api/v3/order {coid}"]
    assert f"GET /api/v3/order {coid}" in server.requests  # found by its client order id
    assert _kinds(venue) == ["VenueHealth", "OrderAccepted"]
    assert "RequestTimeout" in venue.pending[0].record["error"]
    assert venue.pending[1].record["venue_order_id"] == "1"


async def test_a_restart_mid_order_finds_the_order_and_writes_nothing_twice(exchange: Any) -> None:
    server, make = exchange
    first = await make()
    assert await first.submit(approval("o5"), maybe_placed=False)
    assert await first.submit(approval("o6"), maybe_placed=False)
    coid5, coid6 = venue_client_order_id("acc", "o5"), venue_client_order_id("acc", "o6")
    server.fill(coid5, 0.1, 100.0)
    await first.follow_open()
    # crash: the records of o5 were committed, those of o6 were not (its decision is read again)
    committed = [e for e in first.pending if coid5 in e.record["event_id"]]
    server.fill(coid5, 0.4, 100.0)  # meanwhile o5 fills completely, o6 partly
    server.fill(coid6, 0.2, 101.0)
    second = await make()
    for event in committed:
        second.book.restore(event.schema, event.record)
    assert await second.submit(approval("o5"), maybe_placed=True)  # acted on and written: nothing
    assert await second.submit(approval("o6"), maybe_placed=True)  # acted on, not written: found, accepted
    await second.follow_open()
    assert len(server.orders) == 2 and len(_posts(server)) == 2  # no second order
    written = [(e.schema, e.record["client_order_id"]) for e in second.pending]
    assert written == [("OrderAccepted", "o6"), ("OrderFilled", "o5"), ("OrderFilled", "o6")]
    ids = [e.record["event_id"] for e in committed + second.pending]
    assert len(ids) == len(set(ids))


async def test_cancel_on_shutdown_cancels_open_orders_and_writes_their_last_fills(exchange: Any) -> None:
    server, make = exchange
    venue = await make()
    assert await venue.submit(approval("o7"), maybe_placed=False)
    assert await venue.submit(approval("o8", price=None, side="SELL"), maybe_placed=False)  # market: fills at once
    server.fill(venue_client_order_id("acc", "o7"), 0.1, 100.0)
    await venue.cancel_open()
    written = [(e.schema, e.record["client_order_id"]) for e in venue.pending]
    assert written == [("OrderAccepted", "o7"), ("OrderAccepted", "o8"), ("OrderFilled", "o7"),
                       ("OrderCanceled", "o7"), ("OrderFilled", "o8")]
    assert venue.pending[3].record["reason"] == "shutdown"
    assert [o["status"] for o in server.orders] == ["CANCELED", "FILLED"]
    # o8 had filled before the adapter looked: its cancel is refused ("Unknown order sent."), and it is followed
    assert [r for r in server.requests if r.startswith("DELETE")] == ["DELETE /api/v3/order 1",
                                                                       "DELETE /api/v3/order 2"]
    assert not any(e.schema == "VenueHealth" for e in venue.pending)  # a refused cancel is no failed request
    assert venue.pending[4].record["side"] == "SELL"


async def test_the_risk_pipelines_error_rate_breaker_opens_on_what_the_adapter_writes(exchange: Any) -> None:
    """The adapter's records are what the risk processor's error-rate breaker counts: acceptances as successes,
    venue rejections and failed requests as failures."""
    from processors.risk.processor import VenueRiskProcessor

    server, make = exchange
    venue = await make()
    for i in range(8):
        assert await venue.submit(approval(f"ok{i}"), maybe_placed=False)
    server.quote_balance = 0.0
    server.order_faults.append("429")  # a failed request first (retried at least 1 s later), then refusals
    for i in range(4):
        assert await venue.submit(approval(f"broke{i}"), maybe_placed=False)
    kinds = _kinds(venue)
    assert kinds.count("OrderAccepted") == 8 and kinds.count("OrderRejected") == 4 and kinds.count("VenueHealth") == 1
    risk = VenueRiskProcessor("binance")
    out = [emit for event in venue.pending for emit in risk.on_event(event.schema, event.record)]
    opened = [e.record for e in out if e.schema == "BreakerTransition" and e.record["to_state"] == "OPEN"]
    assert [(r["breaker"], r["venue"]) for r in opened] == [("ERROR_RATE", "binance")]
    # 8 successes, then failures: the 10th sample is the first observation (2/10 = 20 % > 10 %), the 12th the
    # third violation in a row, which opens it
    assert opened[0]["caused_by"] == venue.pending[11].record["event_id"]


async def test_an_order_is_followed_until_its_trades_cover_what_it_filled(exchange: Any) -> None:
    server, make = exchange
    venue = await make()
    assert await venue.submit(approval("o9"), maybe_placed=False)
    server.trades_visible = False  # the order says FILLED before its trade list shows the trade
    server.fill(venue_client_order_id("acc", "o9"), 0.5, 100.0)
    await venue.follow_open()
    assert _kinds(venue) == ["OrderAccepted"] and len(venue.book.open_orders()) == 1  # still followed
    server.trades_visible = True
    await venue.follow_open()
    assert _kinds(venue) == ["OrderAccepted", "OrderFilled"] and venue.book.open_orders() == []


def cancel_request(coid: str) -> dict[str, Any]:
    return {"event_id": f"risk:cancel:cmd:{coid}", "event_time": 2, "account": "acc", "venue": "binance",
            "symbol": "BTC/USDT", "client_order_id": coid, "requested_by": "ops", "caused_by": f"cmd:{coid}"}


async def test_an_operators_cancel_cancels_the_rest_on_the_exchange_after_its_last_fills(exchange: Any) -> None:
    server, make = exchange
    venue = await make()
    assert await venue.submit(approval("c1", qty="0.5", price="100"), maybe_placed=False)
    server.fill(venue_client_order_id("acc", "c1"), 0.2, 100.0)  # a partial fill not followed yet
    assert await venue.cancel(cancel_request("c1"))
    assert [r for r in server.requests if r.startswith("DELETE")] == ["DELETE /api/v3/order 1"]
    assert server.orders[0]["status"] == "CANCELED" and server.orders[0]["executedQty"] == "0.20000000"
    written = [(e.schema, e.record["client_order_id"]) for e in venue.pending]
    assert written == [("OrderAccepted", "c1"), ("OrderFilled", "c1"), ("OrderCanceled", "c1")]
    fill, canceled = venue.pending[1].record, venue.pending[2].record
    assert fill["fill_quantity"] == Decimal("0.2")
    coid = venue_client_order_id("acc", "c1")
    assert (canceled["event_id"], canceled["venue_order_id"], canceled["reason"]) == (
        f"exec:binance:{coid}:canceled", "1", "USER")
    assert venue.book.open_orders() == []
    assert await venue.cancel(cancel_request("c1"))  # read again (a restart): done, nothing asked or written
    assert len([r for r in server.requests if r.startswith("DELETE")]) == 1 and len(venue.pending) == 3


async def test_a_cancel_of_a_filled_or_unknown_order_writes_no_cancellation(exchange: Any) -> None:
    server, make = exchange
    venue = await make()
    assert await venue.submit(approval("c2", qty="0.5", price="100"), maybe_placed=False)
    server.fill(venue_client_order_id("acc", "c2"), 0.5, 100.0)  # filled before the adapter looked
    assert await venue.cancel(cancel_request("c2"))  # refused by the exchange ("Unknown order sent."): followed
    assert [(e.schema, e.record["client_order_id"]) for e in venue.pending] == [
        ("OrderAccepted", "c2"), ("OrderFilled", "c2")]
    assert not any(e.schema == "VenueHealth" for e in venue.pending)  # a refused cancel is no failed request
    assert await venue.cancel(cancel_request("never-placed"))  # not this adapter's: nothing asked
    assert [r for r in server.requests if r.startswith("DELETE")] == ["DELETE /api/v3/order 1"]


async def test_a_cancel_that_fails_is_retried(exchange: Any) -> None:
    server, make = exchange
    venue = await make()
    assert await venue.submit(approval("c3"), maybe_placed=False)
    real = venue.client.cancel_order
    calls = []

    async def flaky(*args: Any, **kwargs: Any) -> Any:  # the first request times out before reaching the exchange
        calls.append(args)
        if len(calls) == 1:
            raise ccxt.RequestTimeout("binance GET timed out")
        return await real(*args, **kwargs)

    venue.client.cancel_order = flaky
    assert await venue.cancel(cancel_request("c3"))
    assert _kinds(venue) == ["OrderAccepted", "VenueHealth", "OrderCanceled"]
    health = venue.pending[1].record
    assert (health["probe"], health["ok"]) == ("order", False) and "cancel_order: RequestTimeout" in health["error"]
    assert len(calls) == 2 and server.orders[0]["status"] == "CANCELED"

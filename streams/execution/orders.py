"""The pure parts of the execution adapter: no I/O, no wall clock (every time is an argument).

* :func:`venue_client_order_id` — the client order id sent to the exchange, derived from the order: the
  same approval always gets the same id, so a retry or a restarted adapter finds the order it may already
  have placed instead of placing it again;
* :func:`classify` — ccxt's exception hierarchy split into *retry* (the request may not have arrived, or the
  exchange asked to slow down) and *final* (the exchange refused the order: an ``OrderRejected`` with a reason);
* the lifecycle records (``OrderAccepted``, ``OrderFilled``, ``OrderCanceled``, ``OrderRejected`` on
  ``trading.orders.v1``) with deterministic event ids, so a record written twice is the same record;
* :class:`OrderBook` — what the adapter placed and already wrote, rebuilt at start from its own records.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from processors import topics
from processors.risk.exact import wire
from streams.feeds.core import FeedEvent

Record = dict[str, Any]

# Binance's newClientOrderId: ^[.A-Z:/a-z0-9_-]{1,36}$; most exchanges accept 32 alphanumerics.
_COID_PREFIX = "m"
_SAFE = re.compile(r"^[A-Za-z0-9]{1,32}$")


def venue_client_order_id(account: str, client_order_id: str) -> str:
    """The exchange's client order id of Mercado's order ``(account, client_order_id)``: ``m`` + 31 hex digits of
    its BLAKE2b hash (32 alphanumerics fit every exchange ccxt knows); the same order, the same id, always."""
    digest = hashlib.blake2b(f"{account}\x1f{client_order_id}".encode(), digest_size=16).hexdigest()
    out = _COID_PREFIX + digest[:31]
    assert _SAFE.match(out)
    return out


# ---------------------------------------------------------------------- errors
RETRY = "retry"
FINAL = "final"

# ccxt exception name -> reason code of the OrderRejected (the first class in the exception's MRO that is
# listed wins, so a subclass may be more precise than its parent).
_FINAL_REASONS = {
    "InsufficientFunds": "INSUFFICIENT_FUNDS",
    "OrderImmediatelyFillable": "WOULD_TAKE",
    "OrderNotFillable": "NOT_FILLABLE",
    "DuplicateOrderId": "DUPLICATE_ORDER_ID",
    "ContractUnavailable": "MARKET_UNAVAILABLE",
    "MarketClosed": "MARKET_CLOSED",
    "InvalidOrder": "INVALID_ORDER",
    "BadSymbol": "BAD_SYMBOL",
    "ArgumentsRequired": "BAD_REQUEST",
    "BadRequest": "BAD_REQUEST",
    "AuthenticationError": "AUTHENTICATION",
    "PermissionDenied": "PERMISSION_DENIED",
    "AccountSuspended": "ACCOUNT_SUSPENDED",
    "AccountNotEnabled": "ACCOUNT_NOT_ENABLED",
    "NotSupported": "NOT_SUPPORTED",
    "OperationRejected": "OPERATION_REJECTED",
    "ExchangeError": "EXCHANGE_ERROR",
}
# NetworkError covers RequestTimeout, DDoSProtection/RateLimitExceeded, ExchangeNotAvailable/OnMaintenance,
# InvalidNonce; a plain asyncio/OS error on the socket is one too.
_RETRY_NAMES = frozenset({"NetworkError", "OperationFailed", "TimeoutError", "OSError", "ClientError"})


@dataclass(frozen=True)
class Classified:
    kind: str  # RETRY or FINAL
    reason: str  # the OrderRejected reason (FINAL) or the exception's name (RETRY)
    message: str
    ambiguous: bool  # the request may have reached the exchange (a timeout, a cut connection)
    rate_limited: bool


def classify(exc: BaseException) -> Classified:
    names = [c.__name__ for c in type(exc).__mro__]
    message = f"{type(exc).__name__}: {exc}"[:500]
    if any(n in _RETRY_NAMES for n in names) and "ExchangeError" not in names:
        rate_limited = "DDoSProtection" in names or "RateLimitExceeded" in names
        # only a refusal before the exchange acted (rate limit, maintenance) is known not to have placed it
        ambiguous = not rate_limited and "ExchangeNotAvailable" not in names
        return Classified(RETRY, type(exc).__name__, message, ambiguous, rate_limited)
    for n in names:
        if n in _FINAL_REASONS:
            return Classified(FINAL, _FINAL_REASONS[n], message, False, False)
    # anything else (a bug in a parser, an unexpected answer): the order's fate is unknown — retry, and the
    # lookup by client order id tells what happened
    return Classified(RETRY, type(exc).__name__, message, True, False)


# ---------------------------------------------------------------------- records
def _event_id(venue: str, coid: str, what: str) -> str:
    return f"exec:{venue}:{coid}:{what}"


def _decimal(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    try:
        return wire(Decimal(str(value)))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


@dataclass
class TrackedOrder:
    """An order the adapter placed (or is placing)."""

    account: str
    venue: str
    symbol: str
    client_order_id: str  # Mercado's
    venue_coid: str  # the exchange's client order id
    side: str  # BUY / SELL
    venue_order_id: str | None = None
    fills: set[str] = field(default_factory=set)  # trade ids already written
    done: bool = False  # a terminal record written (rejected, canceled) or filled completely

    def head(self, t: int) -> Record:
        return {"event_time": t, "account": self.account, "venue": self.venue, "symbol": self.symbol,
                "client_order_id": self.client_order_id}


def accepted(order: TrackedOrder, t: int, venue_order_id: str, ack_latency_ms: float | None,
             received_us: int) -> FeedEvent:
    return FeedEvent(topics.ORDERS, "OrderAccepted", {
        "event_id": _event_id(order.venue, order.venue_coid, "accepted"), **order.head(t),
        "venue_order_id": venue_order_id, "ack_latency_ms": ack_latency_ms}, received_us)


def rejected(order: TrackedOrder, t: int, reason: str, message: str | None, received_us: int) -> FeedEvent:
    return FeedEvent(topics.ORDERS, "OrderRejected", {
        "event_id": _event_id(order.venue, order.venue_coid, "rejected"), **order.head(t), "rejected_by": "VENUE",
        "reason": reason, "message": message}, received_us)


def canceled(order: TrackedOrder, t: int, reason: str | None, received_us: int) -> FeedEvent:
    return FeedEvent(topics.ORDERS, "OrderCanceled", {
        "event_id": _event_id(order.venue, order.venue_coid, "canceled"), **order.head(t),
        "venue_order_id": order.venue_order_id, "reason": reason}, received_us)


def filled(order: TrackedOrder, trade: dict[str, Any], received_us: int) -> FeedEvent:
    """One of the order's trades (ccxt's unified trade) as an OrderFilled; its id from the exchange's trade id."""
    fee = trade.get("fee") or {}
    taker = trade.get("takerOrMaker")
    t = trade.get("timestamp")
    return FeedEvent(topics.ORDERS, "OrderFilled", {
        "event_id": _event_id(order.venue, order.venue_coid, f"fill:{trade['id']}"),
        **order.head(int(t) * 1000 if isinstance(t, int) else received_us),
        "venue_order_id": order.venue_order_id or str(trade.get("order") or ""), "trade_id": str(trade["id"]),
        "side": order.side, "fill_price": _decimal(trade.get("price")), "fill_quantity": _decimal(trade.get("amount")),
        "fee": _decimal(fee.get("cost")), "fee_currency": str(fee.get("currency") or ""),
        "liquidity": {"maker": "MAKER", "taker": "TAKER"}.get(taker or ""),
    }, received_us)


# ---------------------------------------------------------------------- what was placed and written
class OrderBook:
    """The adapter's orders by exchange client order id; rebuilt at start from the records it wrote."""

    def __init__(self, venue: str):
        self.venue = venue
        self.orders: dict[str, TrackedOrder] = {}

    def get(self, venue_coid: str) -> TrackedOrder | None:
        return self.orders.get(venue_coid)

    def track(self, approval: Record) -> TrackedOrder:
        coid = venue_client_order_id(approval["account"], approval["client_order_id"])
        order = self.orders.get(coid)
        if order is None:
            order = self.orders[coid] = TrackedOrder(
                approval["account"], approval["venue"], approval["symbol"], approval["client_order_id"], coid,
                approval["side"])
        return order

    def open_orders(self) -> list[TrackedOrder]:
        """Placed (accepted) and not known to be finished."""
        return [o for o in self.orders.values() if o.venue_order_id is not None and not o.done]

    def restore(self, schema: str, record: Record) -> None:
        """One record this adapter wrote (read back at start): the order it belongs to moves on."""
        prefix = f"exec:{self.venue}:"
        event_id = record.get("event_id", "")
        if not event_id.startswith(prefix):
            return
        coid = event_id[len(prefix):].split(":", 1)[0]
        order = self.orders.get(coid)
        if order is None:
            order = self.orders[coid] = TrackedOrder(record["account"], record["venue"], record["symbol"],
                                                     record["client_order_id"], coid, record.get("side") or "BUY")
        if schema == "OrderAccepted":
            order.venue_order_id = record["venue_order_id"]
        elif schema == "OrderFilled":
            order.fills.add(record["trade_id"])
            order.side = record["side"]
            order.venue_order_id = order.venue_order_id or record["venue_order_id"]
        elif schema in ("OrderRejected", "OrderCanceled"):
            order.done = True

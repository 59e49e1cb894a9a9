"""Topics of the risk pipeline and the builders of its records (wire form).

Topics (keys in brackets):

* inputs, read by the rekey stage: ``trading.orders.v1`` [venue:symbol], ``trading.venue-health.v1``
  [venue], ``md.ticks.v1`` [venue:symbol; Heartbeat: its source];
* ``risk.inputs.v1`` [venue]: the repartition topic — the same records (PriceTick, the five order
  events, VenueHealth; Heartbeat if configured) keyed by venue. Its log order is the one canonical
  order of the risk stage;
* outputs of the risk stage: ``risk.order-decisions.v1`` [venue:symbol] OrderApproved / OrderRejected
  (rejected_by RISK) / OrderCancelRequested (an operator's CANCEL_ORDER), ``risk.breakers.v1`` [venue]
  BreakerTransition, ``risk.trading-state.v1`` [venue]
  TradingStateChanged, ``risk.positions.v1`` [account:venue:symbol] PositionUpdate, ``risk.alerts.v1``
  [alert_key] Alert, ``mercado.command-results.v1`` [idempotency_key] CommandResult;
* ``risk.commands.v1`` [venue]: the operators' commands (mercado api), an input of the rekey stage like
  the others, so a command reaches the venue's task in the repartition topic's order.
"""

from __future__ import annotations

from decimal import Decimal

from processors import topics
from processors.core import Record
from processors.risk.breaker import Change, CircuitBreaker
from processors.risk.exact import wire

INPUT_TOPICS: tuple[str, ...] = (topics.ORDERS, topics.VENUE_HEALTH, topics.TICKS, topics.RISK_COMMANDS)

OUTPUT_TOPICS: tuple[str, ...] = (
    topics.DECISIONS, topics.BREAKERS, topics.TRADING_STATE, topics.POSITIONS, topics.RISK_ALERTS,
    topics.COMMAND_RESULTS,
)

ORDER_EVENTS: tuple[str, ...] = ("OrderSubmitted", "OrderAccepted", "OrderRejected", "OrderFilled", "OrderCanceled")
#: record types of the repartition topic
INPUT_RECORDS: tuple[str, ...] = ("PriceTick", "Heartbeat", *ORDER_EVENTS, "VenueHealth", "Command")


def transition_record(breaker: CircuitBreaker, change: Change, t: int, value: Decimal | None,
                      caused_by: str | None) -> Record:
    account = getattr(breaker, "account", None)
    symbol = getattr(breaker, "symbol", None)
    name: str = breaker.name  # type: ignore[attr-defined]
    opened = change.to_state == "OPEN"
    return {
        "event_id": f"breaker:{name}:{change.from_state}>{change.to_state}:{caused_by if caused_by else t}",
        "event_time": t,
        "venue": breaker.venue,  # type: ignore[attr-defined]
        "breaker": breaker.kind,
        "scope": breaker.scope,  # type: ignore[attr-defined]
        "account": account,
        "symbol": symbol,
        "from_state": change.from_state,
        "to_state": change.to_state,
        "value": None if value is None else wire(value),
        "threshold": wire(breaker.threshold),  # type: ignore[attr-defined]
        "unit": breaker.unit,
        "consecutive_violations": change.consecutive_violations,
        "cooldown_ms": breaker.cooldown_us // 1000 if opened else None,
        "open_until": breaker.open_until if opened else None,
        "caused_by": caused_by,
    }


def trading_state_record(venue: str, account: str, from_state: str, to_state: str, t: int,
                         tripped: list[str], caused_by: str) -> Record:
    return {
        "event_id": f"trading-state:{account}@{venue}:{from_state}>{to_state}:{caused_by}",
        "event_time": t,
        "venue": venue,
        "account": account,
        "from_state": from_state,
        "to_state": to_state,
        "tripped_breakers": tripped,
        "caused_by": caused_by,
    }


def _decision_head(order: Record, t: int) -> Record:
    """The fields the risk gate's decision on an order (approval or rejection) starts with."""
    return {
        "event_id": f"risk:{order['event_id']}",
        "event_time": t,
        "account": order["account"],
        "venue": order["venue"],
        "symbol": order["symbol"],
        "client_order_id": order["client_order_id"],
    }


def approved_record(order: Record, t: int, reference: Decimal, notional: Decimal, state: str) -> Record:
    price = order["price"]
    return {
        **_decision_head(order, t),
        "side": order["side"],
        "quantity": wire(order["quantity"]),
        "price": None if price is None else wire(price),
        "reference_price": wire(reference),
        "notional": wire(notional),
        "trading_state": state,
        "caused_by": order["event_id"],
    }


def rejected_record(order: Record, t: int, reason: str, message: str) -> Record:
    return {
        **_decision_head(order, t),
        "rejected_by": "RISK",
        "reason": reason,
        "message": message,
    }


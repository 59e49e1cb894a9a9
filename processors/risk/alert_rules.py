"""Which risk facts raise which alert (kind, level, alert key); throttling is per alert key.

| kind | level | alert key |
|---|---|---|
| breaker_opened | ERROR (DRAWDOWN: CRITICAL) | breaker_opened:KIND:scope |
| breaker_closed | INFO | breaker_closed:KIND:scope |
| trading_state_changed | HALTED CRITICAL, REDUCING WARNING, ACTIVE INFO | trading_state:account@venue:STATE |
| position_opened / position_closed | INFO | position_opened / position_closed:account@venue:symbol |
| large_loss | ERROR | large_loss:account@venue:symbol |
| venue_down / venue_up | ERROR / INFO | venue_down / venue_up:venue |
| risk_limit_exceeded | WARNING | risk_limit:account@venue:REASON |
| invalid_event | ERROR | invalid_event:venue |

Opposite facts have their own keys, so a "closed" right after an "opened" is never throttled away.
"""

from __future__ import annotations

from decimal import Decimal

from processors.core import Record
from processors.risk.exact import show

SOURCE = "risk"
_STATE_LEVEL = {"HALTED": "CRITICAL", "REDUCING": "WARNING", "ACTIVE": "INFO"}


def _alert(key: str, kind: str, level: str, t: int, message: str, caused_by: str, value: Decimal | None = None,
           threshold: Decimal | None = None, details: dict[str, str] | None = None) -> Record:
    return {
        "event_id": f"alert:{key}:{caused_by}",
        "event_time": t,
        "alert_key": key,
        "source": SOURCE,
        "kind": kind,
        "level": level,
        "message": message,
        "value": None if value is None else float(value),
        "threshold": None if threshold is None else float(threshold),
        "suppressed_count": 0,
        "caused_by": caused_by,
        "details": details or {},
    }


def breaker_alert(transition: Record) -> Record | None:
    to_state = transition["to_state"]
    if to_state == "HALF_OPEN":
        return None
    kind = "breaker_opened" if to_state == "OPEN" else "breaker_closed"
    breaker, scope, unit = transition["breaker"], transition["scope"], transition["unit"]
    if to_state == "OPEN":
        level = "CRITICAL" if breaker == "DRAWDOWN" else "ERROR"
        value, threshold = show(transition["value"]), show(transition["threshold"])
        count, cooldown_s = transition["consecutive_violations"], transition["cooldown_ms"] / 1000
        message = (f"{breaker} breaker of {scope} opened: {value} {unit} > {threshold} {unit} "
                   f"({count} in a row); cooldown {cooldown_s:g} s")
    else:
        level = "INFO"
        message = f"{breaker} breaker of {scope} closed: {show(transition['value'])} {unit} within limits"
    return _alert(f"{kind}:{breaker}:{scope}", kind, level, transition["event_time"], message,
                  transition["event_id"], transition["value"], transition["threshold"],
                  {"venue": transition["venue"], "breaker": breaker, "scope": scope, "from": transition["from_state"],
                   "to": to_state, "unit": unit})


def trading_state_alert(change: Record) -> Record:
    venue, account, to_state = change["venue"], change["account"], change["to_state"]
    tripped = ", ".join(change["tripped_breakers"]) or "none"
    message = f"trading of {account} on {venue}: {change['from_state']} -> {to_state} (breakers not closed: {tripped})"
    return _alert(f"trading_state:{account}@{venue}:{to_state}", "trading_state_changed", _STATE_LEVEL[to_state],
                  change["event_time"], message, change["event_id"],
                  details={"venue": venue, "account": account, "from": change["from_state"], "to": to_state})


def position_alert(opened: bool, account: str, venue: str, symbol: str, t: int, quantity: Decimal, price: Decimal,
                   pnl: Decimal | None, caused_by: str) -> Record:
    """``quantity``: the position opened, or the one that was closed; ``pnl``: a closed position's realized
    PnL before fees."""
    kind = "position_opened" if opened else "position_closed"
    side = "long" if quantity > 0 else "short"
    if opened:
        message = f"{account} opened {side} {show(abs(quantity))} {symbol} on {venue} at {show(price)}"
    else:
        message = (f"{account} closed {side} {show(abs(quantity))} {symbol} on {venue} at {show(price)}; "
                   f"realized PnL {show(pnl)} (before fees)")
    return _alert(f"{kind}:{account}@{venue}:{symbol}", kind, "INFO", t, message, caused_by, pnl,
                  details={"venue": venue, "account": account, "symbol": symbol, "quantity": show(quantity),
                           "price": show(price)})


def large_loss_alert(account: str, venue: str, symbol: str, t: int, loss: Decimal, limit: Decimal,
                     caused_by: str) -> Record:
    message = f"{account} realized a loss of {show(loss)} on {symbol} on {venue} in one fill (limit {show(limit)})"
    return _alert(f"large_loss:{account}@{venue}:{symbol}", "large_loss", "ERROR", t, message, caused_by, loss, limit,
                  {"venue": venue, "account": account, "symbol": symbol})


def venue_alert(up: bool, venue: str, t: int, failures: int, caused_by: str, error: str | None) -> Record:
    if up:
        return _alert(f"venue_up:{venue}", "venue_up", "INFO", t, f"{venue} answers health probes again", caused_by,
                      details={"venue": venue})
    message = f"{venue} is down: {failures} failed health probes in a row (last: {error or 'no detail'})"
    return _alert(f"venue_down:{venue}", "venue_down", "ERROR", t, message, caused_by, Decimal(failures),
                  details={"venue": venue, "error": error or ""})


def risk_limit_alert(order: Record, t: int, reason: str, message: str, value: Decimal | None,
                     limit: Decimal | None, caused_by: str) -> Record:
    account, venue = order["account"], order["venue"]
    return _alert(f"risk_limit:{account}@{venue}:{reason}", "risk_limit_exceeded", "WARNING", t,
                  f"order {order['client_order_id']} of {account} on {venue} refused: {reason}: {message}", caused_by,
                  value, limit, {"venue": venue, "account": account, "symbol": order["symbol"], "reason": reason})


def invalid_event_alert(venue: str, t: int, what: str, caused_by: str) -> Record:
    return _alert(f"invalid_event:{venue}", "invalid_event", "ERROR", t, f"ignored an invalid event on {venue}: {what}",
                  caused_by, details={"venue": venue})

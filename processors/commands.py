"""Commands as events: the contract shared by the gateway (``gateway/commands.py`` writes them) and the
pipelines that own the state they act on — the kinds, how parameters are read, the reasons a command is
rejected, and the ``CommandResult`` builder.

A ``Command`` (schemas/commands) is written once per idempotency key to its owner's command topic, keyed
like the owner's state (``risk.commands.v1``: by venue), and is acted on by the owner, which emits one
``CommandResult`` (ACCEPTED, or REJECTED with a reason) to ``mercado.command-results.v1``.

The risk pipeline's commands: a command reaches the venue's
:class:`~processors.risk.processor.VenueRiskProcessor` through the rekey stage like any other input, at
its place in the repartition topic's order, and is handled at the processor's clock (its own event time
— the gateway's wall clock when it received the request — or later): a replay decides exactly as the
live worker did. Each command gets one ``CommandResult``.

* ``SET_RISK_MODE`` {mode, account?}: an operator's override of the trading state, on top of the
  breakers: the effective state is the more restrictive of the breakers' state and the override (an
  override never lifts a tripped breaker). ``mode`` ACTIVE removes the override. Without ``account`` the
  override is venue-wide (every account of the venue); an account's own override and the venue's
  combine the same way. A state that changes is a TradingStateChanged caused by the command.
* ``RESET_BREAKER`` {breaker}: a tripped breaker (OPEN or HALF_OPEN), named as in its transitions'
  ``KIND:scope`` (e.g. ``LATENCY:binance``, ``DRAWDOWN:mm-1@binance``), goes back to CLOSED: a
  BreakerTransition caused by the command, then the trading states that follow.
* ``SUBMIT_ORDER`` {account, symbol, side, quantity, order_type, price?, client_order_id?}: an
  OrderSubmitted (``event_id`` the command's) through the order gate, which decides as for any order
  (OrderApproved / OrderRejected on ``risk.order-decisions.v1``).
* ``CLOSE_POSITION`` {account, symbol}: a MARKET order for the opposite of the position, through the gate.
* ``CANCEL_ORDER`` {account, client_order_id}: an order the gate approved that is still open (not filled
  completely, canceled or rejected by the venue, as the risk owner has seen) gets an OrderCancelRequested on
  ``risk.order-decisions.v1``, keyed venue:symbol like the approval, so it reaches the venue that holds the
  order (the paper venue, the ccxt adapter); the venue cancels what is unfilled (OrderCanceled, reason
  ``USER``). The reservation is released by the OrderCanceled, not by the request (the order may fill first).

The risk pipeline's rejections (``CommandResult.reason``): ``unknown-account`` (neither configured for the
venue nor seen in its orders), ``unknown-venue`` (a venue-wide mode for a venue with no account: a typo,
most likely), ``invalid-parameter``, ``unknown-breaker``, ``breaker-not-tripped``, ``no-position``,
``duplicate-order`` (the client order id is approved and still open), ``order-not-open`` (a cancel for an
order the risk owner does not hold open: never approved, or already final — filled, canceled, rejected;
finished orders are not kept, so the two are one reason), or the gate's own reason
(``TRADING_HALTED``, ``PRICE_BAND``, ...) for an order.

The recommendations pipeline's command (``reco.commands.v1``, keyed by job; its route stage decides at the
command's event time): ``RUN_DAILY_JOB`` {run_date} becomes the date's ``JobRequested`` (the event
``mercado recommend run`` writes, trigger ``manual``, the same event id for the same date, so a date already
run is not run again); rejected ``not-a-trading-day``, ``cutoff-not-reached`` (the date's cutoff is after
the command's event time), ``unknown-job``, ``invalid-parameter``.

The scanner's command, ``PERSIST_SCANNER_BOARD`` (no parameters; target: the scanner), is written to the
scanner's own input log, ``scanner.snapshots.v1``, keyed by scanner like its snapshots: the scanner is one
stage, so its commands must share its input's partition and log order (a second input topic would be
merged by arrival, not by the log). The scanner emits the board's top N now (``scanner.top.v1``, trigger
``manual``, as ``mercado scanner persist`` does), as of the command's event time; rejected ``board-empty``.

The quote feed's command (``feeds.commands.v1``, keyed by venue; owner ``feeds``, target the feed's venue,
e.g. ``twelvedata``): ``REQUEST_BACKFILL`` {symbol, from, to} (ISO-8601 instants, UTC) asks the feed
adapter (streams/feeds/twelvedata.py) to fetch the whole minutes of [from, to) — widened to whole
minutes — over its REST source and write them as replacement ticks and their ``BackfillComplete``, the
same events (same ids) as the backfill of a reconnect's hole. At most :data:`BACKFILL_MAX_MINUTES`
minutes (one REST page). :func:`backfill_request` reads the parameters (the gateway refuses a bad range
with a 400 before anything is written; the feed reads them again); :func:`backfill_decision` is the
feed's decision before it asks the source: rejected ``invalid-parameter``, ``unknown-symbol`` (a symbol
the feed does not serve), ``not-at-source`` (a range that ends after the command's time: the source
cannot have it yet; also when the source answers it has no bar in the range), ``source-unavailable``
(the source refused every try).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from processors.core import Record
from processors.risk.exact import WIRE_LIMIT
from processors.risk.gate import ACTIVE, HALTED, REDUCING

RISK = "risk"  # the owners
RECOMMENDATIONS = "recommendations"
SCANNER = "scanner"
FEEDS = "feeds"

SET_RISK_MODE = "SET_RISK_MODE"
RESET_BREAKER = "RESET_BREAKER"
SUBMIT_ORDER = "SUBMIT_ORDER"
CLOSE_POSITION = "CLOSE_POSITION"
RUN_DAILY_JOB = "RUN_DAILY_JOB"
PERSIST_SCANNER_BOARD = "PERSIST_SCANNER_BOARD"
CANCEL_ORDER = "CANCEL_ORDER"
REQUEST_BACKFILL = "REQUEST_BACKFILL"
KINDS = (SET_RISK_MODE, RESET_BREAKER, SUBMIT_ORDER, CLOSE_POSITION, RUN_DAILY_JOB, PERSIST_SCANNER_BOARD,
         CANCEL_ORDER, REQUEST_BACKFILL)

UNKNOWN_ACCOUNT = "unknown-account"
UNKNOWN_VENUE = "unknown-venue"
INVALID_PARAMETER = "invalid-parameter"
UNKNOWN_BREAKER = "unknown-breaker"
BREAKER_NOT_TRIPPED = "breaker-not-tripped"
NO_POSITION = "no-position"
DUPLICATE_ORDER = "duplicate-order"
UNKNOWN_KIND = "unknown-kind"
UNKNOWN_JOB = "unknown-job"
NOT_A_TRADING_DAY = "not-a-trading-day"
CUTOFF_NOT_REACHED = "cutoff-not-reached"
BOARD_EMPTY = "board-empty"
ORDER_NOT_OPEN = "order-not-open"
UNKNOWN_SYMBOL = "unknown-symbol"
NOT_AT_SOURCE = "not-at-source"
SOURCE_UNAVAILABLE = "source-unavailable"
#: the OrderCanceled reason of an order canceled on an operator's request (CANCEL_ORDER)
USER_CANCELED = "USER"

MODES = (ACTIVE, REDUCING, HALTED)
#: how restrictive a trading state is: the effective state is the highest of the breakers' and the overrides'
SEVERITY = {ACTIVE: 0, REDUCING: 1, HALTED: 2}
VENUE_WIDE = ""  # the key of a venue-wide override in the processor's overrides
MINUTE_US = 60_000_000
#: the longest backfill one command asks: TwelveData's ``/time_series`` answers at most 5,000 bars per
#: request (``outputsize``), i.e. 5,000 one-minute bars (≈ 3.5 days); a longer range is several commands
BACKFILL_MAX_MINUTES = 5_000
#: a symbol as the feeds name it: BASE/QUOTE (USD/COP, BTC/USD) or a ticker (AAPL)
BACKFILL_SYMBOL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}(/[A-Za-z0-9][A-Za-z0-9._-]{0,31})?")


class BadParameter(ValueError):
    """A command parameter that cannot be used: the message names it."""


def text(params: dict[str, str], name: str, *, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise BadParameter(f"{name} is required")
        return None
    return value


def decimal(params: dict[str, str], name: str, *, required: bool = True) -> Decimal | None:
    raw = text(params, name, required=required)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise BadParameter(f"{name} {raw!r} is not a decimal number") from None
    if not value.is_finite() or not 0 < value < WIRE_LIMIT:
        raise BadParameter(f"{name} {raw!r} must be positive and below {WIRE_LIMIT}")
    return value


def instant_us(params: dict[str, str], name: str) -> int:
    """An ISO-8601 instant parameter (with an offset, or UTC when it has none) in µs since the epoch."""
    raw = text(params, name)
    try:
        value = dt.datetime.fromisoformat(raw)  # type: ignore[arg-type]
    except ValueError:
        raise BadParameter(f"{name} {raw!r} is not an ISO-8601 date-time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def backfill_request(params: dict[str, str]) -> tuple[str, int, int]:
    """A REQUEST_BACKFILL's ``(symbol, start, end)``: [from, to) widened to whole minutes (µs). BadParameter
    names what is wrong: the symbol's format, a date-time, ``from`` not before ``to``, a range before 1970 or
    longer than :data:`BACKFILL_MAX_MINUTES`."""
    symbol = text(params, "symbol")
    if not BACKFILL_SYMBOL.fullmatch(symbol):  # type: ignore[arg-type]
        raise BadParameter(f"symbol {symbol!r} is not a symbol (BASE/QUOTE, e.g. USD/COP, or a ticker)")
    lo, hi = instant_us(params, "from"), instant_us(params, "to")
    if lo >= hi:
        raise BadParameter(f"from ({params['from']}) must be before to ({params['to']})")
    if lo < 0:
        raise BadParameter("from must not be before 1970-01-01")
    start = lo // MINUTE_US * MINUTE_US
    end = -(-hi // MINUTE_US) * MINUTE_US
    if end - start > BACKFILL_MAX_MINUTES * MINUTE_US:
        raise BadParameter(f"the range is {(end - start) // MINUTE_US} minutes; at most {BACKFILL_MAX_MINUTES} "
                           "per request (one REST page): split it")
    return symbol, start, end  # type: ignore[return-value]


@dataclass(frozen=True)
class Rejected:
    reason: str
    message: str


def backfill_decision(command: Record, served: frozenset[str] | set[str]) -> tuple[str, int, int] | Rejected:
    """The feed's decision on a REQUEST_BACKFILL before it asks its source: ``(symbol, start, end)`` to fetch,
    or why it is rejected (``served``: the symbols the feed serves)."""
    try:
        symbol, start, end = backfill_request(command["params"])
    except BadParameter as exc:
        return Rejected(INVALID_PARAMETER, str(exc))
    if symbol not in served:
        return Rejected(UNKNOWN_SYMBOL, f"{command['target']} does not serve {symbol} "
                                        f"(it serves {', '.join(sorted(served))})")
    if end > command["event_time"]:
        return Rejected(NOT_AT_SOURCE, f"the range ends after the request ({end} > {command['event_time']} µs): "
                                       "the source has no bars of minutes not yet over")
    return symbol, start, end


def order_of(command: Record, t: int) -> Record:
    """The OrderSubmitted a SUBMIT_ORDER command asks for (wire form: exact decimals); BadParameter names
    the first unusable parameter."""
    p = command["params"]
    side = text(p, "side")
    if side not in ("BUY", "SELL"):
        raise BadParameter(f"side {side!r} must be BUY or SELL")
    order_type = text(p, "order_type", required=False) or "LIMIT"
    if order_type not in ("LIMIT", "MARKET"):
        raise BadParameter(f"order_type {order_type!r} must be LIMIT or MARKET")
    price = decimal(p, "price", required=order_type == "LIMIT")
    if order_type == "MARKET" and price is not None:
        raise BadParameter("a MARKET order takes no price")
    return order_record(command, t, text(p, "account"), text(p, "symbol"), side, order_type,  # type: ignore[arg-type]
                        decimal(p, "quantity"), price,  # type: ignore[arg-type]
                        text(p, "client_order_id", required=False) or f"cmd-{command['idempotency_key']}")


def order_record(command: Record, t: int, account: str, symbol: str, side: str, order_type: str,
                 quantity: Decimal, price: Decimal | None, client_order_id: str, reduce_only: bool = False) -> Record:
    return {
        "event_id": command["event_id"],
        "event_time": t,
        "account": account,
        "venue": command["target"],
        "symbol": symbol,
        "client_order_id": client_order_id,
        "side": side,
        "order_type": order_type,
        "price": price,
        "quantity": quantity,
        "reduce_only": reduce_only,
        "strategy": f"command:{command['actor']}",
    }


def cancel_request_record(command: Record, t: int, account: str, symbol: str, client_order_id: str) -> Record:
    """The OrderCancelRequested a CANCEL_ORDER command becomes (schemas/risk/OrderCancelRequested.avsc)."""
    return {
        "event_id": f"risk:cancel:{command['event_id']}",
        "event_time": t,
        "account": account,
        "venue": command["target"],
        "symbol": symbol,
        "client_order_id": client_order_id,
        "requested_by": command["actor"],
        "caused_by": command["event_id"],
    }


def command_result(command: Record, t: int, reason: str | None, message: str, caused: list[str]) -> Record:
    """The owner's decision on a command: ACCEPTED when ``reason`` is None, else REJECTED with it."""
    return {
        "event_id": f"result:{command['idempotency_key']}",
        "event_time": t,
        "idempotency_key": command["idempotency_key"],
        "kind": command["kind"],
        "owner": command["owner"],
        "target": command["target"],
        "status": "ACCEPTED" if reason is None else "REJECTED",
        "reason": reason,
        "message": message,
        "caused": caused,
        "caused_by": command["event_id"],
    }

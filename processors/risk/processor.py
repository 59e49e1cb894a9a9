"""The risk processor of one venue: positions and PnL, five circuit breakers, trading states, the order
gate and alerts, fed by the venue's events in the repartition topic's order.

Time: the processor's clock is the highest event time it has seen (its own events, and the cooldown
ends it fired); every decision and every output is stamped with it, so an event that arrives a little
late (inputs interleave across topics) is handled "now" and windows only move forward. Cooldowns end
on event time: at the first event at or after the end, or by the partition's timer (:meth:`on_timer`),
and the OPEN -> HALF_OPEN transition is stamped with the cooldown end itself.

Per event, in order: cooldowns due by the clock end; then the event is handled —

* PriceTick: the symbol's mark; spread (two-sided ticks) and volatility observations; a drawdown
  observation for every account holding the symbol; MARK PositionUpdates (at most one per position
  per ``mark_update_s``);
* VenueHealth: a latency observation (successful probes), an error-rate sample, venue up/down;
* OrderAccepted: a latency observation (``ack_latency_ms``), an error-rate success sample;
* OrderRejected (VENUE): an error-rate failure sample (unless its reason is excluded); the order's
  reservation is released; OrderCanceled releases it too;
* OrderFilled: position, balances and the order's reservation; a FILL PositionUpdate; a drawdown
  observation; position opened/closed and large-loss alerts;
* OrderSubmitted: the gate's decision (OrderApproved or OrderRejected with rejected_by RISK); a repeat
  of an order that was approved and is still open is ignored (it was decided once);
* Heartbeat: nothing but time;
* Command (an operator's, via ``mercado api``): see :mod:`processors.commands`; one CommandResult each
  (CANCEL_ORDER: an OrderCancelRequested on ``risk.order-decisions.v1`` for an open order).

Every breaker transition is a BreakerTransition; trading states (per account on the venue) follow:
HALTED while any latency, error-rate, spread or volatility breaker of the venue is not CLOSED,
else REDUCING while the account's drawdown breaker is not CLOSED, else ACTIVE — or the operators'
override (SET_RISK_MODE) of the venue or the account when that is more restrictive. Accounts are those
configured for the venue and those seen in its order events (a new account starts ACTIVE and gets a
TradingStateChanged at once if the venue is HALTED).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Self

from processors import commands as cmd
from processors import topics
from processors.alerts.throttle import AlertThrottle
from processors.core import Emit, KeyedProcessor, Record
from processors.risk import alert_rules
from processors.risk.breaker import CLOSED, OPEN, Change, CircuitBreaker, Timing
from processors.risk.config import BreakerConfig, GateConfig, RiskConfig
from processors.risk.equity import AccountBook, DrawdownBreaker
from processors.risk.exact import MAX_PRICE, WIRE_LIMIT, ZERO, show, wire
from processors.risk.funds import AccountFunds
from processors.risk.gate import ACTIVE, HALTED, LIMIT_REASONS, REDUCING, check_order
from processors.risk.market import Market
from processors.risk.market_breakers import SpreadBreaker, VolatilityBreaker
from processors.risk.positions import Position
from processors.risk.records import (
    approved_record,
    rejected_record,
    trading_state_record,
    transition_record,
)
from processors.risk.venue_breakers import ErrorRateBreaker, LatencyBreaker

SNAPSHOT_VERSION = 1


class VenueRiskProcessor(KeyedProcessor):
    def __init__(self, key: str, config: RiskConfig | None = None):
        super().__init__(key)
        config = config or RiskConfig()
        self.venue = venue = key
        self.config = config
        self.breaker_config: BreakerConfig = config.breakers_for(venue)
        self.gate_config: GateConfig = config.gate_for(venue)
        b = self.breaker_config
        self.timing = Timing(b.consecutive_violations, b.cooldown_us, b.max_cooldown_us)
        self.clock: int | None = None
        self.latency = LatencyBreaker(venue, b.latency_ms, self.timing)
        self.errors = ErrorRateBreaker(venue, b.error_rate_pct, b.error_window_us, b.error_min_samples, self.timing)
        self.excluded_reasons = frozenset(b.error_excluded_reasons)
        self.markets: dict[str, Market] = {}
        self.books: dict[str, AccountBook] = {}
        self.funds: dict[str, AccountFunds] = {}
        self.states: dict[str, str] = {}
        self.overrides: dict[str, str] = {}  # operators' risk modes: account (or VENUE_WIDE "") -> REDUCING/HALTED
        self.tripped: set[str] = set()  # names of venue-wide breakers that are not CLOSED
        self.cooling: dict[str, CircuitBreaker] = {}  # OPEN breakers by name (their cooldowns are timers)
        self.next_due: int | None = None
        self.throttle = AlertThrottle(config.alerts.throttle_us)
        self.failed_probes = 0
        self.venue_down = False
        self.mark_update_us = config.mark_update_us
        for account in config.accounts_on(venue):
            self._book(account)
            self.states[account] = ACTIVE

    # ------------------------------------------------------------------ contract
    def on_event(self, schema: str, record: Record) -> list[Emit]:
        t = record["event_time"]
        now = self.clock
        if now is None or t > now:
            now = self.clock = t
        out: list[Emit] = []
        due = self.next_due
        if due is not None and due <= now:
            self._end_cooldowns(now, out)
        if schema == "PriceTick":
            self._tick(now, t, record, out)
        elif schema == "VenueHealth":
            self._health(now, record, out)
        elif schema == "OrderSubmitted":
            self._submitted(now, record, out)
        elif schema == "OrderFilled":
            self._filled(now, record, out)
        elif schema == "OrderAccepted":
            latency = record["ack_latency_ms"]
            if latency is not None:
                self._latency(now, latency, record["event_id"], out)
            self._error_sample(now, False, record["event_id"], out)
        elif schema == "OrderRejected":
            if record["rejected_by"] == "VENUE":
                failed = record["reason"] not in self.excluded_reasons
                self._error_sample(now, failed, record["event_id"], out)
            funds = self.funds.get(record["account"])
            if funds is not None:
                funds.close(record["client_order_id"])
        elif schema == "OrderCanceled":
            funds = self.funds.get(record["account"])
            if funds is not None:
                funds.close(record["client_order_id"])
        elif schema == "Command":
            self._command(now, record, out)
        return out

    def next_timer(self) -> int | None:
        return self.next_due

    def on_timer(self, now_us: int) -> list[Emit]:
        out: list[Emit] = []
        self._end_cooldowns(now_us, out)
        return out

    # ------------------------------------------------------------------ ticks
    def _tick(self, now: int, t: int, r: Record, out: list[Emit]) -> None:
        bid = r["bid"]
        ask = r["ask"]
        # chained comparisons are False for NaN; the bound keeps prices bookable
        two_sided = bid is not None and ask is not None and 0.0 < bid <= ask < MAX_PRICE
        if not two_sided:
            last = r["last"]
            if last is None or not 0.0 < last < MAX_PRICE:
                return
            bid = ask = last
        symbol = r["symbol"]
        event_id = r["event_id"]
        market = self.markets.get(symbol)
        if market is None:
            market = self._market(symbol)
        market.update(t, bid, ask, event_id)
        mid = market.mid
        if two_sided:
            spread = market.spread
            state = spread.state
            if state is not OPEN:
                total = ask + bid
                gap = (ask - bid) * 20_000.0 - spread.threshold_f * total
                tolerance = spread.tolerance_f * total  # see SpreadBreaker.violates
                violated = gap > tolerance or (gap >= -tolerance and spread.violates_exactly(bid, ask))
                if violated or spread.violations or state is not CLOSED:
                    change = spread.judge(now, violated)
                    if change is not None:
                        self._transition(spread, change, now, spread.value(bid, ask), event_id, out)
        vol = market.volatility
        state = vol.state
        judge = state is not OPEN
        violated = vol.add(now, mid, bid, ask, judge)
        if judge and (violated or vol.violations or state is not CLOSED):
            change = vol.judge(now, violated)
            if change is not None:
                self._transition(vol, change, now, vol.value(bid, ask), event_id, out)
        if market.holders:
            markets = self.markets
            for book, pos in market.holders:
                violated = book.evaluate(markets)
                if violated is not None:
                    breaker = book.breaker
                    state = breaker.state
                    if state is not OPEN and (violated or breaker.violations or state is not CLOSED):
                        change = breaker.judge(now, violated)
                        if change is not None:
                            value = book.drawdown_bps(book.equity(markets))
                            self._transition(breaker, change, now, value, event_id, out)
                if now >= pos.next_mark_update:
                    pos.next_mark_update = now + self.mark_update_us
                    out.append(self._position_update(now, book, symbol, "MARK", event_id))

    def _market(self, symbol: str) -> Market:
        b = self.breaker_config
        market = self.markets[symbol] = Market(
            symbol,
            SpreadBreaker(self.venue, symbol, b.spread_bps, self.timing),
            VolatilityBreaker(self.venue, symbol, b.volatility_pct, b.volatility_window_us, self.timing),
        )
        market.holders = self._holders(symbol)
        for book, _ in market.holders:
            book.attach(self.markets)
        return market

    # ------------------------------------------------------------------ venue health
    def _health(self, now: int, r: Record, out: list[Emit]) -> None:
        event_id = r["event_id"]
        ok = r["ok"]
        if ok:
            self._latency(now, r["latency_ms"], event_id, out)
        self._error_sample(now, not ok, event_id, out)
        if ok:
            self.failed_probes = 0
            if self.venue_down:
                self.venue_down = False
                self._alert(alert_rules.venue_alert(True, self.venue, now, 0, event_id, None), out)
        else:
            self.failed_probes += 1
            if not self.venue_down and self.failed_probes >= self.config.alerts.venue_down_after:
                self.venue_down = True
                self._alert(alert_rules.venue_alert(False, self.venue, now, self.failed_probes, event_id, r["error"]),
                            out)

    def _latency(self, now: int, latency_ms: float, event_id: str, out: list[Emit]) -> None:
        breaker = self.latency
        if breaker.state is OPEN or not latency_ms >= 0.0:  # (NaN is no measurement)
            return
        change = breaker.judge(now, breaker.violates(latency_ms))
        if change is not None:
            self._transition(breaker, change, now, breaker.value(latency_ms), event_id, out)

    def _error_sample(self, now: int, failed: bool, event_id: str, out: list[Emit]) -> None:
        breaker = self.errors
        violated = breaker.add(now, failed)
        if violated is None or breaker.state is OPEN:
            return
        change = breaker.judge(now, violated)
        if change is not None:
            self._transition(breaker, change, now, breaker.value(), event_id, out)

    # ------------------------------------------------------------------ accounts and fills
    def _book(self, account: str) -> AccountBook:
        book = self.books.get(account)
        if book is None:
            cfg = self.config.account(account, self.venue)
            breaker = DrawdownBreaker(self.venue, account, self.breaker_config.drawdown_bps, self.timing)
            book = self.books[account] = AccountBook(account, self.venue, cfg.starting_equity, breaker)
            self.funds[account] = AccountFunds(cfg.balances)
        return book

    def _account(self, now: int, account: str, caused_by: str, out: list[Emit]) -> AccountBook:
        """The account's book; a new account gets its trading state (announced when not ACTIVE)."""
        book = self._book(account)
        if account not in self.states:
            self.states[account] = ACTIVE
            self._refresh_state(now, account, caused_by, out)
        return book

    def _filled(self, now: int, r: Record, out: list[Emit]) -> None:
        event_id = r["event_id"]
        price: Decimal = r["fill_price"]
        quantity: Decimal = r["fill_quantity"]
        fee: Decimal = r["fee"]
        if not (0 < price < WIRE_LIMIT and 0 < quantity < WIRE_LIMIT and -WIRE_LIMIT < fee < WIRE_LIMIT):
            what = f"fill {event_id} with price {show(price)}, quantity {show(quantity)}, fee {show(fee)}"
            self._alert(alert_rules.invalid_event_alert(self.venue, now, what, event_id), out)
            return
        account = r["account"]
        symbol = r["symbol"]
        buy = r["side"] == "BUY"
        book = self._account(now, account, event_id, out)
        before = book.positions[symbol].quantity if symbol in book.positions else ZERO
        pos, realized = book.fill(symbol, buy, price, quantity, fee, self.markets)
        self.funds[account].fill(r["client_order_id"], symbol, buy, price, quantity, fee)
        after = pos.quantity
        if bool(before) != bool(after) and symbol in self.markets:
            self.markets[symbol].holders = self._holders(symbol)
        self._drawdown(now, book, event_id, out)
        pos.next_mark_update = now + self.mark_update_us
        out.append(self._position_update(now, book, symbol, "FILL", event_id))
        flipped = bool(before) and bool(after) and (before > 0) != (after > 0)
        if before and (not after or flipped):
            self._alert(alert_rules.position_alert(False, account, self.venue, symbol, now, before, price,
                                                   pos.closed_pnl, event_id), out)
        if after and (not before or flipped):
            self._alert(alert_rules.position_alert(True, account, self.venue, symbol, now, after, price,
                                                   None, event_id), out)
        limit = self.config.alerts.large_loss
        if realized < 0 and -realized >= limit:
            self._alert(alert_rules.large_loss_alert(account, self.venue, symbol, now, -realized, limit, event_id),
                        out)

    def _holders(self, symbol: str) -> list[tuple[AccountBook, Position]]:
        """The books holding a position in ``symbol`` (by account), with that position."""
        return [(b, b.positions[symbol]) for _, b in sorted(self.books.items())
                if symbol in b.positions and b.positions[symbol].quantity]

    def _drawdown(self, now: int, book: AccountBook, event_id: str, out: list[Emit]) -> None:
        violated = book.evaluate(self.markets)
        breaker = book.breaker
        if violated is None or breaker.state is OPEN:
            return
        change = breaker.judge(now, violated)
        if change is not None:
            value = book.drawdown_bps(book.equity(self.markets))
            self._transition(breaker, change, now, value, event_id, out)

    def _position_update(self, now: int, book: AccountBook, symbol: str, reason: str, caused_by: str) -> Emit:
        pos = book.positions[symbol]
        equity, unrealized, mark = book.valuation(self.markets, symbol)
        quantity, average, realized, fees = pos.wired()
        account = book.account
        record = {
            "event_id": f"position:{account}:{self.venue}:{symbol}:{caused_by}",
            "event_time": now,
            "account": account,
            "venue": self.venue,
            "symbol": symbol,
            "reason": reason,
            "quantity": quantity,
            "average_price": average,
            "mark_price": None if mark is None else wire(mark),
            "realized_pnl": realized,
            "fees": fees,
            "unrealized_pnl": wire(unrealized),
            "equity": wire(equity),
            "peak_equity": book.wired_peak(),
            "drawdown_bps": book.drawdown_bps(equity),
            "caused_by": caused_by,
        }
        return Emit(topics.POSITIONS, f"{account}:{self.venue}:{symbol}", "PositionUpdate", record)

    # ------------------------------------------------------------------ the gate
    def _submitted(self, now: int, r: Record, out: list[Emit]) -> None:
        account = r["account"]
        symbol = r["symbol"]
        event_id = r["event_id"]
        book = self._account(now, account, event_id, out)
        funds = self.funds[account]
        if r["client_order_id"] in funds.orders:
            return  # a repeat of an order already approved and still open: decided once, not again
        state = self.states[account]
        pos = book.positions.get(symbol)
        position = pos.quantity if pos is not None else ZERO
        decision = check_order(r, state, position, funds, self.markets.get(symbol), now, self.gate_config)
        key = f"{self.venue}:{symbol}"
        if decision.reason is None:
            assert decision.reference is not None and decision.notional is not None
            buy = r["side"] == "BUY"
            reserve_price = r["price"] if r["order_type"] == "LIMIT" else decision.reference
            funds.open(r["client_order_id"], symbol, buy, r["quantity"], reserve_price)
            record = approved_record(r, now, decision.reference, decision.notional, state)
            out.append(Emit(topics.DECISIONS, key, "OrderApproved", record))
            return
        record = rejected_record(r, now, decision.reason, decision.message)
        out.append(Emit(topics.DECISIONS, key, "OrderRejected", record))
        if decision.reason in LIMIT_REASONS:
            self._alert(alert_rules.risk_limit_alert(r, now, decision.reason, decision.message, decision.value,
                                                     decision.limit, record["event_id"]), out)

    # ------------------------------------------------------------------ operators' commands
    def _command(self, now: int, c: Record, out: list[Emit]) -> None:
        start = len(out)
        kind = c["kind"]
        try:
            if kind == cmd.SET_RISK_MODE:
                reason, message = self._set_mode(now, c, out)
            elif kind == cmd.RESET_BREAKER:
                reason, message = self._reset_breaker(now, c, out)
            elif kind == cmd.SUBMIT_ORDER:
                reason, message = self._order_command(now, c, cmd.order_of(c, now), out)
            elif kind == cmd.CLOSE_POSITION:
                reason, message = self._close_position(now, c, out)
            elif kind == cmd.CANCEL_ORDER:
                reason, message = self._cancel_order(now, c, out)
            else:
                reason, message = cmd.UNKNOWN_KIND, f"the risk pipeline does not handle {kind}"
        except cmd.BadParameter as exc:
            reason, message = cmd.INVALID_PARAMETER, str(exc)
        caused = [e.record["event_id"] for e in out[start:] if e.topic != topics.RISK_ALERTS]
        record = cmd.command_result(c, now, reason, message, caused)
        out.append(Emit(topics.COMMAND_RESULTS, c["idempotency_key"], "CommandResult", record))

    def _known_account(self, c: Record, *, required: bool = True) -> str | None:
        account = cmd.text(c["params"], "account", required=required)
        if account is not None and account not in self.states:
            raise _Unknown(account)
        return account

    def _set_mode(self, now: int, c: Record, out: list[Emit]) -> tuple[str | None, str]:
        mode = cmd.text(c["params"], "mode")
        if mode not in cmd.MODES:
            raise cmd.BadParameter(f"mode {mode!r} must be one of {', '.join(cmd.MODES)}")
        try:
            account = self._known_account(c, required=False)
        except _Unknown as exc:
            return cmd.UNKNOWN_ACCOUNT, f"no account {exc} on {self.venue}"
        if account is None and not self.states:  # a venue-wide mode on a venue without accounts: a typo?
            return cmd.UNKNOWN_VENUE, f"no account is known on {self.venue}"
        scope = cmd.VENUE_WIDE if account is None else account
        if mode == ACTIVE:
            self.overrides.pop(scope, None)
        else:
            self.overrides[scope] = mode
        for name in sorted(self.states) if account is None else [account]:
            self._refresh_state(now, name, c["event_id"], out)
        where = f"account {account} on {self.venue}" if account else f"every account on {self.venue}"
        return None, f"risk mode {mode} set for {where}"

    def _breakers(self) -> dict[str, CircuitBreaker]:
        found: dict[str, CircuitBreaker] = {self.latency.name: self.latency, self.errors.name: self.errors}
        for market in self.markets.values():
            found[market.spread.name] = market.spread
            found[market.volatility.name] = market.volatility
        for book in self.books.values():
            found[book.breaker.name] = book.breaker
        return found

    def _reset_breaker(self, now: int, c: Record, out: list[Emit]) -> tuple[str | None, str]:
        name = cmd.text(c["params"], "breaker")
        breaker = self._breakers().get(name)  # type: ignore[arg-type]
        if breaker is None:
            return cmd.UNKNOWN_BREAKER, f"no breaker {name} on {self.venue}"
        if not breaker.tripped:
            return cmd.BREAKER_NOT_TRIPPED, f"{name} is CLOSED"
        change = breaker.reset()
        self._transition(breaker, change, now, None, c["event_id"], out)
        return None, f"{name} reset from {change.from_state} to CLOSED"

    def _order_command(self, now: int, c: Record, order: Record, out: list[Emit]) -> tuple[str | None, str]:
        account = order["account"]
        if account not in self.states:
            return cmd.UNKNOWN_ACCOUNT, f"no account {account} on {self.venue}"
        if order["client_order_id"] in self.funds[account].orders:
            return cmd.DUPLICATE_ORDER, f"order {order['client_order_id']} is already approved and open"
        start = len(out)
        self._submitted(now, order, out)
        decision = next(e.record for e in out[start:] if e.topic == topics.DECISIONS)
        if "reason" in decision:
            return decision["reason"], decision["message"]
        return None, f"order {order['client_order_id']} approved by the risk gate"

    def _close_position(self, now: int, c: Record, out: list[Emit]) -> tuple[str | None, str]:
        try:
            account = self._known_account(c)
        except _Unknown as exc:
            return cmd.UNKNOWN_ACCOUNT, f"no account {exc} on {self.venue}"
        assert account is not None
        symbol = cmd.text(c["params"], "symbol")
        pos = self.books[account].positions.get(symbol)  # type: ignore[arg-type]
        if pos is None or not pos.quantity:
            return cmd.NO_POSITION, f"account {account} holds no {symbol} on {self.venue}"
        quantity = pos.quantity
        order = cmd.order_record(c, now, account, symbol, "SELL" if quantity > 0 else "BUY", "MARKET",  # type: ignore[arg-type]
                                 abs(quantity), None, f"close-{c['idempotency_key']}", reduce_only=True)
        return self._order_command(now, c, order, out)

    def _cancel_order(self, now: int, c: Record, out: list[Emit]) -> tuple[str | None, str]:
        """An order approved and still open: an OrderCancelRequested to its venue:symbol (the venue cancels)."""
        try:
            account = self._known_account(c)
        except _Unknown as exc:
            return cmd.UNKNOWN_ACCOUNT, f"no account {exc} on {self.venue}"
        assert account is not None
        coid: str = cmd.text(c["params"], "client_order_id")  # type: ignore[assignment]
        order = self.funds[account].orders.get(coid)
        if order is None:
            return cmd.ORDER_NOT_OPEN, f"order {coid} of {account} is not open on {self.venue} (unknown or final)"
        record = cmd.cancel_request_record(c, now, account, order.symbol, coid)
        out.append(Emit(topics.DECISIONS, f"{self.venue}:{order.symbol}", "OrderCancelRequested", record))
        return None, f"cancel of order {coid} ({order.symbol}) requested from {self.venue}"

    # ------------------------------------------------------------------ breakers and states
    def _transition(self, breaker: CircuitBreaker, change: Change, t: int, value: Decimal | None,
                    caused_by: str | None, out: list[Emit]) -> None:
        record = transition_record(breaker, change, t, value, caused_by)
        out.append(Emit(topics.BREAKERS, self.venue, "BreakerTransition", record))
        name: str = breaker.name  # type: ignore[attr-defined]
        if change.to_state == OPEN:
            self.cooling[name] = breaker
        else:
            self.cooling.pop(name, None)
        self.next_due = min((b.open_until for b in self.cooling.values()), default=None)  # type: ignore[type-var]
        alert = alert_rules.breaker_alert(record)
        if alert is not None:
            self._alert(alert, out)
        if isinstance(breaker, DrawdownBreaker):
            self._refresh_state(t, breaker.account, record["event_id"], out)
            return
        if breaker.tripped:
            self.tripped.add(name)
        else:
            self.tripped.discard(name)
        for account in sorted(self.states):
            self._refresh_state(t, account, record["event_id"], out)

    def _refresh_state(self, t: int, account: str, caused_by: str, out: list[Emit]) -> None:
        book = self.books[account]
        if self.tripped:
            state = HALTED
        elif book.breaker.tripped:
            state = REDUCING
        else:
            state = ACTIVE
        overrides = self.overrides
        if overrides:  # an operator's risk mode, venue-wide or the account's, when more restrictive
            for scope in (cmd.VENUE_WIDE, account):
                mode = overrides.get(scope)
                if mode is not None and cmd.SEVERITY[mode] > cmd.SEVERITY[state]:
                    state = mode
        old = self.states[account]
        if state == old:
            return
        self.states[account] = state
        tripped = sorted(self.tripped)
        if book.breaker.tripped:
            tripped = sorted([*tripped, book.breaker.name])
        record = trading_state_record(self.venue, account, old, state, t, tripped, caused_by)
        out.append(Emit(topics.TRADING_STATE, self.venue, "TradingStateChanged", record))
        self._alert(alert_rules.trading_state_alert(record), out)

    def _end_cooldowns(self, now: int, out: list[Emit]) -> None:
        due = sorted((b.open_until, name, b) for name, b in self.cooling.items() if b.open_until <= now)  # type: ignore[operator]
        for end, _name, breaker in due:
            change = breaker.expire()
            if self.clock is None or end > self.clock:
                self.clock = end
            self._transition(breaker, change, end, None, None, out)

    def _alert(self, alert: Record, out: list[Emit]) -> None:
        if self.throttle.offer(alert) is not None:
            out.append(Emit(topics.RISK_ALERTS, alert["alert_key"], "Alert", alert))

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "clock": self.clock,
            "latency": self.latency.snapshot(),
            "errors": self.errors.snapshot(),
            "markets": {s: m.snapshot() for s, m in sorted(self.markets.items())},
            "books": {a: b.snapshot() for a, b in sorted(self.books.items())},
            "funds": {a: f.snapshot() for a, f in sorted(self.funds.items())},
            "states": dict(sorted(self.states.items())),
            "overrides": dict(sorted(self.overrides.items())),
            "throttle": self.throttle.snapshot(),
            "failed_probes": self.failed_probes,
            "venue_down": self.venue_down,
        }

    @classmethod
    def restore(cls, key: str, state: dict[str, Any], **config: Any) -> Self:
        risk_config: RiskConfig = config.get("config") or RiskConfig()
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"risk snapshot version {state.get('version')!r}, expected {SNAPSHOT_VERSION}")
        proc = cls(key, risk_config)
        proc.clock = state["clock"]
        proc.latency.restore(state["latency"])
        proc.errors.restore(state["errors"])
        for account, snap in state["books"].items():
            proc._book(account).restore(snap)
            proc.funds[account] = AccountFunds.restore(state["funds"][account])
        for symbol, snap in state["markets"].items():
            proc._market(symbol).restore(snap)
        proc.states = dict(state["states"])
        proc.overrides = dict(state.get("overrides", {}))  # absent in snapshots from before commands
        proc.throttle = AlertThrottle.restore(state["throttle"], risk_config.alerts.throttle_us)
        proc.failed_probes = state["failed_probes"]
        proc.venue_down = state["venue_down"]
        breakers: list[CircuitBreaker] = [proc.latency, proc.errors]
        for market in proc.markets.values():
            breakers += [market.spread, market.volatility]
        for b in breakers:
            if b.tripped:
                proc.tripped.add(b.name)  # type: ignore[attr-defined]
        for b in [*breakers, *(book.breaker for book in proc.books.values())]:
            if b.state == OPEN:
                proc.cooling[b.name] = b  # type: ignore[attr-defined]
        proc.next_due = min((b.open_until for b in proc.cooling.values()), default=None)  # type: ignore[type-var]
        return proc


class _Unknown(LookupError):
    """A command names an account the venue does not know."""

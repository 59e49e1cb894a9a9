-- Risk pipeline (processors/risk, sinks/tables.risk.toml): fills, order decisions, position history,
-- breaker transitions and trading-state changes, and the views `mercado risk status` reads. Two files,
-- one per storage mode: the tables and the views are the same text in both (tests/test_sink_risk.py
-- checks it); only the storage section between them differs.
--
-- Every event is kept as it came: immutable, keyed by (event_id, event_time) like the tables of 0001.
-- The risk stage stamps its outputs with its clock, so two events of one position, breaker or account
-- can share an event_time (a cooldown end and the observation that closes the breaker; a mark and a
-- late fill). The tables that views read "the latest" from have `sink_seq`, the order the sink wrote
-- the rows in: each of them is keyed on its topic so that one position, breaker or account is on one
-- partition, whose log order the sink keeps (a batch is COPYed in offset order and moved by one
-- INSERT … SELECT; batches commit in order), so ties go to the later event in the log. A rebuild from
-- the topics gives the same order; `mercado db checksum` leaves sink_seq out (it is not mapped).
-- Decimals are numeric(28, 12), the contracts' decimal(28, 12): exact, like the processors.

-- OrderFilled of trading.orders.v1 (the input events of the risk stage).
CREATE TABLE trading_fills (
    event_id        text COLLATE "C" NOT NULL,
    event_time      timestamptz NOT NULL,
    account         text COLLATE "C" NOT NULL,
    venue           text COLLATE "C" NOT NULL,
    symbol          text COLLATE "C" NOT NULL,
    client_order_id text NOT NULL,
    venue_order_id  text NOT NULL,
    trade_id        text NOT NULL,
    side            text NOT NULL,
    fill_price      numeric(28, 12) NOT NULL,
    fill_quantity   numeric(28, 12) NOT NULL,
    fee             numeric(28, 12) NOT NULL,
    fee_currency    text NOT NULL,
    liquidity       text,
    ingested_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time),
    CONSTRAINT trading_fills_side_valid CHECK (side IN ('BUY', 'SELL')),
    CONSTRAINT trading_fills_price_quantity_positive CHECK (fill_price > 0 AND fill_quantity > 0)
);
CREATE INDEX trading_fills_account_time ON trading_fills (account, venue, symbol, event_time);

-- OrderRejected: the venue's (trading.orders.v1, rejected_by VENUE) and the risk gate's
-- (risk.order-decisions.v1, rejected_by RISK).
CREATE TABLE trading_rejections (
    event_id        text COLLATE "C" NOT NULL,
    event_time      timestamptz NOT NULL,
    account         text COLLATE "C" NOT NULL,
    venue           text COLLATE "C" NOT NULL,
    symbol          text COLLATE "C" NOT NULL,
    client_order_id text NOT NULL,
    rejected_by     text NOT NULL,
    reason          text NOT NULL,
    message         text,
    ingested_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time),
    CONSTRAINT trading_rejections_source_valid CHECK (rejected_by IN ('VENUE', 'RISK'))
);
CREATE INDEX trading_rejections_venue_reason ON trading_rejections (venue, rejected_by, reason);

-- OrderApproved of risk.order-decisions.v1.
CREATE TABLE risk_approvals (
    event_id        text COLLATE "C" NOT NULL,
    event_time      timestamptz NOT NULL,
    account         text COLLATE "C" NOT NULL,
    venue           text COLLATE "C" NOT NULL,
    symbol          text COLLATE "C" NOT NULL,
    client_order_id text NOT NULL,
    side            text NOT NULL,
    quantity        numeric(28, 12) NOT NULL,
    price           numeric(28, 12),
    reference_price numeric(28, 12) NOT NULL,
    notional        numeric(28, 12) NOT NULL,
    trading_state   text NOT NULL,
    caused_by       text NOT NULL,
    ingested_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time),
    CONSTRAINT risk_approvals_side_valid CHECK (side IN ('BUY', 'SELL')),
    CONSTRAINT risk_approvals_state_valid CHECK (trading_state IN ('ACTIVE', 'REDUCING'))
);
CREATE INDEX risk_approvals_account_time ON risk_approvals (account, venue, event_time);

-- Every PositionUpdate of risk.positions.v1 (FILL and MARK): the position history.
CREATE TABLE risk_position_history (
    event_id       text COLLATE "C" NOT NULL,
    event_time     timestamptz NOT NULL,
    account        text COLLATE "C" NOT NULL,
    venue          text COLLATE "C" NOT NULL,
    symbol         text COLLATE "C" NOT NULL,
    reason         text NOT NULL,
    quantity       numeric(28, 12) NOT NULL,
    average_price  numeric(28, 12),
    mark_price     numeric(28, 12),
    realized_pnl   numeric(28, 12) NOT NULL,
    fees           numeric(28, 12) NOT NULL,
    unrealized_pnl numeric(28, 12) NOT NULL,
    equity         numeric(28, 12) NOT NULL,
    peak_equity    numeric(28, 12) NOT NULL,
    drawdown_bps   numeric(28, 12) NOT NULL,
    caused_by      text NOT NULL,
    sink_seq       bigserial NOT NULL,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time),
    CONSTRAINT risk_position_history_reason_valid CHECK (reason IN ('FILL', 'MARK'))
);
CREATE INDEX risk_position_history_position_time
    ON risk_position_history (account, venue, symbol, event_time DESC, sink_seq DESC);

-- BreakerTransition of risk.breakers.v1.
CREATE TABLE risk_breaker_transitions (
    event_id               text COLLATE "C" NOT NULL,
    event_time             timestamptz NOT NULL,
    venue                  text COLLATE "C" NOT NULL,
    breaker                text COLLATE "C" NOT NULL,
    scope                  text COLLATE "C" NOT NULL,
    account                text,
    symbol                 text,
    from_state             text NOT NULL,
    to_state               text NOT NULL,
    value                  numeric(28, 12),
    threshold              numeric(28, 12) NOT NULL,
    unit                   text NOT NULL,
    consecutive_violations integer NOT NULL,
    cooldown_ms            bigint,
    open_until             timestamptz,
    caused_by              text,
    sink_seq               bigserial NOT NULL,
    ingested_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time),
    CONSTRAINT risk_breaker_transitions_states_valid CHECK (
        from_state IN ('CLOSED', 'OPEN', 'HALF_OPEN') AND to_state IN ('CLOSED', 'OPEN', 'HALF_OPEN')
        AND from_state <> to_state
    ),
    CONSTRAINT risk_breaker_transitions_violations_valid CHECK (consecutive_violations >= 0)
);
CREATE INDEX risk_breaker_transitions_scope_time
    ON risk_breaker_transitions (venue, breaker, scope, event_time DESC, sink_seq DESC);

-- TradingStateChanged of risk.trading-state.v1.
CREATE TABLE risk_trading_state_changes (
    event_id         text COLLATE "C" NOT NULL,
    event_time       timestamptz NOT NULL,
    venue            text COLLATE "C" NOT NULL,
    account          text COLLATE "C" NOT NULL,
    from_state       text NOT NULL,
    to_state         text NOT NULL,
    tripped_breakers text[] NOT NULL,
    caused_by        text NOT NULL,
    sink_seq         bigserial NOT NULL,
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time),
    CONSTRAINT risk_trading_state_changes_states_valid CHECK (
        from_state IN ('ACTIVE', 'REDUCING', 'HALTED') AND to_state IN ('ACTIVE', 'REDUCING', 'HALTED')
        AND from_state <> to_state
    )
);
CREATE INDEX risk_trading_state_changes_account_time
    ON risk_trading_state_changes (venue, account, event_time DESC, sink_seq DESC);

-- ---------------------------------------------------------------------------------------------------
-- Storage: plain PostgreSQL. BRIN indexes for time-range scans, as in 0002_timeseries.plain.sql.

CREATE INDEX trading_fills_event_time_brin ON trading_fills USING brin (event_time);
CREATE INDEX trading_rejections_event_time_brin ON trading_rejections USING brin (event_time);
CREATE INDEX risk_approvals_event_time_brin ON risk_approvals USING brin (event_time);
CREATE INDEX risk_position_history_event_time_brin ON risk_position_history USING brin (event_time);
CREATE INDEX risk_breaker_transitions_event_time_brin ON risk_breaker_transitions USING brin (event_time);
CREATE INDEX risk_trading_state_changes_event_time_brin ON risk_trading_state_changes USING brin (event_time);

-- ---------------------------------------------------------------------------------------------------
-- Views (the same in both storage modes). Days are UTC days. "Latest" = the highest event_time, ties
-- broken by sink_seq (the later event in the log).

-- The latest PositionUpdate of every position (account, venue, symbol) ever traded, flat ones included.
CREATE VIEW risk_positions_latest AS
SELECT DISTINCT ON (account, venue, symbol)
       account, venue, symbol, event_time, reason, quantity, average_price, mark_price, realized_pnl, fees,
       unrealized_pnl, equity, peak_equity, drawdown_bps, caused_by, event_id
FROM risk_position_history
ORDER BY account, venue, symbol, event_time DESC, sink_seq DESC;

-- Current positions with their PnL (quote currency): net_pnl = realized - fees + unrealized; flat
-- positions stay (their realized PnL and fees count in the account's PnL).
CREATE VIEW risk_current_positions AS
SELECT account,
       venue,
       symbol,
       CASE WHEN quantity > 0 THEN 'LONG' WHEN quantity < 0 THEN 'SHORT' ELSE 'FLAT' END AS side,
       quantity,
       average_price,
       mark_price,
       quantity * mark_price AS market_value,
       realized_pnl,
       fees,
       unrealized_pnl,
       realized_pnl - fees + unrealized_pnl AS net_pnl,
       equity,
       peak_equity,
       drawdown_bps,
       event_time AS as_of
FROM risk_positions_latest;

-- PnL per position and UTC day: the day's change of the cumulative figures of the day's last update
-- (realized, fees, net = realized - fees + unrealized), the closing figures, and the day's updates.
CREATE VIEW risk_pnl_daily AS
WITH per_day AS (
    SELECT account, venue, symbol, (event_time AT TIME ZONE 'UTC')::date AS day, event_time, sink_seq, reason,
           quantity, realized_pnl, fees, unrealized_pnl, realized_pnl - fees + unrealized_pnl AS net_pnl
    FROM risk_position_history
), closing AS (
    SELECT DISTINCT ON (account, venue, symbol, day)
           account, venue, symbol, day, quantity, realized_pnl, fees, unrealized_pnl, net_pnl,
           count(*) OVER day_updates AS updates,
           count(*) FILTER (WHERE reason = 'FILL') OVER day_updates AS fills
    FROM per_day
    WINDOW day_updates AS (PARTITION BY account, venue, symbol, day)
    ORDER BY account, venue, symbol, day, event_time DESC, sink_seq DESC
)
SELECT account,
       venue,
       symbol,
       day,
       realized_pnl - coalesce(lag(realized_pnl) OVER earlier, 0) AS realized_pnl,
       fees - coalesce(lag(fees) OVER earlier, 0) AS fees,
       net_pnl - coalesce(lag(net_pnl) OVER earlier, 0) AS pnl,
       quantity AS closing_quantity,
       unrealized_pnl AS closing_unrealized_pnl,
       net_pnl AS cumulative_pnl,
       fills,
       updates
FROM closing
WINDOW earlier AS (PARTITION BY account, venue, symbol ORDER BY day);

-- The state of every breaker (venue, kind, scope) after its latest transition; `opened` counts its
-- transitions to OPEN.
CREATE VIEW risk_breaker_status AS
SELECT DISTINCT ON (venue, breaker, scope)
       venue,
       breaker,
       scope,
       account,
       symbol,
       to_state AS state,
       event_time AS since,
       open_until,
       value AS last_value,
       threshold,
       unit,
       cooldown_ms,
       count(*) FILTER (WHERE to_state = 'OPEN') OVER scope_transitions AS opened,
       count(*) OVER scope_transitions AS transitions,
       event_id
FROM risk_breaker_transitions
WINDOW scope_transitions AS (PARTITION BY venue, breaker, scope)
ORDER BY venue, breaker, scope, event_time DESC, sink_seq DESC;

-- The trading state of every account seen on a venue (in a state change, an order decision, a venue
-- rejection or a fill): its latest change's new state, ACTIVE when it never changed.
CREATE VIEW risk_trading_states AS
WITH accounts AS (
    SELECT venue, account FROM risk_trading_state_changes
    UNION SELECT venue, account FROM risk_approvals
    UNION SELECT venue, account FROM trading_rejections
    UNION SELECT venue, account FROM trading_fills
)
SELECT a.venue,
       a.account,
       coalesce(c.to_state, 'ACTIVE') AS state,
       c.event_time AS since,
       coalesce(c.tripped_breakers, '{}') AS tripped_breakers,
       coalesce(c.changes, 0) AS changes,
       c.caused_by
FROM accounts a
LEFT JOIN LATERAL (
    SELECT s.to_state, s.event_time, s.tripped_breakers, s.caused_by,
           (SELECT count(*) FROM risk_trading_state_changes n WHERE n.venue = a.venue AND n.account = a.account)
               AS changes
    FROM risk_trading_state_changes s
    WHERE s.venue = a.venue AND s.account = a.account
    ORDER BY s.event_time DESC, s.sink_seq DESC
    LIMIT 1
) c ON true;

-- The risk gate's decision on every OrderSubmitted: approvals and the gate's rejections (the venue's
-- rejections are not decisions of the gate).
CREATE VIEW risk_order_decisions AS
SELECT event_id, event_time, account, venue, symbol, client_order_id, 'APPROVED' AS decision,
       NULL::text AS reason, NULL::text AS message, side, quantity, price, reference_price, notional, trading_state
FROM risk_approvals
UNION ALL
SELECT event_id, event_time, account, venue, symbol, client_order_id, 'REJECTED', reason, message,
       NULL, NULL, NULL, NULL, NULL, NULL
FROM trading_rejections
WHERE rejected_by = 'RISK';

-- Rejected orders per venue, source (VENUE or RISK) and reason code.
CREATE VIEW risk_rejected_orders_by_reason AS
SELECT venue,
       rejected_by,
       reason,
       count(*) AS rejections,
       count(DISTINCT account) AS accounts,
       min(event_time) AS first_at,
       max(event_time) AS last_at
FROM trading_rejections
GROUP BY venue, rejected_by, reason;

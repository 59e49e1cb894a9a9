"""The risk pipeline's persistence: migration 0004_risk, sinks/tables.risk.toml (with its [[ignore]]
entries), the views, and ``mercado risk status`` — on the real broker and database.

One scenario runs through both risk stages in process (:class:`InProcessRisk`); its order events and
every output are produced to the catalog topics (under a test prefix), each output twice (a re-run of
the stage), and ``mercado sink``'s runner reads its default topics into a private schema; then all of
it is produced once more and a second run of the sink reads it (a replay): still one row per event.

binance BTC/USDT (mids 100 -> 102 -> 103 the next day): mm-1 buys 10 at 100 (fee 0.5), sells 4 at 102
(fee 0.2) and, the next day, 6 at 103 (fee 0.3); mm-2 sells 2 at 102 (fee 0.1). Orders c3 (notional),
c4 and c5 (price band) are refused by the gate, c6 by the venue. A 900 ms probe opens the latency
breaker (HALTED: c8 is refused); at its cooldown end a 20 ms probe makes it HALF_OPEN and CLOSED at
the same event time. kraken ETH/USDT (mids 50 -> 51): mm-1 buys 1 + 1 at 50 (fees 0.05 each), the
second fill arrives after the 51 tick, so its update shares that tick's event time; a 900 ms probe
then opens kraken's latency breaker (HALTED).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from processors import topics
from processors.core import Emit
from processors.risk import AccountVenueConfig, BreakerConfig, RiskConfig
from queries.risk import RiskStatusError, print_risk_summary
from schemas.loader import load_schemas
from sinks.migrate import MIGRATIONS_DIR, StorageMode, discover_migrations, migrate
from sinks.runner import SinkRunner, default_topics
from sinks.tables import MAPPING_FILE, Ignored, MappingError, load_ignored, load_mappings, parse_mappings
from streams.config import Settings, get_settings
from tests.support.risk_events import (
    T0,
    Event,
    Run,
    S,
    accepted,
    filled,
    probe,
    rejected,
    submitted,
    tick,
)
from tests.support.sink import (
    EventProducer,
    create_database,
    create_topics,
    drain,
    drop_database,
    isolated,
    migrated,
    query,
    stored_offsets,
)

D = Decimal
DAY = 86_400 * S
RISK_MAPPING_FILE = MAPPING_FILE.parent / "tables.risk.toml"
RISK_TABLES = {
    "trading_fills": "mercado.trading.OrderFilled",
    "trading_rejections": "mercado.trading.OrderRejected",
    "risk_approvals": "mercado.risk.OrderApproved",
    "risk_position_history": "mercado.risk.PositionUpdate",
    "risk_breaker_transitions": "mercado.risk.BreakerTransition",
    "risk_trading_state_changes": "mercado.risk.TradingStateChanged",
}
RISK_VIEWS = {
    "risk_positions_latest", "risk_current_positions", "risk_pnl_daily", "risk_breaker_status",
    "risk_trading_states", "risk_order_decisions", "risk_rejected_orders_by_reason",
}  # fmt: skip
TIMESTAMP_FIELDS = {"event_time", "open_until"}
ORDER_EVENTS = {"OrderSubmitted", "OrderAccepted", "OrderRejected", "OrderFilled", "OrderCanceled"}


def ts(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


# --------------------------------------------------------------------------- the scenario
def scenario() -> tuple[list[Event], list[Emit]]:
    """The inputs (in the risk stage's order) and every output of both stages."""
    funds = {"USDT": D(100_000), "BTC": D(5), "ETH": D(0)}
    account = AccountVenueConfig(balances=funds, starting_equity=D(100_000))
    config = RiskConfig(
        breakers=BreakerConfig(consecutive_violations=1, cooldown_s=60),
        accounts={"mm-1": {"binance": account, "kraken": account}, "mm-2": {"binance": account}},
        mark_update_s=0,  # a MARK update on every tick of a held symbol
    )
    eth = {"venue": "kraken", "symbol": "ETH/USDT"}
    inputs = [
        tick(T0, 99.99, 100.01),
        submitted(T0 + 1 * S, "c1", "BUY", "10", "100"),
        accepted(T0 + 2 * S, "c1"),
        filled(T0 + 3 * S, "c1", "BUY", "100", "10", "0.5"),
        tick(T0 + 70 * S, 101.99, 102.01),
        submitted(T0 + 71 * S, "c2", "SELL", "4", "102"),
        filled(T0 + 73 * S, "c2", "SELL", "102", "4", "0.2"),
        submitted(T0 + 74 * S, "c3", "BUY", "1000", "102"),  # MAX_NOTIONAL
        submitted(T0 + 75 * S, "c4", "BUY", "1", "120"),  # PRICE_BAND
        submitted(T0 + 75 * S, "m1", "SELL", "2", "102", account="mm-2"),
        filled(T0 + 76 * S, "m1", "SELL", "102", "2", "0.1", account="mm-2"),
        submitted(T0 + 76 * S, "c5", "BUY", "1", "90"),  # PRICE_BAND
        submitted(T0 + 77 * S, "c6", "BUY", "1", "101"),
        rejected(T0 + 78 * S, "c6", "RATE_LIMIT"),  # by the venue
        tick(T0 + 79 * S, 49.99, 50.01, **eth),
        submitted(T0 + 80 * S, "k1", "BUY", "2", "50", **eth),
        filled(T0 + 81 * S, "k1", "BUY", "50", "1", "0.05", trade="k1-a", **eth),
        tick(T0 + 82 * S, 50.99, 51.01, **eth),
        filled(T0 + 81 * S + 500_000, "k1", "BUY", "50", "1", "0.05", trade="k1-b", **eth),  # arrives late
        probe(T0 + 90 * S, 900.0, venue="kraken"),
        probe(T0 + 100 * S, 900.0),
        submitted(T0 + 110 * S, "c8", "BUY", "1", "102"),  # TRADING_HALTED
        probe(T0 + 160 * S, 20.0),  # the cooldown ends: HALF_OPEN, then CLOSED
        tick(T0 + DAY, 102.99, 103.01),
        submitted(T0 + DAY + 1 * S, "c7", "SELL", "6", "103"),
        filled(T0 + DAY + 2 * S, "c7", "SELL", "103", "6", "0.3"),
    ]
    run = Run(config, partitions=3)
    run(*inputs)
    return inputs, run.out


def produce(settings: Settings, inputs: list[Event], outputs: list[Emit], times: int) -> None:
    """Order events to trading.orders.v1 and ticks to risk.inputs.v1 (which the sink does not read by
    default); every output to its topic ``times`` times (the whole run again, as a restarted stage would)."""
    producer = EventProducer(settings)
    for schema, record in inputs:
        if schema in ORDER_EVENTS:
            producer.send(topics.ORDERS, schema, record)
        elif schema == "PriceTick":
            producer.send(topics.RISK_INPUTS, schema, record, key=record["venue"])
    for _ in range(times):
        for e in outputs:
            producer.send(e.topic, e.schema, e.record, key=e.key)
    producer.flush()


@pytest.fixture(scope="module")
def risk_database(services: Settings) -> Iterator[Settings]:
    settings = create_database(services, "sink_risk")
    yield settings
    drop_database(settings)


class Landed:
    def __init__(self, settings: Settings, inputs: list[Event], outputs: list[Emit], runs: list[SinkRunner]):
        self.settings = settings
        self.inputs = inputs
        self.outputs = outputs
        self.runs = runs

    def records(self, schema: str) -> list[dict[str, Any]]:
        inputs = [r for s, r in self.inputs if s == schema and s in ORDER_EVENTS]
        return inputs + [e.record for e in self.outputs if e.schema == schema]


@pytest.fixture(scope="module")
def landed(risk_database: Settings) -> Landed:
    """The scenario sunk for the module (plain PostgreSQL): its outputs twice, then everything once more
    (a replay) read by a second run of the sink."""
    settings = migrated(isolated(risk_database, db__timescaledb="off"))
    sunk = default_topics(load_mappings())
    create_topics(settings, *sunk, topics.RISK_INPUTS)
    inputs, outputs = scenario()
    produce(settings, inputs, outputs, times=2)
    first = drain(settings, sunk)
    produce(settings, inputs, outputs, times=1)
    second = drain(settings, sunk)
    return Landed(settings, inputs, outputs, [first, second])


def rows(settings: Settings, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in query(settings, sql, *args)]


# --------------------------------------------------------------------------- mapping and migration files
def test_the_risk_record_types_have_tables_and_the_order_lifecycle_rest_is_ignored() -> None:
    risk = {m.table: (m.record, m.key, m.on_conflict.value) for m in load_mappings(MAPPING_FILE, RISK_MAPPING_FILE)}
    assert {t: v for t, v in risk.items() if t in RISK_TABLES} == {
        table: (record, ("event_id", "event_time"), "ignore") for table, record in RISK_TABLES.items()
    }
    assert load_ignored(MAPPING_FILE, RISK_MAPPING_FILE) == Ignored(
        records=frozenset({"mercado.trading.OrderSubmitted", "mercado.trading.OrderAccepted",
                           "mercado.trading.OrderCanceled", "mercado.risk.OrderCancelRequested"}),
        topics=frozenset({"risk.inputs.v1", "paper.inputs.v1"}),
    )  # fmt: skip
    assert default_topics(load_mappings(MAPPING_FILE, RISK_MAPPING_FILE)) == [
        "md.bars.v1", "md.gaps.v1", "md.indicators.v1", "md.quality.v1", "md.late-ticks.v1", "md.alerts.v1",
        "trading.orders.v1", "risk.order-decisions.v1", "risk.breakers.v1", "risk.trading-state.v1",
        "risk.positions.v1", "risk.alerts.v1",
    ]  # fmt: skip
    # every record type of the risk topics the sink reads has a table or is ignored: none is dead-lettered
    from streams.kafka.catalog import topic

    handled = {m.record.rsplit(".", 1)[1] for m in load_mappings()} | {
        r.rsplit(".", 1)[1] for r in load_ignored().records
    }
    for name in ("trading.orders.v1", "risk.order-decisions.v1", "risk.breakers.v1", "risk.trading-state.v1",
                 "risk.positions.v1", "risk.alerts.v1"):  # fmt: skip
        assert set(topic(name).schemas) <= handled, name


def _document(*ignore: dict[str, Any]) -> dict[str, Any]:
    table = {
        "record": "mercado.trading.OrderFilled",
        "table": "fills",
        "key": ["event_id"],
        "columns": {"event_id": "event_id"},
    }
    return {"table": [table], "ignore": list(ignore)}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"record": "mercado.trading.OrderFilled", "reason": "x"}, "OrderFilled is mapped to a table"),
        ({"record": "mercado.trading.Nope", "reason": "x"}, "unknown record type 'mercado.trading.Nope'"),
        ({"topic": "risk.nope.v1", "reason": "x"}, "'risk.nope.v1' is not a catalog topic"),
        ({"record": "mercado.trading.OrderSubmitted"}, "needs a reason"),
        ({"record": "mercado.trading.OrderSubmitted", "topic": "risk.inputs.v1", "reason": "x"}, "either a record"),
        ({"reason": "x"}, "either a record or a topic"),
        ({"record": "mercado.trading.OrderSubmitted", "reason": "x", "why": "y"}, "unknown keys ['why']"),
    ],
)
def test_ignore_mistakes_are_reported(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(MappingError) as raised:
        parse_mappings(_document(entry))
    assert message in str(raised.value)


def _sections(path: Path) -> tuple[str, str, str]:
    """(tables, storage section, views) of a 0004 file: the views start at the 'Views' banner."""
    text = path.read_text()
    storage = text.index("-- Storage: ")
    storage = text.rindex("-- ----", 0, storage)
    views = text.index("-- Views (the same in both storage modes)")
    views = text.rindex("-- ----", 0, views)
    return text[:storage], text[storage:views], text[views:]


def test_both_storage_modes_create_the_same_tables_and_views() -> None:
    [risk] = [m for m in discover_migrations() if m.version == 4]
    assert risk.name == "risk"
    plain = _sections(risk.path(StorageMode.PLAIN))
    timescale = _sections(risk.path(StorageMode.TIMESCALEDB))
    assert plain[0] == timescale[0]
    assert plain[2] == timescale[2]
    created = set(re.findall(r"CREATE TABLE (\w+)", plain[0]))
    assert created == set(RISK_TABLES)
    assert set(re.findall(r"create_hypertable\('(\w+)', 'event_time'", timescale[1])) == created
    assert set(re.findall(r"ALTER TABLE (\w+) SET \(\s*timescaledb.compress,", timescale[1])) == created
    assert set(re.findall(r"CREATE VIEW (\w+)", plain[2])) == RISK_VIEWS
    assert (MIGRATIONS_DIR / "0004_risk.plain.sql").exists()


@pytest.mark.postgres
def test_the_migration_creates_the_tables_with_ingested_at_and_the_views(risk_database: Settings) -> None:
    settings = isolated(risk_database, db__timescaledb="off")
    report = asyncio.run(migrate(settings))
    assert "0004_risk" in report.applied
    schema = settings.db.schema_name
    tables = {r[0] for r in query(settings, "SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)}
    assert set(RISK_TABLES) <= tables
    views = {r[0] for r in query(settings, "SELECT viewname FROM pg_views WHERE schemaname = $1", schema)}
    assert RISK_VIEWS <= views
    columns = query(
        settings,
        "SELECT table_name, column_name, data_type, column_default FROM information_schema.columns "
        "WHERE table_schema = $1 AND column_name IN ('ingested_at', 'sink_seq')",
        schema,
    )
    found = {(r["table_name"], r["column_name"]): (r["data_type"], r["column_default"]) for r in columns}
    for table in RISK_TABLES:
        assert found[(table, "ingested_at")] == ("timestamp with time zone", "now()")
    assert {t for t, c in found if c == "sink_seq"} == {
        "risk_position_history", "risk_breaker_transitions", "risk_trading_state_changes"
    }  # fmt: skip
    again = asyncio.run(migrate(settings))
    assert (again.applied, "0004_risk" in again.present, again.changed) == ([], True, [])


# --------------------------------------------------------------------------- every record exactly once
@pytest.mark.kafka
@pytest.mark.postgres
def test_every_risk_record_lands_exactly_once_with_its_values(landed: Landed) -> None:
    settings = landed.settings
    schemas = load_schemas()
    written = 0
    for table, record_type in RISK_TABLES.items():
        records = landed.records(record_type.rsplit(".", 1)[1])
        assert records, table
        expected = {r["event_id"]: {k: ts(v) if k in TIMESTAMP_FIELDS and v is not None else v for k, v in r.items()}
                    for r in records}  # fmt: skip
        assert len(expected) == len(records)  # the scenario's ids are unique
        fields = [f["name"] for f in schemas[record_type].expanded["fields"]]
        got = rows(settings, f"SELECT {', '.join(fields)} FROM {table}")
        assert len(got) == len(expected), table  # each produced two or three times, one row
        assert {r["event_id"]: r for r in got} == expected, table
        written += len(records)
    alert_ids = {e.record["event_id"] for e in landed.outputs if e.schema == "Alert"}
    assert {r[0] for r in query(settings, "SELECT event_id FROM alerts")} == alert_ids

    counts = {t: query(settings, f"SELECT count(*) FROM {t}")[0][0] for t in RISK_TABLES}
    assert counts == {
        "trading_fills": 6, "trading_rejections": 5, "risk_approvals": 6, "risk_position_history": 10,
        "risk_breaker_transitions": 4, "risk_trading_state_changes": 5,
    }  # fmt: skip
    outputs = len(landed.outputs)
    ignored = sum(1 for s, _ in landed.inputs if s in ("OrderSubmitted", "OrderAccepted", "OrderCanceled"))
    assert ignored == 11  # 10 OrderSubmitted, 1 OrderAccepted
    first, second = (run.stats for run in landed.runs)
    assert (first.rows, first.dead_letters, first.ignored) == (2 * outputs + 6 + 1, 0, ignored)  # + fills, c6
    assert (second.rows, second.dead_letters, second.ignored) == (outputs + 6 + 1, 0, ignored)  # the replay
    assert query(settings, "SELECT count(*) FROM mercado_dead_letters")[0][0] == 0
    assert not [key for key in stored_offsets(settings) if key[0] == settings.topic(topics.RISK_INPUTS)]


@pytest.mark.kafka
@pytest.mark.postgres
def test_a_breaker_transition_row_column_by_column(landed: Landed) -> None:
    [row] = rows(landed.settings, "SELECT * FROM risk_breaker_transitions WHERE venue = 'kraken'")
    assert row.pop("sink_seq") > 0 and row.pop("ingested_at") is not None
    opened = f"kraken:ping:{T0 + 90 * S}"
    assert row == {
        "event_id": f"breaker:LATENCY:kraken:CLOSED>OPEN:{opened}",
        "event_time": ts(T0 + 90 * S),
        "venue": "kraken",
        "breaker": "LATENCY",
        "scope": "kraken",
        "account": None,
        "symbol": None,
        "from_state": "CLOSED",
        "to_state": "OPEN",
        "value": D("900"),
        "threshold": D("500"),
        "unit": "ms",
        "consecutive_violations": 1,
        "cooldown_ms": 60_000,
        "open_until": ts(T0 + 150 * S),
        "caused_by": opened,
    }


# --------------------------------------------------------------------------- views
@pytest.mark.kafka
@pytest.mark.postgres
def test_current_positions_with_pnl(landed: Landed) -> None:
    got = rows(
        landed.settings,
        "SELECT account, venue, symbol, side, quantity, average_price, mark_price, market_value, realized_pnl, fees,"
        " unrealized_pnl, net_pnl, as_of FROM risk_current_positions ORDER BY account, venue, symbol",
    )
    columns = ["account", "venue", "symbol", "side", "quantity", "average_price", "mark_price", "market_value",
               "realized_pnl", "fees", "unrealized_pnl", "net_pnl", "as_of"]  # fmt: skip
    assert [tuple(r[c] for c in columns) for r in got] == [
        ("mm-1", "binance", "BTC/USDT", "FLAT", 0, None, 103, 0, 26, D("1.0"), 0, D("25.0"), ts(T0 + DAY + 2 * S)),
        # the late fill and the 51 tick share T0 + 82 s: the fill came later in the log, so it is the latest
        ("mm-1", "kraken", "ETH/USDT", "LONG", 2, 50, 51, 102, 0, D("0.1"), 2, D("1.9"), ts(T0 + 82 * S)),
        ("mm-2", "binance", "BTC/USDT", "SHORT", -2, 102, 103, -206, 0, D("0.1"), -2, D("-2.1"), ts(T0 + DAY)),
    ]
    latest = rows(landed.settings, "SELECT reason, event_id FROM risk_positions_latest WHERE venue = 'kraken'")
    assert latest == [{"reason": "FILL", "event_id": latest[0]["event_id"]}]
    assert latest[0]["event_id"].endswith(f"k1:filled-k1-b:{T0 + 81 * S + 500_000}")
    history = rows(landed.settings, "SELECT reason, quantity, event_time FROM risk_position_history "
                   "WHERE venue = 'kraken' ORDER BY sink_seq")  # fmt: skip
    assert [(r["reason"], r["quantity"], r["event_time"]) for r in history] == [
        ("FILL", 1, ts(T0 + 81 * S)), ("MARK", 1, ts(T0 + 82 * S)), ("FILL", 2, ts(T0 + 82 * S)),
    ]  # fmt: skip


@pytest.mark.kafka
@pytest.mark.postgres
def test_pnl_per_day(landed: Landed) -> None:
    got = rows(landed.settings, "SELECT * FROM risk_pnl_daily ORDER BY account, venue, symbol, day")
    nov20, nov21 = dt.date(2026, 11, 20), dt.date(2026, 11, 21)
    assert [tuple(r.values()) for r in got] == [
        # account, venue, symbol, day, realized, fees, pnl, closing quantity, closing unrealized, cumulative,
        # fills, updates
        ("mm-1", "binance", "BTC/USDT", nov20, 8, D("0.7"), D("19.3"), 6, 12, D("19.3"), 2, 3),
        ("mm-1", "binance", "BTC/USDT", nov21, 18, D("0.3"), D("5.7"), 0, 0, D("25.0"), 1, 2),
        ("mm-1", "kraken", "ETH/USDT", nov20, 0, D("0.1"), D("1.9"), 2, 2, D("1.9"), 2, 3),
        ("mm-2", "binance", "BTC/USDT", nov20, 0, D("0.1"), D("-0.1"), -2, 0, D("-0.1"), 1, 1),
        ("mm-2", "binance", "BTC/USDT", nov21, 0, 0, D("-2.0"), -2, -2, D("-2.1"), 0, 1),
    ]
    assert list(got[0]) == ["account", "venue", "symbol", "day", "realized_pnl", "fees", "pnl", "closing_quantity",
                            "closing_unrealized_pnl", "cumulative_pnl", "fills", "updates"]  # fmt: skip


@pytest.mark.kafka
@pytest.mark.postgres
def test_breaker_status_per_venue(landed: Landed) -> None:
    got = rows(landed.settings, "SELECT venue, breaker, scope, state, since, open_until, last_value, threshold, unit,"
               " opened, transitions FROM risk_breaker_status ORDER BY venue, breaker, scope")  # fmt: skip
    assert [tuple(r.values()) for r in got] == [
        # OPEN -> HALF_OPEN (the cooldown end) and HALF_OPEN -> CLOSED share T0 + 160 s: CLOSED came later
        ("binance", "LATENCY", "binance", "CLOSED", ts(T0 + 160 * S), None, 20, 500, "ms", 1, 3),
        ("kraken", "LATENCY", "kraken", "OPEN", ts(T0 + 90 * S), ts(T0 + 150 * S), 900, 500, "ms", 1, 1),
    ]


@pytest.mark.kafka
@pytest.mark.postgres
def test_trading_state_per_venue_and_account(landed: Landed) -> None:
    got = rows(landed.settings, "SELECT venue, account, state, since, tripped_breakers, changes "
               "FROM risk_trading_states ORDER BY venue, account")  # fmt: skip
    assert [tuple(r.values()) for r in got] == [
        ("binance", "mm-1", "ACTIVE", ts(T0 + 160 * S), [], 2),
        ("binance", "mm-2", "ACTIVE", ts(T0 + 160 * S), [], 2),
        ("kraken", "mm-1", "HALTED", ts(T0 + 90 * S), ["LATENCY:kraken"], 1),
    ]


@pytest.mark.kafka
@pytest.mark.postgres
def test_order_decisions_and_rejected_orders_by_reason(landed: Landed) -> None:
    decisions = rows(landed.settings, "SELECT client_order_id, decision, reason, notional FROM risk_order_decisions "
                     "ORDER BY event_time, client_order_id")  # fmt: skip
    assert [tuple(r.values()) for r in decisions] == [
        ("c1", "APPROVED", None, 1000), ("c2", "APPROVED", None, 408), ("c3", "REJECTED", "MAX_NOTIONAL", None),
        ("c4", "REJECTED", "PRICE_BAND", None), ("m1", "APPROVED", None, 204), ("c5", "REJECTED", "PRICE_BAND", None),
        ("c6", "APPROVED", None, 101), ("k1", "APPROVED", None, 100), ("c8", "REJECTED", "TRADING_HALTED", None),
        ("c7", "APPROVED", None, 618),
    ]  # fmt: skip
    by_reason = rows(
        landed.settings, "SELECT * FROM risk_rejected_orders_by_reason ORDER BY venue, rejected_by, reason"
    )
    assert [tuple(r.values()) for r in by_reason] == [
        ("binance", "RISK", "MAX_NOTIONAL", 1, 1, ts(T0 + 74 * S), ts(T0 + 74 * S)),
        ("binance", "RISK", "PRICE_BAND", 2, 1, ts(T0 + 75 * S), ts(T0 + 76 * S)),
        ("binance", "RISK", "TRADING_HALTED", 1, 1, ts(T0 + 110 * S), ts(T0 + 110 * S)),
        ("binance", "VENUE", "RATE_LIMIT", 1, 1, ts(T0 + 78 * S), ts(T0 + 78 * S)),
    ]


# --------------------------------------------------------------------------- mercado risk status
@pytest.fixture
def cli_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Points ``get_settings()`` (cached) at a database and schema for the CLI under test."""

    def use(settings: Settings) -> None:
        monkeypatch.setenv("MERCADO_DATABASE_URL", settings.dsn())
        monkeypatch.setenv("MERCADO_DB__SCHEMA_NAME", settings.db.schema_name)
        monkeypatch.setenv("COLUMNS", "200")
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def mercado(*args: str) -> Any:
    from streams.commands.cli import app

    return CliRunner().invoke(app, list(args))


def lines(text: str) -> list[str]:
    """Table rows as lists of cells (box-drawing characters dropped)."""
    out = []
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]
        if cells and not re.fullmatch(r"[─━┏┓┗┛┡┩└┘┌┐├┤┬┴┼╇╈╋╂┳┻ ]+", line.strip()):
            out.append(cells)
    return out


@pytest.mark.kafka
@pytest.mark.postgres
def test_risk_status_prints_trading_states_and_breakers_per_venue(landed: Landed, cli_settings: Any) -> None:
    cli_settings(landed.settings)
    result = mercado("risk", "status")
    assert result.exit_code == 0, result.output
    assert lines(result.output) == [
        ["Trading state per venue"],
        ["venue", "account", "state", "since (UTC)", "tripped breakers", "changes"],
        ["binance", "mm-1", "ACTIVE", "2026-11-20 00:02:40", "-", "2"],
        ["binance", "mm-2", "ACTIVE", "2026-11-20 00:02:40", "-", "2"],
        ["kraken", "mm-1", "HALTED", "2026-11-20 00:01:30", "LATENCY:kraken", "1"],
        ["Circuit breakers per venue"],
        ["venue", "breaker", "scope", "state", "since (UTC)", "open until", "last value", "threshold", "opened"],
        ["binance", "LATENCY", "binance", "CLOSED", "2026-11-20 00:02:40", "-", "20 ms", "500 ms", "1"],
        ["kraken", "LATENCY", "kraken", "OPEN", "2026-11-20 00:01:30", "2026-11-20 00:02:30", "900 ms", "500 ms", "1"],
    ]
    only_kraken = mercado("risk", "status", "--venue", "kraken")
    assert only_kraken.exit_code == 0
    assert [row[:2] for row in lines(only_kraken.output) if len(row) > 1] == [
        ["venue", "account"], ["kraken", "mm-1"], ["venue", "breaker"], ["kraken", "LATENCY"],
    ]  # fmt: skip
    nothing = mercado("risk", "status", "-v", "nowhere")
    assert nothing.exit_code == 0 and "no risk data for nowhere" in nothing.output


@pytest.mark.postgres
def test_risk_status_on_an_unmigrated_or_unreachable_database_says_so(
    risk_database: Settings, cli_settings: Any
) -> None:
    cli_settings(isolated(risk_database))  # a schema nobody migrated
    result = mercado("risk", "status")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "error: the risk tables are not there" in text and "run `mercado db migrate` first" in text
    assert "Traceback" not in result.output
    unreachable = risk_database.with_({"database_url": "postgresql://mercado:secret@127.0.0.1:1/mercado"})
    cli_settings(unreachable)
    result = mercado("risk", "status")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "error: cannot reach PostgreSQL" in text and "secret" not in text and "Traceback" not in text


@pytest.mark.kafka
@pytest.mark.postgres
def test_the_risk_summary_for_the_demo(landed: Landed, risk_database: Settings) -> None:
    console = Console(record=True, width=200)
    print_risk_summary(landed.settings, console)
    assert lines(console.export_text()) == [
        ["Breaker transitions"],
        ["venue", "breaker", "scopes", "transitions", "opened"],
        ["binance", "LATENCY", "1", "3", "1"],
        ["kraken", "LATENCY", "1", "1", "1"],
        ["Trading states"],
        ["venue", "account", "state", "changes", "tripped breakers"],
        ["binance", "mm-1", "ACTIVE", "2", "-"],
        ["binance", "mm-2", "ACTIVE", "2", "-"],
        ["kraken", "mm-1", "HALTED", "1", "LATENCY:kraken"],
        ["PnL per account (quote currency)"],
        ["account", "positions", "open", "realized PnL", "fees", "unrealized PnL", "net PnL"],
        ["mm-1", "2", "1", "26", "1.1", "2", "26.9"],
        ["mm-2", "1", "1", "0", "0.1", "-2", "-2.1"],
    ]
    with pytest.raises(RiskStatusError, match="not migrated"):
        print_risk_summary(isolated(risk_database), Console(record=True))

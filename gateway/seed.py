"""Snapshots of push channels from the database, for a process that has not seen the channel's events yet.

A fresh gateway process knows nothing of the past: without this, a subscriber to ``bars:…`` would get an
empty snapshot until the next bar. The rows come back in the events' own shape — the sink's mapping
(``sinks/tables*.toml``: column <- record field) read backwards, timestamps as µs since the epoch — so a
snapshot item looks like the events that follow it. Ticks are not stored: their snapshot starts empty.
"""

from __future__ import annotations

from typing import Any

from sinks.tables import ColumnType, TableMapping, load_mappings, quote_ident

RECORDS = {
    "bars": "mercado.marketdata.Bar",
    "breakers": "mercado.risk.BreakerTransition",
    "alerts": "mercado.alerts.Alert",
    "opportunities": "mercado.retail.ArbitrageOpportunity",
    "recommendations": "mercado.recommendations.Recommendation",
}


def _mappings() -> dict[str, TableMapping]:
    by_record = {m.record: m for m in load_mappings()}
    return {kind: by_record[record] for kind, record in RECORDS.items()}


MAPPINGS = _mappings()


def _select(mapping: TableMapping, alias: str = "t") -> str:
    parts = []
    for c in mapping.columns:
        column = f"{alias}.{quote_ident(c.name)}"
        if c.type is ColumnType.TIMESTAMP:
            column = f"(EXTRACT(EPOCH FROM {column}) * 1000000)::bigint"
        parts.append(f"{column} AS {quote_ident(c.name)}")
    return ", ".join(parts)


def to_record(mapping: TableMapping, row: Any) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for c in mapping.columns:
        if c.header is not None:  # from a message header: not a field of the event
            continue
        node = record
        for part in c.path[:-1]:
            node = node.setdefault(part, {})
        node[c.path[-1]] = row[c.name]
    return record


def seed_query(channel: str) -> tuple[str, tuple[Any, ...], TableMapping] | None:
    """(SQL, arguments, mapping) of a channel's snapshot rows, oldest first; None for ticks."""
    kind, _, rest = channel.partition(":")
    mapping = MAPPINGS.get(kind)
    if mapping is None:
        return None
    table = quote_ident(mapping.table)
    columns = _select(mapping)
    if kind == "bars":
        venue, symbol, interval = rest.rsplit(":", 2)[0], rest.rsplit(":", 2)[1], int(rest.rsplit(":", 2)[2])
        sql = (f"SELECT {columns} FROM {table} t WHERE venue = $1 AND symbol = $2 AND interval_s = $3 "
               "ORDER BY start_time DESC LIMIT 1")  # fmt: skip
        return sql, (venue, symbol, interval), mapping
    if kind == "breakers":
        sql = (f"SELECT DISTINCT ON (venue, breaker, scope) {columns} FROM {table} t "
               "ORDER BY venue, breaker, scope, event_time DESC, sink_seq DESC")  # fmt: skip
        return sql, (), mapping
    if kind == "alerts":
        sql = (f"SELECT * FROM (SELECT {columns} FROM {table} t ORDER BY event_time DESC, event_id DESC LIMIT $1) a "
               "ORDER BY event_time, event_id")  # fmt: skip
        return sql, (50,), mapping
    if kind == "recommendations":  # the latest of each ticker (the view has the table's columns)
        sql = (f"SELECT {columns} FROM latest_recommendations t ORDER BY analysis_date, ticker LIMIT $1")
        return sql, (20_000,), mapping
    # opportunities:<tier>: the latest revision of each open opportunity of the tier
    sql = (f"SELECT {columns} FROM {table} t JOIN retail_open_opportunities o "
           "ON o.opportunity_id = t.opportunity_id AND o.revision = t.revision AND o.updated_at = t.event_time "
           "WHERE o.tier = $1 ORDER BY t.event_time, t.opportunity_id LIMIT $2")  # fmt: skip
    return sql, (rest.upper(), 20_000), mapping


def item_key(channel: str, record: dict[str, Any]) -> str:
    kind = channel.partition(":")[0]
    if kind == "bars":
        return "bar"
    if kind == "breakers":
        return f"{record['venue']}|{record['breaker']}|{record['scope']}"
    if kind == "alerts":
        return str(record["event_id"])
    if kind == "recommendations":
        return str(record["ticker"])
    return str(record["opportunity_id"])

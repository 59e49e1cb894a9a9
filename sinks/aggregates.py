"""TimescaleDB continuous aggregates the sink refreshes itself: rows older than a refresh policy's window.

A refresh policy materializes only the buckets inside its window (``md_bars_1h``: from 3 days to 1 hour
ago). Rows the sink writes for older times (a backfill, revisions of old bars, a replayed or rebuilt day)
invalidate buckets no policy run will ever refresh: queries still answer through real-time aggregation,
but they aggregate the raw rows again every time. So after a batch commits, for each aggregate whose
source hypertable got rows older than its policy's window, the sink calls
``refresh_continuous_aggregate`` over the UTC days those rows fall in, up to the window (which the policy
covers). The range is widened to whole UTC days, so it covers every bucket of hourly and daily aggregates
the rows touch (a refresh materializes only the buckets entirely inside its range).
``refresh_continuous_aggregate`` cannot run inside a transaction block: it runs after the commit, on
the sink's connection, as a simple query.

The policies are read from ``timescaledb_information``, matched to their aggregate in both catalogue
shapes: up to TimescaleDB 2.19 a refresh job's ``hypertable_name`` names the aggregate's materialization
hypertable, from 2.20 on the aggregate (``md_bars_1h``) itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from sinks.tables import Row, TableMapping, quote_ident

DAY_US = 86_400_000_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# The refresh jobs of a schema's continuous aggregates, with each aggregate's source hypertable and its
# time column. ``jobs.hypertable_name`` is the materialization hypertable up to 2.19, the view from 2.20.
REFRESH_POLICIES_SQL = """
SELECT c.view_name,
       c.hypertable_name,
       d.column_name AS time_column,
       (extract(epoch FROM (j.config ->> 'start_offset')::interval) * 1000000)::bigint AS start_offset_us
FROM timescaledb_information.continuous_aggregates c
JOIN timescaledb_information.jobs j
  ON j.proc_name = 'policy_refresh_continuous_aggregate'
 AND ((j.hypertable_schema = c.view_schema AND j.hypertable_name = c.view_name)
      OR (j.hypertable_schema = c.materialization_hypertable_schema
          AND j.hypertable_name = c.materialization_hypertable_name))
JOIN timescaledb_information.dimensions d
  ON d.hypertable_schema = c.hypertable_schema AND d.hypertable_name = c.hypertable_name
 AND d.dimension_number = 1
WHERE c.view_schema = $1
ORDER BY c.view_name
"""


@dataclass(frozen=True)
class RefreshPolicy:
    view: str  # the continuous aggregate
    table: str  # its source hypertable (same schema)
    time_column: str  # the hypertable's time dimension
    start_offset_us: int | None  # how far back the policy refreshes; None: everything (nothing left to do)


def floor_day(us: int) -> int:
    return us - us % DAY_US


def ceil_day(us: int) -> int:
    return floor_day(us + DAY_US - 1)


def stale_windows(
    policies: Iterable[RefreshPolicy], table_ranges: dict[str, tuple[int, int]], now_us: int
) -> dict[str, tuple[int, int]]:
    """Per aggregate, the range [start, end) of whole UTC days (Unix µs) to refresh after rows with times
    in ``table_ranges`` (table -> oldest, newest) were written: empty where every row is inside the
    policy's window (the policy refreshes those)."""
    windows: dict[str, tuple[int, int]] = {}
    for policy in policies:
        written = table_ranges.get(policy.table)
        if written is None or policy.start_offset_us is None:
            continue
        oldest, newest = written
        horizon = now_us - policy.start_offset_us  # the policy's window starts here
        if oldest >= horizon:
            continue
        windows[policy.view] = (floor_day(oldest), ceil_day(min(newest, horizon) + 1))
    return windows


def time_ranges(
    tables: Iterable[tuple[TableMapping, Sequence[Row]]], columns: dict[str, str]
) -> dict[str, tuple[int, int]]:
    """The oldest and newest time (Unix µs, as the rows carry timestamps) per table of ``columns``
    (table -> time column) among the rows written."""
    ranges: dict[str, tuple[int, int]] = {}
    for mapping, rows in tables:
        column = columns.get(mapping.table)
        if column is None or not rows:
            continue
        position = mapping.column_names.index(column)
        values = [row[position] for row in rows if row[position] is not None]
        if not values:
            continue
        low, high = min(values), max(values)
        if mapping.table in ranges:
            low, high = min(low, ranges[mapping.table][0]), max(high, ranges[mapping.table][1])
        ranges[mapping.table] = (low, high)
    return ranges


def timestamp_literal(us: int) -> str:
    return f"'{(EPOCH + dt.timedelta(microseconds=us)).isoformat()}'::timestamptz"


def refresh_sql(function_schema: str, schema: str, view: str, start_us: int, end_us: int) -> str:
    """The CALL (literal values: it runs as a simple query, outside any transaction block)."""
    name = f"{quote_ident(schema)}.{quote_ident(view)}".replace("'", "''")
    return (
        f"CALL {quote_ident(function_schema)}.refresh_continuous_aggregate('{name}', "
        f"{timestamp_literal(start_us)}, {timestamp_literal(end_us)})"
    )


@dataclass(frozen=True)
class AggregateRefresher:
    schema: str
    function_schema: str  # where the timescaledb extension's functions live
    policies: tuple[RefreshPolicy, ...]

    @classmethod
    async def load(cls, conn: asyncpg.Connection, schema: str) -> AggregateRefresher | None:
        """The schema's refresh policies; None without TimescaleDB or without any aggregate policy."""
        function_schema = await conn.fetchval(
            "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'timescaledb'"
        )
        if function_schema is None:
            return None
        rows = await conn.fetch(REFRESH_POLICIES_SQL, schema)
        policies = tuple(
            RefreshPolicy(r["view_name"], r["hypertable_name"], r["time_column"], r["start_offset_us"]) for r in rows
        )
        return cls(schema, function_schema, policies) if policies else None

    def windows(self, tables: Iterable[tuple[TableMapping, Sequence[Row]]], now_us: int) -> dict[str, tuple[int, int]]:
        columns = {p.table: p.time_column for p in self.policies}
        return stale_windows(self.policies, time_ranges(tables, columns), now_us)

    async def refresh(self, conn: asyncpg.Connection, windows: dict[str, tuple[int, int]]) -> None:
        for view, (start_us, end_us) in sorted(windows.items()):
            await conn.execute(refresh_sql(self.function_schema, self.schema, view, start_us, end_us))

"""``mercado db checksum``: one md5 per table over its rows in key order.

Dropping the tables, migrating again and replaying the topics must give the same figures. Only the
mapped columns count (not ``ingested_at``, which says when the sink wrote the row), and for dead
letters only what the message and its rejection were (not when or by which consumer group).
The session runs in UTC so timestamps print the same on every host.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from sinks.tables import TableMapping, load_mappings, quote_ident

DEAD_LETTER_TABLE = "mercado_dead_letters"
DEAD_LETTER_COLUMNS = (
    "topic",
    "partition",
    "offset",
    "message_key",
    "message_value",
    "reason",
    "error",
    "record_type",
    "record",
)
DEAD_LETTER_KEY = ("topic", "partition", "offset")


@dataclass(frozen=True)
class TableChecksum:
    table: str
    rows: int
    md5: str


def checksum_sql(table: str, columns: Sequence[str], key: Sequence[str], schema: str | None = None) -> str:
    """md5 over the md5 of every row's text form, in key order (bounded memory for large tables)."""
    row = ", ".join(quote_ident(c) for c in columns)
    order = ", ".join(quote_ident(k) for k in key)
    qualified = (quote_ident(schema) + "." if schema else "") + quote_ident(table)
    return (
        f"SELECT count(*) AS rows, md5(coalesce(string_agg(md5(ROW({row})::text), '' ORDER BY {order}), '')) AS md5 "
        f"FROM {qualified}"
    )


def checksum_targets(mappings: Sequence[TableMapping]) -> list[tuple[str, Sequence[str], Sequence[str]]]:
    """(table, columns, key) of every table the sink writes."""
    targets: list[tuple[str, Sequence[str], Sequence[str]]] = [(m.table, m.column_names, m.key) for m in mappings]
    targets.append((DEAD_LETTER_TABLE, DEAD_LETTER_COLUMNS, DEAD_LETTER_KEY))
    return targets


async def table_checksums(
    conn: asyncpg.Connection,
    mappings: Sequence[TableMapping] | None = None,
    tables: Sequence[str] | None = None,
    schema: str | None = None,
) -> list[TableChecksum]:
    """Checksums of the sink's tables (or of ``tables`` among them), read in one snapshot."""
    targets = checksum_targets(mappings or load_mappings())
    if tables:
        unknown = set(tables) - {t for t, _, _ in targets}
        if unknown:
            raise KeyError(f"not a sink table: {', '.join(sorted(unknown))}")
        targets = [t for t in targets if t[0] in tables]
    out = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute("SET LOCAL TimeZone = 'UTC'")
        for table, columns, key in targets:
            row = await conn.fetchrow(checksum_sql(table, columns, key, schema))
            out.append(TableChecksum(table, row["rows"], row["md5"]))
    return out

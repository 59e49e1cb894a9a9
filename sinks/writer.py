"""Writes one batch in one transaction: rows, dead letters and the partitions' next offsets.

Rows of each table are COPYed (binary, ``copy_records_to_table``) into a session-local staging table
and moved into the target with ``INSERT … ON CONFLICT`` (see :mod:`sinks.tables`). While a table's
rows meet no existing key (the common case: new bars, new events), its batches are COPYed straight
into the target instead, which costs the database about half as much; the first batch that meets an
existing or repeated key fails with a unique violation, the transaction is rolled back and written
again through staging + ``ON CONFLICT``, and that table stays on that path for the next
``DIRECT_RETRY_BATCHES`` batches. Both paths leave the same rows. When the database
rejects a row (class 22 or 23: a CHECK constraint, a bad value), the transaction is rolled back and
the batch written again with each table's rows split recursively inside savepoints until the
offending rows stand alone; those become dead letters, everything else commits. Connection errors are
not handled here: they abort the transaction and the caller retries the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import orjson
import structlog
from confluent_kafka import Message

from sinks.aggregates import AggregateRefresher
from sinks.database import describe, is_row_error, sqlstate_class
from sinks.dead_letters import REJECTED_BY_DATABASE, DeadLetterTopic, dead_letter, insert_dead_letters
from sinks.tables import Row, TableMapping
from streams.codec.serde import AvroSerde, DecodeError
from streams.kafka.dead_letters import DeadLetter
from streams.observability import metrics

log = structlog.get_logger("mercado.sink.writer")

STORED_OFFSETS = "SELECT topic, partition, next_offset FROM mercado_sink_offsets WHERE consumer_group = $1"


CARDINALITY_VIOLATION = "21"  # "ON CONFLICT DO UPDATE command cannot affect row a second time"
DIRECT_RETRY_BATCHES = 50  # after a key conflict, a table's batches go through staging this many times
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds: PostgreSQL's timestamp origin


def _timestamptz_from_us(value: int) -> tuple[int]:
    """Binary ``timestamptz`` from Unix microseconds (what the rows carry), for the direct COPY."""
    return (value - PG_EPOCH_US,)


def _timestamptz_to_us(value: tuple[int]) -> int:
    return value[0] + PG_EPOCH_US


class KeyConflict(Exception):
    """A direct COPY met a key that exists already or repeats in the batch: write through staging."""

    def __init__(self, table: str):
        super().__init__(table)
        self.table = table


class RowEncodingError(ValueError):
    """A value the client could not encode for its column (wrong type, out of range): the row is bad."""


@dataclass
class TableRows:
    mapping: TableMapping
    rows: list[Row] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)  # the source of each row, same order


@dataclass
class Batch:
    """What one transaction writes. ``next_offsets`` covers every message consumed into the batch."""

    tables: dict[str, TableRows] = field(default_factory=dict)  # by record type (Avro full name)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    messages_by_partition: dict[tuple[str, int], int] = field(default_factory=dict)
    message_count: int = 0

    @property
    def row_count(self) -> int:
        return sum(len(t.rows) for t in self.tables.values())


def _is_bad_row(exc: BaseException) -> bool:
    return isinstance(exc, RowEncodingError) or is_row_error(exc)


class BatchWriter:
    def __init__(
        self,
        group: str,
        mappings: Sequence[TableMapping],
        serde: AvroSerde,
        dead_letter_topic: DeadLetterTopic,
    ):
        self.group = group
        self.serde = serde
        self.dead_letter_topic = dead_letter_topic
        self._upserts = {m.table: m.upsert_sql() for m in mappings}
        self._splitting: set[str] = set()  # tables whose rows are checked for repeated keys before writing
        self._staging = [m.create_staging_sql() for m in mappings]
        self._via_staging: dict[str, int] = {}  # table -> batches left before a direct COPY is tried again
        self.direct_copy = True  # False: every batch through staging + ON CONFLICT (the bench compares)
        self.direct_copies = 0  # batches of a table COPYed straight into it (tests, logs)
        self.key_conflicts = 0  # direct COPYs that met an existing key and were written again via staging
        self.aggregates: AggregateRefresher | None = None  # TimescaleDB aggregates to refresh after old rows

    async def prepare(self, conn: asyncpg.Connection, schema: str | None = None) -> None:
        """Creates the session's staging tables and the timestamp codec, and reads the refresh policies of
        ``schema``'s continuous aggregates (TimescaleDB); call once per new connection.

        Rows carry timestamps as Unix microseconds (int); the direct COPY sends them as binary
        ``timestamptz`` through this codec (the staging tables hold them as bigint). The connection is
        the sink's own: nothing else reads timestamps through it."""
        await conn.set_type_codec(
            "timestamptz",
            schema="pg_catalog",
            encoder=_timestamptz_from_us,
            decoder=_timestamptz_to_us,
            format="tuple",
        )
        for statement in self._staging:
            await conn.execute(statement)
        if schema is not None:
            self.aggregates = await AggregateRefresher.load(conn, schema)

    async def refresh_aggregates(
        self, conn: asyncpg.Connection, batch: Batch, now_us: int
    ) -> dict[str, tuple[int, int]]:
        """After the batch committed: refreshes the continuous aggregates over the days of rows older than
        their refresh policies' windows (:mod:`sinks.aggregates`); returns what was refreshed."""
        if self.aggregates is None:
            return {}
        windows = self.aggregates.windows(((t.mapping, t.rows) for t in batch.tables.values()), now_us)
        if windows:
            await self.aggregates.refresh(conn, windows)
        return windows

    async def stored_offsets(self, conn: asyncpg.Connection) -> dict[tuple[str, int], int]:
        return {(r["topic"], r["partition"]): r["next_offset"] for r in await conn.fetch(STORED_OFFSETS, self.group)}

    async def write(self, conn: asyncpg.Connection, batch: Batch) -> list[DeadLetter]:
        """Commits the batch; returns the rows the database rejected (now dead letters)."""
        split_repeated_keys = False
        while True:
            try:
                await self._write_fast(conn, batch, split_repeated_keys)
                return []
            except KeyConflict as conflict:  # ends: each conflict moves one more table to staging
                await _rollback(conn)
                self.key_conflicts += 1
                metrics.SINK_KEY_CONFLICTS.labels(conflict.table).inc()
                self._via_staging[conflict.table] = DIRECT_RETRY_BATCHES
                log.info("a key exists already or repeats: writing the table through staging", table=conflict.table)
            except Exception as exc:
                await _rollback(conn)
                if not split_repeated_keys and sqlstate_class(exc) == CARDINALITY_VIOLATION:
                    log.info("a key repeats within the batch (revisions of one row): writing it in parts")
                    self._splitting.update(t.mapping.table for t in batch.tables.values())
                    split_repeated_keys = True
                    continue
                if not _is_bad_row(exc):
                    raise
                log.warning("batch rejected by the database: isolating the bad rows", error=describe(exc))
                break
        rejected: list[DeadLetter] = []
        async with conn.transaction():
            for table in batch.tables.values():
                for part in table.mapping.generations(table.rows):
                    await self._isolate(conn, table, part, rejected)
            await self._finish(conn, batch, batch.dead_letters + rejected)
        return rejected

    async def _write_fast(self, conn: asyncpg.Connection, batch: Batch, split_repeated_keys: bool) -> None:
        """BEGIN, one COPY per table, then the upserts, the offsets and COMMIT in one simple query:
        three round trips for a batch of one table.

        Keys are not checked for repeats up front (it costs a pass over every row): a batch where one
        statement would update a row twice fails with a cardinality violation, and is written again
        with ``split_repeated_keys``, each table's rows in :meth:`TableMapping.generations`. A table
        that needed it is checked up front until one of its batches has no repeats."""
        await conn.execute("BEGIN")
        closing: list[str] = []
        for table in batch.tables.values():
            name = table.mapping.table
            if self.direct_copy and not split_repeated_keys and await self._copy_direct(conn, table):
                continue
            if split_repeated_keys or name in self._splitting:
                parts: list[list[int]] | list[range] = table.mapping.generations(table.rows)
                if len(parts) == 1:
                    self._splitting.discard(name)  # no repeats any more: back to not checking
            else:
                parts = [range(len(table.rows))]
            for number, part in enumerate(parts, start=1):
                await self._copy(conn, table.mapping, [table.rows[i] for i in part] if len(parts) > 1 else table.rows)
                if number < len(parts):  # the next part reuses the staging table
                    await conn.execute(self._upserts[table.mapping.table])
                else:
                    closing.append(self._upserts[table.mapping.table])
        if batch.dead_letters:
            self.dead_letter_topic.send(batch.dead_letters)
            await insert_dead_letters(conn, batch.dead_letters, self.group)
        if batch.next_offsets:
            closing.append(store_offsets_sql(self.group, batch.next_offsets))
        closing.append("COMMIT")
        await conn.execute(";\n".join(closing))

    async def _copy_direct(self, conn: asyncpg.Connection, table: TableRows) -> bool:
        """COPYs the table's rows straight into it unless it is on the staging path; True when done."""
        name = table.mapping.table
        left = self._via_staging.get(name)
        if left is not None:
            if left > 1:
                self._via_staging[name] = left - 1
            else:
                del self._via_staging[name]  # the next batch tries a direct COPY again
            return False
        try:
            await self._copy(conn, table.mapping, table.rows, name)
        except asyncpg.UniqueViolationError as exc:  # whatever the constraint: staging sorts it out
            raise KeyConflict(name) from exc
        self.direct_copies += 1
        return True

    async def _copy(
        self, conn: asyncpg.Connection, mapping: TableMapping, rows: list[Row], into: str | None = None
    ) -> None:
        try:
            await conn.copy_records_to_table(into or mapping.staging_table, records=rows, columns=mapping.column_names)
        except (TypeError, ValueError, OverflowError) as exc:  # the client could not encode a value
            raise RowEncodingError(f"{mapping.table}: {type(exc).__name__}: {exc}") from exc

    async def _copy_and_upsert(self, conn: asyncpg.Connection, mapping: TableMapping, rows: list[Row]) -> None:
        await self._copy(conn, mapping, rows)
        await conn.execute(self._upserts[mapping.table])

    async def _isolate(
        self, conn: asyncpg.Connection, table: TableRows, part: list[int], out: list[DeadLetter]
    ) -> None:
        """Writes ``part`` in a savepoint; on a bad row, halves it until the bad rows stand alone."""
        try:
            async with conn.transaction():
                await self._copy_and_upsert(conn, table.mapping, [table.rows[i] for i in part])
            return
        except Exception as exc:
            if not _is_bad_row(exc):
                raise
            if len(part) == 1:
                out.append(self._rejection(table, part[0], exc))
                return
        half = len(part) // 2
        await self._isolate(conn, table, part[:half], out)
        await self._isolate(conn, table, part[half:], out)

    def _rejection(self, table: TableRows, position: int, exc: BaseException) -> DeadLetter:
        msg = table.messages[position]
        record_json = None
        try:
            _schema, record = self.serde.decode(msg.value())
            record_json = orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str).decode()
        except DecodeError:  # it decoded when consumed; keep the letter even if that changed
            pass
        error = f"{table.mapping.table}: {describe(exc, detail=False)}"
        log.warning(
            "row rejected by the database",
            table=table.mapping.table,
            topic=msg.topic(),
            partition=msg.partition(),
            offset=msg.offset(),
            error=describe(exc),
        )
        return dead_letter(msg, REJECTED_BY_DATABASE, error, table.mapping.record, record_json)

    async def _finish(self, conn: asyncpg.Connection, batch: Batch, letters: list[DeadLetter]) -> None:
        """Dead letters (topic first, then table) and next offsets, inside the batch's transaction."""
        if letters:
            self.dead_letter_topic.send(letters)
            await insert_dead_letters(conn, letters, self.group)
        if batch.next_offsets:
            await conn.execute(store_offsets_sql(self.group, batch.next_offsets))


def sql_literal(text: str) -> str:
    """A string constant (connections run with standard_conforming_strings on: only quotes are special)."""
    return "'" + text.replace("'", "''") + "'"


def store_offsets_sql(group: str, offsets: dict[tuple[str, int], int]) -> str:
    """The upsert of the partitions' next offsets, with literal values so it can share a simple query."""
    values = ", ".join(
        f"({sql_literal(group)}, {sql_literal(topic)}, {int(partition)}, {int(offset)})"
        for (topic, partition), offset in offsets.items()
    )
    return (
        "INSERT INTO mercado_sink_offsets (consumer_group, topic, partition, next_offset) "
        f"VALUES {values} ON CONFLICT (consumer_group, topic, partition) "
        "DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()"
    )


async def _rollback(conn: asyncpg.Connection) -> None:
    """Ends a failed fast-path transaction, if the connection still lives."""
    if not conn.is_closed() and conn.is_in_transaction():
        try:
            await conn.execute("ROLLBACK")
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            conn.terminate()

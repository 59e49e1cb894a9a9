"""The declarative record type -> table mapping (``sinks/tables.toml``) and the SQL it implies.

A :class:`TableMapping` says which table a record type goes to, its key, its conflict policy and how
each column is taken from the record. From it come the row extractor (record -> tuple, in column
order), the temporary staging table the rows are COPYed into, and the ``INSERT … ON CONFLICT`` that
moves them into the target. Timestamps stay integer microseconds up to the staging table and become
``timestamptz`` in that INSERT, so the Python hot path never builds ``datetime`` objects.

``[[ignore]]`` entries (:class:`Ignored`) say what the sink deliberately leaves out: a record type that
shares a topic with mapped ones (skipped without a dead letter), or a catalog topic that carries mapped
record types but is not read by default (a repartition topic repeating another topic's events).
"""

from __future__ import annotations

import operator
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from schemas.loader import SchemaSet, load_schemas
from streams.kafka.catalog import UnknownTopic, topic

MAPPING_FILE = Path(__file__).resolve().parent / "tables.toml"
# One file per pipeline: tables.toml (market data) first, then tables.<pipeline>.toml in name order.
MAPPING_FILES = (MAPPING_FILE, *sorted(MAPPING_FILE.parent.glob("tables.*.toml")))
INGESTED_AT = "ingested_at"  # every mapped table has it: when the sink last wrote the row
STAGING_PREFIX = "mercado_stage_"

Row = tuple[Any, ...]


class MappingError(ValueError):
    """``tables.toml`` is inconsistent with itself or with the Avro contracts."""


class ConflictPolicy(StrEnum):
    IGNORE = "ignore"  # immutable events: ON CONFLICT DO NOTHING
    HIGHEST_REVISION = "highest_revision"  # a higher revision replaces the row, a lower or equal one never does


class ColumnType(StrEnum):
    VALUE = "value"
    TIMESTAMP = "timestamp"  # timestamp-micros (int µs) -> timestamptz
    JSON = "json"  # -> jsonb
    US_TO_MS = "us_to_ms"  # integer microseconds -> milliseconds (rounded), e.g. a processing-time header


# A column may come from a Kafka message header instead of a field (``{ header = "...", type = ... }``): the
# runner puts the headers of such a record type's messages under this key of the decoded record (a name no
# Avro field can have), as {name: bytes}; the value is the header's integer (ASCII digits), None if absent.
HEADERS = "__headers__"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _to_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()


@dataclass(frozen=True)
class ColumnMapping:
    name: str
    path: tuple[str, ...]  # field names from the record down to the value (() for a header column)
    type: ColumnType = ColumnType.VALUE
    header: str | None = None  # a Kafka header's integer instead of a field (see HEADERS)

    def getter(self) -> Callable[[dict[str, Any]], Any]:
        if self.header is not None:
            return _header_getter(self.header, self.type)
        path = self.path
        if len(path) == 1:
            get: Callable[[dict[str, Any]], Any] = operator.itemgetter(path[0])
        else:

            def get(record: dict[str, Any]) -> Any:
                value: Any = record
                for part in path:
                    if value is None:
                        return None
                    value = value[part]
                return value

        if self.type is ColumnType.JSON:
            return lambda record: _to_json(get(record))
        return get

    def staging_expression(self) -> str:
        """How the column is selected from the target to create the staging table (same type but µs)."""
        if self.type is ColumnType.TIMESTAMP:
            return f"NULL::bigint AS {quote_ident(self.name)}"
        return quote_ident(self.name)

    def insert_expression(self) -> str:
        """How the staged value becomes the target's value."""
        column = "s." + quote_ident(self.name)
        if self.type is ColumnType.TIMESTAMP:
            return f"TIMESTAMPTZ 'epoch' + {column} * INTERVAL '1 microsecond'"
        return column


@dataclass(frozen=True)
class TableMapping:
    record: str
    table: str
    key: tuple[str, ...]
    on_conflict: ConflictPolicy
    columns: tuple[ColumnMapping, ...]
    revision: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def headers(self) -> tuple[str, ...]:
        """The Kafka headers some columns read (the runner hands them over with the record; see HEADERS)."""
        return tuple(c.header for c in self.columns if c.header is not None)

    @property
    def staging_table(self) -> str:
        return STAGING_PREFIX + self.table

    @cached_property
    def extract(self) -> Callable[[dict[str, Any]], Row]:
        """``record -> row`` in column order; a single C-level itemgetter when every column is a plain field."""
        plain = (ColumnType.VALUE, ColumnType.TIMESTAMP)  # timestamps stay µs here; SQL converts them
        if all(c.type in plain and len(c.path) == 1 for c in self.columns) and len(self.columns) > 1:
            return operator.itemgetter(*(c.path[0] for c in self.columns))  # type: ignore[return-value]
        getters = [c.getter() for c in self.columns]
        return lambda record: tuple([g(record) for g in getters])

    @cached_property
    def row_key(self) -> Callable[[Row], Any]:
        positions = [self.column_names.index(k) for k in self.key]
        return operator.itemgetter(*positions)

    @cached_property
    def revision_position(self) -> int | None:
        return None if self.revision is None else self.column_names.index(self.revision)

    def create_staging_sql(self) -> str:
        """A session-local staging table with the target's column types (timestamps as bigint µs)."""
        select = ", ".join(c.staging_expression() for c in self.columns)
        return (
            f"CREATE TEMP TABLE IF NOT EXISTS {quote_ident(self.staging_table)} ON COMMIT DELETE ROWS AS "
            f"SELECT {select} FROM {quote_ident(self.table)} WITH NO DATA"
        )

    def upsert_sql(self) -> str:
        """Moves the staged rows into the target, then empties the staging table (one round trip)."""
        names = ", ".join(quote_ident(c.name) for c in self.columns)
        values = ", ".join(c.insert_expression() for c in self.columns)
        target = quote_ident(self.table)
        conflict_target = ", ".join(quote_ident(k) for k in self.key)
        if self.on_conflict is ConflictPolicy.IGNORE:
            action = "DO NOTHING"
        else:
            assert self.revision is not None
            updates = [f"{quote_ident(n)} = EXCLUDED.{quote_ident(n)}" for n in self.column_names if n not in self.key]
            updates.append(f"{quote_ident(INGESTED_AT)} = DEFAULT")
            revision = quote_ident(self.revision)
            action = f"DO UPDATE SET {', '.join(updates)} WHERE {target}.{revision} < EXCLUDED.{revision}"
        return (
            f"INSERT INTO {target} ({names}) SELECT {values} FROM {quote_ident(self.staging_table)} s "
            f"ON CONFLICT ({conflict_target}) {action}; TRUNCATE {quote_ident(self.staging_table)}"
        )

    def generations(self, rows: Sequence[Row]) -> list[list[int]]:
        """Row positions split so that no key repeats within a part, keeping the order of the input.

        One ``INSERT … ON CONFLICT DO UPDATE`` cannot touch a row twice, so a batch holding several
        revisions of one bar is written in successive parts: the first occurrence of every key, then
        the second, and so on. The result equals writing the rows one by one in offset order (each
        row checked by the constraints, the revision rule applied in sequence) whatever the batching.
        Tables that ignore conflicts need no split (DO NOTHING skips a key seen earlier in the statement).
        """
        everything = list(range(len(rows)))
        if self.on_conflict is ConflictPolicy.IGNORE:
            return [everything]
        key_of = self.row_key
        if len(set(map(key_of, rows))) == len(rows):
            return [everything]
        keys = [key_of(row) for row in rows]
        seen: dict[Any, int] = {}
        parts: list[list[int]] = []
        for position, key in enumerate(keys):
            occurrence = seen.get(key, 0)
            seen[key] = occurrence + 1
            if occurrence == len(parts):
                parts.append([])
            parts[occurrence].append(position)
        return parts


def _header_getter(name: str, kind: ColumnType) -> Callable[[dict[str, Any]], Any]:
    divisor = 1000 if kind is ColumnType.US_TO_MS else 1

    def get(record: dict[str, Any]) -> int | None:
        raw = record.get(HEADERS, {}).get(name)
        try:
            value = int(raw) if raw else None
        except ValueError:
            return None  # a malformed stamp is no measurement
        return None if value is None else (value + divisor // 2) // divisor

    return get


def _column(name: str, spec: Any) -> ColumnMapping:
    if isinstance(spec, str):
        return ColumnMapping(name, tuple(spec.split(".")))
    if isinstance(spec, dict) and isinstance(spec.get("header"), str):
        unknown = set(spec) - {"header", "type"}
        if unknown:
            raise MappingError(f"column {name!r}: unknown keys {sorted(unknown)}")
        kind = spec.get("type", "value")
        if kind not in (ColumnType.VALUE, ColumnType.US_TO_MS):
            raise MappingError(f"column {name!r}: a header column's type is 'value' or 'us_to_ms', not {kind!r}")
        return ColumnMapping(name, (), ColumnType(kind), header=spec["header"])
    if isinstance(spec, dict) and isinstance(spec.get("field"), str):
        unknown = set(spec) - {"field", "type"}
        if unknown:
            raise MappingError(f"column {name!r}: unknown keys {sorted(unknown)}")
        try:
            kind = ColumnType(spec.get("type", "value"))
        except ValueError:
            raise MappingError(
                f"column {name!r}: type {spec.get('type')!r} is not one of {[t.value for t in ColumnType]}"
            ) from None
        if kind is ColumnType.US_TO_MS:
            raise MappingError(f"column {name!r}: type 'us_to_ms' is for header columns")
        return ColumnMapping(name, tuple(spec["field"].split(".")), kind)
    raise MappingError(f"column {name!r}: expected a field name or {{ field = ..., type = ... }}, got {spec!r}")


def _record_fields(node: Any) -> dict[str, Any]:
    """The fields (name -> type) of a record type, or of a union's record branch; {} for anything else."""
    if isinstance(node, list):
        for branch in node:
            fields = _record_fields(branch)
            if fields:
                return fields
        return {}
    if isinstance(node, dict) and node.get("type") == "record":
        return {f["name"]: f["type"] for f in node["fields"]}
    return {}


def _check_path(schemas: SchemaSet, mapping: TableMapping, column: ColumnMapping) -> None:
    node: Any = schemas[mapping.record].expanded
    for part in column.path:
        fields = _record_fields(node)
        if part not in fields:
            dotted = ".".join(column.path)
            raise MappingError(f"{mapping.table}.{column.name}: {mapping.record} has no field {dotted!r}")
        node = fields[part]


@dataclass(frozen=True)
class Ignored:
    """What the sink deliberately leaves out (``[[ignore]]`` entries, each with a ``reason``)."""

    records: frozenset[str] = frozenset()  # record types skipped without a row or a dead letter
    topics: frozenset[str] = frozenset()  # catalog topics not read by default (``mercado sink -t`` still can)


IGNORE_KEYS = frozenset({"record", "topic", "reason"})


def parse_ignored(
    document: dict[str, Any], mappings: Sequence[TableMapping], schemas: SchemaSet | None = None
) -> Ignored:
    """The ``[[ignore]]`` entries of a parsed mapping document: each names a record type (that no table
    maps) or a catalog topic, and says why."""
    schemas = schemas or load_schemas()
    mapped = {m.record for m in mappings}
    records: set[str] = set()
    topics: set[str] = set()
    for entry in document.get("ignore", []):
        unknown = set(entry) - IGNORE_KEYS
        if unknown:
            raise MappingError(f"ignore entry {entry!r}: unknown keys {sorted(unknown)}")
        if ("record" in entry) == ("topic" in entry):
            raise MappingError(f"ignore entry {entry!r}: names either a record or a topic")
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise MappingError(f"ignore entry {entry!r}: needs a reason")
        if "record" in entry:
            record = entry["record"]
            try:
                schemas[record]
            except KeyError:
                raise MappingError(f"ignore entry: unknown record type {record!r}") from None
            if record in mapped:
                raise MappingError(f"ignore entry: {record} is mapped to a table, it cannot be ignored too")
            records.add(record)
        else:
            try:
                topic(entry["topic"])
            except UnknownTopic:
                raise MappingError(f"ignore entry: {entry['topic']!r} is not a catalog topic") from None
            topics.add(entry["topic"])
    return Ignored(frozenset(records), frozenset(topics))


def parse_mappings(document: dict[str, Any], schemas: SchemaSet | None = None) -> tuple[TableMapping, ...]:
    """Validates a parsed ``tables.toml`` (its ``[[table]]`` and ``[[ignore]]`` entries) against itself,
    the Avro contracts and the topic catalog."""
    schemas = schemas or load_schemas()
    mappings: list[TableMapping] = []
    for entry in document.get("table", []):
        where = entry.get("table", "?")
        try:
            policy = ConflictPolicy(entry.get("on_conflict", "ignore"))
            columns = tuple(_column(name, spec) for name, spec in entry["columns"].items())
            mapping = TableMapping(
                record=entry["record"],
                table=entry["table"],
                key=tuple(entry["key"]),
                on_conflict=policy,
                columns=columns,
                revision=entry.get("revision"),
            )
        except KeyError as missing:
            raise MappingError(f"table {where!r}: missing {missing}") from None
        except ValueError as exc:
            raise MappingError(f"table {where!r}: {exc}") from None
        names = mapping.column_names
        if not set(mapping.key) <= set(names):
            raise MappingError(f"table {where!r}: key {list(mapping.key)} names columns that are not mapped")
        if policy is ConflictPolicy.HIGHEST_REVISION and mapping.revision not in names:
            raise MappingError(f"table {where!r}: on_conflict = 'highest_revision' needs a mapped revision column")
        if INGESTED_AT in names:
            raise MappingError(f"table {where!r}: {INGESTED_AT!r} is written by the sink, not mapped")
        try:
            schemas[mapping.record]
        except KeyError:
            raise MappingError(f"table {where!r}: unknown record type {mapping.record!r}") from None
        for column in columns:
            if column.header is None:
                _check_path(schemas, mapping, column)
        mappings.append(mapping)
    records = [m.record for m in mappings]
    duplicates = {r for r in records if records.count(r) > 1}
    if duplicates:
        raise MappingError(f"record types mapped twice: {sorted(duplicates)}")
    parse_ignored(document, mappings, schemas)
    return tuple(mappings)


def _read_documents(paths: Sequence[Path]) -> dict[str, list[dict[str, Any]]]:
    document: dict[str, list[dict[str, Any]]] = {"table": [], "ignore": []}
    for path in paths or MAPPING_FILES:
        with path.open("rb") as handle:
            loaded = tomllib.load(handle)
        document["table"].extend(loaded.get("table", []))
        document["ignore"].extend(loaded.get("ignore", []))
    return document


def load_mappings(*paths: Path) -> tuple[TableMapping, ...]:
    """The mappings of ``paths`` (default: every ``sinks/tables*.toml``), validated together."""
    return parse_mappings(_read_documents(paths))


def load_ignored(*paths: Path) -> Ignored:
    """The ``[[ignore]]`` entries of ``paths`` (default: every ``sinks/tables*.toml``)."""
    document = _read_documents(paths)
    return parse_ignored(document, parse_mappings(document))

"""Avro schema → Arrow schema, for writing derived events as Parquet (replay ``--out DIR``).

Timestamps become ``timestamp[us, UTC]``, enums strings, decimals ``decimal128(p, s)``, maps
``map<string, …>``, nested records structs; a ``null`` union branch makes the field nullable.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

_PRIMITIVE = {
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "bytes": pa.binary(),
    "string": pa.string(),
    "null": pa.null(),
}


def arrow_type(node: Any, named: dict[str, Any] | None = None) -> tuple[pa.DataType, bool]:
    """``(type, nullable)`` of an expanded Avro schema node (``named``: types defined earlier in it)."""
    named = {} if named is None else named
    if isinstance(node, list):
        branches = [n for n in node if n != "null"]
        if len(branches) != 1:
            raise ValueError(f"only [null, T] unions map to Arrow, got {node}")
        return arrow_type(branches[0], named)[0], True
    if isinstance(node, str):
        if node in named:  # a named type used again after its definition
            return arrow_type(named[node], named)[0], False
        return _PRIMITIVE[node], False
    kind = node["type"]
    if kind in ("record", "enum", "fixed") and "name" in node:
        named[node["name"]] = node
    logical = node.get("logicalType")
    if logical in ("timestamp-micros", "timestamp-millis"):
        return pa.timestamp("us", tz="UTC"), False
    if logical == "decimal":
        return pa.decimal128(int(node["precision"]), int(node.get("scale", 0))), False
    if kind == "record":
        return pa.struct([arrow_field(f, named) for f in node["fields"]]), False
    if kind == "enum":
        return pa.string(), False
    if kind == "array":
        return pa.list_(arrow_type(node["items"], named)[0]), False
    if kind == "map":
        return pa.map_(pa.string(), arrow_type(node["values"], named)[0]), False
    return arrow_type(kind, named)


def arrow_field(field: dict[str, Any], named: dict[str, Any] | None = None) -> pa.Field:
    typ, nullable = arrow_type(field["type"], named)
    return pa.field(field["name"], typ, nullable=nullable)


def arrow_schema(expanded: dict[str, Any], extra: list[pa.Field] | None = None) -> pa.Schema:
    named: dict[str, Any] = {}
    return pa.schema([*(extra or []), *(arrow_field(f, named) for f in expanded["fields"])])


def to_table(expanded: dict[str, Any], rows: list[dict[str, Any]], extra: list[pa.Field] | None = None) -> pa.Table:
    """Rows in wire form (µs integers for timestamps) → an Arrow table of the schema."""
    schema = arrow_schema(expanded, extra)
    columns = []
    for field in schema:
        values = [r.get(field.name) for r in rows]
        if isinstance(field.type, pa.MapType):
            values = [None if v is None else list(v.items()) for v in values]
        columns.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)

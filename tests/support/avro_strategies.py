"""Hypothesis strategies that generate records for an (expanded) Avro schema, in Mercado's wire form."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

LONG = (-(2**63), 2**63 - 1)
INT = (-(2**31), 2**31 - 1)


def for_schema(node: Any, named: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    named = {} if named is None else named
    if isinstance(node, list):
        return st.one_of([for_schema(n, named) for n in node])
    if isinstance(node, str):
        if node in named:
            return for_schema(named[node], named)
        return _PRIMITIVES[node]()
    kind = node["type"]
    logical = node.get("logicalType")
    if logical == "decimal":
        scale = int(node.get("scale", 0))
        digits = int(node["precision"])
        bound = Decimal(10) ** (digits - scale) - Decimal(1).scaleb(-scale)
        return st.decimals(min_value=-bound, max_value=bound, places=scale, allow_nan=False, allow_infinity=False)
    if logical in ("timestamp-micros", "timestamp-millis"):
        return st.integers(*LONG)
    if kind == "record":
        named[node["name"]] = node
        return st.fixed_dictionaries({f["name"]: for_schema(f["type"], named) for f in node["fields"]})
    if kind == "enum":
        named[node["name"]] = node
        return st.sampled_from(node["symbols"])
    if kind == "array":
        return st.lists(for_schema(node["items"], named), max_size=4)
    if kind == "map":
        return st.dictionaries(st.text(max_size=5), for_schema(node["values"], named), max_size=3)
    return for_schema(kind, named)


_PRIMITIVES = {
    "null": lambda: st.none(),
    "boolean": lambda: st.booleans(),
    "int": lambda: st.integers(*INT),
    "long": lambda: st.integers(*LONG),
    "float": lambda: st.floats(width=32, allow_nan=False),
    "double": lambda: st.floats(allow_nan=False),
    "bytes": lambda: st.binary(max_size=16),
    "string": lambda: st.text(max_size=20),
}

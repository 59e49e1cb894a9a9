"""Turns rows read from files (CSV strings, JSON values, Parquet values) into Avro-ready records.

Each schema compiles to one converter per field; a converter returns the value in the schema's
wire form (timestamps as integer microseconds, decimals as ``Decimal``) or raises
:class:`RowError` naming the field. Values already of the right Python type pass through untouched.
Non-finite floats (``NaN``/``inf`` text, a NaN from Parquet) convert to themselves, never to null: the
producer's admission check (:mod:`processors.admission`) refuses them, naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from schemas.loader import AvroSchema

Converter = Callable[[Any], Any]
_MISSING = object()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RowError(ValueError):
    """A row that does not fit its schema. ``field`` is the dotted path of the offending field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"field {field!r}: {message}" if field else message)
        self.field = field
        self.message = message


def _fail(expected: str, value: Any) -> RowError:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return RowError("", f"expected {expected}, got {shown} ({type(value).__name__})")


def timestamp_micros(value: Any) -> int:
    """ISO-8601 text (naive means UTC), ``datetime``, or integer microseconds -> integer microseconds."""
    if type(value) is int:
        return value
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        delta = dt - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        try:
            return timestamp_micros(datetime.fromisoformat(text))
        except ValueError:
            raise _fail("an ISO-8601 timestamp or integer microseconds", value) from None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if hasattr(value, "to_pydatetime"):  # pandas / pyarrow timestamps
        return timestamp_micros(value.to_pydatetime())
    raise _fail("an ISO-8601 timestamp or integer microseconds", value)


def _integer(bits: int) -> Converter:
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    kind = "int" if bits == 32 else "long"

    def convert(value: Any) -> int:
        if type(value) is int:
            out = value
        elif isinstance(value, str):
            try:
                out = int(value.strip())
            except ValueError:
                raise _fail(f"an integer ({kind})", value) from None
        elif isinstance(value, float) and value.is_integer():
            out = int(value)
        else:
            raise _fail(f"an integer ({kind})", value)
        if not lo <= out <= hi:
            raise _fail(f"an integer within {kind} range", value)
        return out

    return convert


def _floating(value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise _fail("a number", value) from None
    if isinstance(value, Decimal):
        return float(value)
    raise _fail("a number", value)


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _fail("text", value)


_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def _boolean(value: Any) -> bool:
    if type(value) is bool:
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    if type(value) is int and value in (0, 1):
        return bool(value)
    raise _fail("true or false", value)


def _decimal(precision: int, scale: int) -> Converter:
    def convert(value: Any) -> Decimal:
        if isinstance(value, Decimal):
            out = value
        elif isinstance(value, bool):
            raise _fail("a decimal number", value)
        elif isinstance(value, int | str):
            try:
                out = Decimal(str(value).strip())
            except InvalidOperation:
                raise _fail("a decimal number", value) from None
        elif isinstance(value, float):
            out = Decimal(repr(value))  # the shortest text that round-trips, not the binary expansion
        else:
            raise _fail("a decimal number", value)
        if not out.is_finite():
            raise _fail("a finite decimal number", value)
        exponent = out.as_tuple().exponent
        assert isinstance(exponent, int)
        if -exponent > scale:
            quantized = out.quantize(Decimal(1).scaleb(-scale))
            if quantized != out:
                raise _fail(f"at most {scale} decimal places", value)
            out = quantized
        if len(out.as_tuple().digits) - max(0, -out.as_tuple().exponent) > precision - scale:
            raise _fail(f"at most {precision - scale} integer digits", value)
        return out

    return convert


def _enum(symbols: list[str]) -> Converter:
    allowed = frozenset(symbols)

    def convert(value: Any) -> str:
        if isinstance(value, str) and value in allowed:
            return value
        raise _fail(f"one of {', '.join(symbols)}", value)

    return convert


def _nullable(inner: Converter) -> Converter:
    """``["null", T]``: None or an empty CSV cell is null. A float NaN is a value, not a null (Arrow and
    Parquet, where pandas' missing values go, have real nulls, read as None; JSON has no NaN): it passes
    through, and the admission check refuses it with the other non-finite numbers."""

    def convert(value: Any) -> Any:
        if value is None or value == "":
            return None
        return inner(value)

    return convert


def _array(inner: Converter) -> Converter:
    def convert(value: Any) -> list[Any]:
        if isinstance(value, str):
            raise _fail("a list (nested data needs JSON Lines or Parquet, not CSV)", value)
        if not isinstance(value, list | tuple):
            raise _fail("a list", value)
        out = []
        for i, item in enumerate(value):
            try:
                out.append(inner(item))
            except RowError as exc:
                raise RowError(_join(f"[{i}]", exc.field), exc.message) from None
        return out

    return convert


def _map(inner: Converter) -> Converter:
    def convert(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _fail("a mapping", value)
        return {str(k): inner(v) for k, v in value.items()}

    return convert


def _join(head: str, tail: str) -> str:
    if not tail:
        return head
    return f"{head}{tail}" if tail.startswith("[") else f"{head}.{tail}"


class RecordCoercer:
    """Converts a mapping into a record of one schema; unknown keys are an error."""

    def __init__(
        self, schema: dict[str, Any], *, ignore: frozenset[str] = frozenset(), derived: frozenset[str] = frozenset()
    ):
        self.name = schema["name"]
        self.derived = derived  # fields the caller fills in when missing (left as "")
        self.fields: list[tuple[str, Converter, Any]] = []
        for f in schema["fields"]:
            default = f["default"] if "default" in f else _MISSING
            self.fields.append((f["name"], _compile(f["type"]), default))
        self.allowed = frozenset(n for n, _, _ in self.fields) | ignore

    def unknown(self, keys: Any) -> list[str]:
        return sorted(k for k in keys if k not in self.allowed)

    def __call__(self, row: Any) -> dict[str, Any]:
        if not isinstance(row, dict):
            raise _fail(f"a {self.name.rsplit('.', 1)[-1]} record", row)
        extra = row.keys() - self.allowed
        if extra:
            raise RowError(sorted(extra)[0], "is not a field of " + self.name.rsplit(".", 1)[-1])
        out = {}
        for name, convert, default in self.fields:
            value = row.get(name, _MISSING)
            if value is _MISSING or value is None or value == "":
                if default is not _MISSING:
                    out[name] = default
                    continue
                if name in self.derived:
                    out[name] = ""
                    continue
                if value is _MISSING or value == "":
                    raise RowError(name, "is required and missing")
            try:
                out[name] = convert(value)
            except RowError as exc:
                raise RowError(_join(name, exc.field), exc.message) from None
        return out


def _compile(node: Any) -> Converter:
    if isinstance(node, list):
        non_null = [n for n in node if n != "null"]
        if len(non_null) == 1 and len(node) == 2:
            return _nullable(_compile(non_null[0]))
        branches = [_compile(n) for n in non_null]

        def first_fit(value: Any) -> Any:
            if value is None and "null" in node:
                return None
            for b in branches:
                try:
                    return b(value)
                except RowError:
                    continue
            raise _fail(f"a value of one of {node}", value)

        return first_fit
    if isinstance(node, str):
        return _PRIMITIVE[node]
    kind = node["type"]
    logical = node.get("logicalType")
    if logical in ("timestamp-micros", "local-timestamp-micros"):
        return timestamp_micros
    if logical == "decimal" and kind == "bytes":
        return _decimal(int(node["precision"]), int(node.get("scale", 0)))
    if kind == "record":
        return RecordCoercer(node)
    if kind == "enum":
        return _enum(node["symbols"])
    if kind == "array":
        return _array(_compile(node["items"]))
    if kind == "map":
        return _map(_compile(node["values"]))
    if isinstance(kind, str) and kind in _PRIMITIVE:
        return _PRIMITIVE[kind]
    if isinstance(kind, dict | list):
        return _compile(kind)
    raise ValueError(f"unsupported Avro type {node!r}")


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise _fail("bytes", value)


def _null(value: Any) -> None:
    if value is None or value == "":
        return None
    raise _fail("null", value)


_PRIMITIVE: dict[str, Converter] = {
    "null": _null,
    "boolean": _boolean,
    "int": _integer(32),
    "long": _integer(64),
    "float": _floating,
    "double": _floating,
    "bytes": _bytes,
    "string": _string,
}


def record_coercer(
    schema: AvroSchema, *, ignore: frozenset[str] = frozenset(), derived: frozenset[str] = frozenset()
) -> RecordCoercer:
    """The coercer of a record schema (named references were inlined by the loader)."""
    return RecordCoercer(schema.expanded, ignore=ignore, derived=derived)

"""Per-schema generated Avro encoders: the same bytes as fastavro's ``schemaless_writer``, ~3x faster.

Why hand-written: the records Mercado emits are small (10–20 fields) and fastavro spends most of
its time per call and per field (schema walk, type dispatch by name, union branch search by
validation): ~10 µs for a ``Bar``, a fifth of the replay's processing time. :func:`compile_encoder`
turns one record schema into Python source once — one expression that joins the field encodings
(``struct`` for doubles, cached zigzag varints, UTF-8 strings with their length, union branch
indexes) — and ``exec``s it; encoding a ``Bar`` then costs ~2.5 µs.

Correctness contract: the fast path only accepts values whose fastavro encoding it reproduces
exactly (a ``dict`` record with every field present, exact Python types, ints in range, ...).
On anything else — a missing field, a wrong type, an out-of-range int, a tuple-notation union
value — it raises internally and the record goes through ``fallback`` (fastavro), so unusual but
valid records give fastavro's bytes and invalid ones fastavro's error. Schema features it does not
generate code for (unions other than ``null`` + one type, logical types other than ``decimal`` on
bytes, fixed) make :func:`compile_encoder` return ``None``: that schema is always encoded by fastavro.
``tests/unit/test_fast_encoder.py`` checks every schema under ``schemas/`` against fastavro.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastavro._logical_writers import LOGICAL_WRITERS  # what fastavro's writer applies to decimals

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_SIZE_TABLE = 1 << 14  # lengths / counts with a precomputed varint
_CACHE_MAX = 1 << 16  # varints of other ints kept (timestamps repeat across a key's records)


def varint(n: int) -> bytes:
    """Avro variable-length encoding of a non-negative (already zigzagged) integer."""
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def zigzag_varint(v: int) -> bytes:
    """How Avro writes an int or a long (``v`` in the long range)."""
    return varint((v << 1) ^ (v >> 63))


# _SIZES[n]: the encoding of the non-negative long n (string/bytes lengths, block counts)
_SIZES: list[bytes] = [zigzag_varint(n) for n in range(_SIZE_TABLE)]
_SMALL: dict[int, bytes] = {v: zigzag_varint(v) for v in range(-_SIZE_TABLE, _SIZE_TABLE)}
_cache: dict[int, bytes] = dict(_SMALL)


class _Mismatch(Exception):
    """A value the fast path does not encode itself (the record goes to fastavro)."""


def _long(v: Any) -> bytes:
    if type(v) is int:  # not bool, not a float equal to an int (the cache is keyed by value)
        b = _cache.get(v)
        if b is not None:
            return b
        if _LONG_MIN <= v <= _LONG_MAX:
            b = zigzag_varint(v)
            if len(_cache) >= _CACHE_MAX:
                _cache.clear()
                _cache.update(_SMALL)
            _cache[v] = b
            return b
    raise _Mismatch


def _int(v: Any) -> bytes:
    if type(v) is int and _INT_MIN <= v <= _INT_MAX:
        return _long(v)
    raise _Mismatch


def _boolean(v: Any) -> bytes:
    if v is True:
        return b"\x01"
    if v is False:
        return b"\x00"
    raise _Mismatch


def _null(v: Any) -> bytes:
    if v is None:
        return b""
    raise _Mismatch


def _bytes(v: Any) -> bytes:
    if type(v) is bytes:
        return _SIZES[len(v)] + v
    raise _Mismatch


_utf8 = str.encode  # unbound: raises TypeError for anything but a str
_pack_double = struct.Struct("<d").pack
_pack_float = struct.Struct("<f").pack


def _double(v: Any) -> bytes:
    # fastavro writes float(v) for a double field; struct converts the same way (PyFloat_AsDouble)
    return _pack_double(v)


def _float(v: Any) -> bytes:
    return _pack_float(v)


def _is_real(v: Any) -> bool:
    """What fastavro's union validation accepts for float/double (exact types only here)."""
    t = type(v)
    return t is float or t is int


# Hand-written versions of the commonest nullable fields (["null", T] / [T, "null"]).
def _nullable_double(null: bytes, some: bytes) -> Callable[[Any], bytes]:
    def encode(v: Any) -> bytes:
        if v is None:
            return null
        t = type(v)
        if t is float or t is int:
            return some + _pack_double(v)
        raise _Mismatch

    return encode


def _nullable_string(null: bytes, some: bytes) -> Callable[[Any], bytes]:
    def encode(v: Any) -> bytes:
        if v is None:
            return null
        b = _utf8(v)
        return some + _SIZES[len(b)] + b

    return encode


def _nullable_long(null: bytes, some: bytes, encode_value: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    def encode(v: Any) -> bytes:
        if v is None:
            return null
        return some + encode_value(v)

    return encode


class Unsupported(Exception):
    """A schema feature the generator leaves to fastavro."""


class _Generator:
    """Builds the source of one record encoder; helpers and constants go into ``namespace``."""

    def __init__(self, named: dict[str, Any]):
        self.named = named
        self.namespace: dict[str, Any] = {
            "_long": _long,
            "_int": _int,
            "_boolean": _boolean,
            "_null": _null,
            "_bytes": _bytes,
            "_double": _double,
            "_float": _float,
            "_utf8": _utf8,
            "_SIZES": _SIZES,
            "_join": b"".join,
            "_Mismatch": _Mismatch,
            "_is_real": _is_real,
            "_Decimal": Decimal,
        }
        self.functions: list[str] = []
        self.records: dict[str, str] = {}  # record fullname -> name of its generated function
        self._n = 0

    def name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def const(self, value: Any, prefix: str = "_k") -> str:
        name = self.name(prefix)
        self.namespace[name] = value
        return name

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema in self.named:
            return self.named[schema]
        return schema

    def primitive(self, schema: Any) -> str | None:
        """The primitive type name of ``"double"`` or ``{"type": "double"}`` (no logical type)."""
        if isinstance(schema, dict) and "logicalType" not in schema:
            schema = schema["type"]
        return schema if isinstance(schema, str) and schema not in self.named else None

    # ---------------------------------------------------------------- values
    def parts(self, schema: Any, value: str) -> list[str]:
        """Expressions whose bytes, joined, are the encoding of ``value`` (an expression) under
        ``schema``; an expression raises when the value is not one the fast path encodes."""
        schema = self.resolve(schema)
        if isinstance(schema, list):
            return [self.union(schema) + f"({value})"]
        if isinstance(schema, dict):
            kind = schema["type"]
            logical = schema.get("logicalType")
            if logical is not None:
                if kind == "bytes" and logical == "decimal":
                    return [self.decimal(schema) + f"({value})"]
                raise Unsupported(f"logical type {logical}")
            if kind == "record":
                return [self.record_function(schema) + f"({value})"]
            if kind == "enum":
                return [self.enum_table(schema) + f"[{value}]"]
            if kind == "array":
                return [self.array_function(schema) + f"({value})"]
            if kind == "map":
                return [self.map_function(schema) + f"({value})"]
            if kind in ("fixed", "error"):
                raise Unsupported(kind)
            schema = kind  # {"type": "long"} and the like
            if not isinstance(schema, str):
                raise Unsupported(repr(schema))
            schema = self.resolve(schema)
            if not isinstance(schema, str):
                return self.parts(schema, value)
        if schema == "string":
            tmp = self.name("_s")
            return [f"_SIZES[len({tmp} := _utf8({value}))]", tmp]
        simple = {
            "long": "_long",
            "int": "_int",
            "double": "_double",
            "float": "_float",
            "boolean": "_boolean",
            "null": "_null",
            "bytes": "_bytes",
        }.get(schema)
        if simple is None:
            raise Unsupported(f"type {schema!r}")
        return [f"{simple}({value})"]

    def enum_table(self, schema: dict[str, Any]) -> str:
        # fastavro writes symbols.index(value); a value that is no symbol raises KeyError here
        return self.const({s: zigzag_varint(i) for i, s in enumerate(schema["symbols"])}, "_enum")

    def decimal(self, schema: dict[str, Any]) -> str:
        prepare = LOGICAL_WRITERS["bytes-decimal"]
        name = self.name("_dec")
        self.namespace[f"{name}_schema"] = schema
        self.namespace[f"{name}_prepare"] = prepare
        self.functions.append(
            f"def {name}(v):\n"
            f"    if type(v) is not _Decimal:\n"
            f"        raise _Mismatch\n"
            f"    b = {name}_prepare(v, {name}_schema)\n"
            f"    if type(b) is not bytes:\n"
            f"        raise _Mismatch\n"
            f"    return _SIZES[len(b)] + b\n"
        )
        return name

    def union(self, branches: list[Any]) -> str:
        """``["null", T]`` (either order) or ``[T]``: the branch index, then the value."""
        resolved = [self.resolve(b) for b in branches]
        null = [i for i, b in enumerate(resolved) if b == "null" or (isinstance(b, dict) and b.get("type") == "null")]
        others = [i for i in range(len(branches)) if i not in null]
        if len(others) != 1 or len(null) > 1:
            raise Unsupported("union of more than null and one type")
        index = others[0]
        branch = resolved[index]
        some = zigzag_varint(index)
        null_bytes = zigzag_varint(null[0]) if null else None
        kind = branch.get("type") if isinstance(branch, dict) and "logicalType" not in branch else branch
        if null_bytes is not None and kind == "double":
            return self.const(_nullable_double(null_bytes, some), "_nd")
        if null_bytes is not None and kind == "string":
            return self.const(_nullable_string(null_bytes, some), "_ns")
        if null_bytes is not None and kind in ("long", "int"):
            return self.const(_nullable_long(null_bytes, some, _long if kind == "long" else _int), "_nl")
        # the general case: a generated function. fastavro picks the branch by validating the value
        # against each; the guards below only let through values valid for exactly this branch.
        name = self.name("_u")
        guard = ""
        if kind in ("double", "float"):
            guard = "    if not _is_real(v):\n        raise _Mismatch\n"
        elif kind == "bytes":
            guard = ""  # _bytes accepts bytes only
        elif isinstance(branch, dict) and branch.get("type") == "record":
            # a dict with "-type" names its branch in fastavro: leave it to fastavro
            guard = "    if type(v) is not dict or '-type' in v:\n        raise _Mismatch\n"
        elif isinstance(branch, dict) and branch.get("type") == "enum":
            guard = "    if type(v) is not str:\n        raise _Mismatch\n"
        body = ", ".join([self.const(some)] + self.parts(branches[index], "v"))
        none = f"    if v is None:\n        return {self.const(null_bytes)}\n" if null_bytes is not None else ""
        self.functions.append(f"def {name}(v):\n{none}{guard}    return _join(({body},))\n")
        return name

    def element_function(self, schema: Any, prefix: str) -> str:
        """A function encoding one array item or map value under ``schema``."""
        name = self.name(prefix)
        self.functions.append(f"def {name}(v):\n    return _join(({', '.join(self.parts(schema, 'v'))},))\n")
        return name

    @staticmethod
    def typed_header(name: str, python_type: str) -> str:
        """The start of a generated function that only takes values of exactly ``python_type``."""
        return f"def {name}(v):\n    if type(v) is not {python_type}:\n        raise _Mismatch\n"

    def array_function(self, schema: dict[str, Any]) -> str:
        item = self.element_function(schema["items"], "_item")
        name = self.name("_array")
        self.functions.append(
            self.typed_header(name, "list") + f"    if not v:\n"
            f"        return b'\\x00'\n"
            f"    return _join((_SIZES[len(v)], *[{item}(x) for x in v], b'\\x00'))\n"
        )
        return name

    def map_function(self, schema: dict[str, Any]) -> str:
        value = self.element_function(schema["values"], "_value")
        name = self.name("_map")
        self.functions.append(
            self.typed_header(name, "dict") + f"    if not v:\n"
            f"        return b'\\x00'\n"
            f"    parts = [_SIZES[len(v)]]\n"
            f"    for k, x in v.items():\n"
            f"        b = _utf8(k)\n"
            f"        parts.append(_SIZES[len(b)])\n"
            f"        parts.append(b)\n"
            f"        parts.append({value}(x))\n"
            f"    parts.append(b'\\x00')\n"
            f"    return _join(parts)\n"
        )
        return name

    def record_parts(self, schema: dict[str, Any], value: str) -> list[str]:
        """The field encodings of a record held in the local ``value``; runs of required doubles
        are packed by one ``struct`` call."""
        out: list[str] = []
        doubles: list[str] = []

        def flush() -> None:
            if doubles:
                if len(doubles) == 1:
                    out.append(f"_double({doubles[0]})")
                else:
                    pack = self.const(struct.Struct("<" + "d" * len(doubles)).pack, "_pack")
                    out.append(f"{pack}({', '.join(doubles)})")
                doubles.clear()

        for field in schema["fields"]:
            access = f"{value}[{field['name']!r}]"
            if self.primitive(field["type"]) == "double":
                doubles.append(access)
                continue
            flush()
            out.extend(self.parts(field["type"], access))
        flush()
        return out

    def record_function(self, schema: dict[str, Any]) -> str:
        fullname = schema["name"]
        found = self.records.get(fullname)
        if found == "":
            raise Unsupported("a record that contains itself")
        if found is not None:
            return found
        name = self.records[fullname] = self.name("_record")
        parts = self.record_parts(schema, "v")
        self.functions.append(self.typed_header(name, "dict") + f"    return _join(({', '.join(parts)},))\n")
        return name


def compile_encoder(
    wire: dict[str, Any], header: bytes, fallback: Callable[[dict[str, Any]], bytes]
) -> Callable[[dict[str, Any]], bytes] | None:
    """``encode(record) -> header + Avro body`` for the parsed (fastavro) record schema ``wire``;
    any record the fast path does not take goes to ``fallback(record)``. ``None`` when the schema has a
    feature the generator does not handle (use ``fallback`` for every record then)."""
    if not isinstance(wire, dict) or wire.get("type") != "record":
        return None
    gen = _Generator(dict(wire.get("__named_schemas") or {}))
    try:
        gen.records[wire["name"]] = ""  # the top level is inlined in encode(): no recursion into it
        parts = gen.record_parts(wire, "r")
    except Unsupported:
        return None
    gen.namespace["_HEADER"] = header
    gen.namespace["_fallback"] = fallback
    source = "\n".join(gen.functions) + (
        "\ndef encode(r):\n"
        "    if type(r) is dict:\n"
        "        try:\n"
        f"            return _join((_HEADER, {', '.join(parts)}))\n"
        "        except Exception:  # not a value the fast path reproduces: fastavro decides\n"
        "            pass\n"
        "    return _fallback(r)\n"
    )
    exec(compile(source, f"<avro encoder {wire['name']}>", "exec"), gen.namespace)  # noqa: S102
    encode = gen.namespace["encode"]
    encode.source = source  # type: ignore[attr-defined]  # for debugging
    return encode

"""Loads the Avro contracts under ``schemas/``: one named type per ``.avsc`` file, grouped by domain.

For every named type the loader gives the expanded schema (named references inlined), its Parsing
Canonical Form, its CRC-64-AVRO fingerprint, and two parsed forms for fastavro: ``parsed`` (logical
types applied, e.g. ``timestamp-micros`` -> ``datetime``) and ``wire`` (the same binary layout with
``timestamp-*`` logical types dropped, so event times stay integer microseconds on hot paths).
Canonical form and fingerprint come from fastavro; both ignore logical types, so the two parsed
forms share one fingerprint.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

SCHEMA_DIR = Path(__file__).resolve().parent
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_TIMESTAMP_TYPES = frozenset(
    {"timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros"}
)


class SchemaLoadError(ValueError):
    """A ``.avsc`` file is not valid JSON, not a named type, or references an unknown name."""


@dataclass(frozen=True)
class AvroSchema:
    """One named Avro type with everything the serde and the compatibility check need."""

    fullname: str
    domain: str
    path: Path
    expanded: dict[str, Any]
    canonical: str
    fingerprint: int
    parsed: Any = field(repr=False, compare=False)
    wire: Any = field(repr=False, compare=False)
    name: str = field(default="", compare=False)  # the short name, e.g. PriceTick (set on build)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.fullname.rsplit(".", 1)[-1])

    @property
    def fingerprint_bytes(self) -> bytes:
        """The 8-byte little-endian fingerprint used by Avro single-object encoding."""
        return self.fingerprint.to_bytes(8, "little")

    @property
    def is_record(self) -> bool:
        return self.expanded.get("type") == "record"

    def field_names(self) -> list[str]:
        return [f["name"] for f in self.expanded.get("fields", [])]


def crc64_fingerprint(canonical: str) -> int:
    """CRC-64-AVRO of a canonical form, as an unsigned 64-bit integer.

    fastavro returns the hex of the fingerprint's little-endian bytes (the order the single-object
    header uses), so the integer is read back little-endian.
    """
    return int.from_bytes(bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")), "little")


def _fullname(schema: dict[str, Any], namespace: str | None) -> str:
    name = schema["name"]
    if "." in name:
        return name
    ns = schema.get("namespace", namespace)
    return f"{ns}.{name}" if ns else name


def _references(node: Any, namespace: str | None, out: set[str]) -> None:
    """Collects the names a schema refers to (not those it defines)."""
    if isinstance(node, str):
        if node not in PRIMITIVES:
            out.add(node if "." in node or not namespace else f"{namespace}.{node}")
    elif isinstance(node, list):
        for item in node:
            _references(item, namespace, out)
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind in ("record", "error", "enum", "fixed"):
            namespace = _fullname(node, namespace).rpartition(".")[0] or None
            for f in node.get("fields", []):
                _references(f["type"], namespace, out)
        elif kind == "array":
            _references(node["items"], namespace, out)
        elif kind == "map":
            _references(node["values"], namespace, out)
        else:
            _references(kind, namespace, out)


def _defined(node: Any, namespace: str | None, out: set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _defined(item, namespace, out)
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind in ("record", "error", "enum", "fixed"):
            full = _fullname(node, namespace)
            out.add(full)
            namespace = full.rpartition(".")[0] or None
            for f in node.get("fields", []):
                _defined(f["type"], namespace, out)
        elif kind == "array":
            _defined(node["items"], namespace, out)
        elif kind == "map":
            _defined(node["values"], namespace, out)
        elif isinstance(kind, dict | list):
            _defined(kind, namespace, out)


def _inline(node: Any, namespace: str | None, raw: dict[str, dict[str, Any]], seen: set[str]) -> Any:
    """Returns ``node`` with references to other files' types replaced by their definitions.

    The first occurrence is inlined and later ones stay names, as Avro requires.
    """
    if isinstance(node, str):
        if node in PRIMITIVES:
            return node
        full = node if "." in node or not namespace else f"{namespace}.{node}"
        if full in seen:
            return full
        if full not in raw:
            raise SchemaLoadError(f"unknown type {node!r}")
        target = raw[full]
        return _inline(target, None, raw, seen)
    if isinstance(node, list):
        return [_inline(item, namespace, raw, seen) for item in node]
    if isinstance(node, dict):
        kind = node.get("type")
        out = dict(node)
        if kind in ("record", "error", "enum", "fixed"):
            full = _fullname(node, namespace)
            seen.add(full)
            out["name"] = full
            out.pop("namespace", None)
            inner_ns = full.rpartition(".")[0] or None
            if "fields" in node:
                out["fields"] = [{**f, "type": _inline(f["type"], inner_ns, raw, seen)} for f in node["fields"]]
            return out
        if kind == "array":
            out["items"] = _inline(node["items"], namespace, raw, seen)
            return out
        if kind == "map":
            out["values"] = _inline(node["values"], namespace, raw, seen)
            return out
        if isinstance(kind, dict | list):
            out["type"] = _inline(kind, namespace, raw, seen)
            return out
        return out
    return node


def strip_timestamp_logical_types(node: Any) -> Any:
    """The same schema with ``timestamp-*`` logical types removed (binary encoding unchanged)."""
    if isinstance(node, list):
        return [strip_timestamp_logical_types(n) for n in node]
    if isinstance(node, dict):
        out = {k: strip_timestamp_logical_types(v) for k, v in node.items()}
        if out.get("logicalType") in _TIMESTAMP_TYPES:
            del out["logicalType"]
        return out
    return node


def build_schema(expanded: dict[str, Any], *, domain: str = "", path: Path | None = None) -> AvroSchema:
    """Parses one self-contained (already expanded) schema."""
    canonical = to_parsing_canonical_form(expanded)
    parsed = parse_schema(copy.deepcopy(expanded), _force=True)
    wire = parse_schema(strip_timestamp_logical_types(expanded), _force=True)
    return AvroSchema(
        fullname=_fullname(expanded, None),
        domain=domain,
        path=path or Path(),
        expanded=expanded,
        canonical=canonical,
        fingerprint=crc64_fingerprint(canonical),
        parsed=parsed,
        wire=wire,
    )


class SchemaSet:
    """All named types found under a directory, by full name, short name and fingerprint."""

    def __init__(self, schemas: dict[str, AvroSchema]):
        self._by_fullname = schemas
        self._by_fingerprint = {s.fingerprint: s for s in schemas.values()}
        short: dict[str, AvroSchema] = {}
        for s in schemas.values():
            if s.name in short:
                raise SchemaLoadError(f"two types are called {s.name}: {short[s.name].fullname}, {s.fullname}")
            short[s.name] = s
        self._by_name = short

    def __iter__(self) -> Iterator[AvroSchema]:
        return iter(sorted(self._by_fullname.values(), key=lambda s: s.fullname))

    def __len__(self) -> int:
        return len(self._by_fullname)

    def __getitem__(self, name: str) -> AvroSchema:
        """By full name (``mercado.marketdata.PriceTick``) or short name (``PriceTick``)."""
        found = self._by_fullname.get(name) or self._by_name.get(name)
        if found is None:
            raise KeyError(f"no Avro schema named {name!r}")
        return found

    def by_fingerprint(self, fp: int) -> AvroSchema | None:
        return self._by_fingerprint.get(fp)

    def records(self) -> list[AvroSchema]:
        return [s for s in self if s.is_record]


def load_directory(root: Path) -> SchemaSet:
    """Loads every ``.avsc`` below ``root``; each file defines exactly one named type."""
    raw: dict[str, dict[str, Any]] = {}
    origin: dict[str, Path] = {}
    for path in sorted(root.rglob("*.avsc")):
        try:
            node = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise SchemaLoadError(f"{path}: not valid JSON: {exc}") from exc
        if not isinstance(node, dict) or node.get("type") not in ("record", "enum", "fixed", "error"):
            raise SchemaLoadError(f"{path}: must define one named type (record, enum or fixed)")
        full = _fullname(node, None)
        if full in raw:
            raise SchemaLoadError(f"{path}: {full} is already defined in {origin[full]}")
        raw[full] = node
        origin[full] = path
    schemas: dict[str, AvroSchema] = {}
    for full, node in raw.items():
        refs: set[str] = set()
        _references(node, None, refs)
        defined: set[str] = set()
        _defined(node, None, defined)
        missing = sorted(r for r in refs - defined if r not in raw)
        if missing:
            raise SchemaLoadError(f"{origin[full]}: unknown type(s) {', '.join(missing)}")
        expanded = _inline(node, None, raw, set())
        domain = origin[full].parent.relative_to(root).as_posix()
        try:
            schemas[full] = build_schema(expanded, domain=domain, path=origin[full])
        except Exception as exc:  # fastavro raises several types for a bad schema
            raise SchemaLoadError(f"{origin[full]}: {exc}") from exc
    return SchemaSet(schemas)


@lru_cache(maxsize=1)
def load_schemas() -> SchemaSet:
    """The project's own contracts (cached)."""
    return load_directory(SCHEMA_DIR)

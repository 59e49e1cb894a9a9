"""Avro serde with two framings, both decoded transparently.

* Single-object encoding (default, no registry): ``C3 01`` + 8-byte little-endian CRC-64-AVRO
  fingerprint of the writer schema + Avro binary body.
* Confluent wire format (when a schema registry URL is configured): ``00`` + 4-byte big-endian
  schema id + body. Subjects follow the TopicRecordNameStrategy (``<topic>-<record fullname>``)
  because one topic may carry several record types (the order lifecycle does).

Records use the *wire* form of the schemas: ``timestamp-micros`` values are integer microseconds
(converting to ``datetime`` halves fastavro's decode rate; convert at the edges). Decimals are
``decimal.Decimal``. Bytes that cannot be decoded raise :class:`DecodeError` with a reason code
that consumers put in the dead-letter record's headers.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import parse_schema, to_parsing_canonical_form

from processors.admission import Refused
from schemas.loader import (
    AvroSchema,
    SchemaSet,
    crc64_fingerprint,
    load_schemas,
    strip_timestamp_logical_types,
)
from streams.codec.avro_encoder import compile_encoder

if TYPE_CHECKING:
    from streams.codec.columnar import ColumnarDecoder

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = 0
_SO_HEADER = 10
_CF_HEADER = 5
# Fewer values of a schema than this go value by value. A columnar decode has a fixed cost of some 80 numpy
# calls (~50x fastavro's cost of one tick) and then costs ~1/5 of fastavro per value, so it pays from ~60
# values on (measured on a PriceTick: 320 µs + 1.2 µs a value against 6.2 µs a value). A live worker at the
# edge of its input fetches a few dozen values at a time: at 16 those went column-wise at 2-3x the cost.
_COLUMNAR_MIN = 64


class DecodeError(Refused):
    """Bytes that are not a decodable Mercado event. ``reason`` is a short machine-readable code."""


class EncodeError(ValueError):
    """A record that does not fit its schema; the message names the field."""


@dataclass(frozen=True)
class _Reader:
    schema: AvroSchema  # the current (reader) schema the record is returned in
    writer: Any  # parsed writer schema (wire form)
    reader: Any | None  # parsed reader schema when it differs from the writer's (schema evolution)


def describe_invalid(schema: AvroSchema, record: Any) -> str:
    """A human message naming the offending field(s) of a record that failed to encode."""
    from fastavro.validation import ValidationError, validate

    if not isinstance(record, dict):
        return f"expected a {schema.name} record (mapping), got {type(record).__name__}"
    try:
        validate(record, schema.wire, raise_errors=True)
    except ValidationError as exc:
        parts = []
        for err in exc.errors:
            text = str(err)
            # fastavro says "<schema>.<field> is <value> of type <type> expected <type>"
            parts.append(text.replace(f"{schema.fullname}.", ""))
        return "; ".join(parts)
    except Exception as exc:  # validate itself can trip on very odd inputs
        return str(exc)
    return "record does not fit the schema"


class AvroSerde:
    """Encodes and decodes Mercado events.

    ``released`` are older versions of the contracts (from ``schemas/registry.json``); events written
    with any of them decode into the current schema by Avro schema resolution.
    """

    columnar_min = _COLUMNAR_MIN  # decode_many: values of one schema from which they go column-wise

    def __init__(
        self,
        schemas: SchemaSet | None = None,
        *,
        registry_url: str | None = None,
        released: Iterable[AvroSchema] = (),
    ):
        self.schemas = schemas or load_schemas()
        self._readers: dict[int, _Reader] = {}
        for s in self.schemas:
            self._readers[s.fingerprint] = _Reader(s, s.wire, None)
        for old in released:
            if old.fingerprint in self._readers:
                continue
            try:
                current = self.schemas[old.fullname]
            except KeyError:
                continue
            self._readers[old.fingerprint] = _Reader(current, old.wire, current.wire)
        self._by_header = {
            SINGLE_OBJECT_MAGIC + fp.to_bytes(8, "little"): (r.schema, r.writer, r.reader)
            for fp, r in self._readers.items()
        }
        self._columnar: dict[bytes, ColumnarDecoder | None] = {}
        self._encoders: dict[tuple[str, bytes], Callable[[dict[str, Any]], bytes]] = {}
        self._registry = None
        self._registry_ids: dict[tuple[str, str], int] = {}
        self._registry_readers: dict[int, _Reader] = {}
        if registry_url:
            from confluent_kafka.schema_registry import SchemaRegistryClient

            self._registry = SchemaRegistryClient.new_client({"url": registry_url})

    @property
    def uses_registry(self) -> bool:
        return self._registry is not None

    # ------------------------------------------------------------------ encoding
    def encoder(self, schema_name: str, topic: str | None = None) -> Callable[[dict[str, Any]], bytes]:
        """A fast encoder for one record type: ``encode(record) -> bytes``.

        The encoder is generated for the schema (:mod:`streams.codec.avro_encoder`: same bytes as fastavro,
        a fraction of its per-call cost on small records); records it does not take — unusual types,
        missing fields, invalid values — go through :meth:`fastavro_encoder`, so errors are unchanged.
        With a registry configured, the schema is registered once under ``<topic>-<fullname>``.
        """
        header = self.frame_header(schema_name, topic)
        key = (schema_name, header)
        found = self._encoders.get(key)
        if found is None:
            slow = self.fastavro_encoder(schema_name, topic)
            fast = compile_encoder(self.schemas[schema_name].wire, header, slow)
            found = self._encoders[key] = fast or slow
        return found

    def fastavro_encoder(self, schema_name: str, topic: str | None = None) -> Callable[[dict[str, Any]], bytes]:
        """``encode(record) -> bytes`` with fastavro's ``schemaless_writer``; an invalid record raises
        :class:`EncodeError` naming the offending fields."""
        schema = self.schemas[schema_name]
        header = self.frame_header(schema_name, topic)
        wire = schema.wire

        def encode(record: dict[str, Any]) -> bytes:
            buf = BytesIO()
            buf.write(header)
            try:
                schemaless_writer(buf, wire, record)
            except Exception as exc:  # fastavro raises TypeError/ValueError/AttributeError...
                raise EncodeError(describe_invalid(schema, record)) from exc
            return buf.getvalue()

        return encode

    def frame_header(self, schema_name: str, topic: str | None = None) -> bytes:
        """The bytes every encoded value of this record type starts with: the single-object header
        (C3 01 + fingerprint), or with a registry the Confluent one (00 + schema id)."""
        schema = self.schemas[schema_name]
        if self._registry is not None:
            if topic is None:
                raise ValueError("the Confluent framing needs the topic to name the subject")
            return bytes([CONFLUENT_MAGIC]) + struct.pack(">I", self.registry_id(topic, schema))
        return SINGLE_OBJECT_MAGIC + schema.fingerprint_bytes

    def encode(self, schema_name: str, record: dict[str, Any], topic: str | None = None) -> bytes:
        return self.encoder(schema_name, topic)(record)

    def registry_id(self, topic: str, schema: AvroSchema) -> int:
        key = (topic, schema.fullname)
        found = self._registry_ids.get(key)
        if found is None:
            from confluent_kafka.schema_registry import Schema

            assert self._registry is not None
            found = self._registry.register_schema(
                f"{topic}-{schema.fullname}", Schema(json.dumps(schema.expanded), "AVRO")
            )
            self._registry_ids[key] = found
            self._registry_readers[found] = _Reader(schema, schema.wire, None)
        return found

    # ------------------------------------------------------------------ decoding
    def decode_many(self, values: Sequence[bytes | None]) -> list[tuple[AvroSchema, dict[str, Any]] | DecodeError]:
        """What :meth:`decode` gives for each value (a :class:`DecodeError` in place of raising it),
        in order. Values of the same current schema (single-object framing) are decoded together,
        column-wise (:class:`streams.codec.columnar.ColumnarDecoder`, ~4x faster than value by value), when
        there are at least a few of them; any group with a value that is not plain goes value by value."""
        n = len(values)
        out: list[Any] = [None] * n
        groups: dict[bytes, list[int]] = {}
        for i, value in enumerate(values):
            header = value[:_SO_HEADER] if value else b""
            group = groups.get(header)
            if group is None:
                groups[header] = [i]
            else:
                group.append(i)
        for header, indexes in groups.items():
            if len(indexes) >= self.columnar_min:
                decoder = self._columnar_decoder(header)
                if decoder is not None:
                    records = decoder.decode([values[i] for i in indexes])  # type: ignore[misc]
                    if records is not None:
                        schema = self._by_header[header][0]
                        for i, record in zip(indexes, records, strict=True):
                            out[i] = (schema, record)
                        continue
            for i in indexes:
                try:
                    out[i] = self.decode(values[i])
                except DecodeError as exc:
                    out[i] = exc
        return out

    def _columnar_decoder(self, header: bytes) -> ColumnarDecoder | None:
        if header in self._columnar:
            return self._columnar[header]
        fast = self._by_header.get(header)
        decoder = None
        if fast is not None and fast[2] is None:  # current schemas only (no schema resolution)
            from streams.codec.columnar import ColumnarDecoder  # numpy + pyarrow: imported when first needed

            decoder = ColumnarDecoder.maybe(fast[1], _SO_HEADER)
        self._columnar[header] = decoder
        return decoder

    def decode(self, data: bytes | None) -> tuple[AvroSchema, dict[str, Any]]:
        """Returns ``(schema, record)``; raises :class:`DecodeError` for anything undecodable."""
        if not data:
            raise DecodeError("empty", "message has no value")
        # Hot path: a known single-object header (C3 01 + fingerprint), looked up by its 10 bytes.
        fast = self._by_header.get(data[:_SO_HEADER])
        if fast is not None:
            schema, writer, resolved = fast
            buf = BytesIO(data)
            buf.seek(_SO_HEADER)
            try:
                record = schemaless_reader(buf, writer, resolved)
            except Exception as exc:  # EOFError, UnicodeDecodeError, IndexError, ValueError, ...
                raise DecodeError("corrupt_body", f"{schema.name} body: {type(exc).__name__}: {exc}") from exc
            if buf.tell() != len(data):
                raise DecodeError("corrupt_body", f"{schema.name} body has {len(data) - buf.tell()} trailing bytes")
            return schema, record
        first = data[0]
        if first == 0xC3:
            if len(data) < _SO_HEADER:
                raise DecodeError("truncated", f"{len(data)} bytes is shorter than the 10-byte header")
            if data[1] != 0x01:
                raise DecodeError("bad_magic", f"single-object marker C3 {data[1]:02X}, expected C3 01")
            fp = int.from_bytes(data[2:_SO_HEADER], "little")
            reader = self._readers.get(fp)
            if reader is None:
                raise DecodeError("unknown_fingerprint", f"no known schema has fingerprint {fp:016x}")
            offset = _SO_HEADER
        elif first == CONFLUENT_MAGIC:
            if len(data) < _CF_HEADER:
                raise DecodeError("truncated", f"{len(data)} bytes is shorter than the 5-byte header")
            schema_id = struct.unpack(">I", data[1:_CF_HEADER])[0]
            reader = self._confluent_reader(schema_id)
            offset = _CF_HEADER
        else:
            raise DecodeError("bad_magic", f"first byte {first:02X} is neither C3 (Avro) nor 00 (Confluent)")
        buf = BytesIO(data)
        buf.seek(offset)
        try:
            record = schemaless_reader(buf, reader.writer, reader.reader)
        except Exception as exc:  # EOFError, UnicodeDecodeError, IndexError, ValueError, ...
            raise DecodeError("corrupt_body", f"{reader.schema.name} body: {type(exc).__name__}: {exc}") from exc
        if buf.tell() != len(data):
            raise DecodeError("corrupt_body", f"{reader.schema.name} body has {len(data) - buf.tell()} trailing bytes")
        return reader.schema, record

    def _confluent_reader(self, schema_id: int) -> _Reader:
        found = self._registry_readers.get(schema_id)
        if found is not None:
            return found
        if self._registry is None:
            raise DecodeError(
                "no_registry", f"Confluent-framed message (schema id {schema_id}) but no registry URL is set"
            )
        try:
            registered = self._registry.get_schema(schema_id)
        except Exception as exc:
            raise DecodeError("unknown_schema_id", f"registry has no schema id {schema_id}: {exc}") from exc
        writer_json = json.loads(registered.schema_str)
        fp = crc64_fingerprint(to_parsing_canonical_form(writer_json))
        known = self._readers.get(fp)
        if known is not None:
            reader = known
        else:
            name = writer_json.get("name", "")
            try:
                current = self.schemas[name]
            except KeyError as exc:
                raise DecodeError("unknown_schema", f"schema id {schema_id} is {name!r}, not ours") from exc
            writer = parse_schema(strip_timestamp_logical_types(writer_json), _force=True)
            reader = _Reader(current, writer, current.wire)
        self._registry_readers[schema_id] = reader
        return reader

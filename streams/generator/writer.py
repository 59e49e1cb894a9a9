"""Writes topic files (JSON Lines, keys sorted, one event per line) and hashes what it writes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
_CHUNK = 2_000


@dataclass
class FileEntry:
    """What the manifest says about one written file."""

    lines: int
    bytes: int
    sha256: str
    topic: str | None


class _HashingFile:
    def __init__(self, path: Path):
        self._fh = path.open("wb")
        self._digest = hashlib.sha256()
        self.lines = 0
        self.bytes = 0

    def write(self, chunk: bytes, lines: int) -> None:
        self._fh.write(chunk)
        self._digest.update(chunk)
        self.lines += lines
        self.bytes += len(chunk)

    def close(self, topic: str | None) -> FileEntry:
        self._fh.close()
        return FileEntry(lines=self.lines, bytes=self.bytes, sha256=self._digest.hexdigest(), topic=topic)


def write_jsonl(path: Path, records: Iterable[dict[str, Any]], *, topic: str | None = None) -> FileEntry:
    """Write ``records`` in the given order; they must already be sorted by ``event_time``."""
    out = _HashingFile(path)
    dumps = orjson.dumps
    batch: list[bytes] = []
    last = ""
    try:
        for record in records:
            when = record["event_time"]
            if when < last:
                raise ValueError(f"{path.name}: records out of event-time order at {when} < {last}")
            last = when
            batch.append(dumps(record, option=_OPTIONS))
            if len(batch) >= _CHUNK:
                out.write(b"".join(batch), len(batch))
                batch.clear()
        if batch:
            out.write(b"".join(batch), len(batch))
    finally:
        entry = out.close(topic)
    return entry


def write_text(path: Path, text: str) -> FileEntry:
    data = text.encode()
    path.write_bytes(data)
    return FileEntry(lines=data.count(b"\n"), bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), topic=None)

"""Reading rows from CSV, JSON Lines and Parquet files, and writing rejected rows back out.

Every reader yields ``(line, raw, row)``: ``line`` is the 1-based line number in the file (for
Parquet, the 1-based row number), ``raw`` the row's original text (``None`` for Parquet) so that a
rejects file holds exactly the bad rows as they were written, and ``row`` a dict.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import orjson

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
Row = tuple[int, str | None, Any]


class FileFormatError(ValueError):
    """The file cannot be read at all (unknown format, unreadable header)."""


def detect_format(path: Path, explicit: str | None = None) -> str:
    if explicit:
        if explicit not in ("csv", "jsonl", "parquet"):
            raise FileFormatError(f"unknown format {explicit!r}: use csv, jsonl or parquet")
        return explicit
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise FileFormatError(
            f"{path}: cannot tell the format from the extension {path.suffix!r}; "
            "use .csv, .jsonl or .parquet, or pass --format"
        )
    return fmt


class _JsonLineError:
    """Stands in for a row whose line is not valid JSON; the producer reports it as a bad row."""

    def __init__(self, message: str):
        self.message = message


def read_jsonl(fh: BinaryIO) -> Iterator[Row]:
    loads = orjson.loads
    for line_no, raw in enumerate(fh, 1):
        stripped = raw.strip()
        if not stripped:
            continue
        try:
            row = loads(stripped)
        except orjson.JSONDecodeError as exc:
            row = _JsonLineError(f"not valid JSON: {exc}")
        yield line_no, raw.decode("utf-8", "replace"), row


class _LineRecorder:
    """Wraps a text file so the CSV reader's raw lines for the current record can be recovered."""

    def __init__(self, fh: TextIO):
        self._fh = fh
        self.lines: list[str] = []
        self.line_no = 0

    def __iter__(self) -> _LineRecorder:
        return self

    def __next__(self) -> str:
        line = next(self._fh)
        self.line_no += 1
        self.lines.append(line)
        return line


def read_csv(fh: TextIO) -> tuple[list[str], Iterator[Row]]:
    recorder = _LineRecorder(fh)
    reader = csv.reader(recorder)
    try:
        header = next(reader)
    except StopIteration:
        return [], iter(())
    except csv.Error as exc:
        raise FileFormatError(f"unreadable CSV header: {exc}") from exc
    header = [h.strip() for h in header]

    def rows() -> Iterator[Row]:
        while True:
            recorder.lines.clear()
            start = recorder.line_no + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, "".join(recorder.lines), _JsonLineError(f"malformed CSV: {exc}")
                continue
            raw = "".join(recorder.lines)
            if not values or (len(values) == 1 and not values[0].strip()):
                continue
            if len(values) != len(header):
                row: Any = _JsonLineError(f"has {len(values)} columns, the header has {len(header)}")
            else:
                row = dict(zip(header, values, strict=True))
            yield start, raw, row

    return header, rows()


def read_parquet(path: Path, batch_size: int = 65_536,
                 encode_batch: Callable[[Any], Any] | None = None) -> tuple[list[str], int, Iterator[Row]]:
    """Rows ``(row number, None, dict)``. With ``encode_batch``, each Arrow record batch is offered to
    it first: when it returns something other than None, that is yielded as the batch's one item,
    ``(number of its last row, None, result)``, instead of the batch's rows."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    columns = list(pf.schema_arrow.names)
    total = pf.metadata.num_rows

    def rows() -> Iterator[Row]:
        n = 0
        for batch in pf.iter_batches(batch_size=batch_size):
            encoded = encode_batch(batch) if encode_batch is not None else None
            if encoded is not None:
                n += batch.num_rows
                yield n, None, encoded
                continue
            for row in batch.to_pylist():
                n += 1
                yield n, None, row

    return columns, total, rows()


class RejectsWriter:
    """Writes rejected rows: CSV and JSON Lines inputs keep their original text (CSV with its header);
    Parquet rows are written as JSON Lines."""

    def __init__(self, path: Path, fmt: str, header: list[str] | None = None):
        self.path = path
        self.fmt = fmt
        self.count = 0
        self._fh = path.open("w", encoding="utf-8", newline="")
        if fmt == "csv" and header is not None:
            csv.writer(self._fh).writerow(header)

    def write(self, raw: str | None, row: Any) -> None:
        self.count += 1
        if raw is not None:
            self._fh.write(raw if raw.endswith("\n") else raw + "\n")
        else:
            self._fh.write(orjson.dumps(_json_safe(row), default=str).decode() + "\n")

    def close(self) -> None:
        self._fh.close()


def _json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity (orjson writes them as null): a rejected Parquet row shows them as
    the text ``nan``, ``inf``, ``-inf``, which a re-run reads back as the same refused number."""
    if type(value) is float:
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def is_unreadable(row: Any) -> str | None:
    return row.message if isinstance(row, _JsonLineError) else None

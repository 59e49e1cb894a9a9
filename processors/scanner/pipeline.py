"""The scanner pipeline: ``scanner.snapshots.v1`` (ScanSnapshot, keyed by scanner) → six derived topics
(:mod:`processors.scanner.records`), one stage, one :class:`~processors.scanner.processor.ScannerProcessor`
per scanner."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from processors import topics
from processors.admission import Refused
from processors.core import Emit, KeyedProcessor, PipelineSpec, Record
from processors.marketdata.calendars import UsEquitiesCalendar
from processors.scanner.config import ScannerConfig
from processors.scanner.processor import ScannerProcessor
from processors.scanner.records import OUTPUT_TOPICS
from processors.stages import InProcessPipeline


def scanner_key(schema: str, record: Record) -> str:
    return record["target"] if schema == "Command" else record["scanner"]


def scanner_pipeline(config: ScannerConfig | None = None) -> PipelineSpec:
    config = config or ScannerConfig()
    calendar = UsEquitiesCalendar(config.us_equities)  # shared by every scanner: sessions built once
    # The calendar's library now rather than at the first snapshot: the live worker freezes what exists at its
    # start out of the cyclic garbage collector (streams/engines/native.py); left to the first snapshot,
    # pandas' ~10^5 objects were walked by every full collection (~50 ms pauses with 5,000 tickers).
    import pandas_market_calendars  # noqa: F401

    def create(key: str) -> KeyedProcessor:
        return ScannerProcessor(key, config, calendar)

    def restore(key: str, state: dict[str, Any]) -> KeyedProcessor:
        return ScannerProcessor.restore(key, state, config=config, calendar=calendar)

    return PipelineSpec(
        name="scanner",
        inputs=(topics.SCAN_SNAPSHOTS,),
        outputs=OUTPUT_TOPICS,
        create=create,
        restore=restore,
        key_of=scanner_key,
        timed_outputs=("ScanBoard",),  # the snapshot's processing time, next to the board's summary
    )


def run_scanner(snapshots: Iterable[Record], config: ScannerConfig | None = None, partitions: int = 3,
                refused: list[tuple[Record, Refused]] | None = None) -> list[Emit]:
    """Every output of the pipeline over ``snapshots`` (wire form, in log order), in memory. A refused
    snapshot (dead-lettered live) is skipped, like the replay does, and listed in ``refused`` when given."""
    run = InProcessPipeline([scanner_pipeline(config)], partitions)
    out: list[Emit] = []
    for snapshot in snapshots:
        try:
            out.extend(run.feed_to(topics.SCAN_SNAPSHOTS, "ScanSnapshot", snapshot))
        except Refused as error:
            if refused is not None:
                refused.append((snapshot, error))
    return out

"""The scanner's cold path: the sink writes the top N per session and category at each interval boundary
and at the session's close, exactly N rows per (session, category, instant) when the board holds N, and a
replay of the same entries (or a second sink group) writes nothing more; the views give the latest board
and a ticker's history; ``mercado scanner persist``'s manual entries land the same way."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.scanner import snapshots
from processors import topics
from processors.scanner import ScannerConfig, run_scanner
from streams.commands.scanner import manual_entries, produce_entries
from streams.config import Settings
from streams.kafka.admin import ensure_topics
from streams.kafka.catalog import topic as catalog_topic
from tests.support.marketdata import new_york
from tests.support.scanner import board_from_results
from tests.support.sink import EventProducer, create_database, drain, drop_database, isolated, migrated, query

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

N = 5


def test_top_n_rows_per_session_category_and_instant_once(services: Settings) -> None:
    config = ScannerConfig(persist_top_n=N, board_size=20, persist_every_s=900)
    snaps = snapshots(300, 360, new_york("2026-11-20 15:00:00"), 10_000_000)  # the last hour of the session
    emits = run_scanner(snaps, config)
    entries = [e.record for e in emits if e.schema == "ScanTopEntry"]
    per_point = Counter((r["session"], r["category"], r["event_time"], r["trigger"]) for r in entries)
    instants = sorted({(t, trigger) for _, _, t, trigger in per_point})
    assert [((t - new_york("2026-11-20 15:00:00")) // 60_000_000, trigger) for t, trigger in instants] == [
        (15, "interval"), (30, "interval"), (45, "interval"), (60, "close")]
    full = {k for k, n in per_point.items() if n == N}
    assert len(full) >= 5 * len(instants) and all(n <= N for n in per_point.values())

    database = create_database(services, "scanner_sink")
    try:
        db = migrated(isolated(database, db__timescaledb="off"))
        ensure_topics(db, (catalog_topic(topics.SCAN_TOP), catalog_topic(topics.DEAD_LETTERS)))
        producer = EventProducer(db)
        key_of = catalog_topic(topics.SCAN_TOP).key_function()
        for r in entries:
            producer.send(topics.SCAN_TOP, "ScanTopEntry", r, key_of(r))
        producer.flush()
        drain(db, [topics.SCAN_TOP])
        rows = query(db, "SELECT session, category, event_time, trigger, count(*) AS n FROM scanner_top "
                         "GROUP BY session, category, event_time, trigger")
        got = {(r["session"], r["category"], int(r["event_time"].timestamp() * 1_000_000), r["trigger"]): r["n"]
               for r in rows}
        assert got == dict(per_point)

        # a replay of the day produces the same entries again; another sink group reads everything again
        for r in entries:
            producer.send(topics.SCAN_TOP, "ScanTopEntry", r, key_of(r))
        producer.flush()
        drain(db, [topics.SCAN_TOP])
        drain(db.with_({"sink__group": "sink-again"}), [topics.SCAN_TOP])
        assert query(db, "SELECT count(*) FROM scanner_top")[0][0] == len(entries)

        latest = query(db, "SELECT category, rank, ticker, trigger FROM scanner_latest_board ORDER BY category, rank")
        closing = sorted((r["category"], r["rank"], r["ticker"], r["trigger"]) for r in entries
                         if r["trigger"] == "close")
        assert [tuple(r) for r in latest] == closing
        ticker = closing[0][2]
        history = query(db, "SELECT count(*) FROM scanner_ticker_history WHERE ticker = $1", ticker)[0][0]
        assert history == sum(r["ticker"] == ticker for r in entries)

        # `mercado scanner persist`: the current board's top N as manual entries, written once
        board = {s: {c: [_line(emits, s, tk) for tk in tks] for c, tks in cats.items()}
                 for s, cats in board_from_results(emits).items()}
        manual = manual_entries(board, N)
        produce_entries(db, manual)
        produce_entries(db, manual)
        drain(db, [topics.SCAN_TOP])
        n_manual = query(db, "SELECT count(*) FROM scanner_top WHERE trigger = 'manual'")[0][0]
        assert n_manual == len(manual) == sum(min(N, len(v)) for cats in board.values() for v in cats.values())
    finally:
        drop_database(database)


def _line(emits: list, session: str, ticker: str) -> dict:
    return [e.record for e in emits if e.schema == "ScanResult" and e.record["session"] == session
            and e.record["ticker"] == ticker][-1]

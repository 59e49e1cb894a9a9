"""Properties of the scanner on random snapshot sequences: a restart from the saved state changes nothing,
the compacted results alone rebuild the board, the deltas replayed from an empty board rebuild it (with
consecutive sequence numbers), and every board is ranked by (score desc, ticker)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import TOMBSTONE
from processors.scanner import ScannerConfig
from tests.support.scanner import SECOND, Harness, board_from_results, new_york, of, row

T0 = new_york("2026-11-20 15:58:00")  # regular, then post-market from 16:00
TICKERS = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF")
CONFIG = ScannerConfig(board_size=3, summary_top=3, persist_top_n=2, persist_every_s=60, alert_throttle_s=30)

prices = st.one_of(st.sampled_from([0.5, 1.0, 9.5, 10.0, 10.5, 11.0]), st.floats(0.5, 20.0).map(lambda x: round(x, 2)),
                   st.sampled_from([math.nan, 0.0, -1.0]))
rows_strategy = st.lists(
    st.builds(lambda tk, p, v, av: row(tk, p, volume=v, avg_volume=av),
              st.sampled_from(TICKERS), prices, st.integers(-10, 300_000), st.sampled_from([0, 10_000, 100_000])),
    max_size=8,
)
sequences = st.lists(st.tuples(st.integers(0, 40), rows_strategy), min_size=1, max_size=25)


def _run(steps, restart_at: int | None = None) -> Harness:
    h = Harness(CONFIG)
    t = T0
    for i, (dt, rows) in enumerate(steps):
        if i == restart_at:
            h.restart()
        t += dt * SECOND
        h.feed(t, rows)
    return h


@settings(max_examples=60, deadline=None)
@given(sequences, st.data())
def test_a_restart_from_the_saved_state_changes_nothing(steps, data) -> None:
    at = data.draw(st.integers(0, len(steps)))
    assert [tuple(e) for e in _run(steps, at).out] == [tuple(e) for e in _run(steps).out]


@settings(max_examples=80, deadline=None)
@given(sequences)
def test_results_alone_and_deltas_alone_rebuild_the_board(steps) -> None:
    h = _run(steps)
    boards = {s: {c: v for c, v in b.items() if v} for s, b in h.proc.boards.items()}
    assert board_from_results(h.out) == {s: b for s, b in boards.items() if b}

    replayed: dict[tuple[str, str], list[str]] = {}
    sequence: dict[tuple[str, str], int] = {}
    for d in of(h.out, "ScanDelta"):
        board = (d["session"], d["category"])
        assert d["sequence"] == sequence.get(board, 0) + 1
        sequence[board] = d["sequence"]
        ranks = {tk: r for r, tk in enumerate(replayed.get(board, []), 1)}
        for c in d["changes"]:
            if c["change"] == "LEFT":
                assert ranks.pop(c["ticker"]) == c["from_rank"]
            else:
                assert ranks.get(c["ticker"]) == c["from_rank"]
                ranks[c["ticker"]] = c["to_rank"]
        replayed[board] = sorted(ranks, key=ranks.__getitem__)
        assert sorted(ranks.values()) == list(range(1, d["size"] + 1))
    assert {b: v for b, v in replayed.items() if v} == {
        (s, c): v for s, b in boards.items() for c, v in b.items()}


@settings(max_examples=80, deadline=None)
@given(sequences)
def test_boards_are_ranked_by_score_then_ticker_and_bounded(steps) -> None:
    h = _run(steps)
    for summary in of(h.out, "ScanBoard"):
        for c in summary["categories"]:
            lines = [(-line["score"], line["ticker"]) for line in c["top"]]
            assert lines == sorted(lines) and len(lines) == c["count"] <= CONFIG.board_size
            assert all(line["price"] >= CONFIG.min_price for line in c["top"])
    refused = {(r["snapshot_event_id"], r["row_index"]) for r in of(h.out, "ScanRowRejected")}
    for e in h.out:
        if e.schema == "ScanResult":
            assert math.isfinite(e.record["price"]) and e.record["price"] > 0 and e.record["categories"]
        assert e.schema != TOMBSTONE or e.key.startswith("s1:")
    for (snapshot_id, j) in refused:
        assert snapshot_id.startswith("s1:") and j >= 0

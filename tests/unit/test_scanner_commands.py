"""PERSIST_SCANNER_BOARD on the scanner's own log (scanner.snapshots.v1, keyed by scanner): the board's top N
now, trigger manual, as of the command's event time, with its CommandResult; the clock does not move."""

from __future__ import annotations

from processors import topics
from processors.scanner import ScannerConfig
from processors.scanner.pipeline import scanner_key, scanner_pipeline
from tests.support.scanner import SECOND, Harness, new_york, of, row
from tests.unit.test_scanner import DAY, GAINERS_ONLY, T_OPEN

CFG = ScannerConfig(categories=GAINERS_ONLY, board_size=3, summary_top=3, persist_top_n=2)


def command(t: int, key: str, kind: str = "PERSIST_SCANNER_BOARD", scanner: str = "s1") -> dict:
    return {"event_id": f"cmd:{key}", "event_time": t, "idempotency_key": key, "actor": "ops", "kind": kind,
            "owner": "scanner", "target": scanner, "params": {}, "body_sha256": "0" * 64}


def test_persist_now_writes_the_top_n_as_of_the_command_and_says_so() -> None:
    h = Harness(CFG)
    h.feed(T_OPEN, [row("AAA", 11.0), row("BBB", 10.5), row("CCC", 10.2)])
    assert scanner_key("Command", command(T_OPEN, "p0")) == "s1"
    at = T_OPEN + 5 * SECOND
    out = h.proc.on_event("Command", command(at, "p1"))
    tops = of(out, "ScanTopEntry")
    assert [(r["rank"], r["ticker"], r["trigger"], r["event_time"]) for r in tops] == [
        (1, "AAA", "manual", at), (2, "BBB", "manual", at)]
    assert {e.topic for e in out if e.schema == "ScanTopEntry"} == {topics.SCAN_TOP}
    assert {e.topic for e in out} <= set(scanner_pipeline().outputs)  # every output is one the worker writes
    [result] = of(out, "CommandResult")
    assert result == {
        "event_id": "result:p1", "event_time": at, "idempotency_key": "p1", "kind": "PERSIST_SCANNER_BOARD",
        "owner": "scanner", "target": "s1", "status": "ACCEPTED", "reason": None,
        "message": "2 top entries of the REGULAR board persisted",
        "caused": [f"s1:{DAY}:REGULAR:top_gainers:{at}:1", f"s1:{DAY}:REGULAR:top_gainers:{at}:2"],
        "caused_by": "cmd:p1",
    }
    # the clock did not move: a snapshot between the first one and the command still comes in (not Refused)
    assert h.proc.last_time == T_OPEN
    h.feed(T_OPEN + 2 * SECOND, [row("AAA", 11.0)])
    assert h.proc.last_time == T_OPEN + 2 * SECOND
    # a command older than the last snapshot is handled at the scanner's clock
    late = h.proc.on_event("Command", command(T_OPEN, "p2"))
    assert [(r["ticker"], r["event_time"]) for r in of(late, "ScanTopEntry")] == [("AAA", T_OPEN + 2 * SECOND)]
    assert of(late, "CommandResult")[0]["event_time"] == T_OPEN + 2 * SECOND


def test_an_empty_board_or_another_kind_is_rejected() -> None:
    h = Harness(CFG)
    [result] = of(h.proc.on_event("Command", command(T_OPEN, "e1")), "CommandResult")
    assert (result["status"], result["reason"], result["message"], result["caused"]) == (
        "REJECTED", "board-empty", "the board of scanner s1 is empty: nothing to persist", [])
    h.feed(T_OPEN, [row("AAA", 11.0)])
    [result] = of(h.proc.on_event("Command", command(T_OPEN, "e2", kind="RESET_BREAKER")), "CommandResult")
    assert (result["reason"], result["message"]) == ("unknown-kind", "the scanner does not handle RESET_BREAKER")


def test_a_day_run_with_a_command_equals_the_run_without_it_plus_the_manual_entries() -> None:
    rows = [row("AAA", 11.0), row("BBB", 10.5), row("CCC", 10.2)]
    plain, commanded = Harness(CFG), Harness(CFG)
    times = [T_OPEN + s * SECOND for s in range(0, 120, 10)] + [new_york(f"{DAY} 10:00:00")]
    manual = []
    for i, t in enumerate(times):
        plain.feed(t, rows)
        commanded.feed(t, rows)
        if i == 3:
            manual = commanded.proc.on_event("Command", command(t + SECOND, "d1"))
    assert [e.record for e in commanded.out] == [e.record for e in plain.out]
    assert len(of(manual, "ScanTopEntry")) == 2 and of(manual, "CommandResult")[0]["status"] == "ACCEPTED"

"""REQUEST_BACKFILL without services: the parameters and the feed's decision (processors/commands.py), the
gateway's 4xx for a bad range, and the feed's handling of a command against a stubbed REST source
(streams/feeds/commands.py). Through Kafka, the gateway and a feed process: tests/integration/test_feed_commands.py."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from processors import commands as cmd
from processors import topics
from streams.feeds.core import TradeDedup
from streams.feeds.twelvedata import BackfillRefused, backfill_events
from tests.unit.test_gateway import COMMAND, bearer, settings

M = 60_000_000
T = 1_796_392_800_000_000  # 2026-12-04 14:00:00 UTC, a minute boundary


def iso(us: int) -> str:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)).isoformat()


def command(params: dict[str, str], *, at: int = T + 3_600 * 1_000_000, kind: str = cmd.REQUEST_BACKFILL,
            target: str = "twelvedata") -> dict[str, Any]:
    return {"event_id": "cmd:k1", "event_time": at, "idempotency_key": "k1", "actor": "ops", "kind": kind,
            "owner": cmd.FEEDS, "target": target, "params": params, "body_sha256": "x"}


def test_the_range_is_widened_to_whole_minutes() -> None:
    assert cmd.backfill_request({"symbol": "USD/COP", "from": iso(T + 30_000_000), "to": iso(T + 2 * M + 1)}) == (
        "USD/COP", T, T + 3 * M)
    assert cmd.backfill_request({"symbol": "USD/COP", "from": iso(T), "to": iso(T + M)}) == ("USD/COP", T, T + M)
    # no offset: UTC; another offset: converted
    assert cmd.backfill_request({"symbol": "AAPL", "from": "2026-12-04T14:00:00", "to": "2026-12-04T09:05:00-05:00"}
                                ) == ("AAPL", T, T + 5 * M)
    longest = {"symbol": "USD/COP", "from": iso(T), "to": iso(T + cmd.BACKFILL_MAX_MINUTES * M)}
    assert cmd.backfill_request(longest)[2] - T == cmd.BACKFILL_MAX_MINUTES * M


@pytest.mark.parametrize("params,message", [
    ({"symbol": "USD/COP", "from": iso(T + M), "to": iso(T)}, "must be before to"),
    ({"symbol": "USD/COP", "from": iso(T), "to": iso(T)}, "must be before to"),
    ({"symbol": "USD/COP", "from": iso(T), "to": iso(T + cmd.BACKFILL_MAX_MINUTES * M + 1)}, "at most 5000"),
    ({"symbol": "USD/COP", "from": "yesterday", "to": iso(T)}, "from 'yesterday' is not an ISO-8601"),
    ({"symbol": "USD/COP", "from": iso(T)}, "to is required"),
    ({"symbol": "USD//COP", "from": iso(T), "to": iso(T + M)}, "is not a symbol"),
    ({"symbol": "'; DROP TABLE x; --", "from": iso(T), "to": iso(T + M)}, "is not a symbol"),
    ({"symbol": "USD/COP", "from": "1969-12-31T23:59:00Z", "to": iso(T)}, "before 1970"),
])
def test_bad_parameters_name_the_problem(params: dict[str, str], message: str) -> None:
    with pytest.raises(cmd.BadParameter, match=message):
        cmd.backfill_request(params)


@given(lo=st.integers(0, 4 * 10**15), length=st.integers(1, cmd.BACKFILL_MAX_MINUTES * M))
def test_a_valid_range_is_covered_by_whole_minutes_within_the_cap(lo: int, length: int) -> None:
    params = {"symbol": "BTC/USD", "from": iso(lo), "to": iso(lo + length)}
    try:
        _, start, end = cmd.backfill_request(params)
    except cmd.BadParameter as exc:  # only a range that whole minutes widen beyond the cap
        assert "at most" in str(exc)
        assert (-(-(lo + length) // M) - lo // M) > cmd.BACKFILL_MAX_MINUTES
        return
    assert start % M == 0 and end % M == 0
    assert start <= lo < start + M and end - M < lo + length <= end
    assert 0 < end - start <= cmd.BACKFILL_MAX_MINUTES * M


def test_the_feed_decides_on_symbol_and_time() -> None:
    good = {"symbol": "USD/COP", "from": iso(T), "to": iso(T + 5 * M)}
    assert cmd.backfill_decision(command(good), {"USD/COP"}) == ("USD/COP", T, T + 5 * M)
    assert cmd.backfill_decision(command(good, at=T + 5 * M), {"USD/COP"}) == ("USD/COP", T, T + 5 * M)
    unknown = cmd.backfill_decision(command({**good, "symbol": "EUR/COP"}), {"USD/COP"})
    assert unknown == cmd.Rejected(cmd.UNKNOWN_SYMBOL, "twelvedata does not serve EUR/COP (it serves USD/COP)")
    future = cmd.backfill_decision(command(good, at=T + 5 * M - 1), {"USD/COP"})
    assert isinstance(future, cmd.Rejected) and future.reason == cmd.NOT_AT_SOURCE
    bad = cmd.backfill_decision(command({**good, "to": iso(T)}), {"USD/COP"})
    assert isinstance(bad, cmd.Rejected) and bad.reason == cmd.INVALID_PARAMETER and "before to" in bad.message


# ------------------------------------------------------------------ the gateway: 4xx before anything is written
@pytest.fixture()
def client() -> TestClient:
    from gateway.app import create_app

    with TestClient(create_app(settings(), push=False)) as c:
        yield c


BODY = {"venue": "twelvedata", "symbol": "USD/COP", "from": "2026-12-04T14:00:00Z", "to": "2026-12-04T14:05:00Z"}


@pytest.mark.parametrize("change,status,detail", [
    ({"to": "2026-12-04T13:00:00Z"}, 400, "must be before to"),
    ({"to": "2026-12-24T13:00:00Z"}, 400, "at most 5000"),
    ({"from": "not a time"}, 422, "from"),
    ({"symbol": "x'; DROP TABLE commands; --"}, 422, "symbol"),
    ({"venue": "../etc"}, 422, "venue"),
    ({"extra": 1}, 422, "extra"),
])
def test_the_gateway_refuses_a_bad_request_with_4xx(client: TestClient, change: dict, status: int,
                                                   detail: str) -> None:
    from gateway.app import PREFIX

    response = client.post(PREFIX + "/commands/feeds/backfill", json={**BODY, **change},
                           headers={**bearer(COMMAND), "Idempotency-Key": "bf-1"})
    assert response.status_code == status, response.text
    assert detail in response.text


# ------------------------------------------------------------------ the feed's handling, the source stubbed
class StubFeed:
    venue = "twelvedata"
    feed_id = "t-td"
    symbols = ["USD/COP"]
    timeout_s = 1.0
    retry_s = 0.001

    def __init__(self, answers: list[Any]):
        self.answers = answers
        self.asked: list[tuple[str, int, int]] = []
        self.dedup = TradeDedup(1000)
        self.backfills: list[tuple[str, int, int, int]] = []

    async def fetch_backfill(self, symbol: str, start: int, end: int, session: Any = None) -> list:
        self.asked.append((symbol, start, end))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return backfill_events(symbol, start, end, answer, 1, self.venue)


def bars(*minutes: int) -> dict[str, Any]:
    return {"status": "ok", "values": [
        {"datetime": dt.datetime.fromtimestamp((T + m * M) / 1e6, dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
         "close": str(4000 + m)} for m in minutes]}


def handle(feed: StubFeed, params: dict[str, str], **kw: Any) -> list:
    from streams.feeds.commands import FeedCommands

    class S:
        class kafka:  # noqa: N801
            topic_prefix = "t."

        @staticmethod
        def topic(name: str) -> str:
            return "t." + name

    commands = FeedCommands(feed, S(), tries=3)  # type: ignore[arg-type]
    return asyncio.run(commands.handle(command(params, **kw), None, asyncio.Event()))  # type: ignore[arg-type]


def results(events: list) -> list[tuple[str, str | None]]:
    return [(e.record["status"], e.record["reason"]) for e in events if e.schema == "CommandResult"]


def test_an_accepted_backfill_writes_the_bars_its_marker_and_the_result_last() -> None:
    feed = StubFeed([bars(0, 1, 2)])
    events = handle(feed, {"symbol": "USD/COP", "from": iso(T), "to": iso(T + 3 * M)})
    assert feed.asked == [("USD/COP", T, T + 3 * M)]
    assert [e.schema for e in events] == ["PriceTick"] * 3 + ["BackfillComplete", "CommandResult"]
    ticks = [e.record for e in events[:3]]
    assert [(r["event_id"], r["event_time"], r["last"]) for r in ticks] == [
        (f"twelvedata:USD/COP:bf{T + m * M}", T + (m + 1) * M - 1, 4000.0 + m) for m in range(3)]
    result = events[-1].record
    assert (result["status"], result["reason"], result["event_id"], result["caused_by"]) == (
        "ACCEPTED", None, "result:k1", "cmd:k1")
    assert result["caused"] == [r["event_id"] for r in ticks] + [events[3].record["event_id"]]
    assert events[-1].topic == topics.COMMAND_RESULTS and result["event_time"] >= T + 3_600 * 1_000_000


def test_ticks_already_written_are_not_written_again() -> None:
    feed = StubFeed([bars(0, 1, 2)])
    feed.dedup.accept("USD/COP", f"bf{T + M}", T + 2 * M - 1)  # minute 1 was backfilled before
    events = handle(feed, {"symbol": "USD/COP", "from": iso(T), "to": iso(T + 3 * M)})
    written = [e.record["event_id"] for e in events if e.schema == "PriceTick"]
    assert written == [f"twelvedata:USD/COP:bf{T}", f"twelvedata:USD/COP:bf{T + 2 * M}"]
    assert "2 written, 1 already there" in events[-1].record["message"]
    assert results(events) == [("ACCEPTED", None)]


def test_rejections_write_only_the_result() -> None:
    params = {"symbol": "USD/COP", "from": iso(T), "to": iso(T + 3 * M)}
    assert results(handle(StubFeed([]), {**params, "symbol": "EUR/USD"})) == [("REJECTED", cmd.UNKNOWN_SYMBOL)]
    assert results(handle(StubFeed([]), params, at=T + M)) == [("REJECTED", cmd.NOT_AT_SOURCE)]
    assert results(handle(StubFeed([]), params, kind=cmd.SET_RISK_MODE)) == [("REJECTED", cmd.UNKNOWN_KIND)]
    empty = handle(StubFeed([{"status": "error", "code": 400, "message": "No data is available on the dates"}]),
                   params)
    assert [e.schema for e in empty] == ["CommandResult"] and results(empty) == [("REJECTED", cmd.NOT_AT_SOURCE)]


def test_a_refusing_source_is_asked_again_then_the_command_is_rejected() -> None:
    params = {"symbol": "USD/COP", "from": iso(T), "to": iso(T + 3 * M)}
    feed = StubFeed([BackfillRefused("429: credits"), bars(0)])
    events = handle(feed, params)
    assert len(feed.asked) == 2 and results(events) == [("ACCEPTED", None)]
    assert [e.schema for e in events] == ["VenueHealth", "PriceTick", "BackfillComplete", "CommandResult"]
    feed = StubFeed([BackfillRefused("429: credits")] * 3)
    events = handle(feed, params)
    assert len(feed.asked) == 3 and results(events) == [("REJECTED", cmd.SOURCE_UNAVAILABLE)]
    assert [e.schema for e in events] == ["VenueHealth"] * 3 + ["CommandResult"]
    assert "429: credits" in events[-1].record["message"]

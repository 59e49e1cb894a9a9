"""The push hub's channels, sequences, snapshots, resumption and conflation, without Kafka or sockets (the
same over the real broker and real sockets: tests/integration/test_gateway_push.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from gateway.push import CHANNEL, Client, PushHub, _parse_subscribe, text_frame
from gateway.settings import GatewaySection, GatewaySettings
from processors import topics


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(orjson.loads(text))


def hub(ring: int = 1000) -> PushHub:
    return PushHub(GatewaySettings().with_(gateway=GatewaySection(push_ring=ring)))


def client(cap: int = 100) -> Client:
    return Client(FakeSocket(), cap, heartbeat_s=60)  # type: ignore[arg-type]


def bar(i: int, venue: str = "binance", symbol: str = "BTC/USDT") -> tuple[str, str, dict[str, Any]]:
    return topics.BARS, "Bar", {"venue": venue, "symbol": symbol, "interval_s": 60, "start": i, "close": 100.0 + i}


def opp(oid: str, tier: str, revision: int = 0) -> tuple[str, str, dict[str, Any]]:
    return topics.OPPORTUNITIES, "ArbitrageOpportunity", {"opportunity_id": oid, "tier": tier, "revision": revision}


def messages(c: Client) -> list[dict[str, Any]]:
    return [orjson.loads(text) for _channel, text in c.outbox]


def test_events_get_a_sequence_per_channel_and_reach_only_subscribers() -> None:
    h, a, b = hub(), client(), client()
    h.attach(a, ["bars:binance:BTC/USDT:60"], {}, None)
    h.attach(b, ["bars:kraken:BTC/USDT:60"], {}, None)
    h.publish([bar(1), bar(2), bar(1, venue="kraken"), (topics.TICKS, "Heartbeat", {"venue": "binance"})])
    got = messages(a)
    assert got[0] == {"type": "snapshot", "channel": "bars:binance:BTC/USDT:60", "seq": 0, "epoch": h.epoch, "data": []}
    assert [(m["type"], m["seq"], m["data"]["start"]) for m in got[1:]] == [("event", 1, 1), ("event", 2, 2)]
    assert [(m["seq"], m["data"]["venue"]) for m in messages(b)[1:]] == [(1, "kraken")]
    assert h.published == 3  # the heartbeat is no tick


def test_a_snapshot_holds_the_latest_state_of_the_channel() -> None:
    h = hub()
    h.publish([bar(1), bar(2)])
    h.publish([(topics.BREAKERS, "BreakerTransition", {"venue": "binance", "breaker": "DRAWDOWN", "scope": s,
                                                        "to_state": state})
               for s, state in (("a", "OPEN"), ("b", "OPEN"), ("a", "HALF_OPEN"))])  # fmt: skip
    c = client()
    h.attach(c, ["bars:binance:BTC/USDT:60", "breakers"], {}, None)
    snap_bars, snap_breakers = messages(c)
    assert (snap_bars["seq"], [r["start"] for r in snap_bars["data"]]) == (2, [2])
    assert snap_breakers["seq"] == 3
    assert sorted((r["scope"], r["to_state"]) for r in snap_breakers["data"]) == [("a", "HALF_OPEN"), ("b", "OPEN")]


def test_opportunities_follow_their_tier_and_leave_when_closed() -> None:
    h, c = hub(), client()
    h.attach(c, ["opportunities:critical", "opportunities:tracking"], {}, None)
    h.publish([opp("opp:1", "CRITICAL"), opp("opp:2", "CRITICAL"), opp("opp:1", "TRACKING", 1)])
    h.publish([(topics.OPPORTUNITIES, "ArbitrageOpportunityClosed", {"opportunity_id": "opp:2", "reason": "x"})])
    events = [(m["channel"], m["seq"], m["data"]["opportunity_id"]) for m in messages(c) if m["type"] == "event"]
    assert events == [
        ("opportunities:critical", 1, "opp:1"), ("opportunities:critical", 2, "opp:2"),
        ("opportunities:tracking", 1, "opp:1"), ("opportunities:critical", 3, "opp:1"),  # left critical
        ("opportunities:critical", 4, "opp:2"),  # closed
    ]  # fmt: skip
    later = client()
    h.attach(later, ["opportunities:critical", "opportunities:tracking"], {}, None)
    critical, tracking = messages(later)
    assert critical["data"] == [] and [r["opportunity_id"] for r in tracking["data"]] == ["opp:1"]


def test_a_reconnect_gets_what_it_missed_or_a_fresh_snapshot() -> None:
    h = hub(ring=5)
    name = "bars:binance:BTC/USDT:60"
    h.publish([bar(i) for i in range(1, 8)])  # seq 1..7; the ring keeps 3..7
    resumed = client()
    h.attach(resumed, [name], {name: 4}, h.epoch)
    assert [(m["type"], m["seq"]) for m in messages(resumed)] == [("event", 5), ("event", 6), ("event", 7)]
    up_to_date = client()
    h.attach(up_to_date, [name], {name: 7}, h.epoch)
    assert messages(up_to_date) == []
    for since, epoch in ((1, h.epoch), (4, "another-process"), (9, h.epoch), (-1, h.epoch)):
        c = client()
        h.attach(c, [name], {name: since}, epoch)
        [m] = messages(c)
        assert (m["type"], m["seq"], len(m["data"])) == ("snapshot", 7, 1), (since, epoch)
    edge = client()  # the ring's oldest change is since + 1: still resumable
    h.attach(edge, [name], {name: 2}, h.epoch)
    assert [m["seq"] for m in messages(edge)] == [3, 4, 5, 6, 7]


def test_a_slow_clients_outbox_conflates_to_the_latest_per_channel() -> None:
    h, slow, fast = hub(), client(cap=4), client(cap=10_000)
    for c in (slow, fast):
        h.attach(c, ["bars:binance:BTC/USDT:60", "bars:binance:ETH/USDT:60"], {}, None)
    h.publish([bar(i, symbol=s) for i in range(1, 51) for s in ("BTC/USDT", "ETH/USDT")])
    assert len(fast.outbox) == 2 + 100 and fast.conflations == 0
    assert len(slow.outbox) <= 4 and slow.conflations > 0
    latest = {m["channel"]: m["seq"] for m in messages(slow)}
    assert latest == {"bars:binance:BTC/USDT:60": 50, "bars:binance:ETH/USDT:60": 50}


def test_the_pump_sends_in_order_and_the_hub_heartbeats_a_silent_client_only() -> None:
    now = [100.0]  # the clients' clock, moved by the test

    async def settle() -> None:  # the pumps send what was offered
        for _ in range(5):
            await asyncio.sleep(0)

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        h = hub()
        quiet, busy = (Client(FakeSocket(), 100, heartbeat_s=1.0) for _ in range(2))  # type: ignore[arg-type]
        for c in (quiet, busy):
            c.clock = lambda: now[0]
            c.last_sent = now[0]
        h.clients.update({quiet, busy})
        tasks = [asyncio.create_task(c.pump()) for c in (quiet, busy)]
        quiet.offer("x", '{"n": 1}')
        quiet.offer("x", '{"n": 2}')
        await settle()
        for n in range(5):  # every 0.5 s busy sends and the hub checks: quiet is silent at +1.0 and +2.0
            now[0] += 0.5
            busy.offer("y", orjson.dumps({"m": n}).decode())
            await settle()
            h.beat(now[0])
            await settle()
        for task in tasks:
            task.cancel()
        return quiet.websocket.sent, busy.websocket.sent  # type: ignore[attr-defined]

    quiet, busy = asyncio.run(run())
    assert quiet[:2] == [{"n": 1}, {"n": 2}] and [m["type"] for m in quiet[2:]] == ["heartbeat", "heartbeat"]
    assert busy == [{"m": n} for n in range(5)]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"channels": "bars"}, "list of channel names"),
        ({"channels": ["bars:x"]}, "unknown channel"),
        ({"channels": ["ticks:binance:BTC/USDT'--"]}, "unknown channel"),
        ({"channels": ["opportunities:urgent"]}, "unknown channel"),
        ({"channels": ["alerts"], "since": {"alerts": "3"}}, "sequence numbers"),
        ({"channels": ["alerts"] * 201}, "at most 200"),
    ],
)
def test_bad_subscriptions_are_refused_with_a_reason(message: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        _parse_subscribe(message, 0)


def test_channel_names() -> None:
    for name in ("bars:binance:BTC/USDT:60", "ticks:setfx:USD/COP", "alerts", "breakers", "opportunities:critical",
                 "scanner:REGULAR:top_gainers", "scanner:PRE_MARKET:gappers_up", "recommendations"):  # fmt: skip
        assert CHANNEL.match(name)
    for name in ("bars:binance:BTC/USDT", "ticks:a b:c", "alert", "opportunities:CRITICAL", "breakers:x",
                 "scanner:REGULAR", "scanner:regular:top_gainers", "scanner:REGULAR:top gainers'--",
                 "recommendations:GGAL", "recommendation"):  # fmt: skip
        assert not CHANNEL.match(name)


def test_recommendations_are_sequenced_with_the_latest_of_each_ticker_as_snapshot() -> None:
    def reco(ticker: str, day: str, label: str) -> tuple[str, str, dict[str, Any]]:
        record = {"ticker": ticker, "analysis_date": day, "recommendation": label}
        return topics.RECOMMENDATIONS, "Recommendation", record

    h, early = hub(), client()
    h.attach(early, ["recommendations"], {}, None)
    h.publish([reco("GGAL", "2026-11-19", "BUY"), reco("YPFD", "2026-11-19", "SELL"),
               (topics.JOB_RUNS, "JobRun", {"run_date": "2026-11-19"}), reco("GGAL", "2026-11-20", "HOLD")])
    assert [(m["seq"], m["data"]["ticker"], m["data"]["recommendation"]) for m in messages(early)[1:]] == [
        (1, "GGAL", "BUY"), (2, "YPFD", "SELL"), (3, "GGAL", "HOLD")]  # a job run is not on the channel
    late = client()
    h.attach(late, ["recommendations"], {}, None)
    [snapshot] = messages(late)
    assert snapshot["seq"] == 3  # the latest of each ticker, the least recently changed first
    assert [(r["ticker"], r["analysis_date"]) for r in snapshot["data"]] == [("YPFD", "2026-11-19"),
                                                                             ("GGAL", "2026-11-20")]


def test_database_seeds_sit_under_what_the_process_has_seen() -> None:
    h = hub()
    h.publish([(topics.BREAKERS, "BreakerTransition", {"venue": "v", "breaker": "LATENCY", "scope": "v",
                                                        "to_state": "CLOSED"})])  # fmt: skip
    breakers = h.channels["breakers"]
    breakers.seed([("v|LATENCY|v", {"to_state": "OPEN"}), ("v|DRAWDOWN|a", {"to_state": "OPEN"})])
    assert list(breakers.latest.items()) == [("v|DRAWDOWN|a", {"to_state": "OPEN"}),
                                             ("v|LATENCY|v", {"breaker": "LATENCY", "scope": "v", "to_state": "CLOSED",
                                                              "venue": "v"})]  # fmt: skip
    h.publish([bar(5)])
    bars = h.channels["bars:binance:BTC/USDT:60"]
    bars.seed([("bar", {"start": 1})])  # an older bar from the database never replaces the live one
    assert [r["start"] for r in bars.snapshot()] == [5]
    empty = h.channel("bars:kraken:BTC/USDT:60")
    empty.seed([("bar", {"start": 3})])
    assert empty.snapshot() == [{"start": 3}] and empty.seq == 0


def test_a_hub_without_a_database_subscribes_from_memory() -> None:
    h, c = hub(), client()
    h.publish([bar(1)])
    asyncio.run(h.subscribe(c, ["bars:binance:BTC/USDT:60", "ticks:binance:BTC/USDT"], {}, None))
    assert [(m["type"], m["seq"], len(m["data"])) for m in messages(c)] == [("snapshot", 1, 1), ("snapshot", 0, 0)]


def scan_line(ticker: str, placements: dict[str, int], scanner: str = "s1", session: str = "REGULAR",
              t: int = 1) -> tuple[bytes, dict[str, Any]]:  # fmt: skip
    record = {"scanner": scanner, "session": session, "ticker": ticker, "event_time": t,
              "categories": [{"category": c, "rank": r, "score": 10.0 - r} for c, r in placements.items()]}
    return f"{scanner}:{session}:{ticker}".encode(), record


def delta(seq: int, changes: list[tuple[str, str]], category: str = "top_gainers", session: str = "REGULAR",
          scanner: str = "s1") -> tuple[str, str, dict[str, Any]]:  # fmt: skip
    return topics.SCAN_DELTAS, "ScanDelta", {
        "event_id": f"{scanner}:{session}:{category}:{seq}", "scanner": scanner, "session": session,
        "category": category, "sequence": seq, "changes": [{"ticker": t, "change": c} for t, c in changes]}


def test_scanner_deltas_are_sequenced_per_session_and_category_over_a_snapshot_of_the_board() -> None:
    h = hub()
    h.load_board(dict([scan_line("AAA", {"top_gainers": 2}), scan_line("BBB", {"top_gainers": 1, "most_active": 1}),
                       scan_line("CCC", {"top_gainers": 1}, session="PRE_MARKET"),
                       scan_line("DDD", {"top_gainers": 1}, scanner="s0")]))  # fmt: skip
    c = client()
    h.attach(c, ["scanner:REGULAR:top_gainers", "scanner:REGULAR:most_active", "scanner:POST_MARKET:top_gainers"],
             {}, None)  # fmt: skip
    gainers, active, post = messages(c)
    # each scanner's lines in rank order, scanners by name; only the session's
    assert [(r["scanner"], r["ticker"]) for r in gainers["data"]] == [("s0", "DDD"), ("s1", "BBB"), ("s1", "AAA")]
    assert [r["ticker"] for r in active["data"]] == ["BBB"] and post["data"] == []
    assert gainers["seq"] == 0
    # the board moves (results before their deltas), the deltas are published in order, one seq per delta
    h.apply_board([scan_line("EEE", {"top_gainers": 1}, t=2), scan_line("BBB", {"top_gainers": 2}, t=2),
                   (b"s1:REGULAR:AAA", None)])  # fmt: skip
    h.publish([delta(7, [("EEE", "ENTERED"), ("BBB", "MOVED"), ("AAA", "LEFT")]),
               delta(3, [("BBB", "LEFT")], category="most_active"),
               delta(1, [("CCC", "LEFT")], session="PRE_MARKET")])  # fmt: skip
    events = [(m["channel"], m["seq"], m["data"]["sequence"]) for m in messages(c)[3:]]
    assert events == [("scanner:REGULAR:top_gainers", 1, 7), ("scanner:REGULAR:most_active", 1, 3)]
    assert h.channels["scanner:PRE_MARKET:top_gainers"].seq == 1  # published, nobody listening
    later = client()
    h.attach(later, ["scanner:REGULAR:top_gainers", "scanner:REGULAR:most_active"], {}, None)
    gainers, active = messages(later)
    assert gainers["seq"] == 1 and [r["ticker"] for r in gainers["data"]] == ["DDD", "EEE", "BBB"]
    assert active["data"] == []  # BBB left most_active (its line now places it in top_gainers only)


def test_without_a_board_the_scanner_snapshot_is_empty_and_changes_wait() -> None:
    h, c = hub(), client()
    assert h.board is None and h.board_error
    h.apply_board([scan_line("AAA", {"top_gainers": 1})])  # before the board is read: dropped, the read has it
    h.attach(c, ["scanner:REGULAR:top_gainers"], {}, None)
    assert messages(c)[0]["data"] == []


class FakeTransport:
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.frames.append(data)

    def is_closing(self) -> bool:
        return self.closing


class FakeProtocol:  # what Client.offer reads of uvicorn's sans-I/O protocol
    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.writable = asyncio.Event()
        self.writable.set()
        self.close_sent = False


def test_frames_go_straight_to_a_writable_transport_and_queue_in_order_while_it_is_paused() -> None:
    from websockets.frames import Frame
    from websockets.streams import StreamReader

    def texts(frames: list[bytes]) -> list[int]:
        reader = StreamReader()
        reader.feed_data(b"".join(frames))
        out = []
        while reader.buffer:
            parser = Frame.parse(reader.read_exact, mask=False)
            try:
                next(parser)
            except StopIteration as done:
                out.append(orjson.loads(done.value.data)["n"])
        return out

    async def run() -> tuple[list[int], list[int], Client]:
        proto = FakeProtocol()
        socket = FakeSocket()

        async def send_text(text: str) -> None:  # ASGI: waits while the transport is paused, then writes
            await proto.writable.wait()
            proto.transport.write(text_frame(text))

        socket.send_text = send_text  # type: ignore[method-assign]
        c = Client(socket, 3, heartbeat_s=60, direct=proto)  # type: ignore[arg-type]
        pump = asyncio.create_task(c.pump())
        c.offer("a", '{"n": 1}')
        c.offer("a", '{"n": 2}', frame=text_frame('{"n": 2}'))
        direct = texts(proto.transport.frames)  # written at once: no task ran
        proto.writable.clear()  # the socket's buffer is full
        for n in range(3, 9):
            c.offer("a", orjson.dumps({"n": n}).decode())
            await asyncio.sleep(0)
        c.offer("b", '{"n": 9}')
        proto.writable.set()
        c.offer("a", '{"n": 10}')  # queued behind what waits: never overtakes it
        for _ in range(20):
            await asyncio.sleep(0)
        c.offer("a", '{"n": 11}')  # all sent: straight again
        pump.cancel()
        return direct, texts(proto.transport.frames), c

    direct, everything, c = asyncio.run(run())
    assert direct == [1, 2]
    assert everything[:2] == [1, 2] and everything[-1] == 11
    after = everything[2:-1]  # paused: 3 went to the pump, then the outbox (cap 3) conflated per channel
    assert after == sorted(after) and after[-1] == 10 and 9 in after and c.conflations > 0
    assert c.sent == len(everything)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70_000])
def test_a_text_frame_is_the_one_websockets_serializes(size: int) -> None:
    from websockets.frames import Frame, Opcode

    text = ("é" * size)[: size // 2] + "x" * (size - size // 2)
    assert text_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])


def test_refreeze_freezes_as_clients_grow_by_a_quarter_and_thaws_when_they_halve() -> None:
    h, calls = hub(), []

    def step(clients: int) -> str | None:
        return h.refreeze(clients, freeze=lambda: calls.append("freeze"), thaw=lambda: calls.append("thaw"))

    assert [step(n) for n in (0, 15)] == [None, None]  # fewer than 16 clients: nothing worth freezing
    assert step(16) == "froze" and h.frozen_clients == 16
    assert [step(n) for n in (20, 8)] == [None, None]  # 20 = 16 * 5/4: not more than a quarter; 8 = half: kept
    assert step(21) == "froze" and h.frozen_clients == 21
    assert step(1000) == "froze" and step(1250) is None and step(1251) == "froze"
    assert step(625) is None and step(624) == "thawed" and h.frozen_clients == 624
    assert step(700) is None and step(781) == "froze"
    assert calls == ["freeze"] * 4 + ["thaw", "freeze"]


def test_the_real_refreeze_moves_live_objects_to_the_permanent_generation() -> None:
    import gc

    h, before = hub(), gc.get_freeze_count()
    try:
        keep = [[i] for i in range(1000)]  # tracked objects alive now
        assert h.refreeze(16) == "froze"
        assert gc.get_freeze_count() >= before + len(keep)
        assert h.refreeze(0) == "thawed" and gc.get_freeze_count() > 0  # collected, then frozen again
    finally:
        gc.unfreeze()

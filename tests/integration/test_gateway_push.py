"""``/api/v1/ws`` over the real broker and real sockets: auth closes (4001/4003), snapshot then changes
with per-channel sequence numbers, resumption after a reconnect (or a fresh snapshot), read_committed
(an aborted transaction never reaches a client), heartbeats, many clients fed by one consumer, and the
scanner board's deltas over a snapshot of the board the consumer keeps (which ``/scanner/board`` serves)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import Producer
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gateway.app import PREFIX, create_app
from gateway.push import PUSH_TOPICS
from gateway.settings import GatewaySection, GatewaySettings
from processors import topics
from streams.codec.serde import AvroSerde
from streams.config import Settings
from streams.kafka.clients import producer_config
from tests.support.api_server import serving
from tests.support.sink import EventProducer, alert, bar, create_topics, price_tick, wait_until

pytestmark = pytest.mark.kafka
READ, COMMAND = "ws-read-key", "ws-command-key"
BARS = "bars:sim:USDCOP:60"
RING = 5


@dataclass
class Push:
    settings: GatewaySettings
    url: str
    producer: EventProducer
    hub: Any  # the app's PushHub: tests wait on its sequence numbers, never the other way round
    base: str  # http://127.0.0.1:<port>

    async def seen(self, channel: str, seq: int, timeout_s: float = 15.0) -> None:
        """Until the hub has published ``seq`` changes on ``channel``."""
        deadline = time.monotonic() + timeout_s
        while self.hub.channels.get(channel) is None or self.hub.channels[channel].seq < seq:
            assert time.monotonic() < deadline, f"{channel} never reached seq {seq}"
            await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
def push(services: Settings) -> Iterator[Push]:
    settings = services.with_(kafka__topic_prefix=f"{services.kafka.topic_prefix}ws-{uuid.uuid4().hex[:8]}.")
    create_topics(settings, *PUSH_TOPICS)
    section = GatewaySection(read_keys=[READ], command_keys=[COMMAND], push_ring=RING, heartbeat_s=0.5)
    gateway = GatewaySettings.extend(settings).with_(gateway=section)
    app = create_app(gateway)
    with serving(app) as base:
        wait_until(lambda: app.state.hub.ready.is_set(), 60, "the push consumer")
        url = base.replace("http://", "ws://") + PREFIX + "/ws"
        yield Push(gateway, url, EventProducer(settings), app.state.hub, base)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def receive(ws: ClientConnection, timeout_s: float = 10.0, skip_heartbeats: bool = True) -> dict[str, Any]:
    while True:
        message = orjson.loads(await asyncio.wait_for(ws.recv(), timeout_s))
        if not (skip_heartbeats and message["type"] == "heartbeat"):
            return message


async def subscribed(push: Push, channels: list[str], **extra: Any) -> tuple[ClientConnection, dict, list[dict]]:
    ws = await connect(push.url, additional_headers=auth(READ))
    welcome = await receive(ws)
    await ws.send(orjson.dumps({"op": "subscribe", "channels": channels, **extra}).decode())
    return ws, welcome, []


def send_bars(push: Push, indexes: range) -> list[dict[str, Any]]:
    records = [bar(i) for i in indexes]
    for r in records:
        push.producer.send(topics.BARS, "Bar", r)
    push.producer.flush()
    return records


# --------------------------------------------------------------------------- auth
async def test_auth_failures_close_with_4001_and_a_missing_role_with_4003(push: Push) -> None:
    async def close_code(**kwargs: Any) -> tuple[int, str]:
        first = kwargs.pop("first", None)
        async with connect(push.url, **kwargs) as ws:
            if first is not None:
                await ws.send(first)
            with pytest.raises(ConnectionClosed) as info:
                await receive(ws)
        return info.value.rcvd.code, info.value.rcvd.reason  # type: ignore[union-attr]

    assert (await close_code(first='{"op": "subscribe", "channels": ["alerts"]}'))[0] == 4001
    assert await close_code(additional_headers=auth("unknown")) == (4001, "unknown API key")
    code, reason = await close_code(additional_headers=auth(COMMAND))
    assert code == 4003 and "lacks the 'read' role" in reason
    assert (await close_code(first='{"op": "auth", "token": "nope"}'))[0] == 4001
    async with connect(push.url) as ws:  # a browser: the key in the first message
        await ws.send(orjson.dumps({"op": "auth", "token": READ}).decode())
        welcome = await receive(ws)
        assert welcome["type"] == "welcome" and welcome["epoch"]


# --------------------------------------------------------------------------- snapshot, changes, resumption
async def test_snapshot_then_changes_then_a_reconnect_resumes_or_gets_a_snapshot(push: Push) -> None:
    ws, welcome, _ = await subscribed(push, [BARS])
    epoch = welcome["epoch"]
    snapshot = await receive(ws)
    assert (snapshot["type"], snapshot["channel"], snapshot["epoch"]) == ("snapshot", BARS, epoch)
    start = snapshot["seq"]
    sent = send_bars(push, range(100, 103))
    got = [await receive(ws) for _ in sent]
    assert [(m["type"], m["seq"]) for m in got] == [("event", start + 1), ("event", start + 2), ("event", start + 3)]
    assert [m["data"]["event_id"] for m in got] == [r["event_id"] for r in sent]
    assert got[0]["data"]["close"] == sent[0]["close"] and got[0]["data"]["start"] == sent[0]["start"]
    last = got[-1]["seq"]
    await ws.close()

    missed = send_bars(push, range(103, 105))  # while disconnected
    await push.seen(BARS, last + 2)
    ws, _, _ = await subscribed(push, [BARS], since={BARS: last}, epoch=epoch)
    resumed = [await receive(ws) for _ in missed]
    assert [(m["type"], m["seq"], m["data"]["event_id"]) for m in resumed] == [
        ("event", last + 1, missed[0]["event_id"]), ("event", last + 2, missed[1]["event_id"])
    ]  # fmt: skip
    await ws.close()

    send_bars(push, range(105, 105 + RING))  # the ring now starts after `last + 2`
    await push.seen(BARS, last + 2 + RING)
    for since, their_epoch in ((last, epoch), (last + 2, "other-process")):
        ws, _, _ = await subscribed(push, [BARS], since={BARS: since}, epoch=their_epoch)
        fresh = await receive(ws)
        assert (fresh["type"], fresh["seq"]) == ("snapshot", last + 2 + RING)
        assert [r["start"] for r in fresh["data"]] == [bar(105 + RING - 1)["start"]]  # the latest bar
        await ws.close()


# --------------------------------------------------------------------------- read_committed, heartbeats, fan-out
async def test_an_aborted_transaction_never_reaches_a_client(push: Push) -> None:
    ws, _, _ = await subscribed(push, [BARS])
    start = (await receive(ws))["seq"]
    serde = AvroSerde()
    encode = serde.encoder("Bar")
    producer = Producer(producer_config(push.settings, **{"transactional.id": f"ws-test-{uuid.uuid4().hex}"}))
    producer.init_transactions(30)
    aborted, committed = bar(500), bar(501)
    for record, commit in ((aborted, False), (committed, True)):
        producer.begin_transaction()
        producer.produce(push.settings.topic(topics.BARS), encode(record), b"sim:USDCOP")
        producer.flush(30)
        producer.commit_transaction(30) if commit else producer.abort_transaction(30)
    got = await receive(ws)
    assert (got["seq"], got["data"]["event_id"]) == (start + 1, committed["event_id"])
    await asyncio.sleep(0.5)
    assert push.hub.channels[BARS].seq == start + 1  # the aborted bar was never published
    await ws.close()


async def test_an_idle_socket_gets_heartbeats(push: Push) -> None:
    async with connect(push.url, additional_headers=auth(READ)) as ws:
        await receive(ws)  # welcome
        beat = await receive(ws, skip_heartbeats=False)  # every 0.5 s; the usual 10 s to come
        assert beat["type"] == "heartbeat" and abs(beat["time_us"] / 1e6 - time.time()) < 60
        await ws.send('{"op": "subscribe", "channels": ["bars:sim:USDCOP"]}')  # a bad channel: an error, no close
        error = await receive(ws)
        assert error["type"] == "error" and "unknown channel" in error["detail"]


async def test_one_consumer_feeds_many_clients_every_change_in_order(push: Push) -> None:
    channels = ["ticks:sim:USDCOP", "alerts"]
    sockets = [await subscribed(push, channels) for _ in range(20)]
    starts = []
    for ws, _, _ in sockets:
        snaps = {m["channel"]: m["seq"] for m in [await receive(ws), await receive(ws)]}
        starts.append(snaps)
    # uvicorn's sans-I/O protocol is found under each socket: changes are framed once, written to the transports
    assert push.hub.clients and all(c.direct is not None for c in push.hub.clients)
    ticks = [price_tick(10_000 + i) for i in range(40)]
    alerts = [alert(i) for i in range(5)]
    for t in ticks:
        push.producer.send(topics.TICKS, "PriceTick", t)
    for a in alerts:
        push.producer.send(topics.MD_ALERTS, "Alert", a, key=a["alert_key"])
    push.producer.flush()
    for (ws, _, _), start in zip(sockets, starts, strict=True):
        got = [await receive(ws) for _ in range(len(ticks) + len(alerts))]
        by_channel: dict[str, list[dict]] = {}
        for m in got:
            by_channel.setdefault(m["channel"], []).append(m)
        assert [m["data"]["event_id"] for m in by_channel["ticks:sim:USDCOP"]] == [t["event_id"] for t in ticks]
        assert [m["seq"] for m in by_channel["ticks:sim:USDCOP"]] == list(
            range(start["ticks:sim:USDCOP"] + 1, start["ticks:sim:USDCOP"] + 1 + len(ticks))
        )
        assert sorted(m["data"]["event_id"] for m in by_channel["alerts"]) == sorted(a["event_id"] for a in alerts)
        await ws.close()


# --------------------------------------------------------------------------- the scanner board's deltas
T0 = 1_795_190_400_000_000  # 2026-11-20T16:00Z: 11:00 New York, regular session
GAINERS = "scanner:REGULAR:top_gainers"


def scan_result(ticker: str, rank: int, t: int) -> dict[str, Any]:
    return {"event_id": f"ws:REGULAR:{ticker}:{t}", "event_time": t, "scanner": "ws", "trading_day": "2026-11-20",
            "session": "REGULAR", "ticker": ticker, "price": 10.0 + rank, "change_pct": 5.0 / rank,
            "change_open_pct": None, "gap_pct": 1.0, "volume": 100_000, "relative_volume": None, "day_high": 12.0,
            "day_low": 9.0, "categories": [{"category": "top_gainers", "rank": rank, "score": 5.0 / rank}]}  # fmt: skip


def scan_delta(seq: int, t: int, size: int, changes: list[tuple[str, str, int | None, int | None]]) -> dict[str, Any]:
    return {"event_id": f"ws:REGULAR:top_gainers:{seq}", "event_time": t, "scanner": "ws",
            "trading_day": "2026-11-20", "session": "REGULAR", "category": "top_gainers", "sequence": seq,
            "size": size, "changes": [{"ticker": tk, "change": c, "from_rank": a, "to_rank": b, "score": None}
                                      for tk, c, a, b in changes]}  # fmt: skip


async def test_scanner_deltas_arrive_in_order_over_a_snapshot_of_the_board(push: Push) -> None:
    def board() -> list[tuple[str, int]]:
        response = httpx.get(push.base + PREFIX + "/scanner/board", params={"scanner": "ws"}, headers=auth(READ),
                             timeout=30)  # not httpx's 5 s: the server shares a loaded machine
        assert response.status_code == 200, response.text
        return [(i["ticker"], i["rank"]) for i in response.json()["items"]]

    async def board_becomes(want: list[tuple[str, int]]) -> None:
        deadline = time.monotonic() + 15
        while (got := board()) != want:
            assert time.monotonic() < deadline, f"the board stayed {got}, not {want}"
            await asyncio.sleep(0.05)

    def results(*records: dict[str, Any] | str) -> None:
        for r in records:
            if isinstance(r, str):  # a tombstone: the ticker left every category
                push.producer.send_raw(topics.SCAN_RESULTS, None, f"ws:REGULAR:{r}".encode())
            else:
                push.producer.send(topics.SCAN_RESULTS, "ScanResult", r, key=f"ws:REGULAR:{r['ticker']}")
        push.producer.flush()

    assert push.hub.board is not None  # read whole (empty) when the consumer started
    results(scan_result("WSA", 1, T0), scan_result("WSB", 2, T0))
    await board_becomes([("WSA", 1), ("WSB", 2)])
    ws, _, _ = await subscribed(push, [GAINERS])
    snapshot = await receive(ws)
    assert snapshot["type"] == "snapshot" and [(r["ticker"], r["price"]) for r in snapshot["data"]] == [
        ("WSA", 11.0), ("WSB", 12.0)
    ]
    start = snapshot["seq"]
    t1, t2, t3 = T0 + 10_000_000, T0 + 20_000_000, T0 + 30_000_000
    deltas = [
        scan_delta(1, t1, 3, [("WSC", "ENTERED", None, 1), ("WSA", "MOVED", 1, 2), ("WSB", "MOVED", 2, 3)]),
        scan_delta(2, t2, 2, [("WSA", "MOVED", 2, 1), ("WSB", "LEFT", 3, None)]),
        scan_delta(3, t3, 2, [("WSC", "MOVED", 2, 1), ("WSA", "MOVED", 1, 2)]),
    ]
    results(scan_result("WSC", 1, t1), scan_result("WSA", 2, t1), scan_result("WSB", 3, t1))
    results(scan_result("WSA", 1, t2), "WSB", scan_result("WSC", 2, t2))
    results(scan_result("WSC", 1, t3), scan_result("WSA", 2, t3))
    for d in deltas:
        push.producer.send(topics.SCAN_DELTAS, "ScanDelta", d, key="ws:REGULAR:top_gainers")
    push.producer.flush()
    got = [await receive(ws) for _ in deltas]
    assert [(m["channel"], m["seq"], m["data"]["sequence"]) for m in got] == [
        (GAINERS, start + 1, 1), (GAINERS, start + 2, 2), (GAINERS, start + 3, 3)
    ]  # fmt: skip
    assert [m["data"]["changes"] for m in got] == [d["changes"] for d in deltas]
    await ws.close()
    await board_becomes([("WSC", 1), ("WSA", 2)])  # the tombstone removed WSB; the REST board is the live one
    ws, _, _ = await subscribed(push, [GAINERS])
    fresh = await receive(ws)
    assert fresh["seq"] == start + 3 and [r["ticker"] for r in fresh["data"]] == ["WSC", "WSA"]
    await ws.close()

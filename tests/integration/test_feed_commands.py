"""REQUEST_BACKFILL end to end on the real broker and database: ``POST /api/v1/commands/feeds/backfill`` →
the Command on feeds.commands.v1 → ``mercado feed twelvedata`` (a real subprocess, against the loopback
TwelveData server) fetches the range over REST → the replacement ticks, the BackfillComplete and the
CommandResult, which the real sink materializes and ``GET /api/v1/commands/{key}`` shows. Also a rejected
request, a repeated Idempotency-Key, a ``kill -9`` of the feed mid-backfill, and the gateway's idempotency
gap: a gateway process killed between writing the command and marking it written, then retried."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.app import PREFIX, create_app
from gateway.commands import CommandWriter
from gateway.settings import GatewaySection, GatewaySettings
from processors import topics
from streams.config import Settings
from streams.feeds.loopback import FakeTwelveData
from streams.kafka.admin import ensure_topics
from streams.kafka.consumer import EventConsumer, default_serde
from tests.integration.test_gateway_commands import BackgroundSink
from tests.support.api_server import serving
from tests.support.sink import (
    ROOT,
    create_database,
    drop_database,
    free_port,
    isolated,
    migrated,
    query,
    read_topic,
    settings_env,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
READ, COMMAND = "bf-it-read", "bf-it-command"
SYMBOL = "BTC/USD"  # TwelveData's BTC/USD trades around the clock (the crypto calendar): any hour will do
MINUTE = int(time.time()) // 60 * 60 - 3600  # an hour ago, on a minute boundary (UTC seconds)


def iso(s: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s))


class ServerThread:
    """The loopback TwelveData server on an event loop of its own thread."""

    def __init__(self) -> None:
        self.server = FakeTwelveData()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)

    def time_series_requests(self) -> int:
        return sum("/time_series" in r for r in self.server.requests)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@dataclass
class Env:
    settings: Settings
    gateway: GatewaySettings
    client: httpx.Client
    server: ServerThread
    feed: subprocess.Popen | None = None
    served: list[str] | None = None  # what the feed announced on feeds.served.v1

    def post(self, body: dict[str, Any], idem: str, client: httpx.Client | None = None) -> httpx.Response:
        return (client or self.client).post(PREFIX + "/commands/feeds/backfill", json=body, headers={
            "Idempotency-Key": idem, "Authorization": f"Bearer {COMMAND}"})

    def decided(self, idem: str, timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            body = self.client.get(PREFIX + f"/commands/{idem}", headers={"Authorization": f"Bearer {READ}"}).json()
            if body.get("status") not in (None, "PENDING"):
                return body
            if time.monotonic() > deadline:
                raise TimeoutError(f"{idem}: {body}")
            time.sleep(0.1)

    def start_feed(self) -> None:
        env = {**os.environ, "MERCADO_KAFKA__TOPIC_PREFIX": self.settings.kafka.topic_prefix,
               "MERCADO_MARKETDATA__VENUE_CALENDARS": '{"twelvedata": "crypto"}',
               "MERCADO_FEED_TWELVEDATA_API_KEY": "test-key", "MERCADO_METRICS__PORT_FEED": "0",
               "MERCADO_FEEDS__COMMIT_INTERVAL_MS": "20"}
        log = (ROOT / ".mercado" / "feed-commands-test.log").open("ab")
        self.feed = subprocess.Popen(
            [sys.executable, "-m", "streams.commands.cli", "feed", "twelvedata", "-s", SYMBOL, "-s", "USD/COP",
             "--ws-url", self.server.url.replace("http", "ws") + "/v1/quotes/price", "--rest-url", self.server.url],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)

    def kill_feed(self) -> None:
        assert self.feed is not None
        self.feed.send_signal(signal.SIGKILL)
        self.feed.wait(10)


def body(first_minute: int, minutes: int, symbol: str = SYMBOL) -> dict[str, str]:
    start = MINUTE + first_minute * 60
    return {"venue": "twelvedata", "symbol": symbol, "from": iso(start), "to": iso(start + minutes * 60)}


@pytest.fixture(scope="module")
def env(services: Settings) -> Iterator[Env]:
    database = create_database(services, "feed_commands")
    sink = server = None
    e: Env | None = None
    try:
        settings = migrated(isolated(database, db__timescaledb="off"))
        ensure_topics(settings)
        server = ServerThread()
        # one bar a minute in the hour before the test, 4,000 + the minute's index
        server.server.bars[SYMBOL] = [(MINUTE + i * 60, 4000.0 + i) for i in range(60)]
        sink = BackgroundSink(settings, [topics.FEED_COMMANDS, topics.COMMAND_RESULTS])
        section = GatewaySection(read_keys=[READ], command_keys=[COMMAND])
        gateway = GatewaySettings.extend(settings).with_(gateway=section)
        with serving(create_app(gateway, push=False)) as base, httpx.Client(base_url=base, timeout=30) as client:
            e = Env(settings, gateway, client, server)
            e.start_feed()
            e.served = wait_served(gateway, "twelvedata")  # the feed's announcement: its commands are taken
            yield e
    finally:
        if e is not None and e.feed is not None and e.feed.poll() is None:
            e.feed.terminate()
            e.feed.wait(20)
        if sink is not None:
            sink.stop()
        if server is not None:
            server.stop()
        drop_database(database)


def wait_served(gateway: GatewaySettings, venue: str, timeout_s: float = 60.0) -> list[str]:
    """The symbols the feed of ``venue`` announced, once it has (as the gateway reads them)."""
    writer = CommandWriter(gateway)
    try:
        deadline = time.monotonic() + timeout_s
        while (symbols := writer.served(venue)) is None:
            assert time.monotonic() < deadline, f"no feed announced {venue}"
            time.sleep(0.2)
        return symbols
    finally:
        writer.close()


def committed(settings: Settings, name: str) -> list[tuple[str, dict[str, Any]]]:
    """Every committed event of a topic: (record type, record), read to the end of every partition (the
    idle timeout, the default 10 s rather than 3 s, only matters when a loaded broker is slow to answer)."""
    with EventConsumer(settings, [settings.topic(name)]) as consumer:
        return [(e.schema.fullname.rsplit(".", 1)[-1], e.record) for e in consumer.iterate()]


def commands_of(settings: Settings, key: str) -> list[dict[str, Any]]:
    serde = default_serde(settings)
    records = [serde.decode(m.value())[1] for m in read_topic(settings, settings.topic(topics.FEED_COMMANDS))]
    return [r for r in records if r["idempotency_key"] == key]


def test_a_backfill_request_end_to_end_and_once_per_key(env: Env) -> None:
    first = env.post(body(10, 3), "bf-1")
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "PENDING" and first.json()["owner"] == "feeds"
    decided = env.decided("bf-1")
    assert (decided["status"], decided["reason"]) == ("ACCEPTED", None), decided
    assert "3 bar(s) of BTC/USD in the range; 3 written, 0 already there" == decided["message"]
    # the same key again: the first command and its result, nothing written
    again = env.post(body(10, 3), "bf-1")
    assert (again.status_code, again.json()["status"]) == (200, "ACCEPTED")
    assert env.post(body(10, 4), "bf-1").status_code == 409
    # another key for an overlapping range: only the minute not yet written is new
    overlap = env.post(body(12, 2), "bf-2")
    assert overlap.status_code == 202
    assert env.decided("bf-2")["message"] == "2 bar(s) of BTC/USD in the range; 1 written, 1 already there"
    # a symbol the feed does not serve, a range the source cannot have yet
    assert env.post(body(10, 3, symbol="EUR/USD"), "bf-3").status_code == 202
    rejected = env.decided("bf-3")
    assert (rejected["status"], rejected["reason"]) == ("REJECTED", "unknown-symbol")
    assert "does not serve EUR/USD" in rejected["message"]
    future = {"venue": "twelvedata", "symbol": SYMBOL, "from": iso(int(time.time()) - 60),
              "to": iso(int(time.time()) + 120)}
    assert env.post(future, "bf-4").status_code == 202
    assert (env.decided("bf-4")["status"], env.decided("bf-4")["reason"]) == ("REJECTED", "not-at-source")
    bad = env.post(body(10, 0), "bf-5")
    assert bad.status_code == 400 and "must be before to" in bad.json()["detail"]

    ticks = committed(env.settings, topics.TICKS)
    replacement = sorted((r["event_time"], r["last"]) for t, r in ticks if t == "PriceTick" and r["backfill_id"])
    assert replacement == [((MINUTE + (10 + i) * 60) * 1_000_000 + 59_999_999, 4010.0 + i) for i in range(4)]
    markers = sorted((r["start"], r["end"], r["tick_count"]) for t, r in ticks if t == "BackfillComplete")
    m = (MINUTE + 600) * 1_000_000
    assert markers == [(m, m + 180_000_000, 3), (m + 120_000_000, m + 240_000_000, 2)]
    results = Counter(r["idempotency_key"] for _, r in committed(env.settings, topics.COMMAND_RESULTS))
    assert results == {"bf-1": 1, "bf-2": 1, "bf-3": 1, "bf-4": 1}
    assert [len(commands_of(env.settings, k)) for k in ("bf-1", "bf-2", "bf-5")] == [1, 1, 0]


def test_a_feed_killed_mid_backfill_loses_and_duplicates_nothing(env: Env) -> None:
    env.server.server.stall_s = 30.0
    env.server.server.faults.append("stall")  # the REST answer hangs: the feed is killed while it waits
    asked = env.server.time_series_requests()
    assert env.post(body(30, 5), "bf-kill").status_code == 202
    deadline = time.monotonic() + 30
    while env.server.time_series_requests() == asked:
        assert time.monotonic() < deadline, "the feed did not ask the source"
        time.sleep(0.05)
    env.kill_feed()
    env.start_feed()  # fences the killed one's transaction, reads the command again
    decided = env.decided("bf-kill", timeout_s=60)
    assert (decided["status"], decided["message"]) == (
        "ACCEPTED", "5 bar(s) of BTC/USD in the range; 5 written, 0 already there")
    ticks = committed(env.settings, topics.TICKS)
    lo, hi = (MINUTE + 30 * 60) * 1_000_000, (MINUTE + 35 * 60) * 1_000_000
    ids = Counter(r["event_id"] for t, r in ticks if t == "PriceTick" and lo <= r["event_time"] < hi)
    assert sorted(ids.values()) == [1] * 5
    assert [r["tick_count"] for t, r in ticks if t == "BackfillComplete" and r["start"] == lo] == [5]
    results = [r for _, r in committed(env.settings, topics.COMMAND_RESULTS) if r["idempotency_key"] == "bf-kill"]
    assert len(results) == 1


@pytest.mark.parametrize("fault,key", [("exit-after-produce", "gap-after"), ("exit-before-produce", "gap-before")])
def test_a_gateway_killed_between_the_event_and_its_row_writes_the_command_once(env: Env, fault: str,
                                                                                key: str) -> None:
    """A real ``mercado api`` process with the test-only fault hook: it reserves the key, writes the command
    (or not: ``exit-before-produce``) and exits (137) before marking the reservation; the retry, on another
    gateway, writes the command only if it is not in the log, and answers as the first request would have."""
    port = free_port()
    process_env = {**settings_env(env.settings), "MERCADO_GATEWAY__COMMAND_KEYS": f'["{COMMAND}"]',
                   "MERCADO_GATEWAY__READ_KEYS": f'["{READ}"]', "MERCADO_GATEWAY_TEST_FAULT": fault}
    process = subprocess.Popen([sys.executable, "-m", "streams.commands.cli", "api", "--port", str(port)],
                               cwd=ROOT, env=process_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as killed:
            deadline = time.monotonic() + 30
            while True:
                try:
                    killed.get(PREFIX + "/system/ping")
                    break
                except httpx.TransportError:
                    assert process.poll() is None and time.monotonic() < deadline, "the gateway did not start"
                    time.sleep(0.1)
            with pytest.raises(httpx.TransportError):
                env.post(body(40, 2), key, client=killed)
        assert process.wait(10) == 137
    finally:
        if process.poll() is None:
            process.kill()
    [row] = query(env.settings, "SELECT status, event_time FROM commands WHERE idempotency_key = $1", key)
    assert row["status"] == "PENDING"
    assert len(commands_of(env.settings, key)) == (1 if fault == "exit-after-produce" else 0)
    retry = env.post(body(40, 2), key)  # the in-process gateway (no fault)
    assert retry.status_code == 202, retry.text
    issued = row["event_time"]
    assert dt.datetime.fromisoformat(retry.json()["issued_at"].replace("Z", "+00:00")) == issued
    [written] = commands_of(env.settings, key)
    assert written["event_time"] == (issued - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    assert query(env.settings, "SELECT status FROM commands WHERE idempotency_key = $1", key)[0]["status"] == "WRITTEN"
    assert env.decided(key)["status"] == "ACCEPTED"
    assert env.post(body(40, 2), key).status_code == 200  # marked: answered from the row, nothing written
    assert len(commands_of(env.settings, key)) == 1


def test_a_backfill_for_a_venue_that_no_feed_serves_is_refused_at_once(env: Env) -> None:
    """The feed announced its venue and symbols when it started; a command to a venue nobody announced would
    wait for an owner forever: 409 at once, nothing written (the key stays free)."""
    assert env.served == [SYMBOL, "USD/COP"]
    refused = env.post({**body(10, 3), "venue": "nofeed"}, "bf-nofeed")
    assert refused.status_code == 409, refused.text
    assert "no feed serves venue 'nofeed'" in refused.json()["detail"]
    assert commands_of(env.settings, "bf-nofeed") == []
    assert query(env.settings, "SELECT 1 FROM commands WHERE idempotency_key = 'bf-nofeed'") == []

"""The feed adapters' pure parts: dedup by trade id, backoff, stale and quiet clocks, frames → events."""

from __future__ import annotations

import random
import time

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.marketdata import CalendarBook, MarketDataConfig
from processors.marketdata.config import UnknownVenueError
from streams.feeds.ccxt_feed import binance_agg_rows, credentials, trade_events
from streams.feeds.core import Backoff, FeedEvent, QuietClock, StaleDetector, TradeDedup
from streams.feeds.twelvedata import BackfillRefused, TwelveDataQuotes, api_key, backfill_events, hole, quote_events
from streams.feeds.writer import Unreadable
from tests.support.marketdata import at, bogota

MIN = 60_000_000


def test_dedup_drops_repeats_keeps_out_of_order_and_refuses_what_it_forgot():
    d = TradeDedup(window=3)
    assert [d.accept("X", i, t) for i, t in (("1", 10), ("3", 30), ("2", 20), ("3", 30), ("1", 10))] == [
        True, True, True, False, False]
    assert d.duplicates == 2
    assert d.accept("Y", "1", 10)  # per symbol
    assert d.accept("X", "4", 40)  # evicts id 1 (time 10): the floor is now 10
    assert not d.accept("X", "0", 5) and d.too_old == 1  # older than the floor: cannot be checked, dropped
    assert d.accept("X", "5", 15)  # newer than the floor: accepted even though out of order


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 1000)), max_size=200), st.integers(1, 50))
def test_dedup_never_accepts_an_id_twice(trades, window):
    d = TradeDedup(window=window)
    times = {}
    accepted = []
    for trade_id, t in trades:
        t = times.setdefault(trade_id, t)  # a trade id always comes with its time
        if d.accept("S", str(trade_id), t):
            accepted.append(trade_id)
    assert len(accepted) == len(set(accepted))
    if window >= len(set(times)):  # nothing forgotten: every distinct trade once
        assert sorted(accepted) == sorted(set(times))


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets():
    b = Backoff(0.5, 4.0, rng=random.Random(7))
    delays = [b.next_delay() for _ in range(6)]
    caps = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(cap / 2 <= d <= cap for d, cap in zip(delays, caps, strict=True))
    assert len(set(delays)) == 6  # jittered
    b.reset()
    assert 0.25 <= b.next_delay() <= 0.5
    again = Backoff(0.5, 4.0, rng=random.Random(7))
    assert [again.next_delay() for _ in range(6)] == delays  # deterministic for a given generator


def test_stale_detector_and_quiet_clock_on_a_given_clock():
    s = StaleDetector(5.0, now_s=100.0)
    assert not s.is_stale(104.9) and s.is_stale(105.0) and s.due_in(103.0) == 2.0
    s.seen(104.0)
    assert not s.is_stale(108.9) and s.silent_for(109.0) == 5.0
    q = QuietClock(["A", "B"], 2.0, now_s=0.0)
    q.seen("A", 1.5)
    assert q.due(2.0) == ["B"] and q.due(3.0) == [] and q.due(3.5) == ["A"] and q.due(4.0) == ["B"]


def test_ccxt_trades_become_ticks_in_order_once_and_unreadable_ones_dead_letters():
    d = TradeDedup()
    page = [
        {"id": "12", "timestamp": 2_000, "price": 101.0, "amount": 0.5, "info": {"a": 12}},
        {"id": "11", "timestamp": 1_000, "price": 100.0, "amount": 0.25, "info": {"a": 11}},
        {"id": "12", "timestamp": 2_000, "price": 101.0, "amount": 0.5, "info": {"a": 12}},
        {"id": None, "timestamp": 2_000, "price": 1.0, "amount": 1.0, "info": {"p": "x"}},
        {"id": "13", "timestamp": 3_000, "price": None, "amount": 1.0, "info": {"a": 13}},
    ]
    events, newest = trade_events("binance", "BTC/USDT", page, d, received_us=9)
    ticks = [e for e in events if isinstance(e, FeedEvent)]
    assert [t.record["event_id"] for t in ticks] == ["binance:BTC/USDT:11", "binance:BTC/USDT:12"]
    assert ticks[0].record == {"event_id": "binance:BTC/USDT:11", "event_time": 1_000_000, "venue": "binance",
                               "symbol": "BTC/USDT", "bid": None, "ask": None, "last": 100.0, "volume": 0.25,
                               "sequence": 11, "backfill_id": None}
    assert ticks[0].received_us == 9 and ticks[0].key == "binance:BTC/USDT"
    bad = [e for e in events if isinstance(e, Unreadable)]
    assert [(b.reason, b.error) for b in bad] == [("malformed-trade", "no trade id"),
                                                  ("malformed-trade", "no positive price")]
    assert newest == 2_000 and d.duplicates == 1
    again, _ = trade_events("binance", "BTC/USDT", page[:3], d, received_us=10)  # the same page again
    assert again == []


@pytest.fixture(scope="module")
def ccxt_binance():
    import ccxt

    exchange = ccxt.binance()
    exchange.set_markets([{"id": "BTCUSDT", "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT", "baseId": "BTC",
                           "quoteId": "USDT", "type": "spot", "spot": True, "option": False, "swap": False,
                           "future": False, "contract": False, "linear": None, "inverse": None}])
    return exchange


@settings(deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 2**40), st.integers(0, 2**42),
                               st.decimals(min_value="0.00000001", max_value="1000000", places=8),
                               st.decimals(min_value="0", max_value="100000", places=8)), max_size=20))
def test_binance_raw_pages_read_as_ccxt_reads_them(ccxt_binance, rows):
    """The feed's own reading of Binance's aggregate trades gives the fields ccxt's parser gives."""
    page = [{"a": a, "p": f"{p:f}", "q": f"{q:f}", "f": a, "l": a, "T": t, "m": True, "M": True} for a, t, p, q in rows]
    ours, bad = binance_agg_rows(page)
    theirs = [ccxt_binance.parse_trade(item, ccxt_binance.markets["BTC/USDT"]) for item in page]
    assert ours == [(c["timestamp"], c["id"], c["price"], c["amount"]) for c in theirs if c["price"] > 0]
    assert len(bad) == sum(1 for c in theirs if not c["price"] > 0)  # what unified_rows refuses too


def test_binance_raw_items_that_do_not_read_are_set_aside():
    good = {"a": 5, "p": "100.5", "q": "0.25", "T": 1_000}
    ours, bad = binance_agg_rows([good, {**good, "a": 6, "p": "abc"}, {"a": 7, "q": "1", "T": 1}, "junk",
                                  {**good, "a": 8, "p": "0"}, {**good, "a": 9, "q": "-1"}])
    assert ours == [(1_000, "5", 100.5, 0.25)]
    assert [error.split(":")[0] for _, error in bad] == ["ValueError", "KeyError", "TypeError", "no positive price",
                                                          "no amount"]
    assert binance_agg_rows({"code": -1003}) == ([], [])  # not a page


def test_credentials_from_environment_or_files(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    env = {"MERCADO_FEED_BINANCE_API_KEY": "k", "MERCADO_FEED_BINANCE_SECRET_FILE": str(secret)}
    assert credentials("binance", env) == {"apiKey": "k", "secret": "s3cret"}
    assert credentials("kraken", env) == {}
    assert api_key({"MERCADO_FEED_TWELVEDATA_API_KEY_FILE": str(secret)}) == "s3cret"
    assert api_key({}) is None


def price(symbol="USD/COP", ts=1_700_000_000, p=3950.5, **more):
    return orjson.dumps({"event": "price", "symbol": symbol, "timestamp": ts, "price": p, **more}).decode()


def test_twelvedata_frames():
    d = TradeDedup()
    (tick,) = quote_events(price(bid=3950.0, ask=3951.0), d, 5)
    assert tick.record == {"event_id": "twelvedata:USD/COP:q1700000000-3950.5", "event_time": 1_700_000_000_000_000,
                           "venue": "twelvedata", "symbol": "USD/COP", "bid": 3950.0, "ask": 3951.0, "last": 3950.5,
                           "volume": 0.0, "sequence": 1_700_000_000_000_000, "backfill_id": None}
    assert quote_events(price(bid=3950.0, ask=3951.0), d, 6) == []  # the same quote again
    assert len(quote_events(price(p=3951.0), d, 6)) == 1  # same second, another price
    assert quote_events('{"event": "heartbeat", "status": "ok"}', d, 7) == []
    assert quote_events('{"event": "subscribe-status", "status": "ok", "success": [], "fails": []}', d, 7) == []
    for frame, error in (("{oops", "not JSON"), ("[1]", "not a JSON object"), ('{"event": "x"}', "unknown event"),
                         (price(ts="1"), "no timestamp"), (price(p=0), "no positive price"),
                         (price(p=True), "no positive price"), (price(symbol=""), "no symbol")):
        (bad,) = quote_events(frame, d, 8)
        assert isinstance(bad, Unreadable) and bad.reason == "malformed-frame" and bad.error.startswith(error)
        assert bad.raw == frame.encode()


def test_the_hole_is_the_whole_minutes_between_two_quotes():
    assert hole(10 * MIN + 5, 13 * MIN + 7) == (11 * MIN, 13 * MIN)
    assert hole(10 * MIN - 1, 12 * MIN) == (10 * MIN, 12 * MIN)
    assert hole(10 * MIN + 5, 11 * MIN + 59_000_000) is None  # no whole minute missed


def test_time_series_answers_become_replacement_ticks_and_their_marker():
    start, end = at("2026-03-02 13:01:00"), at("2026-03-02 13:03:00")
    body = {"meta": {"symbol": "USD/COP"}, "status": "ok", "values": [
        {"datetime": "2026-03-02 13:03:00", "close": "3990.0"},  # at end: outside the hole
        {"datetime": "2026-03-02 13:02:00", "open": "1", "high": "1", "low": "1", "close": "3980.25"},
        {"datetime": "2026-03-02 13:01:00", "close": "3970.5", "volume": "12"},
        {"datetime": "garbage", "close": "1"}]}
    events = backfill_events("USD/COP", start, end, body, 99)
    ticks, marker = events[:-1], events[-1]
    bid = f"td-{start}-{end}"
    assert [(t.record["event_time"], t.record["last"], t.record["volume"], t.record["backfill_id"]) for t in ticks] == [
        (start + MIN - 1, 3970.5, 12.0, bid), (start + 2 * MIN - 1, 3980.25, 0.0, bid)]
    assert marker.schema == "BackfillComplete" and marker.record == {
        "event_id": f"bfc:{bid}:twelvedata:USD/COP", "event_time": start, "venue": "twelvedata", "symbol": "USD/COP",
        "backfill_id": bid, "start": start, "end": end, "tick_count": 2}
    assert backfill_events("USD/COP", start, end, body, 100) == [
        type(e)(e.topic, e.schema, e.record, 100) for e in events]  # same answer, same events and ids
    none = backfill_events("USD/COP", start, end, {"code": 400, "message": "No data is available on the specified "
                                                   "dates. Try setting different start/end dates.",
                                                   "status": "error"}, 1)
    assert [e.record["tick_count"] for e in none] == [0]
    with pytest.raises(BackfillRefused, match="429"):
        backfill_events("USD/COP", start, end, {"code": 429, "message": "out of credits", "status": "error"}, 1)


def test_the_quote_feed_connects_only_during_the_session_of_its_symbols():
    feed = TwelveDataQuotes(["USD/COP"], CalendarBook(MarketDataConfig()), key="k")
    assert feed.open_now(bogota("2026-03-02 10:00:00")) == (True, bogota("2026-03-02 12:55:00"))
    assert feed.open_now(bogota("2026-03-02 13:00:00")) == (False, bogota("2026-03-03 08:00:00"))
    assert feed.open_now(bogota("2026-03-07 09:00:00")) == (False, bogota("2026-03-09 08:00:00"))  # Saturday


def test_a_quote_feed_symbol_without_a_calendar_stops_it_at_start_up_by_name():
    with pytest.raises(UnknownVenueError, match="'twelvedata'.*AAPL"):
        TwelveDataQuotes(["USD/COP", "AAPL"], CalendarBook(MarketDataConfig()), key="k", feed_id="td")
    ok = TwelveDataQuotes(["AAPL"], CalendarBook(MarketDataConfig(venue_calendars={"twelvedata": "us_equities"})),
                          key="k")
    assert ok.open_now(at("2026-03-02 15:00:00"))[0]  # 10:00 New York


def test_a_restarted_quote_feed_remembers_what_it_wrote_and_backfills_from_its_last_live_quote():
    feed = TwelveDataQuotes(["USD/COP"], CalendarBook(MarketDataConfig()), key="k")
    feed.remember({"twelvedata:USD/COP": [("q1700000000-3950.5", 1_700_000_000_000_000),
                                          ("bf1700000060000000", 1_700_000_119_999_999)]})
    assert feed.last_live_us == {"USD/COP": 1_700_000_000_000_000}  # the replacement tick is not live
    assert quote_events(price(), feed.dedup, 1) == [] and feed.dedup.duplicates == 1  # written before the restart


class _ListWriter:
    """What the runner needs of a FeedWriter, keeping the events in a list."""

    def __init__(self) -> None:
        self.events: list = []
        self.closed = False

    def add(self, events) -> None:
        self.events.extend(events)

    async def run(self, stop) -> None:
        await stop.wait()

    def close(self) -> None:
        self.closed = True


class _ScriptedAdapter:
    """Each connection plays the next script: 'fail' (connect raises), 'silent' (connected, nothing received),
    'close' (one trade, then the venue closes), 'error' (raises mid-stream), 'stay' (trades until stopped)."""

    feed_id, venue, symbols = "t-scripted", "binance", ["BTC/USDT"]

    def __init__(self, scripts: list[str]):
        self.scripts = scripts
        self.connections = 0
        self.closes = 0
        self.script = ""

    async def connect(self) -> None:
        self.script = self.scripts[min(self.connections, len(self.scripts) - 1)]
        self.connections += 1
        if self.script == "fail":
            raise ConnectionRefusedError("nobody home")

    async def stream(self, emit, seen):
        import asyncio

        from streams.feeds.core import trade_tick

        if self.script == "silent":
            await asyncio.sleep(3600)
        n = 0
        while True:
            n += 1
            seen()
            emit([trade_tick("binance", "BTC/USDT", f"{self.connections}{n:04d}", 1_700_000_000_000_000 + n, 1.0, 1.0,
                             1)])
            if self.script == "close":
                return None
            if self.script == "error":
                raise ValueError("bad frame stream")
            await asyncio.sleep(0.02)

    async def probe(self) -> float:
        return 1.5

    async def wait_open(self, stop) -> bool:
        return not stop.is_set()

    async def close(self) -> None:
        self.closes += 1


async def test_the_runner_reconnects_reports_health_and_stops_cleanly():
    import asyncio

    from streams.config import Settings
    from streams.feeds.runner import FeedRunner

    settings = Settings().with_(feeds__stale_after_s=0.3, feeds__heartbeat_after_s=0.2, feeds__probe_interval_s=0.1,
                                feeds__backoff_initial_s=0.01, feeds__backoff_max_s=0.02)
    adapter = _ScriptedAdapter(["fail", "silent", "close", "error", "stay"])
    writer = _ListWriter()
    runner = FeedRunner(adapter, writer, settings, backoff=Backoff(0.01, 0.02, rng=random.Random(1)))
    task = asyncio.create_task(runner.run())

    def through_every_script() -> bool:
        return adapter.connections >= 5 and sum(e.schema == "PriceTick" for e in writer.events) >= 5

    # a deadline, not 300 turns of 10 ms: about 1 s of work when idle, slower on a loaded machine
    deadline = time.monotonic() + 30
    while not through_every_script() and not task.done():
        assert time.monotonic() < deadline, f"after 30 s: {adapter.connections} connection(s), {writer.events}"
        await asyncio.sleep(0.01)
    runner.stop.set()
    await asyncio.wait_for(task, 30)
    assert runner.reconnects == {"connect-failed": 1, "stale": 1, "closed": 1, "error": 1}
    assert writer.closed and adapter.closes == 5  # every connection closed, the last one by the stop
    health = [(e.record["probe"], e.record["ok"], e.record["error"]) for e in writer.events
              if e.schema == "VenueHealth" and not e.record["ok"]]
    assert health == [
        ("connection", False, "connect: ConnectionRefusedError: nobody home"),
        ("stale", False, health[1][2]),
        ("connection", False, "connection closed by the venue"),
        ("connection", False, "ValueError: bad frame stream"),
    ]
    assert health[1][2].startswith("nothing received for 0.")
    assert any(e.schema == "VenueHealth" and e.record["ok"] and e.record["latency_ms"] == 1.5 for e in writer.events)
    assert any(e.schema == "Heartbeat" for e in writer.events)  # the silent connection's quiet symbol


class _RecordingProducer:
    """confluent_kafka.Producer's transactional calls, recorded (no broker)."""

    def __init__(self, config):
        self.messages = []

    def init_transactions(self, timeout=None):
        pass

    def begin_transaction(self):
        pass

    def commit_transaction(self, timeout=None):
        pass

    def send_offsets_to_transaction(self, offsets, metadata, timeout=None):
        self.messages.append(("offsets", [(tp.topic, tp.partition, tp.offset) for tp in offsets]))

    def produce(self, topic, value, key=None, timestamp=None, headers=None):
        self.messages.append((topic, value, key, timestamp, headers))

    def poll(self, timeout=None):
        return 0

    def flush(self, timeout=None):
        return 0


def test_runs_of_ticks_are_written_column_wise_as_the_row_path_writes_them(monkeypatch):
    from processors import topics
    from streams.config import Settings
    from streams.feeds import writer as feed_writer
    from streams.feeds.core import heartbeat, trade_tick

    monkeypatch.setattr(feed_writer, "Producer", _RecordingProducer)
    settings = Settings()
    now = 1_796_000_000_000_000
    ticks = [trade_tick("binance", "BTC/USDT", str(i), now - 60_000_000 + i, 100.0 + i / 8, 0.5, now + i % 7)
             for i in range(100)]
    batch = [*ticks[:60], heartbeat("binance", "BTC/USDT", now), *ticks[60:70],
             Unreadable(topics.TICKS, "binance:BTC/USDT", b"{}", "malformed-trade", "no price", now), *ticks[70:]]
    written, rows = {}, {}
    encode_row = feed_writer.FileProducer.encode_row
    calls = []
    monkeypatch.setattr(feed_writer.FileProducer, "encode_row",
                        lambda door, row: calls.append(1) or encode_row(door, row))
    for min_run in (32, 10**9):  # column-wise runs, then every tick row by row
        calls.clear()
        monkeypatch.setattr(feed_writer, "COLUMNAR_MIN_RUN", min_run)
        writer = feed_writer.FeedWriter(settings, "t-feed")
        writer.write_batch(batch, {("risk.order-decisions.v1", 0): 5})
        written[min_run] = [m if m[0] != "mercado.deadletter.v1" else m[:4] + (
            [h for h in m[4] if h[0] != "mercado.dlq.at-us"],) for m in writer.producer.messages]
        rows[min_run] = len(calls)
        assert writer.written == 101 and writer.committed == {"PriceTick": 100, "Heartbeat": 1}
    assert rows == {32: 10 + 30 + 1, 10**9: 100 + 1}  # the run of 60 went column-wise (+1: the heartbeat)
    assert written[32] == written[10**9]  # same bytes, keys, timestamps, headers, order
    assert written[32][-1] == ("offsets", [("risk.order-decisions.v1", 0, 5)])
    assert [m[2] for m in written[32][:60]] == ["binance:BTC/USDT"] * 60
    assert written[32][5][3] == (now - 60_000_000 + 5) // 1000 and written[32][5][4] == [
        ("mercado-produced-us", str(now + 5).encode())]


def test_a_ccxt_client_keeps_ccxts_decimal_rounding_to_the_task_that_made_it() -> None:
    """ccxt's decimal_to_precision sets the current decimal context to ROUND_HALF_UP on every call; a client
    made by ccxt_client runs it in a context of its own, so the rest of the process keeps ROUND_HALF_EVEN
    (it once changed the generator's order quantities in a process that had run the execution adapter)."""
    import asyncio
    import decimal

    from streams.feeds.ccxt_feed import ccxt_client

    async def use_a_client() -> str:
        client = ccxt_client("binance", api_url="http://127.0.0.1:9/api/v3", timeout_s=0.1)
        try:
            client.decimal_to_precision("1.25", 0, 1)  # ccxt's own rounding helper, the one that mutates
            return decimal.getcontext().rounding
        finally:
            await client.close()

    assert decimal.getcontext().rounding == decimal.ROUND_HALF_EVEN
    assert asyncio.run(use_a_client()) == decimal.ROUND_HALF_UP  # ccxt's setting, inside the task
    assert decimal.getcontext().rounding == decimal.ROUND_HALF_EVEN
    assert decimal.Decimal("0.125").quantize(decimal.Decimal("0.01")) == decimal.Decimal("0.12")

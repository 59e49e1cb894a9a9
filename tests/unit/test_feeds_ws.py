"""The pure parts of the ccxt.pro WebSocket feed: top-of-book updates → ticks, the update log, the URL override."""

from __future__ import annotations

import functools

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.feeds.ccxt_feed import ccxt_client
from streams.feeds.ccxt_ws import UpdateLog, book_events
from streams.feeds.core import FeedEvent, TradeDedup
from streams.feeds.writer import Unreadable


def bid_ask(u, bid=99.5, ask=100.5, symbol="BTC/USDT", timestamp=None):
    """What ccxt.pro's binance parses a spot bookTicker payload into (the fields the feed reads)."""
    return {"symbol": symbol, "timestamp": timestamp, "bid": bid, "ask": ask,
            "info": {"u": u, "s": "BTCUSDT", "b": str(bid), "B": "1", "a": str(ask), "A": "1"}}


def test_book_updates_become_bid_ask_ticks_once_by_update_id():
    dedup = TradeDedup(100)
    out = book_events("binance", [bid_ask(7), bid_ask(7), bid_ask(8, 99.6, 100.4, timestamp=1_700_000_000_123)],
                      dedup, received_us=1_700_000_001_000_000)
    assert [e.record for e in out] == [
        {"event_id": "binance:BTC/USDT:b7", "event_time": 1_700_000_001_000_000, "venue": "binance",
         "symbol": "BTC/USDT", "bid": 99.5, "ask": 100.5, "last": None, "volume": 0.0, "sequence": 7,
         "backfill_id": None},
        {"event_id": "binance:BTC/USDT:b8", "event_time": 1_700_000_000_123_000, "venue": "binance",
         "symbol": "BTC/USDT", "bid": 99.6, "ask": 100.4, "last": None, "volume": 0.0, "sequence": 8,
         "backfill_id": None}]
    assert all(isinstance(e, FeedEvent) and e.key == "binance:BTC/USDT" for e in out)
    assert dedup.duplicates == 1
    # the same update after a reconnect: nothing
    assert book_events("binance", [bid_ask(8)], dedup, received_us=1_700_000_002_000_000) == []


def test_book_updates_without_an_id_or_a_price_are_dead_letters():
    no_id = bid_ask(1)
    no_id["info"] = {"s": "BTCUSDT"}
    out = book_events("binance", [no_id, bid_ask(2, bid=None), bid_ask(3, ask=0.0), bid_ask(4)], TradeDedup(10), 5)
    assert [(type(e).__name__, getattr(e, "error", None)) for e in out] == [
        ("Unreadable", "no update id"), ("Unreadable", "no positive bid or ask"),
        ("Unreadable", "no positive bid or ask"), ("FeedEvent", None)]
    assert all(e.reason == "malformed-book" for e in out if isinstance(e, Unreadable))


@given(st.lists(st.integers(1, 50), max_size=80))
def test_every_book_update_is_written_once_whatever_repeats(ids):
    dedup, written = TradeDedup(1000), []
    for chunk in (ids[: len(ids) // 2], ids[len(ids) // 2:]):  # two reads (or two connections)
        written += [e.record["sequence"] for e in book_events("binance", [bid_ask(u) for u in chunk], dedup, 1)]
    assert sorted(written) == sorted(set(ids))


def test_the_update_log_keeps_every_update_in_order_until_drained():
    log = UpdateLog()
    log["BTC/USDT"], log["ETH/USDT"], log["BTC/USDT"] = bid_ask(1), bid_ask(2, symbol="ETH/USDT"), bid_ask(3)
    assert log["BTC/USDT"]["info"]["u"] == 3  # ccxt's view: the newest per symbol
    assert [t["info"]["u"] for t in log.drain()] == [1, 2, 3]
    assert log.drain() == []


def test_a_pro_client_takes_the_rest_and_websocket_urls_apart():
    client = ccxt_client("binance", api_url="http://127.0.0.1:9/api/v3", ws_url="ws://127.0.0.1:9/ws", timeout_s=1,
                         pro=True)
    api = client.urls["api"]
    assert api["public"] == "http://127.0.0.1:9/api/v3"
    assert api["ws"]["spot"] == "ws://127.0.0.1:9/ws" and api["ws"]["ws-api"]["spot"] == "ws://127.0.0.1:9/ws"
    assert isinstance(client.bidsasks, dict)
    rest = ccxt_client("binance", api_url="http://127.0.0.1:9/api/v3", timeout_s=1)
    assert "ws" not in rest.urls["api"] and rest.urls["api"]["public"] == "http://127.0.0.1:9/api/v3"


def test_a_restarted_websocket_feed_remembers_trades_and_book_updates_apart():
    from streams.feeds.ccxt_ws import CcxtWsFeed

    feed = CcxtWsFeed("binance", ["BTC/USDT"])
    feed.remember({"binance:BTC/USDT": [("41", 1_700_000_000_100_000), ("b9", 1_700_000_000_900_000),
                                        ("42", 1_700_000_000_200_000)]})
    assert feed.since == {"BTC/USDT": 1_700_000_000_200}  # the REST fill starts from the last trade, not the book
    assert feed.rest.dedup is feed.dedup
    assert not feed.dedup.accept("BTC/USDT", "42", 1_700_000_000_200_000)
    assert not feed.book_dedup.accept("BTC/USDT", "b9", 1_700_000_000_900_000)
    assert feed.book_dedup.accept("BTC/USDT", "b10", 1)  # the book's times never move the trades' dedup floor


@functools.cache
def pro_binance():
    import ccxt.pro

    exchange = ccxt.pro.binance()
    exchange.set_markets([{"id": "BTCUSDT", "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT", "baseId": "BTC",
                           "quoteId": "USDT", "type": "spot", "spot": True, "option": False, "swap": False,
                           "future": False, "contract": False, "linear": None, "inverse": None}])
    return exchange


@settings(deadline=None)
@given(st.integers(0, 2**42), st.integers(1_500_000_000_000, 2_000_000_000_000),
       st.decimals(min_value="0.00000001", max_value="1000000", places=8),
       st.decimals(min_value="0", max_value="100000", places=8))
def test_binance_agg_trade_payloads_read_as_ccxt_pro_reads_them(trade_id, time_ms, price, qty):
    """The WebSocket feed's own reading of ``aggTrade`` payloads gives what ccxt.pro's parser gives."""
    from streams.feeds.ccxt_feed import binance_agg_rows, unified_rows

    client = pro_binance()
    payload = {"e": "aggTrade", "E": time_ms + 1, "s": "BTCUSDT", "a": trade_id, "p": f"{price:f}", "q": f"{qty:f}",
               "f": trade_id, "l": trade_id, "T": time_ms, "m": True, "M": True}
    ours, _ = binance_agg_rows([payload])
    theirs, _ = unified_rows([client.parse_ws_trade(payload, client.markets["BTC/USDT"])])
    assert ours == theirs and len(ours) == 1

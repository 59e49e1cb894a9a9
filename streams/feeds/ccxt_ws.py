"""Exchanges through ccxt.pro's WebSocket clients (``mercado feed ccxt --transport ws``): trades and top of book.

Trades come from ``watch_trades`` (binance: its ``aggTrade`` stream, whose ids are the aggregate trade ids the
REST path's ``aggTrades`` pages carry, so the two transports write the same event for the same trade), become
``PriceTick``s exactly as the REST path's do (:func:`~streams.feeds.ccxt_feed.tick_events`: ``event_id =
venue:symbol:trade id``, the venue's trade time as event time, the time the answer was received as the
produced-at stamp), and repeats — a venue sending a trade twice, the trades a reconnect or a restart brings again —
are dropped by id. Out-of-order trades pass (inside the dedup window). A venue does not send again what it
sent while the feed was away, so after a reconnect (or a restart, from the last trade written) the hole is
filled over REST by the REST path's own page reader (:class:`~streams.feeds.ccxt_feed.CcxtTradesFeed`, on
the same client and dedup store) while the stream runs.

Top of book comes from ``watch_bids_asks`` (binance: ``bookTicker``) or, where an exchange has no such stream,
``watch_ticker``; each update becomes a ``PriceTick`` with ``bid``/``ask``, no ``last``, ``event_id =
venue:symbol:b{update id}`` (``sequence`` the update id; Binance's ``u``), its own dedup store, and the venue's
time as event time where the payload has one (Binance spot's ``bookTicker`` has none: the receive time then).
ccxt's watchers return only the newest top of book per symbol; the adapter reads every update ccxt parsed
(:class:`UpdateLog`), so none is lost between two reads.

Reconnects, stale-stream detection (every frame counts as seen), heartbeats, latency probes (``fetch_time`` over
REST) and clean shutdown are the shared runner's (:mod:`streams.feeds.runner`). A frame ccxt cannot read (not
JSON, an unreadable payload) is written as a dead letter and the connection goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson

from processors import topics
from streams.feeds.ccxt_feed import (
    PAGE_LIMIT,
    RAW_PAGES,
    CcxtTradesFeed,
    CcxtVenue,
    Row,
    binance_agg_rows,
    ccxt_client,
    credentials,
    tick_events,
    unified_rows,
    unreadable,
)
from streams.feeds.core import FeedEvent, TradeDedup
from streams.feeds.runner import Emit
from streams.feeds.writer import Unreadable
from streams.observability import metrics

# ccxt.pro keeps the trades received between two reads in a ring of ``tradesLimit`` (default 1000): a larger ring,
# so that a burst arriving while the writer holds the GIL is never overwritten before the adapter reads it.
TRADES_RING = 100_000
TRADE_STREAM = {"binance": "aggTrade", "binanceus": "aggTrade"}  # ids shared with the REST path's aggTrades


def ws_exchanges() -> set[str]:
    """Exchanges ccxt.pro has a WebSocket client for."""
    import ccxt.pro

    return set(ccxt.pro.exchanges)


def book_tick(venue: str, symbol: str, update_id: int, time_us: int, bid: float | None, ask: float | None,
              received_us: int) -> FeedEvent:
    """A top-of-book update as a PriceTick: bid and ask, no trade; its id from the venue's update id."""
    return FeedEvent(topics.TICKS, "PriceTick", {
        "event_id": f"{venue}:{symbol}:b{update_id}", "event_time": time_us, "venue": venue, "symbol": symbol,
        "bid": bid, "ask": ask, "last": None, "volume": 0.0, "sequence": update_id, "backfill_id": None,
    }, received_us)


class UpdateLog(dict):  # type: ignore[type-arg]
    """ccxt's store of the newest ticker per symbol (``bidsasks``, ``tickers``) that also keeps every ticker stored
    in it, in arrival order, until :meth:`drain`: ccxt's watchers return only the newest one per symbol, and the
    updates in between would be lost. (ccxt offers no hook for each update; every exchange's handler stores its
    parsed ticker here, so this works for all of them.)"""

    def __init__(self) -> None:
        super().__init__()
        self.updates: list[dict[str, Any]] = []

    def __setitem__(self, symbol: str, ticker: Any) -> None:
        super().__setitem__(symbol, ticker)
        if isinstance(ticker, dict):
            self.updates.append(ticker)

    def drain(self) -> list[dict[str, Any]]:
        out, self.updates = self.updates, []
        return out


def book_events(venue: str, tickers: list[dict[str, Any]], dedup: TradeDedup, received_us: int
                ) -> list[FeedEvent | Unreadable]:
    """ccxt's tickers (``watch_bids_asks`` / ``watch_ticker``), in arrival order → top-of-book ticks, repeats
    dropped by update id; a ticker without an update id or without a positive bid or ask is a dead letter."""
    out: list[FeedEvent | Unreadable] = []
    for ticker in tickers:
        symbol = ticker.get("symbol")
        info = ticker.get("info") or {}
        update_id = info.get("u") if isinstance(info, dict) else None
        if update_id is None:
            update_id = ticker.get("nonce") or (info.get("lastUpdateId") if isinstance(info, dict) else None)
        bid, ask = ticker.get("bid"), ticker.get("ask")
        problem = ("no update id" if not isinstance(update_id, int) and not str(update_id).isdigit()
                   else "no positive bid or ask" if not (isinstance(bid, (int, float)) and bid > 0
                                                         and isinstance(ask, (int, float)) and ask > 0) else None)
        if problem:
            out.append(Unreadable(topics.TICKS, f"{venue}:{symbol}", orjson.dumps(info, default=str),
                                  "malformed-book", problem, received_us))
            continue
        update_id = int(update_id)
        ts = ticker.get("timestamp")
        time_us = ts * 1000 if isinstance(ts, int) and ts > 0 else received_us
        if dedup.accept(symbol, f"b{update_id}", time_us):
            out.append(book_tick(venue, symbol, update_id, time_us, float(bid), float(ask), received_us))
    return out


class CcxtWsFeed(CcxtVenue):
    """One exchange, some symbols, through ccxt.pro: a trade stream per symbol and one top-of-book stream."""

    def __init__(self, exchange: str, symbols: list[str], *, api_url: str | None = None, ws_url: str | None = None,
                 venue: str | None = None, timeout_s: float = 10.0, dedup_window: int = 100_000, book: bool = True,
                 options: dict[str, Any] | None = None, feed_id: str | None = None):
        if exchange not in ws_exchanges():
            raise ValueError(f"ccxt.pro has no WebSocket client for {exchange!r} (use --transport rest)")
        self.exchange_id = exchange
        self.venue = venue or exchange
        self.symbols = list(symbols)
        self.feed_id = feed_id or f"ccxt-{self.venue}"
        self.api_url, self.ws_url = api_url, ws_url
        self.timeout_s = timeout_s
        self.book = book
        self.options = {"tradesLimit": TRADES_RING, **(options or {})}
        self.dedup = TradeDedup(dedup_window)
        self.book_dedup = TradeDedup(dedup_window)
        self.since: dict[str, int | None] = dict.fromkeys(self.symbols)  # ms: newest trade time written
        # the REST path, on this client and this dedup store: fills the hole of a reconnect or a restart
        self.rest = CcxtTradesFeed(exchange, self.symbols, venue=self.venue, feed_id=self.feed_id)
        self.rest.dedup = self.dedup
        self.filled = 0  # trades the REST fill wrote
        self._raw_rows: dict[str, list[Row]] = {s: [] for s in self.symbols}  # read from raw payloads, not yet written
        self._raw_bad: dict[str, list[tuple[Any, str]]] = {s: [] for s in self.symbols}
        self.client: Any = None
        self._emit: Emit | None = None
        self._seen: Callable[[], None] | None = None
        self.malformed = 0
        self._duplicates = metrics.FEED_DUPLICATES.labels(self.feed_id)

    def remember(self, recent: dict[str, list[tuple[str, int]]]) -> None:
        """Ticks already written (read back at start): dropped if they come again."""
        for key, ticks in recent.items():
            symbol = key.partition(":")[2]
            for tick_id, time_us in ticks:
                if tick_id.startswith("b"):
                    self.book_dedup.accept(symbol, tick_id, time_us)
                else:
                    self.dedup.accept(symbol, tick_id, time_us)
                    self.since[symbol] = max(self.since.get(symbol) or 0, time_us // 1000)
        self.dedup.duplicates = self.book_dedup.duplicates = 0

    def _new_client(self) -> Any:
        client = ccxt_client(self.exchange_id, api_url=self.api_url, ws_url=self.ws_url, timeout_s=self.timeout_s,
                             options=self.options, creds=credentials(self.exchange_id), pro=True)
        make_connection = client.client

        # ccxt.pro decodes a frame and dispatches it in the callback of its receive task; a frame that raises
        # there (not JSON, a payload its parser cannot read) ends the receive loop, and the connection then
        # stays open but silent. Each connection's frame handler is wrapped: every frame counts as seen (the
        # stale detector), one that raises becomes a dead letter and the loop goes on.
        def connection(url: str) -> Any:
            ws = make_connection(url)
            if not getattr(ws, "_mercado_wrapped", False):
                handle = ws.handle_text_or_binary_message

                def guarded(data: Any) -> None:
                    if self._seen is not None:
                        self._seen()
                    try:
                        handle(data)
                    except Exception as exc:  # noqa: BLE001 - any frame that does not read
                        self._unreadable(data, f"{type(exc).__name__}: {exc}")

                ws.handle_text_or_binary_message = guarded
                ws._mercado_wrapped = True
            return ws

        client.client = connection
        client.bidsasks, client.tickers = UpdateLog(), UpdateLog()
        return client

    def _unreadable(self, data: Any, error: str) -> None:
        self.malformed += 1
        raw = data if isinstance(data, bytes) else str(data).encode()
        if self._emit is not None:
            self._emit([Unreadable(topics.TICKS, self.venue, raw, "malformed-frame", error[:500],
                                   time.time_ns() // 1000)])

    async def connect(self) -> None:
        await self._load_markets()
        if not self.client.has.get("watchTrades"):
            raise ValueError(f"ccxt.pro's {self.exchange_id} has no WebSocket trades (use --transport rest)")
        self.rest.client = self.client  # ccxt.pro's client also speaks the exchange's REST API
        if TRADE_STREAM.get(self.exchange_id) == "aggTrade":
            self._read_raw_trades(self.client)
        self.rest._raw_ids = {s: self.client.markets[s]["id"] for s in self.symbols
                              if self.exchange_id in RAW_PAGES and self.client.markets[s].get("spot")}

    def _read_raw_trades(self, client: Any) -> None:
        """Binance's ``aggTrade`` payloads read as the REST path reads its pages (:func:`binance_agg_rows`, held
        equal to ccxt's parser by a test) instead of ccxt.pro's ``handle_trade``: ccxt parses each trade into its
        unified structure in ≈ 100 µs (Precise arithmetic, an ISO date), which held this adapter near 5k
        trades/s. ccxt.pro still connects, subscribes, decodes and dispatches; the payload's rows are kept per
        symbol until the adapter reads them, and the symbol's ``watch_trades`` is woken as ccxt would."""
        from ccxt.async_support.base.ws.cache import ArrayCache

        handle_trade = client.handle_trade
        empty = ArrayCache(1)
        symbols = {client.markets[s]["id"]: s for s in self.symbols if client.markets[s].get("spot")}

        def read(ws: Any, message: Any) -> None:
            symbol = symbols.get(message.get("s")) if isinstance(message, dict) else None
            if symbol is None or message.get("e") != "aggTrade":
                handle_trade(ws, message)
                return
            good, bad = binance_agg_rows([message])
            self._raw_rows[symbol].extend(good)
            self._raw_bad[symbol].extend(bad)
            ws.resolve(empty, "trade::" + symbol)

        client.handle_trade = read

    async def _trades(self, symbol: str, emit: Emit) -> None:
        name = TRADE_STREAM.get(self.exchange_id)
        rows, bad = self._raw_rows.setdefault(symbol, []), self._raw_bad.setdefault(symbol, [])
        while True:
            # rows that arrived meanwhile (or before a reconnect) are written without waiting for another frame
            trades = [] if rows or bad else await self.client.watch_trades(
                symbol, params={"name": name} if name else {})
            received_us = time.time_ns() // 1000
            good, unusable = unified_rows(trades)
            if rows or bad:
                good += rows
                unusable += bad
                rows.clear()
                bad.clear()
            self._write(symbol, good, unusable, received_us, emit)

    def _write(self, symbol: str, good: list[Row], bad: list[tuple[Any, str]], received_us: int, emit: Emit) -> int:
        before = self.dedup.duplicates
        ticks, newest = tick_events(self.venue, symbol, good, self.dedup, received_us)
        self._duplicates.inc(self.dedup.duplicates - before)
        if newest:
            self.since[symbol] = max(self.since[symbol] or 0, newest)
        emit([*unreadable(self.venue, symbol, bad, received_us), *ticks] if bad else ticks)
        return len(ticks)

    async def _fill(self, symbol: str, emit: Emit, seen: Callable[[], None]) -> None:
        """The trades between the last one written and the stream's first, over REST (the venue does not send
        again what it sent while the feed was away): pages from the last trade's time until one is not full;
        what the stream also brings is dropped by id."""
        await self._fill_pass(symbol, emit, seen)
        # once the streams' connections are up (their subscriptions sent), once more: what traded between the
        # first pass's last page and the subscription is in neither otherwise
        connections = [ws.connected for ws in list(self.client.clients.values())]
        await asyncio.gather(*connections)
        await self._fill_pass(symbol, emit, seen)

    async def _fill_pass(self, symbol: str, emit: Emit, seen: Callable[[], None]) -> None:
        since = self.since[symbol]
        while since is not None:
            good, bad, sent = await self.rest._page(symbol, since)
            seen()
            self.filled += self._write(symbol, good, bad, time.time_ns() // 1000, emit)
            newest = self.since[symbol]
            if sent < PAGE_LIMIT or newest is None or newest <= since:
                return
            since = newest

    async def _book(self, symbols: list[str], emit: Emit) -> None:
        """Top of book of ``symbols``: ``watch_bids_asks`` where the exchange has it, else ``watch_tickers`` (or
        ``watch_ticker`` of one symbol); each wake-up drains every update ccxt stored since the last."""
        client = self.client
        if client.has.get("watchBidsAsks"):
            store, wait = "bidsasks", lambda: client.watch_bids_asks(symbols)
        elif client.has.get("watchTickers"):
            store, wait = "tickers", lambda: client.watch_tickers(symbols)
        else:
            store, wait = "tickers", lambda: client.watch_ticker(symbols[0])
        while True:
            await wait()
            log = getattr(client, store)
            if isinstance(log, UpdateLog):
                updates = log.drain()
            else:  # ccxt replaced its store (clean_ws_data): what it holds now, and every update from here on
                updates = [t for t in log.values() if isinstance(t, dict)]
                fresh = UpdateLog()
                dict.update(fresh, log)
                setattr(client, store, fresh)
            updates = [t for t in updates if t.get("symbol") in symbols]
            emit(book_events(self.venue, updates, self.book_dedup, time.time_ns() // 1000))

    async def stream(self, emit: Emit, seen: Callable[[], None]) -> None:
        """Runs the trade streams and the top-of-book stream until one fails (the runner reconnects)."""
        self._emit, self._seen = emit, seen
        tasks = [asyncio.create_task(self._trades(s, emit)) for s in self.symbols]
        tasks += [asyncio.create_task(self._fill(s, emit, seen)) for s in self.symbols if self.since[s] is not None]
        has = self.client.has
        if self.book and (has.get("watchBidsAsks") or has.get("watchTickers")):
            tasks.append(asyncio.create_task(self._book(self.symbols, emit)))
        elif self.book and has.get("watchTicker"):
            tasks.extend(asyncio.create_task(self._book([s], emit)) for s in self.symbols)
        try:
            while tasks:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    task.result()  # raises the first failure
                tasks = [t for t in tasks if not t.done()]  # a fill finished: the streams go on
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._emit = self._seen = None

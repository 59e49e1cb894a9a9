"""Exchanges through ccxt (``mercado feed ccxt``): trades by REST polling of ``fetch_trades``.

Each symbol is polled every ``poll_interval_s`` from the time of its last trade (``since``, inclusive: the
trades of that millisecond come again and are dropped by id); a full page is followed at once by the next.
A trade becomes a ``PriceTick`` with ``event_id = venue:symbol:trade id`` (so a replayed page never writes
it twice), the venue's timestamp as event time and the receive time as its produced-at stamp. At start the
feed reads back the last ticks it wrote (:meth:`FeedWriter.recent_trades`) and polls from there: a restart
fills the hole and writes nothing twice.

ccxt's WebSocket clients (ccxt.pro) are not used yet: REST polling works for every exchange ccxt supports
and can be pointed at any base URL (``--api-url``, which replaces every entry of the exchange's
``urls['api']``, for a proxy, a testnet or the local test servers).
"""

from __future__ import annotations

import asyncio
import decimal
import time
from collections.abc import Callable
from typing import Any

import orjson

from processors import topics
from streams.feeds.core import FeedEvent, TradeDedup, trade_tick
from streams.feeds.runner import Emit
from streams.feeds.settings import read_secret
from streams.feeds.writer import Unreadable
from streams.observability import metrics

PAGE_LIMIT = 1000
BINANCE_WINDOW_MS = 3_600_000  # aggTrades: startTime..endTime spans at most an hour (ccxt asks for exactly that)

# ccxt turns a raw trade into its unified structure in ≈ 100 µs (safe_trade, Precise string arithmetic, an
# ISO-8601 date for every trade); that alone held the feed at ≈ 15k trades/s. For the exchanges listed here the
# feed asks for the same page through ccxt's implicit API method (URLs, signing, errors and rate-limit answers
# stay ccxt's) and reads the four fields it keeps itself (:func:`binance_agg_trades`); every other exchange
# goes through ccxt's ``fetch_trades`` and its parser.
RAW_PAGES = frozenset({"binance", "binanceus"})


Row = tuple[int, str, float, float]  # a usable trade: (time ms, trade id, price, amount)


def binance_agg_rows(page: Any) -> tuple[list[Row], list[tuple[Any, str]]]:
    """Binance spot aggregate trades ``{a: id, p: price, q: quantity, T: time ms, …}`` → rows; an item that does
    not read (no id, a price "abc") or is unusable (no positive price, a negative quantity) is set aside with the
    reason, as ccxt's parser would have raised on it or :func:`unified_rows` refused it."""
    good: list[Row] = []
    bad: list[tuple[Any, str]] = []
    for item in page if isinstance(page, list) else []:
        try:
            row = (int(item["T"]), str(item["a"]), float(item["p"]), float(item["q"]))
        except (KeyError, TypeError, ValueError) as exc:
            bad.append((item, f"{type(exc).__name__}: {exc}"))
            continue
        if not row[2] > 0:
            bad.append((item, "no positive price"))
        elif not row[3] >= 0:
            bad.append((item, "no amount"))
        else:
            good.append(row)
    return good, bad


def credentials(exchange: str, env: dict[str, str] | None = None, prefix: str = "MERCADO_FEED") -> dict[str, str]:
    """API credentials: ``<prefix>_<EXCHANGE>_API_KEY`` / ``_SECRET`` / ``_PASSWORD`` (or ``…_FILE``,
    :func:`read_secret`)."""
    out: dict[str, str] = {}
    for name, field in (("API_KEY", "apiKey"), ("SECRET", "secret"), ("PASSWORD", "password")):
        value = read_secret(f"{prefix}_{exchange.upper()}_{name}", env)
        if value:
            out[field] = value
    return out


def ccxt_client(exchange: str, *, api_url: str | None, timeout_s: float, options: dict[str, Any] | None = None,
                creds: dict[str, str] | None = None, pro: bool = False, ws_url: str | None = None) -> Any:
    """ccxt's async client of ``exchange`` (``pro``: its WebSocket client from ``ccxt.pro``, which also speaks
    REST): no client-side rate limiter (the adapters back off themselves), binance on its spot markets only,
    ``api_url`` (a proxy, a testnet, the local test servers) replacing every REST entry of the exchange's
    ``urls['api']`` and ``ws_url`` every WebSocket entry (``urls['api']['ws']``)."""
    if pro:
        import ccxt.pro as ccxt_async
    else:
        import ccxt.async_support as ccxt_async

    # ccxt's decimal_to_precision sets the *current* decimal context's rounding to ROUND_HALF_UP (and traps
    # Underflow) on every call. Give the calling thread or asyncio task a context of its own first, so that
    # ccxt's change stays inside the adapter and never reaches other code sharing the context (it changed the
    # generator's order quantities when a test ran both in one process).
    decimal.setcontext(decimal.getcontext().copy())
    if not hasattr(ccxt_async, exchange):
        raise ValueError(f"ccxt has no exchange {exchange!r}")
    config: dict[str, Any] = {"enableRateLimit": False, "timeout": int(timeout_s * 1000), **(creds or {})}
    if exchange.startswith("binance"):
        config["options"] = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}
    if options:
        config.setdefault("options", {}).update(options)
    client = getattr(ccxt_async, exchange)(config)
    api = client.urls["api"]
    if api_url:
        for name in list(api) if isinstance(api, dict) else []:
            if name != "ws":
                api[name] = api_url
        if not isinstance(api, dict):
            client.urls["api"] = api = api_url
    if ws_url and isinstance(api, dict) and "ws" in api:
        def replace(entry: Any) -> Any:
            return {k: replace(v) for k, v in entry.items()} if isinstance(entry, dict) else ws_url

        api["ws"] = replace(api["ws"])
    return client


def unified_rows(trades: list[dict[str, Any]]) -> tuple[list[Row], list[tuple[Any, str]]]:
    """ccxt's unified trades → rows; unusable ones (no id, no time, no positive price, negative amount) set aside
    with the reason."""
    good: list[Row] = []
    bad: list[tuple[Any, str]] = []
    for trade in trades:
        trade_id, ts, price, amount = trade.get("id"), trade.get("timestamp"), trade.get("price"), trade.get("amount")
        problem = ("no trade id" if trade_id in (None, "") else "no timestamp" if not isinstance(ts, int)
                   else "no positive price" if not isinstance(price, (int, float)) or not price > 0
                   else "no amount" if not isinstance(amount, (int, float)) or amount < 0 else None)
        if problem:
            bad.append((trade.get("info", trade), problem))
        else:
            good.append((ts, str(trade_id), float(price), float(amount)))
    return good, bad


def tick_events(venue: str, symbol: str, rows: list[Row], dedup: TradeDedup, received_us: int
                ) -> tuple[list[FeedEvent], int]:
    """Rows of one page → PriceTicks in (time, id) order, repeats dropped; also the newest trade time (ms)."""
    out: list[FeedEvent] = []
    newest = 0
    rows.sort(key=lambda t: (t[0], int(t[1]) if t[1].isdigit() else 0, t[1]))
    accept = dedup.accept
    for ts, trade_id, price, amount in rows:
        if ts > newest:
            newest = ts
        if accept(symbol, trade_id, ts * 1000):
            out.append(trade_tick(venue, symbol, trade_id, ts * 1000, price, amount, received_us))
    return out, newest


def unreadable(venue: str, symbol: str, bad: list[tuple[Any, str]], received_us: int) -> list[Unreadable]:
    key = f"{venue}:{symbol}"
    return [Unreadable(topics.TICKS, key, orjson.dumps(item, default=str), "malformed-trade", problem, received_us)
            for item, problem in bad]


def trade_events(venue: str, symbol: str, trades: list[dict[str, Any]], dedup: TradeDedup, received_us: int
                 ) -> tuple[list[FeedEvent | Unreadable], int]:
    """ccxt's unified trades of one page → PriceTicks in (time, id) order, repeats dropped, unusable trades
    (no id, no time, no positive price, negative amount) as dead letters; also the newest trade time (ms)."""
    good, bad = unified_rows(trades)
    ticks, newest = tick_events(venue, symbol, good, dedup, received_us)
    return [*unreadable(venue, symbol, bad, received_us), *ticks], newest


class CcxtVenue:
    """What a ccxt feed (REST or WebSocket) does with its ``client`` besides reading: latency probes, the
    venue's hours, closing."""

    client: Any
    symbols: list[str]

    exchange_id: str
    _new_client: Callable[[], Any]  # each feed's own (REST or ccxt.pro) client

    async def _load_markets(self) -> None:
        """A new client with the exchange's markets; every symbol asked for must be one of them."""
        self.client = self._new_client()
        await self.client.load_markets()
        missing = [s for s in self.symbols if s not in self.client.markets]
        if missing:
            raise ValueError(f"{self.exchange_id} lists no market {', '.join(missing)}")

    async def probe(self) -> float:
        started = time.perf_counter()
        if self.client.has.get("fetchTime"):
            await self.client.fetch_time()
        else:
            await self.client.fetch_ticker(self.symbols[0])
        return (time.perf_counter() - started) * 1000

    async def wait_open(self, stop: asyncio.Event) -> bool:
        return not stop.is_set()  # exchanges trade around the clock

    async def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            await client.close()


class CcxtTradesFeed(CcxtVenue):
    """One exchange, some symbols, through ccxt's async client."""

    def __init__(self, exchange: str, symbols: list[str], *, api_url: str | None = None, venue: str | None = None,
                 poll_interval_s: float = 1.0, timeout_s: float = 10.0, dedup_window: int = 100_000,
                 options: dict[str, Any] | None = None, feed_id: str | None = None):
        import ccxt.async_support as ccxt_async

        if not hasattr(ccxt_async, exchange):
            raise ValueError(f"ccxt has no exchange {exchange!r}")
        self.exchange_id = exchange
        self.venue = venue or exchange
        self.symbols = list(symbols)
        self.feed_id = feed_id or f"ccxt-{self.venue}"
        self.api_url = api_url
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self.options = options or {}
        self.dedup = TradeDedup(dedup_window)
        self.since: dict[str, int | None] = dict.fromkeys(self.symbols)  # ms: newest trade time seen
        self.client: Any = None
        self._raw_ids: dict[str, str] = {}  # symbol -> exchange market id, where the raw page is read
        self.malformed: list[tuple[Any, str]] = []
        self._duplicates = metrics.FEED_DUPLICATES.labels(self.feed_id)

    def remember(self, recent: dict[str, list[tuple[str, int]]]) -> None:
        """Trades already written (read back at start): dropped if fetched again; polling resumes from them."""
        for key, trades in recent.items():
            symbol = key.partition(":")[2]
            for trade_id, time_us in trades:
                self.dedup.accept(symbol, trade_id, time_us)
                self.since[symbol] = max(self.since.get(symbol) or 0, time_us // 1000)
        self.dedup.duplicates = 0

    def _new_client(self) -> Any:
        client = ccxt_client(self.exchange_id, api_url=self.api_url, timeout_s=self.timeout_s, options=self.options,
                             creds=credentials(self.exchange_id))
        parse_trade = client.parse_trade

        # ccxt parses a page in one call, and one unreadable trade (e.g. a price "abc") makes the whole
        # fetch raise, which would poison the page forever: parse each trade on its own and keep the
        # unreadable ones aside (they become dead letters).
        def parse_trades(trades: Any, market: Any = None, since: Any = None, limit: Any = None,
                         params: Any = None) -> list[dict[str, Any]]:
            items = trades if isinstance(trades, list) else list((trades or {}).values())
            out = []
            for item in items:
                try:
                    out.append(parse_trade(item, market))
                except Exception as exc:  # noqa: BLE001 - any parse failure of one item
                    self.malformed.append((item, f"{type(exc).__name__}: {exc}"))
            return out

        client.parse_trades = parse_trades
        return client

    async def connect(self) -> None:
        await self._load_markets()
        self._raw_ids = {s: self.client.markets[s]["id"] for s in self.symbols
                         if self.exchange_id in RAW_PAGES and self.client.markets[s].get("spot")}

    async def _page(self, symbol: str, since: int | None) -> tuple[list[Row], list[tuple[Any, str]], int]:
        """One page of trades from ``since`` (inclusive): usable rows, unusable items with the reason, and how
        many items the exchange sent."""
        market_id = self._raw_ids.get(symbol)
        if market_id is None:
            trades = await self.client.fetch_trades(symbol, since=since, limit=PAGE_LIMIT)
            good, bad = unified_rows(trades)
            bad.extend(self.malformed)  # the items ccxt's parser could not read
            self.malformed.clear()
            return good, bad, len(trades) + len(bad)
        request: dict[str, Any] = {"symbol": market_id, "limit": PAGE_LIMIT}
        if since is not None:
            request.update(startTime=since, endTime=since + BINANCE_WINDOW_MS)
        page = await self.client.publicGetAggTrades(request)
        good, bad = binance_agg_rows(page)
        return good, bad, len(good) + len(bad)

    async def stream(self, emit: Emit, seen: Any) -> None:
        while True:
            full = False
            for symbol in self.symbols:
                since = self.since[symbol]
                good, bad, sent = await self._page(symbol, since)
                received_us = time.time_ns() // 1000
                seen()
                before = self.dedup.duplicates
                ticks, newest = tick_events(self.venue, symbol, good, self.dedup, received_us)
                events: list[FeedEvent | Unreadable] = unreadable(self.venue, symbol, bad, received_us) if bad else []
                events.extend(ticks)
                self._duplicates.inc(self.dedup.duplicates - before)
                if newest:
                    self.since[symbol] = max(since or 0, newest)
                emit(events)
                full = full or sent >= PAGE_LIMIT
            if not full:
                await asyncio.sleep(self.poll_interval_s)


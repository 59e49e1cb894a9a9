"""A quote feed in TwelveData's formats (``mercado feed twelvedata``), connected during market hours.

WebSocket ``wss://ws.twelvedata.com/v1/quotes/price?apikey=…``: after connecting the feed sends
``{"action": "subscribe", "params": {"symbols": "USD/COP,…"}}`` and reads ``subscribe-status``; then each
``{"event": "price", "symbol", "timestamp" (s), "price", "bid"?, "ask"?, "day_volume"?}`` becomes a
``PriceTick`` (event id ``twelvedata:{symbol}:q{timestamp}-{price}``: the same quote received again is
dropped); the feed sends ``{"action": "heartbeat"}`` every ``heartbeat_every_s`` (TwelveData closes a silent
connection) and the server's ``heartbeat`` answers count as traffic for the stale detector.

Market hours: the feed connects only while one of its symbols' session calendars (processors/marketdata
calendars, by venue and symbol overrides: USD/COP trades on the Colombian FX session) is open, and leaves
when they all close. A symbol without a calendar stops the feed at start-up, by name.

The seed's hourly fail-safe becomes a backfill of each hole: after a reconnect, the whole minutes between
the symbol's last live quote and its first new one are fetched from REST ``/time_series`` (1min bars,
``{"meta": …, "values": [{"datetime", "open", "high", "low", "close"}], "status": "ok"}``) and written as
replacement ticks (``backfill_id``, one per bar at its close) followed by ``BackfillComplete`` — in one
transaction, as ``mercado backfill`` does. A hole the REST API refuses (e.g. 429) stays pending and is
tried again. An operator's backfill request (``REQUEST_BACKFILL``) is fetched the same way
(streams/feeds/commands.py).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from processors import topics
from processors.admission import Refused
from processors.marketdata.calendars import CalendarBook
from processors.marketdata.config import UnknownVenueError
from streams.feeds.core import FeedEvent, TradeDedup, backfill_complete, trade_tick, venue_health
from streams.feeds.runner import Emit
from streams.feeds.settings import read_secret
from streams.feeds.writer import Unreadable
from streams.observability import metrics

VENUE = "twelvedata"
WS_URL = "wss://ws.twelvedata.com/v1/quotes/price"
REST_URL = "https://api.twelvedata.com"
MINUTE_US = 60_000_000
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def api_key(env: dict[str, str] | None = None) -> str | None:
    """``MERCADO_FEED_TWELVEDATA_API_KEY``, or the file named by ``MERCADO_FEED_TWELVEDATA_API_KEY_FILE``."""
    return read_secret("MERCADO_FEED_TWELVEDATA_API_KEY", env)


def quote_events(text: str | bytes, dedup: TradeDedup, received_us: int, venue: str = VENUE
                 ) -> list[FeedEvent | Unreadable]:
    """One WebSocket frame → its events: a ``price`` event → a PriceTick (unless already seen); ``heartbeat``
    and ``subscribe-status`` → nothing; anything unreadable → a dead letter naming the problem."""
    raw = text.encode() if isinstance(text, str) else text
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return [Unreadable(topics.TICKS, venue, raw, "malformed-frame", f"not JSON: {exc}", received_us)]
    if not isinstance(frame, dict):
        return [Unreadable(topics.TICKS, venue, raw, "malformed-frame", "not a JSON object", received_us)]
    event = frame.get("event")
    if event in ("heartbeat", "subscribe-status", "unsubscribe-status", "reset-status"):
        return []
    if event != "price":
        return [Unreadable(topics.TICKS, venue, raw, "malformed-frame", f"unknown event {event!r}", received_us)]
    symbol, ts, price = frame.get("symbol"), frame.get("timestamp"), frame.get("price")
    problem = ("no symbol" if not isinstance(symbol, str) or not symbol
               else "no timestamp" if not isinstance(ts, int) or isinstance(ts, bool)
               else "no positive price" if not isinstance(price, (int, float)) or isinstance(price, bool)
               or not price > 0 else None)
    if problem:
        key = f"{venue}:{symbol}" if isinstance(symbol, str) and symbol else venue
        return [Unreadable(topics.TICKS, key, raw, "malformed-frame", problem, received_us)]
    quote_id = f"q{ts}-{float(price)!r}"
    time_us = ts * 1_000_000
    if not dedup.accept(symbol, quote_id, time_us):
        return []
    bid, ask = frame.get("bid"), frame.get("ask")
    volume = frame.get("volume")
    return [trade_tick(venue, symbol, quote_id, time_us, float(price),
                       float(volume) if isinstance(volume, (int, float)) and volume >= 0 else 0.0, received_us,
                       sequence=time_us, bid=float(bid) if isinstance(bid, (int, float)) else None,
                       ask=float(ask) if isinstance(ask, (int, float)) else None)]


def hole(last_live_us: int, first_new_us: int) -> tuple[int, int] | None:
    """The whole minutes strictly between two quotes: [start, end) to backfill, or None when there is none."""
    start = -(-(last_live_us + 1) // MINUTE_US) * MINUTE_US
    end = first_new_us // MINUTE_US * MINUTE_US
    return (start, end) if start < end else None


def backfill_events(symbol: str, start_us: int, end_us: int, body: Any, received_us: int, venue: str = VENUE
                    ) -> list[FeedEvent]:
    """A ``/time_series`` answer (1min bars) → replacement ticks of [start, end) and their BackfillComplete.
    Raises :class:`BackfillRefused` for an error answer other than "no data"."""
    if not isinstance(body, dict):
        raise BackfillRefused(f"unexpected answer {str(body)[:200]}")
    if body.get("status") == "error":
        if body.get("code") == 400 and "no data" in str(body.get("message", "")).lower():
            body = {"values": []}
        else:
            raise BackfillRefused(f"{body.get('code')}: {body.get('message')}")
    backfill_id = f"td-{start_us}-{end_us}"
    ticks: list[FeedEvent] = []
    for row in sorted(body.get("values") or [], key=lambda r: r.get("datetime", "")):
        try:
            bar_us = int(datetime.strptime(row["datetime"], TIME_FORMAT).replace(tzinfo=UTC).timestamp()) * 1_000_000
            close = float(row["close"])
        except (KeyError, ValueError, TypeError):
            continue  # a row without a time or a close price says nothing about the hole
        if not start_us <= bar_us < end_us or not close > 0:
            continue
        at = bar_us + MINUTE_US - 1  # the bar's close price, at the end of its minute
        volume = float(row.get("volume") or 0.0)
        ticks.append(trade_tick(venue, symbol, f"bf{bar_us}", at, close, volume, received_us, sequence=at,
                                backfill_id=backfill_id))
    return [*ticks, backfill_complete(venue, symbol, backfill_id, start_us, end_us, len(ticks), received_us)]


class BackfillRefused(RuntimeError):
    """The REST API answered a backfill request with an error (rate limit, credits, …)."""


class TwelveDataQuotes:
    def __init__(self, symbols: list[str], calendars: CalendarBook, *, ws_url: str = WS_URL,
                 rest_url: str = REST_URL, venue: str = VENUE, heartbeat_every_s: float = 10.0,
                 closed_check_s: float = 60.0, timeout_s: float = 10.0, dedup_window: int = 100_000,
                 feed_id: str | None = None, key: str | None = None):
        self.venue = venue
        self.symbols = list(symbols)
        self.feed_id = feed_id or f"{venue}-quotes"
        # at start-up: a symbol without a session calendar is a configuration error that names it
        self.calendars = {}
        for symbol in self.symbols:
            try:
                self.calendars[symbol] = calendars.for_key(venue, symbol)
            except Refused:
                raise UnknownVenueError([(venue, f"mercado feed {self.feed_id}, symbol {symbol}")]) from None
        self.ws_url = ws_url
        self.rest_url = rest_url.rstrip("/")
        self.heartbeat_every_s = heartbeat_every_s
        self.closed_check_s = closed_check_s
        self.timeout_s = timeout_s
        self.key = key if key is not None else api_key()
        self.dedup = TradeDedup(dedup_window)
        self.last_live_us: dict[str, int] = {}  # last live quote per symbol (across connections)
        self.pending_holes: dict[str, list[tuple[int, int]]] = {}
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.backfills: list[tuple[str, int, int, int]] = []  # (symbol, start, end, ticks) written
        self._duplicates = metrics.FEED_DUPLICATES.labels(self.feed_id)
        self._clock = time.time
        self._pong: asyncio.Future[float] | None = None
        self.early: list[tuple[str, int]] = []
        self.retry_s = 1.0  # first wait before asking the REST API again for a refused backfill

    def remember(self, recent: dict[str, list[tuple[str, int]]]) -> None:
        """Quotes already written (read back at start): dropped if received again, and the last live one starts
        the hole a restart backfills (from it to the first new quote)."""
        for key, quotes in recent.items():
            symbol = key.partition(":")[2]
            for quote_id, time_us in quotes:
                self.dedup.accept(symbol, quote_id, time_us)
                if quote_id.startswith("q"):  # a live quote (replacement ticks are "bf…")
                    self.last_live_us[symbol] = max(self.last_live_us.get(symbol, time_us), time_us)
        self.dedup.duplicates = 0

    # ------------------------------------------------------------------ market hours
    def open_now(self, now_us: int) -> tuple[bool, int]:
        """Whether any symbol's session is open at ``now_us``, and until when (µs) that answer holds."""
        spans = [cal.span_at(now_us) for cal in self.calendars.values()]
        is_open = any(span.session is not None for span in spans)
        return is_open, min(span.hi for span in spans if (span.session is not None) == is_open)

    async def wait_open(self, stop: asyncio.Event) -> bool:
        while not stop.is_set():
            is_open, until_us = self.open_now(int(self._clock() * 1_000_000))
            if is_open:
                return True
            wait = min(self.closed_check_s, max(0.1, (until_us - self._clock() * 1_000_000) / 1e6))
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except TimeoutError:
                pass
        return False

    # ------------------------------------------------------------------ connection
    def _url(self, base: str, **params: str) -> str:
        if self.key:
            params["apikey"] = self.key
        return base if not params else base + ("&" if "?" in base else "?") + "&".join(
            f"{k}={v}" for k, v in params.items())

    async def connect(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        self.ws = await self.session.ws_connect(self._url(self.ws_url), autoping=True)
        await self.ws.send_str(orjson.dumps({"action": "subscribe",
                                             "params": {"symbols": ",".join(self.symbols)}}).decode())
        # connected means subscribed: wait for the subscribe-status (a subscription left unanswered would
        # leave the feed connected, answering heartbeats, and receiving nothing)
        self.early = []
        while True:
            msg = await self.ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"no subscribe-status: got a {msg.type.name} frame")
            if '"subscribe-status"' not in msg.data:
                self.early.append((msg.data, time.time_ns() // 1000))
                continue
            status = orjson.loads(msg.data)
            failed = [f.get("symbol") if isinstance(f, dict) else f for f in status.get("fails") or []]
            if status.get("status") != "ok" or failed:
                raise ConnectionError(f"subscription refused: status {status.get('status')!r}, fails {failed}")
            return

    async def stream(self, emit: Emit, seen: Any) -> str | None:
        ws = self.ws
        assert ws is not None
        beats = asyncio.create_task(self._heartbeats(ws))
        first_new: dict[str, int] = {}
        fills: set[asyncio.Task[None]] = set()

        def handle(data: str | bytes, received_us: int) -> None:
            before = self.dedup.duplicates
            events = quote_events(data, self.dedup, received_us, self.venue)
            self._duplicates.inc(self.dedup.duplicates - before)
            for event in events:
                if isinstance(event, FeedEvent):
                    symbol, t = event.record["symbol"], event.record["event_time"]
                    if symbol not in first_new:  # the first quote of this connection: a hole before it?
                        first_new[symbol] = t
                        last = self.last_live_us.get(symbol)
                        found = hole(last, t) if last is not None else None
                        if found:
                            self.pending_holes.setdefault(symbol, []).append(found)
                    self.last_live_us[symbol] = max(self.last_live_us.get(symbol, t), t)
            emit(events)
            if any(self.pending_holes.values()) and not fills:
                task = asyncio.create_task(self._fill_holes(emit))
                fills.add(task)
                task.add_done_callback(fills.discard)

        try:
            for data, received_us in self.early:  # frames that came before the subscribe-status
                seen()
                handle(data, received_us)
            self.early = []
            while True:
                msg = await ws.receive()
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                    return None
                if msg.type == aiohttp.WSMsgType.ERROR:
                    raise ConnectionError(f"websocket error: {ws.exception()}")
                received_us = time.time_ns() // 1000
                seen()
                if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    continue
                pong = self._pong
                if pong is not None and not pong.done() and "heartbeat" in msg.data:
                    pong.set_result(time.perf_counter())
                handle(msg.data, received_us)
                if not any(cal.span_at(received_us).session for cal in self.calendars.values()):
                    return "market-closed"  # leave until it opens again
        finally:
            beats.cancel()
            for task in fills:
                task.cancel()

    async def _heartbeats(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self.heartbeat_every_s)
            await ws.send_str('{"action": "heartbeat"}')

    async def _fill_holes(self, emit: Emit) -> None:
        """Backfills every pending hole over REST; one the API refuses stays pending and is asked again after a
        doubling wait (a VenueHealth failure each time)."""
        wait = self.retry_s
        for symbol, holes in list(self.pending_holes.items()):
            while holes:
                start, end = holes[0]
                try:
                    events = await self.fetch_backfill(symbol, start, end)
                except (BackfillRefused, aiohttp.ClientError, TimeoutError) as exc:
                    now = time.time_ns() // 1000
                    emit([venue_health(self.venue, "backfill", now, ok=False,
                                       error=f"{type(exc).__name__}: {exc}"[:500])])
                    await asyncio.sleep(wait)
                    wait = min(wait * 2, 60.0)
                    continue
                emit(events)  # the replacement ticks and their marker: one batch, one transaction
                self.backfills.append((symbol, start, end, len(events) - 1))
                holes.pop(0)

    async def fetch_backfill(self, symbol: str, start_us: int, end_us: int,
                             session: aiohttp.ClientSession | None = None) -> list[FeedEvent]:
        """[start, end) over REST (on ``session``, default the connection's: a command's backfill has its own)."""
        session = session or self.session
        assert session is not None
        fmt = lambda us: datetime.fromtimestamp(us / 1e6, UTC).strftime(TIME_FORMAT).replace(" ", "%20")  # noqa: E731
        url = self._url(f"{self.rest_url}/time_series", symbol=symbol, interval="1min", timezone="UTC",
                        start_date=fmt(start_us), end_date=fmt(end_us - 1), order="asc", outputsize="5000")
        async with session.get(url) as response:
            if response.status == 429:
                raise BackfillRefused(f"429: {await response.text()}"[:300])
            body = await response.json(loads=orjson.loads, content_type=None)
        return backfill_events(symbol, start_us, end_us, body, time.time_ns() // 1000, self.venue)

    async def probe(self) -> float:
        """The round trip of a ``heartbeat`` action to its answer on the open WebSocket, in ms."""
        assert self.ws is not None
        self._pong = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        await self.ws.send_str('{"action": "heartbeat"}')
        answered = await self._pong
        return (answered - started) * 1000

    async def close(self) -> None:
        ws, session = self.ws, self.session
        self.ws = self.session = None
        if ws is not None:
            await ws.close()
        if session is not None:
            await session.close()

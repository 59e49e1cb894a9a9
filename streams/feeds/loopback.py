"""Local servers on 127.0.0.1 that speak real venues' documented formats, with faults on demand: the feed and
venue tests, ``python -m bench.feeds`` and the demo's feed step (``./dev demo``) run the adapters against them.

* :class:`FakeBinance` — Binance's spot REST API as ccxt's binance client calls it: ``GET …/exchangeInfo``
  (one symbol), ``GET …/aggTrades?symbol&startTime&endTime&limit`` (aggregate trades ``{a, p, q, f, l, T, m, M}``,
  ascending, ``startTime`` inclusive), ``GET …/time`` (``{serverTime}``); errors as Binance sends them
  (``{"code": -1003, "msg": …}`` with HTTP 429 for the rate limit). Its trading endpoints (signature not
  checked): ``POST …/order`` (``symbol, side, type, quantity, price, timeInForce, newClientOrderId``; answers
  ``FULL``; a second order with the client id of a known one: ``-2010 Duplicate order sent.``; more quote than the
  balance: ``-2010 Account has insufficient balance for requested action.``), ``GET …/order`` (by ``orderId`` or
  ``origClientOrderId``; ``-2013 Order does not exist.``), ``DELETE …/order`` (``-2011 Unknown order sent.``),
  ``GET …/openOrders``, ``GET …/allOrders``, ``GET …/myTrades?symbol&orderId``. Orders rest until the test
  fills them (:meth:`FakeBinance.fill`) or a market order fills at ``market_price``.
  Its WebSocket market streams (``/ws``, as ccxt.pro's binance client uses them): ``SUBSCRIBE`` to
  ``<symbol>@aggTrade`` / ``<symbol>@bookTicker``; ``aggTrade`` payloads ``{e, E, s, a, p, q, f, l, T, m, M}``
  and spot ``bookTicker`` payloads ``{u, s, b, B, a, A}``, pushed by the test, with raw text and cuts on demand.
* :class:`FakeTwelveData` — TwelveData's WebSocket ``/v1/quotes/price`` (``{"action": "subscribe", "params":
  {"symbols": …}}`` → ``subscribe-status``; ``price`` events; ``{"action": "heartbeat"}`` → ``heartbeat``)
  and REST ``/time_series`` (``{"meta": …, "values": [{"datetime", "open", "high", "low", "close", …}],
  "status": "ok"}``, newest first; errors ``{"code": 429, "message": …, "status": "error"}``).

Faults are queued and consumed one per request (REST) or applied to the running stream (WebSocket):
``"429"``, ``"cut"`` (the body stops half-way and the connection is closed), ``"stall"`` (no answer for
``stall_s``; on ``POST …/order`` the order is placed first, then the answer stalls), ``"dup"`` (the page repeats
trades), ``"shuffle"`` (a page out of order), ``"malformed"`` (an unreadable trade in the page). Order requests
take theirs from ``order_faults``.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web


class _Server:
    def __init__(self) -> None:
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.requests: list[str] = []
        self.faults: deque[str] = deque()
        self.stall_s = 3.0

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> str:
        app = web.Application()
        self.routes(app)
        self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _body(self, request: web.Request, payload: Any, fault: str | None) -> web.StreamResponse:
        body = json.dumps(payload).encode()
        if fault == "cut":  # half the body, then the connection is closed
            response = web.StreamResponse(headers={"Content-Type": "application/json",
                                                   "Content-Length": str(len(body))})
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            request.transport.close()  # type: ignore[union-attr]
            return response
        return web.Response(body=body, content_type="application/json")


class FakeBinance(_Server):
    SYMBOL = "BTCUSDT"

    def __init__(self) -> None:
        super().__init__()
        self.trades: list[dict[str, Any]] = []  # ascending by T
        self.orders: list[dict[str, Any]] = []  # Binance order objects, by orderId - 1
        self.my_trades: list[dict[str, Any]] = []
        self.order_faults: deque[str] = deque()  # consumed one per POST …/order
        self.quote_balance = 1_000_000.0  # USDT a BUY may spend
        self.trades_visible = True  # False: myTrades lags (answers [] while orders show their fills)
        self.market_price = 100.0
        self.ws_sockets: list[tuple[web.WebSocketResponse, set[str]]] = []  # connection, its streams
        self.ws_transports: list[Any] = []
        self.ws_connections = 0
        self.ws_subscribed = asyncio.Event()

    def add_trades(self, first_id: int, times_ms: list[int], price: float = 100.0) -> list[dict[str, Any]]:
        new = [{"a": first_id + i, "p": f"{price + i * 0.01:.2f}", "q": "0.50000000", "f": first_id + i,
                "l": first_id + i, "T": t, "m": i % 2 == 0, "M": True} for i, t in enumerate(times_ms)]
        last = self.trades[-1] if self.trades else None
        in_order = last is None or not new or (new[0]["T"], new[0]["a"]) >= (last["T"], last["a"])
        self.trades.extend(new)
        if in_order and getattr(self, "_sorted_times", None) is not None:  # appended at the end: no re-sort
            self._sorted_times.extend(t["T"] for t in new)  # type: ignore[union-attr]
        else:
            self.trades.sort(key=lambda t: (t["T"], t["a"]))
            self._sorted_times = None
        return new

    def clear(self) -> None:
        self.trades.clear()
        self._sorted_times = None

    def _times(self) -> list[int]:
        if getattr(self, "_sorted_times", None) is None:
            self._sorted_times = [t["T"] for t in self.trades]
        return self._sorted_times  # type: ignore[return-value]

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/{base:.*}/exchangeInfo", self.exchange_info)
        app.router.add_get("/{base:.*}/aggTrades", self.agg_trades)
        app.router.add_get("/{base:.*}/time", self.time)
        app.router.add_post("/{base:.*}/order", self.new_order)
        app.router.add_get("/{base:.*}/order", self.query_order)
        app.router.add_delete("/{base:.*}/order", self.cancel_order)
        app.router.add_get("/{base:.*}/openOrders", self.open_orders)
        app.router.add_get("/{base:.*}/allOrders", self.all_orders)
        app.router.add_get("/{base:.*}/myTrades", self.trades_of_order)
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/ws/{stream}", self.websocket)

    # ------------------------------------------------------------------ WebSocket market streams
    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Binance's raw streams endpoint ``/ws``: ``{"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade",
        "btcusdt@bookTicker"], "id": n}`` → ``{"result": null, "id": n}``; then each subscribed stream's
        payloads as they are pushed (:meth:`ws_trade`, :meth:`ws_book`, :meth:`ws_raw`)."""
        self.requests.append(request.path_qs)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws_connections += 1
        streams: set[str] = set()
        entry = (ws, streams)
        self.ws_sockets.append(entry)
        self.ws_transports.append(request.transport)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                if frame.get("method") == "SUBSCRIBE":
                    streams.update(frame.get("params", []))
                    await ws.send_str(json.dumps({"result": None, "id": frame.get("id")}))
                    self.ws_subscribed.set()
                elif frame.get("method") == "UNSUBSCRIBE":
                    streams.difference_update(frame.get("params", []))
                    await ws.send_str(json.dumps({"result": None, "id": frame.get("id")}))
        finally:
            self.ws_sockets.remove(entry)
        return ws

    async def _ws_send(self, stream: str, text: str) -> int:
        sent = 0
        for ws, streams in list(self.ws_sockets):
            if stream in streams and not ws.closed:
                await ws.send_str(text)
                sent += 1
        return sent

    async def ws_trade(self, trade_id: int, time_ms: int, price: float = 100.0, qty: float = 0.5) -> int:
        """An ``aggTrade`` payload (the aggregate trade ``a``, as ``GET …/aggTrades`` lists it) to the subscribers
        of ``btcusdt@aggTrade``; returns how many got it."""
        return await self._ws_send(f"{self.SYMBOL.lower()}@aggTrade", json.dumps({
            "e": "aggTrade", "E": time_ms + 1, "s": self.SYMBOL, "a": trade_id, "p": f"{price:.2f}",
            "q": f"{qty:.8f}", "f": trade_id, "l": trade_id, "T": time_ms, "m": trade_id % 2 == 0, "M": True}))

    async def ws_book(self, update_id: int, bid: float, ask: float, bid_qty: float = 1.0, ask_qty: float = 1.0) -> int:
        """A spot ``bookTicker`` payload (``{u, s, b, B, a, A}``: no event type, no time) to the subscribers of
        ``btcusdt@bookTicker``."""
        return await self._ws_send(f"{self.SYMBOL.lower()}@bookTicker", json.dumps({
            "u": update_id, "s": self.SYMBOL, "b": f"{bid:.2f}", "B": f"{bid_qty:.8f}", "a": f"{ask:.2f}",
            "A": f"{ask_qty:.8f}"}))

    async def ws_raw(self, text: str, stream: str | None = None) -> int:
        """Any text (a malformed frame) to the subscribers of ``stream`` (default: every connection)."""
        sent = 0
        for ws, streams in list(self.ws_sockets):
            if not ws.closed and (stream is None or stream in streams):
                await ws.send_str(text)
                sent += 1
        return sent

    def ws_cut(self) -> None:
        """Every WebSocket connection: the start of a text frame announcing 256 bytes, a few of them, then the TCP
        connection closes (a disconnect mid-message)."""
        for transport in self.ws_transports:
            if transport is not None and not transport.is_closing():
                transport.write(b"\x81\x7e\x01\x00" + b'{"e": "aggTrade", "E": 1')
                transport.close()
        self.ws_transports.clear()

    # ------------------------------------------------------------------ trading
    @staticmethod
    def _error(code: int, msg: str, status: int = 400) -> web.Response:
        return web.json_response({"code": code, "msg": msg}, status=status)

    async def _params(self, request: web.Request) -> dict[str, str]:
        params = dict(request.query)
        if request.can_read_body:
            params.update(await request.post())  # type: ignore[arg-type]
        return params

    def _find(self, params: dict[str, str]) -> dict[str, Any] | None:
        if "orderId" in params:
            i = int(params["orderId"]) - 1
            return self.orders[i] if 0 <= i < len(self.orders) else None
        coid = params.get("origClientOrderId")
        return next((o for o in self.orders if o["clientOrderId"] == coid), None)

    @staticmethod
    def _fmt(x: float) -> str:
        return f"{x:.8f}"

    async def new_order(self, request: web.Request) -> web.StreamResponse:
        params = await self._params(request)
        self.requests.append(f"POST {request.path} {params.get('newClientOrderId')}")
        fault = self.order_faults.popleft() if self.order_faults else None
        if fault == "429":
            return self._error(-1003, "Too many requests; current limit is 50 orders per 10 SECOND.", 429)
        coid = params.get("newClientOrderId") or f"x-{len(self.orders) + 1}"
        if any(o["clientOrderId"] == coid for o in self.orders):
            return self._error(-2010, "Duplicate order sent.")
        qty = float(params["quantity"])
        kind = params["type"]
        price = float(params["price"]) if kind == "LIMIT" else self.market_price
        if params["side"] == "BUY" and qty * price > self.quote_balance:
            return self._error(-2010, "Account has insufficient balance for requested action.")
        now = int(datetime.now(UTC).timestamp() * 1000)
        order = {"symbol": params["symbol"], "orderId": len(self.orders) + 1, "orderListId": -1, "clientOrderId": coid,
                 "price": self._fmt(price if kind == "LIMIT" else 0.0), "origQty": self._fmt(qty),
                 "executedQty": self._fmt(0), "cummulativeQuoteQty": self._fmt(0), "status": "NEW",
                 "timeInForce": params.get("timeInForce", "GTC"), "type": kind, "side": params["side"],
                 "stopPrice": self._fmt(0), "icebergQty": self._fmt(0), "time": now, "updateTime": now,
                 "isWorking": True, "workingTime": now, "origQuoteOrderQty": self._fmt(0),
                 "selfTradePreventionMode": "EXPIRE_MAKER"}
        self.orders.append(order)
        fills = self.fill(coid, qty, price) if kind == "MARKET" else []
        if fault == "stall":  # placed, but the answer comes after the client gave up
            await asyncio.sleep(self.stall_s)
        return web.json_response({**{k: v for k, v in order.items() if k not in ("time", "updateTime", "isWorking",
                                                                                 "stopPrice", "icebergQty")},
                                  "transactTime": now, "fills": [
                                      {"price": t["price"], "qty": t["qty"], "commission": t["commission"],
                                       "commissionAsset": t["commissionAsset"], "tradeId": t["id"]} for t in fills]})

    def fill(self, coid: str, qty: float, price: float, *, maker: bool = False) -> list[dict[str, Any]]:
        """The order with client id ``coid`` trades ``qty`` at ``price`` (one trade; fee 0.1% of the quote)."""
        order = next(o for o in self.orders if o["clientOrderId"] == coid)
        done = float(order["executedQty"]) + qty
        now = int(datetime.now(UTC).timestamp() * 1000)
        order["executedQty"] = self._fmt(done)
        order["cummulativeQuoteQty"] = self._fmt(float(order["cummulativeQuoteQty"]) + qty * price)
        order["status"] = "FILLED" if done >= float(order["origQty"]) - 1e-12 else "PARTIALLY_FILLED"
        order["updateTime"] = now
        if order["side"] == "BUY":
            self.quote_balance -= qty * price
        trade = {"symbol": order["symbol"], "id": 28457 + len(self.my_trades), "orderId": order["orderId"],
                 "orderListId": -1, "price": self._fmt(price), "qty": self._fmt(qty),
                 "quoteQty": self._fmt(qty * price),
                 "commission": self._fmt(qty * price * 0.001), "commissionAsset": "USDT", "time": now,
                 "isBuyer": order["side"] == "BUY", "isMaker": maker, "isBestMatch": True}
        self.my_trades.append(trade)
        return [trade]

    async def query_order(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        self.requests.append(f"GET {request.path} {params.get('origClientOrderId') or params.get('orderId')}")
        order = self._find(params)
        return web.json_response(order) if order else self._error(-2013, "Order does not exist.")

    async def cancel_order(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        self.requests.append(f"DELETE {request.path} {params.get('origClientOrderId') or params.get('orderId')}")
        order = self._find(params)
        if order is None or order["status"] not in ("NEW", "PARTIALLY_FILLED"):
            return self._error(-2011, "Unknown order sent.")
        order["status"] = "CANCELED"
        return web.json_response({k: v for k, v in order.items() if k not in (
            "time", "updateTime", "isWorking", "workingTime", "stopPrice", "icebergQty", "origQuoteOrderQty")} | {
            "origClientOrderId": order["clientOrderId"], "transactTime": int(datetime.now(UTC).timestamp() * 1000)})

    async def open_orders(self, request: web.Request) -> web.Response:
        self.requests.append(f"GET {request.path}")
        return web.json_response([o for o in self.orders if o["status"] in ("NEW", "PARTIALLY_FILLED")])

    async def all_orders(self, request: web.Request) -> web.Response:
        self.requests.append(f"GET {request.path}")
        return web.json_response(self.orders)

    async def trades_of_order(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        self.requests.append(f"GET {request.path} {params.get('orderId')}")
        wanted = params.get("orderId")
        return web.json_response([t for t in self.my_trades if self.trades_visible
                                  and (wanted is None or str(t["orderId"]) == wanted)])

    # ------------------------------------------------------------------ market data

    async def exchange_info(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        return web.json_response({"timezone": "UTC", "serverTime": 0, "rateLimits": [], "exchangeFilters": [],
                                  "symbols": [{
                                      "symbol": self.SYMBOL, "status": "TRADING", "baseAsset": "BTC",
                                      "baseAssetPrecision": 8, "quoteAsset": "USDT", "quotePrecision": 8,
                                      "quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "MARKET"],
                                      "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
                                      "filters": [
                                          {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000",
                                           "tickSize": "0.01"},
                                          {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000",
                                           "stepSize": "0.00001"}],
                                      "permissions": ["SPOT"]}]})

    async def time(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        return web.json_response({"serverTime": int(datetime.now(UTC).timestamp() * 1000)})

    async def agg_trades(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        fault = self.faults.popleft() if self.faults else None
        if fault == "429":
            return web.json_response({"code": -1003, "msg": "Too many requests; current limit is 1200 request "
                                      "weight per 1 MINUTE."}, status=429, headers={"Retry-After": "1"})
        if fault == "stall":
            await asyncio.sleep(self.stall_s)
        q = request.query
        limit = min(int(q.get("limit", 500)), 1000)
        start = int(q["startTime"]) if "startTime" in q else None
        end = int(q["endTime"]) if "endTime" in q else None
        times = self._times()
        lo = bisect.bisect_left(times, start) if start is not None else 0
        hi = bisect.bisect_right(times, end) if end is not None else len(times)
        page = self.trades[lo:min(hi, lo + limit)] if start is not None else self.trades[max(lo, hi - limit):hi]
        if fault == "dup":
            page = page + page[: max(1, len(page) // 2)]
        elif fault == "shuffle":
            page = list(reversed(page))
        elif fault == "malformed" and page:
            bad = dict(page[0], a=page[0]["a"] + 10_000_000, p="abc")
            page = [*page, bad, {"a": page[0]["a"] + 10_000_001, "q": "1", "T": page[0]["T"]}]
        return await self._body(request, page, fault)


class FakeTwelveData(_Server):
    """One quote stream; ``push(symbol, ts_s, price)`` sends a price event to every subscriber of the symbol."""

    def __init__(self) -> None:
        super().__init__()
        self.sockets: list[tuple[web.WebSocketResponse, set[str]]] = []
        self.bars: dict[str, list[tuple[int, float]]] = {}  # symbol -> (minute start s, close) for time_series
        self.subscribed = asyncio.Event()
        self.connections = 0
        self.heartbeats = 0
        self.mute = False  # a silent stall: nothing answered, nothing sent
        self.transports: list[Any] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/quotes/price", self.websocket)
        app.router.add_get("/time_series", self.time_series)

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        self.requests.append(request.path_qs)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self.subscribed.clear()
        self.transports.append(request.transport)
        symbols: set[str] = set()
        entry = (ws, symbols)
        self.sockets.append(entry)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT or self.mute:
                    continue
                data = json.loads(msg.data)
                if data.get("action") == "subscribe":
                    wanted = data["params"]["symbols"]
                    names = wanted.split(",") if isinstance(wanted, str) else [w["symbol"] for w in wanted]
                    symbols.update(n.strip() for n in names)
                    await ws.send_str(json.dumps({"event": "subscribe-status", "status": "ok", "success": [
                        {"symbol": n, "exchange": "PHYSICAL CURRENCY", "country": "", "type": "Physical Currency"}
                        for n in sorted(symbols)], "fails": []}))
                    self.subscribed.set()
                elif data.get("action") == "heartbeat":
                    self.heartbeats += 1
                    await ws.send_str(json.dumps({"event": "heartbeat", "status": "ok"}))
        finally:
            self.sockets.remove(entry)
        return ws

    async def push(self, symbol: str, ts_s: int, price: float, *, raw: str | None = None) -> int:
        """Sends a price event (or ``raw`` text) to the subscribers of ``symbol``; returns how many got it."""
        text = raw or json.dumps({"event": "price", "symbol": symbol, "currency_base": symbol.split("/")[0],
                                  "currency_quote": symbol.split("/")[-1], "exchange": "PHYSICAL CURRENCY",
                                  "type": "Physical Currency", "timestamp": ts_s, "price": price,
                                  "bid": price - 0.5, "ask": price + 0.5, "day_volume": 0})
        sent = 0
        for ws, symbols in list(self.sockets):
            if symbol in symbols and not ws.closed:
                await ws.send_str(text)
                sent += 1
        return sent

    async def drop_connections(self) -> None:
        for ws, _ in list(self.sockets):
            await ws.close()

    def cut_mid_message(self) -> None:
        """The start of a text frame announcing 256 bytes, a few of them, then the TCP connection closes."""
        for transport in self.transports:
            if transport is not None and not transport.is_closing():
                transport.write(b"\x81\x7e\x01\x00" + b'{"event": "price", "sym')
                transport.close()
        self.transports.clear()

    async def time_series(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        fault = self.faults.popleft() if self.faults else None
        if fault == "429":
            return web.json_response({"code": 429, "message": "You have run out of API credits for the current "
                                      "minute.", "status": "error"})
        if fault == "stall":  # a slow answer (a feed killed while it waits)
            await asyncio.sleep(self.stall_s)
        q = request.query
        symbol = q["symbol"]
        fmt = "%Y-%m-%d %H:%M:%S"
        start = datetime.strptime(q["start_date"], fmt).replace(tzinfo=UTC).timestamp()
        end = datetime.strptime(q["end_date"], fmt).replace(tzinfo=UTC).timestamp()
        rows = [(t, c) for t, c in self.bars.get(symbol, []) if start <= t <= end]
        values = [{"datetime": datetime.fromtimestamp(t, UTC).strftime(fmt), "open": f"{c:.5f}", "high": f"{c:.5f}",
                   "low": f"{c:.5f}", "close": f"{c:.5f}"} for t, c in sorted(rows, reverse=True)]
        return await self._body(request, {
            "meta": {"symbol": symbol, "interval": q.get("interval", "1min"), "currency_base": symbol.split("/")[0],
                     "currency_quote": symbol.split("/")[-1], "type": "Physical Currency"},
            "values": values, "status": "ok"}, fault)


# ---------------------------------------------------------------------- a feed against a local server (the demo)
class _CountingLog:
    """Stands in for the feed runner's logger (same calls as structlog's): counts each line by its event."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def _line(self, event: str, **_: Any) -> None:
        self.counts[event] += 1

    debug = info = warning = error = exception = _line


@dataclass
class LoopbackFeedReport:
    """What :class:`LoopbackFeed` served and what the feed wrote (read back from its topics)."""

    url: str
    seconds: float
    served: int  # trades the server held at the end
    ticks: int  # PriceTicks read back (committed)
    distinct: int  # distinct event ids among them
    missing: int  # served trades without a tick
    duplicates_dropped: int  # trades the feed received again and dropped
    heartbeats: int
    pings_ok: int
    failures: list[str]  # VenueHealth errors (the faults)
    reconnects: dict[str, int]
    refused: int  # events the door refused (dead letters)
    injected: list[str]  # the faults the server was told to serve, in order (on purpose)
    logged: dict[str, int]  # the feed's log lines by event, when the feed ran quiet (else empty: they were printed)
    first: dict[str, Any] | None  # a tick, as written
    last: dict[str, Any] | None


class LoopbackFeed:
    """``mercado feed ccxt binance`` against :class:`FakeBinance` for ``seconds``, in a thread of its own: the
    server receives trades in Binance's aggregate-trade format (a seeded random walk, ``rate`` a second) and
    serves a repeated page, a rate-limit error and a cut body on the way; the feed writes to the topics of
    ``settings`` (the demo gives it a topic prefix of its own, so its wall-clock ticks never meet the generated
    day's event time). ``quiet``: the feed's log lines (its warnings about the injected faults, its reconnects)
    are counted into the report's ``logged`` instead of printed (the demo, whose reader would take them for
    errors; anywhere else a feed logs them)."""

    FAULTS = ("dup", "429", "cut")  # a repeated page, a rate-limit error, a body cut half-way

    def __init__(self, settings: Any, seconds: float, *, rate: float = 25.0, seed: int = 42, quiet: bool = False):
        self.settings = settings.with_({"feeds__poll_interval_s": 0.5, "feeds__heartbeat_after_s": 2.0,
                                        "feeds__probe_interval_s": 5.0, "feeds__stale_after_s": 10.0,
                                        "feeds__backoff_initial_s": 0.2, "feeds__backoff_max_s": 2.0,
                                        "feeds__request_timeout_s": 2.0})
        self.seconds = seconds
        self.rate = rate
        self.seed = seed
        self.url = ""
        self.served = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._runner: Any = None
        self._error: BaseException | None = None
        self._log = _CountingLog() if quiet else None
        self._injected: list[str] = []

    def start(self) -> None:
        def main() -> None:
            try:
                asyncio.run(self._main())
            except BaseException as exc:  # noqa: BLE001 - reported by join()
                self._error = exc

        self._thread = threading.Thread(target=main, name="loopback-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    async def _main(self) -> None:
        from streams.feeds.ccxt_feed import CcxtTradesFeed
        from streams.feeds.runner import FeedRunner
        from streams.feeds.writer import FeedWriter

        rng = random.Random(self.seed)
        server = FakeBinance()
        self.url = await server.start()
        price = 64_000.0
        next_id = 1

        def add(count: int, at_ms: int) -> None:
            nonlocal price, next_id
            times = [at_ms - count + i for i in range(count)]
            for t in times:
                price = max(1.0, price * (1 + rng.gauss(0, 0.0002)))
                server.trades.append({"a": next_id, "p": f"{price:.2f}", "q": f"{rng.uniform(0.001, 0.5):.5f}",
                                      "f": next_id, "l": next_id, "T": t, "m": rng.random() < 0.5, "M": True})
                next_id += 1
            server._sorted_times = None  # type: ignore[attr-defined]
            self.served = len(server.trades)

        add(int(self.rate * 5), int(time.time() * 1000))  # the recorded last five seconds
        writer = FeedWriter(self.settings, "demo-loopback")
        feed = CcxtTradesFeed("binance", ["BTC/USDT"], api_url=self.url + "/api/v3", poll_interval_s=0.5,
                              timeout_s=2.0, feed_id="demo-loopback")
        runner = self._runner = FeedRunner(feed, writer, self.settings, logger=self._log)
        task = asyncio.create_task(runner.run())
        started = time.monotonic()
        faults_at = started + min(5.0, self.seconds / 3)
        owed = 0.0
        try:
            while time.monotonic() - started < self.seconds and not self._stop.is_set() and not task.done():
                await asyncio.sleep(0.1)
                owed += self.rate * 0.1
                if owed >= 1:
                    add(int(owed), int(time.time() * 1000))
                    owed -= int(owed)
                if faults_at and time.monotonic() >= faults_at:
                    server.faults.extend(self.FAULTS)
                    self._injected.extend(self.FAULTS)
                    faults_at = 0.0
            await asyncio.sleep(1.5)  # the last trades are polled
        finally:
            runner.stop.set()
            await asyncio.wait_for(task, 30)
            await server.stop()
        self.duplicates = feed.dedup.duplicates
        self._trade_ids = {f"binance:BTC/USDT:{t['a']}" for t in server.trades}

    def join(self) -> LoopbackFeedReport:
        """Waits for the feed to stop (at its time, or now after :meth:`stop`), reads back what it committed."""
        from processors import topics
        from streams.kafka.consumer import EventConsumer

        assert self._thread is not None
        self._thread.join()
        if self._error is not None:
            raise self._error
        ticks: list[dict[str, Any]] = []
        heartbeats = 0
        with EventConsumer(self.settings, [self.settings.topic(topics.TICKS)]) as consumer:
            for event in consumer.iterate(idle_timeout=5.0):
                if event.schema.fullname.endswith("PriceTick"):
                    ticks.append(event.record)
                elif event.schema.fullname.endswith("Heartbeat"):
                    heartbeats += 1
        with EventConsumer(self.settings, [self.settings.topic(topics.VENUE_HEALTH)]) as consumer:
            health = [e.record for e in consumer.iterate(idle_timeout=5.0)]
        ids = {t["event_id"] for t in ticks}
        ticks.sort(key=lambda t: (t["event_time"], t["sequence"]))
        return LoopbackFeedReport(
            url=self.url, seconds=self.seconds, served=self.served, ticks=len(ticks), distinct=len(ids),
            missing=len(self._trade_ids - ids), duplicates_dropped=self.duplicates, heartbeats=heartbeats,
            pings_ok=sum(1 for h in health if h["ok"]), failures=[h["error"] or "" for h in health if not h["ok"]],
            reconnects=dict(self._runner.reconnects), refused=self._runner.writer.refused,
            injected=list(self._injected), logged=dict(self._log.counts) if self._log is not None else {},
            first=ticks[0] if ticks else None, last=ticks[-1] if ticks else None)

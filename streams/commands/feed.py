"""``mercado feed ccxt | twelvedata``: one live feed per process, an exactly-once producer of input events."""

from __future__ import annotations

import asyncio

import typer

from streams.commands.app import fail
from streams.config import Settings, get_settings

feed_app = typer.Typer(
    help="Live feeds: venue data into the input topics (one process per feed; SIGTERM stops it cleanly).",
    no_args_is_help=True,
)


def _run(settings: Settings, adapter: object, feed_id: str, recover_keys: list[str] | None = None,
         commands: bool = False) -> None:
    from streams.feeds.runner import FeedRunner
    from streams.feeds.writer import FeedWriter
    from streams.observability.logs import configure_logging
    from streams.observability.metrics import try_serve_metrics

    configure_logging()
    try_serve_metrics("feed", settings)
    feed_commands = None
    if commands:  # the feed acts on its commands (feeds.commands.v1): their offsets go in its transactions
        from streams.feeds.commands import TOPICS_WRITTEN, FeedCommands

        feed_commands = FeedCommands(adapter, settings)  # type: ignore[arg-type]
        consumer = feed_commands.open()
        writer = FeedWriter(settings, feed_id, topics_written=TOPICS_WRITTEN,
                            group_metadata=consumer.consumer_group_metadata())
    else:
        writer = FeedWriter(settings, feed_id)
    if recover_keys:  # a restart: what this feed already wrote is not written again
        recent = writer.recent_trades(recover_keys, tail=settings.feeds.dedup_window)
        adapter.remember(recent)  # type: ignore[attr-defined]
    runner = FeedRunner(adapter, writer, settings)  # type: ignore[arg-type]
    if feed_commands is None:
        asyncio.run(runner.run())
    else:
        from streams.feeds.commands import run_with_commands

        asyncio.run(run_with_commands(runner, feed_commands))


@feed_app.command("ccxt")
def ccxt_feed(
    exchange: str = typer.Argument(..., help="ccxt's exchange id: binance, kraken, coinbaseexchange, …"),
    symbols: list[str] = typer.Option(..., "--symbol", "-s", help="Unified symbols (BTC/USDT); repeat for more."),
    venue: str | None = typer.Option(None, "--venue", help="Venue name in the events (default: the exchange id)."),
    api_url: str | None = typer.Option(None, "--api-url", help="Base URL replacing every REST entry of the "
                                       "exchange's urls['api'] (a proxy, a testnet, a local server)."),
    transport: str = typer.Option("auto", "--transport", help="ws: ccxt.pro's WebSocket trades and top of book; "
                                  "rest: polling fetch_trades; auto: ws where ccxt.pro has the exchange, unless "
                                  "--api-url is given without --ws-url."),
    ws_url: str | None = typer.Option(None, "--ws-url", help="URL replacing every WebSocket entry of the "
                                      "exchange's urls['api']['ws'] (ws transport)."),
    book: bool = typer.Option(True, "--book/--no-book", help="ws transport: top-of-book ticks (bid/ask) too."),
) -> None:
    """Trades (and, over WebSocket, top of book) of an exchange through ccxt, as PriceTicks; heartbeats, health
    and latency probes. Credentials: MERCADO_FEED_<EXCHANGE>_API_KEY / _SECRET (or *_FILE); public data needs
    none."""
    from streams.feeds.ccxt_feed import CcxtTradesFeed
    from streams.feeds.ccxt_ws import CcxtWsFeed, ws_exchanges

    settings = get_settings()
    venue = venue or exchange
    if transport not in ("auto", "ws", "rest"):
        raise fail(f"--transport must be auto, ws or rest, not {transport!r}")
    if transport == "auto":
        transport = "ws" if exchange in ws_exchanges() and (ws_url or not api_url) else "rest"
    try:
        settings.marketdata.check_venues({venue: (f"mercado feed ccxt {exchange}", tuple(symbols))})
        feeds = settings.feeds
        adapter: CcxtTradesFeed | CcxtWsFeed
        if transport == "ws":
            adapter = CcxtWsFeed(exchange, symbols, api_url=api_url, ws_url=ws_url, venue=venue, book=book,
                                 timeout_s=feeds.request_timeout_s, dedup_window=feeds.dedup_window)
        else:
            adapter = CcxtTradesFeed(exchange, symbols, api_url=api_url, venue=venue,
                                     poll_interval_s=feeds.poll_interval_s, timeout_s=feeds.request_timeout_s,
                                     dedup_window=feeds.dedup_window)
    except ValueError as exc:
        raise fail(str(exc)) from None
    _run(settings, adapter, adapter.feed_id, [f"{venue}:{s}" for s in symbols])


@feed_app.command("twelvedata")
def twelvedata_feed(
    symbols: list[str] = typer.Option(..., "--symbol", "-s", help="TwelveData symbols (USD/COP); repeat for more."),
    ws_url: str | None = typer.Option(None, "--ws-url", help="WebSocket URL (default: TwelveData's)."),
    rest_url: str | None = typer.Option(None, "--rest-url", help="REST base URL of backfills (default: TwelveData's)."),
) -> None:
    """Quotes from TwelveData's WebSocket during the symbols' market hours, holes backfilled over REST; acts on
    its backfill requests (REQUEST_BACKFILL on feeds.commands.v1, POST /api/v1/commands/feeds/backfill).
    The API key: MERCADO_FEED_TWELVEDATA_API_KEY (or MERCADO_FEED_TWELVEDATA_API_KEY_FILE)."""
    from processors.marketdata.calendars import CalendarBook
    from streams.feeds import twelvedata

    settings = get_settings()
    try:
        adapter = twelvedata.TwelveDataQuotes(
            symbols, CalendarBook(settings.marketdata), ws_url=ws_url or twelvedata.WS_URL,
            rest_url=rest_url or twelvedata.REST_URL, closed_check_s=settings.feeds.closed_check_s,
            timeout_s=settings.feeds.request_timeout_s, dedup_window=settings.feeds.dedup_window)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if adapter.key is None and ws_url is None:
        raise fail("TwelveData needs an API key: set MERCADO_FEED_TWELVEDATA_API_KEY or …_API_KEY_FILE")
    _run(settings, adapter, adapter.feed_id, [f"{adapter.venue}:{s}" for s in symbols], commands=True)

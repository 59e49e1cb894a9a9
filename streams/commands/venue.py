"""``mercado venue ccxt``: approved orders to an exchange through ccxt, their lifecycle events back."""

from __future__ import annotations

import asyncio

import typer

from streams.commands.app import fail
from streams.config import get_settings

venue_app = typer.Typer(
    help="Execution venues: approved orders (risk.order-decisions.v1) out, order lifecycle events in "
    "(trading.orders.v1). One process per venue; SIGTERM stops it cleanly.",
    no_args_is_help=True,
)


@venue_app.command("ccxt")
def ccxt_venue(
    exchange: str = typer.Option(..., "--exchange", "-x", help="ccxt's exchange id: binance, kraken, …"),
    venue: str | None = typer.Option(None, "--venue", help="Venue name in the events (default: the exchange id)."),
    api_url: str | None = typer.Option(None, "--api-url", help="Base URL replacing every entry of the exchange's "
                                       "urls['api'] (a testnet, a proxy, a local server)."),
    cancel_on_shutdown: bool = typer.Option(False, "--cancel-on-shutdown", help="Cancel the open orders on SIGTERM."),
    from_beginning: bool = typer.Option(False, "--from-beginning", help="A venue without committed progress starts "
                                        "at the first decision kept (default: only decisions from now on)."),
) -> None:
    """Places the OrderApproved decisions of the venue through ccxt; writes OrderAccepted / OrderFilled /
    OrderCanceled / OrderRejected and failed requests as VenueHealth(probe='order'). Credentials:
    MERCADO_VENUE_<EXCHANGE>_API_KEY / _SECRET / _PASSWORD (or *_FILE), never on the command line."""
    from streams.execution.ccxt_venue import CcxtExecution, ExecutionRunner
    from streams.feeds.core import Backoff
    from streams.observability.logs import configure_logging

    settings = get_settings()
    feeds = settings.feeds
    configure_logging()
    try:
        adapter = CcxtExecution(exchange, venue=venue, api_url=api_url, timeout_s=feeds.request_timeout_s,
                                backoff=Backoff(feeds.backoff_initial_s, feeds.backoff_max_s))
    except ValueError as exc:
        raise fail(str(exc)) from None
    asyncio.run(ExecutionRunner(adapter, settings, cancel_on_shutdown=cancel_on_shutdown,
                                from_beginning=from_beginning, recover_tail=feeds.dedup_window).run())

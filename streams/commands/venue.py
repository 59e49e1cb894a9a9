"""``mercado venue``: execution venues for the risk gate's approved orders — ``ccxt`` (an exchange through
ccxt) and ``paper`` (approved orders filled against the live or replayed tick stream)."""

from __future__ import annotations

import asyncio
import os
import sys

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


@venue_app.command("paper")
def paper(
    latency_ms: float | None = typer.Option(None, "--latency-ms", help="Approval to venue, event time "
                                            "(default: MERCADO_PAPER__LATENCY_MS, else 50)."),
    maker_bps: str | None = typer.Option(None, "--maker-bps", help="Maker fee in bps (default 1)."),
    taker_bps: str | None = typer.Option(None, "--taker-bps", help="Taker fee in bps (default 5)."),
    max_fill: str | None = typer.Option(None, "--max-fill", help="Base quantity a tick offers per side "
                                        "(default: unlimited)."),
    time_in_force_s: float | None = typer.Option(None, "--time-in-force-s", help="Cancel what is unfilled "
                                                 "this long after arrival (default 300)."),
) -> None:
    """Fill the risk gate's approved orders (risk.order-decisions.v1) against the live or replayed ticks
    (md.ticks.v1) with a latency, fees and partial fills; write the order lifecycle to trading.orders.v1,
    where the risk pipeline books it. Exactly-once, like `mercado worker --pipeline venue-paper`, which it is."""
    from pydantic import ValidationError

    from streams.engines.native import WorkerFailed, run_native_worker
    from streams.observability.logs import configure_logging

    settings = get_settings()
    changes: dict[str, object] = {}
    if latency_ms is not None:
        changes["paper__latency_ms"] = latency_ms
    if max_fill is not None:
        changes["paper__max_fill_quantity"] = max_fill
    if time_in_force_s is not None:
        changes["paper__time_in_force_s"] = time_in_force_s
    if maker_bps is not None or taker_bps is not None:
        fees = settings.paper.fees.model_dump()
        fees.update({k: v for k, v in (("maker_bps", maker_bps), ("taker_bps", taker_bps)) if v is not None})
        changes["paper__fees"] = fees
    try:
        settings = settings.with_(changes) if changes else settings
    except ValidationError as exc:
        raise fail(str(exc)) from None
    configure_logging()
    try:
        run_native_worker(settings, "venue-paper")
    except WorkerFailed as exc:
        fail(str(exc))
        sys.stderr.flush()
        os._exit(1)  # as `mercado worker`: a librdkafka client may still be blocked

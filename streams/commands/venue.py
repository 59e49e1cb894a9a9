"""``mercado venue paper``: the paper venue, live — approved orders filled against the tick stream."""

from __future__ import annotations

import os
import sys

import typer

from streams.commands.app import fail
from streams.config import get_settings

venue_app = typer.Typer(help="Execution venues for the risk gate's approved orders.", no_args_is_help=True)


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

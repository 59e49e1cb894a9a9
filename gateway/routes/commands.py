"""Commands: ``POST /api/v1/commands/...`` (the command role) writes one ``Command`` event per
``Idempotency-Key`` to its owner's command topic (gateway/commands.py); the owner decides and emits a
``CommandResult`` (processors/commands.py). ``GET /api/v1/commands`` and ``/commands/{key}`` (the read
role) show the command log — who asked what, when — with each command's result once its owner decided.

A new command is answered 202 with status PENDING; the same key and body again is answered 200 with the
first command and its result so far (nothing written); the same key with another body is 409.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import Principal, Role, requires
from gateway.commands import Commands
from gateway.models import Page
from gateway.params import NAME, SYMBOL, Paging, paging
from processors import commands as cmd

router = APIRouter(prefix="/commands", tags=["commands"])

KEY = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
BREAKER = r"^(LATENCY|ERROR_RATE|SPREAD|VOLATILITY|DRAWDOWN):[A-Za-z0-9][A-Za-z0-9_.@:/-]{0,127}$"
#: a client order id to cancel: also those the gateway made (cmd-<Idempotency-Key>, close-<Idempotency-Key>)
CLIENT_ORDER_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
DECIMAL = r"^[0-9]{1,16}(\.[0-9]{1,12})?$"
IdempotencyKey = Annotated[str, Header(
    alias="Idempotency-Key", pattern=KEY,
    description="Names the command: a repeated request with the same key has no second effect.")]
Commander = Annotated[Principal, Depends(requires(Role.command))]
Kind = Literal["SET_RISK_MODE", "RESET_BREAKER", "SUBMIT_ORDER", "CLOSE_POSITION", "RUN_DAILY_JOB",
               "PERSIST_SCANNER_BOARD", "CANCEL_ORDER", "REQUEST_BACKFILL"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RiskMode(_Body):
    venue: str = Field(pattern=NAME, description="The venue, e.g. binance.")
    account: str | None = Field(default=None, pattern=NAME, description="One account (default: the whole venue).")
    mode: Literal["ACTIVE", "REDUCING", "HALTED"] = Field(
        description="HALTED or REDUCING restrict trading on top of the breakers; ACTIVE removes the override.")


class BreakerReset(_Body):
    venue: str = Field(pattern=NAME)
    breaker: str = Field(pattern=BREAKER, description="KIND:scope, e.g. LATENCY:binance or DRAWDOWN:mm-1@binance.")


class OrderRequest(_Body):
    venue: str = Field(pattern=NAME)
    account: str = Field(pattern=NAME)
    symbol: str = Field(pattern=SYMBOL)
    side: Literal["BUY", "SELL"]
    order_type: Literal["LIMIT", "MARKET"] = "LIMIT"
    quantity: str = Field(pattern=DECIMAL, description="Base units, a decimal as text (e.g. \"0.5\").")
    price: str | None = Field(default=None, pattern=DECIMAL, description="Limit price (LIMIT orders only).")
    client_order_id: str | None = Field(default=None, pattern=NAME, description="Default: cmd-<Idempotency-Key>.")


class ClosePosition(_Body):
    venue: str = Field(pattern=NAME)
    account: str = Field(pattern=NAME)
    symbol: str = Field(pattern=SYMBOL)


class CancelOrder(_Body):
    venue: str = Field(pattern=NAME)
    account: str = Field(pattern=NAME)
    client_order_id: str = Field(pattern=CLIENT_ORDER_ID, description="The order's client order id (as approved).")


class DailyJobRun(_Body):
    run_date: dt.date = Field(description="The date to run the daily recommendations for (YYYY-MM-DD).")


class ScannerPersist(_Body):
    scanner: str = Field(pattern=NAME, description="The scanner whose board to persist now.")


class BackfillRequest(_Body):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    venue: str = Field(pattern=NAME, description="The feed's venue, e.g. twelvedata.")
    symbol: str = Field(pattern=SYMBOL, description="A symbol the feed serves, e.g. USD/COP.")
    start: dt.datetime = Field(alias="from", description="Start of the range (ISO-8601; UTC without an offset).")
    end: dt.datetime = Field(alias="to", description=f"End of the range, excluded; the range is widened to whole "
                             f"minutes, at most {cmd.BACKFILL_MAX_MINUTES} of them, and must be over.")


class CommandStatus(BaseModel):
    """A command (from the command log) and its owner's decision once made."""

    idempotency_key: str
    kind: str
    owner: str
    target: str
    actor: str = Field(description="The API key's name.")
    issued_at: dt.datetime = Field(description="When the gateway received it: the command's event time.")
    params: dict[str, str]
    status: Literal["PENDING", "ACCEPTED", "REJECTED"]
    reason: str | None = None
    message: str | None = None
    caused: list[str] = Field(default_factory=list, description="event_id of every event the command caused.")
    decided_at: dt.datetime | None = None


STATUS_SQL = """
SELECT c.idempotency_key, c.kind, c.owner, c.target, c.actor, c.event_time AS issued_at, c.params,
       COALESCE(r.status, 'PENDING') AS status, r.reason, r.message, COALESCE(r.caused, '[]'::jsonb) AS caused,
       r.event_time AS decided_at
FROM commands c LEFT JOIN command_results r USING (idempotency_key)
"""
ONE_SQL = STATUS_SQL + "WHERE c.idempotency_key = $1"
LIST_SQL = STATUS_SQL + """
WHERE ($1::text IS NULL OR c.kind = $1) AND ($2::text IS NULL OR c.actor = $2) AND ($3::text IS NULL OR c.target = $3)
ORDER BY c.event_time DESC, c.idempotency_key LIMIT $4 OFFSET $5
"""


def _service(request: Request) -> Commands:
    service = getattr(request.app.state, "commands", None)
    if service is None:
        service = request.app.state.commands = Commands(request.app.state.settings)
    return service


async def _issue(request: Request, response: Response, key: str, who: Principal, kind: str, target: str,
                 params: dict[str, Any], owner: str = cmd.RISK) -> dict:
    clean = {k: str(v) for k, v in sorted(params.items()) if v is not None}
    issued = await _service(request).issue(key, who.name, kind, owner, target, clean)
    if issued.new:
        response.status_code = 202
        c = issued.command
        return {"idempotency_key": key, "kind": kind, "owner": c["owner"], "target": target, "actor": c["actor"],
                "issued_at": cmd_time(c["event_time"]), "params": clean, "status": "PENDING"}
    response.status_code = 200
    row = await request.app.state.db.fetchrow(ONE_SQL, key)
    return dict(row) if row is not None else {**issued.command, "issued_at": issued.command["event_time"],
                                              "status": "PENDING"}


def cmd_time(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the same request was made before with this key: its command and result so far"},
    202: {"description": "the command was written; its owner decides (GET /commands/{key})"},
    409: {"description": "the Idempotency-Key was used for another request"},
    503: {"description": "Kafka or PostgreSQL unavailable: nothing was written"},
}


@router.post("/risk/mode", response_model=CommandStatus, status_code=202, responses=RESPONSES)
async def set_risk_mode(body: RiskMode, request: Request, response: Response, key: IdempotencyKey,
                        who: Commander) -> dict:
    """Set the risk mode of a venue or one account (SET_RISK_MODE): HALTED / REDUCING on top of the
    breakers (the more restrictive wins), ACTIVE removes the override."""
    return await _issue(request, response, key, who, cmd.SET_RISK_MODE, body.venue,
                        {"mode": body.mode, "account": body.account})


@router.post("/risk/breaker-reset", response_model=CommandStatus, status_code=202, responses=RESPONSES)
async def reset_breaker(body: BreakerReset, request: Request, response: Response, key: IdempotencyKey,
                        who: Commander) -> dict:
    """Reset a tripped circuit breaker to CLOSED (RESET_BREAKER); rejected when it is not tripped."""
    return await _issue(request, response, key, who, cmd.RESET_BREAKER, body.venue, {"breaker": body.breaker})


@router.post("/risk/orders", response_model=CommandStatus, status_code=202, responses=RESPONSES)
async def submit_order(body: OrderRequest, request: Request, response: Response, key: IdempotencyKey,
                       who: Commander) -> dict:
    """Submit an order (SUBMIT_ORDER): the risk gate decides as for any order; its decision is the result."""
    if (body.order_type == "LIMIT") != (body.price is not None):
        raise HTTPException(400, "price: a LIMIT order needs a price, a MARKET order takes none")
    if Decimal(body.quantity) <= 0 or (body.price is not None and Decimal(body.price) <= 0):
        raise HTTPException(400, "quantity and price must be positive")
    return await _issue(request, response, key, who, cmd.SUBMIT_ORDER, body.venue,
                        body.model_dump(exclude={"venue"}))


@router.post("/risk/close-position", response_model=CommandStatus, status_code=202, responses=RESPONSES)
async def close_position(body: ClosePosition, request: Request, response: Response, key: IdempotencyKey,
                         who: Commander) -> dict:
    """Close a position (CLOSE_POSITION): a reduce-only MARKET order for the opposite quantity, through
    the risk gate."""
    return await _issue(request, response, key, who, cmd.CLOSE_POSITION, body.venue,
                        {"account": body.account, "symbol": body.symbol})


@router.post("/risk/cancel-order", response_model=CommandStatus, status_code=202, responses=RESPONSES)
async def cancel_order(body: CancelOrder, request: Request, response: Response, key: IdempotencyKey,
                       who: Commander) -> dict:
    """Cancel an open order (CANCEL_ORDER): the risk pipeline asks the order's venue to cancel what is
    unfilled (OrderCanceled, reason USER); rejected when the order is not open (unknown or already final)."""
    return await _issue(request, response, key, who, cmd.CANCEL_ORDER, body.venue,
                        {"account": body.account, "client_order_id": body.client_order_id})


@router.post("/recommendations/run", response_model=CommandStatus, status_code=202, responses=RESPONSES)
async def run_daily_job(body: DailyJobRun, request: Request, response: Response, key: IdempotencyKey,
                        who: Commander) -> dict:
    """Run the daily recommendations for a date (RUN_DAILY_JOB): the pipeline turns it into the date's
    JobRequested (as `mercado recommend run`); rejected when it is not a trading day or its cutoff has not
    come yet at the command's time."""
    job = request.app.state.settings.recommendations.job
    return await _issue(request, response, key, who, cmd.RUN_DAILY_JOB, job, {"run_date": body.run_date.isoformat()},
                        owner=cmd.RECOMMENDATIONS)


@router.post("/scanner/persist", response_model=CommandStatus, status_code=202, responses=RESPONSES)
async def persist_scanner_board(body: ScannerPersist, request: Request, response: Response, key: IdempotencyKey,
                                who: Commander) -> dict:
    """Persist a scanner's board now (PERSIST_SCANNER_BOARD): its top N per category to scanner.top.v1,
    trigger manual, as of the command's time; rejected when the board is empty."""
    return await _issue(request, response, key, who, cmd.PERSIST_SCANNER_BOARD, body.scanner, {},
                        owner=cmd.SCANNER)


@router.post("/feeds/backfill", response_model=CommandStatus, status_code=202, responses={
    **RESPONSES, 409: {"description": "the Idempotency-Key was used for another request, or no feed serves the venue"}})
async def request_backfill(body: BackfillRequest, request: Request, response: Response, key: IdempotencyKey,
                           who: Commander) -> dict:
    """Backfill a symbol's range from the feed's REST source (REQUEST_BACKFILL): the quote feed of the venue
    fetches its one-minute bars and writes them as replacement ticks and a BackfillComplete (ticks already
    written are not written again); rejected when the feed does not serve the symbol, or the source has no
    bars for the range. 409 at once when no feed serves the venue (none announced it on feeds.served.v1)."""
    utc = [(t if t.tzinfo else t.replace(tzinfo=dt.UTC)).astimezone(dt.UTC) for t in (body.start, body.end)]
    params = {"symbol": body.symbol, "from": utc[0].isoformat(), "to": utc[1].isoformat()}
    try:
        cmd.backfill_request(params)
    except cmd.BadParameter as exc:
        raise HTTPException(400, str(exc)) from None
    if await _service(request).served(body.venue) is None:  # no owner would ever decide: say so now
        raise HTTPException(409, f"no feed serves venue {body.venue!r}: a feed that takes commands (`mercado feed "
                            "twelvedata`) announces its venue on feeds.served.v1 when it starts; nothing was written")
    return await _issue(request, response, key, who, cmd.REQUEST_BACKFILL, body.venue, params, owner=cmd.FEEDS)


reads = APIRouter(prefix="/commands", tags=["commands"])


@reads.get("", response_model=Page[CommandStatus])
async def list_commands(
    request: Request,
    kind: Annotated[Kind | None, Query(description="Only this kind.")] = None,
    actor: Annotated[str | None, Query(pattern=NAME, description="Only this API key's commands.")] = None,
    target: Annotated[str | None, Query(pattern=NAME, description="Only commands to this target (venue, job).")] = None,
    page: Paging = Depends(paging),
) -> dict:
    """The command log, newest first: who asked what, when, and the owner's decision."""
    rows = await request.app.state.db.fetch(LIST_SQL, kind, actor, target, page.limit + 1, page.offset)
    return page.page(rows)


@reads.get("/{idempotency_key}", response_model=CommandStatus, responses={404: {"description": "no such command"}})
async def get_command(request: Request, idempotency_key: Annotated[str, Path(pattern=KEY)]) -> dict:
    """One command by its Idempotency-Key: PENDING until its owner decides, then ACCEPTED or REJECTED."""
    row = await request.app.state.db.fetchrow(ONE_SQL, idempotency_key)
    if row is None:
        raise HTTPException(404, f"no command {idempotency_key!r}")
    return dict(row)


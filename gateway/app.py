"""The FastAPI application: ``/api/v1`` routers, API-key roles, CORS allow-list, OpenAPI at ``/docs``.

``create_app(settings)`` builds one; the lifespan opens the PostgreSQL pool (lazily connecting) and the
push hub, and closes them. Every error a client can cause is a 4xx with a ``detail``; an unexpected
exception is logged and answered 500 without its text (so no secret or SQL ever reaches a client).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

import gateway.routes.recommendations as recommendations
from gateway.auth import KeyStore, Role, requires
from gateway.db import Database, create_pool
from gateway.models import Problem
from gateway.routes import commands as command_routes
from gateway.routes import marketdata, retail, risk, scanner, system
from gateway.settings import GatewaySettings
from streams.runtime.heap import freeze_heap

PREFIX = "/api/v1"
log = logging.getLogger("mercado.api")

ERRORS = {
    400: {"model": Problem, "description": "a parameter is wrong (the detail says which and why)"},
    401: {"model": Problem, "description": "no API key, an unknown one or an expired one"},
    403: {"model": Problem, "description": "the API key lacks the role"},
    503: {"model": Problem, "description": "PostgreSQL is unavailable or not migrated"},
}


def create_app(settings: GatewaySettings, *, push: bool = True) -> FastAPI:
    """The API over ``settings``' database and Kafka; ``push=False`` leaves the WebSocket hub out (no Kafka
    consumer: the read-only tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(settings)
        app.state.db = Database(pool, settings.db.schema_name)
        hub = None
        if push:
            from gateway.push import PushHub

            hub = app.state.hub = PushHub(settings)
            hub.db = app.state.db
            await hub.start()
        if settings.gateway.gc_freeze:
            # the startup heap (modules, app, settings, pools) out of full collections, whose pauses stopped
            # every client's push for 0.1-1.4 s under load (bench.gateway); off by default (see the setting)
            freeze_heap()
        try:
            yield
        finally:
            if hub is not None:
                await hub.stop()
            if getattr(app.state, "commands", None) is not None:
                await app.state.commands.close()
            await pool.close()

    app = FastAPI(
        title="Mercado API",
        version=system.package_version(),
        description="Reads over every pipeline's materialized views, and live push (`/api/v1/ws`). "
        "Send an API key as `Authorization: Bearer <key>`.",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.keys = KeyStore(settings.gateway)
    if settings.gateway.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.gateway.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    reader = [Depends(requires(Role.read))]
    app.include_router(system.ping_router, prefix=PREFIX)
    for router in (system.router, marketdata.router, retail.router, risk.router, risk.alerts_router, scanner.router):
        app.include_router(router, prefix=PREFIX, dependencies=reader, responses=ERRORS)
    app.include_router(recommendations.router, prefix=PREFIX, dependencies=reader, responses=ERRORS)
    app.include_router(command_routes.reads, prefix=PREFIX, dependencies=reader, responses=ERRORS)
    app.include_router(command_routes.router, prefix=PREFIX, responses=ERRORS)  # each POST requires the command role
    if push:
        from gateway.push import router as push_router

        app.include_router(push_router, prefix=PREFIX)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error (logged)"}, status_code=500)

    return app

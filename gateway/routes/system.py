"""System: ``ping`` (no key: for load balancers), ``health`` and ``version``."""

from __future__ import annotations

import datetime as dt
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.health import health
from gateway.models import Health, Ping, Version
from streams.runtime.pipelines import PIPELINES

router = APIRouter(prefix="/system", tags=["system"])
API_VERSION = "v1"


def package_version() -> str:
    try:
        return version("mercado")
    except PackageNotFoundError:  # a source tree that is not installed
        return "0+unknown"


@router.get("/health", response_model=Health, responses={503: {"model": Health, "description": "not healthy"}})
async def system_health(request: Request) -> JSONResponse | dict:
    """Kafka and PostgreSQL reachable; each pipeline's worker group and the sink with their lag; every
    sink table's row count and freshness. 503 (same body) when Kafka or PostgreSQL is unreachable."""
    body = await health(request.app.state.settings, request.app.state.db)
    if not body["ok"]:
        return JSONResponse(Health.model_validate(body).model_dump(mode="json"), status_code=503)
    return body


@router.get("/version", response_model=Version)
async def system_version() -> dict:
    """The package's version, the API's, the schema registry's record types and the pipelines."""
    from schemas.loader import load_schemas

    return {"name": "mercado", "version": package_version(), "api": API_VERSION, "schemas": len(load_schemas()),
            "pipelines": sorted(PIPELINES)}  # fmt: skip


ping_router = APIRouter(prefix="/system", tags=["system"])


@ping_router.get("/ping", response_model=Ping)
async def ping() -> dict:
    """Alive (no API key needed)."""
    return {"time": dt.datetime.now(dt.UTC)}

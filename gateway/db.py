"""The gateway's PostgreSQL pool (asyncpg) and what its errors mean to a client.

Every read is one parameterized statement (values only ever travel as ``$n`` parameters) in a read-only
transaction, with a statement timeout. The database down or restarting is 503 (retry later), the schema
not migrated 503 saying so; nothing the database says becomes a 500.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from fastapi import HTTPException

from gateway.settings import GatewaySettings
from sinks.database import CONNECT_TIMEOUT_S, describe, is_transient, search_path


async def _init(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
        )


async def create_pool(settings: GatewaySettings) -> asyncpg.Pool:
    """Connections open lazily (``min_size=0``): the API starts, and answers ``health``, without PostgreSQL."""
    return await asyncpg.create_pool(
        settings.dsn(),
        min_size=0,
        max_size=settings.gateway.pool_max,
        timeout=CONNECT_TIMEOUT_S,
        init=_init,
        server_settings={
            "search_path": search_path(settings),
            "TimeZone": "UTC",
            "application_name": "mercado-api",
            "default_transaction_read_only": "on",
            "statement_timeout": str(settings.gateway.statement_timeout_ms),
        },
    )


class Database:
    def __init__(self, pool: asyncpg.Pool, schema: str):
        self.pool = pool
        self.schema = schema

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        try:
            async with self.pool.acquire() as conn:
                return await conn.fetch(sql, *args)
        except asyncpg.UndefinedTableError:
            raise HTTPException(
                503, f"the schema {self.schema!r} is not migrated yet (run `mercado db migrate`)"
            ) from None
        except asyncpg.QueryCanceledError:
            raise HTTPException(503, "the read took longer than the statement timeout; narrow the request") from None
        except asyncpg.DataError as exc:  # a value PostgreSQL refuses (out of its range): the request's fault
            raise HTTPException(400, f"bad parameter value: {describe(exc, detail=False)}") from None
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            if is_transient(exc) or isinstance(exc, asyncpg.InterfaceError | OSError | TimeoutError):
                raise HTTPException(503, "PostgreSQL is unavailable; retry later") from None
            raise HTTPException(503, f"PostgreSQL refused the read: {describe(exc, detail=False)}") from None

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

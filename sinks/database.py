"""Connections to the sink's database and what its errors mean.

Connections resolve unqualified names in the schema ``settings.db.schema_name`` only, so a table missing
there is an error rather than a same-named table of ``public``; migrations also see ``public``, where
the TimescaleDB extension's functions live. Sessions use UTC, so timestamps print the same everywhere
(checksums).
"""

import asyncio

import asyncpg

from streams.config import Settings

CONNECT_TIMEOUT_S = 10.0
ROW_ERROR_CLASSES = frozenset({"22", "23"})  # data exception, integrity constraint violation: the row is bad
TRANSIENT_ERROR_CLASSES = frozenset(
    {
        "08",  # connection exception
        "40",  # transaction rollback (serialization failure, deadlock)
        "53",  # insufficient resources (disk full, too many connections)
        "57",  # operator intervention (admin shutdown, cannot connect now, query canceled)
        "58",  # system error (I/O)
    }
)


def search_path(settings: Settings, *, with_extensions: bool = False) -> str:
    return f"{settings.db.schema_name}, public" if with_extensions else settings.db.schema_name


async def connect(
    settings: Settings, application: str = "mercado-sink", *, with_extensions: bool = False
) -> asyncpg.Connection:
    return await asyncpg.connect(
        settings.dsn(),
        timeout=CONNECT_TIMEOUT_S,
        server_settings={
            "search_path": search_path(settings, with_extensions=with_extensions),
            "TimeZone": "UTC",
            "standard_conforming_strings": "on",
            "application_name": application,
        },
    )


def sqlstate_class(exc: BaseException) -> str:
    return (getattr(exc, "sqlstate", None) or "")[:2]


def is_row_error(exc: BaseException) -> bool:
    """The database rejected a value (constraint, bad value): retrying the same row cannot succeed."""
    return isinstance(exc, asyncpg.PostgresError) and sqlstate_class(exc) in ROW_ERROR_CLASSES


def is_transient(exc: BaseException) -> bool:
    """The database is unreachable, restarting or overloaded: the same write may succeed later."""
    if isinstance(exc, asyncpg.PostgresError):
        return sqlstate_class(exc) in TRANSIENT_ERROR_CLASSES
    return isinstance(exc, OSError | asyncpg.InterfaceError | asyncio.TimeoutError | EOFError)


def describe(exc: BaseException, *, detail: bool = True) -> str:
    """One line naming the SQLSTATE, the message, the constraint or column when known, and the detail.

    Without ``detail`` the text is the same whenever the same value is rejected (the detail quotes the
    whole failing row, ``ingested_at`` included), which keeps dead-letter rows reproducible.
    """
    parts = []
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate:
        parts.append(f"[{sqlstate}]")
    parts.append(type(exc).__name__ + ":")
    parts.append(str(getattr(exc, "message", None) or exc))
    for attribute in ("constraint_name", "column_name", "detail") if detail else ("constraint_name", "column_name"):
        value = getattr(exc, attribute, None)
        if value:
            parts.append(f"({attribute.removesuffix('_name')}: {value})")
    return " ".join(parts)

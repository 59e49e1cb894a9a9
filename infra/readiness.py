"""Waiting until Kafka and PostgreSQL really answer requests (local or external)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from infra.errors import ServiceFailed

_RETRY_PAUSE_S = 0.25
_ATTEMPT_TIMEOUT_S = 2.0


def _always_running() -> bool:
    return True


def wait_for_kafka(
    bootstrap: str,
    timeout_s: float,
    *,
    still_running: Callable[[], bool] = _always_running,
) -> None:
    """Block until a metadata request to ``bootstrap`` lists at least one broker.

    ``still_running`` lets a local launcher fail fast when the broker process died.
    """
    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "log_level": 0,  # connection-refused retries are expected while the broker starts
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 500,
        }
    )
    deadline = time.monotonic() + timeout_s
    last_error = "no answer"
    while True:
        if not still_running():
            raise ServiceFailed("Kafka exited while starting.")
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            raise ServiceFailed(
                f"Kafka at {bootstrap} did not answer within {timeout_s:.0f} s ({last_error})."
            )
        try:
            metadata = admin.list_topics(timeout=min(_ATTEMPT_TIMEOUT_S, max(remaining_s, 0.1)))
        except KafkaException as error:
            last_error = error.args[0].str() if error.args else str(error)
        else:
            if metadata.brokers:
                return
            last_error = "no broker registered yet"
        time.sleep(_RETRY_PAUSE_S)


def wait_for_postgres(dsn: str, timeout_s: float) -> None:
    """Block until ``select 1`` succeeds on ``dsn``."""
    asyncio.run(_wait_for_postgres(dsn, timeout_s))


async def _wait_for_postgres(dsn: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            connection = await asyncpg.connect(dsn, timeout=_ATTEMPT_TIMEOUT_S)
            try:
                await connection.fetchval("select 1")
            finally:
                await connection.close()
            return
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            if time.monotonic() + _RETRY_PAUSE_S >= deadline:
                raise ServiceFailed(
                    f"PostgreSQL did not answer `select 1` within {timeout_s:.0f} s ({error})."
                ) from error
        await asyncio.sleep(_RETRY_PAUSE_S)

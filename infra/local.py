"""What `mercado up | down | status` call: the local Kafka broker and PostgreSQL, or external ones.

A service whose address is configured (``MERCADO_KAFKA_BOOTSTRAP``, ``MERCADO_DATABASE_URL``) is
*external*: it is never started or stopped here, but `up` still waits until it answers.
Every failure is an ``InfraError`` whose message is meant to be printed as is.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from infra.errors import InfraError, MissingDependency, ServiceFailed
from infra.kafka_local import LocalKafka
from infra.postgres_local import LocalPostgres
from infra.processes import port_answers
from infra.readiness import wait_for_kafka, wait_for_postgres
from infra.redaction import without_password
from infra.settings import ServiceSettings
from infra.state_lock import state_lock

__all__ = [
    "InfraError",
    "MissingDependency",
    "ServiceFailed",
    "ServiceState",
    "ServiceStatus",
    "down",
    "status",
    "up",
]

KAFKA = "kafka"
POSTGRES = "postgres"


class ServiceState(StrEnum):
    RUNNING = "running"
    STARTING = "starting"  # the process lives but its port does not answer yet
    STOPPED = "stopped"
    EXTERNAL = "external"


class ServiceStatus(NamedTuple):
    service: str
    state: ServiceState
    address: str
    pid: int | None


def up(settings: ServiceSettings) -> dict[str, str]:
    """Start what is not running yet, wait until both services answer, return how to reach them.

    Idempotent: a broker or cluster of this state folder that already runs is reused.
    """
    timeout_s = settings.local.ready_timeout_s
    with state_lock(settings.local.state_dir):
        kafka = None if settings.kafka_bootstrap else LocalKafka(settings)
        if kafka is not None:
            kafka.ensure_started()  # the JVM boots while PostgreSQL starts below
        if not settings.database_url:
            LocalPostgres(settings).ensure_started()
        if kafka is not None:
            kafka.wait_ready(timeout_s)
        else:
            wait_for_kafka(settings.bootstrap(), timeout_s)
        wait_for_postgres(settings.dsn(), timeout_s)
    return {"kafka_bootstrap": settings.bootstrap(), "database_url": settings.dsn()}


def down(settings: ServiceSettings) -> None:
    """Stop the local services of this state folder; external ones and stopped ones are left alone."""
    with state_lock(settings.local.state_dir):
        if not settings.kafka_bootstrap:
            LocalKafka(settings).stop()
        if not settings.database_url:
            LocalPostgres(settings).stop()


def status(settings: ServiceSettings) -> list[ServiceStatus]:
    """One row per service: its state, its address (passwords hidden) and the pid of a local one."""
    return [_kafka_status(settings), _postgres_status(settings)]


def _kafka_status(settings: ServiceSettings) -> ServiceStatus:
    if settings.kafka_bootstrap:
        return ServiceStatus(KAFKA, ServiceState.EXTERNAL, settings.kafka_bootstrap, None)
    pid = LocalKafka(settings).pid()
    state = _local_state(pid, settings.local.kafka_host, settings.local.kafka_port)
    return ServiceStatus(KAFKA, state, settings.local.kafka_bootstrap, pid)


def _postgres_status(settings: ServiceSettings) -> ServiceStatus:
    if settings.database_url:
        return ServiceStatus(POSTGRES, ServiceState.EXTERNAL, without_password(settings.database_url), None)
    pid = LocalPostgres(settings).pid()
    state = _local_state(pid, settings.local.pg_host, settings.local.pg_port)
    return ServiceStatus(POSTGRES, state, settings.local.database_url, pid)


def _local_state(pid: int | None, host: str, port: int) -> ServiceState:
    if pid is None:
        return ServiceState.STOPPED
    return ServiceState.RUNNING if port_answers(host, port) else ServiceState.STARTING



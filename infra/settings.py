"""The settings of the services Mercado runs on: the local Kafka broker and PostgreSQL cluster that
`mercado up` starts (section ``local``, ``MERCADO_LOCAL__*``), and PostgreSQL's use by the sink and the
queries (section ``db``, ``MERCADO_DB__*``).

infra/ is a leaf: it imports nothing of Mercado's other packages. Its functions take an object with the
attributes of :class:`ServiceSettings` — in practice ``streams.config.Settings``, which `mercado up |
down | status` (``streams/commands``) pass in — and read nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class LocalServices(BaseModel):
    """The local services `mercado up` starts when no external ones are configured."""

    state_dir: Path = Field(default=PROJECT_ROOT / ".mercado", description="Data, logs and jars of the local services.")
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    kafka_heap: str = "-Xms1g -Xmx1g"  # kafka-server-start.sh's default: a fixed heap, no resizing pauses
    pg_host: str = "127.0.0.1"
    pg_port: int = 15432
    pg_user: str = "mercado"
    pg_database: str = "mercado"
    ready_timeout_s: float = 120.0
    java_bin: str = "java"
    mvn_bin: str = "mvn"
    pg_bin_dir: Path | None = Field(
        default=None, description="PostgreSQL server binaries; default: the newest /usr/lib/postgresql/*/bin."
    )
    pg_os_user: str = Field(
        default="mercado-pg", description="System user that runs PostgreSQL when mercado runs as root."
    )

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        return f"postgresql://{self.pg_user}@{self.pg_host}:{self.pg_port}/{self.pg_database}"


class DatabaseSettings(BaseModel):
    """Where and how Mercado's tables live in PostgreSQL/TimescaleDB (the sink, the queries)."""

    schema_name: str = Field(default="mercado", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="PostgreSQL schema.")
    timescaledb: Literal["auto", "require", "off"] = Field(
        default="auto", description="auto: TimescaleDB when the extension is available; require; off: plain tables."
    )
    chunk_interval: str = "7 days"
    compress_after: str = "7 days"
    retention: str | None = Field(default=None, description="e.g. '365 days'; None keeps everything.")


class ServiceSettings(Protocol):
    # External services: when set, nothing local is started or stopped for them.
    @property
    def kafka_bootstrap(self) -> str | None: ...
    @property
    def database_url(self) -> str | None: ...
    @property
    def local(self) -> LocalServices: ...

    def bootstrap(self) -> str:
        """The external broker's address, else the local one's."""
        ...

    def dsn(self) -> str:
        """The external database's URL, else the local cluster's."""
        ...

"""Typed configuration: every setting has a default and a ``MERCADO_*`` environment override."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from processors.admission import AdmissionConfig
from processors.marketdata.config import MarketDataConfig
from processors.retail.config import RetailConfig
from processors.risk.config import RiskConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Process-wide settings. ``MERCADO_KAFKA_BOOTSTRAP=host:9092`` overrides ``kafka_bootstrap``;
    nested pipeline settings use ``__``: ``MERCADO_MARKETDATA__INTERVALS_S=[60,900]``."""

    model_config = SettingsConfigDict(env_prefix="MERCADO_", env_nested_delimiter="__", extra="ignore")

    # External services. When set, `mercado up` starts nothing and uses these.
    kafka_bootstrap: str | None = None
    database_url: str | None = None
    schema_registry_url: str | None = Field(
        default=None, description="Confluent schema registry; when set, producers use the Confluent framing."
    )

    # Local services started by `mercado up` (infra/).
    state_dir: Path = PROJECT_ROOT / ".mercado"
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

    # Pipelines (domain constants; nested overrides such as MERCADO_MARKETDATA__GRACE_S=5).
    # What every door and the runtime refuse (processors/admission.py): MERCADO_ADMISSION__MAX_AHEAD_S=600
    admission: AdmissionConfig = AdmissionConfig()
    marketdata: MarketDataConfig = MarketDataConfig()
    retail: RetailConfig = RetailConfig()
    risk: RiskConfig = RiskConfig()

    # Real product-matching benchmarks (public catalogues with ground truth), read by
    # `python -m bench.matching_real` and the tests that need them; a relative path is resolved against
    # the project root. MERCADO_PRODUCT_MATCHING_DATA=/elsewhere overrides it.
    product_matching_data: Path = Path("../shared/data/product-matching")

    # Prepended to every topic name (and consumer group) this process uses: isolates test runs or
    # tenants on one cluster. Catalog and processors keep the logical names.
    topic_prefix: str = ""

    # Overrides every catalog topic's retention.ms when topics are created (-1: keep forever). Kafka
    # measures retention on message timestamps, which Mercado sets to event time: a day generated for
    # an older date would be deleted as soon as it is written. The demo and the tests use -1.
    topic_retention_ms: int | None = None

    # Live worker: how often the exactly-once transaction commits (outputs become visible then).
    worker_commit_interval_s: float = 0.1
    # Native engine: at the live edge (the last fetch took all the broker had) a transaction that holds
    # outputs commits this long after its first output (0: at once), so downstream read_committed
    # consumers see them within milliseconds; offsets and state alone, and a worker working through a
    # backlog, commit every worker_commit_interval_s (each commit pauses processing for a few ms). 5 ms
    # is one feed producer linger: the bars of every symbol close at the same boundary and their closing
    # ticks arrive within about one linger, so they share one commit instead of the later ones waiting
    # for the first one's commit and then for their own (measured: BENCHMARKS.md, session 7).
    worker_live_commit_interval_s: float = Field(default=0.005, ge=0)
    # Live worker engine: "native" (one confluent-kafka loop, streams/engines/native.py) or "faust"
    # (a faust-streaming app, streams/engines/faust_engine.py). Same topics, group, state and outputs.
    worker_engine: Literal["native", "faust"] = "native"
    # Names this worker's transactional id and static group membership (<group>.<worker_id>): a restarted
    # worker with the same id fences the old one's open transaction and takes its partitions back at
    # once. Workers of one pipeline that run together need different ids.
    worker_id: str = Field(default="0", pattern=r"^[A-Za-z0-9._-]{1,64}$")

    # Prometheus metrics (streams/observability/metrics.py): one default port per process kind.
    metrics_host: str = "127.0.0.1"
    metrics_port_worker: int = 9461
    metrics_port_sink: int = 9462
    metrics_port_produce: int = 9463
    metrics_port_replay: int = 9464

    # PostgreSQL/TimescaleDB sink (sinks/). Tables live in the PostgreSQL schema ``db_schema``.
    db_schema: str = Field(default="mercado", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    db_timescaledb: Literal["auto", "require", "off"] = Field(
        default="auto", description="auto: TimescaleDB when the extension is available; require; off: plain tables."
    )
    timescale_chunk_interval: str = "7 days"
    timescale_compress_after: str = "7 days"
    timescale_retention: str | None = Field(default=None, description="e.g. '365 days'; None keeps everything.")
    sink_group: str = "mercado-sink"
    sink_instance_id: str | None = Field(
        default=None, description="Kafka static group membership: a restarted sink takes its partitions back at once."
    )
    sink_batch_rows: int = Field(default=5000, ge=1)
    sink_batch_ms: int = Field(default=200, ge=1)
    sink_retry_initial_s: float = 0.1
    sink_retry_max_s: float = 10.0
    sink_pause_after_s: float = Field(
        default=1.0, description="Pause the consumer's partitions when a batch write has waited this long."
    )
    sink_shutdown_timeout_s: float = 30.0
    sink_session_timeout_ms: int = 45_000

    # Producer tuning (confluent-kafka / librdkafka).
    # 5 ms is librdkafka's and the Java client's default: at 10,000 ticks/s a batch still holds ~50
    # records, and a tick waits at most 5 ms in the feed (20 ms took half the live latency budget).
    producer_linger_ms: int = 5
    producer_batch_bytes: int = 1_000_000
    producer_compression: str = "lz4"

    @property
    def local_kafka_bootstrap(self) -> str:
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def local_database_url(self) -> str:
        return f"postgresql://{self.pg_user}@{self.pg_host}:{self.pg_port}/{self.pg_database}"

    def topic(self, name: str) -> str:
        """The physical Kafka topic of a logical catalog name."""
        return self.topic_prefix + name

    def bootstrap(self) -> str:
        """The Kafka bootstrap servers in use: the configured ones, else the local broker's."""
        return self.kafka_bootstrap or self.local_kafka_bootstrap

    def dsn(self) -> str:
        """The PostgreSQL DSN in use: the configured one, else the local cluster's."""
        return self.database_url or self.local_database_url


@lru_cache(maxsize=1)
def product_matching_data(settings: Settings | None = None) -> Path:
    """The folder of the real product-matching data sets, resolved against the project root."""
    path = (settings or get_settings()).product_matching_data
    return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()


def get_settings() -> Settings:
    return Settings()

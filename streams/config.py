"""Typed configuration: every setting has a default and a ``MERCADO_*`` environment override.

The settings are split by section, each declared where it is used: ``local`` (the services `mercado up`
starts, ``infra/settings.py``), ``db`` (PostgreSQL's schema and TimescaleDB, ``infra/settings.py``),
``kafka`` (topics and producers, ``streams/kafka/settings.py``), ``worker`` (the live engines,
``streams/engines/settings.py``), ``metrics`` (``streams/observability/settings.py``) and one per pipeline
(``processors/``). The sink adds its own section (``sinks/settings.py``). A section's field is set with
``MERCADO_<SECTION>__<FIELD>``, e.g. ``MERCADO_KAFKA__TOPIC_PREFIX=t1.`` or ``MERCADO_MARKETDATA__GRACE_S=5``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.settings import PROJECT_ROOT, DatabaseSettings, LocalServices
from processors.admission import AdmissionConfig
from processors.marketdata.config import MarketDataConfig
from processors.recommendations.config import RecommendationsConfig
from processors.retail.config import RetailConfig
from processors.risk.config import RiskConfig
from processors.scanner.config import ScannerConfig
from processors.venue.config import PaperVenueConfig
from streams.engines.settings import WorkerSettings
from streams.feeds.settings import FeedSettings
from streams.kafka.settings import KafkaSettings
from streams.observability.settings import MetricsSettings

__all__ = ["PROJECT_ROOT", "RENAMED_VARIABLES", "Settings", "get_settings", "product_matching_data"]

# Environment variables of the flat settings before they were split by section: setting one is an
# error that names its new name (silently ignoring it would run with the default).
RENAMED_VARIABLES = {
    **{f"MERCADO_{name.upper()}": f"MERCADO_LOCAL__{name.upper()}" for name in LocalServices.model_fields},
    **{f"MERCADO_{name.upper()}": f"MERCADO_KAFKA__{name.upper()}" for name in KafkaSettings.model_fields},
    **{f"MERCADO_WORKER_{name.upper()}": f"MERCADO_WORKER__{name.upper()}" for name in WorkerSettings.model_fields},
    **{f"MERCADO_METRICS_{name.upper()}": f"MERCADO_METRICS__{name.upper()}" for name in MetricsSettings.model_fields},
    "MERCADO_DB_SCHEMA": "MERCADO_DB__SCHEMA_NAME",
    "MERCADO_DB_TIMESCALEDB": "MERCADO_DB__TIMESCALEDB",
    "MERCADO_TIMESCALE_CHUNK_INTERVAL": "MERCADO_DB__CHUNK_INTERVAL",
    "MERCADO_TIMESCALE_COMPRESS_AFTER": "MERCADO_DB__COMPRESS_AFTER",
    "MERCADO_TIMESCALE_RETENTION": "MERCADO_DB__RETENTION",
    **{
        f"MERCADO_NOTIFY_{name}": f"MERCADO_NOTIFY__{name}"
        for name in ("TOPICS", "GROUP", "WEBHOOK_URLS", "TELEGRAM_TOKEN", "TELEGRAM_CHAT_ID", "TELEGRAM_BASE_URL",
                     "MIN_LEVEL", "DELIVERY_LOG", "HTTP_TIMEOUT_S", "RETRY_INITIAL_S", "RETRY_MAX_S", "MAX_PENDING",
                     "COMMIT_INTERVAL_S")
    },
    **{
        f"MERCADO_SINK_{name}": f"MERCADO_SINK__{name}"
        for name in ("GROUP", "INSTANCE_ID", "BATCH_ROWS", "BATCH_MS", "RETRY_INITIAL_S", "RETRY_MAX_S",
                     "PAUSE_AFTER_S", "SHUTDOWN_TIMEOUT_S", "SESSION_TIMEOUT_MS")
    },
}


class Settings(BaseSettings):
    """Process-wide settings. ``MERCADO_KAFKA_BOOTSTRAP=host:9092`` and ``MERCADO_DATABASE_URL`` name
    external services; the sections use ``__``: ``MERCADO_MARKETDATA__INTERVALS_S=[60,900]``."""

    model_config = SettingsConfigDict(env_prefix="MERCADO_", env_nested_delimiter="__", extra="ignore")

    # External services. When set, `mercado up` starts nothing and uses these.
    kafka_bootstrap: str | None = None
    database_url: str | None = None

    # Real product-matching benchmarks (public catalogues with ground truth), read by
    # `python -m bench.matching_real` and the tests that need them; a relative path is resolved against
    # the project root. MERCADO_PRODUCT_MATCHING_DATA=/elsewhere overrides it.
    product_matching_data: Path = Path("../shared/data/product-matching")

    local: LocalServices = Field(default_factory=LocalServices)
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    feeds: FeedSettings = Field(default_factory=FeedSettings)  # mercado feed (streams/feeds/)

    # Pipelines (domain constants; nested overrides such as MERCADO_MARKETDATA__GRACE_S=5).
    # What every door and the runtime refuse (processors/admission.py): MERCADO_ADMISSION__MAX_AHEAD_S=600
    admission: AdmissionConfig = AdmissionConfig()
    marketdata: MarketDataConfig = MarketDataConfig()
    retail: RetailConfig = RetailConfig()
    risk: RiskConfig = RiskConfig()
    scanner: ScannerConfig = ScannerConfig()
    recommendations: RecommendationsConfig = RecommendationsConfig()
    paper: PaperVenueConfig = PaperVenueConfig()  # mercado venue paper: MERCADO_PAPER__LATENCY_MS=120

    @model_validator(mode="before")
    @classmethod
    def _no_renamed_variables(cls, values: Any) -> Any:
        renamed = sorted(f"{old} (now {new})" for old, new in RENAMED_VARIABLES.items() if old in os.environ)
        if renamed:
            raise ValueError("settings were split by section; rename: " + ", ".join(renamed))
        return values

    def with_(self, changes: Mapping[str, Any] | None = None, /, **more: Any) -> Self:
        """A copy with some fields changed; a section's field is ``section__field`` as in the
        environment variables: ``settings.with_(kafka__topic_prefix="t1.", database_url=url)``."""
        top: dict[str, Any] = {}
        sections: dict[str, dict[str, Any]] = {}
        for name, value in {**(changes or {}), **more}.items():
            section, sep, field = name.partition("__")
            if sep:
                if not isinstance(getattr(self, section, None), BaseModel):
                    raise KeyError(f"no settings section {section!r}")
                sections.setdefault(section, {})[field] = value
            elif name in type(self).model_fields:
                top[name] = value
            else:
                raise KeyError(f"no setting {name!r}")
        for section, fields in sections.items():
            current: BaseModel = getattr(self, section)
            unknown = set(fields) - set(type(current).model_fields)
            if unknown:
                raise KeyError(f"no setting {section}__{sorted(unknown)[0]}")
            top[section] = current.model_copy(update=fields)
        return self.model_copy(update=top)

    def topic(self, name: str) -> str:
        """The physical Kafka topic of a logical catalog name."""
        return self.kafka.topic_prefix + name

    def bootstrap(self) -> str:
        """The Kafka bootstrap servers in use: the configured ones, else the local broker's."""
        return self.kafka_bootstrap or self.local.kafka_bootstrap

    def dsn(self) -> str:
        """The PostgreSQL DSN in use: the configured one, else the local cluster's."""
        return self.database_url or self.local.database_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def product_matching_data(settings: Settings | None = None) -> Path:
    """The folder of the real product-matching data sets, resolved against the project root."""
    path = (settings or get_settings()).product_matching_data
    return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()

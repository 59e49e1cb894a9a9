"""The sink's own section of the settings (``sink``, ``MERCADO_SINK__*``), and the settings of a sink
process: the process-wide settings (``streams/config.py``) with that section added."""

from __future__ import annotations

from functools import lru_cache
from typing import Self

from pydantic import BaseModel, Field

from streams.config import Settings


class SinkSection(BaseModel):
    group: str = "mercado-sink"
    instance_id: str | None = Field(
        default=None, description="Kafka static group membership: a restarted sink takes its partitions back at once."
    )
    batch_rows: int = Field(default=5000, ge=1)
    batch_ms: int = Field(default=200, ge=1)
    retry_initial_s: float = 0.1
    retry_max_s: float = 10.0
    pause_after_s: float = Field(
        default=1.0, description="Pause the consumer's partitions when a batch write has waited this long."
    )
    shutdown_timeout_s: float = 30.0
    session_timeout_ms: int = 45_000


class SinkSettings(Settings):
    """What ``mercado sink`` reads: every process-wide setting, and ``sink``."""

    sink: SinkSection = Field(default_factory=SinkSection)

    @classmethod
    def extend(cls, settings: Settings) -> Self:
        """These settings with the sink's section added (read from the environment), unless they have it."""
        if isinstance(settings, cls):
            return settings
        return cls.model_construct(**dict(settings), sink=cls().sink)


@lru_cache(maxsize=1)
def get_sink_settings() -> SinkSettings:
    return SinkSettings()

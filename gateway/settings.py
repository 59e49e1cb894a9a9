"""The gateway's section of the settings (``gateway``, ``MERCADO_GATEWAY__*``) and the settings of a
gateway process: the process-wide settings (``streams/config.py``) with that section added, like the sink's.

API keys come from the environment (``MERCADO_GATEWAY__READ_KEYS='["k1"]'``,
``MERCADO_GATEWAY__COMMAND_KEYS``) or from a TOML file (``MERCADO_GATEWAY__KEYS_FILE``) that stores only
their SHA-256, each with its roles and an optional expiry::

    [[key]]
    name = "grafana"
    sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
    roles = ["read"]
    expires = 2027-01-01T00:00:00Z

Keys are ``SecretStr``: they never appear in a repr, a log line or an error.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import BaseModel, Field, SecretStr

from streams.config import Settings


class GatewaySection(BaseModel):
    host: str = Field(default="127.0.0.1", description="Bind address: loopback unless said otherwise.")
    port: int = Field(default=8470, ge=0, le=65535)
    read_keys: list[SecretStr] = Field(default_factory=list, description="API keys with the read role.")
    command_keys: list[SecretStr] = Field(default_factory=list, description="API keys with the command role.")
    keys_file: Path | None = Field(default=None, description="TOML file of hashed keys with roles and expiry.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins a browser may call from.")
    max_range_days: int = Field(default=31, ge=1, description="The longest time range one request may ask for.")
    pool_max: int = Field(default=8, ge=1, description="PostgreSQL connections per process.")
    statement_timeout_ms: int = Field(default=5000, ge=100, description="A read that takes longer is cancelled.")
    command_timeout_s: float = Field(
        default=30.0, gt=0, description="How long a command request waits for Kafka's acknowledgement (and a retry "
        "for the key's previous request) before it is answered 503.")
    # WebSocket push
    push_ring: int = Field(default=1000, ge=1, description="Changes kept per channel for reconnecting clients.")
    push_queue: int = Field(default=256, ge=1, description="Messages queued per client before it is conflated.")
    heartbeat_s: float = Field(default=15.0, gt=0, description="Seconds between heartbeats on an idle socket.")
    auth_timeout_s: float = Field(default=5.0, gt=0, description="A socket that does not authenticate is closed.")
    gc_freeze: bool = Field(
        default=False,
        description="Move every object the process holds to the garbage collector's permanent generation after "
        "startup and as clients grow (gc.freeze), so full collections skip them. Off by default: on an idle "
        "machine bench.gateway's tick p99 was 135-139 ms without it in 2 of 3 runs and 180-969 ms with it "
        "(BENCHMARKS.md, gateway, session 17); under heavy load it cut one 281 ms full pass to 3 ms.",
    )
    ws_compression: bool = Field(
        default=False,
        description="permessage-deflate on WebSocket push: off by default (a tick is ~250 bytes; compressing it for "
        "every client cost ~20 % of the gateway's CPU in bench.gateway); on saves bandwidth for remote clients.",
    )


class GatewaySettings(Settings):
    """What ``mercado api`` reads: every process-wide setting, and ``gateway``."""

    gateway: GatewaySection = Field(default_factory=GatewaySection)

    @classmethod
    def extend(cls, settings: Settings) -> Self:
        """These settings with the gateway's section added (read from the environment), unless they have it."""
        if isinstance(settings, cls):
            return settings
        return cls.model_construct(**dict(settings), gateway=cls().gateway)


@lru_cache(maxsize=1)
def get_gateway_settings() -> GatewaySettings:
    return GatewaySettings()

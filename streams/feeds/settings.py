"""Section ``feeds`` of the settings (``MERCADO_FEEDS__*``): the timing every feed adapter shares."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


def read_secret(var: str, env: Mapping[str, str] | None = None) -> str | None:
    """A credential from the environment variable ``var``, else from the file named by ``var + "_FILE"`` (e.g. a
    Docker or Kubernetes secret); never from the command line or a settings file."""
    env = os.environ if env is None else env
    if env.get(var):
        return env[var]
    path = env.get(var + "_FILE")
    return Path(path).read_text().strip() if path else None


class FeedSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    poll_interval_s: float = Field(1.0, gt=0, description="REST adapters: time between polls of a symbol.")
    stale_after_s: float = Field(
        30.0, gt=0, description="Connected but nothing received (no frame, no answer) for this long: the stream is "
        "stale; the adapter writes VenueHealth(probe='stale', ok=false) and reconnects.")
    heartbeat_after_s: float = Field(
        5.0, gt=0, description="A symbol without a trade for this long gets a Heartbeat (time passes).")
    probe_interval_s: float = Field(30.0, gt=0, description="Latency probes (VenueHealth probe='ping') period.")
    backoff_initial_s: float = Field(0.5, gt=0, description="First reconnect delay (jittered, doubling).")
    backoff_max_s: float = Field(30.0, gt=0, description="Longest reconnect delay.")
    request_timeout_s: float = Field(10.0, gt=0, description="HTTP requests of the adapters time out after this.")
    commit_interval_ms: int = Field(50, ge=1, description="Events are written in one transaction per interval.")
    dedup_window: int = Field(100_000, ge=1, description="Trade ids remembered per symbol to drop repeats.")
    closed_check_s: float = Field(
        60.0, gt=0, description="Market-hours feeds: longest sleep before checking the calendar again.")

"""Section ``metrics`` of the settings (``MERCADO_METRICS__*``): where each kind of process serves its
Prometheus metrics (``streams/observability/metrics.py``)."""

from __future__ import annotations

from pydantic import BaseModel


class MetricsSettings(BaseModel):
    host: str = "127.0.0.1"
    # one default port per process kind
    port_worker: int = 9461
    port_sink: int = 9462
    port_produce: int = 9463
    port_replay: int = 9464
    port_feed: int = 9465

"""Alerting shared by every pipeline: throttling of ``Alert`` records per alert key on event time."""

from processors.alerts.throttle import AlertThrottle

__all__ = ["AlertThrottle"]

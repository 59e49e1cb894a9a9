"""Process-wide observability: Prometheus metrics and structured logs."""

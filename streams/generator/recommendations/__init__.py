"""Seeded years of daily inputs for the recommendations job (BYMA shares and CEDEARs)."""

from streams.generator.recommendations.history import (
    HistoryConfig,
    generate_history,
    input_events,
    job_request,
    write_history,
)

__all__ = ["HistoryConfig", "generate_history", "input_events", "job_request", "write_history"]

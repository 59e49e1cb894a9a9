"""The pipelines a worker or a replay can run, by name, built from the process settings."""

from __future__ import annotations

from collections.abc import Callable

from processors.core import PipelineSpec
from streams.config import Settings


def _marketdata(settings: Settings) -> PipelineSpec:
    from processors.marketdata import marketdata_pipeline

    return marketdata_pipeline(settings.marketdata)


PIPELINES: dict[str, Callable[[Settings], PipelineSpec]] = {
    "marketdata": _marketdata,
}


class UnknownPipeline(KeyError):
    def __str__(self) -> str:
        return f"unknown pipeline {self.args[0]!r}; known: {', '.join(sorted(PIPELINES))}"


def build_pipeline(name: str, settings: Settings) -> PipelineSpec:
    try:
        factory = PIPELINES[name]
    except KeyError:
        raise UnknownPipeline(name) from None
    return factory(settings)

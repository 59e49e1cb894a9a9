"""The pipelines a worker or a replay can run, by name, built from the process settings.

A pipeline is one or more stages (each a :class:`~processors.core.PipelineSpec` with its own key);
stages connect through Kafka topics, in data-flow order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from processors import topics
from processors.core import PipelineSpec
from streams.config import Settings


def named_venues(settings: Settings) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The venues the configuration names (venue -> (the setting naming it, its symbols if listed)): the
    risk pipeline's per-venue settings, markets and accounts. Their ticks would reach the market-data
    pipeline, so each needs a session calendar."""
    risk = settings.risk
    named: dict[str, tuple[str, tuple[str, ...]]] = {}
    for account, venues in sorted(risk.accounts.items()):
        for venue in venues:
            named[venue] = (f"MERCADO_RISK__ACCOUNTS ({account})", ())
    for venue in risk.venues:
        named[venue] = ("MERCADO_RISK__VENUES", ())
    for venue, symbols in risk.markets.items():
        named[venue] = ("MERCADO_RISK__MARKETS", tuple(symbols))
    return named


def _marketdata(settings: Settings) -> list[PipelineSpec]:
    from processors.marketdata import marketdata_pipeline

    # at start-up, not at the first tick: a venue the configuration names without a calendar is an error
    settings.marketdata.check_venues(named_venues(settings))
    return [marketdata_pipeline(settings.marketdata)]


def _retail(settings: Settings) -> list[PipelineSpec]:
    from processors.retail import retail_pipelines

    return list(retail_pipelines(settings.retail))


def _risk(settings: Settings) -> list[PipelineSpec]:
    from processors.risk import risk_pipelines

    return list(risk_pipelines(settings.risk))


def _scanner(settings: Settings) -> list[PipelineSpec]:
    from processors.scanner import scanner_pipeline

    return [scanner_pipeline(settings.scanner)]


def _recommendations(settings: Settings) -> list[PipelineSpec]:
    from processors.recommendations import recommendation_pipelines

    return recommendation_pipelines(settings.recommendations)


def _venue_paper(settings: Settings) -> list[PipelineSpec]:
    from processors.venue import paper_pipelines

    return paper_pipelines(settings.paper)


PIPELINES: dict[str, Callable[[Settings], list[PipelineSpec]]] = {
    "marketdata": _marketdata,
    "retail": _retail,
    "risk": _risk,
    "scanner": _scanner,
    "recommendations": _recommendations,
    "venue-paper": _venue_paper,
}


# Topics a pipeline writes and another pipeline reads in order (docs/architecture.md, "Watermarks in the log"):
# each task of the stage writing one announces its watermark on every partition at its commits, so that the
# reading pipeline's first stage holds the partition strictly and live equals replay whatever the timing.
# The risk gate's decisions, read by the paper venue. Not trading.orders.v1 (the paper venue's lifecycle,
# read by the risk pipeline): the loop orders -> gate -> venue -> fills -> gate would wait on itself
# (each side's watermark the other's), so that topic keeps its producers' markers and the timer.
ANNOUNCED: frozenset[str] = frozenset({topics.DECISIONS})


class UnknownPipeline(KeyError):
    def __str__(self) -> str:
        return f"unknown pipeline {self.args[0]!r}; known: {', '.join(sorted(PIPELINES))}"


def with_admission(stages: list[PipelineSpec], settings: Settings) -> list[PipelineSpec]:
    """The stages with the event-time bounds of ``settings.admission`` on each stage that reads only
    topics from outside the pipeline (a repartition topic's events were admitted by the stage before)."""
    internal = {t for stage in stages for t in stage.outputs}
    return [stage if internal & set(stage.inputs) else dataclasses.replace(stage, admission=settings.admission)
            for stage in stages]


def build_stages(name: str, settings: Settings, inputs: list[str] | None = None) -> list[PipelineSpec]:
    """The stages of a pipeline; with ``inputs``, from the first stage that reads one of them on
    (e.g. replaying ``risk.inputs.v1`` runs only the stage after the repartition)."""
    try:
        stages = with_admission(PIPELINES[name](settings), settings)
    except KeyError:
        raise UnknownPipeline(name) from None
    if inputs:
        for i, stage in enumerate(stages):
            if set(inputs) & set(stage.inputs):
                return stages[i:]
        raise ValueError(f"no stage of {name} reads {', '.join(inputs)}")
    return stages


def build_pipeline(name: str, settings: Settings) -> PipelineSpec:
    """A single-stage pipeline's spec (``marketdata``)."""
    stages = build_stages(name, settings)
    if len(stages) != 1:
        raise ValueError(f"{name} has {len(stages)} stages; use build_stages")
    return stages[0]

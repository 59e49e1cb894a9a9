"""How good were the recommendations: forward returns per label, information coefficient, quintiles,
and the daily returns of the BUY and SELL baskets against the benchmark. Pure (numpy), deterministic.

Returns are taken from the last close known at the run's cutoff (``last_bar_date``) to the close k bars
later, on the adjusted series (splits and dividends folded as the job folds them: the same
:class:`~processors.recommendations.state.TickerState`, so a bar the job refused is not used here
either). The benchmark is the equally weighted universe: the mean forward return of every ticker
recommended that day (the generated history has no index of its own).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from processors.core import Record
from processors.recommendations.config import RecommendationsConfig
from processors.recommendations.state import TickerState

HORIZONS = (1, 5, 10, 20)
LABELS = ("BUY", "HOLD", "SELL")


def adjusted_closes(bars: Iterable[Record], config: RecommendationsConfig | None = None
                    ) -> dict[str, tuple[dict[str, int], list[float]]]:
    """Per ticker: (date -> position, adjusted closes), folding the bars in their order as the job does."""
    config = config or RecommendationsConfig()
    states: dict[str, TickerState] = {}
    out: dict[str, tuple[dict[str, int], list[float]]] = {}
    for bar in bars:
        ticker = bar["ticker"]
        state = states.get(ticker)
        if state is None:
            state = states[ticker] = TickerState(ticker, config)
            out[ticker] = ({}, [])
        if state.on_bar(bar) is None:
            positions, closes = out[ticker]
            positions[bar["date"]] = len(closes)
            closes.append(state.last_adjusted)  # type: ignore[arg-type]
    return out


def rank(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank (as scipy's rankdata)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Rank correlation; None when either side is constant or there are fewer than 3 pairs."""
    if len(x) < 3:
        return None
    rx, ry = rank(np.asarray(x, float)), rank(np.asarray(y, float))
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


@dataclass
class LabelStats:
    count: int
    mean: float
    median: float
    hit_rate: float  # share of returns > 0
    beat_benchmark: float  # share of returns > the benchmark's that day


@dataclass
class Evaluation:
    horizons: tuple[int, ...]
    by_label: dict[int, dict[str, LabelStats]] = field(default_factory=dict)
    ic_by_day: dict[int, dict[str, float]] = field(default_factory=dict)
    mean_ic: dict[int, float | None] = field(default_factory=dict)
    quintiles: dict[int, list[float | None]] = field(default_factory=dict)  # lowest score first
    days: list[str] = field(default_factory=list)
    # daily 1-bar returns of the baskets (equal weight) and the benchmark, and their cumulative growth
    basket_returns: dict[str, list[float]] = field(default_factory=dict)

    def cumulative(self) -> dict[str, list[float]]:
        return {name: list(np.cumprod(1.0 + np.asarray(r))) for name, r in self.basket_returns.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "horizons": list(self.horizons),
            "by_label": {k: {lab: vars(s) for lab, s in v.items()} for k, v in self.by_label.items()},
            "mean_ic": self.mean_ic,
            "ic_days": {k: len(v) for k, v in self.ic_by_day.items()},
            "quintiles": self.quintiles,
            "cumulative": {name: (values[-1] if values else None) for name, values in self.cumulative().items()},
            "days": len(self.days),
        }


def evaluate(recommendations: Iterable[Record], bars: Iterable[Record], horizons: Sequence[int] = HORIZONS,
             config: RecommendationsConfig | None = None) -> Evaluation:
    series = adjusted_closes(bars, config)
    # (day, ticker, label, score, {k: forward return})
    rows: list[tuple[str, str, str, float, dict[int, float]]] = []
    for r in recommendations:
        found = series.get(r["ticker"])
        if found is None or r["last_bar_date"] not in found[0]:
            continue
        positions, closes = found
        i = positions[r["last_bar_date"]]
        fwd = {k: closes[i + k] / closes[i] - 1.0 for k in horizons if i + k < len(closes)}
        rows.append((r["analysis_date"], r["ticker"], r["recommendation"], r["total_score"], fwd))
    by_day: dict[str, list[tuple[str, str, float, dict[int, float]]]] = defaultdict(list)
    for day, ticker, label, score, fwd in rows:
        by_day[day].append((ticker, label, score, fwd))
    out = Evaluation(tuple(horizons), days=sorted(by_day))
    for k in horizons:
        per_label: dict[str, list[float]] = defaultdict(list)
        beats: dict[str, list[bool]] = defaultdict(list)
        quintile_means: list[list[float]] = [[] for _ in range(5)]
        ics: dict[str, float] = {}
        for day in out.days:
            items = [(label, score, fwd[k]) for _t, label, score, fwd in by_day[day] if k in fwd]
            if not items:
                continue
            benchmark = float(np.mean([x[2] for x in items]))
            for label, _score, ret in items:
                per_label[label].append(ret)
                beats[label].append(ret > benchmark)
            ic = spearman([x[1] for x in items], [x[2] for x in items])
            if ic is not None:
                ics[day] = ic
            if len(items) >= 5:
                ordered = sorted(items, key=lambda x: x[1])
                for q in range(5):
                    part = ordered[q * len(ordered) // 5:(q + 1) * len(ordered) // 5]
                    if part:
                        quintile_means[q].append(float(np.mean([x[2] for x in part])))
        out.by_label[k] = {
            label: LabelStats(len(v), float(np.mean(v)), float(np.median(v)), float(np.mean([x > 0 for x in v])),
                              float(np.mean(beats[label])))
            for label, v in sorted(per_label.items())
        }
        out.ic_by_day[k] = ics
        out.mean_ic[k] = float(np.mean(list(ics.values()))) if ics else None
        out.quintiles[k] = [float(np.mean(q)) if q else None for q in quintile_means]
    first = min(horizons)
    baskets: dict[str, list[float]] = {"BUY": [], "SELL": [], "benchmark": []}
    for day in out.days:
        items = [(label, fwd[first]) for _t, label, _s, fwd in by_day[day] if first in fwd]
        if not items:
            continue
        baskets["benchmark"].append(float(np.mean([x[1] for x in items])))
        for label in ("BUY", "SELL"):
            chosen = [x[1] for x in items if x[0] == label]
            baskets[label].append(float(np.mean(chosen)) if chosen else 0.0)  # no pick that day: cash
    out.basket_returns = baskets
    return out

"""Typed configuration of the daily recommendations job (``MERCADO_RECOMMENDATIONS__*``).

The seed's schedule (06:00 America/Argentina/Buenos_Aires, weekdays) and its four analysis types; the
weights, thresholds and bounds are Mercado's choices, documented per field. Processors never read the
environment: ``streams/`` builds the config and hands it to :func:`recommendation_pipelines`.
"""

from __future__ import annotations

from datetime import time

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ScoreWeights(BaseModel):
    """Weights of the four scores in the total (renormalized over the scores a ticker has)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    technical: float = Field(0.40, ge=0)
    fundamental: float = Field(0.30, ge=0)
    macro: float = Field(0.15, ge=0)
    sentiment: float = Field(0.15, ge=0)

    @property
    def total(self) -> float:
        return self.technical + self.fundamental + self.macro + self.sentiment


class RecommendationsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    job: str = "daily-recommendations"
    model_version: str = Field("reco-1", description="Recorded on every recommendation; part of its event id.")
    timezone: str = "America/Argentina/Buenos_Aires"
    schedule: str = Field("0 6 * * 1-5", description="Cron expression of the job (croniter), in `timezone`.")
    cutoff: time = Field(time(6, 0), description="A run for day D uses what was known at D's cutoff.")
    close: time = Field(time(17, 0), description="BYMA's close: a daily bar's event time.")
    holidays_country: str = "AR"
    shards: int = Field(32, ge=1, le=4096, description="Tickers are split into this many keyed shards.")
    weights: ScoreWeights = ScoreWeights()
    buy_above: float = Field(60.0, description="total_score >= this: BUY.")
    sell_below: float = Field(40.0, description="total_score <= this: SELL.")
    min_bars: int = Field(26, ge=2, description="Bars needed for a recommendation (MACD's slow EMA).")
    max_bar_age_days: int = Field(7, ge=1, description="Last bar older than this at the cutoff: the ticker fails.")
    max_daily_move: float = Field(
        0.8, gt=0, description="An adjusted close more than (1 + this) times, or less than 1 / (1 + this), the "
        "previous one is refused as a split without adjustment (0.8: a 2:1 split's halving is caught; a 3:2 is not).")
    fundamentals_max_age_days: int = Field(200, ge=1, description="Older available_at: not used.")
    macro_max_age_days: int = Field(90, ge=1)
    sentiment_max_age_days: int = Field(3, ge=1)
    max_issues: int = Field(20, ge=1, description="Excluded inputs remembered per ticker between runs.")
    target_horizon_days: int = Field(20, ge=1, description="Target price: expected move over this many days.")

    @model_validator(mode="after")
    def _thresholds(self) -> RecommendationsConfig:
        if not self.sell_below < self.buy_above:
            raise ValueError("sell_below must be below buy_above")
        if self.weights.total <= 0:
            raise ValueError("at least one weight must be > 0")
        return self

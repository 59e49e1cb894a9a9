"""The arithmetic of one arbitrage: margin, ROI, thresholds, confidence, score, risk and tier.

* margin = sell price − buy price (integer CLP, exact); ROI = margin / buy price.
* An opportunity needs margin ≥ ``min_margin_clp`` and ROI ≥ ``min_roi_pct``, both compared exactly
  (``100 x margin ≥ min_roi_pct x buy`` in integer arithmetic: 4.99 % fails, 5 % passes).
* confidence = match score x (``glitch_confidence_factor`` if either price is flagged as a glitch)
  x max(0, 1 − 2 x volatility), volatility being the larger coefficient of variation (population
  standard deviation / mean) of either listing's recent current prices.
* opportunity score (0..100) = 100 x confidence x (0.6 x min(1, ROI / ``roi_cap_pct``)
  + 0.4 x min(1, margin / ``margin_cap_clp``)).
* tier: CRITICAL when margin, ROI and confidence clear the critical minimums (defaults 100,000 CLP,
  25 %, 0.8: about the seed's share of high-value opportunities), else IMPORTANT when they clear the
  important ones (20,000 CLP, 10 %, 0.6), else TRACKING.
  A glitch-flagged price halves the confidence, so it cannot reach the two upper tiers by default.
* risk: HIGH when a price is flagged or confidence < 0.5; MEDIUM when confidence < 0.8 or volatility
  ≥ 0.10; LOW otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from math import sqrt
from typing import NamedTuple

from processors.retail.config import OpportunityConfig, TierRule


class Deal(NamedTuple):  # immutable; a NamedTuple is built faster than a frozen dataclass
    buy_price: int
    sell_price: int

    @property
    def margin(self) -> int:
        return self.sell_price - self.buy_price

    @property
    def roi_pct(self) -> float:
        return round(100.0 * self.margin / self.buy_price, 6) if self.buy_price > 0 else 0.0


@lru_cache(maxsize=64)
def _percent(pct: float) -> tuple[int, int]:
    """A configured percentage as the exact fraction it is written as (4.99 → 499 / 100)."""
    f = Fraction(str(pct))
    return f.numerator, f.denominator


def roi_at_least(margin: int, buy_price: int, min_roi_pct: float) -> bool:
    """Exactly ``100 x margin / buy_price ≥ min_roi_pct`` in integers (no float rounding at the boundary)."""
    num, den = _percent(min_roi_pct)
    return margin * 100 * den >= num * buy_price


def shortfall(deal: Deal, cfg: OpportunityConfig) -> str | None:
    """Why the deal is not an opportunity (``margin_below_min`` / ``roi_below_min``), or ``None``."""
    margin = deal.sell_price - deal.buy_price
    if deal.buy_price <= 0 or margin < cfg.min_margin_clp:
        return "margin_below_min"
    if not roi_at_least(margin, deal.buy_price, cfg.min_roi_pct):
        return "roi_below_min"
    return None


def volatility(prices: Sequence[int]) -> float:
    """Coefficient of variation of recent prices (0 with fewer than two)."""
    n = len(prices)
    if n < 2:
        return 0.0
    mean = sum(prices) / n
    if mean <= 0:
        return 0.0
    var = sum((p - mean) ** 2 for p in prices) / n
    return round(sqrt(var) / mean, 6)


def confidence(match_score: float, glitch: bool, vol: float, cfg: OpportunityConfig) -> float:
    c = match_score * (cfg.glitch_confidence_factor if glitch else 1.0) * max(0.0, 1.0 - 2.0 * vol)
    return round(min(1.0, max(0.0, c)), 6)


def opportunity_score(deal: Deal, conf: float, cfg: OpportunityConfig, roi_pct: float | None = None) -> float:
    """``roi_pct``: ``deal.roi_pct`` when the caller has it already (the same value)."""
    roi_part = min(1.0, (deal.roi_pct if roi_pct is None else roi_pct) / cfg.roi_cap_pct)
    margin_part = min(1.0, (deal.sell_price - deal.buy_price) / cfg.margin_cap_clp)
    return round(100.0 * conf * (0.6 * roi_part + 0.4 * margin_part), 4)


def _clears(deal: Deal, conf: float, rule: TierRule) -> bool:
    margin = deal.sell_price - deal.buy_price
    return (
        margin >= rule.min_margin_clp
        and roi_at_least(margin, deal.buy_price, rule.min_roi_pct)
        and conf >= rule.min_confidence
    )


def tier(deal: Deal, conf: float, cfg: OpportunityConfig) -> str:
    if _clears(deal, conf, cfg.critical):
        return "CRITICAL"
    if _clears(deal, conf, cfg.important):
        return "IMPORTANT"
    return "TRACKING"


def revalidation_every_s(tier_name: str, cfg: OpportunityConfig) -> int:
    if tier_name == "TRACKING":
        return cfg.tracking_every_s
    if tier_name == "IMPORTANT":
        return cfg.important_every_s
    if tier_name == "CRITICAL":
        return cfg.critical_every_s
    raise KeyError(tier_name)


def risk(glitch: bool, conf: float, vol: float) -> str:
    if glitch or conf < 0.5:
        return "HIGH"
    if conf < 0.8 or vol >= 0.10:
        return "MEDIUM"
    return "LOW"

"""Typed configuration of the retail-arbitrage pipeline, with the V5 seed's values as defaults.

Processors never read the environment: ``streams/`` builds a :class:`RetailConfig` (with its
``MERCADO_*`` overrides) and hands it to :func:`processors.retail.retail_pipelines`.

Seed values: margin ≥ 5,000 CLP, ROI ≥ 5 %, match score ≥ 0.7, tiers re-checked every 30 min / 6 h /
24 h, prices considered for 3 days. The glitch thresholds are Mercado's (the seed only says it filters
anomalies): a drop beyond −50 % of the listing's own rolling median, a card price more than 50 % below
the normal price, a current price more than 50 % below the listing's own normal price.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

HOUR_S = 3600

#: Below these current prices (CLP) a listing of the category is suspicious (no real phone costs 20,000).
DEFAULT_CATEGORY_FLOORS: dict[str, int] = {
    "phone": 40_000,
    "notebook": 150_000,
    "tv": 80_000,
    "tablet": 50_000,
    "watch": 20_000,
    "headphones": 8_000,
    "console": 100_000,
    "fridge": 90_000,
    "washer": 80_000,
    "microwave": 25_000,
    "airfryer": 15_000,
}


class GlitchConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: sudden drop: current price below (1 - this) x the rolling median of the listing's recent prices
    drop_threshold: float = Field(0.5, gt=0, lt=1)
    #: how many recent current prices the rolling median looks at, and how many it needs
    history_size: int = Field(8, ge=1)
    history_min: int = Field(1, ge=1)
    #: a current price more than this fraction below the listing's own normal price
    discount_threshold: float = Field(0.5, gt=0, lt=1)
    #: a card price more than this fraction below the normal price
    card_gap_threshold: float = Field(0.5, gt=0, lt=1)
    #: absurd prices: below the floor or above the ceiling, whatever the category (CLP)
    absurd_floor_clp: int = Field(1_000, ge=0)
    absurd_ceiling_clp: int = Field(50_000_000, gt=0)
    category_floors_clp: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_CATEGORY_FLOORS))


class TierRule(BaseModel):
    """An opportunity is in this tier when it clears all three minimums (tiers are tried in order)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_margin_clp: int = Field(ge=0)
    min_roi_pct: float = Field(ge=0)
    min_confidence: float = Field(ge=0, le=1)


class OpportunityConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_margin_clp: int = Field(5_000, ge=0)
    min_roi_pct: float = Field(5.0, ge=0)
    #: the seed counts 13 % of its opportunities as high-value; these minimums give about that share
    critical: TierRule = TierRule(min_margin_clp=100_000, min_roi_pct=25.0, min_confidence=0.8)
    important: TierRule = TierRule(min_margin_clp=20_000, min_roi_pct=10.0, min_confidence=0.6)
    #: re-validation interval per tier, in event time
    critical_every_s: int = Field(30 * 60, gt=0)
    important_every_s: int = Field(6 * HOUR_S, gt=0)
    tracking_every_s: int = Field(24 * HOUR_S, gt=0)
    #: a re-validation closes the opportunity when a side's last observation is older than this
    max_quote_age_s: int = Field(3 * 24 * HOUR_S, gt=0)
    #: how many recent prices per side the volatility figure looks at
    volatility_window: int = Field(8, ge=2)
    #: confidence multiplier when a side's price is flagged as a glitch
    glitch_confidence_factor: float = Field(0.5, ge=0, le=1)
    #: score weights: ROI saturates at roi_cap_pct, margin at margin_cap_clp
    roi_cap_pct: float = Field(25.0, gt=0)
    margin_cap_clp: int = Field(100_000, gt=0)

    @model_validator(mode="after")
    def _tiers_are_ordered(self) -> OpportunityConfig:
        c, i = self.critical, self.important
        if c.min_margin_clp < i.min_margin_clp or c.min_roi_pct < i.min_roi_pct:
            raise ValueError("the critical tier must be at least as demanding as the important tier")
        return self


class MatchConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(0.7, ge=0, le=1)
    #: keep only mutual best candidates per pair of retailers inside a block (a retailer lists a
    #: product once, so two listings of one retailer cannot both be the same product of another —
    #: unless they are its duplicate listings, below)
    one_to_one: bool = True
    #: two listings of one retailer with the same model and variant words, titles of the same words
    #: (rapidfuzz ``token_sort_ratio`` at least this) and no veto between them are one product listed
    #: twice: with ``one_to_one``, a listing whose best candidate is one of them is matched to the other
    #: too (when it is a candidate of both). ``None``: none. Chosen on one real catalogue pair
    #: (0.95 of 0.85 / 0.9 / 0.95), reported unchanged on the others (BENCHMARKS.md).
    duplicate_threshold: float | None = Field(0.95, ge=0, le=1)
    #: two listings of one retailer that score the same against a listing of another (a tie: nothing in
    #: that listing tells them apart), with the same model and variant words and no veto between them,
    #: are one product listed twice as well, whatever their other words (a publisher, a SKU, a platform
    #: list): with ``one_to_one``, the listing is matched to both. Tied candidates that veto each other
    #: (colour or size variants) are not: the tie stays broken by key.
    tied_duplicates: bool = True
    #: weight of the fuzzy title similarity (the rest is attribute agreement)
    text_weight: float = Field(0.35, ge=0, le=1)
    #: when nothing names the model on both sides, one title's words all found in the other's (editions,
    #: platforms, a publisher in one title only) count this much of ``token_set_ratio``: weaker evidence
    #: than two titles with the same words (``token_sort_ratio``), so a subset scores at most this.
    #: Chosen on one real catalogue pair (0.85 of 0.8 / 0.85 / 0.9), reported unchanged on the others
    #: (BENCHMARKS.md, "Retail matching on real catalogues").
    subset_weight: float = Field(0.85, ge=0, le=1)
    #: score taken off per soft token one listing has and the other lacks (e.g. "5G")
    soft_token_penalty: float = Field(0.12, ge=0, le=1)
    #: score taken off per licence or edition word one listing has and the other lacks ("upgrade",
    #: "academic", "oem": data/lexicon.toml ``licence_words``), unless a code agrees
    licence_penalty: float = Field(0.12, ge=0, le=1)
    #: score taken off when, no code agreeing, the titles put different words at one place, words the
    #: other title lacks ("San Diego Padres" / "San Antonio Spurs" iPhone 4 Case): a design, team or
    #: edition name (:func:`processors.retail.similarity.name_swap`). 0: off
    name_swap_penalty: float = Field(0.15, ge=0, le=1)
    #: screens closer than this (inches) are the same size
    screen_tolerance: float = Field(0.15, ge=0)
    #: a word block (``t|...``, blocking.py) holding more than this many listings compares a pair
    #: only when the two listings share two other blocks too: a word more frequent than that is no
    #: evidence of identity alone
    word_block_cap: int = Field(60, ge=2)
    #: a word block (of a word without a digit) holding more than this many listings (and at most
    #: ``word_block_cap``) compares a pair only when the two listings share another block too: a word
    #: that frequent is weak evidence alone. Chosen on the real catalogue pairs (20 of 10 / 20 / 30 /
    #: 40, with five word blocks per listing), BENCHMARKS.md "Session 16"
    word_block_crowd: int = Field(20, ge=1)


class RetailConfig(BaseModel):
    """Everything the retail pipeline needs to know."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    glitch: GlitchConfig = GlitchConfig()
    match: MatchConfig = MatchConfig()
    opportunity: OpportunityConfig = OpportunityConfig()

"""Typed configuration of the risk pipeline, with MarketMaker Pro v4.2's thresholds as defaults.

The seed's five breakers: latency 500 ms, spread 20 bps, volatility 5 %, error rate 10 %, drawdown
100 bps. A measurement strictly *above* a threshold violates ("> 500 ms": exactly 500 ms does not).
Values the seed does not give are Mercado's choices, documented per field.

Processors never read the environment: ``streams/`` builds a :class:`RiskConfig` (with its ``MERCADO_*``
overrides) and hands it to :func:`processors.risk.risk_pipelines`. Per-venue overrides are partial:
``venues={"kraken": VenueOverrides(breakers={"latency_ms": 800})}`` changes one field and keeps the rest;
unknown fields are refused when the config is built.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

SECOND_US = 1_000_000


class BreakerConfig(BaseModel):
    """Thresholds, consecutive violations and cooldowns of the five circuit breakers (of one venue)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_ms: float = Field(500.0, gt=0, description="Probe or order-ack latency; > violates.")
    spread_bps: Decimal = Field(Decimal(20), gt=0, description="(ask - bid) / mid x 10,000; > violates.")
    volatility_pct: Decimal = Field(Decimal(5), gt=0, description="(high - low) / mid x 100 over the window.")
    volatility_window_s: float = Field(300.0, gt=0, description="Rolling window of mids (seed: none; 5 min).")
    error_rate_pct: Decimal = Field(Decimal(10), gt=0, description="failed / total requests x 100; > violates.")
    error_window_s: float = Field(60.0, gt=0, description="Rolling window of requests (1 min).")
    error_min_samples: int = Field(
        10, ge=1, description="No error-rate observation with fewer requests in the window (Mercado's choice: 10, so "
        "that one failure alone never exceeds 10 %)."
    )
    error_excluded_reasons: tuple[str, ...] = Field(
        (), description="Venue rejection reasons that are not errors (e.g. PRICE_FILTER); default: every one counts."
    )
    drawdown_bps: Decimal = Field(Decimal(100), gt=0, description="(peak - equity) / peak x 10,000; > violates.")
    consecutive_violations: int = Field(3, ge=1, description="Violating observations in a row that open a breaker.")
    cooldown_s: float = Field(60.0, gt=0, description="How long an opened breaker stays OPEN (event time).")
    max_cooldown_s: float = Field(900.0, gt=0, description="Cap of the cooldown, doubled on every reopen.")

    @model_validator(mode="after")
    def _check(self) -> BreakerConfig:
        if self.max_cooldown_s < self.cooldown_s:
            raise ValueError("max_cooldown_s must be >= cooldown_s")
        return self

    @property
    def cooldown_us(self) -> int:
        return round(self.cooldown_s * SECOND_US)

    @property
    def max_cooldown_us(self) -> int:
        return round(self.max_cooldown_s * SECOND_US)

    @property
    def volatility_window_us(self) -> int:
        return round(self.volatility_window_s * SECOND_US)

    @property
    def error_window_us(self) -> int:
        return round(self.error_window_s * SECOND_US)


class GateConfig(BaseModel):
    """Pre-trade checks of every OrderSubmitted (quote-currency amounts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    price_band_pct: Decimal = Field(Decimal(5), gt=0, description="|limit - mid| / mid x 100; > rejects.")
    min_notional: Decimal = Field(Decimal(10), ge=0, description="Below it rejects (Mercado's choice: 10).")
    max_notional: Decimal = Field(Decimal(50_000), gt=0, description="Above it rejects (Mercado's choice).")
    quantity_step: Decimal = Field(Decimal("0.00000001"), gt=0, description="Default lot step of every symbol.")
    quantity_steps: dict[str, Decimal] = Field(default_factory=dict, description="Lot step per symbol.")
    max_reference_age_s: float = Field(30.0, gt=0, description="An older latest tick is stale: no reference price.")

    @model_validator(mode="after")
    def _check(self) -> GateConfig:
        if self.max_notional < self.min_notional:
            raise ValueError("max_notional must be >= min_notional")
        if any(step <= 0 for step in self.quantity_steps.values()):
            raise ValueError("quantity steps must be > 0")
        return self

    def step_of(self, symbol: str) -> Decimal:
        return self.quantity_steps.get(symbol, self.quantity_step)

    @property
    def max_reference_age_us(self) -> int:
        return round(self.max_reference_age_s * SECOND_US)


class AlertConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    throttle_s: float = Field(300.0, ge=0, description="At most one alert per key per window (event time).")
    large_loss: Decimal = Field(Decimal(1000), gt=0, description="Realized loss of one fill (quote) that alerts.")
    venue_down_after: int = Field(3, ge=1, description="Failed health probes in a row that mark a venue down.")

    @property
    def throttle_us(self) -> int:
        return round(self.throttle_s * SECOND_US)


class AccountVenueConfig(BaseModel):
    """An account on one venue: starting balances per asset, and the equity its drawdown is measured from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    balances: dict[str, Decimal] = Field(default_factory=dict)
    starting_equity: Decimal = Field(
        Decimal(0), ge=0, description="Quote currency; 0 means no drawdown is measured (no positive peak)."
    )


class VenueOverrides(BaseModel):
    """Per-venue changes to the default breaker and gate settings (only the fields given)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    breakers: dict[str, Any] = Field(default_factory=dict)
    gate: dict[str, Any] = Field(default_factory=dict)


class RiskConfig(BaseModel):
    """Everything the risk pipeline needs to know."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    breakers: BreakerConfig = BreakerConfig()
    gate: GateConfig = GateConfig()
    alerts: AlertConfig = AlertConfig()
    venues: dict[str, VenueOverrides] = Field(default_factory=dict)
    markets: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="venue -> traded symbols whose ticks the rekey stage forwards ('*': all symbols of the venue). "
        "Empty: every tick is forwarded. Orders and health probes of every venue are always forwarded.",
    )
    forward_heartbeats: bool = Field(
        False, description="Forward the markets' Heartbeats too (the risk stage only uses them as time passing)."
    )
    accounts: dict[str, dict[str, AccountVenueConfig]] = Field(
        default_factory=dict, description="account -> venue -> balances and starting equity (unlisted: zero)."
    )
    mark_update_s: float = Field(
        60.0, ge=0, description="A position's MARK PositionUpdate at most once per this period (0: every tick)."
    )

    @model_validator(mode="after")
    def _check(self) -> RiskConfig:
        for venue in self.venues:
            self.breakers_for(venue)
            self.gate_for(venue)
        return self

    def breakers_for(self, venue: str) -> BreakerConfig:
        over = self.venues.get(venue)
        if over is None or not over.breakers:
            return self.breakers
        try:
            return BreakerConfig(**{**self.breakers.model_dump(), **over.breakers})
        except ValueError as exc:
            raise ValueError(f"venues.{venue}.breakers: {exc}") from None

    def gate_for(self, venue: str) -> GateConfig:
        over = self.venues.get(venue)
        if over is None or not over.gate:
            return self.gate
        try:
            return GateConfig(**{**self.gate.model_dump(), **over.gate})
        except ValueError as exc:
            raise ValueError(f"venues.{venue}.gate: {exc}") from None

    def account(self, account: str, venue: str) -> AccountVenueConfig:
        return self.accounts.get(account, {}).get(venue) or AccountVenueConfig()

    def accounts_on(self, venue: str) -> list[str]:
        return sorted(a for a, venues in self.accounts.items() if venue in venues)

    def forwards_tick(self, venue: str, symbol: str) -> bool:
        if not self.markets:
            return True
        symbols = self.markets.get(venue)
        return symbols is not None and ("*" in symbols or symbol in symbols)

    @property
    def mark_update_us(self) -> int:
        return round(self.mark_update_s * SECOND_US)

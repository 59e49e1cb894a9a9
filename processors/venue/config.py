"""Typed configuration of the paper venue (``mercado venue paper``).

Processors never read the environment: ``streams/`` builds a :class:`PaperVenueConfig` (``MERCADO_PAPER__*``
overrides, e.g. ``MERCADO_PAPER__LATENCY_MS=120``) and hands it to :func:`processors.venue.paper_pipelines`.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

SECOND_US = 1_000_000


class FeeSchedule(BaseModel):
    """Fees of one venue, in basis points of the fill's notional (quote currency). Rebates (negative fees)
    are not modelled: a paper fill never earns more than it trades."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    maker_bps: Decimal = Field(Decimal(1), ge=0, description="A resting limit order filled when the book crossed it.")
    taker_bps: Decimal = Field(Decimal(5), ge=0, description="An order marketable when it reached the venue.")


class PaperVenueConfig(BaseModel):
    """How the paper venue fills approved orders against the tick stream (all on event time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_ms: float = Field(
        50.0, ge=0, description="Approval to venue: the order is accepted at approval + latency and fills against "
        "the first tick at or after it (also the OrderAccepted's ack_latency_ms)."
    )
    time_in_force_s: float | None = Field(
        300.0, gt=0, description="An order not fully filled this long after it reached the venue is canceled "
        "(reason EXPIRED); None: good till canceled."
    )
    max_fill_quantity: Decimal | None = Field(
        None, gt=0, description="Base quantity one tick offers per side, shared first come first served by the "
        "orders it fills (PriceTick has no book size); None: unlimited."
    )
    fees: FeeSchedule = FeeSchedule()
    venue_fees: dict[str, FeeSchedule] = Field(default_factory=dict, description="Per-venue fee schedules.")
    markets: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="venue -> its listed symbols ('*': all). Approved orders and ticks of "
        "other venues are not this venue's (another adapter executes them); an order for an unlisted symbol of a "
        "listed venue is rejected (UNKNOWN_SYMBOL). Empty: every venue, every symbol."
    )

    @property
    def latency_us(self) -> int:
        return round(self.latency_ms * 1000)

    @property
    def time_in_force_us(self) -> int | None:
        return None if self.time_in_force_s is None else round(self.time_in_force_s * SECOND_US)

    def fees_for(self, venue: str) -> FeeSchedule:
        return self.venue_fees.get(venue, self.fees)

    def serves(self, venue: str) -> bool:
        """Whether this paper venue executes the venue's orders."""
        return not self.markets or venue in self.markets

    def lists(self, venue: str, symbol: str) -> bool:
        """Whether ``symbol`` trades on ``venue`` (orders of a served venue's unlisted symbols are rejected)."""
        if not self.markets:
            return True
        symbols = self.markets.get(venue, ())
        return "*" in symbols or symbol in symbols

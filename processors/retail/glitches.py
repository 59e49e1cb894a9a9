"""Price glitches: prices that look like a retailer's mistake, judged per listing.

Rules (thresholds in :class:`~processors.retail.config.GlitchConfig`), each a :class:`Glitch` with
the evidence:

* ``non_positive_price``: a price field of 0 or less (CRITICAL);
* ``absurd_price``: a current price under the absurd floor (1,000 CLP) or over the ceiling (CRITICAL);
* ``below_category_floor``: a current price under its category's floor (HIGH);
* ``sudden_drop``: a current price more than 50 % under the rolling median of the listing's own recent
  current prices (HIGH; CRITICAL beyond −80 %);
* ``deep_discount``: a current price more than 50 % under the listing's own normal price (HIGH;
  CRITICAL beyond −80 %) — the mistake seen on a listing's first observation, when it has no history;
* ``card_far_below_normal``: a card price more than 50 % under the normal price (MEDIUM; HIGH beyond
  −80 %); it touches the current price only when the card price is the current price.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from processors.retail.config import GlitchConfig

PRICE_FIELDS = ("offer", "normal", "card")


@dataclass(frozen=True, slots=True)
class Glitch:
    kind: str
    severity: str
    price_field: str
    price: int
    reference: str
    reference_price: int | None
    threshold: float | None
    affects_current: bool

    @property
    def change_ratio(self) -> float | None:
        if not self.reference_price:
            return None
        return round(self.price / self.reference_price - 1.0, 6)


def current_price(offer: int | None, normal: int | None, card: int | None) -> tuple[int, str] | None:
    """The seed's current price: the offer price if present, else the normal price, else the card price."""
    if offer is not None:
        return offer, "OFFER"
    if normal is not None:
        return normal, "NORMAL"
    if card is not None:
        return card, "CARD"
    return None


def rolling_median(prices: Sequence[int]) -> int | None:
    """The median of recent prices (the lower middle for an even count: a real price, integer CLP)."""
    if not prices:
        return None
    ordered = sorted(prices)
    return ordered[(len(ordered) - 1) // 2]


def _drop_severity(price: int, reference: int) -> str:
    return "CRITICAL" if price < reference * 0.2 else "HIGH"


def detect(
    offer: int | None,
    normal: int | None,
    card: int | None,
    category: str,
    history: Sequence[int],
    cfg: GlitchConfig,
) -> list[Glitch]:
    """The glitches of one observation; ``history`` is the listing's recent current prices (oldest first)."""
    out: list[Glitch] = []
    fields = {"offer": offer, "normal": normal, "card": card}
    current = current_price(offer, normal, card)
    current_field = {"OFFER": "offer", "NORMAL": "normal", "CARD": "card"}[current[1]] if current else None
    for name in PRICE_FIELDS:
        value = fields[name]
        if value is not None and value <= 0:
            out.append(Glitch("non_positive_price", "CRITICAL", name, value, "zero", None, None, name == current_field))
    if current is None or current[0] <= 0:
        return out
    price = current[0]
    assert current_field is not None
    if price < cfg.absurd_floor_clp:
        out.append(
            Glitch("absurd_price", "CRITICAL", "current", price, "absurd_floor", cfg.absurd_floor_clp, None, True)
        )
    elif price > cfg.absurd_ceiling_clp:
        out.append(
            Glitch("absurd_price", "CRITICAL", "current", price, "absurd_ceiling", cfg.absurd_ceiling_clp, None, True)
        )
    floor = cfg.category_floors_clp.get(category)
    if floor is not None and cfg.absurd_floor_clp <= price < floor:
        out.append(Glitch("below_category_floor", "HIGH", "current", price, "category_floor", floor, None, True))
    recent = [p for p in history if p > 0][-cfg.history_size :]
    median = rolling_median(recent) if len(recent) >= cfg.history_min else None
    if median is not None and price < median * (1.0 - cfg.drop_threshold):
        out.append(
            Glitch(
                "sudden_drop",
                _drop_severity(price, median),
                "current",
                price,
                "rolling_median",
                median,
                -cfg.drop_threshold,
                True,
            )
        )
    if (
        normal is not None
        and normal > 0
        and current_field != "normal"
        and price < normal * (1.0 - cfg.discount_threshold)
    ):
        out.append(
            Glitch(
                "deep_discount",
                _drop_severity(price, normal),
                current_field,
                price,
                "price_normal",
                normal,
                -cfg.discount_threshold,
                True,
            )
        )
    if card is not None and card > 0 and normal is not None and normal > 0:
        if card < normal * (1.0 - cfg.card_gap_threshold):
            severity = "HIGH" if card < normal * 0.2 else "MEDIUM"
            out.append(
                Glitch(
                    "card_far_below_normal",
                    severity,
                    "card",
                    card,
                    "price_normal",
                    normal,
                    -cfg.card_gap_threshold,
                    current_field == "card",
                )
            )
    return out

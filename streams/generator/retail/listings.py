"""Retail listings (Chile, CLP): a morning crawl of five retailers, later re-crawls, planted glitches.

Every catalog product is sold by two to five retailers, each under its own name, sku and url,
at its own integer CLP prices: a normal price, often an offer, sometimes a lower price with the
store's own card. A few listings carry a pricing mistake (90 % off, a card price of a few
thousand pesos, a price of 1 or 0). Some hundreds of listings are seen again in the afternoon
with changed prices. ``truth`` says which listings are the same product.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from streams.generator.clock import iso, local_micros
from streams.generator.config import RETAIL, RETAILERS, SANTIAGO_TZ
from streams.generator.retail.catalog import Product, build_catalog
from streams.generator.retail.names import SkuBook, listing_brand, listing_category, listing_name

_RETAILER_WEIGHT = {"falabella": 0.27, "ripley": 0.24, "paris": 0.22, "hites": 0.14, "abcdin": 0.13}
_RETAILER_COUNT = ((2, 0.22), (3, 0.30), (4, 0.30), (5, 0.18))
GLITCH_KINDS = ("ninety_off", "card_absurd", "price_one", "price_zero", "missing_digit")


def clp(x: float) -> int:
    """A shelf price: rounded up to the thousand, ending in 990 (``349_990``)."""
    return max(990, math.ceil(x / 1000.0) * 1000 - 10)


@dataclass
class Listing:
    retailer: str
    sku: str
    product: Product
    name: str
    brand: str | None
    category: str
    url: str
    price_normal: int | None
    price_offer: int | None
    price_card: int | None
    rating: float | None
    reviews_count: int | None

    def record(self, observed_at: int) -> dict[str, Any]:
        return {
            "event_id": f"{self.retailer}:{self.sku}:{observed_at}",
            "event_time": iso(observed_at),
            "retailer": self.retailer,
            "sku": self.sku,
            "name": self.name,
            "brand": self.brand,
            "category": self.category,
            "url": self.url,
            "price_normal": self.price_normal,
            "price_offer": self.price_offer,
            "price_card": self.price_card,
            "rating": self.rating,
            "reviews_count": self.reviews_count,
            "observed_at": iso(observed_at),
        }


@dataclass
class RetailDay:
    records: list[dict[str, Any]]
    truth: list[tuple[str, str, str]]  # (retailer, sku, product_id), sorted
    glitches: list[dict[str, str]] = field(default_factory=list)
    products: int = 0

    def truth_csv(self) -> str:
        rows = ["retailer,sku,product_id", *(f"{r},{s},{p}" for r, s, p in self.truth)]
        return "\n".join(rows) + "\n"

    def describe(self) -> dict[str, Any]:
        listings = len(self.truth)
        return {"products": self.products, "listings": listings, "glitches": self.glitches}


def retailers_for(rng: random.Random) -> list[str]:
    """Which retailers list a product (2–5 of them, the big ones more often), in catalog order."""
    k = rng.choices([n for n, _ in _RETAILER_COUNT], weights=[w for _, w in _RETAILER_COUNT])[0]
    pool = list(RETAILERS)
    chosen: list[str] = []
    while len(chosen) < k:
        pick = rng.choices(pool, weights=[_RETAILER_WEIGHT[r] for r in pool])[0]
        pool.remove(pick)
        chosen.append(pick)
    return [r for r in RETAILERS if r in chosen]


def _prices(rng: random.Random, market: float) -> tuple[int, int | None, int | None]:
    normal = clp(market * rng.uniform(0.97, 1.14))
    offer = clp(normal * rng.uniform(0.72, 0.95)) if rng.random() < 0.5 else None
    card = None
    if rng.random() < 0.3:
        base = offer if offer is not None else normal
        card = clp(base * rng.uniform(0.85, 0.96)) if rng.random() < 0.9 else clp(base * rng.uniform(1.0, 1.04))
        if card >= normal:
            card = None
    if offer is not None and offer >= normal:
        offer = None
    return normal, offer, card


def _rating(rng: random.Random) -> tuple[float | None, int | None]:
    if rng.random() < 0.35:
        return None, None if rng.random() < 0.5 else 0
    reviews = max(1, int(rng.lognormvariate(3.0, 1.3)))
    return round(min(5.0, max(2.5, rng.gauss(4.4, 0.35))), 1), reviews


def _glitch(listing: Listing, kind: str, rng: random.Random) -> None:
    normal = listing.price_normal or 0
    if kind == "ninety_off":
        listing.price_offer = clp(normal * 0.1)
    elif kind == "card_absurd":
        listing.price_card = rng.choice((990, 1_990, 4_990, 9_990))
    elif kind == "price_one":
        listing.price_normal, listing.price_offer, listing.price_card = 1, None, None
    elif kind == "price_zero":
        listing.price_offer = 0
    elif kind == "missing_digit":
        listing.price_offer = (listing.price_offer or normal) // 10


def _reprice(listing: Listing, rng: random.Random, market: float, glitched: bool) -> None:
    """An afternoon change: a fixed glitch, an offer starting or ending, a price cut, a card price."""
    before = (listing.price_normal, listing.price_offer, listing.price_card)
    if glitched:
        listing.price_normal, listing.price_offer, listing.price_card = _prices(rng, market)
    else:
        move = rng.random()
        normal = listing.price_normal or clp(market)
        if move < 0.3 and listing.price_offer is not None:
            listing.price_offer = None
        elif move < 0.6:
            listing.price_offer = clp(normal * rng.uniform(0.7, 0.93))
        elif move < 0.8:
            listing.price_normal = clp(normal * rng.uniform(0.9, 0.97))
            if listing.price_offer is not None and listing.price_offer >= listing.price_normal:
                listing.price_offer = None
        else:
            base = listing.price_offer or normal
            listing.price_card = clp(base * rng.uniform(0.85, 0.95)) if listing.price_card is None else None
    if (listing.price_normal, listing.price_offer, listing.price_card) == before:
        listing.price_offer = clp((listing.price_normal or clp(market)) * rng.uniform(0.75, 0.9))
    normal = listing.price_normal or 0
    if listing.price_offer is not None and listing.price_offer >= normal:
        listing.price_offer = None
    if listing.price_card is not None and listing.price_card >= normal:
        listing.price_card = None
    if listing.reviews_count is not None and rng.random() < 0.3:
        listing.reviews_count += rng.randint(1, 3)


def generate_retail(rng: random.Random, day: date) -> RetailDay:
    catalog = build_catalog()
    skus = SkuBook(rng)
    listings: list[Listing] = []
    market_price: dict[str, float] = {}
    for product in catalog:
        market_price[product.product_id] = product.price * rng.uniform(0.88, 1.04)
        for retailer in retailers_for(rng):
            name = listing_name(product, retailer, rng)
            sku = skus.sku(retailer)
            normal, offer, card = _prices(rng, market_price[product.product_id])
            rating, reviews = _rating(rng)
            listings.append(
                Listing(
                    retailer,
                    sku,
                    product,
                    name,
                    listing_brand(product, retailer, rng),
                    listing_category(product, retailer),
                    SkuBook.url(retailer, sku, name),
                    normal,
                    offer,
                    card,
                    rating,
                    reviews,
                )
            )

    # Planted pricing mistakes, on listings worth arbitraging (normal price above 150,000 CLP).
    candidates = [i for i, x in enumerate(listings) if (x.price_normal or 0) > 150_000]
    glitch_at = rng.sample(candidates, rng.randint(RETAIL.glitches_low, RETAIL.glitches_high))
    glitches: list[dict[str, str]] = []
    for n, i in enumerate(sorted(glitch_at)):
        kind = GLITCH_KINDS[n % len(GLITCH_KINDS)]
        _glitch(listings[i], kind, rng)
        glitches.append({"retailer": listings[i].retailer, "sku": listings[i].sku, "kind": kind})

    # Morning crawl: each retailer walks its catalog between 08:00 and 09:00 Chile time.
    crawl_start = local_micros(day, RETAIL.crawl_start, SANTIAGO_TZ)
    crawl_end = local_micros(day, RETAIL.crawl_end, SANTIAGO_TZ)
    timed: list[tuple[int, dict[str, Any]]] = []
    for retailer in RETAILERS:
        own = [x for x in listings if x.retailer == retailer]
        rng.shuffle(own)
        t = crawl_start + rng.randint(0, 8 * 60) * 1_000_000
        step = (crawl_end - t - 60_000_000) // max(1, len(own))
        for listing in own:
            timed.append((t, listing.record(t)))
            t += rng.randint(step // 2, step * 3 // 2)

    # Afternoon re-crawl of some hundreds of listings (every glitched one among them).
    reobserve_start = local_micros(day, RETAIL.reobserve_start, SANTIAGO_TZ)
    reobserve_end = local_micros(day, RETAIL.reobserve_end, SANTIAGO_TZ)
    glitched = set(glitch_at)
    chosen = sorted(
        set(rng.sample(range(len(listings)), rng.randint(RETAIL.reobserved_low, RETAIL.reobserved_high))) | glitched
    )
    for i in chosen:
        listing = listings[i]
        t = rng.randrange(reobserve_start, reobserve_end)
        _reprice(listing, rng, market_price[listing.product.product_id], i in glitched)
        timed.append((t, listing.record(t)))

    timed.sort(key=lambda pair: pair[0])
    truth = sorted((x.retailer, x.sku, x.product.product_id) for x in listings)
    return RetailDay(records=[r for _, r in timed], truth=truth, glitches=glitches, products=len(catalog))

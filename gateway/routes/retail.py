"""Retail arbitrage: open opportunities by tier, one opportunity's status, live matches, glitches and
listings — over the views of migration 0005 (``retail_open_opportunities`` is the one
``mercado opportunities`` reads: queries/retail.py names it and its tiers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from gateway.models import Glitch, Listing, LiveMatch, Opportunity, OpportunityCounts, Page
from gateway.params import NAME, OPPORTUNITY_ID, SKU, Paging, Retailer, Window, paging, time_range
from queries.retail import TIERS, VIEW, Tier

router = APIRouter(prefix="/retail", tags=["retail"])
Sku = Annotated[str | None, Query(pattern=SKU, description="Only this SKU (with retailer: one listing).")]

OPEN_SQL = f"""
SELECT opportunity_id, tier, priority, opportunity_score, margin_clp, roi_pct, confidence, risk_level,
       glitch_suspected, match_id, buy_listing_key, buy_retailer, buy_title, buy_price, sell_listing_key,
       sell_retailer, sell_title, sell_price, revision, opened_at, updated_at, validations, last_validated_at,
       next_revalidation
FROM {VIEW}
WHERE ($1::text IS NULL OR tier = $1) AND ($2::text IS NULL OR buy_retailer = $2 OR sell_retailer = $2)
ORDER BY priority, opportunity_score DESC, margin_clp DESC, opportunity_id LIMIT $3 OFFSET $4
"""
COUNTS_SQL = f"SELECT tier, count(*) AS n FROM {VIEW} GROUP BY tier"
STATUS_SQL = """
SELECT opportunity_id, status, tier, priority, opportunity_score, margin_clp, roi_pct, confidence, risk_level,
       glitch_suspected, match_id, buy_listing_key, buy_retailer, buy_title, buy_price, sell_listing_key,
       sell_retailer, sell_title, sell_price, revision, opened_at, updated_at, validations, last_validated_at,
       next_revalidation, closed_at, close_reason
FROM retail_opportunity_status WHERE opportunity_id = $1
"""
MATCHES_SQL = """
SELECT match_id, block_key, listing_a_key, a_retailer, a_title, a_price, listing_b_key, b_retailer, b_title, b_price,
       score, asserted_at, priced_at
FROM retail_live_matches
WHERE $1::text IS NULL OR a_retailer = $1 OR b_retailer = $1
ORDER BY match_id LIMIT $2 OFFSET $3
"""
GLITCHES_SQL = """
SELECT event_id, event_time, listing_key, retailer, sku, title, category, kind, severity, price_field, price,
       reference, reference_price, change_ratio, threshold, history_size, affects_current_price
FROM retail_glitches
WHERE ($1::text IS NULL OR retailer = $1) AND ($2::text IS NULL OR sku = $2)
  AND ($3::timestamptz IS NULL OR event_time >= $3) AND ($4::timestamptz IS NULL OR event_time < $4)
ORDER BY event_time, event_id LIMIT $5 OFFSET $6
"""
LISTING_COLUMNS = """listing_key, retailer, sku, title, url, category, brand, model, current_price, price_source,
       price_normal, price_offer, price_card, glitch_kinds, event_time, observed_at"""
LISTINGS_SQL = f"""
SELECT {LISTING_COLUMNS} FROM retail_listings
WHERE ($1::text IS NULL OR retailer = $1) AND ($2::text IS NULL OR sku = $2)
ORDER BY listing_key LIMIT $3 OFFSET $4
"""
LISTING_SQL = f"SELECT {LISTING_COLUMNS} FROM retail_listings WHERE retailer = $1 AND sku = $2"


@router.get("/opportunities", response_model=Page[Opportunity])
async def open_opportunities(
    request: Request,
    tier: Annotated[Tier | None, Query(description="Only this tier.")] = None,
    retailer: Retailer = None,
    page: Paging = Depends(paging),
) -> dict:
    """The open arbitrage opportunities: most urgent tier first (critical, important, tracking), then by score."""
    rows = await request.app.state.db.fetch(
        OPEN_SQL, tier.value.upper() if tier else None, retailer, page.limit + 1, page.offset
    )
    return page.page(rows)


@router.get("/opportunities/counts", response_model=OpportunityCounts)
async def opportunity_counts(request: Request) -> dict:
    """How many opportunities are open, per tier."""
    by_tier = dict.fromkeys(TIERS, 0)
    by_tier.update({r["tier"]: r["n"] for r in await request.app.state.db.fetch(COUNTS_SQL)})
    return {"by_tier": by_tier, "total": sum(by_tier.values())}


@router.get("/opportunities/{opportunity_id}", response_model=Opportunity, responses={404: {"description": "unknown"}})
async def opportunity(
    request: Request, opportunity_id: Annotated[str, Path(pattern=OPPORTUNITY_ID, description="opp:<20 hex>")]
) -> dict:
    """One opportunity as of its latest revision, open or closed (and why)."""
    row = await request.app.state.db.fetchrow(STATUS_SQL, opportunity_id)
    if row is None:
        raise HTTPException(404, f"no opportunity {opportunity_id}")
    return dict(row)


@router.get("/matches", response_model=Page[LiveMatch])
async def live_matches(request: Request, retailer: Retailer = None, page: Paging = Depends(paging)) -> dict:
    """Pairs of listings that are the same product now, with their latest prices."""
    rows = await request.app.state.db.fetch(MATCHES_SQL, retailer, page.limit + 1, page.offset)
    return page.page(rows)


@router.get("/glitches", response_model=Page[Glitch])
async def glitches(request: Request, retailer: Retailer = None, sku: Sku = None,
                   window: Window = Depends(time_range), page: Paging = Depends(paging)) -> dict:  # fmt: skip
    """Price glitches seen on listings, oldest first."""
    rows = await request.app.state.db.fetch(
        GLITCHES_SQL, retailer, sku, window.start, window.end, page.limit + 1, page.offset
    )
    return page.page(rows)


@router.get("/listings", response_model=Page[Listing])
async def listings(request: Request, retailer: Retailer = None, sku: Sku = None,
                   page: Paging = Depends(paging)) -> dict:  # fmt: skip
    """The latest observation of every listing."""
    rows = await request.app.state.db.fetch(LISTINGS_SQL, retailer, sku, page.limit + 1, page.offset)
    return page.page(rows)


@router.get("/listings/{retailer}/{sku}", response_model=Listing, responses={404: {"description": "unknown"}})
async def listing(
    request: Request,
    retailer: Annotated[str, Path(pattern=NAME, description="The retailer.")],
    sku: Annotated[str, Path(pattern=SKU, description="The retailer's SKU.")],
) -> dict:
    """One listing's latest observation."""
    row = await request.app.state.db.fetchrow(LISTING_SQL, retailer, sku)
    if row is None:
        raise HTTPException(404, f"no listing {retailer}:{sku}")
    return dict(row)

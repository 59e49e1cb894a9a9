"""Cross-retailer price arbitrage (Chile, CLP): normalize listings, detect price glitches, match the same
product across retailers, emit arbitrage opportunities and re-validate them on event time.

See :mod:`processors.retail.pipeline` for the stages and :mod:`processors.retail.records` for the topics.
"""

from processors.retail.attributes import ProductAttributes, parse_listing, parse_title
from processors.retail.block_matcher import BlockMatcher
from processors.retail.blocking import block_keys, owner_block
from processors.retail.config import GlitchConfig, MatchConfig, OpportunityConfig, RetailConfig, TierRule
from processors.retail.glitches import Glitch, current_price, detect
from processors.retail.listing_processor import ListingProcessor
from processors.retail.opportunity_tracker import OpportunityTracker, opportunity_id
from processors.retail.pipeline import (
    LISTINGS_STAGE,
    MATCHING_STAGE,
    OPPORTUNITIES_STAGE,
    RetailReplay,
    retail_pipelines,
    run_retail,
)
from processors.retail.records import match_id
from processors.retail.similarity import Verdict, score, veto

__all__ = [
    "LISTINGS_STAGE",
    "MATCHING_STAGE",
    "OPPORTUNITIES_STAGE",
    "BlockMatcher",
    "Glitch",
    "GlitchConfig",
    "ListingProcessor",
    "MatchConfig",
    "OpportunityConfig",
    "OpportunityTracker",
    "ProductAttributes",
    "RetailConfig",
    "RetailReplay",
    "TierRule",
    "Verdict",
    "block_keys",
    "current_price",
    "detect",
    "match_id",
    "opportunity_id",
    "owner_block",
    "parse_listing",
    "parse_title",
    "retail_pipelines",
    "run_retail",
    "score",
    "veto",
]

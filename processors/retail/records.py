"""Topics of the retail pipeline and the builders of their records (wire form: integer µs, integer CLP).

| topic | records | key |
|---|---|---|
| ``retail.listings.v1`` (input) | RetailListing | retailer:sku |
| ``retail.listings.normalized.v1`` | NormalizedListing | retailer:sku |
| ``retail.rejected.v1`` | ListingRejected | retailer:sku |
| ``retail.glitches.v1`` | PriceGlitch | retailer:sku |
| ``retail.by-block.v1`` (repartition) | BlockedListing | block key |
| ``retail.matches.v1`` | ProductMatch, MatchRepriced, ProductMatchRetracted | match id |
| ``retail.opportunities.v1`` | ArbitrageOpportunity, ...Revalidated, ...Closed | match id |
"""

from __future__ import annotations

from operator import itemgetter

from processors.core import Record
from processors.retail.attributes import ProductAttributes, code_key_of
from processors.retail.glitches import Glitch


def listing_key(retailer: str, sku: str) -> str:
    return f"{retailer}:{sku}"


def _listing_head(prefix: str, listing: Record, key: str) -> Record:
    """The fields every record about one listing starts with; its id is ``<prefix>:<listing event id>``."""
    return {
        "event_id": f"{prefix}:{listing['event_id']}",
        "event_time": listing["event_time"],
        "source_event_id": listing["event_id"],
        "listing_key": key,
        "retailer": listing["retailer"],
        "sku": listing["sku"],
        "title": listing["name"],
    }


def match_id(key_a: str, key_b: str) -> str:
    """One identity per pair whatever the order or the block: the two listing keys, sorted."""
    a, b = (key_a, key_b) if key_a <= key_b else (key_b, key_a)
    return f"{a}|{b}"


def normalized_record(
    listing: Record,
    key: str,
    attrs: ProductAttributes,
    price: int,
    source: str,
    glitch_kinds: list[str],
    blocks: tuple[str, ...],
) -> Record:
    return {
        **_listing_head("norm", listing, key),
        "url": listing.get("url"),
        "observed_at": listing["observed_at"],
        "normalized_title": attrs.normalized_title,
        "category": attrs.category,
        "brand": attrs.brand,
        "product_line": attrs.product_line,
        "model": attrs.model,
        "model_code": attrs.model_code,
        "storage_gb": attrs.storage_gb,
        "ram_gb": attrs.ram_gb,
        "screen_inches": attrs.screen_inches,
        "color": attrs.color,
        "capacity": attrs.capacity,
        "cpu": attrs.cpu,
        "qualifiers": list(attrs.qualifiers),
        "model_words": list(attrs.distinctive),
        "current_price": price,
        "price_source": source,
        "price_normal": listing.get("price_normal"),
        "price_offer": listing.get("price_offer"),
        "price_card": listing.get("price_card"),
        "glitch_kinds": glitch_kinds,
        "blocks": list(blocks),
        "codes": list(attrs.codes),
        "accessory": attrs.accessory,
    }


# the NormalizedListing fields of ProductAttributes' first twelve fields, in its field order (one C call
# reads them all); then qualifiers, model words (as tuples) and the code key
_PLAIN_FIELDS = itemgetter(*ProductAttributes._fields[:12])
_new_tuple = tuple.__new__


def attributes_of(normalized: Record) -> ProductAttributes:
    """The attributes a NormalizedListing carries (what the matcher compares)."""
    return _new_tuple(
        ProductAttributes,
        (
            *_PLAIN_FIELDS(normalized),
            tuple(normalized["qualifiers"]),
            tuple(normalized["model_words"]),
            code_key_of(normalized["model_code"]),
            tuple(normalized.get("codes") or ()),
            bool(normalized.get("accessory")),
        ),
    )


def quote_of(normalized: Record) -> Record:
    """The ListingQuote of a NormalizedListing."""
    return {
        "event_id": normalized["event_id"],
        "event_time": normalized["observed_at"],
        "listing_key": normalized["listing_key"],
        "retailer": normalized["retailer"],
        "sku": normalized["sku"],
        "title": normalized["title"],
        "current_price": normalized["current_price"],
        "price_source": normalized["price_source"],
        "price_normal": normalized["price_normal"],
        "price_offer": normalized["price_offer"],
        "price_card": normalized["price_card"],
        "glitch_kinds": list(normalized["glitch_kinds"]),
    }


def rejected_record(listing: Record, key: str, reason: str, detail: str) -> Record:
    return {
        **_listing_head("rej", listing, key),
        "reason": reason,
        "detail": detail,
        "price_normal": listing.get("price_normal"),
        "price_offer": listing.get("price_offer"),
        "price_card": listing.get("price_card"),
    }


def glitch_record(listing: Record, key: str, category: str, g: Glitch, history_size: int) -> Record:
    return {
        **_listing_head("glitch", listing, key),
        "event_id": f"glitch:{listing['event_id']}:{g.kind}:{g.price_field}",
        "category": category,
        "kind": g.kind,
        "severity": g.severity,
        "price_field": g.price_field,
        "price": g.price,
        "reference": g.reference,
        "reference_price": g.reference_price,
        "change_ratio": g.change_ratio,
        "threshold": g.threshold,
        "history_size": history_size,
        "affects_current_price": g.affects_current,
    }


def blocked_record(
    block: str,
    key: str,
    event_id: str,
    event_time: int,
    action: str,
    blocks: tuple[str, ...],
    normalized: Record | None,
    reason: str | None = None,
) -> Record:
    return {
        "event_id": f"blk:{event_id}:{block}",
        "event_time": event_time,
        "block_key": block,
        "listing_key": key,
        "action": action,
        "reason": reason,
        "blocks": list(blocks),
        "listing": normalized,
    }

"""Stage 1, keyed by ``retailer:sku``: normalize a listing, judge its prices, route it to its match blocks.

For each RetailListing it emits, in this order: the PriceGlitches of the observation; then either a
ListingRejected (no usable current price: the listing also leaves its blocks) or a NormalizedListing;
then BlockedListing records for the repartition topic (WITHDRAW from blocks it left, UPSERT into each
of its blocks). State: the listing's recent current prices (for the rolling median) and its blocks.
"""

from __future__ import annotations

from typing import Any, Self

from processors import topics
from processors.core import Emit, KeyedProcessor, Record
from processors.retail.attributes import ProductAttributes, parse_listing
from processors.retail.blocking import block_keys
from processors.retail.config import RetailConfig
from processors.retail.glitches import current_price, detect
from processors.retail.records import (
    blocked_record,
    glitch_record,
    normalized_record,
    rejected_record,
)


class ListingProcessor(KeyedProcessor):
    def __init__(self, key: str, config: RetailConfig | None = None):
        super().__init__(key)
        self.config = config or RetailConfig()
        # recent usable current prices, oldest first: a tuple of ints, which the garbage collector stops
        # tracking (one per listing: a list would be scanned at every collection)
        self.history: tuple[int, ...] = ()
        self.blocks: tuple[str, ...] = ()
        self.last_event_id: str | None = None
        # title, brand field and category path of the last parse, its attributes and block keys: a listing
        # re-observed with the same text is not parsed again (derived from the input, not state; separate
        # attributes rather than one tuple, which would be one more object per listing for the collector)
        self._title: str | None = None
        self._brand: str | None = None
        self._category: str | None = None
        self._number: str | None = None
        self._attrs: ProductAttributes | None = None
        self._blocks: tuple[str, ...] = ()

    def on_event(self, schema: str, record: Record) -> list[Emit]:
        if schema != "RetailListing" or record["event_id"] == self.last_event_id:
            return []  # another record type, or the same observation delivered again
        self.last_event_id = record["event_id"]
        key = self.key
        cfg = self.config.glitch
        offer, normal, card = record.get("price_offer"), record.get("price_normal"), record.get("price_card")
        title, brand, category = record["name"], record.get("brand"), record.get("category")
        number = record.get("model_number")
        attrs = self._attrs
        if (
            attrs is None
            or self._title != title
            or self._brand != brand
            or self._category != category
            or self._number != number
        ):
            attrs = self._attrs = parse_listing(title, brand, category, number)
            self._title, self._brand, self._category, self._number = title, brand, category, number
            self._blocks = block_keys(attrs)
        out: list[Emit] = []
        glitches = detect(offer, normal, card, attrs.category, self.history, cfg)
        history_size = min(len(self.history), cfg.history_size)
        for g in glitches:
            out.append(
                Emit(topics.GLITCHES, key, "PriceGlitch", glitch_record(record, key, attrs.category, g, history_size))
            )
        current = current_price(offer, normal, card)
        if current is None or current[0] <= 0:
            if current is None:
                reason, detail = "no_price", "no offer, normal or card price"
            else:
                reason = "non_positive_price"
                detail = f"current price ({current[1].lower()}) is {current[0]} CLP"
            rejected = rejected_record(record, key, reason, detail)
            out.append(Emit(topics.RETAIL_REJECTED, key, "ListingRejected", rejected))
            out.extend(self._route((), None, record, "rejected"))
            return out
        price, source = current
        kinds = sorted({g.kind for g in glitches if g.affects_current}) if glitches else []
        blocks = self._blocks
        normalized = normalized_record(record, key, attrs, price, source, kinds, blocks)
        out.append(Emit(topics.NORMALIZED, key, "NormalizedListing", normalized))
        out.extend(self._route(blocks, normalized, record, "reblocked"))
        history = (*self.history, price)
        self.history = history[-cfg.history_size :] if len(history) > cfg.history_size else history
        return out

    def _route(self, blocks: tuple[str, ...], normalized: Record | None, record: Record, why: str) -> list[Emit]:
        key, t, eid = self.key, record["event_time"], record["event_id"]
        out = [
            Emit(topics.BY_BLOCK, b, "BlockedListing", blocked_record(b, key, eid, t, "WITHDRAW", blocks, None, why))
            for b in self.blocks
            if b not in blocks
        ]
        out.extend(
            Emit(topics.BY_BLOCK, b, "BlockedListing", blocked_record(b, key, eid, t, "UPSERT", blocks, normalized))
            for b in blocks
        )
        self.blocks = blocks
        return out

    def snapshot(self) -> dict[str, Any]:
        return {"history": list(self.history), "blocks": list(self.blocks), "last_event_id": self.last_event_id}

    @classmethod
    def restore(cls, key: str, state: dict[str, Any], **config: Any) -> Self:
        proc = cls(key, config.get("config"))
        proc.history = tuple(state["history"])
        proc.blocks = tuple(state["blocks"])
        proc.last_event_id = state["last_event_id"]
        return proc

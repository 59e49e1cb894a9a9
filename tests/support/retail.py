"""Builders shared by the retail tests (RetailListing records in wire form, the generator's labelled day),
and the checks that the labelled set is what the matcher tests assume."""

from __future__ import annotations

import csv
import itertools
import json
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from processors.core import Emit

T0 = 1_756_900_800_000_000  # 2025-09-03 12:00:00 UTC
MINUTE = 60_000_000
HOUR = 60 * MINUTE


def listing(
    retailer: str,
    sku: str,
    name: str,
    normal: int | None,
    offer: int | None = None,
    card: int | None = None,
    t: int = T0,
    brand: str | None = None,
    category: str | None = None,
) -> dict[str, Any]:
    return {
        "event_id": f"{retailer}:{sku}:{t}",
        "event_time": t,
        "retailer": retailer,
        "sku": sku,
        "name": name,
        "brand": brand,
        "category": category,
        "url": None,
        "price_normal": normal,
        "price_offer": offer,
        "price_card": card,
        "rating": None,
        "reviews_count": None,
        "observed_at": t,
    }


def of(outputs: list[Emit], schema: str) -> list[dict[str, Any]]:
    return [e.record for e in outputs if e.schema == schema]


def live_matches(outputs: list[Emit]) -> set[str]:
    live: set[str] = set()
    for e in outputs:
        if e.schema == "ProductMatch":
            live.add(e.key)
        elif e.schema == "ProductMatchRetracted":
            live.discard(e.key)
    return live


def generated_day(out_dir: Path, seed: int, day: date) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The generator's retail day as wire-form RetailListings, and listing key -> product id."""
    from schemas.loader import load_schemas
    from streams.codec.coerce import record_coercer
    from streams.generator import TRUTH_FILE, generate_day

    generate_day(out_dir, seed, day, domains=("retail",))
    coerce = record_coercer(load_schemas()["RetailListing"])
    with (out_dir / "retail.listings.v1.jsonl").open() as fh:
        records = [coerce(json.loads(line)) for line in fh]
    with (out_dir / TRUTH_FILE).open() as fh:
        truth = {f"{r['retailer']}:{r['sku']}": r["product_id"] for r in csv.DictReader(fh)}
    return records, truth


def true_pairs(truth: dict[str, str]) -> set[str]:
    """Match ids of every pair of listings of one product at different retailers."""
    by_product: dict[str, list[str]] = defaultdict(list)
    for key, product in truth.items():
        by_product[product].append(key)
    pairs: set[str] = set()
    for keys in by_product.values():
        for a, b in itertools.combinations(sorted(keys), 2):
            if a.split(":", 1)[0] != b.split(":", 1)[0]:
                pairs.add(f"{a}|{b}")
    return pairs

"""The generated retail day is labelled listing by listing (the ground truth the matcher is judged by)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tests.support.retail import generated_day, true_pairs


def test_generated_day_is_labelled_listing_by_listing(tmp_path: Path) -> None:
    records, truth = generated_day(tmp_path, 11, date(2025, 9, 3))
    assert {f"{r['retailer']}:{r['sku']}" for r in records} == set(truth)
    assert all(isinstance(r["event_time"], int) for r in records)
    pairs = true_pairs(truth)
    assert pairs and all(a < b for a, b in (p.split("|") for p in pairs))

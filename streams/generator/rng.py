"""One independent ``random.Random`` per domain, derived from the seed and the day.

The derivation goes through SHA-256 of a fixed text, so it depends on nothing but its inputs
(not on ``PYTHONHASHSEED``, not on the order domains are generated in).
"""

from __future__ import annotations

import hashlib
import random
from datetime import date


def domain_rng(seed: int, day: date | None, domain: str) -> random.Random:
    """The generator for ``domain``; ``day=None`` gives a day-independent stream (fixed catalogs)."""
    text = f"mercado-generator/v1|{seed}|{day.isoformat() if day else '-'}|{domain}"
    return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest(), "big"))

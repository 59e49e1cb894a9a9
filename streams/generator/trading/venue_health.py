"""Venue health probes: a ping per venue every few seconds, with the scenario's spike and outage."""

from __future__ import annotations

import random
from typing import Any

from streams.generator.clock import SECOND, iso
from streams.generator.config import CRYPTO_VENUES, MARKET_MAKER
from streams.generator.trading.scenario import CryptoScenario

PROBE = "ping"
BLIP_ERROR = "HTTP 429 Too Many Requests"
_MEDIAN_MS = {"binance": 45.0, "kraken": 95.0, "coinbase": 68.0}
_OUTAGE_ERRORS = (
    ("HTTP 503 Service Unavailable", None),
    ("ReadTimeout: no response within 2000 ms", 2_000.0),
    ("HTTP 502 Bad Gateway", None),
    ("ConnectionResetError: [Errno 104] Connection reset by peer", None),
)


def generate_venue_health(rng: random.Random, scenario: CryptoScenario) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    every = MARKET_MAKER.probe_every_s * SECOND
    for k in range((scenario.day.end - scenario.day.start) // every):
        slot = scenario.day.start + k * every
        for venue in CRYPTO_VENUES:
            t = slot + rng.randint(0, 40_000)
            error: str | None = None
            if venue == scenario.outage_venue and t in scenario.outage and rng.random() < 0.92:
                error, timeout = _OUTAGE_ERRORS[rng.randrange(len(_OUTAGE_ERRORS))]
                latency = timeout if timeout is not None else round(rng.uniform(8.0, 60.0), 1)
            elif venue == scenario.latency_venue and t in scenario.latency_spike:
                latency = round(rng.uniform(550.0, 2_500.0), 1)
            else:
                latency = round(min(480.0, max(12.0, _MEDIAN_MS[venue] * rng.lognormvariate(0.0, 0.3))), 1)
                if rng.random() < 0.0002:
                    error = BLIP_ERROR  # an isolated failed probe now and then
            records.append(
                {
                    "event_id": f"{venue}:{PROBE}:{t}",
                    "event_time": iso(t),
                    "venue": venue,
                    "probe": PROBE,
                    "latency_ms": latency,
                    "ok": error is None,
                    "error": error,
                }
            )
    records.sort(key=lambda r: r["event_time"])
    return records

"""The garbage-collector tuning every long-running Mercado process shares (one home for it).

What a process loads at start (modules, schemas, calendars, settings: 10^5 objects and more) lives as long
as the process. CPython's full (generation 2) collection walks every tracked object, so with that heap each
full collection stopped the process for 30 ms to 2 s (the worker's latency spikes in bench.marketdata_live,
the feed adapter's 1.6-2.1 s of a 6 s run in bench.feeds, the gateway's event loop in bench.gateway).
``gc.freeze`` moves everything alive to a permanent generation the collector no longer walks; a frozen object
is still freed by its reference count. A higher young-generation threshold (CPython's default is 700
allocations) suits processes that keep thousands of short-lived acyclic containers per batch alive: with the
default they survive into the older generations and trigger full collections.
"""

from __future__ import annotations

import gc


def freeze_heap(*, collect: bool = True, young_threshold: int | None = None, older: tuple[int, int] | None = None) -> None:  # fmt: skip  # noqa: E501
    """Freeze everything alive out of later collections (after one collection unless ``collect`` is False:
    a process that has just started has little garbage, and the collection costs a pause of its own), and
    optionally raise the thresholds: ``young_threshold`` (never below the current one) and ``older``
    (generations 1 and 2)."""
    if collect:
        gc.collect()
    gc.freeze()
    young, gen1, gen2 = gc.get_threshold()
    if young_threshold is not None:
        young = max(young, young_threshold)
    if older is not None:
        gen1, gen2 = older
    gc.set_threshold(young, gen1, gen2)

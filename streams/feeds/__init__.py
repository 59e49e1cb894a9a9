"""Live feeds (``mercado feed …``): one process per feed, each a door like ``mercado produce``.

* :mod:`.core` — the pure parts: events a feed writes, dedup by the venue's trade id, the jittered
  backoff schedule, the stale-stream and quiet-period clocks (all on a clock given to them);
* :mod:`.writer` — the exactly-once writer: the door's :class:`~streams.ingest.producer.FileProducer`
  encoding and admission, on one transactional producer per feed (a restarted feed fences its predecessor);
* :mod:`.runner` — the loop every adapter shares: reconnect with backoff, stale detection, latency
  probes, heartbeats, SIGTERM;
* :mod:`.ccxt_feed` — exchanges through ccxt (REST polling of trades);
* :mod:`.twelvedata` — a quote feed speaking TwelveData's WebSocket and REST formats;
* :mod:`.loopback` — local servers speaking those venues' formats (tests, ``bench.feeds``, the demo's feed step).
"""

"""Order execution at a venue (``mercado venue ccxt``): approved orders out, their lifecycle events in.

* :mod:`.orders` — the pure parts: the exchange's client order id derived from the order, ccxt's errors
  classified (retry or final), the lifecycle records with deterministic ids, the adapter's order book;
* :mod:`.ccxt_venue` — the adapter on ccxt's async client and its Kafka loop (decisions in, events and the
  consumed offsets out in one transaction).
"""

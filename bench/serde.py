"""``python -m bench.serde``: decode+encode events/s of Mercado's serde (framing included) vs raw fastavro.

Baseline: fastavro ``schemaless_writer`` + ``schemaless_reader`` on the same records and the same
(wire) schemas, no framing: the best a hand-written script does with the same library. The mix is
realistic: ticks dominate, with order fills (decimals) and retail listings.
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from io import BytesIO

from fastavro import schemaless_reader, schemaless_writer

from bench.common import interleaved, result
from streams.codec.serde import AvroSerde

T0 = 1_795_132_800_000_000


def records(n: int) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    for i in range(n):
        if i % 10 == 9:
            out.append(("OrderFilled", {
                "event_id": f"c-{i}:filled:1", "event_time": T0 + i, "account": "mm-1", "venue": "binance",
                "symbol": "BTC/USDT", "client_order_id": f"c-{i}", "venue_order_id": f"v-{i}",
                "trade_id": f"t-{i}", "side": "BUY", "fill_price": Decimal("91234.5"),
                "fill_quantity": Decimal("0.0015"), "fee": Decimal("-0.01"), "fee_currency": "USDT",
                "liquidity": "MAKER"}))
        elif i % 10 == 8:
            out.append(("RetailListing", {
                "event_id": f"falabella:{i}:1", "event_time": T0 + i, "retailer": "falabella", "sku": str(i),
                "name": "Celular Samsung Galaxy A54 5G 128GB 8GB RAM Negro", "brand": "Samsung",
                "category": "celulares", "url": None, "price_normal": 399990, "price_offer": 329990,
                "price_card": None, "rating": 4.6, "reviews_count": 120, "observed_at": T0 + i}))
        else:
            out.append(("PriceTick", {
                "event_id": f"binance:BTC/USDT:{i}", "event_time": T0 + i * 1000, "venue": "binance",
                "symbol": "BTC/USDT", "bid": 91234.5 + i % 7, "ask": 91235.1 + i % 7, "last": 91234.9,
                "volume": 0.0123, "sequence": i, "backfill_id": None}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    serde = AvroSerde()
    recs = records(args.events)
    encoders = {name: serde.encoder(name) for name in ("PriceTick", "OrderFilled", "RetailListing")}
    wire = {name: serde.schemas[name].wire for name in encoders}
    decode = serde.decode

    def mercado() -> int:
        for name, rec in recs:
            decode(encoders[name](rec))
        return len(recs)

    def raw() -> int:
        for name, rec in recs:
            w = wire[name]
            buf = BytesIO()
            schemaless_writer(buf, w, rec)
            buf.seek(0)
            schemaless_reader(buf, w, None)
        return len(recs)

    value, baseline = interleaved(mercado, raw, args.repeats)
    result("serde", value, baseline, "events/s", events=args.events, target_ratio=0.8)


if __name__ == "__main__":
    main()

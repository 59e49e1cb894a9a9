"""One bad event time must not poison a pipeline (processors and runtime alone, no services).

The runtime refuses an input event before the floor, ahead of its producer's stamp, or (unstamped)
implausibly far ahead of its partition's clock; a refused event moves no clock. And whatever event
time jump a processor is given, one input makes a bounded number of outputs and the state stays small.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.admission import AdmissionConfig
from processors.marketdata.config import MarketDataConfig
from processors.marketdata.processor import MarketDataProcessor
from processors.retail import RetailReplay
from processors.risk import InProcessRisk
from processors.runtime import PartitionRuntime
from streams.codec.serde import AvroSerde
from streams.config import Settings
from streams.runtime.driver import PipelineDriver, Rejected
from streams.runtime.pipelines import build_pipeline, build_stages
from tests.support.marketdata import at, tick
from tests.support.retail import listing
from tests.support.risk_events import filled, probe, submitted
from tests.support.risk_events import tick as risk_tick

T0 = at("2026-11-20 15:00:00")  # a Friday: crypto and US equities in session
Y2999 = at("2999-01-01 00:00:00")
SECOND = 1_000_000
DAY = 86_400 * SECOND
KEY = "binance:BTC/USDT"
SERDE = AvroSerde()


def _spec() -> Any:
    return build_pipeline("marketdata", Settings())


def btc(t: int, price: float, seq: int = 0) -> dict[str, Any]:
    return tick(t, price, seq, venue="binance", symbol="BTC/USDT")


def _stamped(record: dict[str, Any], produced_us: int) -> dict[str, Any]:
    return {**record, "_produced_us": produced_us}


def _schemas(emits: list[Any]) -> Counter[str]:
    return Counter(e.schema for e in emits)


# ---------------------------------------------------------------------------------------------- runtime
def test_every_pipeline_checks_event_time_in_its_first_stage_only() -> None:
    settings = Settings()
    for name in ("marketdata", "retail", "risk"):
        stages = build_stages(name, settings)
        assert stages[0].admission == settings.admission, name
        assert all(stage.admission is None for stage in stages[1:]), name
    # a replay that starts at a later stage (its input is a repartition topic) checks nothing
    assert build_stages("risk", settings, ["risk.inputs.v1"])[0].admission is None


def test_a_tick_dated_2999_is_refused_moves_no_clock_and_later_ticks_make_normal_bars() -> None:
    rt = PartitionRuntime(_spec())
    out = []
    for i in range(6):
        record = _stamped(btc(T0 + i * SECOND, 100.0 + i, i), T0 + i * SECOND)
        assert rt.admit(record) is None
        out += rt.process("PriceTick", record)
    bad = _stamped(btc(Y2999, 1.0, 6), T0 + 6 * SECOND)
    refused = rt.admit(bad)
    assert refused is not None and refused.reason == "event-time-ahead"
    assert "2999-01-01T00:00:00Z" in refused.message and "bound 300 s" in refused.message
    assert rt.clock == T0 + 5 * SECOND  # not moved
    for i in range(7, 200):  # 3+ minutes of real ticks after it
        t = T0 + i * SECOND
        record = _stamped(btc(t, 100.0, i), t)
        assert rt.admit(record) is None
        out += rt.process("PriceTick", record)
    counts = _schemas(out)
    assert counts["Bar"] == 3 + 0  # 15:00, 15:01 and 15:02 closed (15:03 still open), no 5-minute bar yet
    assert counts["Gap"] == 0 and counts["LateTick"] == 0
    first = next(e.record for e in out if e.schema == "Bar")
    assert (first["open"], first["high"], first["low"], first["close"]) == (100.0, 105.0, 100.0, 100.0)


def test_an_event_before_the_floor_is_refused_whatever_its_stamp() -> None:
    rt = PartitionRuntime(_spec())
    record = _stamped(btc(1_700_000, 100.0), T0)
    refused = rt.admit(record)
    assert refused is not None and refused.reason == "event-time-floor"
    assert "before the floor 2000-01-01T00:00:00Z" in refused.message
    assert rt.admit(btc(1_700_000, 100.0)).reason == "event-time-floor"


def test_an_unstamped_event_is_judged_against_its_partition_clock() -> None:
    rt = PartitionRuntime(_spec())
    first = btc(T0, 100.0)
    assert rt.admit(first) is None  # no clock yet: nothing to judge against
    rt.process("PriceTick", first)
    assert rt.admit(btc(T0 + 7 * DAY, 100.0)) is None  # exactly the bound
    refused = rt.admit(btc(T0 + 30 * DAY, 100.0))
    assert refused is not None and refused.reason == "event-time-jump"
    assert "30.0 days ahead of its partition's clock" in refused.message
    # a stamp vouches for a long silence: the same jump, produced when it happened, is admitted
    assert rt.admit(_stamped(btc(T0 + 30 * DAY, 100.0), T0 + 30 * DAY)) is None


def test_the_bounds_are_settings() -> None:
    config = AdmissionConfig(max_ahead_s=3600, max_jump_s=DAY / SECOND)
    spec = build_pipeline("marketdata", Settings(admission=config))
    rt = PartitionRuntime(spec)
    assert rt.admit(_stamped(btc(T0 + 1800 * SECOND, 1.0), T0)) is None
    assert rt.admit(_stamped(btc(T0 + 3601 * SECOND, 1.0), T0)).reason == "event-time-ahead"


def test_the_driver_returns_a_refused_event_as_a_rejected_message_with_its_reason() -> None:
    driver = PipelineDriver(_spec(), SERDE)
    encode = SERDE.encoder("PriceTick")
    stamp = [("mercado-produced-us", str(T0).encode())]
    good = encode(btc(T0, 100.0))
    bad = encode(btc(Y2999, 100.0, 2))
    assert driver.process("md.ticks.v1", 0, 0, good, stamp) == []
    result = driver.process("md.ticks.v1", 0, 1, bad, stamp)
    assert isinstance(result, Rejected)
    assert (result.topic, result.partition, result.offset, result.error.reason) == ("md.ticks.v1", 0, 1,
                                                                                    "event-time-ahead")
    assert driver.refused == 1 and driver.inputs_seen == 1
    assert driver.runtimes[0].clock == T0


def test_a_tick_of_a_venue_without_a_calendar_is_rejected_and_the_partition_goes_on() -> None:
    driver = PipelineDriver(_spec(), SERDE)
    encode = SERDE.encoder("PriceTick")
    unknown = encode(tick(T0, 0.5, 1, venue="acme", symbol="XRP/ETH"))
    result = driver.process("md.ticks.v1", 0, 0, unknown)
    assert isinstance(result, Rejected)
    assert result.error.reason == "unknown-venue" and "'acme'" in result.error.message
    assert driver.refused == 1 and driver.inputs_seen == 0
    assert driver.runtimes[0].clock is None and "acme:XRP/ETH" not in driver.runtimes[0].processors
    assert driver.process("md.ticks.v1", 0, 1, encode(btc(T0, 100.0))) == []  # the next tick is processed
    assert driver.inputs_seen == 1 and driver.runtimes[0].clock == T0
    assert isinstance(driver.process("md.ticks.v1", 0, 2, unknown), Rejected)  # refused every time


# ---------------------------------------------------------------------------------------------- bounded output
R = MarketDataConfig().max_reports_per_advance


def _bound(proc: MarketDataProcessor) -> int:
    """Outputs one tick may cause, from the state before it: per interval at most R Gaps reported one by
    one, one coalesced Gap, the gap runs that bars end, the open bars (each a Bar and an IndicatorSet);
    R silent DataQuality hours and the hours with ticks; an Alert or a LateTick."""
    open_bars = sum(len(series.open_bars) for series in proc.series)
    intervals = len(proc.series)
    return intervals * (R + 2) + 3 * open_bars + R + len(proc.quality.hours) + 2


def test_a_2999_tick_that_reached_the_processor_anyway_makes_a_bounded_number_of_records() -> None:
    proc = MarketDataProcessor(KEY)
    for i in range(10):
        proc.on_event("PriceTick", btc(T0 + i * SECOND, 100.0 + i, i))
    bound = _bound(proc)
    out = proc.on_event("PriceTick", btc(Y2999, 100.0, 10))
    counts = _schemas(out)
    assert len(out) <= bound
    assert counts == {"Gap": 2 * (R + 1), "DataQuality": R + 1, "Bar": 2, "IndicatorSet": 2}
    gaps = [e.record for e in out if e.schema == "Gap"]
    # the coalesced Gap of each interval runs up to its last interval finalized (ends <= watermark - grace)
    assert [(g["interval_s"], g["end"]) for g in gaps if g["missing_bars"] > 1000] == [
        (60, Y2999 - 60 * SECOND), (300, Y2999 - 300 * SECOND)]
    assert len(orjson.dumps(proc.snapshot())) < 4096


def test_a_year_long_jump_of_a_us_equity_is_one_coalesced_gap_per_interval_after_the_first_reports() -> None:
    key = "nasdaq:AAPL"
    proc = MarketDataProcessor(key)
    proc.on_event("PriceTick", tick(T0, 100.0, 0, symbol="AAPL", venue="nasdaq"))
    later = at("2027-11-19 15:00:00")  # a Friday, a year later
    out = proc.on_event("PriceTick", tick(later, 101.0, 1, symbol="AAPL", venue="nasdaq"))
    gaps = [e.record for e in out if e.schema == "Gap"]
    assert len(gaps) == 2 * (R + 1)
    coalesced = [g for g in gaps if g["interval_s"] == 60][-1]
    assert coalesced["missing_bars"] > 200_000  # a year of session minutes in one record
    assert len(out) <= 2 * (R + 2) + 3 * 2 + R + 2 + 2


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["binance:BTC/USDT", "nasdaq:AAPL", "setfx:USD/COP"]),
       st.lists(st.tuples(st.sampled_from([-3 * SECOND, SECOND, 40 * SECOND, 3600 * SECOND, 3 * DAY, 400 * DAY]),
                          st.floats(1.0, 1000.0)), min_size=1, max_size=25))
def test_any_event_time_jump_gives_bounded_market_data_outputs_and_state(key: str, steps: list) -> None:
    venue, symbol = key.split(":")
    proc = MarketDataProcessor(key)
    t = at("2026-11-20 14:00:00")
    for i, (step, price) in enumerate(steps):
        t += step
        bound = _bound(proc)
        out = proc.on_event("PriceTick", tick(t, price, i, symbol=symbol, venue=venue))
        assert len(out) <= bound
        assert len(orjson.dumps(proc.snapshot())) < 64_000


_RETAILERS = ("falabella", "ripley")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_RETAILERS), st.integers(0, 2), st.integers(100_000, 900_000),
                          st.sampled_from([SECOND, 3600 * SECOND, 3 * DAY, 400 * DAY, 3000 * DAY])),
                min_size=1, max_size=20))
def test_any_event_time_jump_gives_bounded_retail_outputs_and_state(steps: list) -> None:
    """Per input: its own outputs (normalized, glitch, block records, matches, an opportunity) and the
    catch-up of the open opportunities' re-validations, which end once a quote is older than
    ``max_quote_age_s``: at most max_quote_age_s / critical_every_s + 1 per open opportunity."""
    replay = RetailReplay(partitions=1)
    t = at("2026-11-20 12:00:00")
    for i, (retailer, sku, price, step) in enumerate(steps):
        t += step
        opportunities = sum(1 for rt in replay.runtimes[2] for p in rt.processors.values()
                            if getattr(p, "open", None) is not None)
        record = listing(retailer, f"sku-{sku}", f"Smartphone Samsung Galaxy A5{sku} 128GB Negro", price, t=t)
        record["event_id"] = f"{retailer}:{sku}:{i}"
        out = replay.feed(record)
        assert len(out) <= 40 + opportunities * (3 * 24 * 2 + 1)
        assert len(orjson.dumps(replay.snapshot())) < 200_000


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["tick", "probe", "order"]), st.floats(100.0, 200.0),
                          st.sampled_from([SECOND, 60 * SECOND, 3 * DAY, 400 * DAY, 3000 * DAY])),
                min_size=1, max_size=25))
def test_any_event_time_jump_gives_bounded_risk_outputs_and_state(steps: list) -> None:
    risk = InProcessRisk(partitions=1)
    t = at("2026-11-20 12:00:00")
    for i, (kind, price, step) in enumerate(steps):
        t += step
        if kind == "tick":
            event = risk_tick(t, price - 0.5, price + 0.5)
        elif kind == "probe":
            event = probe(t, price * 10)
        else:
            event = submitted(t, f"o{i}", "BUY", "0.01", f"{price:.2f}")
        out = risk.feed(*event)
        if kind == "order":
            out += risk.feed(*filled(t, f"o{i}", "BUY", f"{price:.2f}", "0.01"))
        assert len(out) <= 30
        assert len(orjson.dumps(risk.snapshot(), default=str)) < 64_000


# ---------------------------------------------------------------------------------------------- merges
def test_the_live_merge_releases_a_message_it_will_refuse_first_instead_of_holding_its_partition_back() -> None:
    from streams.runtime.align import EventTimeAligner, Held

    def held(partition: int, offset: int, ts_ms: int, produced_us: int | None) -> Held:
        headers = () if produced_us is None else (("mercado-produced-us", str(produced_us).encode()),)
        return Held("risk-in", partition, offset, ts_ms, b"k", b"v", headers)

    t0 = T0 // 1000
    stamped = EventTimeAligner(admission=AdmissionConfig())
    plain = EventTimeAligner()
    for aligner in (stamped, plain):
        aligner.assign([("risk-in", 0), ("risk-in", 1)])
        aligner.add(held(0, 0, Y2999 // 1000, T0))  # refused by its stamp
        aligner.add(held(0, 1, t0 + 5, T0 + 5000))
        aligner.add(held(1, 0, t0 + 1, T0 + 1000))
        aligner.add(held(1, 1, t0 + 9, T0 + 9000))

    def order(aligner: EventTimeAligner) -> list[tuple[int, int]]:
        return [(m.partition, m.offset) for m in aligner.release(lambda *_: False)]

    # the 2999 tick goes first; the others in event-time order, as if it were not there
    assert order(stamped) == [(0, 0), (1, 0), (0, 1), (1, 1)]
    # without the bounds it held partition 0 back behind everything of partition 1
    assert order(plain) == [(1, 0), (1, 1), (0, 0), (0, 1)]


def test_merge_key_orders_refused_messages_first_and_keeps_the_others() -> None:
    from streams.runtime.align import merge_key

    bounds = AdmissionConfig()
    stamp = [("mercado-produced-us", str(T0).encode())]
    assert merge_key(T0 // 1000, stamp, bounds) == T0 // 1000
    assert merge_key(Y2999 // 1000, stamp, bounds) == -1
    assert merge_key(1_700, None, bounds) == -1  # before the floor
    assert merge_key(Y2999 // 1000, None, bounds) == Y2999 // 1000  # unstamped: the merge keeps no clock
    assert merge_key(Y2999 // 1000, stamp, None) == Y2999 // 1000

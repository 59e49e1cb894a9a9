"""The sample-day generator: determinism, Avro validity, calendars, and the planted episodes.

Each day is generated once per module (the weekday also twice more, in subprocesses with other
hash seeds, to prove byte-identical output and that another seed changes every file).
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import holidays
import orjson
import pytest
from fastavro.schema import parse_schema
from fastavro.validation import validate

from streams.generator import FILES, TRUTH_FILE, Manifest, generate_day
from streams.generator.config import MARKET_MAKER
from streams.generator.marketdata.calendars import nyse_day

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
SEED = 42
WEEKDAY = date(2026, 11, 20)  # a Friday: every market open
SATURDAY = date(2026, 11, 21)
CO_HOLIDAY = date(2026, 11, 16)  # Independence of Cartagena, moved to Monday; NYSE open
EARLY_CLOSE = date(2026, 11, 27)  # day after Thanksgiving: NYSE closes 13:00
THANKSGIVING = date(2026, 11, 26)  # NYSE closed
CRYPTO_SOURCES = [f"{v}:{s}" for v in ("binance", "kraken", "coinbase") for s in ("BTC/USDT", "ETH/USDT")]
SECOND = 1_000_000


def _spawn(out: Path, seed: int, day: date) -> subprocess.Popen[bytes]:
    code = (
        "import sys, datetime, pathlib\n"
        "from streams.generator import generate_day\n"
        "generate_day(pathlib.Path(sys.argv[1]), int(sys.argv[2]), datetime.date.fromisoformat(sys.argv[3]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": str(1000 + seed)}
    return subprocess.Popen([sys.executable, "-c", code, str(out), str(seed), day.isoformat()], env=env)


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory, generated_days) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("generated")
    # Two more copies of the weekday run alongside, in fresh interpreters with other hash seeds.
    spawned = {
        "again": _spawn(root / "again", SEED, WEEKDAY),
        "other_seed": _spawn(root / "other_seed", SEED + 1, WEEKDAY),
    }
    weekday = generated_days(SEED, WEEKDAY)[0]  # tests/conftest.py: made once per session, shared
    generate_day(root / "saturday", SEED, SATURDAY)
    generate_day(root / "co_holiday", SEED, CO_HOLIDAY, domains=("fx",))
    generate_day(root / "early_close", SEED, EARLY_CLOSE, domains=("scanner",))
    generate_day(root / "thanksgiving", SEED, THANKSGIVING, domains=("fx", "scanner"))
    for name, proc in spawned.items():
        assert proc.wait(timeout=300) == 0, f"generating {name} failed"
    return {"weekday": weekday, **{p.name: p for p in root.iterdir()}}


@cache
def _lines(path: Path) -> tuple[dict[str, Any], ...]:
    return tuple(orjson.loads(line) for line in path.read_bytes().splitlines())


def lines(out: Path, topic: str) -> tuple[dict[str, Any], ...]:
    """The lines of a topic file; heartbeats share md.ticks.v1 (marked "type": "Heartbeat"), so
    "md.ticks.v1" gives the ticks and "md.heartbeats.v1" the heartbeats (without the type)."""
    if topic == "md.heartbeats.v1":
        return tuple(
            {k: v for k, v in r.items() if k != "type"} for r in _lines(out / "md.ticks.v1.jsonl")
            if r.get("type") == "Heartbeat"
        )
    if topic == "md.ticks.v1":
        return tuple(r for r in _lines(out / "md.ticks.v1.jsonl") if r.get("type", "PriceTick") == "PriceTick")
    return _lines(out / f"{topic}.jsonl")


def micros(text: str) -> int:
    moment = datetime.fromisoformat(text)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds


def utc(day: date, hh: int, mm: int = 0) -> int:
    return micros(f"{day.isoformat()}T{hh:02d}:{mm:02d}:00+00:00")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- determinism and manifest
def test_same_seed_gives_byte_identical_files(days: dict[str, Path]) -> None:
    first, again = days["weekday"], days["again"]
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    assert names == sorted([*(f"{t}.jsonl" for t in FILES), TRUTH_FILE, "manifest.json"])
    for name in names:
        assert sha256(first / name) == sha256(again / name), name


def test_another_seed_changes_every_file(days: dict[str, Path]) -> None:
    for name in [*(f"{t}.jsonl" for t in FILES), TRUTH_FILE]:
        assert sha256(days["weekday"] / name) != sha256(days["other_seed"] / name), name


def test_manifest_describes_the_files(days: dict[str, Path]) -> None:
    out = days["weekday"]
    manifest = Manifest.read(out)
    assert (manifest.seed, manifest.day) == (SEED, "2026-11-20")
    assert sorted(manifest.files) == sorted([*(f"{t}.jsonl" for t in FILES), TRUTH_FILE])
    for name, entry in manifest.files.items():
        data = (out / name).read_bytes()
        assert entry.sha256 == hashlib.sha256(data).hexdigest()
        assert (entry.lines, entry.bytes) == (data.count(b"\n"), len(data))
        assert entry.topic == (None if name == TRUTH_FILE else name.removesuffix(".jsonl"))
    raw = (out / "manifest.json").read_bytes()
    assert raw == orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def test_a_domain_does_not_depend_on_the_others(days: dict[str, Path], tmp_path: Path) -> None:
    generate_day(tmp_path, SEED, WEEKDAY, domains=("retail",))
    for name in ("retail.listings.v1.jsonl", TRUTH_FILE):
        assert sha256(tmp_path / name) == sha256(days["weekday"] / name)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(["manifest.json", TRUTH_FILE, "retail.listings.v1.jsonl"])


def test_unknown_domain_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown domain"):
        generate_day(tmp_path, SEED, WEEKDAY, domains=("weather",))


# --------------------------------------------------------------------------- Avro contracts
@cache
def _schemas() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Full name -> (raw schema with named references resolved, parsed fastavro schema).

    Named dependencies (Side, ScanRow) are parsed first into the shared ``named_schemas``.
    """
    needed = ["mercado.trading.Side", "mercado.scanner.ScanRow", *(n for names in FILES.values() for n in names)]
    named: dict[str, Any] = {}
    raw_by_name: dict[str, dict[str, Any]] = {}
    parsed = {}
    for full in needed:
        _, domain, record = full.split(".")
        raw = json.loads((SCHEMAS / domain / f"{record}.avsc").read_text())
        assert f"{raw['namespace']}.{raw['name']}" == full
        raw_by_name[full] = raw
        parsed[full] = parse_schema(raw, named_schemas=named)
    return {name: (_resolve(raw_by_name[name], raw_by_name), parsed[name]) for name in needed}


def _resolve(node: Any, by_name: dict[str, dict[str, Any]]) -> Any:
    if isinstance(node, str):
        return _resolve(by_name[node], by_name) if node in by_name else node
    if isinstance(node, list):
        return [_resolve(n, by_name) for n in node]
    if isinstance(node, dict):
        return {k: (_resolve(v, by_name) if k in ("type", "items", "fields") else v) for k, v in node.items()}
    return node


def _identity(value: Any) -> Any:
    return value


def compile_coercer(node: Any) -> Any:
    """File form -> Avro form, compiled once per schema: ISO timestamps to micros, decimal text to ``Decimal``."""
    if isinstance(node, list):
        (branch,) = [n for n in node if n != "null"]
        inner = compile_coercer(branch)
        return lambda value: None if value is None else inner(value)
    if isinstance(node, dict):
        kind, logical = node["type"], node.get("logicalType")
        if logical == "timestamp-micros":
            return micros
        if logical == "decimal":
            return Decimal
        if kind == "record":
            fields = [(f["name"], compile_coercer(f["type"])) for f in node["fields"]]
            names = {name for name, _ in fields}

            def record(value: dict[str, Any]) -> dict[str, Any]:
                extra = value.keys() - names
                assert not extra, f"{node['name']}: unknown fields {sorted(extra)}"
                return {name: convert(value[name]) for name, convert in fields if name in value}

            return record
        if kind == "array":
            item = compile_coercer(node["items"])
            return lambda value: [item(v) for v in value]
        if isinstance(kind, dict | list):
            return compile_coercer(kind)
    return _identity


@cache
def _coercer(full_name: str) -> Any:
    return compile_coercer(_schemas()[full_name][0])


def check_avro(record: dict[str, Any], full_name: str) -> None:
    datum = _coercer(full_name)(record)
    parsed = _schemas()[full_name][1]
    # The raising mode formats a path for every field (8x slower); use it only to report a failure.
    if not validate(datum, parsed, raise_errors=False):
        validate(datum, parsed, raise_errors=True)


@pytest.mark.parametrize("topic", sorted(FILES))
def test_every_line_is_a_valid_avro_record(days: dict[str, Path], topic: str) -> None:
    types = FILES[topic]
    namespace = types[0].rsplit(".", 1)[0]
    checked = 0
    for record in _lines(days["weekday"] / f"{topic}.jsonl"):
        record = dict(record)
        short = record.pop("type", None)  # names the record on topics that carry several
        full = f"{namespace}.{short}" if short else types[0]
        assert full in types
        check_avro(record, full)
        checked += 1
    assert checked > 0


@pytest.mark.parametrize("topic", sorted(FILES))
def test_lines_are_in_event_time_order_with_unique_ids(days: dict[str, Path], topic: str) -> None:
    records = lines(days["weekday"], topic)
    times = [r["event_time"] for r in records]
    assert times == sorted(times)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", t) for t in times[:1000])
    assert len({r["event_id"] for r in records}) == len(records)


def test_event_ids_are_derived_from_source_and_position(days: dict[str, Path]) -> None:
    out = days["weekday"]
    for r in lines(out, "md.ticks.v1"):
        assert r["event_id"] == f"{r['venue']}:{r['symbol']}:{r['sequence']}"
    for r in lines(out, "md.heartbeats.v1"):
        assert r["event_id"] == f"hb:{r['source']}:{micros(r['event_time'])}"
    for r in lines(out, "retail.listings.v1"):
        assert r["event_id"] == f"{r['retailer']}:{r['sku']}:{micros(r['observed_at'])}"
        assert r["observed_at"] == r["event_time"]
    for r in lines(out, "scanner.snapshots.v1"):
        assert r["event_id"] == f"{r['scanner']}:{micros(r['taken_at'])}"
    for r in lines(out, "trading.venue-health.v1"):
        assert r["event_id"] == f"{r['venue']}:{r['probe']}:{micros(r['event_time'])}"
    kinds = {
        "OrderSubmitted": "submitted",
        "OrderAccepted": "accepted",
        "OrderRejected": "rejected",
        "OrderFilled": "filled",
        "OrderCanceled": "canceled",
    }
    counter: Counter[str] = Counter()
    for r in lines(out, "trading.orders.v1"):
        counter[r["client_order_id"]] += 1
        assert r["event_id"] == f"{r['client_order_id']}:{kinds[r['type']]}:{counter[r['client_order_id']]}"


# --------------------------------------------------------------------------- USD/COP
def test_usdcop_ticks_only_inside_the_bogota_session(days: dict[str, Path]) -> None:
    ticks = [r for r in lines(days["weekday"], "md.ticks.v1") if r["venue"] == "setfx"]
    # 08:00–12:55 America/Bogota is 13:00–17:55 UTC (no daylight saving in Colombia).
    open_, close = utc(WEEKDAY, 13), utc(WEEKDAY, 17, 55)
    assert 6_000 < len(ticks) < 12_000
    assert all(open_ <= micros(r["event_time"]) < close for r in ticks)
    first_15 = sum(1 for r in ticks if micros(r["event_time"]) < open_ + 15 * 60 * SECOND)
    assert first_15 > 2 * len(ticks) * 15 / 295  # busier than average right after the open
    for r in ticks:
        assert r["symbol"] == "USD/COP"
        assert 3_900 < r["bid"] <= r["last"] <= r["ask"] < 4_400
        assert 0.9 <= round(r["ask"] - r["bid"], 2) <= 5.0
        assert r["volume"] % 50_000 == 0 and 50_000 <= r["volume"] <= 2_000_000
    assert [r["sequence"] for r in ticks] == list(range(ticks[0]["sequence"], ticks[0]["sequence"] + len(ticks)))
    beats = [r for r in lines(days["weekday"], "md.heartbeats.v1") if r["source"] == "setfx:USD/COP"]
    assert beats and all(open_ <= micros(r["event_time"]) < close for r in beats)


def test_no_usdcop_on_a_colombian_holiday(days: dict[str, Path]) -> None:
    assert holidays.country_holidays("CO", years=2026).get(CO_HOLIDAY) == "Independence of Cartagena (observed)"
    assert CO_HOLIDAY.weekday() == 0
    out = days["co_holiday"]
    assert lines(out, "md.ticks.v1") == () and lines(out, "md.heartbeats.v1") == ()
    fx = Manifest.read(out).scenario["fx"]
    assert fx == {"open": False, "holiday": "Independence of Cartagena (observed)"}
    assert nyse_day(CO_HOLIDAY) is not None  # New York trades that Monday; only Bogota is closed


def test_saturday_has_crypto_orders_and_retail_but_no_usdcop_and_no_scanner(days: dict[str, Path]) -> None:
    out = days["saturday"]
    sources = Counter(f"{r['venue']}:{r['symbol']}" for r in lines(out, "md.ticks.v1"))
    assert sorted(sources) == sorted(CRYPTO_SOURCES)
    assert all(r["source"] != "setfx:USD/COP" for r in lines(out, "md.heartbeats.v1"))
    assert lines(out, "scanner.snapshots.v1") == ()
    assert len(lines(out, "trading.orders.v1")) > 3_000
    assert len(lines(out, "trading.venue-health.v1")) == 3 * 8_640
    assert len(lines(out, "retail.listings.v1")) > 1_500
    scenario = Manifest.read(out).scenario
    assert scenario["fx"] == {"open": False, "holiday": None}
    assert scenario["scanner"] == {"open": False}


# --------------------------------------------------------------------------- crypto
def _by_source(out: Path) -> dict[str, list[dict[str, Any]]]:
    feeds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in lines(out, "md.ticks.v1"):
        feeds[f"{r['venue']}:{r['symbol']}"].append(r)
    return feeds


def test_crypto_feeds_are_realistic(days: dict[str, Path]) -> None:
    feeds = _by_source(days["weekday"])
    total = sum(len(feeds[s]) for s in CRYPTO_SOURCES)
    assert 150_000 < total <= 250_000
    for source in CRYPTO_SOURCES:
        ticks = feeds[source]
        low, high = (60_000, 100_000) if source.endswith("BTC/USDT") else (2_000, 4_000)
        assert 86_400 / len(ticks) == pytest.approx(2.5, abs=0.6)  # about one tick every 2–3 s
        seqs = [r["sequence"] for r in ticks]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        spreads = []
        for r in ticks:
            assert low < r["bid"] < r["ask"] < high
            assert r["bid"] <= r["last"] <= r["ask"] and r["volume"] > 0
            spreads.append((r["ask"] - r["bid"]) / r["bid"] * 1e4)
        spreads.sort()
        assert spreads[len(spreads) // 2] < 5.0 and spreads[-1] < 60.0  # bps: tight, wider in stress


def test_quiet_gap_exists_and_heartbeats_cover_every_silence(days: dict[str, Path]) -> None:
    out = days["weekday"]
    quiet = Manifest.read(out).scenario["crypto"]["quiet_gap"]
    feeds = _by_source(out)
    beats: dict[str, list[int]] = defaultdict(list)
    for r in lines(out, "md.heartbeats.v1"):
        beats[r["source"]].append(micros(r["event_time"]))
    day_start, day_end = utc(WEEKDAY, 0), utc(WEEKDAY, 0) + 86_400 * SECOND
    long_gaps = []
    for source in CRYPTO_SOURCES:
        times = [micros(r["event_time"]) for r in feeds[source]]
        expected = []
        for before, after in zip([day_start, *times], [*times, day_end], strict=True):
            if after - before > 5 * 60 * SECOND:
                long_gaps.append((source, before, after))
            expected.extend(range(before + 5 * SECOND, after, 5 * SECOND))
        assert beats[source] == expected, source
    assert len(long_gaps) == 1
    source, before, after = long_gaps[0]
    assert source == quiet["source"]
    assert before < micros(quiet["start"]) and after >= micros(quiet["end"])
    assert 540 * SECOND < after - before < 720 * SECOND
    covered = [t for t in beats[source] if before < t < after]
    assert covered == list(range(before + 5 * SECOND, after, 5 * SECOND)) and len(covered) >= 108


def test_dislocations_move_one_venue_away_from_the_others(days: dict[str, Path]) -> None:
    out = days["weekday"]
    feeds = _by_source(out)
    dislocations = Manifest.read(out).scenario["crypto"]["dislocations"]
    assert 4 <= len(dislocations) <= 6
    mids = {s: ([micros(r["event_time"]) for r in f], [(r["bid"] + r["ask"]) / 2 for r in f]) for s, f in feeds.items()}
    for d in dislocations:
        source = f"{d['venue']}:{d['symbol']}"
        others = [f"{v}:{d['symbol']}" for v in ("binance", "kraken", "coinbase") if v != d["venue"]]
        times, values = mids[source]
        start, end = micros(d["start"]), micros(d["end"])
        deviations = []
        for i in range(bisect.bisect_left(times, start), bisect.bisect_left(times, end)):
            ref = [mids[o][1][bisect.bisect_right(mids[o][0], times[i]) - 1] for o in others]
            deviations.append(values[i] / (sum(ref) / len(ref)) - 1)
        assert deviations, d
        deviations.sort()
        assert abs(deviations[len(deviations) // 2] - d["offset"]) < 0.003
        assert abs(d["offset"]) >= 0.005


# --------------------------------------------------------------------------- scanner
def _check_scanner(out: Path, day: date, pre: int, regular: int, post: int, open_utc: int, close_utc: int) -> None:
    snaps = lines(out, "scanner.snapshots.v1")
    assert len(snaps) == pre + regular + post
    start = utc(day, 9)  # 04:00 America/New_York in November (EST)
    assert [micros(s["taken_at"]) for s in snaps] == list(range(start, start + len(snaps) * 10 * SECOND, 10 * SECOND))
    assert Counter(s["session"] for s in snaps) == {"PRE_MARKET": pre, "REGULAR": regular, "POST_MARKET": post}
    gap_at_open: dict[str, float] = {}
    volume_seen: dict[str, int] = {}
    for s in snaps:
        t = micros(s["taken_at"])
        assert s["session"] == ("PRE_MARKET" if t < open_utc else "REGULAR" if t < close_utc else "POST_MARKET")
        assert s["scanner"] == "gappers" and s["event_time"] == s["taken_at"] and len(s["rows"]) == 50
        changes = [abs(r["change_pct"]) for r in s["rows"]]
        assert changes == sorted(changes, reverse=True)
        for r in s["rows"]:
            assert r["change_pct"] == round((r["price"] / r["prev_close"] - 1) * 100, 2)
            assert r["low"] <= r["price"] <= r["high"]
            assert r["volume"] >= volume_seen.get(r["ticker"], 0)
            volume_seen[r["ticker"]] = r["volume"]
            if s["session"] == "PRE_MARKET":
                assert r["gap_pct"] == r["change_pct"]
            else:
                assert gap_at_open.setdefault(r["ticker"], r["gap_pct"]) == r["gap_pct"]
    assert max(abs(r["change_pct"]) for r in snaps[-1]["rows"]) > 20  # real gappers, not noise
    assert len(volume_seen) > 100


def test_scanner_sessions_on_a_trading_day(days: dict[str, Path]) -> None:
    _check_scanner(days["weekday"], WEEKDAY, 1_980, 2_340, 1_440, utc(WEEKDAY, 14, 30), utc(WEEKDAY, 21))


def test_scanner_on_an_early_close_day(days: dict[str, Path]) -> None:
    scanner = Manifest.read(days["early_close"]).scenario["scanner"]
    assert scanner["early_close"] is True and scanner["post_market"]["end"] == "2026-11-27T22:00:00.000000Z"
    _check_scanner(
        days["early_close"], EARLY_CLOSE, 1_980, 1_260, 1_440, utc(EARLY_CLOSE, 14, 30), utc(EARLY_CLOSE, 18)
    )


def test_no_scanner_on_an_nyse_holiday(days: dict[str, Path]) -> None:
    out = days["thanksgiving"]
    assert lines(out, "scanner.snapshots.v1") == ()
    assert len([r for r in lines(out, "md.ticks.v1") if r["venue"] == "setfx"]) > 6_000  # Bogota trades


# --------------------------------------------------------------------------- retail
def test_ground_truth_covers_every_listing(days: dict[str, Path]) -> None:
    out = days["weekday"]
    with (out / TRUTH_FILE).open(newline="") as fh:
        truth = list(csv.DictReader(fh))
    assert list(truth[0]) == ["retailer", "sku", "product_id"]
    keys = [(r["retailer"], r["sku"]) for r in truth]
    assert len(keys) == len(set(keys)) and keys == sorted(keys)
    listings = lines(out, "retail.listings.v1")
    assert {(r["retailer"], r["sku"]) for r in listings} == set(keys)
    product_of = {(r["retailer"], r["sku"]): r["product_id"] for r in truth}
    per_product: dict[str, set[str]] = defaultdict(set)
    for (retailer, _sku), product in product_of.items():
        per_product[product].add(retailer)
    assert 500 <= len(per_product) <= 700
    assert all(2 <= len(retailers) <= 5 for retailers in per_product.values())
    # Every product appears at each of its retailers exactly once.
    assert sum(len(r) for r in per_product.values()) == len(keys)
    assert 1_600 <= len(keys) <= 2_200 and len(listings) - len(keys) >= 250


def test_the_same_product_is_named_differently_and_hard_negatives_exist(days: dict[str, Path]) -> None:
    out = days["weekday"]
    with (out / TRUTH_FILE).open(newline="") as fh:
        product_of = {(r["retailer"], r["sku"]): r["product_id"] for r in csv.DictReader(fh)}
    names: dict[str, set[str]] = defaultdict(set)
    by_retailer_name: dict[tuple[str, str], set[str]] = defaultdict(set)
    code = re.compile(r"\s[A-Z0-9]{2,}[-A-Z0-9./()]*[0-9][-A-Z0-9./()]*$")
    for r in lines(out, "retail.listings.v1"):
        product = product_of[(r["retailer"], r["sku"])]
        names[product].add(r["name"])
        by_retailer_name[(r["retailer"], code.sub("", r["name"]))].add(product)
    assert sum(1 for n in names.values() if len(n) >= 2) > 0.95 * len(names)
    # Same name, different model code: two products that read alike once the code is removed.
    assert sum(1 for products in by_retailer_name.values() if len(products) > 1) >= 5
    # Same line, different storage.
    all_names = {n for ns in names.values() for n in ns}
    assert any(n.replace("128GB", "256GB") in all_names and "128GB" in n for n in all_names)
    assert any("SM-A546E" in n for n in all_names) and any("Awesome Black" in n for n in all_names)
    assert any(re.search(r"\d+\+\d+GB", n) for n in all_names) and any(" 128gb " in n for n in all_names)


def test_retail_prices_crawls_and_glitches(days: dict[str, Path]) -> None:
    out = days["weekday"]
    listings = lines(out, "retail.listings.v1")
    # Morning crawl 08:00–09:00 America/Santiago (UTC-3 in November); re-crawl 12:00–19:30.
    morning = (utc(WEEKDAY, 11), utc(WEEKDAY, 12))
    seen: dict[tuple[str, str], tuple[Any, ...]] = {}
    reobserved = 0
    for r in listings:
        t = micros(r["observed_at"])
        key = (r["retailer"], r["sku"])
        prices = (r["price_normal"], r["price_offer"], r["price_card"])
        assert all(p is None or isinstance(p, int) for p in prices)
        if key in seen:
            reobserved += 1
            assert utc(WEEKDAY, 15) <= t < utc(WEEKDAY, 22, 30)
            assert prices != seen[key]
        else:
            assert morning[0] <= t < morning[1]
        seen[key] = prices
    assert 250 <= reobserved <= 360
    glitches = Manifest.read(out).scenario["retail"]["glitches"]
    assert 7 <= len(glitches) <= 10
    first = {}
    for r in listings:
        first.setdefault((r["retailer"], r["sku"]), r)
    for g in glitches:
        r = first[(g["retailer"], g["sku"])]
        normal, offer, card = r["price_normal"], r["price_offer"], r["price_card"]
        if g["kind"] == "ninety_off":
            assert offer <= normal * 0.11
        elif g["kind"] == "card_absurd":
            assert card < 10_000 < 150_000 < normal
        elif g["kind"] == "price_one":
            assert normal == 1
        elif g["kind"] == "price_zero":
            assert offer == 0
        else:
            assert offer < normal / 5
    sane = [r for r in listings if (r["retailer"], r["sku"]) not in {(g["retailer"], g["sku"]) for g in glitches}]
    for r in sane:
        assert r["price_normal"] % 1000 == 990
        assert r["price_offer"] is None or r["price_offer"] < r["price_normal"]
        assert r["price_card"] is None or r["price_card"] < r["price_normal"]


# --------------------------------------------------------------------------- orders and venue health
def test_order_lifecycles_are_consistent(days: dict[str, Path]) -> None:
    out = days["weekday"]
    orders: dict[str, list[dict[str, Any]]] = defaultdict(list)
    records = lines(out, "trading.orders.v1")
    assert 3_000 < len(records) < 15_000
    for r in records:
        assert r["account"] == "mm-1"
        orders[r["client_order_id"]].append(r)
    trade_ids = [r["trade_id"] for r in records if r["type"] == "OrderFilled"]
    assert len(trade_ids) == len(set(trade_ids))
    reasons: Counter[str] = Counter()
    partial = 0
    for events in orders.values():
        kinds = [e["type"] for e in events]
        submitted = events[0]
        assert kinds[0] == "OrderSubmitted" and kinds.count("OrderSubmitted") == 1
        if kinds[1] == "OrderRejected":
            assert kinds == ["OrderSubmitted", "OrderRejected"] and events[1]["rejected_by"] == "VENUE"
            reasons[events[1]["reason"]] += 1
            continue
        assert kinds[1] == "OrderAccepted"
        filled = sum((Decimal(e["fill_quantity"]) for e in events if e["type"] == "OrderFilled"), Decimal(0))
        assert filled <= Decimal(submitted["quantity"])
        assert all(e["side"] == submitted["side"] for e in events if e["type"] == "OrderFilled")
        if filled < Decimal(submitted["quantity"]):
            assert kinds[-1] == "OrderCanceled" and kinds.count("OrderCanceled") == 1
            partial += 0 < filled
        else:
            assert "OrderCanceled" not in kinds
        if submitted["order_type"] == "LIMIT":
            assert all(e["fill_price"] == submitted["price"] for e in events if e["type"] == "OrderFilled")
        else:
            assert submitted["price"] is None and submitted["reduce_only"] is True
    assert set(reasons) <= {"INSUFFICIENT_BALANCE", "PRICE_FILTER", "RATE_LIMIT", "SERVICE_UNAVAILABLE"}
    assert {"INSUFFICIENT_BALANCE", "PRICE_FILTER", "RATE_LIMIT"} <= set(reasons)
    assert partial > 20
    fees = [Decimal(r["fee"]) for r in records if r["type"] == "OrderFilled"]
    assert any(f < 0 for f in fees) and any(f > 0 for f in fees)


def test_fills_follow_the_venue_prices(days: dict[str, Path]) -> None:
    out = days["weekday"]
    feeds = {s: ([micros(r["event_time"]) for r in f], [r["last"] for r in f]) for s, f in _by_source(out).items()}
    limits = {r["client_order_id"]: r for r in lines(out, "trading.orders.v1") if r["type"] == "OrderSubmitted"}
    for r in lines(out, "trading.orders.v1"):
        if r["type"] != "OrderFilled" or r["liquidity"] != "MAKER":
            continue
        times, lasts = feeds[f"{r['venue']}:{r['symbol']}"]
        t = micros(r["event_time"])
        window = range(
            bisect.bisect_left(times, micros(limits[r["client_order_id"]]["event_time"])), bisect.bisect_right(times, t)
        )
        price = float(r["fill_price"])
        traded_through = [lasts[i] <= price if r["side"] == "BUY" else lasts[i] >= price for i in window]
        assert any(traded_through), r["event_id"]


def test_latency_spike_and_error_burst(days: dict[str, Path]) -> None:
    out = days["weekday"]
    crypto = Manifest.read(out).scenario["crypto"]
    spike, outage = crypto["latency_spike"], crypto["venue_outage"]
    acks = [r for r in lines(out, "trading.orders.v1") if r["type"] == "OrderAccepted"]
    normal = [r["ack_latency_ms"] for r in acks if not spike["start"] <= r["event_time"] <= spike["end"]]
    assert sum(20 <= x <= 120 for x in normal) > 0.85 * len(normal)
    in_spike = [r for r in acks if r["venue"] == spike["venue"] and spike["start"] <= r["event_time"] <= spike["end"]]
    assert in_spike and all(r["ack_latency_ms"] > 500 for r in in_spike)
    health = lines(out, "trading.venue-health.v1")
    assert len(health) == 3 * 8_640
    calm = [r["latency_ms"] for r in health if r["ok"] and not (spike["start"] <= r["event_time"] < spike["end"])]
    assert sum(30 <= x <= 150 for x in calm) > 0.9 * len(calm)
    probes = [r for r in health if r["venue"] == spike["venue"] and spike["start"] <= r["event_time"] < spike["end"]]
    assert len(probes) >= 70 and all(r["latency_ms"] > 500 for r in probes)
    failed = [r for r in health if not r["ok"]]
    burst = [r for r in failed if r["venue"] == outage["venue"] and outage["start"] <= r["event_time"] < outage["end"]]
    assert len(burst) >= 10 and all(r["error"] for r in failed)
    blips = [r for r in failed if r not in burst]
    assert len(blips) <= 10 and all(r["error"] == "HTTP 429 Too Many Requests" for r in blips)
    rejected = [r for r in lines(out, "trading.orders.v1") if r["type"] == "OrderRejected"]
    assert {r["venue"] for r in rejected if r["reason"] == "SERVICE_UNAVAILABLE"} <= {outage["venue"]}


def test_drawdown_episode_exceeds_100_bps(days: dict[str, Path]) -> None:
    """Equity = starting equity + realized PnL - fees + open positions marked at their last fill (average cost)."""
    out = days["weekday"]
    crash = Manifest.read(out).scenario["crypto"]["crash"]
    crash_start, crash_end = micros(crash["start"]), micros(crash["end"])
    start_equity = MARKET_MAKER.starting_equity_usdt
    position: dict[str, Decimal] = defaultdict(Decimal)
    cost: dict[str, Decimal] = defaultdict(Decimal)  # average entry price
    mark: dict[str, Decimal] = {}
    realized = Decimal(0)
    peak_before = start_equity
    trough = None
    long_at_crash_end = None
    for r in lines(out, "trading.orders.v1"):
        if r["type"] != "OrderFilled":
            continue
        t = micros(r["event_time"])
        if t > crash_end + 60 * 60 * SECOND:
            break
        key = f"{r['venue']}:{r['symbol']}"
        price, qty = Decimal(r["fill_price"]), Decimal(r["fill_quantity"])
        signed = qty if r["side"] == "BUY" else -qty
        held = position[key]
        if held == 0 or (held > 0) == (signed > 0):
            cost[key] = (cost[key] * abs(held) + price * qty) / (abs(held) + qty)
        else:
            closed = min(abs(held), qty)
            realized += (price - cost[key]) * closed * (1 if held > 0 else -1)
            if abs(signed) > abs(held):
                cost[key] = price
        position[key] = held + signed
        if position[key] == 0:
            cost[key] = Decimal(0)
        mark[key] = price
        realized -= Decimal(r["fee"])
        equity = start_equity + realized + sum(position[k] * (mark[k] - cost[k]) for k in position)
        if t < crash_start:
            peak_before = max(peak_before, equity)
        else:
            trough = equity if trough is None else min(trough, equity)
        if t <= crash_end:
            long_at_crash_end = sum(position[k] * mark[k] for k in position)
    assert trough is not None and long_at_crash_end is not None
    drawdown_bps = (peak_before - trough) / peak_before * 10_000
    assert drawdown_bps > 100
    assert long_at_crash_end > 50_000  # the book got long into the fall (USDT notional)

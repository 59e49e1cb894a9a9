"""Every read endpoint of ``mercado api`` over the real database, filled by the real sink after a generated
day (tests/support/gateway.py: 16:00-17:15 UTC of seed 42's 2026-11-20 through every pipeline), served by
uvicorn on loopback: values against independent SQL (the scanner board: against its topic), filters, pages,
auth, hostile parameters, and Schemathesis over the OpenAPI document (no 5xx, every response matches its
schema)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import positive_data_acceptance
from websockets.asyncio.client import connect

from gateway.app import PREFIX, create_app
from gateway.settings import GatewaySection, GatewaySettings
from processors import topics
from schemas.loader import load_schemas
from streams.codec.serde import AvroSerde
from streams.config import Settings
from streams.runtime.pipelines import PIPELINES
from tests.support.api_server import serving
from tests.support.gateway import DAY, RECO_PROCESSING_US, SEED, WINDOW_END, WINDOW_START, fill
from tests.support.sink import create_database, drop_database, isolated, migrated, query, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
READ, COMMAND, EXPIRED = "it-read-key", "it-command-key", "it-expired-key"
HOSTILE = [
    "' OR '1'='1", "x'; DROP TABLE md_bars; --", "BTC/USDT' --", "\x00", "a\nb", "../../etc/passwd", "%", "_",
    "x" * 500, "😀", "$1", "binance:BTC/USDT", " binance", "(SELECT 1)",
]  # fmt: skip
EXAMPLES_PER_OPERATION = 12  # Schemathesis: ~28 operations, bounded to keep the test near 15 s


@dataclass
class Api:
    settings: Settings  # the filled schema's
    base: str
    client: httpx.Client

    def get(self, path: str, key: str | None = READ, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.client.get(PREFIX + path, params=params, headers=headers)

    def ok(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, f"{path} {params}: {response.status_code} {response.text[:500]}"
        return response.json()

    def sql(self, sql: str, *args: Any) -> list[Any]:
        return query(self.settings, sql, *args)


@pytest.fixture(scope="module")
def api(services: Settings, tmp_path_factory: pytest.TempPathFactory, generated_days) -> Iterator[Api]:
    database = create_database(services, "gateway_api")
    try:
        settings = migrated(isolated(database))
        fill(settings, generated_days(SEED, DAY)[0])  # tests/conftest.py: made once per session
        keys = tmp_path_factory.mktemp("keys") / "keys.toml"
        keys.write_text(
            f'[[key]]\nname = "old"\nsha256 = "{hashlib.sha256(EXPIRED.encode()).hexdigest()}"\n'
            'roles = ["read"]\nexpires = 2020-01-01T00:00:00Z\n'
        )
        section = GatewaySection(read_keys=[READ], command_keys=[COMMAND], keys_file=keys)
        gateway = GatewaySettings.extend(settings).with_(gateway=section)
        with (
            pytest.MonkeyPatch.context() as env,  # health finds the sink's group as a sink process would
            serving(create_app(gateway)) as base,
            httpx.Client(base_url=base, timeout=30) as client,
        ):
            env.setenv("MERCADO_SINK__GROUP", settings.sink.group)
            yield Api(settings, base, client)
    finally:
        drop_database(database)


def iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def all_pages(api: Api, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    items, offset = [], 0
    while True:
        body = api.ok(path, limit=limit, offset=offset, **params)
        assert body["limit"] == limit and body["offset"] == offset and len(body["items"]) <= limit
        items += body["items"]
        if body["next_offset"] is None:
            return items
        assert body["next_offset"] == offset + limit and len(body["items"]) == limit
        offset = body["next_offset"]


# --------------------------------------------------------------------------- market data
def test_latest_prices_are_the_close_of_each_instruments_latest_bar(api: Api) -> None:
    expected = {
        (r["venue"], r["symbol"]): r["close"]
        for r in api.sql(
            "SELECT DISTINCT ON (venue, symbol) venue, symbol, close FROM md_bars "
            "WHERE interval_s = 60 ORDER BY venue, symbol, start_time DESC"
        )
    }
    items = api.ok("/marketdata/prices")["items"]
    assert {(i["venue"], i["symbol"]): i["price"] for i in items} == expected
    assert ("setfx", "USD/COP") in expected and ("binance", "BTC/USDT") in expected
    one = api.ok("/marketdata/prices", venue="binance", symbol="BTC/USDT")["items"]
    assert [(i["venue"], i["symbol"], i["price"]) for i in one] == [
        ("binance", "BTC/USDT", expected["binance", "BTC/USDT"])
    ]


def test_bars_by_time_range_page_through_in_order(api: Api) -> None:
    start, end = "2026-11-20T16:10:00Z", "2026-11-20T16:40:00+00:00"
    bars = all_pages(api, "/marketdata/bars", 7, venue="binance", symbol="BTC/USDT", start=start, end=end)
    rows = api.sql(
        "SELECT start_time, close, volume, tick_count FROM md_bars WHERE venue = 'binance' AND symbol = 'BTC/USDT' "
        "AND interval_s = 60 AND start_time >= '2026-11-20T16:10Z' AND start_time < '2026-11-20T16:40Z' "
        "ORDER BY start_time"
    )
    assert len(bars) == len(rows) == 30  # every minute of a 24x7 market
    assert [(dt.datetime.fromisoformat(b["start_time"]), b["close"], b["volume"], b["tick_count"]) for b in bars] == [
        (r["start_time"], r["close"], r["volume"], r["tick_count"]) for r in rows
    ]
    assert bars[0]["start_time"] == "2026-11-20T16:10:00Z"
    # a time with an offset means the same instant
    same = api.ok("/marketdata/bars", venue="binance", symbol="BTC/USDT", start="2026-11-20T11:10:00-05:00", limit=1)
    assert same["items"][0]["start_time"] == "2026-11-20T16:10:00Z"


def test_indicators_follow_their_bars(api: Api) -> None:
    items = all_pages(api, "/marketdata/indicators", 1000, venue="kraken", symbol="ETH/USDT")
    count = api.sql(
        "SELECT count(*) FROM md_indicators WHERE venue = 'kraken' AND symbol = 'ETH/USDT' AND interval_s = 60"
    )[0][0]
    assert len(items) == count > 60
    assert [i["bar_start"] for i in items] == sorted(i["bar_start"] for i in items)
    warm = [i for i in items if i["rsi"] is not None]
    assert warm and all(0 <= i["rsi"] <= 100 for i in warm)
    bands = [i for i in items if i["bb_upper"] is not None]
    assert bands and all(i["bb_lower"] <= i["bb_middle"] <= i["bb_upper"] for i in bands)


def test_daily_summary_and_data_quality(api: Api) -> None:
    summary = api.ok("/marketdata/summary", from_day="2026-11-20", to_day="2026-11-20")["items"]
    instruments = api.sql("SELECT count(DISTINCT (venue, symbol)) FROM md_bars WHERE interval_s = 60")[0][0]
    assert len(summary) == instruments and {s["day"] for s in summary} == {"2026-11-20"}
    assert all(s["low"] <= min(s["open"], s["close"]) and s["high"] >= max(s["open"], s["close"]) for s in summary)
    assert api.ok("/marketdata/summary", from_day="2026-11-21")["items"] == []
    quality = api.ok("/marketdata/quality", venue="setfx", symbol="USD/COP")["items"]
    assert [q["hour_start"] for q in quality] == ["2026-11-20T16:00:00Z"]
    assert quality[0]["gap_count"] >= 1 and quality[0]["missing_bars"] >= 1


def test_gaps_hold_the_usdcop_feed_gap(api: Api) -> None:
    gaps = api.ok("/marketdata/gaps", venue="setfx", start=iso(WINDOW_START), end=iso(WINDOW_END))["items"]
    assert gaps and all(g["venue"] == "setfx" and g["symbol"] == "USD/COP" for g in gaps)
    assert any(
        g["start_time"] <= "2026-11-20T16:22:00Z" < g["end_time"] for g in gaps
    )  # the feed gap 16:21:40-16:24:42
    assert api.ok("/marketdata/gaps", venue="setfx", end="2026-11-20T16:00:00Z")["items"] == []


# --------------------------------------------------------------------------- retail
def test_open_opportunities_by_tier(api: Api) -> None:
    counts = api.ok("/retail/opportunities/counts")
    expected = {
        r["tier"]: r["n"] for r in api.sql("SELECT tier, count(*) AS n FROM retail_open_opportunities GROUP BY tier")
    }
    assert counts["by_tier"] == {t: expected.get(t, 0) for t in ("CRITICAL", "IMPORTANT", "TRACKING")}
    assert counts["total"] == sum(expected.values()) > 0
    everything = all_pages(api, "/retail/opportunities", 1000)
    assert len(everything) == counts["total"]
    assert [o["priority"] for o in everything] == sorted(o["priority"] for o in everything)
    critical = api.ok("/retail/opportunities", tier="critical", limit=1000)["items"]
    assert len(critical) == counts["by_tier"]["CRITICAL"] and {o["tier"] for o in critical} <= {"CRITICAL"}
    scores = [o["opportunity_score"] for o in critical]
    assert scores == sorted(scores, reverse=True)
    paris = api.ok("/retail/opportunities", retailer="paris", limit=1000)["items"]
    assert paris and all("paris" in (o["buy_retailer"], o["sell_retailer"]) for o in paris)


def test_one_opportunity_open_or_closed(api: Api) -> None:
    first = api.ok("/retail/opportunities", limit=1)["items"][0]
    one = api.ok(f"/retail/opportunities/{first['opportunity_id']}")
    assert one == {**first, "status": "OPEN", "closed_at": None, "close_reason": None}
    closed = api.sql(
        "SELECT opportunity_id, close_reason FROM retail_opportunity_status WHERE status = 'CLOSED' LIMIT 1"
    )
    if closed:
        body = api.ok(f"/retail/opportunities/{closed[0]['opportunity_id']}")
        assert body["status"] == "CLOSED" and body["close_reason"] == closed[0]["close_reason"]
    missing = api.get("/retail/opportunities/opp:" + "0" * 20)
    assert missing.status_code == 404 and "no opportunity" in missing.json()["detail"]


def test_matches_glitches_and_listings(api: Api) -> None:
    matches = all_pages(api, "/retail/matches", 1000, retailer="hites")
    hites = "SELECT count(*) FROM retail_live_matches WHERE a_retailer = 'hites' OR b_retailer = 'hites'"
    assert len(matches) == api.sql(hites)[0][0] > 0
    glitches = api.ok("/retail/glitches")["items"]
    assert len(glitches) == api.sql("SELECT count(*) FROM retail_glitches")[0][0] > 0
    g = glitches[0]
    assert [x["event_id"] for x in api.ok("/retail/glitches", retailer=g["retailer"], sku=g["sku"])["items"]] == [
        x["event_id"] for x in glitches if (x["retailer"], x["sku"]) == (g["retailer"], g["sku"])
    ]
    listing = api.ok(f"/retail/listings/{g['retailer']}/{g['sku']}")
    stored = api.sql("SELECT glitch_kinds::text FROM retail_listings WHERE listing_key = $1", g["listing_key"])
    assert listing["listing_key"] == g["listing_key"] and listing["glitch_kinds"] == orjson.loads(stored[0][0])
    assert api.ok("/retail/listings", retailer="paris", limit=5)["next_offset"] == 5
    assert api.get("/retail/listings/paris/does-not-exist").status_code == 404


# --------------------------------------------------------------------------- risk and alerts
def test_positions_and_pnl(api: Api) -> None:
    positions = api.ok("/risk/positions", account="mm-1")["items"]
    assert len(positions) == api.sql("SELECT count(*) FROM risk_current_positions WHERE account = 'mm-1'")[0][0] > 0
    for p in positions:  # exact decimals as strings: net = realized - fees + unrealized
        from decimal import Decimal as D

        assert D(p["net_pnl"]) == D(p["realized_pnl"]) - D(p["fees"]) + D(p["unrealized_pnl"])
    open_only = api.ok("/risk/positions", open_only=True)["items"]
    assert all(p["side"] != "FLAT" for p in open_only)
    pnl = api.ok("/risk/pnl")["items"]
    assert [p["account"] for p in pnl] == ["mm-1"] and pnl[0]["positions"] == len(positions)


def test_breakers_their_history_and_trading_states(api: Api) -> None:
    breakers = api.ok("/risk/breakers")["items"]
    assert any(b["breaker"] == "DRAWDOWN" and b["opened"] >= 1 for b in breakers)
    history = all_pages(api, "/risk/breakers/history", 10)
    assert len(history) == api.sql("SELECT count(*) FROM risk_breaker_transitions")[0][0] > 0
    assert [h["event_time"] for h in history] == sorted(h["event_time"] for h in history)
    binance = api.ok("/risk/breakers/history", venue="binance", breaker="DRAWDOWN", limit=1000)["items"]
    assert binance and all((h["venue"], h["breaker"]) == ("binance", "DRAWDOWN") for h in binance)
    states = api.ok("/risk/trading-states")["items"]
    expected = api.sql("SELECT venue, account, state FROM risk_trading_states ORDER BY venue, account")
    assert [(s["venue"], s["account"], s["state"]) for s in states] == [tuple(r) for r in expected]
    assert any(s["state"] != "ACTIVE" for s in states)  # the crash tripped a drawdown breaker


def test_order_decisions_and_alerts(api: Api) -> None:
    rejected = all_pages(api, "/risk/orders", 1000, decision="REJECTED")
    assert len(rejected) == api.sql("SELECT count(*) FROM risk_order_decisions WHERE decision = 'REJECTED'")[0][0]
    assert all(r["reason"] for r in rejected)
    approved = api.ok("/risk/orders", decision="APPROVED", venue="kraken", limit=5)["items"]
    assert approved and all(a["venue"] == "kraken" and a["notional"] is not None for a in approved)
    risk_alerts = all_pages(api, "/alerts", 1000, source="risk")
    assert len(risk_alerts) == api.sql("SELECT count(*) FROM alerts WHERE source = 'risk'")[0][0] > 0
    md = api.ok("/alerts", source="marketdata", start="2026-11-20T16:30:00Z", end="2026-11-20T17:00:00Z")["items"]
    assert all("2026-11-20T16:30:00Z" <= a["event_time"] < "2026-11-20T17:00:00Z" for a in md)
    assert all(isinstance(a["details"], dict) for a in md)


# --------------------------------------------------------------------------- scanner
def topic_board(api: Api) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str, str, int, str]]]:
    """The compacted topic read here by hand (last value per key, tombstones remove): key -> line, and every
    (scanner, session, category, rank, ticker) placement, sorted."""
    serde, latest = AvroSerde(), {}
    for msg in read_topic(api.settings, api.settings.topic(topics.SCAN_RESULTS)):
        latest[msg.key()] = None if msg.value() is None else serde.decode(msg.value())[1]
    lines = {k.decode(): r for k, r in latest.items() if r is not None}
    placed = sorted((r["scanner"], r["session"], p["category"], p["rank"], r["ticker"])
                    for r in lines.values() for p in r["categories"])  # fmt: skip
    return lines, placed


def test_scanner_board_is_the_compacted_topics_last_value_per_key(api: Api) -> None:
    lines, placed = topic_board(api)
    assert len(lines) > 20 and len(placed) >= len(lines)  # a line in no category is a tombstone
    body = api.ok("/scanner/board", top=500)
    got = [(i["scanner"], i["session"], i["category"], i["rank"], i["ticker"]) for i in body["items"]]
    assert got == placed  # every placement, in (scanner, session, category, rank) order
    latest = max(r["event_time"] for r in lines.values())
    assert body["as_of"] == iso(dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=latest))
    for item in body["items"][:50]:
        line = lines[f"{item['scanner']}:{item['session']}:{item['ticker']}"]
        assert (item["price"], item["volume"], item["gap_pct"]) == (line["price"], line["volume"], line["gap_pct"])
    category = placed[0][2]
    top3 = api.ok("/scanner/board", session="REGULAR", category=category, top=3)["items"]
    assert [(i["category"], i["rank"], i["ticker"]) for i in top3] == [p[2:] for p in placed if p[2] == category][:3]
    assert [i["rank"] for i in top3] == [1, 2, 3]
    assert api.ok("/scanner/board", session="PRE_MARKET")["items"] == []  # 11:00-12:15 New York: regular only
    assert api.ok("/scanner/board", scanner="nobody")["items"] == []


def test_scanner_history_is_every_persisted_board_in_order(api: Api) -> None:
    history = all_pages(api, "/scanner/history", 40)
    rows = api.sql("SELECT event_id, event_time, category, rank, ticker, volume, trigger FROM scanner_top "
                   "ORDER BY event_time, scanner, session, category, rank")  # fmt: skip
    assert len(history) == len(rows) > 50
    assert [(h["event_id"], dt.datetime.fromisoformat(h["event_time"]), h["category"], h["rank"], h["ticker"],
             h["volume"], h["trigger"]) for h in history] == [tuple(r) for r in rows]  # fmt: skip
    assert {h["event_time"] for h in history} == {"2026-11-20T17:00:00Z"}  # the 12:00 New York interval board
    category = history[0]["category"]
    one = api.ok("/scanner/history", category=category, trigger="interval", session="REGULAR", limit=1000)["items"]
    assert [h["event_id"] for h in one] == [h["event_id"] for h in history if h["category"] == category]
    assert [h["rank"] for h in one] == list(range(1, len(one) + 1))
    assert api.ok("/scanner/history", trigger="close")["items"] == []
    assert api.ok("/scanner/history", start="2026-11-20T16:00:00Z", end="2026-11-20T17:00:00Z")["items"] == []


def test_a_tickers_category_history(api: Api) -> None:
    [(ticker, n)] = api.sql("SELECT ticker, count(*) FROM scanner_top GROUP BY ticker ORDER BY 2 DESC, 1 LIMIT 1")
    got = api.ok(f"/scanner/tickers/{ticker}")["items"]
    rows = api.sql("SELECT category, rank, score, as_of FROM scanner_ticker_history WHERE ticker = $1 "
                   "ORDER BY as_of, scanner, session, category", ticker)  # fmt: skip
    assert len(got) == n == len(rows) >= 2  # one ticker in several categories
    assert [(g["category"], g["rank"], g["score"], dt.datetime.fromisoformat(g["as_of"])) for g in got] == [
        tuple(r) for r in rows
    ]
    assert all(g["ticker"] == ticker for g in got)
    assert api.ok(f"/scanner/tickers/{ticker}", category=got[0]["category"])["items"] == got[:1]
    assert api.ok("/scanner/tickers/NOSUCH")["items"] == []  # never in a persisted top: an empty page


# --------------------------------------------------------------------------- system
def test_health_reports_kafka_postgres_the_sink_and_the_tables(api: Api) -> None:
    body = api.ok("/system/health")
    assert body["ok"] and body["kafka"]["ok"] and body["postgres"]["ok"]
    assert body["sink"]["group"] == api.settings.kafka.topic_prefix + "sink" and body["sink"]["lag"] == 0
    assert body["sink"]["last_commit"] is not None and body["sink"]["partitions"] > 10
    # one entry per registered pipeline (the fill runs some of them; the others report no lag yet)
    assert {w["group"] for w in body["workers"]} == {f"{api.settings.kafka.topic_prefix}mercado-{p}"
                                                      for p in PIPELINES}  # fmt: skip
    tables = {t["table_name"]: t["row_count"] for t in body["tables"]}
    assert tables["md_bars"] == api.sql("SELECT count(*) FROM md_bars")[0][0] > 0
    assert api.ok("/system/ping")["pong"] is True


# --------------------------------------------------------------------------- recommendations
def test_latest_recommendations_filters_and_pages(api: Api) -> None:
    rows = api.sql("SELECT ticker, analysis_date, recommendation, total_score, summary FROM latest_recommendations "
                   "ORDER BY total_score DESC, ticker")  # fmt: skip
    assert len(rows) == 8
    got = all_pages(api, "/recommendations/latest", 3)
    assert [(r["ticker"], r["analysis_date"], r["recommendation"], r["total_score"], r["summary"]) for r in got] == [
        tuple(r) for r in rows]
    assert {r["analysis_date"] for r in got} == {api.sql("SELECT max(analysis_date) FROM daily_recommendations")[0][0]}
    for label in ("BUY", "HOLD", "SELL"):
        mine = api.ok("/recommendations/latest", label=label)["items"]
        assert [r["ticker"] for r in mine] == [r["ticker"] for r in rows if r["recommendation"] == label]
    middle = sorted(r["total_score"] for r in rows)[4]
    above = api.ok("/recommendations/latest", min_score=middle)["items"]
    assert [r["ticker"] for r in above] == [r["ticker"] for r in rows if r["total_score"] >= middle] and above
    assert api.ok("/recommendations/latest", min_score=0, max_score=100, market="CEDEAR")["items"] == [
        r for r in got if r["market"] == "CEDEAR"]
    assert api.get("/recommendations/latest", min_score=60, max_score=40).status_code == 400
    for bad in ({"min_score": 101}, {"label": "buy"}, {"limit": 1001}, {"market": "NYSE"}):
        assert api.get("/recommendations/latest", **bad).status_code == 422, bad


def test_a_tickers_history_and_one_days_analysis_details(api: Api) -> None:
    ticker = api.sql("SELECT ticker FROM latest_recommendations ORDER BY ticker LIMIT 1")[0][0]
    rows = api.sql("SELECT analysis_date, recommendation, total_score FROM daily_recommendations WHERE ticker = $1 "
                   "ORDER BY analysis_date", ticker)  # fmt: skip
    history = all_pages(api, f"/recommendations/tickers/{ticker}", 10)
    assert [(h["analysis_date"], h["recommendation"], h["total_score"]) for h in history] == [tuple(r) for r in rows]
    assert [h["previous_recommendation"] for h in history] == [None] + [r[1] for r in rows[:-1]]
    first, last = rows[3][0], rows[7][0]
    ranged = api.ok(f"/recommendations/tickers/{ticker}", start=first, end=last)["items"]
    assert [h["analysis_date"] for h in ranged] == [r[0] for r in rows[3:8]]  # both ends included
    assert api.get(f"/recommendations/tickers/{ticker}", start=last, end=first).status_code == 400
    assert api.get(f"/recommendations/tickers/{ticker}", start="2026-02-30").status_code == 422
    assert api.ok("/recommendations/tickers/NOSUCH")["items"] == []

    day = rows[-1][0]
    body = api.ok(f"/recommendations/tickers/{ticker}/{day}")
    reco = api.sql("SELECT technical_score, inputs_hash, analysis_details FROM daily_recommendations "
                   "WHERE ticker = $1 AND analysis_date = $2", ticker, day)[0]  # fmt: skip
    assert (body["recommendation"]["ticker"], body["recommendation"]["analysis_date"]) == (ticker, day)
    assert body["recommendation"]["inputs_hash"] == reco["inputs_hash"]
    analyses = {a["analysis_type"]: a for a in body["analyses"]}
    assert sorted(analyses) == ["fundamental", "macro", "sentiment", "technical"]
    assert analyses["technical"]["score"] == reco["technical_score"] == body["recommendation"]["technical_score"]
    stored = {d["analysis_type"]: d for d in orjson.loads(reco["analysis_details"])}  # jsonb: text here
    for kind, a in analyses.items():  # the event's JSON text, as objects
        assert (a["raw_data"], a["indicators"], a["metadata"]) == tuple(
            orjson.loads(stored[kind][k]) for k in ("raw_data", "indicators", "metadata"))
    assert api.get(f"/recommendations/tickers/{ticker}/2020-01-02").status_code == 404
    assert api.get(f"/recommendations/tickers/{ticker}/yesterday").status_code == 422


def test_job_runs_by_date_and_status_with_the_processing_time(api: Api) -> None:
    runs = all_pages(api, "/recommendations/jobs", 10)
    per_date = api.sql("SELECT analysis_date, count(*) FROM daily_recommendations GROUP BY 1 ORDER BY 1")
    assert [(r["run_date"], r["tickers_processed"]) for r in runs] == [tuple(r) for r in per_date]
    assert {(r["status"], r["shards_reported"], r["shards"], r["errors_count"]) for r in runs} == {
        ("completed", 3, 3, 0)}
    # the last date's shards were stamped with a processing time (tests/support/gateway.py); the run's is
    # the slowest shard's, in ms; a run no live worker timed has none
    shards = api.sql("SELECT shard, duration_ms FROM job_run_shards WHERE run_date = $1 ORDER BY shard",
                     runs[-1]["run_date"])  # fmt: skip
    assert [tuple(s) for s in shards] == [(i, (us + 500) // 1000) for i, us in enumerate(RECO_PROCESSING_US)]
    assert runs[-1]["duration_ms"] == max(RECO_PROCESSING_US) // 1000 == 2500
    assert all(r["duration_ms"] is None for r in runs[:-1])
    assert api.ok("/recommendations/jobs", status="completed", job="daily-recommendations")["items"] == runs[:100]
    assert api.ok("/recommendations/jobs", status="failed")["items"] == []
    assert api.ok("/recommendations/jobs", job="another")["items"] == []
    mid = runs[len(runs) // 2]["run_date"]
    assert api.ok("/recommendations/jobs", start=mid, end=mid)["items"] == [runs[len(runs) // 2]]
    assert api.get("/recommendations/jobs", status="done").status_code == 422
    assert api.get("/recommendations/jobs", start="2026-11-20", end="2026-11-19").status_code == 400


# --------------------------------------------------------------------------- auth and hostile input
def test_auth_no_key_wrong_role_unknown_and_expired(api: Api) -> None:
    assert api.get("/marketdata/prices", key=None).status_code == 401
    assert api.get("/marketdata/prices", key="made-up").json()["detail"] == "unknown API key"
    wrong = api.get("/marketdata/prices", key=COMMAND)
    assert wrong.status_code == 403 and "lacks the 'read' role" in wrong.json()["detail"]
    expired = api.get("/marketdata/prices", key=EXPIRED)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert EXPIRED not in expired.text and api.get("/system/ping", key=None).status_code == 200


def _string_parameters(api: Api) -> list[tuple[str, str, str]]:
    """(path template, parameter, where) of every string parameter of every GET operation."""
    spec = api.client.get("/openapi.json").json()
    out = []
    for path, ops in spec["paths"].items():
        for p in ops.get("get", {}).get("parameters", []):
            schema = p["schema"]
            types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
            if (
                "string" in types
                and schema.get("format") not in ("date-time", "date")
                and not any(s.get("format") in ("date-time", "date") for s in schema.get("anyOf", []))
            ):
                out.append((path, p["name"], p["in"]))
    return out


VALID = {"venue": "binance", "symbol": "BTC/USDT", "retailer": "paris", "sku": "1", "opportunity_id": "opp:" + "0" * 20,
         "ticker": "AAPL", "analysis_date": "2026-11-20", "idempotency_key": "no-such-key"}


def test_a_hostile_value_in_every_string_parameter_is_4xx_and_changes_nothing(api: Api) -> None:
    parameters = _string_parameters(api)
    assert {("/api/v1/retail/listings/{retailer}/{sku}", "sku", "path"), ("/api/v1/marketdata/bars", "symbol", "query"),
            ("/api/v1/scanner/tickers/{ticker}", "ticker", "path"), ("/api/v1/scanner/board", "category", "query"),
            ("/api/v1/scanner/history", "session", "query"), ("/api/v1/recommendations/latest", "label", "query"),
            ("/api/v1/recommendations/tickers/{ticker}/{analysis_date}", "ticker", "path"),
            ("/api/v1/recommendations/jobs", "status", "query"), ("/api/v1/commands", "actor", "query"),
            ("/api/v1/commands/{idempotency_key}", "idempotency_key", "path")} <= set(parameters)  # fmt: skip
    before = api.sql("SELECT count(*) FROM md_bars")[0][0]
    for path, name, where in parameters:
        for value in HOSTILE:
            params = {"venue": "binance", "symbol": "BTC/USDT"} if path.endswith(("/bars", "/indicators")) else {}
            url = path
            for other in re.findall(r"\{(\w+)\}", path):  # every path parameter: the hostile one, the rest valid
                url = url.replace("{" + other + "}", httpx.URL("/", params={"v": value}).query.decode()[2:]
                                  if other == name else VALID[other])  # fmt: skip
            if where == "query":
                params[name] = value
            response = api.client.get(url, params=params, headers={"Authorization": f"Bearer {READ}"})
            assert 400 <= response.status_code < 500, f"{path} {name}={value!r}: {response.status_code}"
    assert api.sql("SELECT count(*) FROM md_bars")[0][0] == before


def test_schemathesis_finds_no_5xx_and_every_response_matches_the_schema(api: Api) -> None:
    schema = schemathesis.openapi.from_url(api.base + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    calls = 0
    for operation in operations:

        @hypothesis_settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal calls
            calls += 1
            # Cross-parameter rules (end after start, a range of at most 31 days) are not in the schema, so
            # a schema-valid request may be refused with 400: the check that forbids that is left out.
            case.call_and_validate(base_url=api.base, headers={"Authorization": f"Bearer {READ}"},
                                   excluded_checks=[positive_data_acceptance])  # fmt: skip

        run()
    assert calls >= len(operations) * 3


# --------------------------------------------------------------------------- push snapshots from the database
def test_push_snapshots_come_from_the_database_in_the_events_shape(api: Api) -> None:
    _lines, placed = topic_board(api)
    scanner_channel = f"scanner:REGULAR:{placed[0][2]}"
    channels = ["bars:binance:BTC/USDT:60", "breakers", "alerts", "opportunities:critical", "ticks:binance:BTC/USDT",
                scanner_channel, "recommendations"]  # fmt: skip
    url = api.base.replace("http://", "ws://") + PREFIX + "/ws"

    async def collect() -> dict[str, list[dict[str, Any]]]:
        async with connect(url, additional_headers={"Authorization": f"Bearer {READ}"}, max_size=None) as ws:
            assert orjson.loads(await ws.recv())["type"] == "welcome"
            await ws.send(orjson.dumps({"op": "subscribe", "channels": channels}).decode())
            snapshots = {}
            while len(snapshots) < len(channels):
                m = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
                if m["type"] == "snapshot":
                    snapshots[m["channel"]] = m["data"]
            return snapshots

    snapshots = asyncio.run(collect())
    fields = {s.name: {f["name"] for f in s.expanded["fields"]} for s in load_schemas() if "fields" in s.expanded}
    [latest_bar] = snapshots["bars:binance:BTC/USDT:60"]
    expected = api.sql(
        "SELECT event_id, (EXTRACT(EPOCH FROM start_time) * 1000000)::bigint AS start FROM md_bars "
        "WHERE venue = 'binance' AND symbol = 'BTC/USDT' AND interval_s = 60 ORDER BY start_time DESC LIMIT 1"
    )[0]
    assert (latest_bar["event_id"], latest_bar["start"]) == (expected["event_id"], expected["start"])
    assert set(latest_bar) == fields["Bar"]  # the event's own shape
    breakers = snapshots["breakers"]
    assert len(breakers) == api.sql("SELECT count(*) FROM risk_breaker_status")[0][0] > 0
    assert all(set(b) == fields["BreakerTransition"] and isinstance(b["event_time"], int) for b in breakers)
    alerts = snapshots["alerts"]
    assert len(alerts) == min(50, api.sql("SELECT count(*) FROM alerts")[0][0])
    assert [a["event_time"] for a in alerts] == sorted(a["event_time"] for a in alerts)
    assert isinstance(alerts[-1]["details"], dict)
    critical = {o["opportunity_id"] for o in snapshots["opportunities:critical"]}
    expected_ids = api.sql("SELECT opportunity_id FROM retail_open_opportunities WHERE tier = 'CRITICAL'")
    assert critical == {r[0] for r in expected_ids} and critical
    assert snapshots["ticks:binance:BTC/USDT"] == []  # ticks are not stored
    board = snapshots[scanner_channel]  # the board's lines of the category, in rank order (from the topic)
    assert [(r["scanner"], r["ticker"]) for r in board] == [(p[0], p[4]) for p in placed if p[2] == placed[0][2]]
    assert board and all(set(r) == fields["ScanResult"] for r in board)
    latest = snapshots["recommendations"]  # the latest of each ticker, oldest first, in the event's shape
    expected_latest = api.sql("SELECT ticker, event_id FROM latest_recommendations ORDER BY analysis_date, ticker")
    assert [(r["ticker"], r["event_id"]) for r in latest] == [tuple(r) for r in expected_latest]
    assert latest and all(set(r) == fields["Recommendation"] and isinstance(r["cutoff"], int) for r in latest)
    assert isinstance(latest[0]["analysis_details"], list)
